"""Compose a report: fit results on every GPU, memory vs batch on the first few, comparison and advice.

    >>> from gpuplan.catalog import resolve_gpus
    >>> from gpuplan.workload.spec import Workload
    >>> data = build_report(Workload("resnet50"), resolve_gpus("gtx 760,rtx 3060 12gb"))  # doctest: +SKIP
    >>> data.fits[0].fits, data.sweeps[0].max_batch_size                                   # doctest: +SKIP

Cost: for a fixed batch B the report traces the model twice (at B and 2B) whatever the number of GPUs
when the model calls no fused attention kernel (a trace is then the same for every GPU; attention
models need one trace per attention-kernel family). Memory at every other batch comes from those two
traces (:class:`~gpuplan.memory.batch.BatchScaler`), at the cost of allocator replays only.
With ``auto_batch`` the fit results come from :func:`gpuplan.api.fit_many` itself, which checks the
largest batch with real traces.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from gpuplan import __version__
from gpuplan.api import FitResult, TraceCache, fit_many, kernel_profile_for
from gpuplan.catalog import GPU
from gpuplan.errors import GpuplanError
from gpuplan.i18n import msg, tr
from gpuplan.memory.batch import MAX_BATCH, BatchFitSearch, BatchScaler
from gpuplan.memory.context import context_for, cublas_workspace_bytes, usable_capacity
from gpuplan.memory.predict import MemoryResult, predict_memory
from gpuplan.render.jsonout import to_jsonable
from gpuplan.render.progress import NullProgress, ProgressSink
from gpuplan.report.data import Availability, BatchSweep, Comparison, PricePoint, ReportData, SweepPoint
from gpuplan.trace import Trace
from gpuplan.trace.pool import PoolUnavailable, TracePool, result_or_none
from gpuplan.workload.spec import Mode, Workload

DETAIL_GPUS = 3  # GPUs that get the per-GPU charts (memory vs batch, timeline, op classes)
SWEEP_POINTS = 14

def fit_from_trace(trace: Trace, gpu: GPU, workload: Workload, *, context_bytes: int | None = None,
                   memory: MemoryResult | None = None) -> FitResult:
    """The FitResult :func:`gpuplan.api.fit_many` gives for a fixed batch, from an existing trace."""
    from gpuplan.api import fit_result

    mem = memory or predict_memory(trace, gpu, context_bytes=context_bytes)
    return fit_result(trace, gpu, workload, mem)


def sweep_batches(current: int, max_batch: int | None, n: int = SWEEP_POINTS) -> list[int]:
    """About ``n`` batch sizes from 1 to 25% past the larger of the current and the largest batch."""
    top = max(current, max_batch or 0, 4)
    upper = max(top + 1, math.ceil(top * 1.25))
    step = (upper - 1) / max(1, n - 1)
    out = {1 + round(i * step) for i in range(n)} | {current}
    if max_batch:
        out |= {max_batch, max_batch + 1}
    return sorted(b for b in out if 1 <= b <= upper)


def _context(gpu: GPU, context_bytes: int | None) -> int:
    return context_for(gpu).context_bytes if context_bytes is None else context_bytes


def batch_sweep(search: BatchFitSearch, gpu: GPU, fit: FitResult, *, context_bytes: int | None = None,
                points: int = SWEEP_POINTS) -> BatchSweep:
    """Memory vs batch on ``gpu`` from the scaler's two traces; the largest batch from the fit or the model.

    Each point is one allocator replay without a limit (shared by GPUs with the same cuBLAS workspace);
    only a batch whose peaks straddle the card's limit is replayed against it, as ``predict_memory`` does.
    """
    scaler = search.scaler
    notes: list[str] = []
    ctx = _context(gpu, context_bytes)
    cap = usable_capacity(gpu)
    limit = None if cap is None else max(0, cap - ctx)
    checked = fit.max_batch_size is not None
    max_batch = fit.max_batch_size
    traced = sorted({scaler.b1, scaler.b2})
    if max_batch is None and scaler.affine and limit is not None:
        max_batch = search.largest(gpu, limit)
    if scaler.affine:
        batches = sweep_batches(fit.batch, max_batch, points)
    else:
        batches = sorted(set(traced) | {fit.batch})
        notes.append(msg("memory is not affine in the batch size for this model: only traced batches are shown"))
    if max_batch is not None and max_batch >= MAX_BATCH:
        notes.append(msg("the search stops at batch {n}", n=MAX_BATCH))
    pts = []
    for b in batches:
        allocated, reserved = search.peaks(b, gpu) if scaler.affine else (0, 0)
        if scaler.affine and (limit is None or reserved <= limit or allocated > limit):
            fits = None if limit is None else reserved <= limit
            pts.append(SweepPoint(b, ctx + reserved, allocated, fits))
        else:  # near the limit the allocator releases its cache: replay against the limit
            m = predict_memory(scaler.memory_at(b), gpu, context_bytes=context_bytes, with_timeline=False)
            pts.append(SweepPoint(b, m.device_total_bytes, m.peak_allocated_bytes, m.fits))
    return BatchSweep(
        gpu=gpu.name, capacity_bytes=cap, context_bytes=ctx, max_batch_size=max_batch, max_batch_checked=checked,
        current_batch=fit.batch, affine=scaler.affine, traced_batches=traced, points=pts, notes=notes)


def comparison_from_fits(fits: list[FitResult], *, currency: str = "USD") -> Comparison:
    """Throughput (at each fit's batch) against purchase and cloud prices: no further tracing."""
    from gpuplan.catalog.prices import price_for

    points = []
    for r in fits:
        sps = r.time.samples_per_second if r.time is not None and r.fits else None
        purchase = price_for(r.gpu.name, "new", currency) or price_for(r.gpu.name, "used", currency)
        cloud = price_for(r.gpu.name, "cloud", currency)
        per_device = purchase.price_per_device if purchase is not None else None
        per_hour = cloud.per_gpu_hour if cloud is not None else None
        points.append(PricePoint(
            gpu=r.gpu.name, fits=r.fits, batch=r.batch, samples_per_second=sps, purchase=purchase,
            purchase_per_device=per_device, cloud=cloud, cloud_per_gpu_hour=per_hour,
            per_1k=sps / per_device * 1000 if sps and per_device else None,
            per_unit_cloud=sps * 3600 / per_hour if sps and per_hour else None))
    notes = [msg("purchase: the new price, else the used one; cloud: the cheapest offer per GPU-hour"),
             msg("throughput of GPUs that do not fit is not counted")]
    if not any(p.purchase or p.cloud for p in points):
        notes.append(msg("no price is known for these GPUs"))
    return Comparison(currency=currency, points=points, notes=notes)


def _comparison(fits: list[FitResult], currency: str) -> tuple[Any, Availability]:
    try:
        import gpuplan.catalog.prices  # noqa: F401
    except ImportError:
        return None, Availability(False, msg("GPU prices are not in this build"))
    return comparison_from_fits(fits, currency=currency), Availability(True)


def advice_for(workload: Workload, gpu: GPU, *, auto_batch: bool, context_bytes: int | None = None,
               progress: Callable[[str], None] | None = None, pool: TracePool | bool | None = True) -> Any:
    """The advisor's plans for ``gpu`` (as ``gpuplan advise``: same target batch), with plan 1's PyTorch snippet."""
    from gpuplan.advise.advisor import advise
    from gpuplan.advise.snippet import snippet

    target = None if auto_batch or workload.mode is not Mode.TRAIN else workload.batch * workload.grad_accum
    advice = advise(workload, gpu, target_batch=target, context_bytes=context_bytes, progress=progress, pool=pool)
    if advice.plans:
        best = advice.plans[0]
        advice.snippet = snippet(best.workload, finetune=advice.finetune,
                                 title=f"gpuplan report: plan 1 for {workload.model} on {gpu.name}",
                                 deepspeed_config=getattr(best, "engine_files", {}).get("ds_config.json"))
    return advice


def _advice(workload: Workload, gpu: GPU, *, auto_batch: bool, context_bytes: int | None,
            sink: ProgressSink, pool: TracePool | None = None) -> tuple[Any, Availability]:
    try:
        import gpuplan.advise.advisor  # noqa: F401
    except ImportError:
        return None, Availability(False, msg("the advisor (gpuplan advise) is not in this build"))
    if workload.mode is Mode.GENERATE:
        return None, Availability(False, msg("the advisor plans training and inference steps, not generation"))
    sink.describe(tr("advice for {gpu}", gpu=gpu.name))
    advice = advice_for(workload, gpu, auto_batch=auto_batch, context_bytes=context_bytes,
                        progress=lambda what: sink.describe(tr("advice: trying {what}", what=what)),
                        pool=pool if pool is not None else True)
    sink.advance()
    return advice, Availability(True)


def build_report(workload: Workload, gpus: list[GPU], *, auto_batch: bool = False, context_bytes: int | None = None,
                 detail: int = DETAIL_GPUS, sweep_points: int = SWEEP_POINTS, with_comparison: bool = True,
                 with_advice: bool = True, currency: str = "USD", progress: ProgressSink | None = None,
                 now: datetime | None = None) -> ReportData:
    """Everything a report shows for ``workload`` on ``gpus``, as data (no I/O, no rendering).

    Args:
        workload: the model and step (its ``batch`` is used unless ``auto_batch``).
        gpus: catalog GPUs (or custom specs); every one gets a fit result.
        auto_batch: find the largest batch per GPU (as ``gpuplan fit --batch auto``).
        context_bytes: CUDA context to assume instead of the modelled one.
        detail: how many of the first GPUs get memory-vs-batch sweeps (and per-GPU charts).
        sweep_points: batch sizes per sweep.
        with_comparison / with_advice: include the comparison and the advisor's plans for the first GPU (the
            advisor traces each configuration it tries: it is most of the report's time for big models).
        currency: currency of the comparison's prices.
        progress: a progress sink (``gpuplan.render.progress``); nothing is shown when None.
        now: the report's timestamp (tests pass a fixed one).
    """
    sink: ProgressSink = progress or NullProgress()
    start = time.perf_counter()
    advising = with_advice and bool(gpus)
    # The advisor traces most (a dozen candidates for ResNet-50): with worker processes this process runs it
    # (every trace goes to a trace worker) while the pool's extra process makes the report's own traces and
    # sweeps. Workers can only be forked before this process runs a backward pass: start them first.
    pool = TracePool.start(preload=workload) if advising and workload.mode is not Mode.GENERATE else None
    try:
        return _build(workload, gpus, auto_batch=auto_batch, context_bytes=context_bytes, detail=detail,
                      sweep_points=sweep_points, with_comparison=with_comparison, advising=advising,
                      currency=currency, sink=sink, now=now, start=start, pool=pool)
    finally:
        if pool is not None:
            pool.close()


def _build(workload: Workload, gpus: list[GPU], *, auto_batch: bool, context_bytes: int | None, detail: int,
           sweep_points: int, with_comparison: bool, advising: bool, currency: str, sink: ProgressSink,
           now: datetime | None, start: float, pool: TracePool | None) -> ReportData:
    sink.add_total(len(gpus) + min(detail, len(gpus)) + (1 if advising else 0))
    fits: list[FitResult]
    sweeps: list[BatchSweep]
    advice_error: GpuplanError | None = None
    if pool is not None:
        # the report's own traces and sweeps run in the pool's extra process while this one runs the advisor
        # (whose traces go to the trace workers): no interpreter lock shared between the two
        part: Future[tuple[list[FitResult], list[BatchSweep], int]] | None
        try:
            part = pool.call_aside(_fits_and_sweeps_job, workload, gpus, auto_batch, context_bytes, detail,
                                   sweep_points)
        except PoolUnavailable:
            part = None
        try:
            advice, advice_status = _advice(workload, gpus[0], auto_batch=auto_batch, context_bytes=context_bytes,
                                            sink=sink, pool=pool)
        except GpuplanError as e:  # the report's own error (the same workload) comes first when there is one
            advice, advice_status, advice_error = None, Availability(False, e.message), e
        done, got = result_or_none(part, pool) if part is not None else (False, None)
        if done:
            fits, sweeps, count = got
            sink.advance(len(gpus) + min(detail, len(gpus)), description=tr("predicted {gpu}", gpu=gpus[-1].name))
        else:
            fits, sweeps, count = _fits_and_sweeps(workload, gpus, auto_batch=auto_batch, context_bytes=context_bytes,
                                                   detail=detail, sweep_points=sweep_points, sink=sink)
        if advice_error is not None:
            raise advice_error
    else:
        fits, sweeps, count = _fits_and_sweeps(workload, gpus, auto_batch=auto_batch, context_bytes=context_bytes,
                                               detail=detail, sweep_points=sweep_points, sink=sink)
        if advising:
            advice, advice_status = _advice(workload, gpus[0], auto_batch=auto_batch, context_bytes=context_bytes,
                                            sink=sink)
        else:
            advice, advice_status = None, Availability(False, msg("not requested (gpuplan report --no-advice)"))
    comparison, comparison_status = (_comparison(fits, currency) if with_comparison
                                     else (None, Availability(False, msg("not requested"))))
    stamp = (now or datetime.now(UTC)).replace(microsecond=0).isoformat()
    return ReportData(
        gpuplan_version=__version__, generated_at=stamp, workload=to_jsonable(workload), auto_batch=auto_batch,
        fits=fits, detail_gpus=[g.name for g in gpus[:max(0, detail)]], sweeps=sweeps, comparison=comparison,
        comparison_status=comparison_status, advice=advice, advice_status=advice_status,
        build_seconds=round(time.perf_counter() - start, 3), traces=count,
    )


def _fits_and_sweeps_job(workload: Workload, gpus: list[GPU], auto_batch: bool, context_bytes: int | None,
                         detail: int, sweep_points: int) -> tuple[list[FitResult], list[BatchSweep], int]:
    """:func:`_fits_and_sweeps` in a pool process (no progress display there)."""
    return _fits_and_sweeps(workload, gpus, auto_batch=auto_batch, context_bytes=context_bytes, detail=detail,
                            sweep_points=sweep_points, sink=NullProgress())


def _fits_and_sweeps(workload: Workload, gpus: list[GPU], *, auto_batch: bool, context_bytes: int | None,
                     detail: int, sweep_points: int, sink: ProgressSink
                     ) -> tuple[list[FitResult], list[BatchSweep], int]:
    """Fit results on every GPU and memory-vs-batch sweeps on the first ``detail`` ones, and the number of
    traces made."""
    fits: list[FitResult]
    scaler_for: Callable[[GPU], BatchScaler]
    # one trace per kernel profile, shared by every profile when the step runs no attention kernel
    cache = TraceCache()
    cache.on_trace = lambda w: sink.describe(tr("tracing {model} at batch {batch}", model=w.model, batch=w.batch))
    if auto_batch:
        # fit_many's traces (at 2 and 4, and each largest batch) serve the sweeps too
        fits = fit_many(workload, gpus, auto_batch=True, context_bytes=context_bytes, trace_cache=cache,
                        progress=lambda name: sink.advance(description=tr("predicting for {gpu}", gpu=name)))
        scaler_for = lambda gpu: cache.scaler(kernel_profile_for(gpu), workload)  # noqa: E731
    else:
        memo: dict[tuple[int, int, int, int | None], MemoryResult] = {}
        fits = []
        for gpu in gpus:
            trace = cache.fn(kernel_profile_for(gpu))(workload)
            key = (id(trace), cublas_workspace_bytes(gpu), _context(gpu, context_bytes), usable_capacity(gpu))
            if key not in memo:
                memo[key] = predict_memory(trace, gpu, context_bytes=context_bytes)
            fits.append(fit_from_trace(trace, gpu, workload, context_bytes=context_bytes, memory=memo[key]))
            sink.advance(description=tr("predicted {gpu}", gpu=gpu.name))
        b = max(1, workload.batch)
        scaler_for = lambda gpu: BatchScaler(cache.fn(kernel_profile_for(gpu)), workload, b1=b, b2=2 * b)  # noqa: E731
    sweeps = []
    # one search per pair of traces: GPUs whose traces are shared share the replays too
    searches: dict[tuple[int, int], BatchFitSearch] = {}
    for gpu, fit in zip(gpus[:max(0, detail)], fits, strict=False):
        sink.describe(tr("memory vs batch on {gpu}", gpu=gpu.name))
        scaler = scaler_for(gpu)
        search = searches.setdefault((id(scaler.t1), id(scaler.t2)), BatchFitSearch(scaler))
        sweeps.append(batch_sweep(search, gpu, fit, context_bytes=context_bytes, points=sweep_points))
        sink.advance()
    return fits, sweeps, cache.count
