"""Compare GPUs for one workload: fit, largest batch, speed at a common and at the best batch, prices.

    >>> from gpuplan.advise.compare import compare_gpus
    >>> from gpuplan.catalog import resolve_gpus
    >>> from gpuplan.workload.spec import Workload
    >>> res = compare_gpus(Workload("resnet50"), resolve_gpus("gtx 760,rtx 3060 12gb"),
    ...                    dataset_size=1_281_167, price_kind="used")        # doctest: +SKIP
    >>> [(r.fit.gpu.name, r.compare.relative_speed) for r in res.rows]   # doctest: +SKIP

Each row is the ``gpuplan fit --batch auto`` record of one GPU (``fit``: memory, time and so on at the
GPU's best batch) plus a ``compare`` record (:class:`CompareInfo`). The JSON of a row is the fit object
with one more key, ``compare`` (see ``docs/compare.md``).

* **common batch**: a batch every fitting GPU can run — the smallest of their largest batches — or the
  batch the user gives (GPUs it does not fit get N/A there). Speeds at this batch are like for like.
* **best batch**: each GPU's largest fitting batch, or the user's cap if smaller (``max_batch``).
* **relative speed**: samples/s at the common batch divided by the reference GPU's (also given at the
  best batches).
* **money**: purchase prices give samples/s per 1,000 currency units (price per device: a dual-GPU
  board's price is split); cloud prices (per GPU-hour) give cost per hour, per epoch, and samples per
  currency unit. Electricity, resale value, host hardware and multi-GPU scaling are not modelled.

Work is done once: one ``fit_many`` (largest batch, memory and time at the best batch per GPU), then one
trace per kernel profile at the common batch (and at the cap), timed for every GPU of that profile.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from gpuplan.catalog import prices as price_data
from gpuplan.catalog.prices import PriceKind, PriceQuote, check_currency, load_prices, price_for
from gpuplan.errors import UsageError
from gpuplan.i18n import msg

if TYPE_CHECKING:
    from gpuplan.api import FitResult, _TraceCache
    from gpuplan.catalog.types import GPU
    from gpuplan.timing import TimeResult
    from gpuplan.workload.spec import Workload


class SortKey(StrEnum):
    INPUT = "input"  # the order of --gpus
    SPEED = "speed"  # samples/s at the best batch, fastest first
    VALUE = "value"  # samples per money (cloud) or samples/s per 1k of price (purchase), best first


@dataclass
class CompareInfo:
    """What ``compare`` adds to a fit record (the ``compare`` key of a row's JSON). None = N/A."""

    reference_gpu: str | None
    common_batch: int | None
    fits_common_batch: bool | None
    step_seconds_at_common_batch: float | None
    samples_per_second_at_common_batch: float | None
    best_batch: int | None  # the batch ``fit`` describes: largest that fits, or the user's cap
    step_seconds_at_best_batch: float | None
    samples_per_second_at_best_batch: float | None
    relative_speed: float | None  # samples/s at the common batch / the reference GPU's
    relative_speed_at_best_batch: float | None  # same, each GPU at its best batch
    dataset_size: int | None
    epoch_seconds: float | None  # one pass over dataset_size samples at the best batch
    price_kind: str  # "new" | "used" | "cloud"
    currency: str
    price: PriceQuote | None  # the price used, in ``currency`` (its original figure and FX rate kept)
    price_date: str | None
    price_age_days: int | None
    price_stale: bool | None  # older than 12 months (or undated)
    price_per_device: float | None  # purchase price / devices on the board
    cost_per_hour: float | None  # cloud: price of one GPU-hour
    cost_per_epoch: float | None  # cloud: epoch hours x cost per GPU-hour
    samples_per_currency_unit: float | None  # cloud: samples one unit of ``currency`` buys
    samples_per_second_per_1k: float | None  # purchase: samples/s per 1,000 units of ``currency``
    notes: list[str] = field(default_factory=list)


@dataclass
class CompareRow:
    fit: FitResult
    compare: CompareInfo

    def to_json(self) -> dict[str, Any]:
        """The fit record's fields, then ``compare`` (a superset of ``gpuplan fit --json``)."""
        out: dict[str, Any] = {f.name: getattr(self.fit, f.name) for f in dataclasses.fields(self.fit)}
        out["compare"] = self.compare
        return out


@dataclass
class CompareResult:
    rows: list[CompareRow]
    model: str
    mode: str
    precision: str
    reference_gpu: str | None
    common_batch: int | None
    common_batch_given: bool
    common_batch_limited_by: str | None  # the GPU whose largest batch set the common batch
    max_batch: int | None
    dataset_size: int | None
    price_kind: str
    currency: str
    today: str
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> list[CompareRow]:
        """``compare --json`` is the list of rows."""
        return self.rows


# --------------------------------------------------------------------------- pure pieces


def best_batch_of(r: FitResult, cap: int | None = None) -> int | None:
    """Largest batch that fits (capped by the user's ``cap``); None when not even batch 1 fits."""
    if not r.max_batch_size:
        return None
    return min(r.max_batch_size, cap) if cap else r.max_batch_size


def choose_common_batch(fits: Sequence[FitResult], requested: int | None = None, cap: int | None = None) -> int | None:
    """``requested``, else the smallest best batch among GPUs that fit (a batch all of them run)."""
    if requested is not None:
        return requested
    best = [b for b in (best_batch_of(r, cap) for r in fits) if b]
    return min(best) if best else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def compare_info(r: FitResult, *, best_batch: int | None, common_batch: int | None, common_time: TimeResult | None,
                 reference: str | None, ref_common_sps: float | None, ref_best_sps: float | None,
                 dataset_size: int | None, price_kind: PriceKind, currency: str, price: PriceQuote | None,
                 today: dt.date) -> CompareInfo:
    """The ``compare`` record of one GPU from its fit, its time at the common batch and its price."""
    notes: list[str] = []
    t_best = r.time if best_batch else None
    sps_best = t_best.samples_per_second if t_best is not None else None
    step_best = t_best.step_seconds if t_best is not None else None
    fits_common = None if common_batch is None else bool(best_batch and r.max_batch_size
                                                         and common_batch <= r.max_batch_size)
    sps_common = common_time.samples_per_second if common_time is not None else None
    step_common = common_time.step_seconds if common_time is not None else None
    if best_batch is None:
        notes.append(msg("does not fit even at batch 1"))
    elif fits_common is False:
        notes.append(msg("batch {b} does not fit", b=common_batch))
    if t_best is not None and t_best.step_seconds is None and t_best.na_reason:
        notes.append(msg("time N/A: {reason}", reason=t_best.na_reason))
    epoch = t_best.epoch_seconds(dataset_size) if (t_best is not None and dataset_size) else None

    cost_per_hour = cost_per_epoch = per_unit = per_1k = per_device = None
    if price is not None:
        if price_kind is PriceKind.CLOUD:
            cost_per_hour = price.per_gpu_hour
            if epoch is not None and cost_per_hour is not None:
                # cost of the GPU-hours one epoch takes (hours x price per GPU-hour)
                cost_per_epoch = epoch / 3600 * cost_per_hour
            if sps_best is not None and cost_per_hour:
                per_unit = sps_best * 3600 / cost_per_hour
            if price.gpus_per_instance > 1:
                notes.append(msg("cheapest offer is a {n}-GPU instance: costs are per GPU-hour", n=price.gpus_per_instance))
        else:
            per_device = price.price_per_device
            if price.devices_per_board > 1:
                notes.append(msg("price buys a board of {n} GPUs; value uses the price per GPU", n=price.devices_per_board))
            if sps_best is not None and per_device:
                per_1k = sps_best / per_device * 1000
    return CompareInfo(
        reference_gpu=reference, common_batch=common_batch, fits_common_batch=fits_common,
        step_seconds_at_common_batch=step_common, samples_per_second_at_common_batch=sps_common,
        best_batch=best_batch, step_seconds_at_best_batch=step_best, samples_per_second_at_best_batch=sps_best,
        relative_speed=_ratio(sps_common, ref_common_sps), relative_speed_at_best_batch=_ratio(sps_best, ref_best_sps),
        dataset_size=dataset_size, epoch_seconds=epoch, price_kind=price_kind.value, currency=currency, price=price,
        price_date=price.date if price else None, price_age_days=price.age_days(today) if price else None,
        price_stale=price.is_stale(today) if price else None, price_per_device=per_device,
        cost_per_hour=cost_per_hour, cost_per_epoch=cost_per_epoch, samples_per_currency_unit=per_unit,
        samples_per_second_per_1k=per_1k, notes=notes)


def default_reference(fits: Sequence[FitResult], common_times: Mapping[str, TimeResult | None]) -> str | None:
    """The first GPU (input order) with a speed at the common batch, else the first GPU."""
    for r in fits:
        t = common_times.get(r.gpu.name)
        if t is not None and t.samples_per_second:
            return r.gpu.name
    return fits[0].gpu.name if fits else None


def _sort_value(row: CompareRow) -> float | None:
    c = row.compare
    return c.samples_per_currency_unit if c.samples_per_currency_unit is not None else c.samples_per_second_per_1k


def sort_rows(rows: list[CompareRow], key: SortKey | str) -> list[CompareRow]:
    """Rows in input order, by speed at the best batch, or by value for money (N/A last, stable)."""
    key = SortKey(key)
    if key is SortKey.INPUT:
        return list(rows)
    get: Callable[[CompareRow], float | None] = (
        (lambda r: r.compare.samples_per_second_at_best_batch) if key is SortKey.SPEED else _sort_value)
    return sorted(rows, key=lambda r: (get(r) is None, -(get(r) or 0.0)))


def build_rows(fits: Sequence[FitResult], *, common_batch: int | None, common_times: Mapping[str, TimeResult | None],
               reference: str | None, dataset_size: int | None, price_kind: PriceKind | str,
               quotes: Mapping[str, PriceQuote | None], currency: str, today: dt.date,
               cap: int | None = None) -> list[CompareRow]:
    """Compare rows from fit records (at each GPU's best batch), times at the common batch and prices."""
    kind = PriceKind(price_kind)
    by_name = {r.gpu.name: r for r in fits}
    ref = by_name.get(reference) if reference else None
    ref_common = common_times.get(reference) if reference else None
    ref_common_sps = ref_common.samples_per_second if ref_common is not None else None
    ref_best_sps = ref.time.samples_per_second if (ref is not None and ref.time is not None
                                                   and best_batch_of(ref, cap)) else None
    return [CompareRow(r, compare_info(
        r, best_batch=best_batch_of(r, cap), common_batch=common_batch, common_time=common_times.get(r.gpu.name),
        reference=reference, ref_common_sps=ref_common_sps, ref_best_sps=ref_best_sps, dataset_size=dataset_size,
        price_kind=kind, currency=currency, price=quotes.get(r.gpu.name), today=today)) for r in fits]


# --------------------------------------------------------------------------- the runner


def _resolve_reference(reference: str | None, gpus: Sequence[GPU]) -> str | None:
    if reference is None:
        return None
    from gpuplan.catalog.lookup import get_gpu

    name = get_gpu(reference).name
    names = [g.name for g in gpus]
    if name not in names:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise UsageError(msg("--reference {ref} ({name}) is not among the compared GPUs ({shown}); add it to --gpus "
                             "or pick one of them.", ref=repr(reference), name=name, shown=shown))
    return name


def _times_at(workload: Workload, gpus: Sequence[GPU], batch: int, traces: _TraceCache, *, memory: bool = False,
              context_bytes: int | None = None) -> dict[str, tuple[TimeResult | None, Any]]:
    """Time (and memory when asked) of ``workload`` at ``batch`` on each GPU.

    ``traces`` is the API's trace cache: one trace per kernel profile, and one for all profiles when no
    attention kernel ran.
    """
    from gpuplan.api import _time_for, kernel_profile_for
    from gpuplan.memory.predict import predict_memory

    groups: dict[Any, list[GPU]] = {}
    for g in gpus:
        groups.setdefault(kernel_profile_for(g), []).append(g)
    out: dict[str, tuple[TimeResult | None, Any]] = {}
    for profile, members in groups.items():
        trace = traces.at(profile, workload.with_batch(batch))
        for g in members:  # timed as fit_many times (train/infer steps and generate traces alike)
            mem = predict_memory(trace, g, context_bytes=context_bytes) if memory else None
            out[g.name] = (_time_for(trace, g, workload.precision), mem)
    return out


def compare_gpus(workload: Workload, gpus: Sequence[GPU], *, batch: int | None = None, max_batch: int | None = None,
                 reference: str | None = None, dataset_size: int | None = None,
                 price_kind: PriceKind | str = PriceKind.NEW, currency: str = "USD",
                 prices: Sequence[PriceQuote] | None = None, context_bytes: int | None = None,
                 sort: SortKey | str = SortKey.INPUT, today: dt.date | None = None,
                 progress: Callable[[str], None] | None = None) -> CompareResult:
    """Compare ``workload`` on ``gpus``: one row per GPU (see the module docstring).

    Args:
        workload: the workload; its ``batch`` is ignored (see ``batch``).
        gpus: catalog GPUs, in the order rows are wanted (``sort="input"``).
        batch: the common batch; default: the smallest largest-batch among the GPUs that fit.
        max_batch: cap on each GPU's best batch (default: no cap, the largest that fits).
        reference: GPU the relative speeds are divided by (default: the first GPU with a speed).
        dataset_size: samples per epoch, for epoch time and cost.
        price_kind: "new" | "used" | "cloud" (which price :func:`~gpuplan.catalog.prices.price_for` picks).
        currency: currency of every money figure (converted with the latest dated rate).
        prices: price rows (default: shipped rows plus ``$GPUPLAN_PRICES``).
        context_bytes: CUDA context size to assume instead of the modelled one.
        sort: "input" | "speed" | "value".
        today: the date prices are aged against (default: today).
        progress: called with each GPU name while fitting.
    """
    from gpuplan.api import _TraceCache, fit_many

    if not gpus:
        raise UsageError(msg("no GPUs to compare; give --gpus 'a,b,c' or --gpus all."))
    for flag, v in (("--batch", batch), ("--max-batch", max_batch), ("--dataset-size", dataset_size)):
        if v is not None and v <= 0:
            raise UsageError(msg("{flag} {value}: must be a positive integer.", flag=flag, value=v))
    try:
        kind = PriceKind(price_kind)
    except ValueError:
        raise UsageError(msg("--price-kind {kind}; allowed: new, used, cloud.", kind=repr(price_kind))) from None
    sort_key = SortKey(sort)
    ccy = check_currency(currency, what="--currency")
    ref_name = _resolve_reference(reference, gpus)
    day = today or price_data.current_date()
    rows_src = load_prices() if prices is None else prices

    # one trace cache for everything: the common-batch steps below come from fit_many's batch scalers
    traces = _TraceCache()
    fits = fit_many(workload.with_batch(1), list(gpus), auto_batch=True, context_bytes=context_bytes,
                    with_time=True, progress=progress, trace_cache=traces)
    by_name = {g.name: g for g in gpus}

    # the best batch: fit_many's largest batch, or the user's cap (then memory and time at the cap)
    if max_batch is not None:
        capped = [by_name[r.gpu.name] for r in fits if r.max_batch_size and r.max_batch_size > max_batch]
        if capped:
            at_cap = _times_at(workload, capped, max_batch, traces, memory=True, context_bytes=context_bytes)
            fits = [dataclasses.replace(r, batch=max_batch, memory=at_cap[r.gpu.name][1], fits=at_cap[r.gpu.name][1].fits,
                                        time=at_cap[r.gpu.name][0]) if r.gpu.name in at_cap else r for r in fits]

    common = choose_common_batch(fits, batch, max_batch)
    common_times: dict[str, TimeResult | None] = {}
    if common is not None:
        need: list[GPU] = []
        for r in fits:
            best = best_batch_of(r, max_batch)
            if not best or not r.max_batch_size or common > r.max_batch_size:
                common_times[r.gpu.name] = None
            elif best == common:
                common_times[r.gpu.name] = r.time
            else:
                need.append(by_name[r.gpu.name])
        if need:
            common_times.update({k: v[0] for k, v in _times_at(workload, need, common, traces).items()})

    ref_name = ref_name or default_reference(fits, common_times)
    quotes = {r.gpu.name: price_for(r.gpu.name, kind, ccy, prices=rows_src) for r in fits}
    rows = build_rows(fits, common_batch=common, common_times=common_times, reference=ref_name,
                      dataset_size=dataset_size, price_kind=kind, quotes=quotes, currency=ccy, today=day,
                      cap=max_batch)
    if kind is PriceKind.CLOUD:  # a GPU offered only as a free tier: say so (recommend --rent ranks those)
        for row in rows:
            if row.compare.price is None:
                free = [q.offer for q in rows_src if q.catalog_name == row.fit.gpu.name and q.free_tier]
                if free:
                    row.compare.notes.append(msg("no paid on-demand offer; free tier: {offers}", offers=", ".join(free)))
    notes: list[str] = []
    limited_by = None
    if common is None:
        notes.append(msg("no GPU fits the model even at batch 1: no common batch"))
    elif batch is None:
        limited_by = next((r.gpu.name for r in fits if best_batch_of(r, max_batch) == common), None)
        bests = sorted(b for b in (best_batch_of(r, max_batch) for r in fits) if b)
        if bests and common * 8 <= bests[len(bests) // 2]:
            notes.append(msg("the common batch {b} is small next to most GPUs' best batch (median {median}); "
                             "--batch N compares at a larger batch (N/A where it does not fit)", b=common,
                             median=bests[len(bests) // 2]))
    if not any(q is not None for q in quotes.values()):
        kinds = {"new": msg("new"), "used": msg("used"), "cloud": msg("cloud")}
        notes.append(msg("no {kind} price for any of these GPUs", kind=kinds.get(kind.value, kind.value)))
    first = fits[0]
    return CompareResult(
        rows=sort_rows(rows, sort_key), model=first.model, mode=first.mode, precision=first.precision,
        reference_gpu=ref_name, common_batch=common, common_batch_given=batch is not None,
        common_batch_limited_by=limited_by, max_batch=max_batch,
        dataset_size=dataset_size, price_kind=kind.value, currency=ccy, today=day.isoformat(), notes=notes)
