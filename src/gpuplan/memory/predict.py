"""Peak device memory of a traced step on a target GPU.

device total = CUDA context + peak *reserved* memory of the caching allocator, where the
allocator replays the trace's allocation/free events (with the cuBLAS workspaces the step
allocates) for three consecutive steps: memory reaches its steady state only after the first
step, because gradients of step k live until zero_grad at the start of step k+1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gpuplan.catalog.types import GPU
from gpuplan.i18n import msg
from gpuplan.memory.allocator import CachingAllocator, OutOfMemory, round_size
from gpuplan.memory.context import context_for, cublas_workspace_bytes, usable_capacity
from gpuplan.trace.generate import GenerateTrace
from gpuplan.trace.records import Category, EventKind, MemEvent, OpClass, Phase, Trace

_LOADING = {"eager": msg("eager"), "lazy": msg("lazy")}  # CUDA module loading modes, translatable

STEPS_REPLAYED = 3
_WS_HANDLE_BASE = -10  # handles of workspace blocks (never freed)


@dataclass
class TimelinePoint:
    event: int
    phase: str
    allocated_bytes: int
    reserved_bytes: int


@dataclass
class MemoryResult:
    peak_allocated_bytes: int
    peak_reserved_bytes: int
    device_total_bytes: int
    capacity_bytes: int | None
    headroom_bytes: int | None
    fits: bool | None
    breakdown: dict[str, int]  # bytes by category at the peak, plus context/workspaces/allocator overhead
    top_modules: list[tuple[str, int]]
    timeline: list[TimelinePoint]
    context_bytes: int
    workspace_bytes: int
    needed_cache_release: bool = False
    assumptions: list[str] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    kv_cache_bytes: int | None = None  # --mode generate: the KV cache at full length (breakdown: at the peak)
    peak_phase: str | None = None  # phase of the step in which allocated memory peaks


def _step_sequence(trace: Trace) -> tuple[list[MemEvent], list[MemEvent]]:
    """Split events into the persistent setup (parameters, buffers, optimizer state) and the step."""
    setup: list[MemEvent] = []
    step: list[MemEvent] = []
    persistent = {Category.PARAMETER, Category.BUFFER, Category.OPTIMIZER_STATE}
    for e in trace.events:
        # (gradients allocated before the step: zero_grad(set_to_none=False) keeps them for good)
        if e.phase is Phase.SETUP and e.kind is EventKind.ALLOC and not step and (
                e.category in persistent or e.category is Category.GRADIENT):
            setup.append(e)
        else:
            step.append(e)
    return setup, step


@dataclass
class _Replay:
    allocator: CachingAllocator
    timeline: list[TimelinePoint]
    live_at_peak: dict[Category, int]
    peak_alloc_live: dict[Category, int]
    peak_phase: str = ""  # phase of the step at the peak of allocated memory


def replay(trace: Trace, gpu: GPU, *, limit: int | None = None, timeline: bool = False) -> _Replay:
    """Replay the trace's events through the allocator model (raises OutOfMemory past ``limit``)."""
    alloc = CachingAllocator(limit=limit)
    setup, step = _step_sequence(trace)
    live: dict[int, tuple[int, Category]] = {}
    by_cat: dict[Category, int] = dict.fromkeys(Category, 0)
    peak_cats: dict[Category, int] = {}
    phase = [Phase.SETUP, Phase.SETUP]  # [current, at the peak]
    points: list[TimelinePoint] = []
    has_matmul_fwd = any(op.op_class is OpClass.MATMUL and op.phase is not Phase.BACKWARD for op in trace.ops)
    has_matmul_bwd = any(op.op_class in (OpClass.MATMUL,) and op.phase is Phase.BACKWARD for op in trace.ops)
    ws = cublas_workspace_bytes(gpu)
    n = 0

    def do_alloc(handle: int, nbytes: int, cat: Category) -> None:
        nonlocal n
        before = alloc.stats.peak_allocated
        alloc.malloc(handle, nbytes)
        live[handle] = (nbytes, cat)
        by_cat[cat] += round_size(nbytes)
        if alloc.stats.peak_allocated > before:
            peak_cats.clear()
            peak_cats.update(by_cat)
            phase[1] = phase[0]
        n += 1

    def do_free(handle: int) -> None:
        nonlocal n
        entry = live.pop(handle, None)
        if entry is None:
            return
        alloc.free(handle)
        by_cat[entry[1]] -= round_size(entry[0])
        n += 1

    for e in setup:
        do_alloc(e.block, e.nbytes, e.category)
    offset = 1 + max((e.block for e in trace.events), default=0)
    grads_prev: list[int] = []
    for k in range(STEPS_REPLAYED):
        # zero_grad(set_to_none=True) at the start of the step frees last step's gradients
        for h in grads_prev:
            do_free(h)
        grads_prev = []
        if k == 0:
            if has_matmul_fwd:
                do_alloc(_WS_HANDLE_BASE, ws, Category.WORKSPACE)
            if has_matmul_bwd:
                do_alloc(_WS_HANDLE_BASE - 1, ws, Category.WORKSPACE)
        base = k * offset
        step_handles: set[int] = set()
        for e in step:
            phase[0] = e.phase
            h = e.block + base
            if e.kind is EventKind.ALLOC:
                do_alloc(h, e.nbytes, e.category)
                step_handles.add(h)
                if e.category is Category.GRADIENT:
                    grads_prev.append(h)
            elif h in live:
                do_free(h)
            elif e.block in live and e.block not in {s.block for s in setup}:
                do_free(e.block)
            if timeline and k == STEPS_REPLAYED - 1:
                points.append(TimelinePoint(n, e.phase.value, alloc.stats.allocated, alloc.stats.reserved))
        # storages of this step still alive at its end (other than gradients) are released when the
        # next step rebinds its variables
        for h in list(step_handles):
            if h in live and h not in grads_prev:
                do_free(h)
    return _Replay(alloc, points, dict(by_cat), peak_cats, phase[1].value)


ReplayFn = Callable[..., _Replay]


class ReplayMemo:
    """:func:`replay` computed once per (trace, cuBLAS workspace, limit, timeline): a search that asks
    the same questions of the same traces (does it fit? its memory? its peaks?) replays each once.

    A replay without a limit also answers a limited question: under a limit at or above its peak
    reserved memory the allocator never meets the limit (same run), and over a limit below its peak
    *allocated* memory no run can fit (out of memory). Traces are keyed by identity and kept alive
    by the memo, so keep one for the duration of one search."""

    def __init__(self) -> None:
        self._memo: dict[tuple[int, int, int | None, bool], tuple[Trace, _Replay | OutOfMemory]] = {}
        self.replays = 0

    def __call__(self, trace: Trace, gpu: GPU, *, limit: int | None = None, timeline: bool = False) -> _Replay:
        ws = cublas_workspace_bytes(gpu)
        got = self._memo.get((id(trace), ws, limit, timeline))
        if got is None and limit is not None:
            free = self._memo.get((id(trace), ws, None, timeline))
            if free is not None and isinstance(free[1], _Replay):
                st = free[1].allocator.stats
                if st.peak_reserved <= limit:
                    got = free
                elif st.peak_allocated > limit:
                    got = (trace, OutOfMemory(st.peak_allocated, st.peak_reserved, limit))
        if got is None:
            self.replays += 1
            try:
                result: _Replay | OutOfMemory = replay(trace, gpu, limit=limit, timeline=timeline)
            except OutOfMemory as e:
                result = e
            got = (trace, result)
            self._memo[(id(trace), ws, limit, timeline)] = got
        if isinstance(got[1], OutOfMemory):  # a fresh exception each time (a re-raised one keeps growing its traceback)
            raise OutOfMemory(got[1].requested, 0, limit or 0) from None
        return got[1]


def _downsample(points: list[TimelinePoint], n: int = 200) -> list[TimelinePoint]:
    if len(points) <= n:
        return points
    stride = len(points) / n
    return [points[int(i * stride)] for i in range(n)] + [points[-1]]


def fits_on(trace: Trace, gpu: GPU, *, context_bytes: int | None = None, replay_fn: ReplayFn = replay
            ) -> bool | None:
    """Only the verdict of ``predict_memory`` (one allocator replay against the card's limit)."""
    capacity = usable_capacity(gpu)
    if capacity is None:
        return None
    context = context_for(gpu).context_bytes if context_bytes is None else context_bytes
    try:
        replay_fn(trace, gpu, limit=max(0, capacity - context))
    except OutOfMemory:
        return False
    return True


def predict_memory(trace: Trace, gpu: GPU, *, context_bytes: int | None = None,
                   with_timeline: bool = True, replay_fn: ReplayFn = replay) -> MemoryResult:
    """Predict peak memory of ``trace`` on ``gpu`` and whether it fits (``replay_fn``: e.g. a
    :class:`ReplayMemo` shared by a search)."""
    ctx = context_for(gpu)
    context = ctx.context_bytes if context_bytes is None else context_bytes
    free_run = replay_fn(trace, gpu, timeline=with_timeline)
    st = free_run.allocator.stats
    capacity = usable_capacity(gpu)
    device_total = context + st.peak_reserved
    fits: bool | None = None
    needed_release = False
    if capacity is not None:
        if device_total <= capacity:
            fits = True
        else:
            try:
                limited = replay_fn(trace, gpu, limit=max(0, capacity - context), timeline=with_timeline)
                fits = True
                needed_release = limited.allocator.stats.num_alloc_retries > 0
                # on this card the allocator frees its cache under pressure: report that run
                free_run = limited
                st = limited.allocator.stats
                device_total = context + st.peak_reserved
            except OutOfMemory:
                fits = False
    ws_bytes = sum(v for c, v in free_run.peak_alloc_live.items() if c is Category.WORKSPACE)
    breakdown = {c.value: v for c, v in free_run.peak_alloc_live.items() if c is not Category.WORKSPACE and v}
    breakdown["workspaces"] = ws_bytes
    breakdown["allocator_overhead"] = st.peak_reserved - st.peak_allocated
    breakdown["cuda_context"] = context
    top = sorted(trace.module_activation_bytes.items(), key=lambda kv: -kv[1])[:10]
    mib = f"{context / 2**20:.0f}"
    assumptions = [
        msg("CUDA context {mib} MiB ({loading} kernel loading; the newest PyTorch build with kernels for this GPU)",
            mib=mib, loading=_LOADING.get(ctx.loading, ctx.loading)) if context_bytes is None else msg("CUDA context {mib} MiB (given)", mib=mib),
        msg("headless card; usable capacity = marketed memory less 1.5% kept by the driver"),
        msg("caching allocator with default settings (no expandable segments, no max_split_size_mb)"),
    ]
    if needed_release:
        assumptions.append(msg("near the limit: the allocator must release cached blocks to fit (as PyTorch does "
                               "before an out-of-memory error); fragmentation can still make a real run fail"))
    kv_bytes = None
    if isinstance(trace, GenerateTrace):
        assumptions.extend(trace.assumptions)
        kv_bytes = trace.kv_cache_bytes
    uncovered = list(trace.uncovered)
    if any(op.op_class is OpClass.CONV for op in trace.ops):
        uncovered.append(msg("cuDNN convolution workspaces (chosen per layer by cuDNN's heuristics; cuDNN falls back "
                             "to algorithms with smaller workspaces when memory is short): not in the totals"))
    return MemoryResult(
        peak_allocated_bytes=st.peak_allocated,
        peak_reserved_bytes=st.peak_reserved,
        device_total_bytes=device_total,
        capacity_bytes=capacity,
        headroom_bytes=None if capacity is None else capacity - device_total,
        fits=fits,
        breakdown=breakdown,
        top_modules=top,
        timeline=_downsample(free_run.timeline),
        context_bytes=context,
        workspace_bytes=ws_bytes,
        needed_cache_release=needed_release,
        assumptions=assumptions,
        uncovered=uncovered,
        kv_cache_bytes=kv_bytes,
        peak_phase=free_run.peak_phase or None,
    )
