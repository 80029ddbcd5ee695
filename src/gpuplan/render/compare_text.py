"""Human rendering of ``gpuplan compare``: one table row per GPU, prices with their date and source.

Shared formatting helpers for money and durations live here (``recommend_text`` uses them too).
"""

from __future__ import annotations

import datetime as dt

from rich import box
from rich.console import Console
from rich.table import Table

from gpuplan.advise.compare import CompareResult, CompareRow
from gpuplan.catalog.prices import PriceQuote, convert, parse_date
from gpuplan.i18n import tr
from gpuplan.memory.batch import MAX_BATCH
from gpuplan.render.fit_text import mode_name

NA = "N/A"
_SYMBOL = {"USD": "$", "CNY": "¥", "EUR": "€"}


def fmt_money(x: float | None, currency: str) -> str:
    """``$1,599``, ``$1.39``, ``¥10,834``, ``<$0.01``; None -> N/A."""
    if x is None:
        return NA
    sym = _SYMBOL.get(currency, currency + " ")
    if x == 0:
        return f"{sym}0"
    if abs(x) < 0.01:
        return f"<{sym}0.01"
    if float(x).is_integer() or abs(x) >= 100:
        return f"{sym}{x:,.0f}"
    return f"{sym}{x:,.2f}"


def fmt_duration(s: float | None) -> str:
    """Seconds as ``850 ms``, ``42 s``, ``14 min``, ``6.1 h``, ``3.2 d``; None -> N/A."""
    if s is None:
        return NA
    if s < 1:
        return f"{s * 1e3:.0f} ms"
    if s < 120:
        return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def fmt_rate(x: float | None) -> str:
    """Samples per second (or per money unit) with thousands separators; small values keep decimals."""
    if x is None:
        return NA
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def fmt_batch(b: int | None) -> str:
    if b is None:
        return NA
    return f"{b}+" if b >= MAX_BATCH else str(b)


def price_date_cell(q: PriceQuote | None, stale: bool | None) -> str:
    """The price's month (the full date is in the JSON), ``*`` when older than 12 months or undated."""
    if q is None:
        return NA
    return (q.date[:7] if q.date else tr("undated")) + ("*" if stale else "")


def fx_line(quotes: list[PriceQuote]) -> str | None:
    """One line saying which dated rates converted the prices (None when nothing was converted)."""
    pairs = sorted({(q.original_currency, q.currency, q.fx_date) for q in quotes
                    if q.original_currency and q.fx_date})
    if not pairs:
        return None
    parts = []
    for src, dst, date in pairs:
        rate, _ = convert(1.0, src, dst, date)
        parts.append(tr("1 {src} = {rate} {dst} ({date} monthly average, FX-FRED)", src=src,
                        rate=f"{rate:.4g}", dst=dst, date=date))
    return tr("prices converted at the latest dated rate: {rates}; a price keeps its own date and market "
              "(converted US prices are not local prices: add yours with --prices FILE)", rates="; ".join(parts))


def stale_legend(today: str) -> str:
    return tr("* price older than 12 months (today {today}) or undated: check the current price", today=today)


def _title(res: CompareResult) -> str:
    what = f"{res.model} · {mode_name(res.mode)} · {res.precision}"
    n = len(res.rows)
    return tr("{what} on {n} GPUs", what=what, n=n)


def _batch_line(res: CompareResult) -> str:
    if res.common_batch is None:
        return tr("no common batch: no GPU fits even batch 1")
    if res.common_batch_given:
        line = tr("common batch {b} (--batch)", b=res.common_batch)
    else:
        line = (tr("common batch {b}: the largest batch every fitting GPU runs (set by {gpu})", b=res.common_batch,
                   gpu=res.common_batch_limited_by) if res.common_batch_limited_by
                else tr("common batch {b}: the largest batch every fitting GPU runs", b=res.common_batch))
    if res.max_batch:
        line += " · " + tr("best batch capped at {b} (--max-batch)", b=res.max_batch)
    if res.reference_gpu:
        line += " · " + tr("speeds relative to {gpu}", gpu=res.reference_gpu)
    return line


def _price_line(res: CompareResult) -> str:
    kind = {"new": tr("new (latest dated street price, else launch MSRP)"), "used": tr("used (latest dated sold price)"),
            "cloud": tr("cloud (cheapest on-demand offer, per GPU-hour)")}[res.price_kind]
    return tr("prices: {kind}, in {ccy}", kind=kind, ccy=res.currency)


def _best_batch(r: CompareRow) -> str:
    return fmt_batch(r.compare.best_batch) if r.compare.best_batch else tr("no fit")


def _relative(x: float | None) -> str:
    return NA if x is None else f"{x:.2f}×"


def source_cell(q: PriceQuote | None) -> str:
    """The first source key of a price (``+`` when it cites more; all of them are in the JSON)."""
    if q is None:
        return ""
    keys = [k.strip() for k in q.source.split(";") if k.strip()]
    return (keys[0] + ("+" if len(keys) > 1 else "")) if keys else ""


# rules under the header and at section ends only (rich's SIMPLE_HEAD with a drawn row line)
_BOX = box.Box("    \n    \n ── \n    \n ── \n    \n    \n    \n")


def new_table() -> Table:
    return Table(show_edge=False, pad_edge=False, box=_BOX, padding=(0, 1))


def compare_table(res: CompareResult) -> Table:
    cloud = res.price_kind == "cloud"
    c0 = res.common_batch
    ccy = res.currency
    t = new_table()
    t.add_column(tr("GPU"), min_width=16)
    heads = [tr("best\nbatch"), tr("samples/s\n@{b}", b=c0) if c0 else tr("samples/s\n@common"),
             tr("samples/s\n@best"), tr("speed\nvs ref")]
    if res.dataset_size:
        heads.append(tr("epoch"))
    heads += [tr("per\nGPU-hour") if cloud else tr("price"), tr("price\ndate")]
    for h in heads:
        t.add_column(h, justify="right", no_wrap=True)
    t.add_column(tr("source"), no_wrap=True)
    if cloud:
        if res.dataset_size:
            t.add_column(tr("cost per\nepoch"), justify="right", no_wrap=True)
        t.add_column(tr("samples\nper {ccy}", ccy=ccy), justify="right", no_wrap=True)
    else:
        t.add_column(tr("samples/s\nper 1k {ccy}", ccy=ccy), justify="right", no_wrap=True)
    for r in res.rows:
        c = r.compare
        q = c.price
        money = c.cost_per_hour if cloud else (q.price if q else None)
        cells = [r.fit.gpu.name, _best_batch(r), fmt_rate(c.samples_per_second_at_common_batch),
                 fmt_rate(c.samples_per_second_at_best_batch), _relative(c.relative_speed)]
        if res.dataset_size:
            cells.append(fmt_duration(c.epoch_seconds))
        cells += [fmt_money(money, ccy), price_date_cell(q, c.price_stale), source_cell(q)]
        if cloud:
            if res.dataset_size:
                cells.append(fmt_money(c.cost_per_epoch, ccy))
            cells.append(fmt_rate(c.samples_per_currency_unit))
        else:
            cells.append(fmt_rate(c.samples_per_second_per_1k))
        t.add_row(*cells)
    return t


def print_compare(res: CompareResult, console: Console) -> None:
    console.print(f"[bold]{_title(res)}[/]")
    console.print("  " + _batch_line(res))
    console.print("  " + _price_line(res))
    console.print(compare_table(res))
    quotes = [r.compare.price for r in res.rows if r.compare.price is not None]
    if any(r.compare.price_stale for r in res.rows):
        console.print("  " + stale_legend(res.today))
    fx = fx_line(quotes)
    if fx:
        console.print("  " + fx)
    for r in res.rows:
        for note in r.compare.notes:
            console.print(f"  [dim]{r.fit.gpu.name}: {tr(note)}[/]")
    for note in res.notes:
        console.print(f"  [yellow]{tr(note)}[/]")
    if not res.dataset_size:
        console.print("  [dim]" + tr("give --dataset-size N for the time (and cloud cost) of one epoch") + "[/]")
    console.print("  [dim]" + tr("not modelled: electricity, resale value, host CPU/RAM/disk, multi-GPU scaling; "
                                 "see docs/compare.md") + "[/]")


def price_age(q: PriceQuote, today: dt.date) -> str:
    """``3 years old`` / ``11 months old`` / ``undated`` (for notes)."""
    d = parse_date(q.date)
    if d is None:
        return tr("undated")
    months = (today.year - d.year) * 12 + today.month - d.month
    if months >= 24:
        return tr("{n} years old", n=months // 12)
    return tr("{n} months old", n=max(0, months))
