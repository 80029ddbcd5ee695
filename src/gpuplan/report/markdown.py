"""The report as Markdown (tables, no charts): for issues, pull requests and chat.

    >>> from gpuplan.report.markdown import render_markdown
    >>> print(render_markdown(data))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from gpuplan.i18n import tr
from gpuplan.render.advise_text import plan_cells, plan_columns
from gpuplan.render.console import fmt_bytes, fmt_seconds
from gpuplan.render.labels import bound_phrase, category_label, op_class_label
from gpuplan.report.data import Availability, Comparison, ReportData
from gpuplan.report.html import merged_assumptions
from gpuplan.report.text import (
    BREAKDOWN_ORDER,
    gib_note,
    largest_batch_cell,
    verdict_word,
    workload_title,
)


def _cell(x: object) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list[str]], right: set[int] | None = None) -> list[str]:
    right = right if right is not None else set(range(1, len(head)))
    out = ["| " + " | ".join(_cell(h) for h in head) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _unavailable(status: Availability) -> str:
    return "_" + tr("Not available: {reason}.", reason=tr(status.reason or "")) + "_"


def _num(x: float | None, digits: int) -> str:
    return "N/A" if x is None else f"{x:,.{digits}f}"


def _price(x: float | None, cur: str, digits: int, quote: Any) -> str:
    if x is None:
        return "N/A"
    text = f"{x:,.{digits}f} {cur}"
    if quote is not None:
        kind = getattr(quote.kind, "value", quote.kind)
        text += f" ({tr(str(kind))}, {quote.date or tr('undated')})"
    return text


def _advice_lines(advice: Any) -> list[str]:
    from gpuplan.render.advise_text import note_text

    lines = []
    if advice.plans:
        cols = plan_columns()
        lines += _table([c for c, _ in cols], [plan_cells(p) for p in advice.plans],
                        right={i for i, (_, just) in enumerate(cols) if just == "right"})
        changes = advice.plans[0].changes
        lines += [""] + ([f"- {note_text(c.summary)} — {note_text(c.effect)}" for c in changes]
                         or ["- " + tr("nothing to change: the workload fits as given")])
    else:
        lines.append(tr("Nothing fits on this GPU, whatever the settings tried."))
    nf = advice.nothing_fits
    if nf is not None and nf.smallest_memory_bytes is not None:
        lines += ["", tr("Smallest catalog GPU memory that fits it: {mem} (e.g. {gpu}).",
                         mem=fmt_bytes(nf.smallest_memory_bytes), gpu=nf.smallest_memory_gpu)]
    if advice.snippet:
        lines += ["", f"### {tr('PyTorch code for plan 1')}", "", "```python", advice.snippet.rstrip(), "```"]
    return lines


def render_markdown(data: ReportData) -> str:
    """Verdict table, then per detail GPU: memory at the peak, memory vs batch, time per op class."""
    r0 = data.fits[0] if data.fits else None
    title = workload_title(r0) if r0 else str(data.workload.get("model"))
    lines = [f"# {tr('gpuplan report: {what}', what=title)}", ""]
    batch = tr("largest batch per GPU") if data.auto_batch else tr("batch {b}", b=data.workload.get("batch"))
    sub = [batch, (tr("1 GPU") if len(data.fits) == 1 else tr("{n} GPUs", n=len(data.fits)))]
    if r0:
        sub.append(tr("{n} parameters ({t} trainable)", n=f"{r0.param_count:,}", t=f"{r0.trainable_param_count:,}"))
    lines += [" · ".join(sub), "", gib_note(), "", f"## {tr('Verdict')}", ""]
    rows = []
    for r in data.fits:
        t = r.time
        rows.append([r.gpu.name, fmt_bytes(r.gpu.memory_bytes), verdict_word(r.fits), str(r.batch),
                     largest_batch_cell(data, r), fmt_bytes(r.memory.device_total_bytes),
                     fmt_bytes(r.memory.headroom_bytes), fmt_seconds(t.step_seconds if t else None),
                     f"{t.samples_per_second:,.1f}" if t and t.samples_per_second else "N/A"])
    lines += _table([tr("GPU"), tr("memory"), tr("verdict"), tr("batch"), tr("largest batch"), tr("device total"),
                     tr("headroom"), tr("step time"), tr("samples/s")], rows, right={1, 3, 4, 5, 6, 7, 8})
    for r in data.fits:
        if r.gpu.name not in data.detail_gpus:
            continue
        m = r.memory
        lines += ["", f"## {r.gpu.name}", ""]
        lines.append(tr("{what} on {gpu} at batch {batch}:", what=title, gpu=r.gpu.name, batch=r.batch)
                     + f" **{verdict_word(r.fits)}** — "
                     + tr("device total {total} of {cap} usable (headroom {head})", total=fmt_bytes(m.device_total_bytes),
                          cap=fmt_bytes(m.capacity_bytes), head=fmt_bytes(m.headroom_bytes)))
        total = max(1, m.device_total_bytes)
        lines += ["", f"### {tr('Memory at the peak')}", ""]
        brows = [[category_label(k), fmt_bytes(m.breakdown[k]), f"{100 * m.breakdown[k] / total:.1f}%"]
                 for k in BREAKDOWN_ORDER if m.breakdown.get(k)]
        brows.append([tr("device total"), fmt_bytes(m.device_total_bytes), "100%"])
        lines += _table([tr("category"), tr("memory"), tr("share")], brows)
        s = data.sweep_for(r.gpu.name)
        if s is not None:
            lines += ["", f"### {tr('Memory vs batch size')}", ""]
            if s.max_batch_size is not None:
                how = tr("checked with a real trace") if s.max_batch_checked else tr("from the batch model")
                lines += [tr("Largest batch {n} ({how}).", n=s.max_batch_size, how=how), ""]
            lines += _table([tr("batch"), tr("device total"), tr("verdict")],
                            [[str(p.batch), fmt_bytes(p.device_total_bytes), verdict_word(p.fits)] for p in s.points],
                            right={0, 1})
            for note in s.notes:
                lines += ["", f"- {tr(note)}"]
        t = r.time
        if t is not None and t.step_seconds:
            lines += ["", f"### {tr('Time per op class')}", ""]
            lines.append(tr("time per step {step} (forward {fwd}, backward {bwd}, optimizer {opt}) · {sps} samples/s · "
                            "{bound}", step=fmt_seconds(t.step_seconds), fwd=fmt_seconds(t.forward_seconds),
                            bwd=fmt_seconds(t.backward_seconds), opt=fmt_seconds(t.optimizer_seconds),
                            sps=f"{t.samples_per_second:,.1f}", bound=bound_phrase(t.bound)))
            lines.append("")
            tot = sum(t.seconds_by_class.values()) or 1.0
            lines += _table([tr("op class"), tr("time"), tr("share")],
                            [[op_class_label(k), fmt_seconds(v), f"{100 * v / tot:.0f}%"]
                             for k, v in sorted(t.seconds_by_class.items(), key=lambda kv: -kv[1]) if v > 0])
        if r.warnings:
            lines += ["", f"### {tr('Warnings')}", ""] + [f"- {tr(w)}" for w in r.warnings]
    lines += ["", f"## {tr('GPU comparison')}", ""]
    if data.comparison_status.available and isinstance(data.comparison, Comparison):
        c = data.comparison
        lines += _table([tr("GPU"), tr("verdict"), tr("batch"), tr("samples/s"), tr("purchase price (kind, date)"),
                         tr("samples/s per 1,000 {cur}", cur=c.currency), tr("cloud per GPU-hour")],
                        [[p.gpu, verdict_word(p.fits), str(p.batch), _num(p.samples_per_second, 1),
                          _price(p.purchase_per_device, c.currency, 0, p.purchase), _num(p.per_1k, 1),
                          _price(p.cloud_per_gpu_hour, c.currency, 2, None)] for p in c.points], right={2, 3, 4, 5, 6})
        lines += [""] + [f"- {tr(n)}" for n in c.notes]
    else:
        lines.append(_unavailable(data.comparison_status))
    lines += ["", f"## {tr('Advice')}", ""]
    if data.advice_status.available and data.advice is not None:
        lines += _advice_lines(data.advice)
    else:
        lines.append(_unavailable(data.advice_status))
    if r0:
        lines += ["", f"## {tr('Assumptions and limits')}", ""]
        lines += [f"- {a}" for a in merged_assumptions(data)]
        lines += [f"- {tr('not modelled')}: {tr(u)}" for u in sorted({u for r in data.fits for u in r.memory.uncovered})]
    lines += ["", "---", tr("Generated by gpuplan {v} on {date} (UTC). The same data: gpuplan report … --format json.",
                            v=data.gpuplan_version, date=data.generated_at.replace("T", " ").replace("+00:00", "")), ""]
    return "\n".join(lines)
