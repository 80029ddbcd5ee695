"""Human rendering of a multi-GPU Plan (terminal table, then the details of the recommended strategy)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gpuplan.i18n import msg, tr
from gpuplan.plan.strategies import Plan, StrategyPlan
from gpuplan.render.console import fmt_bytes, fmt_seconds

_STATE_NAMES = {
    "parameters": msg("parameters"), "gradients": msg("gradients"), "optimizer_state": msg("optimizer state"),
    "fp32_master_weights": msg("fp32 master weights"), "ddp_gradient_buckets": msg("DDP gradient buckets"),
    "reduce_buckets": msg("reduce buckets"), "gathered_parameters": msg("gathered parameters (transient)"),
    "unit_gradients": msg("unsharded unit gradients (transient)"), "fp32_gradients": msg("fp32 gradients"),
}




def _fits(p: StrategyPlan) -> str:
    return {True: tr("yes"), False: tr("no"), None: "N/A"}[p.fits]


def _states(d: dict[str, int] | tuple[tuple[str, int], ...]) -> str:
    items = d.items() if isinstance(d, dict) else d
    return " · ".join(f"{tr(_STATE_NAMES.get(k, k.replace('_', ' ')))} {fmt_bytes(v)}" for k, v in items if v)


def print_plan(p: Plan, console: Console) -> None:
    link = p.intra_node_link or ""
    if p.inter_node_link:
        link = f"{link} + {p.inter_node_link}" if link else p.inter_node_link
    head = tr("{model} · train · {precision} · {optimizer} on {n} × {gpu} ({nodes} node(s) of {per})",
              model=p.model, precision=p.precision, optimizer=p.optimizer, n=p.world_size, gpu=p.gpu, nodes=p.nodes,
              per=p.gpus_per_node)
    console.print(f"[bold]{escape(head)}[/]")
    if p.world_size > 1:
        rate = "N/A" if p.bus_gbs is None else f"{p.bus_gbs:g} GB/s"
        console.print("  " + escape(tr("links: {link}; ring rate {rate} per GPU each way", link=link or "N/A", rate=rate)))
    console.print("  " + escape(tr("{params} parameters ({trainable} trainable) · wrap unit: {unit}",
                                   params=f"{p.param_count:,}", trainable=f"{p.trainable_param_count:,}",
                                   unit=p.block_class or tr("none found (root only)"))))
    t = Table(show_edge=False, box=None, pad_edge=False)
    cols = ((tr("strategy"), "left"), (tr("micro×accum×GPUs"), "right"), (tr("memory/GPU"), "right"),
            (tr("fits"), "center"), (tr("host RAM/node"), "right"), (tr("step"), "right"), (tr("samples/s"), "right"),
            (tr("comm exposed"), "right"), (tr("scaling"), "right"))
    for col, just in cols:
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for s in p.strategies:
        mark = " *" if s.strategy == p.recommended else ""
        t.add_row(s.strategy + mark, f"{s.micro_batch}×{s.grad_accum}×{s.dp_size}={s.global_batch}",
                  fmt_bytes(s.per_gpu_memory_bytes), _fits(s),
                  fmt_bytes(s.host_memory_bytes_per_node) if s.host_memory_bytes_per_node else "-",
                  fmt_seconds(s.step_seconds), f"{s.samples_per_second:,.1f}" if s.samples_per_second else "N/A",
                  fmt_seconds(s.exposed_comm_seconds), f"{100 * s.scaling_efficiency:.0f}%" if s.scaling_efficiency else "N/A")
    console.print(t)
    if p.recommended:
        console.print(tr("[bold]recommended:[/] {s} (the fastest that fits; * in the table)", s=p.recommended))
        rec = next(s for s in p.strategies if s.strategy == p.recommended)
        _details(rec, console)
    else:
        console.print("[red]" + escape(tr("no strategy fits: add GPUs, lower the micro-batch, use --checkpointing or "
                                          "a lower precision")) + "[/]")
    for n in p.notes:
        console.print("  [dim]" + escape(tr("note: {x}", x=tr(n))) + "[/]")
    for a in p.assumptions:
        console.print("  [dim]" + escape(tr("assumed: {x}", x=tr(a))) + "[/]")


def _details(s: StrategyPlan, console: Console) -> None:
    console.print(f"[bold]{escape(s.strategy)}[/] ({escape(s.engine)}): {escape(tr(s.description))}")
    console.print("  " + escape(tr("batch: {identity}", identity=tr(
        "micro-batch {micro} × accumulation {accum} × data-parallel {dp} = global batch {batch}",
        micro=s.micro_batch, accum=s.grad_accum, dp=s.dp_size, batch=s.global_batch))))
    head = fmt_bytes(s.headroom_bytes) if s.headroom_bytes is not None else "N/A"
    console.print("  " + escape(tr("per GPU: {total} of {cap} usable (headroom {head}); traced in {prec}",
                                   total=fmt_bytes(s.per_gpu_memory_bytes), cap=fmt_bytes(s.capacity_bytes),
                                   head=head, prec=s.traced_precision)))
    console.print("  " + escape(tr("model states per GPU: {x}", x=_states(s.model_states) or "-")))
    if s.host_memory_bytes_per_gpu:
        console.print("  " + escape(tr("host RAM: {gpu} per GPU process, {node} per node (offloaded state)",
                                       gpu=fmt_bytes(s.host_memory_bytes_per_gpu),
                                       node=fmt_bytes(s.host_memory_bytes_per_node))))
    if s.step_seconds is not None:
        parts = tr("compute {c} + exposed communication {e} + GPU optimizer {o}", c=fmt_seconds(s.compute_seconds),
                   e=fmt_seconds(s.exposed_comm_seconds), o=fmt_seconds(s.optimizer_seconds))
        if s.cpu_optimizer_seconds is not None:
            parts += tr(" + CPU optimizer {x}", x=fmt_seconds(s.cpu_optimizer_seconds))
        console.print("  " + escape(tr("step {step} = {parts}; one GPU: {single}", step=fmt_seconds(s.step_seconds),
                                       parts=parts, single=fmt_seconds(s.single_gpu_step_seconds))))
    for c in s.comm:
        per = {"step": tr("per step"), "micro-step": tr("per micro-step")}.get(c.per, f"per {c.per}")
        console.print("  " + escape(tr("{op} of {what}: {size} tensor, {sent} sent per GPU {per} over {link}: "
                                       "{sec}, overlap {overlap}", op=c.op.value.replace("_", "-"), what=tr(c.what),
                                       size=fmt_bytes(c.tensor_bytes), sent=fmt_bytes(c.bytes_sent_per_gpu),
                                       per=per, link=tr(c.link), sec=fmt_seconds(c.seconds), overlap=tr(c.overlap)))
                      + ("" if c.exposed_seconds is None else escape(tr("; exposed {x}", x=fmt_seconds(c.exposed_seconds)))))
    console.print("  " + escape(tr("files: {names} (write them with -o DIR)", names=", ".join(s.files))))
    for w in s.warnings:
        console.print("  " + tr("{label} {text}", label=f"[yellow]{escape(tr('warning:'))}[/]", text=escape(tr(w))))
    for a in s.assumptions:
        console.print("  [dim]" + escape(tr("assumed: {x}", x=tr(a))) + "[/]")
