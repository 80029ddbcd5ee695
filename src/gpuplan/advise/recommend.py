"""Which GPU to buy or rent for a job: ranked by time to finish and total cost, within a budget.

    >>> from gpuplan.advise.recommend import recommend
    >>> from gpuplan.catalog.prices import parse_budget
    >>> from gpuplan.workload.spec import Workload
    >>> res = recommend(Workload("resnet50"), budget=parse_budget("300usd"),
    ...                 epochs=10, dataset_size=1_281_167)                   # doctest: +SKIP
    >>> [(o.gpu, o.kind, o.job_seconds, o.job_cost) for o in res.buy[:3]]   # doctest: +SKIP

* **Buy** (``new`` and ``used`` prices): the total cost is the upfront price of the card (a whole board
  for dual-GPU boards); the time is the job on one GPU at its largest batch. Electricity, resale value
  and the host computer are not modelled.
* **Rent** (``cloud`` offers): the total cost is hours x the instance-hour price; the job runs on one GPU
  of the instance (multi-GPU scaling is not modelled, so an 8-GPU instance pays for 8). Free tiers cost
  nothing but have the session and weekly limits the data state (``sessions_needed``, ``weeks_needed``).
* **Ranking** (each list on its own): options on the time/cost frontier first — no other option is both
  at least as fast and at least as cheap, and strictly better in one — fastest first; then the others,
  fastest first. So an option that is faster *and* cheaper than another always ranks above it. Without a
  job (``dataset_size``) "time" is the time per sample and the cost of renting is the hourly price.
* Options that do not fit (even at batch 1), have no speed, or cost more than the budget are left out
  of the ranking and listed in ``excluded`` with the reason.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from gpuplan.catalog import prices as price_data
from gpuplan.catalog.prices import (
    CloudTerms,
    Money,
    PriceKind,
    PriceQuote,
    check_currency,
    choose,
    convert,
    in_currency,
    load_prices,
)
from gpuplan.errors import UsageError
from gpuplan.i18n import msg

if TYPE_CHECKING:
    from gpuplan.api import FitResult
    from gpuplan.catalog.types import GPU
    from gpuplan.workload.spec import Workload


class Scope(StrEnum):
    BOTH = "both"
    BUY = "buy"
    RENT = "rent"


@dataclass(frozen=True)
class Job:
    """The work to finish: ``epochs`` passes over ``dataset_size`` samples (None: no job given)."""

    epochs: int = 1
    dataset_size: int | None = None

    @property
    def samples(self) -> int | None:
        return None if self.dataset_size is None else self.epochs * self.dataset_size


@dataclass
class Option:
    """One way to run the job: a card to buy (new/used) or a cloud offer. Money in the result's currency."""

    kind: str  # "new" | "used" | "cloud"
    gpu: str  # catalog GPU name
    offer: str
    price: PriceQuote  # converted to the result's currency; the original figure and FX rate kept
    price_date: str | None
    price_stale: bool  # older than 12 months, or undated
    best_batch: int  # the largest batch this GPU can use
    samples_per_second: float
    step_seconds: float
    job_seconds: float | None  # time to finish the job on one GPU (None without a job)
    upfront_cost: float | None  # buy: the card's (board's) price
    hourly_cost: float | None  # rent: price of one instance-hour
    job_cost: float | None  # total cost to finish: buy = upfront; rent = hours x hourly (None without a job)
    hours_for_budget: float | None = None  # rent: hours the budget buys
    free_tier: bool = False
    sessions_needed: int | None = None  # free tier: sessions of the stated maximum length the job needs
    weeks_needed: int | None = None  # free tier: weeks of the stated weekly quota the job needs
    frontier: bool = False  # no other option is both faster and cheaper
    rank: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def time_key(self) -> float:
        """What "time" ranks by: the job's seconds, or seconds per sample without a job."""
        return self.job_seconds if self.job_seconds is not None else 1.0 / self.samples_per_second

    @property
    def cost_key(self) -> float:
        """What "cost" ranks by: the job's total cost, else the upfront price or the hourly price."""
        for v in (self.job_cost, self.upfront_cost, self.hourly_cost):
            if v is not None:
                return v
        return math.inf


@dataclass
class Excluded:
    kind: str
    gpu: str
    offer: str
    reason: str


@dataclass
class RecommendResult:
    model: str
    mode: str
    precision: str
    job: Job
    budget: Money | None  # as given
    budget_converted: float | None  # in ``currency``
    budget_fx_date: str | None
    currency: str
    scope: str
    today: str
    buy: list[Option]
    rent: list[Option]
    excluded: list[Excluded]
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- pure pieces


def dominates(a: Option, b: Option) -> bool:
    """``a`` is at least as fast and as cheap as ``b``, and strictly better in one."""
    return (a.time_key <= b.time_key and a.cost_key <= b.cost_key
            and (a.time_key < b.time_key or a.cost_key < b.cost_key))


def rank_options(options: Sequence[Option]) -> list[Option]:
    """Frontier options first (fastest first), then the rest (fastest first); sets ``frontier``/``rank``."""
    for o in options:
        o.frontier = not any(dominates(p, o) for p in options if p is not o)
    ranked = sorted(options, key=lambda o: (not o.frontier, o.time_key, o.cost_key, o.gpu, o.offer))
    for i, o in enumerate(ranked, 1):
        o.rank = i
    return ranked


def job_seconds(r: FitResult, job: Job) -> float | None:
    """Seconds for ``job.epochs`` epochs at the fit's batch (each epoch's last partial step counted whole)."""
    if job.dataset_size is None or r.time is None:
        return None
    ep = r.time.epoch_seconds(job.dataset_size)
    return None if ep is None else ep * job.epochs


def _speed(r: FitResult) -> tuple[float, float] | None:
    t = r.time
    if not r.max_batch_size or t is None or not t.samples_per_second or t.step_seconds is None:
        return None
    return t.samples_per_second, t.step_seconds


def _why_not(r: FitResult | None) -> str | None:
    if r is None:
        return msg("not in the catalog: nothing to predict")
    if not r.max_batch_size:
        return msg("does not fit even at batch 1")
    t = r.time
    if t is None or not t.samples_per_second:
        if t is not None and t.na_reason:
            return msg("no speed prediction ({reason})", reason=t.na_reason)
        return msg("no speed prediction")
    return None


def buy_option(r: FitResult, q: PriceQuote, job: Job, today: dt.date) -> Option:
    """A card to buy: the total cost is its (board's) price; time is the job on one GPU."""
    sps, step = _speed(r) or (0.0, 0.0)
    notes = []
    if q.devices_per_board > 1:
        notes.append(msg("the price buys a board of {n} GPUs; the time is for one of them", n=q.devices_per_board))
    return Option(kind=q.kind.value, gpu=r.gpu.name, offer=q.offer, price=q, price_date=q.date,
                  price_stale=q.is_stale(today), best_batch=int(r.max_batch_size or 0), samples_per_second=sps,
                  step_seconds=step, job_seconds=job_seconds(r, job), upfront_cost=q.price, hourly_cost=None,
                  job_cost=q.price, notes=notes)


def rent_option(r: FitResult, q: PriceQuote, job: Job, today: dt.date, budget: float | None) -> Option:
    """A cloud offer: the job's cost is its hours x the instance-hour price (one GPU of the instance used)."""
    sps, step = _speed(r) or (0.0, 0.0)
    secs = job_seconds(r, job)
    hourly = q.instance_hourly or 0.0
    hours = None if secs is None else secs / 3600
    notes = []
    if q.gpus_per_instance > 1 and q.free_tier:
        notes.append(msg("{n} GPUs per session: the job uses one (multi-GPU scaling is not modelled)",
                         n=q.gpus_per_instance))
    elif q.gpus_per_instance > 1:
        notes.append(msg("{n}-GPU instance: the job uses one GPU (multi-GPU scaling is not modelled) and pays "
                         "for {n}", n=q.gpus_per_instance))
    if q.terms is CloudTerms.SPOT:
        notes.append(msg("spot: can be preempted at any time"))
    sessions = weeks = None
    if q.free_tier:
        notes.append(msg("free tier: the GPU is not guaranteed and limits change"))
        if hours is not None and q.session_hours_limit:
            sessions = max(1, math.ceil(hours / q.session_hours_limit))
            if sessions > 1:
                notes.append(msg("needs {n} sessions of at most {hours} h (checkpoint and resume)", n=sessions,
                                 hours=f"{q.session_hours_limit:g}"))
        if hours is not None and q.weekly_hours_limit:
            weeks = max(1, math.ceil(hours / q.weekly_hours_limit))
            if weeks > 1:
                notes.append(msg("needs {n} weeks of the {hours} h weekly quota", n=weeks,
                                 hours=f"{q.weekly_hours_limit:g}"))
    return Option(kind=PriceKind.CLOUD.value, gpu=r.gpu.name, offer=q.offer, price=q, price_date=q.date,
                  price_stale=q.is_stale(today), best_batch=int(r.max_batch_size or 0), samples_per_second=sps,
                  step_seconds=step, job_seconds=secs, upfront_cost=None, hourly_cost=hourly,
                  job_cost=None if hours is None else hours * hourly,
                  hours_for_budget=(budget / hourly if budget is not None and hourly > 0 else None),
                  free_tier=q.free_tier, sessions_needed=sessions, weeks_needed=weeks, notes=notes)


def within_budget(o: Option, budget: float | None) -> bool:
    """Buy: the price fits the budget. Rent: the job's cost does (without a job, any hourly offer does)."""
    if budget is None:
        return True
    if o.upfront_cost is not None:
        return o.upfront_cost <= budget
    return o.job_cost is None or o.job_cost <= budget


def build_options(fits: dict[str, FitResult], quotes: Sequence[PriceQuote], *, job: Job, budget: float | None,
                  today: dt.date) -> tuple[list[Option], list[Option], list[Excluded]]:
    """(buy options, rent options, excluded) from fit records (largest batch) and price quotes."""
    buy: list[Option] = []
    rent: list[Option] = []
    excluded: list[Excluded] = []
    for q in quotes:
        r = fits.get(q.catalog_name or "")
        why = _why_not(r)
        if why is not None or r is None:
            excluded.append(Excluded(q.kind.value, q.catalog_name or q.gpu, q.offer, why or ""))
            continue
        if q.kind is PriceKind.CLOUD:
            o = rent_option(r, q, job, today, budget)
        else:
            o = buy_option(r, q, job, today)
        if not within_budget(o, budget):
            excluded.append(Excluded(o.kind, o.gpu, o.offer, msg("over budget")))
            continue
        (rent if o.kind == PriceKind.CLOUD.value else buy).append(o)
    return rank_options(buy), rank_options(rent), excluded


def select_quotes(prices: Sequence[PriceQuote], *, scope: Scope, currency: str, include_spot: bool,
                  gpu_names: set[str] | None) -> list[PriceQuote]:
    """The price rows to consider: per GPU one new and one used price (see ``price_for``'s rule) when
    buying; every on-demand and free-tier cloud offer (and spot with ``include_spot``) when renting."""
    by_gpu: dict[str, list[PriceQuote]] = {}
    for q in prices:
        if q.catalog_name and (gpu_names is None or q.catalog_name in gpu_names):
            by_gpu.setdefault(q.catalog_name, []).append(q)
    out: list[PriceQuote] = []
    terms = {CloudTerms.ON_DEMAND, CloudTerms.FREE} | ({CloudTerms.SPOT} if include_spot else set())
    for rows in by_gpu.values():
        if scope is not Scope.RENT:
            for kind in (PriceKind.NEW, PriceKind.USED):
                q = choose(rows, kind)
                if q is not None:
                    out.append(q)
        if scope is not Scope.BUY:
            out += [q for q in rows if q.kind is PriceKind.CLOUD and q.terms in terms]
    return [in_currency(q, currency) for q in out]


# --------------------------------------------------------------------------- the runner


def recommend(workload: Workload, *, budget: Money | None = None, scope: Scope | str = Scope.BOTH,
              epochs: int | None = None, dataset_size: int | None = None, currency: str | None = None,
              prices: Sequence[PriceQuote] | None = None, gpus: Sequence[GPU] | None = None,
              include_spot: bool = False, context_bytes: int | None = None, today: dt.date | None = None,
              progress: Callable[[str], None] | None = None) -> RecommendResult:
    """Rank GPUs to buy and cloud offers to rent for ``workload`` (see the module docstring).

    Args:
        workload: the workload (its batch is ignored: each GPU runs its largest batch).
        budget: the most to spend (a purchase price, or the whole job's rent); None: no limit.
        scope: "both" | "buy" | "rent".
        epochs, dataset_size: the job (``epochs`` passes over ``dataset_size`` samples).
        currency: currency of every money figure (default: the budget's, else USD).
        prices: price rows (default: shipped rows plus ``$GPUPLAN_PRICES``).
        gpus: restrict the candidates to these catalog GPUs (default: every GPU with a price).
        include_spot: also rank spot (preemptible) cloud offers.
        context_bytes: CUDA context size to assume instead of the modelled one.
        today: the date prices are aged against (default: today).
        progress: called with each GPU name while fitting.
    """
    from gpuplan.api import fit_many
    from gpuplan.catalog.gpus import load_catalog

    if epochs is not None and epochs <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--epochs", value=epochs))
    if dataset_size is not None and dataset_size <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--dataset-size", value=dataset_size))
    if epochs is not None and dataset_size is None:
        raise UsageError(msg("--epochs needs --dataset-size N (samples per epoch) to say how long the job is."))
    try:
        scope = Scope(scope)
    except ValueError:
        raise UsageError(msg("scope {scope}; allowed: both, buy, rent.", scope=repr(scope))) from None
    ccy = check_currency(currency or (budget.currency if budget else "USD"), what="--currency")
    budget_value = budget_date = None
    if budget is not None:
        budget_value, budget_date = convert(budget.amount, budget.currency, ccy)
    job = Job(epochs or 1, dataset_size)
    day = today or price_data.current_date()
    rows = load_prices() if prices is None else prices
    names = None if gpus is None else {g.name for g in gpus}
    quotes = select_quotes(rows, scope=scope, currency=ccy, include_spot=include_spot, gpu_names=names)
    wanted = {q.catalog_name for q in quotes}
    candidates = [g for g in (gpus if gpus is not None else load_catalog()) if g.name in wanted]
    notes: list[str] = []
    if gpus is not None:
        unpriced = [g.name for g in gpus if g.name not in wanted]
        if unpriced:
            notes.append(msg("no price for: {gpus}", gpus=", ".join(unpriced)))
    fits: dict[str, FitResult] = {}
    if candidates:
        results = fit_many(workload.with_batch(1), candidates, auto_batch=True, context_bytes=context_bytes,
                           with_time=True, progress=progress)
        fits = {r.gpu.name: r for r in results}
    buy, rent, excluded = build_options(fits, quotes, job=job, budget=budget_value, today=day)
    model, mode, precision = workload.model, workload.mode.value, workload.precision.value
    if job.samples is None:
        notes.append(msg("no job given (--dataset-size, --epochs): ranked by speed and price, not by the job's "
                           "time and cost"))
    return RecommendResult(model=model, mode=mode, precision=precision, job=job, budget=budget,
                           budget_converted=budget_value, budget_fx_date=budget_date, currency=ccy,
                           scope=scope.value, today=day.isoformat(), buy=buy, rent=rent, excluded=excluded,
                           notes=notes)

