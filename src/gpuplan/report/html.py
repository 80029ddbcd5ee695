"""The HTML report: one self-contained file (inline CSS and SVG, no script or font from the network).

    >>> from gpuplan.report.html import render_html
    >>> open("report.html", "w").write(render_html(data))  # doctest: +SKIP

``render_sections(data)`` is the body without the page around it: the ``gpuplan serve`` page inserts
the same sections, so the report and the page show the same thing. The report's JSON
(``to_jsonable(data)``) is embedded in a ``<script type="application/json">`` element.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from typing import Any

from gpuplan.api import FitResult
from gpuplan.i18n import current_language, msg, tr
from gpuplan.memory.batch import MAX_BATCH
from gpuplan.render import charts
from gpuplan.render.advise_text import plan_cells, plan_columns, plan_keys
from gpuplan.render.console import fmt_bytes, fmt_seconds
from gpuplan.render.jsonout import to_jsonable
from gpuplan.render.labels import bound_label, bound_phrase, category_label
from gpuplan.report.data import Availability, BatchSweep, Comparison, ReportData
from gpuplan.report.text import (
    BREAKDOWN_ORDER,
    gib_note,
    largest_batch_cell,
    sweep_caption,
    verdict_word,
    workload_title,
)

CSS = """
:root{--fg:#1f2328;--muted:#59636e;--ok:#1a7f37;--bad:#c62828;--line:#d0d7de;--soft:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Liberation Sans",sans-serif;
color:var(--fg);background:#fff}
main{max-width:1280px;margin:0 auto;padding:20px 24px 40px}
h1{font-size:1.55rem;margin:0 0 2px;line-height:1.25}
h2{font-size:1.2rem;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:1rem;margin:16px 0 6px}
.sub,.units,.muted{color:var(--muted)}
.sub{margin:0 0 8px}
.units{font-size:13px;margin:6px 0 0}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;font-size:14px;margin:4px 0}
th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{background:var(--soft);font-weight:600;white-space:normal;vertical-align:bottom}
th:first-child,td:first-child{text-align:left}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-weight:600;font-size:13px}
.badge.ok{background:#dafbe1;color:var(--ok)}
.badge.bad{background:#ffebe9;color:var(--bad)}
.badge.na{background:var(--soft);color:var(--muted)}
.verdict{font-size:1.05rem;margin:4px 0 10px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:14px}
figure{margin:0;padding:8px;border:1px solid var(--line);border-radius:6px;background:#fff;min-width:0}
figure svg{display:block;width:100%;max-width:100%;height:auto}
figure.wide{grid-column:1/-1}
figure.wide svg{max-width:900px}
figure table{width:100%}
figcaption{font-size:13px;color:var(--muted);margin-top:4px}
.na{color:var(--muted);font-style:italic}
ul.notes{margin:4px 0;padding-left:20px;font-size:14px}
ul.warn li{color:#7d4e00}
pre{background:var(--soft);padding:12px;overflow:auto;border-radius:6px;font-size:13px;line-height:1.4}
details{margin:8px 0}
summary{cursor:pointer;color:var(--muted)}
footer{margin-top:36px;font-size:13px;color:var(--muted)}
@media (max-width:560px){main{padding:12px}.charts{grid-template-columns:1fr}
figure.wide{overflow-x:auto}figure.wide svg{min-width:560px}}
"""


def _badge(fits: bool | None) -> str:
    cls = {True: "ok", False: "bad", None: "na"}[fits]
    return f'<span class="badge {cls}">{escape(verdict_word(fits))}</span>'


def _table(head: list[str], rows: list[list[str]], *, raw: bool = False, cls: str = "",
           left: frozenset[int] = frozenset({0})) -> str:
    """A table, numbers right-aligned (columns in ``left`` are text); cells are escaped unless ``raw``
    (then they are trusted HTML made here)."""
    def cell(x: str) -> str:
        return x if raw else escape(x)

    def align(i: int) -> str:
        return ' style="text-align:left"' if i in left and i else ""

    h = "".join(f"<th{align(i)}>{escape(c)}</th>" for i, c in enumerate(head))
    body = "".join("<tr>" + "".join(f"<td{align(i)}>{cell(c)}</td>" for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    return f'<div class="table-wrap"><table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table></div>'


def _slug(i: int) -> str:
    return f"gpu{i + 1}"


def summary_table(data: ReportData) -> str:
    """One row per GPU: verdict, batch, largest batch, memory, headroom, step time, throughput."""
    rows = []
    for r in data.fits:
        m, t = r.memory, r.time
        rows.append([
            escape(r.gpu.name), escape(fmt_bytes(r.gpu.memory_bytes)), _badge(r.fits), str(r.batch),
            escape(largest_batch_cell(data, r)),
            escape(fmt_bytes(m.device_total_bytes)),
            escape(fmt_bytes(m.headroom_bytes)), escape(fmt_seconds(t.step_seconds if t else None)),
            "N/A" if not t or not t.samples_per_second else f"{t.samples_per_second:,.1f}",
            escape(bound_label(t.bound)) if t and t.bound else "N/A",
        ])
    head = [tr("GPU"), tr("memory"), tr("verdict"), tr("batch"), tr("largest batch"), tr("device total"),
            tr("headroom"), tr("step time"), tr("samples/s"), tr("bound")]
    return _table(head, rows, raw=True, cls="summary")


def gpu_charts(data: ReportData, index: int) -> dict[str, str]:
    """The four per-GPU charts of ``data.fits[index]`` as SVG strings (keys: breakdown, sweep, timeline, op_classes)."""
    r = data.fits[index]
    slug = _slug(index)
    m = r.memory
    out = {"breakdown": charts.memory_breakdown_bar(m.breakdown, m.capacity_bytes, device_total_bytes=m.device_total_bytes,
                                                    chart_id=f"{slug}-breakdown", width=680)}
    sweep = data.sweep_for(r.gpu.name)
    if sweep is not None:
        out["sweep"] = charts.memory_vs_batch(
            [(p.batch, p.device_total_bytes, p.fits) for p in sweep.points], sweep.capacity_bytes,
            sweep.max_batch_size, current_batch=sweep.current_batch, chart_id=f"{slug}-sweep",
            max_batch_capped=sweep.max_batch_size is not None and sweep.max_batch_size >= MAX_BATCH)
    limit = None if m.capacity_bytes is None else m.capacity_bytes - m.context_bytes
    out["timeline"] = charts.memory_timeline(
        [(p.event, p.phase, p.allocated_bytes, p.reserved_bytes) for p in m.timeline], limit_bytes=limit,
        chart_id=f"{slug}-timeline")
    if r.time is not None and r.time.step_seconds:
        out["op_classes"] = charts.op_class_bars(r.time.seconds_by_class, chart_id=f"{slug}-opclass")
    return out


def _figure(svg: str, caption: str, *, wide: bool = False) -> str:
    cls = ' class="wide"' if wide else ""
    return f"<figure{cls}>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def _modules_table(r: FitResult, n: int = 8) -> str:
    agg: dict[str, int] = {}
    for path, b in r.memory.top_modules:
        key = ".".join(path.split(".")[:2]) if path else tr("(top level)")
        agg[key] = agg.get(key, 0) + b
    total = max(1, sum(agg.values()))
    rows = [[k, fmt_bytes(v), f"{100 * v / total:.0f}%"] for k, v in sorted(agg.items(), key=lambda kv: -kv[1])[:n]]
    return _table([tr("module"), tr("activations"), tr("share")], rows)


def _verdict_line(r: FitResult) -> str:
    m = r.memory
    parts = [tr("{what} on {gpu} at batch {batch}:", what=workload_title(r), gpu=r.gpu.name, batch=r.batch)]
    text = escape(" ".join(parts)) + " " + _badge(r.fits)
    detail = tr("device total {total} of {cap} usable (headroom {head})", total=fmt_bytes(m.device_total_bytes),
                cap=fmt_bytes(m.capacity_bytes), head=fmt_bytes(m.headroom_bytes))
    return f'<p class="verdict">{text}<br><span class="muted">{escape(detail)}</span></p>'


def _time_line(r: FitResult) -> str:
    t = r.time
    if t is None:
        return ""
    if t.step_seconds is None:
        return f'<p>{escape(tr("time: N/A ({reason})", reason=tr(t.na_reason or "")))}</p>'
    return "<p>" + escape(tr(
        "time per step {step} (forward {fwd}, backward {bwd}, optimizer {opt}) · {sps} samples/s · {bound}",
        step=fmt_seconds(t.step_seconds), fwd=fmt_seconds(t.forward_seconds), bwd=fmt_seconds(t.backward_seconds),
        opt=fmt_seconds(t.optimizer_seconds), sps=f"{t.samples_per_second:,.1f}", bound=bound_phrase(t.bound))) + "</p>"


def _breakdown_table(r: FitResult) -> str:
    m = r.memory
    total = max(1, m.device_total_bytes)
    rows = [[category_label(k), fmt_bytes(m.breakdown[k]), f"{100 * m.breakdown[k] / total:.1f}%"]
            for k in BREAKDOWN_ORDER if m.breakdown.get(k)]
    rows.append([tr("device total"), fmt_bytes(m.device_total_bytes), "100%"])
    return _table([tr("category"), tr("memory"), tr("share")], rows)


def _sweep_table(s: BatchSweep) -> str:
    rows = [[str(p.batch), fmt_bytes(p.device_total_bytes), fmt_bytes(p.peak_allocated_bytes),
             verdict_word(p.fits)] for p in s.points]
    return _table([tr("batch"), tr("device total"), tr("peak allocated"), tr("verdict")], rows)


def _notes(items: list[str], cls: str = "notes") -> str:
    if not items:
        return ""
    return f'<ul class="notes {cls}">' + "".join(f"<li>{escape(tr(x))}</li>" for x in items) + "</ul>"


def gpu_section(data: ReportData, index: int) -> str:
    r = data.fits[index]
    ch = gpu_charts(data, index)
    sweep = data.sweep_for(r.gpu.name)
    out = [f'<section class="gpu" id="{_slug(index)}"><h2>{escape(r.gpu.name)}</h2>', _verdict_line(r)]
    if r.max_batch_size is not None:
        out.append("<p>" + escape(tr("largest batch that fits: {n}", n=r.max_batch_size)) + "</p>")
    out.append(_time_line(r))
    out.append('<div class="charts">')
    out.append(_figure(ch["breakdown"], tr("Where the memory goes at the peak of the step; the dashed line is the "
                                           "card's usable capacity."), wide=True))
    if "sweep" in ch and sweep is not None:
        out.append(_figure(ch["sweep"], sweep_caption(sweep)))
    out.append(_figure(ch["timeline"], tr("Allocated and reserved memory over one step (the third replayed, in "
                                          "steady state); the CUDA context comes on top.")))
    if "op_classes" in ch:
        out.append(_figure(ch["op_classes"], tr("Predicted kernel time per op class in one step.")))
    if r.memory.top_modules:
        out.append(f"<figure><h3>{escape(tr('Top modules by activation memory'))}</h3>{_modules_table(r)}"
                   f"<figcaption>{escape(tr('Activations created in the forward pass, by module.'))}</figcaption>"
                   "</figure>")
    out.append("</div>")
    if r.warnings:
        out.append(f"<h3>{escape(tr('Warnings'))}</h3>" + _notes(r.warnings, "warn"))
    out.append(f"<details><summary>{escape(tr('Numbers behind the charts'))}</summary>")
    out.append(f"<h3>{escape(tr('Memory at the peak'))}</h3>" + _breakdown_table(r))
    if sweep is not None:
        out.append(f"<h3>{escape(tr('Memory vs batch size'))}</h3>" + _sweep_table(sweep) + _notes(sweep.notes))
    out.append("</details></section>")
    return "".join(out)


def _unavailable(status: Availability) -> str:
    return f'<p class="na">{escape(tr("Not available: {reason}.", reason=tr(status.reason or "")))}</p>'


def _optional_section(section_id: str, title: str, status: Availability, content: Any,
                      render: Callable[[Any], str]) -> str:
    """A section whose content may be unavailable (not requested, not in this build): then the reason."""
    body = _unavailable(status) if not status.available or content is None else render(content)
    return f'<section id="{section_id}"><h2>{escape(title)}</h2>{body}</section>'


def comparison_section(data: ReportData) -> str:
    return _optional_section("comparison", tr("GPU comparison"), data.comparison_status, data.comparison,
                             render_comparison)


def comparison_charts(c: Comparison) -> dict[str, str]:
    """Throughput vs purchase price and vs cloud price per GPU-hour (only those with points)."""
    out: dict[str, str] = {}
    buy = [charts.ScatterPoint(p.gpu, p.purchase_per_device, p.samples_per_second, p.fits)
           for p in c.points if p.samples_per_second and p.purchase_per_device]
    cloud = [charts.ScatterPoint(p.gpu, p.cloud_per_gpu_hour, p.samples_per_second, p.fits)
             for p in c.points if p.samples_per_second and p.cloud_per_gpu_hour]
    if buy:
        out["purchase"] = charts.throughput_vs_price(
            buy, title=tr("Throughput vs purchase price"), chart_id="compare-purchase",
            x_label=tr("purchase price per GPU ({cur})", cur=c.currency))
    if cloud:
        out["cloud"] = charts.throughput_vs_price(
            cloud, title=tr("Throughput vs cloud price"), chart_id="compare-cloud",
            x_label=tr("cloud price per GPU-hour ({cur})", cur=c.currency))
    return out


def _money(x: float | None, cur: str, digits: int = 0) -> str:
    return "N/A" if x is None else f"{x:,.{digits}f} {cur}"


def _price_note(q: Any) -> str:
    if q is None:
        return ""
    kind = tr(str(q.kind.value if hasattr(q.kind, "value") else q.kind))
    return f"{kind}, {q.date or tr('undated')}"


def render_comparison(c: Comparison) -> str:
    """The comparison's charts and its table."""
    ch = comparison_charts(c)
    out = []
    if ch:
        out.append('<div class="charts">')
        if "purchase" in ch:
            out.append(_figure(ch["purchase"], tr("Predicted samples/s at the report's batch against the price of one "
                                                  "GPU; up and to the left is better value.")))
        if "cloud" in ch:
            out.append(_figure(ch["cloud"], tr("Predicted samples/s against the cheapest cloud price of one "
                                               "GPU-hour.")))
        out.append("</div>")
    rows = []
    for p in c.points:
        rows.append([p.gpu, verdict_word(p.fits), str(p.batch),
                     "N/A" if p.samples_per_second is None else f"{p.samples_per_second:,.1f}",
                     _money(p.purchase_per_device, c.currency)
                     + (f" ({_price_note(p.purchase)})" if p.purchase is not None else ""),
                     "N/A" if p.per_1k is None else f"{p.per_1k:,.1f}",
                     _money(p.cloud_per_gpu_hour, c.currency, 2),
                     "N/A" if p.per_unit_cloud is None else f"{p.per_unit_cloud:,.0f}"])
    out.append(_table([tr("GPU"), tr("verdict"), tr("batch"), tr("samples/s"), tr("purchase price (kind, date)"),
                       tr("samples/s per 1,000 {cur}", cur=c.currency),
                       tr("cloud per GPU-hour"), tr("samples per {cur} (cloud)", cur=c.currency)], rows))
    out.append(_notes([*c.notes, msg("the full comparison (common batch, relative speed, epoch time and cost): "
                                     "gpuplan compare")]))
    return "".join(out)


def advice_section(data: ReportData) -> str:
    return _optional_section("advice", tr("Advice"), data.advice_status, data.advice, render_advice)


def _note(n: Any) -> str:
    from gpuplan.render.advise_text import note_text

    return note_text(n)


def render_advice(advice: Any) -> str:
    """The advisor's plans (table, what each changes), plan 1's PyTorch code, and what was not tried."""
    head = tr("{model} · {mode} on {gpu} ({mem})", model=advice.model, mode=tr(advice.mode), gpu=advice.gpu.name,
              mem=fmt_bytes(advice.gpu.memory_bytes))
    if advice.target_batch is not None:
        head += " · " + tr("target effective batch {b}", b=advice.target_batch)
    out = [f"<p>{escape(head)}</p>"]
    if advice.plans:
        cols = plan_columns()
        out.append("<p>" + escape(tr("Plans that fit, fastest first (each one traced and re-predicted):")) + "</p>")
        out.append(_table([c for c, _ in cols], [plan_cells(p) for p in advice.plans],
                          left=frozenset(i for i, (_, just) in enumerate(cols) if just == "left")))
        for p in advice.plans:
            title = tr("plan {n}: {changes}", n=p.rank, changes=plan_keys(p))
            if not p.verified:
                title += " (" + tr("interpolated from traces at two batch sizes") + ")"
            items = [f"<li>{escape(_note(c.summary))}<br><span class=\"muted\">{escape(_note(c.effect))}</span></li>"
                     for c in p.changes] or [f"<li>{escape(tr('nothing to change: the workload fits as given'))}</li>"]
            items += [f"<li class=\"muted\">{escape(_note(c))}</li>" for c in p.caveats]
            out.append(f"<h3>{escape(title)}</h3><ul class=\"notes\">{''.join(items)}</ul>")
    else:
        out.append(f"<p><strong>{escape(tr('Nothing fits on this GPU, whatever the settings tried.'))}</strong></p>")
    nf = advice.nothing_fits
    if nf is not None:
        lightest = ", ".join(c.key for c in nf.lightest_changes) or tr("as given")
        lines = [tr("The lightest configuration tried ({changes}) needs {need} at batch 1 on this GPU (as given: "
                    "{orig}).", changes=lightest, need=fmt_bytes(nf.device_bytes_at_batch1),
                    orig=fmt_bytes(nf.original_device_bytes_at_batch1))]
        if nf.smallest_memory_bytes is not None:
            lines.append(tr("Smallest catalog GPU memory that fits it: {mem} (e.g. {gpu}).",
                            mem=fmt_bytes(nf.smallest_memory_bytes), gpu=nf.smallest_memory_gpu))
        out.append("".join(f"<p>{escape(x)}</p>" for x in lines))
        if nf.cheapest:
            out.append(_table([tr("GPU"), tr("memory"), tr("needs"), tr("price"), tr("kind"), tr("date")], [
                [o.name, fmt_bytes(o.memory_bytes), fmt_bytes(o.device_total_bytes),
                 "N/A" if o.price is None else f"{o.price:,.0f} {o.currency}", tr(o.price_kind or "N/A"),
                 o.price_date or "N/A"] for o in nf.cheapest]))
    if advice.snippet:
        out.append(f"<h3>{escape(tr('PyTorch code for plan 1'))}</h3><pre><code>{escape(advice.snippet)}</code></pre>")
    tried = [f"{', '.join(c.key for c in r.changes) or tr('as given')}: {_note(r.reason)}" for r in advice.rejected]
    skipped = [f"{sk.key}: {_note(sk.reason)}" for sk in advice.skipped]
    if tried or skipped:
        out.append(f"<details><summary>{escape(tr('What else was considered'))}</summary>")
        if tried:
            out.append(f"<h3>{escape(tr('Tried, does not fit'))}</h3>" + _notes(tried))
        if skipped:
            out.append(f"<h3>{escape(tr('Not tried'))}</h3>" + _notes(skipped))
        out.append("</details>")
    if advice.search is not None:
        st = advice.search
        out.append('<p class="muted">' + escape(tr(
            "searched {n} configurations ({pruned} pruned without tracing), {traces} traces, {secs} s",
            n=st.candidates_evaluated, pruned=st.candidates_pruned, traces=st.traces, secs=f"{st.seconds:.1f}"))
            + "</p>")
    return "".join(out)


def merged_assumptions(data: ReportData) -> list[str]:
    """Assumptions of all fits, once each; those that differ by GPU name the GPUs they apply to."""
    by_text: dict[str, list[str]] = {}
    for r in data.fits:
        for a in r.memory.assumptions:
            by_text.setdefault(tr(a), []).append(r.gpu.name)
    n = len(data.fits)
    return [a if len(names) == n else f"{', '.join(names)}: {a}" for a, names in by_text.items()]


def notes_section(data: ReportData) -> str:
    if not data.fits:
        return ""
    uncovered = sorted({u for r in data.fits for u in r.memory.uncovered})
    time_notes = sorted({n for r in data.fits if r.time is not None for n in r.time.notes})
    out = [f'<section id="notes"><h2>{escape(tr("Assumptions and limits"))}</h2>']
    out.append(f"<h3>{escape(tr('Assumed'))}</h3>" + _notes(merged_assumptions(data)))
    if uncovered:
        out.append(f"<h3>{escape(tr('Not modelled'))}</h3>" + _notes(uncovered))
    if time_notes:
        out.append(f"<h3>{escape(tr('Timing notes'))}</h3>" + _notes(time_notes))
    out.append("</section>")
    return "".join(out)


def header(data: ReportData) -> str:
    w = data.workload
    r0 = data.fits[0] if data.fits else None
    title = workload_title(r0) if r0 else str(w.get("model"))
    batch = tr("largest batch per GPU") if data.auto_batch else tr("batch {b}", b=w.get("batch"))
    if w.get("grad_accum", 1) > 1:
        batch += " × " + tr("{n} accumulation steps", n=w["grad_accum"])
    params = tr("{n} parameters ({t} trainable)", n=f"{r0.param_count:,}", t=f"{r0.trainable_param_count:,}") \
        if r0 else ""
    sub = " · ".join(x for x in (batch, (tr("1 GPU") if len(data.fits) == 1 else tr("{n} GPUs", n=len(data.fits))), params) if x)
    return (f"<header><h1>{escape(title)}</h1><p class=\"sub\">{escape(sub)}</p>"
            f'<p class="units">{escape(gib_note())}</p></header>')


def render_sections(data: ReportData) -> str:
    """The report body (header, verdict table, per-GPU sections, comparison, advice, notes) as HTML."""
    parts = [header(data), f'<section id="verdict"><h2>{escape(tr("Verdict"))}</h2>', summary_table(data)]
    names = {r.gpu.name for r in data.fits}
    parts.append("</section>")
    for i, r in enumerate(data.fits):
        if r.gpu.name in data.detail_gpus and r.gpu.name in names:
            parts.append(gpu_section(data, i))
    if len(data.fits) > len(data.detail_gpus):
        parts.append('<p class="muted">' + escape(tr(
            "Charts for the first {n} GPUs; the table above has all {m}.", n=len(data.detail_gpus),
            m=len(data.fits))) + "</p>")
    parts += [comparison_section(data), advice_section(data), notes_section(data)]
    return "".join(parts)


EMBED_JSON_MAX_BYTES = 600 * 1024  # past this (e.g. --gpu all) the JSON is left out of the page


def _json_script(data: ReportData) -> str:
    text = json.dumps(to_jsonable(data), ensure_ascii=False, separators=(",", ":"))
    if len(text.encode()) > EMBED_JSON_MAX_BYTES:
        return "<!-- " + escape(tr("The report data is too big to embed here: gpuplan report … --format json "
                                   "writes it.")) + " -->"
    text = text.replace("</", "<\\/").replace("<!--", "<\\!--")
    return f'<script type="application/json" id="gpuplan-report-data">{text}</script>'


def render_html(data: ReportData, *, embed_json: bool = True) -> str:
    """The whole report as one HTML document that needs nothing else (works offline)."""
    title = tr("gpuplan report: {what}", what=workload_title(data.fits[0]) if data.fits else data.workload["model"])
    foot = tr("Generated by gpuplan {v} on {date} (UTC). The same data: gpuplan report … --format json.",
              v=data.gpuplan_version, date=data.generated_at.replace("T", " ").replace("+00:00", ""))
    lang = "zh-Hans" if current_language() == "zh" else "en"
    return ("<!DOCTYPE html>\n"
            f'<html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
            + render_sections(data)
            + f"<footer>{escape(foot)}</footer>"
            + (_json_script(data) if embed_json else "")
            + "</main></body></html>\n")
