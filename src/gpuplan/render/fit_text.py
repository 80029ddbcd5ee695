"""Human rendering of FitResult records (terminal tables; plain text when piped)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from gpuplan.api import FitResult
from gpuplan.render.console import fmt_bytes

_ORDER = ["parameters", "buffers", "gradients", "optimizer_state", "activations", "temporaries", "inputs",
          "kv_cache", "workspaces", "allocator_overhead", "cuda_context"]


def _secs(x: float | None) -> str:
    if x is None:
        return "N/A"
    if x < 1e-3:
        return f"{x * 1e6:.0f} µs"
    if x < 1:
        return f"{x * 1e3:.1f} ms"
    return f"{x:.2f} s"


def _top_module(path: str, depth: int = 2) -> str:
    return ".".join(path.split(".")[:depth]) if path else "(top level)"


def print_fit(r: FitResult, console: Console, *, dataset_size: int | None = None) -> None:
    m = r.memory
    verdict = {True: "[green]FITS[/]", False: "[red]DOES NOT FIT[/]", None: "[yellow]UNKNOWN[/]"}[r.fits]
    what = f"{r.model} · {r.mode} · {r.precision}" + (f" · {r.optimizer}" if r.optimizer else "")
    if r.prompt_len is not None and r.new_tokens is not None:
        what += f" · prompt {r.prompt_len:,} + {r.new_tokens:,} new tokens"
    console.print(f"[bold]{what}[/] on [bold]{r.gpu.name}[/] at batch {r.batch}"
                  + (f" × {r.grad_accum} accumulation steps" if r.grad_accum > 1 else "") + f": {verdict}")
    cap = fmt_bytes(m.capacity_bytes)
    head = fmt_bytes(m.headroom_bytes) if m.headroom_bytes is not None else "N/A"
    console.print(f"  device total {fmt_bytes(m.device_total_bytes)} of {cap} usable (headroom {head})")
    console.print(f"  peak allocated {fmt_bytes(m.peak_allocated_bytes)} · peak reserved "
                  f"{fmt_bytes(m.peak_reserved_bytes)} · CUDA context {fmt_bytes(m.context_bytes)}")
    if r.max_batch_size is not None:
        console.print(f"  largest batch that fits: [bold]{r.max_batch_size}[/]"
                      + ("" if r.max_batch_size else " (not even batch 1)"))
    console.print(f"  parameters {r.param_count:,} ({r.trainable_param_count:,} trainable)")
    if m.kv_cache_bytes is not None and r.prompt_len is not None and r.new_tokens is not None:
        console.print(f"  KV cache at full length ({r.prompt_len + r.new_tokens - 1:,} tokens × batch {r.batch}): "
                      f"{fmt_bytes(m.kv_cache_bytes)}")
    where = f" ({m.peak_phase})" if m.peak_phase in ("prefill", "decode") else ""
    t = Table(title=f"Memory at the peak{where}", show_edge=False, box=None, pad_edge=False)
    t.add_column("category")
    t.add_column("bytes", justify="right")
    t.add_column("share", justify="right")
    total = max(1, m.device_total_bytes)
    for k in _ORDER:
        v = m.breakdown.get(k)
        if v:
            t.add_row(k.replace("_", " "), fmt_bytes(v), f"{100 * v / total:.1f}%")
    t.add_row("[bold]device total[/]", f"[bold]{fmt_bytes(m.device_total_bytes)}[/]", "100%")
    console.print(t)
    if m.top_modules:
        agg: dict[str, int] = {}
        for path, b in m.top_modules:
            agg[_top_module(path)] = agg.get(_top_module(path), 0) + b
        mt = Table(title="Top modules by activation memory", show_edge=False, box=None, pad_edge=False)
        mt.add_column("module")
        mt.add_column("activations", justify="right")
        for path, b in sorted(agg.items(), key=lambda kv: -kv[1])[:6]:
            mt.add_row(path, fmt_bytes(b))
        console.print(mt)
    tr = r.time
    if tr is not None:
        if tr.step_seconds is None:
            console.print(f"  time: N/A ({tr.na_reason})")
        elif hasattr(tr, "tokens_per_second"):  # --mode generate (GenerateTimeResult)
            speed = f"{tr.tokens_per_second:,.1f} tokens/s" if tr.tokens_per_second else "no decode step"
            console.print(f"  generate: prefill {_secs(tr.prefill_seconds)} (time to first token) · "
                          f"{_secs(tr.decode_seconds_per_token)} per decode step · {speed} · whole call "
                          f"{_secs(tr.step_seconds)} · {tr.bound}-bound")
        else:
            line = (f"  time per step {_secs(tr.step_seconds)} (forward {_secs(tr.forward_seconds)}, backward "
                    f"{_secs(tr.backward_seconds)}, optimizer {_secs(tr.optimizer_seconds)}) · "
                    f"{tr.samples_per_second:,.1f} samples/s · {tr.bound}-bound")
            console.print(line)
            if dataset_size:
                ep = tr.epoch_seconds(dataset_size)
                console.print(f"  epoch of {dataset_size:,} samples: {_secs(ep)}")
        for note in tr.notes:
            console.print(f"  [dim]note: {note}[/]")
    for w in r.warnings:
        console.print(f"  [yellow]warning:[/] {w}")
    for u in m.uncovered:
        console.print(f"  [dim]not modelled: {u}[/]")
    for a in m.assumptions:
        console.print(f"  [dim]assumed: {a}[/]")


def print_fit_table(results: list[FitResult], console: Console) -> None:
    t = Table(show_edge=False)
    for col, just in (("GPU", "left"), ("memory", "right"), ("fits", "center"), ("batch", "right"),
                      ("max batch", "right"), ("device total", "right"), ("headroom", "right"),
                      ("step", "right"), ("samples/s", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    generate = any(hasattr(r.time, "tokens_per_second") for r in results)
    if generate:
        t.add_column("tokens/s", justify="right")
    for r in results:
        m = r.memory
        fits = {True: "yes", False: "no", None: "N/A"}[r.fits]
        tr = r.time
        row = [r.gpu.name, fmt_bytes(r.gpu.memory_bytes), fits, str(r.batch),
               "" if r.max_batch_size is None else str(r.max_batch_size), fmt_bytes(m.device_total_bytes),
               fmt_bytes(m.headroom_bytes), _secs(tr.step_seconds) if tr else "N/A",
               f"{tr.samples_per_second:,.1f}" if tr and tr.samples_per_second else "N/A"]
        if generate:
            tps = getattr(tr, "tokens_per_second", None)
            row.append(f"{tps:,.1f}" if tps else "N/A")
        t.add_row(*row)
    console.print(t)
