"""Human rendering of an :class:`~gpuplan.advise.types.Advice` (terminal tables; plain text when piped)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gpuplan.advise.pipeline import PipelineCheck
from gpuplan.advise.types import Advice, Change, Note, Plan, Risk
from gpuplan.i18n import tr
from gpuplan.render.console import fmt_bytes, fmt_seconds
from gpuplan.render.fit_text import mode_name


def note_text(n: Note | str) -> str:
    """A Note in the current language (arguments formatted after translation; Note arguments translated too)."""
    if isinstance(n, str):
        return tr(n)
    return tr(n.msgid, **{k: note_text(v) if isinstance(v, Note) else v for k, v in n.args})




def plan_keys(p: Plan) -> str:
    """A plan's changes as short keys ("amp-fp16, checkpointing"), or "as given"."""
    keys = [c.key for c in p.changes if c.key not in ("grad-accum", "batch")]
    return ", ".join(keys) if keys else tr("as given")


def plan_batch(p: Plan) -> str:
    """"16 × 4 = 64" with accumulation, else the batch."""
    if p.grad_accum > 1:
        return f"{p.micro_batch} × {p.grad_accum} = {p.effective_batch}"
    return str(p.micro_batch)


def risk_word(r: Risk) -> str:
    return {Risk.NONE: tr("none"), Risk.LOW: tr("low"), Risk.MEDIUM: tr("medium"), Risk.HIGH: tr("high"),
            Risk.TASK: tr("changes the task")}[r]


def plan_columns() -> list[tuple[str, str]]:
    """Headers (translated) and alignment of the plans table, shared by the terminal, HTML and Markdown."""
    return [(tr("#"), "right"), (tr("changes"), "left"), (tr("batch"), "right"), (tr("memory / usable"), "right"),
            (tr("step"), "right"), (tr("samples/s"), "right"), (tr("risk"), "left")]


def plan_cells(p: Plan) -> list[str]:
    """One row of the plans table as plain text (callers escape for their markup)."""
    tm = p.time
    sps = tm.samples_per_second if tm is not None else None
    return [str(p.rank), plan_keys(p), plan_batch(p),
            f"{fmt_bytes(p.memory.device_total_bytes)} / {fmt_bytes(p.memory.capacity_bytes)}",
            fmt_seconds(tm.step_seconds if tm is not None else None), "N/A" if sps is None else f"{sps:,.1f}",
            risk_word(p.risk)]


def print_plans_table(advice: Advice, console: Console) -> None:
    t = Table(show_edge=False, box=None, pad_edge=False, title_justify="left")
    for col, just in plan_columns():
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for p in advice.plans:
        t.add_row(*(escape(c) for c in plan_cells(p)))
    console.print(t)


def _print_change(c: Change, console: Console, indent: str) -> None:
    console.print(f"{indent}- {escape(note_text(c.summary))}")
    console.print(f"{indent}  [dim]{escape(note_text(c.effect))}[/]")


def print_plan_details(p: Plan, console: Console) -> None:
    what = tr("plan {n}: {changes}", n=p.rank, changes=plan_keys(p))
    console.print(f"[bold]{escape(what)}[/]" + ("" if p.verified else f" [dim]({escape(tr('interpolated from traces at two batch sizes'))})[/]"))
    if not p.changes:
        console.print("  - " + escape(tr("nothing to change: the workload fits as given")))
    for c in p.changes:
        _print_change(c, console, "  ")
    for n in p.caveats:
        console.print("  " + tr("{label} {text}", label=f"[yellow]{escape(tr('caveat:'))}[/]", text=escape(note_text(n))))


def print_pipeline(chk: PipelineCheck, console: Console) -> None:
    console.print(f"[bold]{escape(tr('Input pipeline for plan 1'))}[/]")
    h = chk.host
    cores = "N/A" if h.cpu_cores is None else str(h.cpu_cores)
    console.print("  " + escape(tr("host ({source}): {cores} CPU cores, {ram} RAM, disk {disk}", source=h.source,
                                   cores=cores, ram=fmt_bytes(h.ram_bytes),
                                   disk="N/A" if h.disk_bytes_per_second is None
                                   else f"{h.disk_bytes_per_second / 1e6:.0f} MB/s")))
    need = "N/A" if chk.needed_samples_per_second is None else f"{chk.needed_samples_per_second:,.1f}"
    if chk.decode_rate is not None:
        rate = chk.decode_rate
        console.print("  " + escape(tr("decode: {rate:,.0f} samples/s per core ({source})",
                                       rate=rate.samples_per_second_per_core, source=rate.source)))
        verdict = {True: tr("enough"), False: tr("NOT enough"), None: "N/A"}[chk.cpu_ok]
        console.print("  " + escape(tr("the GPU takes {need} samples/s: cores of decoding needed: {cores}, DataLoader "
                                       "workers available: {workers}: {verdict}", need=need,
                                       cores="N/A" if chk.cores_needed is None else chk.cores_needed,
                                       workers="N/A" if chk.workers is None else chk.workers, verdict=verdict)))
    else:
        console.print("  " + escape(tr("the GPU takes {need} samples/s", need=need)))
    if chk.dataset_bytes is not None:
        ram = {True: tr("fits in RAM"), False: tr("does not fit in RAM"), None: "N/A"}[chk.fits_in_ram]
        console.print("  " + escape(tr("dataset {size}: {ram}", size=fmt_bytes(chk.dataset_bytes), ram=ram)))
    if chk.disk_bytes_per_second_needed is not None:
        ok = {True: tr("enough"), False: tr("NOT enough"), None: "N/A"}[chk.disk_ok]
        console.print("  " + escape(tr("disk reads needed: {mbps:.0f} MB/s: {ok}",
                                       mbps=chk.disk_bytes_per_second_needed / 1e6, ok=ok)))
    for n in chk.notes:
        console.print(f"  [dim]{escape(note_text(n))}[/]")


def print_advice(advice: Advice, console: Console, *, show_snippet: bool = True) -> None:
    head = tr("{model} · {mode} on {gpu} ({mem})", model=advice.model, mode=mode_name(advice.mode), gpu=advice.gpu.name,
              mem=fmt_bytes(advice.gpu.memory_bytes))
    if advice.target_batch is not None:
        head += " · " + tr("target effective batch {b}", b=advice.target_batch)
    console.print(f"[bold]{escape(head)}[/]")
    if advice.plans:
        console.print(escape(tr("Plans that fit, fastest first (each one traced and re-predicted):")))
        print_plans_table(advice, console)
        console.print()
        for p in advice.plans:
            print_plan_details(p, console)
    else:
        console.print("[red]" + escape(tr("Nothing fits on this GPU, whatever the settings tried.")) + "[/]")
    nf = advice.nothing_fits
    if nf is not None:
        console.print()
        lightest = ", ".join(c.key for c in nf.lightest_changes) or tr("as given")
        console.print(escape(tr("The lightest configuration tried ({changes}) needs {need} at batch 1 on this GPU "
                                "(as given: {orig}).", changes=lightest, need=fmt_bytes(nf.device_bytes_at_batch1),
                                orig=fmt_bytes(nf.original_device_bytes_at_batch1))))
        if nf.smallest_memory_bytes is not None:
            console.print(escape(tr("Smallest catalog GPU memory that fits it: {mem} (e.g. {gpu}).",
                                    mem=fmt_bytes(nf.smallest_memory_bytes), gpu=nf.smallest_memory_gpu)))
        if nf.cheapest:
            t = Table(show_edge=False, box=None, pad_edge=False, title=tr("Cheapest catalog GPUs that fit it"),
                      title_justify="left")
            for col, just in ((tr("GPU"), "left"), (tr("memory"), "right"), (tr("needs"), "right"),
                              (tr("price"), "right"), (tr("kind"), "left"), (tr("date"), "left"),
                              (tr("source"), "left")):
                t.add_column(col, justify=just)  # type: ignore[arg-type]
            for o in nf.cheapest:
                price = "N/A" if o.price is None else f"{o.price:,.0f} {o.currency}"
                t.add_row(escape(o.name), fmt_bytes(o.memory_bytes), fmt_bytes(o.device_total_bytes), price,
                          tr(o.price_kind or "N/A"), o.price_date or "N/A", escape(o.price_source or "N/A"))
            console.print(t)
        for n in nf.notes:
            console.print(f"  [dim]{escape(note_text(n))}[/]")
    if advice.rejected:
        console.print()
        console.print(f"[bold]{escape(tr('Tried, does not fit'))}[/]")
        for r in advice.rejected:
            keys = ", ".join(c.key for c in r.changes) or tr("as given")
            console.print(f"  - {escape(keys)}: {escape(note_text(r.reason))}")
    if advice.skipped:
        console.print(f"[bold]{escape(tr('Not tried'))}[/]")
        for s in advice.skipped:
            console.print(f"  - {escape(s.key)}: {escape(note_text(s.reason))}")
    if advice.pipeline is not None:
        console.print()
        print_pipeline(advice.pipeline, console)
    for w in advice.warnings:
        console.print(tr("{label} {text}", label=f"[yellow]{escape(tr('warning:'))}[/]", text=escape(tr(w))))
    for n in advice.notes:
        console.print("[dim]" + escape(tr("note: {x}", x=note_text(n))) + "[/]")
    if advice.search is not None:
        s = advice.search
        console.print(f"[dim]{escape(tr('searched {n} configurations ({pruned} pruned without tracing), {traces} traces, {secs:.1f} s', n=s.candidates_evaluated, pruned=s.candidates_pruned, traces=s.traces, secs=s.seconds))}[/]")
    if show_snippet and advice.snippet:
        console.print()
        console.print(f"[bold]{escape(tr('PyTorch code for plan 1'))}[/]")
        console.print(escape(advice.snippet), highlight=False, soft_wrap=True)
