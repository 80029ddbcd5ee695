"""Charts as small inline SVG strings: no JavaScript, no chart library, no network.

One function per chart; the HTML report and the ``gpuplan serve`` page both embed these strings.

    >>> from gpuplan.render.charts import op_class_bars
    >>> svg = op_class_bars({"conv": 0.1, "norm": 0.02}, chart_id="t")
    >>> svg.startswith("<svg") and "<title" in svg
    True

Every chart has a ``<title>`` and a ``<desc>`` (read by screen readers), axis labels with units,
and draws its colours from one palette. Memory is in IEC units: 1 GiB = 2^30 bytes (≈ 1.074 GB);
the "GB" on a GPU's box is in fact GiB.

Inputs are plain numbers (bytes, seconds, dollars) so the charts do not depend on result classes.
All text is escaped; labels go through :func:`gpuplan.i18n.tr` in the callers or here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from gpuplan.i18n import tr
from gpuplan.render.console import fmt_seconds
from gpuplan.render.labels import category_label, op_class_label, phase_label

FONT = "system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans','Liberation Sans',sans-serif"
AXIS = "#555"
GRID = "#e3e3e3"
TEXT = "#222"
FITS = "#1a7f37"
NOFIT = "#c62828"
CAPACITY = "#c62828"
LINE = "#0072B2"

# Okabe-Ito based, colour-blind safe; the order is the stacking order of the breakdown bar.
CATEGORY_COLORS: dict[str, str] = {
    "parameters": "#0072B2",
    "buffers": "#56B4E9",
    "gradients": "#009E73",
    "optimizer_state": "#E69F00",
    "activations": "#D55E00",
    "temporaries": "#CC79A7",
    "inputs": "#B8A200",
    "kv_cache": "#7B61FF",
    "workspaces": "#8C8C8C",
    "allocator_overhead": "#BDBDBD",
    "cuda_context": "#4D4D4D",
}
CLASS_COLOR = "#0072B2"
PHASE_COLORS = {"setup": "#f4f4f4", "forward": "#eaf3fb", "backward": "#fdf1e4", "optimizer": "#eaf6ef",
                "loss": "#f6eef6"}




# ---------------------------------------------------------------- helpers


@dataclass(frozen=True)
class ByteUnit:
    name: str
    scale: int

    def __call__(self, n: float) -> float:
        return n / self.scale


def byte_unit(max_bytes: float) -> ByteUnit:
    """GiB when the largest value is at least 1 GiB, else MiB (one unit per chart)."""
    return ByteUnit("GiB", 2**30) if max_bytes >= 2**30 else ByteUnit("MiB", 2**20)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values (1-2-2.5-5 steps) from at or below ``lo`` to at or above ``hi``."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    i = math.floor(lo / step + 1e-9)
    ticks = [round(i * step, 10)]
    while ticks[-1] < hi - step * 1e-9:  # the last tick reaches hi, so the plot holds every value
        i += 1
        ticks.append(round(i * step, 10))
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks per decade between lo and hi (both > 0)."""
    out = []
    e = math.floor(math.log10(lo))
    while 10**e <= hi * 1.0001:
        for m in (1, 2, 5):
            v = m * 10**e
            if lo * 0.9999 <= v <= hi * 1.0001:
                out.append(float(v))
        e += 1
    return out


def fmt_bytes_auto(n: float) -> str:
    """Bytes in the largest IEC unit that keeps the number at 1 or more (GiB, MiB, KiB, B)."""
    for name, p in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if abs(n) >= 2**p:
            return f"{n / 2**p:.2f} {name}"
    return f"{int(n)} B"


def fmt_tick(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10 or float(v).is_integer():
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return f"{v:.2g}"




def text_width(text: str, size: float = 11) -> float:
    """Rough rendered width of ``text`` (wide glyphs count double)."""
    return sum(2 if ord(c) > 0x2E80 else 1 for c in text) * size * 0.58


def _t(x: float, y: float, text: str, *, size: float = 11, anchor: str = "start", fill: str = TEXT,
       weight: str | None = None, extra: str = "") -> str:
    w = f' font-weight="{weight}"' if weight else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}"{w}{extra}>'
            f"{escape(text)}</text>")


def _open(chart_id: str, width: int, height: int, title: str, desc: str) -> str:
    cid = escape(chart_id, quote=True)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="gp-chart" id="{cid}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-labelledby="{cid}-title {cid}-desc" '
            f'font-family="{escape(FONT, quote=True)}" style="height:auto">'
            f'<title id="{cid}-title">{escape(title)}</title><desc id="{cid}-desc">{escape(desc)}</desc>'
            f'<rect width="{width}" height="{height}" fill="#fff"/>'
            + _t(12, 20, title, size=13, weight="600"))


def _empty(chart_id: str, title: str, message: str, width: int = 560, height: int = 90) -> str:
    return _open(chart_id, width, height, title, message) + _t(12, 52, message, fill=AXIS) + "</svg>"


@dataclass
class _Frame:
    """The plot area of an x/y chart and its scales."""

    left: float
    top: float
    width: float
    height: float
    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float
    log_x: bool = False
    log_y: bool = False

    def x(self, v: float) -> float:
        if self.log_x:
            a, b, v = math.log10(self.x_lo), math.log10(self.x_hi), math.log10(max(v, self.x_lo))
        else:
            a, b = self.x_lo, self.x_hi
        return self.left + (v - a) / ((b - a) or 1) * self.width

    def y(self, v: float) -> float:
        if self.log_y:
            a, b, v = math.log10(self.y_lo), math.log10(self.y_hi), math.log10(max(v, self.y_lo))
        else:
            a, b = self.y_lo, self.y_hi
        return self.top + self.height - (v - a) / ((b - a) or 1) * self.height

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def right(self) -> float:
        return self.left + self.width


def _axes(f: _Frame, x_ticks: Sequence[float], y_ticks: Sequence[float], x_label: str, y_label: str,
          x_fmt: object = fmt_tick, y_fmt: object = fmt_tick) -> str:
    parts = []
    for v in y_ticks:
        y = f.y(v)
        parts.append(f'<line x1="{f.left:.1f}" y1="{y:.1f}" x2="{f.right:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_t(f.left - 6, y + 4, y_fmt(v), size=10, anchor="end", fill=AXIS))  # type: ignore[operator]
    for v in x_ticks:
        x = f.x(v)
        parts.append(f'<line x1="{x:.1f}" y1="{f.bottom:.1f}" x2="{x:.1f}" y2="{f.bottom + 4:.1f}" stroke="{AXIS}"/>')
        parts.append(_t(x, f.bottom + 16, x_fmt(v), size=10, anchor="middle", fill=AXIS))  # type: ignore[operator]
    parts.append(f'<line x1="{f.left:.1f}" y1="{f.bottom:.1f}" x2="{f.right:.1f}" y2="{f.bottom:.1f}" stroke="{AXIS}"/>')
    parts.append(f'<line x1="{f.left:.1f}" y1="{f.top:.1f}" x2="{f.left:.1f}" y2="{f.bottom:.1f}" stroke="{AXIS}"/>')
    parts.append(_t(f.left + f.width / 2, f.bottom + 34, x_label, size=11, anchor="middle", fill=AXIS))
    cy = f.top + f.height / 2
    parts.append(_t(14, cy, y_label, size=11, anchor="middle", fill=AXIS,
                    extra=f' transform="rotate(-90 14 {cy:.1f})"'))
    return "".join(parts)


# ---------------------------------------------------------------- charts


def memory_breakdown_bar(breakdown: dict[str, int], capacity_bytes: int | None, *,
                         device_total_bytes: int | None = None, title: str | None = None,
                         chart_id: str = "breakdown", width: int = 600) -> str:
    """Stacked horizontal bar of device memory by category at the peak, against the card's capacity.

    ``breakdown`` maps category keys (``parameters``, ``activations``, ``cuda_context``, ...) to bytes;
    ``capacity_bytes`` is the usable memory of the card (a dashed red line), None when unknown;
    ``device_total_bytes`` the total to print (default: the sum of the categories).
    """
    title = title or tr("Memory at the peak vs the card's capacity")
    items = [(k, v) for k, v in sorted(breakdown.items(), key=lambda kv: _cat_order(kv[0])) if v > 0]
    total = device_total_bytes or sum(v for _, v in items)
    if total <= 0 or not items:
        return _empty(chart_id, title, tr("No memory data."))
    cap = capacity_bytes or 0
    unit = byte_unit(max(total, cap))
    left, right = 16, 24
    bar_w = width - left - right
    top = 62
    ticks = nice_ticks(0, unit(max(total, sum(v for _, v in items), cap)), 6)
    scale_max = ticks[-1] * unit.scale
    f = _Frame(left, top, bar_w, 30, 0, scale_max, 0, 1)
    desc = tr("Device total {total} {unit}", total=fmt_tick(round(unit(total), 2)), unit=unit.name)
    if cap:
        desc += "; " + tr("capacity {cap} {unit}", cap=fmt_tick(round(unit(cap), 2)), unit=unit.name)
    desc += ". " + "; ".join(f"{category_label(k)} {fmt_bytes_auto(v)}" for k, v in items) + "."
    # legend rows (laid out first to know the height)
    legend: list[str] = []
    lx, ly = left, top + 84
    for k, v in items:
        label = f"{category_label(k)} {fmt_bytes_auto(v)} ({100 * v / total:.0f}%)"
        w = 16 + text_width(label, 11) + 18
        if lx + w > width - right and lx > left:
            lx, ly = left, ly + 18
        legend.append(f'<rect x="{lx:.1f}" y="{ly - 9:.1f}" width="10" height="10" fill="{_color(k)}"/>'
                      + _t(lx + 14, ly, label, size=11))
        lx += w
    height = int(ly + 16)
    out = [_open(chart_id, width, height, title, desc)]
    sub = tr("device total {total}", total=fmt_bytes_auto(total))
    if cap:
        used = 100 * total / cap
        sub += " · " + tr("{pct}% of the usable {cap}", pct=f"{used:.0f}", cap=fmt_bytes_auto(cap))
    out.append(_t(12, 38, sub, size=11, fill=AXIS))
    x = float(left)
    for k, v in items:
        w = v / scale_max * bar_w
        out.append(f'<rect x="{x:.1f}" y="{top}" width="{max(w, 0.5):.1f}" height="30" fill="{_color(k)}">'
                   f"<title>{escape(category_label(k))}: {fmt_bytes_auto(v)}</title></rect>")
        x += w
    for v in ticks:
        tx = f.x(v * unit.scale)
        out.append(f'<line x1="{tx:.1f}" y1="{top + 30:.1f}" x2="{tx:.1f}" y2="{top + 34:.1f}" stroke="{AXIS}"/>')
        out.append(_t(tx, top + 46, fmt_tick(v), size=10, anchor="middle", fill=AXIS))
    out.append(_t(left + bar_w / 2, top + 62, tr("device memory ({unit})", unit=unit.name), size=11,
                  anchor="middle", fill=AXIS))
    if cap:
        cx = f.x(cap)
        out.append(f'<line x1="{cx:.1f}" y1="{top - 8}" x2="{cx:.1f}" y2="{top + 36}" stroke="{CAPACITY}" '
                   'stroke-width="2" stroke-dasharray="5 3"/>')
        label = tr("capacity")
        anchor = "end" if cx > width - 90 else "middle"
        out.append(_t(cx, top - 11, label, size=10, anchor=anchor, fill=CAPACITY))
    out.extend(legend)
    out.append("</svg>")
    return "".join(out)


def _cat_order(key: str) -> int:
    keys = list(CATEGORY_COLORS)
    return keys.index(key) if key in keys else len(keys)


def _color(key: str) -> str:
    return CATEGORY_COLORS.get(key, "#777")


def memory_vs_batch(points: Sequence[tuple[int, int, bool | None]], capacity_bytes: int | None,
                    max_batch: int | None, *, current_batch: int | None = None, max_batch_capped: bool = False,
                    title: str | None = None, chart_id: str = "sweep", width: int = 600, height: int = 300) -> str:
    """Device memory (line) against batch size, the usable capacity (dashed) and the largest batch (marker).

    ``points`` are ``(batch, device_total_bytes, fits)``; green dots fit, red dots do not.
    ``max_batch_capped``: the search stopped at ``max_batch`` before memory ran out.
    """
    title = title or tr("Memory vs batch size")
    pts = sorted(points)
    if not pts:
        return _empty(chart_id, title, tr("No batch sweep for this model."))
    cap = capacity_bytes or 0
    y_max_b = max(max(p[1] for p in pts), cap) * 1.03
    unit = byte_unit(y_max_b)
    y_ticks = nice_ticks(0, unit(y_max_b), 5)
    x_hi = max(p[0] for p in pts)
    x_ticks = [t for t in nice_ticks(0, x_hi, 6) if t <= x_hi * 1.001]
    f = _Frame(62, 36, width - 62 - 20, height - 36 - 48, 0, max(x_hi, 1), 0, y_ticks[-1])
    desc = tr("Device memory at {n} batch sizes from {lo} to {hi}.", n=len(pts), lo=pts[0][0], hi=pts[-1][0])
    if cap:
        desc += " " + tr("Usable capacity {cap} {unit}.", cap=f"{unit(cap):.2f}", unit=unit.name)
    if max_batch is not None:
        desc += " " + (tr("Every batch up to {n} fits (the search stops there).", n=max_batch) if max_batch_capped
                       else tr("Largest batch that fits: {n}.", n=max_batch))
    out = [_open(chart_id, width, height, title, desc),
           _axes(f, x_ticks, y_ticks, tr("batch size (samples per step)"),
                 tr("device memory ({unit})", unit=unit.name))]
    if cap:
        cy = f.y(unit(cap))
        out.append(f'<line x1="{f.left:.1f}" y1="{cy:.1f}" x2="{f.right:.1f}" y2="{cy:.1f}" stroke="{CAPACITY}" '
                   'stroke-width="1.5" stroke-dasharray="6 4"/>')
        out.append(_t(f.left + 6, cy - 5, tr("capacity {cap} {unit}", cap=f"{unit(cap):.2f}", unit=unit.name),
                      size=10, fill=CAPACITY))
    path = " ".join(f"{'M' if i == 0 else 'L'}{f.x(b):.1f},{f.y(unit(m)):.1f}" for i, (b, m, _) in enumerate(pts))
    out.append(f'<path d="{path}" fill="none" stroke="{LINE}" stroke-width="2"/>')
    for b, m, ok in pts:
        color = FITS if ok else NOFIT if ok is False else AXIS
        out.append(f'<circle cx="{f.x(b):.1f}" cy="{f.y(unit(m)):.1f}" r="3" fill="{color}">'
                   f"<title>{escape(tr('batch {b}: {mem} {unit}', b=b, mem=f'{unit(m):.2f}', unit=unit.name))}"
                   "</title></circle>")
    if max_batch is not None and max_batch > 0 and max_batch <= x_hi:
        mx = f.x(max_batch)
        out.append(f'<line x1="{mx:.1f}" y1="{f.top:.1f}" x2="{mx:.1f}" y2="{f.bottom:.1f}" stroke="{FITS}" '
                   'stroke-width="1.5" stroke-dasharray="3 3"/>')
        label = (tr("search stops at batch {n}", n=max_batch) if max_batch_capped
                 else tr("largest batch {n}", n=max_batch))
        anchor = "end" if mx > f.left + f.width * 0.6 else "start"
        # at the bottom: the curve is high where it meets the capacity, so the label stays clear of it
        out.append(_t(mx + (-5 if anchor == "end" else 5), f.bottom - 8, label, size=10, anchor=anchor, fill=FITS,
                      weight="600"))
    if current_batch is not None and current_batch <= x_hi:
        near = min(pts, key=lambda p: abs(p[0] - current_batch))
        if near[0] == current_batch:
            cx, cy = f.x(current_batch), f.y(unit(near[1]))
            out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" fill="none" stroke="{TEXT}" stroke-width="1.5"/>')
    out.append("</svg>")
    return "".join(out)


def memory_timeline(points: Sequence[tuple[int, str, int, int]], *, limit_bytes: int | None = None,
                    title: str | None = None, chart_id: str = "timeline", width: int = 600,
                    height: int = 280) -> str:
    """Allocated (filled) and reserved (line) memory over one training/inference step, phases shaded.

    ``points`` are ``(event, phase, allocated_bytes, reserved_bytes)`` (the allocator's events of the
    last replayed step); ``limit_bytes`` is the capacity left for the allocator (capacity less context).
    """
    title = title or tr("Memory over one step")
    if not points:
        return _empty(chart_id, title, tr("No timeline for this result."))
    x0 = points[0][0]
    xs = [p[0] - x0 for p in points]
    top_b = max(p[3] for p in points)
    # the limit line only when it does not squash the curve (a big card: say where it is instead)
    limit = limit_bytes or 0
    show_limit = 0 < limit <= 1.6 * top_b
    y_max_b = max(top_b, limit if show_limit else 0) * 1.05
    unit = byte_unit(y_max_b)
    y_ticks = nice_ticks(0, unit(y_max_b), 5)
    x_hi = max(xs[-1], 1)
    f = _Frame(62, 46, width - 62 - 20, height - 46 - 48, 0, x_hi, 0, y_ticks[-1])
    peak = max(points, key=lambda p: p[2])
    desc = tr("Allocated memory peaks at {peak} {unit} during {phase}; reserved peaks at {res} {unit}.",
              peak=f"{unit(peak[2]):.2f}", unit=unit.name, phase=phase_label(peak[1]),
              res=f"{unit(max(p[3] for p in points)):.2f}")
    out = [_open(chart_id, width, height, title, desc)]
    # phase bands
    start = 0
    for i in range(1, len(points) + 1):
        if i == len(points) or points[i][1] != points[start][1]:
            xa, xb = f.x(xs[start]), f.x(xs[i - 1] if i == len(points) else xs[i])
            phase = points[start][1]
            out.append(f'<rect x="{xa:.1f}" y="{f.top:.1f}" width="{max(xb - xa, 0.5):.1f}" height="{f.height:.1f}" '
                       f'fill="{PHASE_COLORS.get(phase, "#f6f6f6")}"/>')
            if xb - xa > text_width(phase_label(phase), 10) + 6:
                out.append(_t((xa + xb) / 2, f.top + 12, phase_label(phase), size=10, anchor="middle", fill=AXIS))
            start = i
    out.append(_axes(f, [t for t in nice_ticks(0, x_hi, 6) if t <= x_hi], y_ticks, tr("allocator events in one step"),
                     tr("memory ({unit})", unit=unit.name)))
    base = f"L{f.x(xs[-1]):.1f},{f.bottom:.1f} L{f.x(0):.1f},{f.bottom:.1f} Z"
    alloc = " ".join(f"{'M' if i == 0 else 'L'}{f.x(x):.1f},{f.y(unit(p[2])):.1f}" for i, (x, p) in
                     enumerate(zip(xs, points, strict=True)))
    res = " ".join(f"{'M' if i == 0 else 'L'}{f.x(x):.1f},{f.y(unit(p[3])):.1f}" for i, (x, p) in
                   enumerate(zip(xs, points, strict=True)))
    out.append(f'<path d="{alloc} {base}" fill="{LINE}" fill-opacity="0.35" stroke="{LINE}" stroke-width="1.5"/>')
    out.append(f'<path d="{res}" fill="none" stroke="#E69F00" stroke-width="1.5"/>')
    if limit and not show_limit:
        out.append(_t(12, 36, tr("capacity less CUDA context: {cap} (above the chart)", cap=fmt_bytes_auto(limit)),
                      size=10, fill=CAPACITY))
    if show_limit:
        ly = f.y(unit(limit))
        out.append(f'<line x1="{f.left:.1f}" y1="{ly:.1f}" x2="{f.right:.1f}" y2="{ly:.1f}" stroke="{CAPACITY}" '
                   'stroke-width="1.5" stroke-dasharray="6 4"/>')
        out.append(_t(f.right - 4, ly - 5, tr("capacity less CUDA context"), size=10, anchor="end", fill=CAPACITY))
    # legend, right-aligned above the plot
    entries = ((LINE, tr("allocated"), "0.5"), ("#E69F00", tr("reserved (cached)"), "1"))
    lx = width - 20 - sum(16 + text_width(label, 10) + 12 for _, label, _ in entries)
    for color, label, opacity in entries:
        out.append(f'<rect x="{lx:.1f}" y="19" width="10" height="10" fill="{color}" fill-opacity="{opacity}"/>')
        out.append(_t(lx + 14, 28, label, size=10))
        lx += 16 + text_width(label, 10) + 12
    out.append("</svg>")
    return "".join(out)


def op_class_bars(seconds_by_class: dict[str, float], *, title: str | None = None, chart_id: str = "opclass",
                  width: int = 600) -> str:
    """Horizontal bars of predicted time per op class in one step, largest first (ms, with shares)."""
    title = title or tr("Time per op class")
    items = [(k, v) for k, v in sorted(seconds_by_class.items(), key=lambda kv: -kv[1]) if v > 0]
    total = sum(v for _, v in items)
    if total <= 0:
        return _empty(chart_id, title, tr("No timing data."))
    label_w = max(text_width(op_class_label(k), 11) for k, _ in items) + 20
    row = 22
    top = 34
    height = int(top + row * len(items) + 40)
    left = max(label_w, 70)
    bar_max = width - left - 130
    vmax = max(v for _, v in items)
    desc = tr("Predicted time per step by op class: ") + "; ".join(
        f"{op_class_label(k)} {fmt_seconds(v)} ({100 * v / total:.0f}%)" for k, v in items) + "."
    out = [_open(chart_id, width, height, title, desc)]
    for i, (k, v) in enumerate(items):
        y = top + i * row
        w = v / vmax * bar_max
        out.append(_t(left - 8, y + 14, op_class_label(k), size=11, anchor="end"))
        out.append(f'<rect x="{left:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row - 6}" fill="{CLASS_COLOR}">'
                   f"<title>{escape(op_class_label(k))}: {fmt_seconds(v)}</title></rect>")
        out.append(_t(left + w + 6, y + 14, f"{fmt_seconds(v)} ({100 * v / total:.0f}%)", size=10, fill=AXIS))
    out.append(_t(left, height - 12, tr("predicted time per step: {t} in total (kernel and host overhead classes)",
                                        t=fmt_seconds(total)), size=10, fill=AXIS))
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class ScatterPoint:
    label: str
    x: float  # price (USD)
    y: float  # throughput (samples/s)
    fits: bool | None = True
    highlight: bool = False


def throughput_vs_price(points: Sequence[ScatterPoint], *, x_label: str | None = None,
                        y_label: str | None = None, title: str | None = None, chart_id: str = "compare",
                        width: int = 600, height: int = 340, max_labels: int = 14) -> str:
    """Scatter of throughput against price (log axes when the range is wide); cards that do not fit are red.

    Points with ``highlight`` (and the best few by throughput per dollar) are labelled.
    """
    title = title or tr("Throughput vs price")
    x_label = x_label or tr("price (USD)")
    y_label = y_label or tr("throughput (samples/s)")
    pts = [p for p in points if p.x > 0 and p.y > 0]
    if not pts:
        return _empty(chart_id, title, tr("No GPU with both a price and a predicted throughput."))
    xs, ys = [p.x for p in pts], [p.y for p in pts]
    log_x = max(xs) / min(xs) > 20
    log_y = max(ys) / min(ys) > 20
    x_lo, x_hi = (min(xs) / 1.3, max(xs) * 1.3) if log_x else (0.0, max(xs) * 1.1)
    y_lo, y_hi = (min(ys) / 1.3, max(ys) * 1.3) if log_y else (0.0, max(ys) * 1.1)
    x_ticks = log_ticks(x_lo, x_hi) if log_x else nice_ticks(x_lo, x_hi, 6)
    y_ticks = log_ticks(y_lo, y_hi) if log_y else nice_ticks(y_lo, y_hi, 5)
    if not log_y:
        y_hi = y_ticks[-1]
    if not log_x:
        x_hi = max(x_hi, x_ticks[-1])
    f = _Frame(70, 36, width - 70 - 24, height - 36 - 50, x_lo, x_hi, y_lo, y_hi, log_x, log_y)
    best = sorted(pts, key=lambda p: -(p.y / p.x))
    labelled = {id(p) for p in pts if p.highlight} | {id(p) for p in best[:max_labels]}
    desc = tr("{n} GPUs; best throughput per dollar: {best}.", n=len(pts),
              best=", ".join(p.label for p in best[:3]))
    out = [_open(chart_id, width, height, title, desc),
           _axes(f, x_ticks, y_ticks, x_label + (" · " + tr("log scale") if log_x else ""),
                 y_label + (" · " + tr("log scale") if log_y else ""))]
    placed: list[tuple[float, float, float]] = []
    for p in sorted(pts, key=lambda p: p.highlight):
        cx, cy = f.x(p.x), f.y(p.y)
        color = FITS if p.fits else NOFIT if p.fits is False else AXIS
        r = 5 if p.highlight else 3.5
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r}" fill="{color}" fill-opacity="0.85"'
                   f'{" stroke=" + chr(34) + TEXT + chr(34) if p.highlight else ""}>'
                   f"<title>{escape(p.label)}: {p.y:,.1f} / ${p.x:,.0f}</title></circle>")
        if id(p) in labelled:
            w = text_width(p.label, 10)
            lx = cx + 7 if cx + 7 + w < f.right else cx - 7 - w
            ly = cy + 3
            if any(abs(ly - py) < 11 and lx < px + pw and px < lx + w for px, py, pw in placed):
                continue
            placed.append((lx, ly, w))
            out.append(_t(lx, ly, p.label, size=10, fill=TEXT))
    out.append("</svg>")
    return "".join(out)
