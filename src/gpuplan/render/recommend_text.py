"""Human rendering of ``gpuplan recommend``: a ranked table to buy, one to rent, and what was left out."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from gpuplan.advise.recommend import Option, RecommendResult
from gpuplan.i18n import tr
from gpuplan.render.compare_text import (
    fmt_batch,
    fmt_duration,
    fmt_money,
    fmt_rate,
    fx_line,
    new_table,
    price_date_cell,
    source_cell,
    stale_legend,
)
from gpuplan.render.fit_text import mode_name


def _job_line(res: RecommendResult) -> str:
    what = f"{res.model} · {mode_name(res.mode)} · {res.precision}"
    job = res.job
    if job.samples is None:
        return tr("{what}: no job size given", what=what)
    return tr("{what}: {epochs} epoch(s) × {n} samples = {total} samples", what=what, epochs=job.epochs,
              n=f"{job.dataset_size:,}", total=f"{job.samples:,}")


def _budget_line(res: RecommendResult) -> str | None:
    b = res.budget
    if b is None:
        return None
    line = tr("budget {money}", money=fmt_money(b.amount, b.currency))
    if b.currency != res.currency and res.budget_converted is not None:
        line += " = " + tr("{money} at the {date} rate", money=fmt_money(res.budget_converted, res.currency),
                           date=res.budget_fx_date)
    return line


def fmt_hours(h: float | None) -> str:
    if h is None:
        return "N/A"
    return f"{h:,.0f}" if h >= 10 else f"{h:.1f}"


def _kind(o: Option) -> str:
    return {"new": tr("new"), "used": tr("used"), "cloud": tr("cloud")}[o.kind]


def _time(o: Option) -> str:
    return fmt_duration(o.job_seconds)


def buy_table(options: list[Option], res: RecommendResult) -> Table:
    t = new_table()
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column(tr("GPU"), min_width=16)
    t.add_column(tr("kind"), no_wrap=True)
    for h in (tr("price"), tr("price\ndate")):
        t.add_column(h, justify="right", no_wrap=True)
    t.add_column(tr("source"), no_wrap=True)
    for h in (tr("largest\nbatch"), tr("samples/s")):
        t.add_column(h, justify="right", no_wrap=True)
    if res.job.samples is not None:
        t.add_column(tr("time to\nfinish"), justify="right", no_wrap=True)
    last_frontier = max((i for i, o in enumerate(options) if o.frontier), default=-1)
    for i, o in enumerate(options):
        cells = [str(o.rank), o.gpu, _kind(o), fmt_money(o.upfront_cost, res.currency),
                 price_date_cell(o.price, o.price_stale), source_cell(o.price), fmt_batch(o.best_batch),
                 fmt_rate(o.samples_per_second)]
        if res.job.samples is not None:
            cells.append(_time(o))
        t.add_row(*cells, end_section=i == last_frontier and i < len(options) - 1)
    return t


def _job_cost(o: Option, ccy: str) -> str:
    if o.free_tier:
        return tr("free")
    return fmt_money(o.job_cost, ccy)


def rent_table(options: list[Option], res: RecommendResult) -> Table:
    t = new_table()
    has_job = res.job.samples is not None
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column(tr("offer"), min_width=16)
    t.add_column(tr("GPU"), min_width=10)
    for h in (tr("per hour"), tr("price\ndate")):
        t.add_column(h, justify="right", no_wrap=True)
    t.add_column(tr("source"), no_wrap=True)
    for h in (tr("largest\nbatch"), tr("samples/s")):
        t.add_column(h, justify="right", no_wrap=True)
    if has_job:
        t.add_column(tr("time to\nfinish"), justify="right", no_wrap=True)
        t.add_column(tr("job\ncost"), justify="right", no_wrap=True)
    elif res.budget is not None:
        t.add_column(tr("hours the\nbudget buys"), justify="right", no_wrap=True)
    last_frontier = max((i for i, o in enumerate(options) if o.frontier), default=-1)
    for i, o in enumerate(options):
        hourly = tr("free") if o.free_tier else fmt_money(o.hourly_cost, res.currency)
        cells = [str(o.rank), o.offer, o.gpu, hourly, price_date_cell(o.price, o.price_stale), source_cell(o.price),
                 fmt_batch(o.best_batch), fmt_rate(o.samples_per_second)]
        if has_job:
            cells += [_time(o), _job_cost(o, res.currency)]
        elif res.budget is not None:
            cells.append(tr("unlimited") if o.free_tier else
                         (fmt_hours(o.hours_for_budget)))
        t.add_row(*cells, end_section=i == last_frontier and i < len(options) - 1)
    return t


def _option_notes(options: list[Option], console: Console) -> None:
    for o in options:
        for note in o.notes:
            console.print(f"  [dim]#{o.rank} {o.gpu}, {o.offer}: {tr(note)}[/]")


def _excluded_line(res: RecommendResult) -> str | None:
    if not res.excluded:
        return None
    counts = Counter(e.reason.split(" (")[0] for e in res.excluded)
    parts = [f"{tr(reason)}: {n}" for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return tr("left out: {parts} (all listed in --json)", parts="; ".join(parts))


def print_recommend(res: RecommendResult, console: Console, *, top: int = 10) -> None:
    console.print(f"[bold]{_job_line(res)}[/]")
    budget = _budget_line(res)
    if budget:
        console.print("  " + budget)
    shown: list[Option] = []
    sections = []
    if res.scope != "rent":
        sections.append((tr("Buy (new or used): total cost = the card's price"), res.buy, buy_table))
    if res.scope != "buy":
        sections.append((tr("Rent (cloud): total cost = hours × the instance's hourly price; one GPU per job"),
                         res.rent, rent_table))
    for title, options, table in sections:
        console.print()
        console.print(f"[bold]{title}[/]")
        if not options:
            console.print("  " + tr("nothing fits the budget and the model (see what was left out below)"))
            continue
        rows = options[:top] + [o for o in options[top:] if o.free_tier]  # free tiers are always shown
        shown += rows
        console.print(table(rows, res))
        if len(options) > len(rows):
            console.print("  [dim]" + tr("{n} more (--top N, or --json)", n=len(options) - len(rows)) + "[/]")
        _option_notes(rows, console)
    console.print()
    console.print("  " + tr("ranked: above the line no option is both faster and cheaper (fastest first); "
                            "below it, another option is"))
    if any(o.price_stale for o in shown):
        console.print("  " + stale_legend(res.today))
    fx = fx_line([o.price for o in shown])
    if fx:
        console.print("  " + fx)
    excluded = _excluded_line(res)
    if excluded:
        console.print("  [dim]" + excluded + "[/]")
    for note in res.notes:
        console.print(f"  [yellow]{tr(note)}[/]")
    console.print("  [dim]" + tr("not modelled: electricity, resale value, the host computer, cloud storage and "
                                 "egress, multi-GPU scaling; see docs/compare.md") + "[/]")
