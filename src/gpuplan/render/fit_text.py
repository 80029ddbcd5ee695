"""Human rendering of FitResult records (terminal tables; plain text when piped)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gpuplan.api import FitResult
from gpuplan.i18n import tr
from gpuplan.render.console import fmt_bytes, fmt_seconds
from gpuplan.render.labels import bound_phrase, category_label

_ORDER = ["parameters", "buffers", "gradients", "optimizer_state", "activations", "temporaries", "inputs",
          "kv_cache", "workspaces", "allocator_overhead", "cuda_context"]




def mode_name(mode: str) -> str:
    return {"train": tr("train"), "infer": tr("infer"), "generate": tr("generate")}.get(mode, mode)




def units_note() -> str:
    """The one line that explains the units (shown once, at the end of fit and compare output)."""
    return tr("units: GiB and MiB are binary (1 GiB = 2^30 bytes); a GPU sold as \"12 GB\" has 12 GiB; "
              "GB/s is decimal (10^9 bytes/s)")




def _top_module(path: str, depth: int = 2) -> str:
    return ".".join(path.split(".")[:depth]) if path else tr("(top level)")


def print_fit(r: FitResult, console: Console, *, dataset_size: int | None = None) -> None:
    m = r.memory
    verdict = {True: f"[green]{tr('FITS')}[/]", False: f"[red]{tr('DOES NOT FIT')}[/]",
               None: f"[yellow]{tr('UNKNOWN')}[/]"}[r.fits]
    what = f"{r.model} · {mode_name(r.mode)} · {r.precision}" + (f" · {r.optimizer}" if r.optimizer else "")
    if r.prompt_len is not None and r.new_tokens is not None:
        what += " · " + tr("prompt {p} + {n} new tokens", p=f"{r.prompt_len:,}", n=f"{r.new_tokens:,}")
    what = f"[bold]{escape(what)}[/]"
    gpu = f"[bold]{escape(r.gpu.name)}[/]"
    if r.grad_accum > 1:
        console.print(tr("{what} on {gpu} at batch {batch} × {n} accumulation steps: {verdict}", what=what, gpu=gpu,
                         batch=r.batch, n=r.grad_accum, verdict=verdict))
    else:
        console.print(tr("{what} on {gpu} at batch {batch}: {verdict}", what=what, gpu=gpu, batch=r.batch,
                         verdict=verdict))
    cap = fmt_bytes(m.capacity_bytes)
    head = fmt_bytes(m.headroom_bytes) if m.headroom_bytes is not None else "N/A"
    console.print("  " + tr("device total {total} of {cap} usable (headroom {head})",
                            total=fmt_bytes(m.device_total_bytes), cap=cap, head=head))
    console.print("  " + tr("peak allocated {alloc} · peak reserved {res} · CUDA context {ctx}",
                            alloc=fmt_bytes(m.peak_allocated_bytes), res=fmt_bytes(m.peak_reserved_bytes),
                            ctx=fmt_bytes(m.context_bytes)))
    if r.max_batch_size is not None:
        n = f"[bold]{r.max_batch_size}[/]"
        console.print("  " + (tr("largest batch that fits: {n}", n=n) if r.max_batch_size
                              else tr("largest batch that fits: {n} (not even batch 1)", n=n)))
    console.print("  " + tr("parameters {n} ({t} trainable)", n=f"{r.param_count:,}",
                            t=f"{r.trainable_param_count:,}"))
    if m.kv_cache_bytes is not None and r.prompt_len is not None and r.new_tokens is not None:
        console.print("  " + tr("KV cache at full length ({tokens} tokens × batch {batch}): {size}",
                                tokens=f"{r.prompt_len + r.new_tokens - 1:,}", batch=r.batch,
                                size=fmt_bytes(m.kv_cache_bytes)))
    phase = {"prefill": tr("prefill"), "decode": tr("decode")}.get(m.peak_phase or "")
    title = tr("Memory at the peak ({phase})", phase=phase) if phase else tr("Memory at the peak")
    t = Table(title=title, show_edge=False, box=None, pad_edge=False)
    t.add_column(tr("category"))
    t.add_column(tr("bytes"), justify="right")
    t.add_column(tr("share"), justify="right")
    total = max(1, m.device_total_bytes)
    for k in _ORDER:
        v = m.breakdown.get(k)
        if v:
            t.add_row(category_label(k), fmt_bytes(v), f"{100 * v / total:.1f}%")
    t.add_row(f"[bold]{tr('device total')}[/]", f"[bold]{fmt_bytes(m.device_total_bytes)}[/]", "100%")
    console.print(t)
    if m.top_modules:
        agg: dict[str, int] = {}
        for path, b in m.top_modules:
            agg[_top_module(path)] = agg.get(_top_module(path), 0) + b
        mt = Table(title=tr("Top modules by activation memory"), show_edge=False, box=None, pad_edge=False)
        mt.add_column(tr("module"))
        mt.add_column(tr("activations"), justify="right")
        for path, b in sorted(agg.items(), key=lambda kv: -kv[1])[:6]:
            mt.add_row(path, fmt_bytes(b))
        console.print(mt)
    tm = r.time
    if tm is not None:
        if tm.step_seconds is None:
            console.print("  " + tr("time: N/A ({reason})", reason=tr(tm.na_reason or "")))
        elif hasattr(tm, "tokens_per_second"):  # --mode generate (GenerateTimeResult)
            speed = (tr("{x} tokens/s", x=f"{tm.tokens_per_second:,.1f}") if tm.tokens_per_second
                     else tr("no decode step"))
            console.print("  " + tr("generate: prefill {prefill} (time to first token) · {decode} per decode step · "
                                    "{speed} · whole call {total} · {bound}", prefill=fmt_seconds(tm.prefill_seconds),
                                    decode=fmt_seconds(tm.decode_seconds_per_token), speed=speed,
                                    total=fmt_seconds(tm.step_seconds), bound=bound_phrase(tm.bound)))
        else:
            console.print("  " + tr("time per step {step} (forward {fwd}, backward {bwd}, optimizer {opt}) · "
                                    "{sps} samples/s · {bound}", step=fmt_seconds(tm.step_seconds),
                                    fwd=fmt_seconds(tm.forward_seconds), bwd=fmt_seconds(tm.backward_seconds),
                                    opt=fmt_seconds(tm.optimizer_seconds), sps=f"{tm.samples_per_second:,.1f}",
                                    bound=bound_phrase(tm.bound)))
            if dataset_size:
                ep = tm.epoch_seconds(dataset_size)
                console.print("  " + tr("epoch of {n} samples: {t}", n=f"{dataset_size:,}", t=fmt_seconds(ep)))
        for note in tm.notes:
            console.print("  [dim]" + tr("note: {x}", x=tr(note)) + "[/]")
    for w in r.warnings:
        console.print("  " + tr("{label} {text}", label=f"[yellow]{tr('warning:')}[/]", text=tr(w)))
    for u in m.uncovered:
        console.print("  [dim]" + tr("not modelled: {x}", x=tr(u)) + "[/]")
    for a in m.assumptions:
        console.print("  [dim]" + tr("assumed: {x}", x=tr(a)) + "[/]")
    console.print("  [dim]" + units_note() + "[/]")


def print_fit_table(results: list[FitResult], console: Console) -> None:
    t = Table(show_edge=False)
    for col, just in ((tr("GPU"), "left"), (tr("memory"), "right"), (tr("fits"), "center"), (tr("batch"), "right"),
                      (tr("max batch"), "right"), (tr("device total"), "right"), (tr("headroom"), "right"),
                      (tr("step"), "right"), (tr("samples/s"), "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    generate = any(hasattr(r.time, "tokens_per_second") for r in results)
    if generate:
        t.add_column(tr("tokens/s"), justify="right")
    for r in results:
        m = r.memory
        fits = {True: tr("yes"), False: tr("no"), None: "N/A"}[r.fits]
        tm = r.time
        row = [r.gpu.name, fmt_bytes(r.gpu.memory_bytes), fits, str(r.batch),
               "" if r.max_batch_size is None else str(r.max_batch_size), fmt_bytes(m.device_total_bytes),
               fmt_bytes(m.headroom_bytes), fmt_seconds(tm.step_seconds) if tm else "N/A",
               f"{tm.samples_per_second:,.1f}" if tm and tm.samples_per_second else "N/A"]
        if generate:
            tps = getattr(tm, "tokens_per_second", None)
            row.append(f"{tps:,.1f}" if tps else "N/A")
        t.add_row(*row)
    console.print(t)
    console.print(units_note())
