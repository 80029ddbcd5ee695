"""The Python API: the same records the CLI prints as JSON.

    >>> import gpuplan.api as gp
    >>> r = gp.fit("resnet50", gpu="GTX 760", batch="auto")     # doctest: +SKIP
    >>> r.fits, r.max_batch_size, r.memory.device_total_bytes    # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from gpuplan.catalog import GPU, features, get_gpu, resolve_gpus
from gpuplan.errors import UsageError
from gpuplan.i18n import msg
from gpuplan.memory.batch import BatchFitSearch, BatchScaler
from gpuplan.memory.context import context_for, cublas_workspace_bytes, usable_capacity
from gpuplan.memory.predict import MemoryResult, predict_memory
from gpuplan.trace import KernelProfile, Trace, trace_workload
from gpuplan.trace.pool import PoolUnavailable, TracePool, result_or_none
from gpuplan.workload.spec import Mode, OptimizerKind, Precision, Workload


@dataclass
class GPUSummary:
    name: str
    vendor: str
    architecture: str
    compute_capability: str | None
    memory_bytes: int | None


@dataclass
class FitResult:
    gpu: GPUSummary
    model: str
    mode: str
    precision: str
    optimizer: str | None
    batch: int
    grad_accum: int
    fits: bool | None
    memory: MemoryResult
    max_batch_size: int | None = None
    time: Any = None  # TimeResult of the speed engine, when available
    param_count: int = 0
    trainable_param_count: int = 0
    kernel_profile: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    trace_seconds: float = 0.0
    prompt_len: int | None = None  # --mode generate: prompt tokens per sequence
    new_tokens: int | None = None  # --mode generate: generated tokens per sequence
    zero_grad_set_to_none: bool | None = None  # training: gradients freed between steps (False: --keep-zeroed-grads)


def kernel_profile_for(gpu: GPU) -> KernelProfile:
    """Which SDPA backend family the GPU runs (flash needs sm80+, memory-efficient sm50+)."""
    f = features(gpu)
    attention = "flash" if f.flash_attention else "mem_efficient" if f.mem_efficient_attention else "math"
    return KernelProfile(attention=attention, rnn="cudnn")


def precision_warnings(gpu: GPU, precision: Precision, mode: Mode) -> list[str]:
    """What the GPU cannot do well with this precision (PyTorch runs it, but say so)."""
    f = features(gpu)
    out: list[str] = []
    low16 = precision in (Precision.AMP_FP16, Precision.FP16)
    if low16 and not f.fp16_math:
        out.append(msg("{gpu} has no native FP16 arithmetic: {precision} saves memory but runs no faster than fp32 "
                       "(often slower).", gpu=gpu.name, precision=precision.value))
    if precision in (Precision.AMP_BF16, Precision.BF16) and not f.bf16:
        out.append(msg("{gpu} has no BF16 support in hardware: PyTorch emulates bf16 there, far slower than fp16 or "
                       "fp32; use amp-fp16 instead.", gpu=gpu.name))
    if precision is Precision.TF32 and not f.tf32:
        out.append(msg("{gpu} has no TF32 (needs compute capability 8.0+): tf32 runs as plain fp32.", gpu=gpu.name))
    if precision is Precision.FP16 and mode is Mode.TRAIN:
        out.append(msg("pure fp16 training (model.half()) without loss scaling and fp32 master weights is prone to "
                       "underflow/NaN; amp-fp16 is the safe way."))
    if gpu.vendor != "NVIDIA":
        out.append(msg("{vendor} GPUs: memory is modelled with the CUDA allocator's rules and a CUDA-sized context; "
                       "ROCm/MPS/XPU allocators differ.", vendor=gpu.vendor))
    cc = gpu.cc_tuple
    if cc is not None and cc < (3, 7):
        out.append(msg("the newest official PyTorch for this GPU is old (see `gpuplan gpu`): its allocator and "
                       "kernels differ from the modern PyTorch this prediction models."))
    return out


def _summary(gpu: GPU) -> GPUSummary:
    return GPUSummary(gpu.name, gpu.vendor, gpu.architecture, gpu.compute_capability, gpu.memory_bytes)


class TraceCache:
    """One trace per (workload, kernel profile): GPUs sharing a profile share the trace, and a trace
    in which no attention kernel ran serves every profile. Also keeps the batch scalers (memory and
    ops at any batch from two traces), so callers that go on after ``fit_many`` reuse its work.

    With a :class:`~gpuplan.trace.pool.TracePool`, traces asked for ahead (``prefetch``) run side by side
    in its workers; the traces are the same with or without one."""

    def __init__(self, pool: TracePool | None = None) -> None:
        self.cache: dict[tuple[str, KernelProfile], Trace] = {}
        self.profile_free: dict[str, Trace] = {}
        self.scalers: dict[tuple[str, KernelProfile], BatchScaler] = {}
        self.pool = pool
        self._pending: dict[tuple[str, KernelProfile], Future[Trace]] = {}
        self.count = 0  # traces made (failed ones not counted)
        self.on_trace: Callable[[Workload], None] | None = None  # called before each trace is made (progress)

    def prefetch(self, profile: KernelProfile, workloads: list[Workload]) -> None:
        """Start tracing ``workloads`` in the pool's workers (a no-op without a pool)."""
        if self.pool is None:
            return
        for w in workloads:
            key = (repr(w), profile)
            if key[0] in self.profile_free or key in self.cache or key in self._pending or self.pool.broken:
                continue
            try:
                self._pending[key] = self.pool.submit(w, profile)
            except PoolUnavailable:
                return

    def fn(self, profile: KernelProfile) -> Callable[[Workload], Trace]:
        def trace(w: Workload) -> Trace:
            wkey = repr(w)
            if wkey in self.profile_free:
                return self.profile_free[wkey]
            key = (wkey, profile)
            if key not in self.cache:
                if self.on_trace is not None:
                    self.on_trace(w)
                fut = self._pending.pop(key, None)
                done, t = result_or_none(fut, self.pool) if fut is not None and self.pool is not None else (False, None)
                if not done:
                    t = trace_workload(w, profile)
                self.count += 1  # traces made (one that fails raises before it counts)
                self.cache[key] = t
                if not t.depends_on_attention_backend:
                    self.profile_free[wkey] = t
            return self.cache[key]

        return trace

    def scaler(self, profile: KernelProfile, workload: Workload) -> BatchScaler:
        key = (repr(workload.with_batch(0)), profile)
        if key not in self.scalers:
            self.prefetch(profile, [workload.with_batch(b) for b in (BatchScaler.b1, BatchScaler.b2)])
            self.scalers[key] = BatchScaler(self.fn(profile), workload)
        return self.scalers[key]

    def at(self, profile: KernelProfile, workload: Workload) -> Trace:
        """The step at ``workload.batch``: from an existing batch scaler when its traces line up
        (exact for batch-linear shapes), else a real trace."""
        wkey = repr(workload)
        if wkey in self.profile_free or (wkey, profile) in self.cache:  # a real trace is at hand
            return self.fn(profile)(workload)
        sc = self.scalers.get((repr(workload.with_batch(0)), profile))
        if sc is not None and sc.affine:
            return sc.at(workload.batch)
        return self.fn(profile)(workload)


_TraceCache = TraceCache  # older name, used by callers inside the package


def _time_for(trace: Trace, gpu: GPU, precision: Precision) -> Any:
    try:
        from gpuplan.timing import predict_generate_time, predict_time
        from gpuplan.trace.generate import GenerateTrace
    except ImportError:  # pragma: no cover
        return None
    if isinstance(trace, GenerateTrace):
        return predict_generate_time(trace, gpu, precision)
    return predict_time(trace, gpu, precision)


def fit_result(trace: Trace, gpu: GPU, workload: Workload, memory: MemoryResult, *, batch: int | None = None,
               max_batch: int | None = None, with_time: bool = True) -> FitResult:
    """The record of one (workload, GPU) answer, from its trace and memory prediction (the one place a
    FitResult is assembled: fit_many, the report and the web page all return this)."""
    profile = kernel_profile_for(gpu)
    return FitResult(
        gpu=_summary(gpu), model=workload.model, mode=workload.mode.value, precision=workload.precision.value,
        optimizer=workload.optimizer.value if workload.mode is Mode.TRAIN else None,
        batch=workload.batch if batch is None else batch, grad_accum=workload.grad_accum, fits=memory.fits,
        memory=memory, max_batch_size=max_batch,
        time=_time_for(trace, gpu, workload.precision) if with_time else None,
        param_count=trace.param_count, trainable_param_count=trace.trainable_param_count,
        kernel_profile=dataclasses.asdict(profile),
        warnings=precision_warnings(gpu, workload.precision, workload.mode) + list(trace.warnings),
        trace_seconds=trace.trace_seconds,
        prompt_len=getattr(trace, "prompt_len", None),
        new_tokens=getattr(trace, "new_tokens", None),
        zero_grad_set_to_none=workload.zero_grad_set_to_none if workload.mode is Mode.TRAIN else None,
    )


def fit_many(workload: Workload, gpus: list[GPU], *, auto_batch: bool = False, context_bytes: int | None = None,
             with_time: bool = True, progress: Callable[[str], None] | None = None,
             trace_cache: TraceCache | None = None) -> list[FitResult]:
    """Memory (and time) of ``workload`` on each GPU; with ``auto_batch`` the largest batch that fits.

    ``trace_cache``: pass one to reuse its traces and batch scalers afterwards (or from an earlier call)."""
    cache = trace_cache if trace_cache is not None else TraceCache()
    searches: dict[tuple[int, int], BatchFitSearch] = {}
    batch_memo: dict[tuple[tuple[int, int], int | None, int], int] = {}
    memory_memo: dict[tuple[int, int, int, int | None], MemoryResult] = {}
    results: list[FitResult] = []

    def largest(gpu: GPU) -> tuple[BatchScaler, int]:
        """The batch scaler of ``gpu``'s kernel profile and the largest batch it predicts on ``gpu``."""
        profile_scaler = cache.scaler(kernel_profile_for(gpu), workload)
        skey = (id(profile_scaler.t1), id(profile_scaler.t2))  # profiles may share traces
        if skey not in searches:
            searches[skey] = BatchFitSearch(profile_scaler)
        search = searches[skey]
        ctx = context_for(gpu).context_bytes if context_bytes is None else context_bytes
        cap = usable_capacity(gpu)
        # GPUs with the same traces, allocator limit and workspace size share the answer
        key = (skey, None if cap is None else cap - ctx, cublas_workspace_bytes(gpu))
        if key not in batch_memo:
            batch_memo[key] = 0 if cap is None else search.largest(gpu, max(0, cap - ctx))
        return search.scaler, batch_memo[key]

    checked = auto_batch and len(gpus) <= 3
    if checked and cache.pool is not None:  # the checks below trace side by side in the pool's workers
        for gpu in gpus:
            scaler, max_batch = largest(gpu)
            if max_batch > 0 and scaler.affine:
                cache.prefetch(kernel_profile_for(gpu), [workload.with_batch(max_batch)])
    for gpu in gpus:
        profile = kernel_profile_for(gpu)
        trace_fn = cache.fn(profile)
        if progress:
            progress(gpu.name)
        max_batch: int | None = None
        batch = workload.batch
        ctx = context_for(gpu).context_bytes if context_bytes is None else context_bytes
        cap = usable_capacity(gpu)
        ws = cublas_workspace_bytes(gpu)
        if auto_batch:
            scaler, max_batch = largest(gpu)
            # for a few GPUs, check the answer with a real trace (the affine model is exact for
            # batch-linear shapes; the check catches models whose memory is not)
            if max_batch > 0 and scaler.affine and checked:
                while max_batch > 0 and not predict_memory(trace_fn(workload.with_batch(max_batch)), gpu,
                                                           context_bytes=context_bytes, with_timeline=False).fits:
                    max_batch -= 1
            batch = max(1, max_batch)
            trace = trace_fn(workload.with_batch(batch)) if checked else scaler.at(batch)
        else:
            trace = trace_fn(workload)
        # GPUs that share the trace, workspace, context and capacity share the memory answer
        mkey = (id(trace), ws, ctx, cap)
        if mkey not in memory_memo:
            memory_memo[mkey] = predict_memory(trace, gpu, context_bytes=context_bytes)
        mem = memory_memo[mkey]
        results.append(fit_result(trace, gpu, workload, mem, batch=batch, max_batch=max_batch, with_time=with_time))
    return results


def fit(model: str, gpu: str = "RTX 3060 12GB", *, batch: int | str = 1, **options: Any) -> FitResult | list[FitResult]:
    """Will ``model`` fit on ``gpu``? ``gpu`` may be "a,b,c" or "all"; ``batch`` an int or "auto".

    Options are the fields of ``Workload`` (mode, precision, optimizer, seq_len, grad_accum,
    checkpointing, freeze, lora_rank, ...). Returns one FitResult, or a list for several GPUs.
    """
    auto = batch == "auto"
    if not auto and (not isinstance(batch, int) or isinstance(batch, bool)):
        raise UsageError(msg("batch must be a positive integer or 'auto' (got {value}).", value=repr(batch)))
    enums: dict[str, type[Mode] | type[Precision] | type[OptimizerKind]] = {
        "mode": Mode, "precision": Precision, "optimizer": OptimizerKind}
    for key, enum in enums.items():
        if isinstance(options.get(key), str):
            options[key] = enum(options[key])
    w = Workload(model=model, batch=1 if auto else int(batch), **options)
    gpus = resolve_gpus(gpu) if ("," in gpu or gpu.strip().lower() == "all") else [get_gpu(gpu)]
    res = fit_many(w, gpus, auto_batch=auto)
    return res[0] if len(res) == 1 and "," not in gpu and gpu.strip().lower() != "all" else res


# --------------------------------------------------------------------------------------------------
# The other questions, by model name (the CLI commands of the same names return these records)
# --------------------------------------------------------------------------------------------------


def _workload(model: str, batch: int, options: dict[str, Any]) -> Workload:
    enums: dict[str, type[Mode] | type[Precision] | type[OptimizerKind]] = {
        "mode": Mode, "precision": Precision, "optimizer": OptimizerKind}
    for key, enum in enums.items():
        if isinstance(options.get(key), str):
            options[key] = enum(options[key])
    return Workload(model=model, batch=batch, **options)


def compare(model: str, gpus: str = "all", *, batch: int | None = None, **options: Any) -> Any:
    """``gpuplan compare``: one row per GPU (fit, largest batch, speed, price, cost per epoch).

    ``gpus`` is "a,b,c" or "all"; compare-specific keywords (reference, dataset_size, price_kind,
    currency, sort, max_batch) go to :func:`gpuplan.advise.compare.compare_gpus`, the rest to ``Workload``."""
    from gpuplan.advise.compare import compare_gpus

    keys = ("reference", "dataset_size", "price_kind", "currency", "sort", "max_batch", "prices", "context_bytes")
    kw = {k: options.pop(k) for k in keys if k in options}
    return compare_gpus(_workload(model, batch or 1, options), resolve_gpus(gpus), batch=batch, **kw)


def recommend(model: str, *, budget: str | None = None, **options: Any) -> Any:
    """``gpuplan recommend``: GPUs to buy and cloud offers to rent, ranked by time and total cost.

    ``budget`` like "300usd" or "1500cny"; scope, epochs, dataset_size, currency, include_spot go to
    :func:`gpuplan.advise.recommend.recommend`, the rest to ``Workload``."""
    from gpuplan.advise.recommend import recommend as _recommend
    from gpuplan.catalog.prices import parse_budget

    keys = ("scope", "epochs", "dataset_size", "currency", "include_spot", "prices", "context_bytes")
    kw = {k: options.pop(k) for k in keys if k in options}
    money = parse_budget(budget) if budget else None
    return _recommend(_workload(model, options.pop("batch", 1), options), budget=money, **kw)


def advise(model: str, gpu: str, **options: Any) -> Any:
    """``gpuplan advise``: plans that fit and run fast on ``gpu``, best first, each re-predicted.

    target_batch, finetune, top go to :func:`gpuplan.advise.advisor.advise`, the rest to ``Workload``."""
    from gpuplan.advise.advisor import advise as _advise

    keys = ("target_batch", "finetune", "top", "budget", "context_bytes", "currency", "jobs")
    kw = {k: options.pop(k) for k in keys if k in options}
    return _advise(_workload(model, options.pop("batch", 1), options), get_gpu(gpu), **kw)


def plan(model: str, gpus: str = "8xA100-80G", *, nodes: int = 1, interconnect: str | None = None,
         **options: Any) -> Any:
    """``gpuplan plan``: DDP / ZeRO / FSDP2 / offload on a cluster, with engine config files.

    target_batch, auto_batch, strategies go to :func:`gpuplan.plan.plan`, the rest to ``Workload``."""
    from gpuplan.plan import cluster_for, parse_strategies
    from gpuplan.plan import plan as _plan

    kw: dict[str, Any] = {k: options.pop(k) for k in ("target_batch", "auto_batch", "context_bytes") if k in options}
    strategies = options.pop("strategies", None)
    if isinstance(strategies, str):
        strategies = parse_strategies(strategies)
    return _plan(_workload(model, options.pop("batch", 1), options), cluster_for(gpus, nodes=nodes,
                 interconnect=interconnect), strategies, **kw)
