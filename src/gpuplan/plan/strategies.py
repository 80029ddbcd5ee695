"""Data-parallel strategies: per-GPU memory and step time of one traced step, re-partitioned.

    >>> from gpuplan.plan.strategies import plan_strategy
    >>> p = plan_strategy(Workload("meta-llama/Llama-2-7b-hf", seq_len=512, precision=Precision.AMP_BF16),
    ...                   "A100 80GB SXM4", n_gpus=8, strategy="zero3")      # doctest: +SKIP
    >>> p.per_gpu_memory_bytes, p.step_seconds, p.scaling_efficiency       # doctest: +SKIP

Method. The single-GPU step is traced once (:func:`gpuplan.trace.trace_workload`); its storages carry
categories (parameters, gradients, optimizer state, activations, temporaries). A strategy is a
:class:`StateLayout`: a multiplier per model-state category (1/N where the engine shards it, 0 where
it lives on the CPU, a dtype ratio where the engine stores it in another dtype) plus the buffers the
engine adds (DDP gradient buckets, DeepSpeed fp32 master weights and reduce buckets, the unsharded
parameters of the units being gathered). :func:`relayout` rewrites the trace's allocation events
accordingly and the caching-allocator replay (:func:`gpuplan.memory.predict.predict_memory`) gives the
per-GPU peak. Activations are the traced ones, unchanged per GPU at the same micro-batch.

Precision: DDP runs the traced step as is (torch autocast for amp-*). FSDP2 with a
``MixedPrecisionPolicy`` and DeepSpeed's ``bf16``/``fp16`` modes compute in the low dtype with no
autocast, keeping fp32 master state: for them an amp-* workload is traced in pure bf16/fp16 (so the
autocast weight copies are not counted) and the fp32 states are laid out per engine.

Step time = micro-steps x (forward + backward of the traced step, :func:`gpuplan.timing.predict_time`)
+ the communication left exposed after the stated overlap + the optimizer on each GPU's shard (+ the CPU
optimizer and PCIe copies of offloading strategies). Collective volumes: :mod:`gpuplan.plan.comm`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from gpuplan.catalog.types import GPU
from gpuplan.errors import UsageError
from gpuplan.i18n import msg
from gpuplan.memory.predict import MemoryResult, predict_memory
from gpuplan.plan.cluster import Cluster, cluster_for
from gpuplan.plan.comm import Collective, CommItem, bytes_sent_per_rank, seconds
from gpuplan.plan.units import ModelLayout, model_layout
from gpuplan.trace.records import Category, EventKind, KernelProfile, MemEvent, Phase, Trace
from gpuplan.workload.spec import Mode, OptimizerKind, Precision, Workload

# torch/nn/parallel/distributed.py: _DEFAULT_BUCKET_CAP_MB = 25 (bucket_cap_mb default, MiB)
DDP_BUCKET_CAP_BYTES = 25 * 2**20
# DeepSpeed defaults when the model has no hidden size (deepspeed/runtime/zero/config.py:
# stage3_prefetch_bucket_size 5e7, stage3_param_persistence_threshold 1e5 elements)
DS_DEFAULT_PREFETCH = 50_000_000
DS_DEFAULT_PERSISTENCE = 100_000
FP32 = 4


class Strategy(StrEnum):
    DDP = "ddp"  # torch DistributedDataParallel: everything replicated, gradients all-reduced
    ZERO1 = "zero1"  # DeepSpeed ZeRO stage 1: optimizer state sharded
    ZERO2 = "zero2"  # + gradients sharded
    ZERO3 = "zero3"  # + parameters sharded (gathered per module in forward and backward)
    FSDP2 = "fsdp2"  # torch fully_shard, reshard_after_forward=True (FULL_SHARD, ~ZeRO-3)
    FSDP2_NO_RESHARD = "fsdp2-no-reshard"  # reshard_after_forward=False (SHARD_GRAD_OP, ~ZeRO-2)
    ZERO2_OFFLOAD = "zero2-offload"  # ZeRO-2 with the optimizer (fp32 master + state) on the CPU
    ZERO3_OFFLOAD = "zero3-offload"  # ZeRO-3 with optimizer and parameters on the CPU
    FSDP2_OFFLOAD = "fsdp2-offload"  # fully_shard with CPUOffloadPolicy: parameters, gradients, optimizer on CPU

    @property
    def engine(self) -> str:
        if self is Strategy.DDP:
            return "torch DDP"
        return "PyTorch FSDP2" if self.value.startswith("fsdp2") else "DeepSpeed"

    @property
    def is_deepspeed(self) -> bool:
        return self.engine == "DeepSpeed"

    @property
    def is_fsdp(self) -> bool:
        return self.value.startswith("fsdp2")

    @property
    def offload(self) -> bool:
        return self.value.endswith("offload")

    @property
    def zero_stage(self) -> int:
        """The ZeRO stage this strategy is (FSDP2 FULL_SHARD is stage 3, no-reshard stage 2)."""
        return {Strategy.DDP: 0, Strategy.ZERO1: 1, Strategy.ZERO2: 2, Strategy.ZERO2_OFFLOAD: 2,
                Strategy.FSDP2_NO_RESHARD: 2}.get(self, 3)


STRATEGY_TEXT = {
    Strategy.DDP: msg("DDP: replicas, gradients all-reduced"),
    Strategy.ZERO1: msg("ZeRO-1: optimizer state sharded"),
    Strategy.ZERO2: msg("ZeRO-2: optimizer state and gradients sharded"),
    Strategy.ZERO3: msg("ZeRO-3: parameters, gradients and optimizer state sharded"),
    Strategy.FSDP2: msg("FSDP2 fully_shard (reshard after forward, ~ZeRO-3)"),
    Strategy.FSDP2_NO_RESHARD: msg("FSDP2 fully_shard, no reshard after forward (~ZeRO-2)"),
    Strategy.ZERO2_OFFLOAD: msg("ZeRO-2 + optimizer on the CPU (ZeRO-Offload)"),
    Strategy.ZERO3_OFFLOAD: msg("ZeRO-3 + optimizer and parameters on the CPU"),
    Strategy.FSDP2_OFFLOAD: msg("FSDP2 + CPUOffloadPolicy (parameters, gradients, optimizer on the CPU)"),
}

_LOW = {Precision.AMP_BF16: Precision.BF16, Precision.AMP_FP16: Precision.FP16, Precision.BF16: Precision.BF16,
        Precision.FP16: Precision.FP16}
PLANNABLE_PRECISIONS = (Precision.FP32, Precision.TF32, Precision.AMP_FP16, Precision.AMP_BF16, Precision.FP16,
                        Precision.BF16)


def traced_precision(strategy: Strategy, precision: Precision) -> tuple[Precision, bool]:
    """(precision the step is traced in, whether the engine keeps fp32 master weights/state).

    DDP runs the user's step as is. DeepSpeed's bf16/fp16 modes and FSDP2's MixedPrecisionPolicy
    compute in the low dtype without autocast and keep fp32 master state (DeepSpeed also for pure
    fp16/bf16 workloads: its optimizer always holds fp32 master weights).
    """
    if strategy is Strategy.DDP or precision not in _LOW:
        return precision, False
    if strategy.is_fsdp:
        return _LOW[precision], precision.is_amp
    return _LOW[precision], True


@dataclass(frozen=True)
class Buckets:
    """Bucket sizes (elements) emitted in the DeepSpeed config and used in the memory model."""

    reduce_bucket: int
    prefetch_bucket: int
    persistence_threshold: int


def buckets_for(layout: ModelLayout, trainable: int) -> Buckets:
    """Hugging Face's rules for DeepSpeed's "auto" values (accelerate docs, usage_guides/deepspeed.md):
    reduce_bucket_size = h^2, stage3_prefetch_bucket_size = 0.9 h^2, stage3_param_persistence_threshold
    = 10 h, written as numbers; without a hidden size, DeepSpeed's defaults. Capped at the model size
    (DeepSpeed allocates the full reduce bucket whatever the model)."""
    h = layout.hidden_size
    cap = max(1, trainable or layout.param_count)
    if h:
        return Buckets(min(h * h, cap), min(int(0.9 * h * h), cap), 10 * h)
    return Buckets(min(DS_DEFAULT_PREFETCH, cap), min(DS_DEFAULT_PREFETCH, cap), DS_DEFAULT_PERSISTENCE)


@dataclass(frozen=True)
class StateLayout:
    """Where a strategy puts the model states of one GPU, relative to the traced single-GPU step."""

    param_factor: float  # x the traced parameter storages
    grad_factor: float  # x the traced gradient storages (what stays after backward)
    opt_factor: float  # x the traced optimizer state and the optimizer step's temporaries
    persistent: tuple[tuple[str, int], ...] = ()  # buffers added for the whole step: (name, bytes)
    gathered: int = 0  # unsharded parameters alive from the first forward op to the end of backward
    unit_grads: int = 0  # unsharded gradients of the unit being reduced, during backward
    host: tuple[tuple[str, int], ...] = ()  # bytes on the CPU, per GPU process
    states: tuple[tuple[str, int], ...] = ()  # per-GPU model-state bytes for the report


def state_layout(strategy: Strategy, trace: Trace, layout: ModelLayout, world: int, master: bool,
                 optimizer: OptimizerKind) -> StateLayout:
    """The model states of ``strategy`` on ``world`` GPUs, for a step traced as ``trace``."""
    n = max(1, world)
    p_elems = max(1, trace.param_count)
    t_elems = trace.trainable_param_count
    p_bytes = trace.bytes_by_category.get(Category.PARAMETER.value, 0)
    g_bytes = trace.bytes_by_category.get(Category.GRADIENT.value, 0)
    o_bytes = trace.bytes_by_category.get(Category.OPTIMIZER_STATE.value, 0)
    c = p_bytes / p_elems  # bytes per parameter element as traced (4 fp32/amp, 2 bf16/fp16)
    s = FP32 if master else c  # bytes per element of the sharded / master copy
    # optimizer state kept in fp32 next to fp32 master weights (8-bit Adam's uint8 state does not scale)
    opt_scale = (s / c) if optimizer is not OptimizerKind.ADAM8BIT else 1.0
    opt_master = int(o_bytes * opt_scale)
    b = buckets_for(layout, t_elems)
    if strategy is Strategy.DDP:
        # DDP keeps one flat bucket per ~25 MiB of gradients: together the size of all gradients
        # (gradient_as_bucket_view=False, the default; "the saved memory size will be equal to the total
        # gradients size" when it is True: torch.nn.parallel.DistributedDataParallel docstring)
        buckets = g_bytes if n > 1 else 0
        return StateLayout(1.0, 1.0, 1.0, persistent=(("ddp_gradient_buckets", buckets),) if buckets else (),
                           states=(("parameters", p_bytes), ("gradients", g_bytes), ("optimizer_state", o_bytes),
                                   ("ddp_gradient_buckets", buckets)))
    if strategy.is_deepspeed:
        # DeepSpeed ZeRO (deepspeed/runtime/zero/stage_1_and_2.py, stage3.py; estimator comment:
        # "18 = 2_grads_16bit + 4_grads_32bit + 4_params_32bit + 8_optimizer_states_32bit"): 16-bit
        # parameters (full below stage 3), fp32 master partition, fp32 gradient partition, optimizer
        # state partition; with overlap_comm two reduce buffers of reduce_bucket_size elements.
        master_b = FP32 * t_elems // n
        g32 = FP32 * t_elems // n if c < FP32 else 0
        ipg = 2 * b.reduce_bucket * int(c) if strategy.zero_stage >= 2 else 0
        gathered = int(c * (layout.largest_module_own_params + b.prefetch_bucket)) if strategy.zero_stage == 3 else 0
        pf = 1.0 / n if strategy.zero_stage == 3 else 1.0
        gf = 1.0 if strategy.zero_stage == 1 else 1.0 / n
        if strategy.offload:
            host = [("fp32_master_weights", FP32 * t_elems // n), ("optimizer_state", opt_master // n),
                    ("fp32_gradients", FP32 * t_elems // n)]
            if strategy is Strategy.ZERO3_OFFLOAD:
                host.insert(0, ("parameters", int(c * p_elems) // n))
            pf = 0.0 if strategy is Strategy.ZERO3_OFFLOAD else 1.0
            return StateLayout(pf, 0.0, 0.0, persistent=(("reduce_buckets", ipg),), gathered=gathered,
                               host=tuple(host),
                               states=(("parameters", int(p_bytes * pf)), ("reduce_buckets", ipg),
                                       ("gathered_parameters", gathered)))
        persistent = [("fp32_master_weights", master_b)]
        if g32:
            persistent.append(("fp32_gradient_partition", g32))
        if ipg:
            persistent.append(("reduce_buckets", ipg))
        return StateLayout(pf, gf, opt_scale / n, persistent=tuple(persistent), gathered=gathered,
                           states=(("parameters", int(p_bytes * pf)), ("gradients", int(g_bytes * gf) + g32),
                                   ("optimizer_state", opt_master // n), ("fp32_master_weights", master_b),
                                   ("reduce_buckets", ipg), ("gathered_parameters", gathered)))
    # FSDP2: each parameter is sharded on dim 0 (stored in fp32 under a MixedPrecisionPolicy, gathered
    # in param_dtype); gradients are reduce-scattered per unit (reduce_dtype fp32) into sharded
    # gradients. The root unit is not resharded after forward (reshard_after_forward=None -> False for
    # the root: fully_shard docstring), and one unit is prefetched ahead of the running one.
    blocks = layout.block_count > 0
    root = layout.root_params if blocks else p_elems
    unit = max(layout.largest_block_params, 1) if blocks else p_elems
    if strategy is Strategy.FSDP2_NO_RESHARD:
        gathered = int(c * p_elems)
    else:
        gathered = int(c * (root + (2 * unit if blocks else 0)))
    unit_grads = int(unit * (c + (FP32 if master else 0)))  # unsharded grads + their reduce_dtype copy
    shard = (s / c) / n
    if strategy.offload:
        host = (("parameters", int(s * p_elems) // n), ("gradients", int(s * t_elems) // n),
                ("optimizer_state", opt_master // n))
        return StateLayout(0.0, 0.0, 0.0, gathered=gathered, unit_grads=unit_grads, host=host,
                           states=(("gathered_parameters", gathered), ("unit_gradients", unit_grads)))
    return StateLayout(shard, shard, opt_scale / n, gathered=gathered, unit_grads=unit_grads,
                       states=(("parameters", int(p_bytes * shard)), ("gradients", int(g_bytes * shard)),
                               ("optimizer_state", opt_master // n), ("gathered_parameters", gathered),
                               ("unit_gradients", unit_grads)))


def relayout(trace: Trace, sl: StateLayout) -> Trace:
    """``trace`` with its model-state storages scaled and the strategy's buffers added (for the allocator replay).

    Persistent buffers join the setup storages; gathered parameters are allocated before each
    micro-step's first forward op and freed after its backward; unit gradients live through backward.
    """
    events: list[MemEvent] = []
    next_block = 1 + max((e.block for e in trace.events), default=0)
    dropped: set[int] = set()
    setup_open = True
    persistent = {Category.PARAMETER, Category.BUFFER, Category.OPTIMIZER_STATE}
    live_transient: list[MemEvent] = []
    prev_phase: Phase | None = None

    def new(kind: EventKind, nbytes: int, cat: Category, phase: Phase, block: int | None = None) -> MemEvent:
        nonlocal next_block
        if block is None:
            block, next_block = next_block, next_block + 1
        return MemEvent(kind, block, nbytes, cat, -1, phase)

    def close_micro(phase: Phase) -> None:
        for ev in live_transient:
            events.append(new(EventKind.FREE, ev.nbytes, ev.category, phase, ev.block))
        live_transient.clear()

    for e in trace.events:
        if setup_open and not (e.phase is Phase.SETUP and e.kind is EventKind.ALLOC and e.category in persistent):
            setup_open = False
            for name, nbytes in sl.persistent:
                if nbytes > 0:  # communication buckets count as buffers; master copies as optimizer state
                    cat = Category.BUFFER if name.endswith("buckets") else Category.OPTIMIZER_STATE
                    events.append(new(EventKind.ALLOC, nbytes, cat, Phase.SETUP))
        if e.phase is not Phase.SETUP:
            if e.phase is Phase.FORWARD and prev_phase in (None, Phase.BACKWARD, Phase.OPTIMIZER):
                close_micro(e.phase)
                if sl.gathered > 0:
                    ev = new(EventKind.ALLOC, sl.gathered, Category.TEMPORARY, Phase.FORWARD)
                    events.append(ev)
                    live_transient.append(ev)
            elif e.phase is Phase.BACKWARD and prev_phase is not Phase.BACKWARD and sl.unit_grads > 0:
                ev = new(EventKind.ALLOC, sl.unit_grads, Category.TEMPORARY, Phase.BACKWARD)
                events.append(ev)
                live_transient.append(ev)
            elif e.phase is Phase.OPTIMIZER and prev_phase is Phase.BACKWARD:
                close_micro(e.phase)
            prev_phase = e.phase
        if e.category is Category.PARAMETER:
            f = sl.param_factor
        elif e.category is Category.OPTIMIZER_STATE or (e.phase is Phase.OPTIMIZER and e.category in (
                Category.TEMPORARY, Category.ACTIVATION)):
            f = sl.opt_factor
        elif e.category is Category.GRADIENT:
            f = sl.grad_factor
        else:
            f = 1.0
        if f == 1.0:
            events.append(e)
            continue
        if e.block in dropped:
            continue
        nbytes = round(e.nbytes * f)
        if nbytes <= 0:
            dropped.add(e.block)
            continue
        events.append(replace(e, nbytes=nbytes))
    close_micro(Phase.OPTIMIZER)
    return replace(trace, events=events)


@dataclass
class StrategyPlan:
    """One strategy on one cluster: per-GPU memory, step time with communication, and the engine files."""

    strategy: str
    engine: str
    description: str
    micro_batch: int
    grad_accum: int
    dp_size: int
    global_batch: int
    fits: bool | None
    per_gpu_memory_bytes: int
    capacity_bytes: int | None
    headroom_bytes: int | None
    model_states: dict[str, int]  # per GPU, by component (analytic)
    peak_breakdown: dict[str, int]  # the allocator replay's bytes by category at the peak (buckets under
    # "buffers", fp32 master/gradient partitions under "optimizer_state", gathered units under "temporaries")
    host_memory_bytes_per_gpu: int  # CPU RAM for offloaded state, per GPU process
    host_memory_bytes_per_node: int
    traced_precision: str
    step_seconds: float | None
    compute_seconds: float | None  # micro-steps x (forward + backward)
    optimizer_seconds: float | None  # on the GPU (each GPU's shard)
    cpu_optimizer_seconds: float | None  # offloading strategies: the optimizer step on the host
    exposed_comm_seconds: float | None
    samples_per_second: float | None
    single_gpu_step_seconds: float | None  # the same micro-steps on one GPU, no communication
    scaling_efficiency: float | None  # N-GPU throughput / (N x one-GPU throughput)
    comm: list[CommItem] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    memory: MemoryResult | None = None

    def to_json(self) -> dict[str, object]:
        from gpuplan.render.jsonout import to_jsonable

        return {k: to_jsonable(getattr(self, k)) for k in self.__dataclass_fields__ if k != "memory"}


def _exposed(total: float | None, window: float | None, floor: float | None) -> float | None:
    """Communication hidden behind ``window`` seconds of compute, but never less than ``floor``
    (the part that can only start after the compute it waits for, e.g. the last bucket)."""
    if total is None or window is None:
        return None
    return max(total - window, min(total, floor or 0.0), 0.0)


@dataclass
class _Times:
    fwd: float | None
    bwd: float | None
    opt: float | None  # the traced optimizer step, as predict_time gives it
    opt_bytes_seconds: float = 0.0  # its memory/compute-bound part (scales with the bytes each GPU updates)
    opt_fixed_seconds: float = 0.0  # kernel launch cost (does not shrink with sharding)
    opt_host_seconds: float = 0.0  # host dispatch of its ops (does not shrink either)

    def optimizer(self, scale: float) -> float | None:
        """The optimizer step on ``scale`` x the traced bytes: a shard (1/N), fp32 master state (x2)."""
        if self.opt is None:
            return None
        return max(self.opt_bytes_seconds * scale + self.opt_fixed_seconds, self.opt_host_seconds)


def _times(trace: Trace, gpu: GPU, precision: Precision, micro_batch: int) -> tuple[_Times, str | None]:
    from gpuplan.timing import default_constants, op_arrays, predict_time
    from gpuplan.timing.model import RateMissingError, op_times

    tr = predict_time(trace, gpu, precision, samples_per_step=micro_batch)
    if tr.step_seconds is None:
        return _Times(None, None, None), tr.na_reason
    c = default_constants()
    arrays = op_arrays(trace.ops)
    try:
        ot = op_times(arrays, gpu, precision, c)
    except RateMissingError as err:  # pragma: no cover - predict_time already returned N/A
        return _Times(None, None, None), err.args[0] if err.args else str(err)
    m = arrays.phase == list(Phase).index(Phase.OPTIMIZER)
    work = float((ot.t_gpu[m] - arrays.launches[m] * c.kernel_seconds).sum())
    fixed = float((arrays.launches[m] * c.kernel_seconds).sum())
    host = float(m.sum()) * c.cpu_op_seconds
    return _Times(tr.forward_seconds, tr.backward_seconds, tr.optimizer_seconds, work, fixed, host), None


def _backward_pair(items: list[CommItem], n: int, gbs: float | None, link: str, ag_bytes: float, rs_bytes: float,
                   window: float | None, last_bytes: float, ag_what: str, last_what: str) -> float | None:
    """Parameter all-gather and gradient reduce-scatter sharing the link during backward: exposed is what
    exceeds backward, and at least the reduce-scatter of the last unit/bucket (it waits for its gradients)."""
    ag = seconds(Collective.ALL_GATHER, ag_bytes, n, gbs)
    rs = seconds(Collective.REDUCE_SCATTER, rs_bytes, n, gbs)
    total = None if ag is None or rs is None else ag + rs
    exp = _exposed(total, window, seconds(Collective.REDUCE_SCATTER, last_bytes, n, gbs))
    items.append(CommItem(Collective.ALL_GATHER, ag_what, int(ag_bytes),
                          int(bytes_sent_per_rank(Collective.ALL_GATHER, ag_bytes, n)), msg("micro-step"), link, ag,
                          msg("with backward, together with the gradient reduce-scatter"), None))
    items.append(CommItem(Collective.REDUCE_SCATTER, msg("gradients"), int(rs_bytes),
                          int(bytes_sent_per_rank(Collective.REDUCE_SCATTER, rs_bytes, n)), msg("micro-step"), link, rs,
                          msg("with backward; {last} after it", last=last_what), exp))
    return exp


def _comm_plan(strategy: Strategy, cl: Cluster, lay: ModelLayout, trace: Trace, master: bool,
               t: _Times, sl: StateLayout) -> tuple[list[CommItem], float | None, float | None, float | None]:
    """Collectives of one step: items, exposed seconds per micro-step, per step, CPU optimizer seconds."""
    n = cl.world_size
    gbs = cl.bus_gbs
    link = " + ".join(x.name for x in (cl.intra, cl.inter) if x is not None) or msg("none (one GPU)")
    p_el, t_el = trace.param_count, trace.trainable_param_count
    c = trace.bytes_by_category.get(Category.PARAMETER.value, 0) / max(1, p_el)
    g_bytes = trace.bytes_by_category.get(Category.GRADIENT.value, 0)
    items: list[CommItem] = []
    micro: list[float | None] = []
    step: list[float | None] = []

    def add(op: Collective, what: str, nbytes: float, per: str, overlap: str, window: float | None,
            floor_bytes: float | None, over: str = link, gb: float | None = gbs) -> float | None:
        sec = seconds(op, nbytes, n, gb)
        floor = seconds(op, floor_bytes, n, gb) if floor_bytes is not None else None
        exp = sec if window is None and sec is not None and overlap.startswith("none") else _exposed(sec, window, floor)
        items.append(CommItem(op, what, int(nbytes), int(bytes_sent_per_rank(op, nbytes, n)), per, over, sec, overlap,
                              exp))
        return exp

    b = buckets_for(lay, t_el)
    if n > 1:
        if strategy is Strategy.DDP:
            step.append(add(Collective.ALL_REDUCE, msg("gradients"), g_bytes, msg("step"),
                            msg("with backward (bucketed); the last bucket after it; once per step (no_sync while "
                                "accumulating)"), t.bwd, min(DDP_BUCKET_CAP_BYTES, g_bytes)))
        elif strategy.is_deepspeed:
            gname = msg("gradients (16-bit)") if c < FP32 else msg("gradients")
            if strategy.zero_stage == 1:
                step.append(add(Collective.REDUCE_SCATTER, gname, c * t_el, msg("step"),
                                msg("none: reduced after backward"), None, None))
            elif strategy.zero_stage == 2:
                micro.append(add(Collective.REDUCE_SCATTER, gname, c * t_el, msg("micro-step"),
                                 msg("with backward (overlap_comm); the last reduce bucket after it"), t.bwd,
                                 b.reduce_bucket * c))
            else:
                micro.append(add(Collective.ALL_GATHER, msg("parameters (forward)"), c * p_el, msg("micro-step"),
                                 msg("with forward (prefetch); the first module's gather before it"), t.fwd,
                                 c * lay.largest_module_own_params))
                micro.append(_backward_pair(items, n, gbs, link, c * p_el, c * t_el, t.bwd, b.reduce_bucket * c,
                                            msg("parameters (backward)"), msg("the last reduce bucket")))
            if strategy.zero_stage < 3:
                step.append(add(Collective.ALL_GATHER, msg("updated parameters"), c * t_el, msg("step"),
                                msg("none: after the optimizer step"), None, None))
        else:  # FSDP2
            r = FP32 if master else c
            blocks = lay.block_count > 0
            unit = lay.largest_block_params if blocks else p_el
            root = lay.root_params if blocks else p_el
            micro.append(add(Collective.ALL_GATHER, msg("parameters (forward)"), c * p_el, msg("micro-step"),
                             msg("with forward (one unit prefetched); the first unit's gather before it"), t.fwd,
                             c * max(unit, root)))
            if strategy is Strategy.FSDP2_NO_RESHARD:
                micro.append(add(Collective.REDUCE_SCATTER, msg("gradients"), r * t_el, msg("micro-step"),
                                 msg("with backward; the root unit's after it"), t.bwd, r * root))
            else:
                ag_b = c * (p_el - root) if blocks else c * p_el
                micro.append(_backward_pair(items, n, gbs, link, ag_b, r * t_el, t.bwd, r * root,
                                            msg("parameters (backward; the root stays gathered)"),
                                            msg("the root unit's")))
    cpu_opt: float | None = 0.0
    if strategy.offload:
        pcie = cl.pcie.per_direction_gbs if cl.pcie else None
        pname = cl.pcie.name if cl.pcie else msg("PCIe (N/A)")
        host_gbs = cl.host_memory.per_direction_gbs
        s = FP32 if master else c
        if strategy is Strategy.ZERO2_OFFLOAD:
            micro.append(add(Collective.DEVICE_TO_HOST, msg("gradient partition"), c * t_el / n, msg("micro-step"),
                             msg("with backward"), t.bwd, None, pname, pcie))
            step.append(add(Collective.HOST_TO_DEVICE, msg("updated parameter partition"), c * t_el / n, msg("step"),
                            msg("none: after the CPU optimizer step"), None, None, pname, pcie))
        else:
            pb = (c if strategy.is_deepspeed else s) * p_el / n
            gb = (c if strategy.is_deepspeed else s) * t_el / n
            both = None if t.fwd is None or t.bwd is None else t.fwd + t.bwd
            micro.append(add(Collective.HOST_TO_DEVICE, msg("parameter shard (forward and backward)"), 2 * pb,
                             msg("micro-step"), msg("with forward and backward"), both, None, pname, pcie))
            micro.append(add(Collective.DEVICE_TO_HOST, msg("gradient shard"), gb, msg("micro-step"),
                             msg("with backward"), t.bwd, None, pname, pcie))
        # CPU optimizer: memory-bound at the host's DRAM peak, shared by the node's GPU processes.
        # Bytes per trainable element: fp32 master read+write (8), fp32 gradient read (4), optimizer
        # state read+write (2 x its fp32 bytes). A lower bound: CPU Adam kernels reach less than peak.
        state_per_el = dict(sl.host).get("optimizer_state", 0) * n / max(1, t_el)
        per_el = 2 * FP32 + FP32 + 2 * state_per_el
        cpu_opt = cl.gpus_per_node * (t_el / n) * per_el / (host_gbs * 1e9)
    exp_micro = None if any(x is None for x in micro) else sum(x for x in micro if x is not None)
    exp_step = None if any(x is None for x in step) else sum(x for x in step if x is not None)
    return items, exp_micro, exp_step, cpu_opt


def _check_workload(w: Workload) -> None:
    if w.mode is not Mode.TRAIN:
        raise UsageError(msg("gpuplan plan covers training (--mode train); got --mode {mode}. For inference on one "
                             "GPU use `gpuplan fit --mode infer`.", mode=w.mode.value))
    if w.precision not in PLANNABLE_PRECISIONS:
        raise UsageError(msg("--precision {precision} is not planned for multi-GPU training yet; allowed: {allowed}.",
                             precision=w.precision.value,
                             allowed=", ".join(p.value for p in PLANNABLE_PRECISIONS)))


ASSUMPTIONS = [
    msg("communication: ring collectives at the links' peak per-direction rate (all-reduce 2(N-1)/N x bytes, "
        "reduce-scatter and all-gather (N-1)/N x bytes); NCCL reaches less and per-message latency is not "
        "modelled, so communication times are lower bounds"),
    msg("activations per GPU are those of the traced single-GPU step at the same micro-batch"),
    msg("model loading is not counted: each process loading the full model on the CPU before sharding needs "
        "that much host RAM too (meta-device / rank-0 loading avoids it)"),
]


def _strategy_assumptions(s: Strategy, master: bool) -> list[str]:
    out = []
    if s is Strategy.DDP:
        out.append(msg("DDP: gradient buckets of 25 MiB (bucket_cap_mb default), gradient_as_bucket_view=False (the "
                       "default: the buckets hold a second copy of the gradients)"))
    if s.is_deepspeed:
        out.append(msg("DeepSpeed: 16-bit parameters with fp32 master weights and optimizer state in the "
                       "optimizer's partition") if master else msg("DeepSpeed: fp32 training (no fp16/bf16 block)"))
        if s.zero_stage == 3:
            out.append(msg("ZeRO-3: the largest module's parameters plus one prefetch bucket are gathered at a time; "
                           "parameters under stage3_param_persistence_threshold stay unpartitioned (not modelled)"))
    if s.is_fsdp:
        out.append(msg("FSDP2: one fully_shard unit per transformer block, then the root; the running unit and one "
                       "prefetched unit are gathered at a time, the root stays gathered from forward to backward"))
        if master:
            out.append(msg("FSDP2: MixedPrecisionPolicy(param_dtype=16-bit, reduce_dtype=float32): fp32 sharded "
                           "parameters, 16-bit compute"))
    if s.offload:
        out.append(msg("offload: gradient copies to the CPU overlap backward; the CPU optimizer step and the "
                       "parameter copies after it are not overlapped; the CPU step is memory-bound at one socket's "
                       "DDR4-3200 x 8-channel peak (204.8 GB/s), a lower bound"))
    return out


TraceFn = Callable[[Workload], Trace]


def _default_trace_fn(profile: KernelProfile) -> TraceFn:
    cache: dict[str, Trace] = {}

    def fn(w: Workload) -> Trace:
        from gpuplan.trace import trace_workload

        key = repr(w)
        if key not in cache:
            cache[key] = trace_workload(w, profile)
        return cache[key]

    return fn


def evaluate(strategy: Strategy, w: Workload, cl: Cluster, *, micro_batch: int, grad_accum: int,
             trace_fn: TraceFn, context_bytes: int | None = None, with_time: bool = True,
             with_files: bool = True) -> StrategyPlan:
    """Memory and time of ``strategy`` for ``w`` at a micro-batch and accumulation on cluster ``cl``."""
    _check_workload(w)
    prec, master = traced_precision(strategy, w.precision)
    wt = replace(w, batch=micro_batch, grad_accum=min(grad_accum, 2), precision=prec)
    trace = trace_fn(wt)
    lay = model_layout(w)
    n = cl.world_size
    sl = state_layout(strategy, trace, lay, n, master, w.optimizer)
    mem = predict_memory(relayout(trace, sl), cl.gpu, context_bytes=context_bytes, with_timeline=False)
    host = sum(v for _, v in sl.host)
    t = _Times(None, None, None)
    warnings: list[str] = []
    if with_time:
        t, na = _times(trace, cl.gpu, prec, micro_batch)
        if na:
            warnings.append(msg("time N/A: {reason}", reason=na))
    items, exp_micro, exp_step, cpu_opt = _comm_plan(strategy, cl, lay, trace, master, t, sl)
    p_bytes = trace.bytes_by_category.get(Category.PARAMETER.value, 0)
    c = p_bytes / max(1, trace.param_count)
    opt_scale = (FP32 / c) if master and w.optimizer is not OptimizerKind.ADAM8BIT else 1.0
    step = compute = opt_gpu = single = sps = eff = None
    if t.fwd is not None and t.bwd is not None and t.opt is not None:
        compute = grad_accum * (t.fwd + t.bwd)
        # fp32 master state moves FP32/c x the traced bytes; each GPU updates 1/N of it when sharded
        opt_full = t.optimizer(opt_scale) or 0.0
        opt_gpu = 0.0 if strategy.offload else (opt_full if strategy is Strategy.DDP else t.optimizer(opt_scale / n))
        single = compute + opt_full
        if exp_micro is not None and exp_step is not None and cpu_opt is not None:
            step = compute + grad_accum * exp_micro + exp_step + opt_gpu + cpu_opt
            sps = micro_batch * grad_accum * n / step if step > 0 else None
            eff = single / step if step > 0 else None
    exposed = None if exp_micro is None or exp_step is None else grad_accum * exp_micro + exp_step
    plan = StrategyPlan(
        strategy=strategy.value, engine=strategy.engine, description=STRATEGY_TEXT[strategy],
        micro_batch=micro_batch, grad_accum=grad_accum, dp_size=n, global_batch=micro_batch * grad_accum * n,
        fits=mem.fits, per_gpu_memory_bytes=mem.device_total_bytes, capacity_bytes=mem.capacity_bytes,
        headroom_bytes=mem.headroom_bytes, model_states={k: v for k, v in sl.states if v},
        peak_breakdown=dict(mem.breakdown), host_memory_bytes_per_gpu=host, host_memory_bytes_per_node=host * cl.gpus_per_node,
        traced_precision=prec.value, step_seconds=step, compute_seconds=compute, optimizer_seconds=opt_gpu,
        cpu_optimizer_seconds=cpu_opt if strategy.offload else None, exposed_comm_seconds=exposed,
        samples_per_second=sps, single_gpu_step_seconds=single, scaling_efficiency=eff, comm=items,
        assumptions=_strategy_assumptions(strategy, master), warnings=warnings, memory=mem)
    if with_files:
        from gpuplan.plan.files import files_for

        plan.files = files_for(plan, strategy, w, cl, lay, buckets_for(lay, trace.trainable_param_count))
    return plan


def _divisors(n: int) -> list[int]:
    return sorted({d for i in range(1, int(n**0.5) + 1) if n % i == 0 for d in (i, n // i)})


def choose_batch(strategy: Strategy, w: Workload, cl: Cluster, trace_fn: TraceFn, *, target_batch: int | None,
                 auto: bool, context_bytes: int | None = None) -> tuple[int, int]:
    """(micro-batch, accumulation): the largest micro-batch that fits that makes ``target_batch``
    (micro x accumulation x data-parallel size), or the largest that fits (``auto``), or the workload's.

    Candidates other than the first are checked on traces interpolated in the batch
    (:class:`gpuplan.memory.batch.BatchScaler`: memory is affine in the batch event by event); the
    chosen micro-batch is then evaluated on a real trace.
    """
    from gpuplan.memory.batch import BatchScaler, largest_fitting_batch
    from gpuplan.memory.predict import fits_on

    n = cl.world_size
    prec, master = traced_precision(strategy, w.precision)
    lay = model_layout(w)
    scalers: dict[bool, BatchScaler] = {}

    def fits(micro: int, ga: int, *, real: bool = False) -> bool:
        wt = replace(w, batch=micro, grad_accum=min(ga, 2), precision=prec)
        if real:
            trace = trace_fn(wt)
        else:
            key = ga > 1
            if key not in scalers:
                scalers[key] = BatchScaler(trace_fn, wt.with_batch(1))
            trace = scalers[key].at(micro)
        sl = state_layout(strategy, trace, lay, n, master, w.optimizer)
        return fits_on(relayout(trace, sl), cl.gpu, context_bytes=context_bytes) is not False

    if target_batch is not None:
        if target_batch % n:
            raise UsageError(msg("--target-batch {b} is not a multiple of the data-parallel size {n} ({per} GPUs x "
                                 "{nodes} nodes); allowed: multiples of {n}.", b=target_batch, n=n,
                                 per=cl.gpus_per_node, nodes=cl.nodes))
        per_gpu = target_batch // n
        if fits(per_gpu, 1, real=True):  # no accumulation needed
            return per_gpu, 1
        divs = _divisors(per_gpu)[:-1]
        lo, hi = 0, len(divs) - 1  # binary search for the largest fitting divisor (fits is monotone)
        best = None
        while lo <= hi:
            mid = (lo + hi) // 2
            if fits(divs[mid], per_gpu // divs[mid]):
                best, lo = divs[mid], mid + 1
            else:
                hi = mid - 1
        micro = best or 1
        return micro, per_gpu // micro
    if auto:
        best = largest_fitting_batch(lambda b: fits(b, w.grad_accum), cap=4096)
        return max(1, best), w.grad_accum
    return w.batch, w.grad_accum


@dataclass
class Plan:
    """Every strategy for one model on one cluster, and the recommended one."""

    model: str
    precision: str
    optimizer: str
    gpu: str
    gpus_per_node: int
    nodes: int
    world_size: int
    intra_node_link: str | None
    inter_node_link: str | None
    bus_gbs: float | None
    param_count: int
    trainable_param_count: int
    block_class: str | None
    strategies: list[StrategyPlan]
    recommended: str | None
    target_batch: int | None = None
    notes: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def recommend(plans: list[StrategyPlan]) -> str | None:
    """The fastest strategy that fits (fewest bytes per GPU on ties or without times)."""
    ok = [p for p in plans if p.fits]
    if not ok:
        return None
    timed = [p for p in ok if p.samples_per_second is not None]
    if timed:
        return max(timed, key=lambda p: (p.samples_per_second or 0.0, -p.per_gpu_memory_bytes)).strategy
    return min(ok, key=lambda p: p.per_gpu_memory_bytes).strategy


def parse_strategies(text: str | None) -> list[Strategy]:
    if not text or text.strip().lower() == "all":
        return list(Strategy)
    out = []
    for part in text.split(","):
        key = part.strip().lower()
        try:
            out.append(Strategy(key))
        except ValueError:
            raise UsageError(msg("--strategy {key} is unknown; allowed: {allowed}.", key=repr(key),
                                 allowed=", ".join(["all", *(s.value for s in Strategy)]))) from None
    return out


def plan(w: Workload, cl: Cluster, strategies: list[Strategy] | None = None, *, target_batch: int | None = None,
         auto_batch: bool = False, context_bytes: int | None = None, trace_fn: TraceFn | None = None) -> Plan:
    """Plan data-parallel training of ``w`` on ``cl`` with each strategy (default: all)."""
    from gpuplan.api import kernel_profile_for

    _check_workload(w)
    if target_batch is not None and target_batch <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--target-batch", value=target_batch))
    fn = trace_fn or _default_trace_fn(kernel_profile_for(cl.gpu))
    results = []
    for s in strategies or list(Strategy):
        micro, ga = choose_batch(s, w, cl, fn, target_batch=target_batch, auto=auto_batch, context_bytes=context_bytes)
        results.append(evaluate(s, w, cl, micro_batch=micro, grad_accum=ga, trace_fn=fn, context_bytes=context_bytes))
    lay = model_layout(w)
    base = fn(w)
    srcs = sorted({x.source for x in (cl.intra, cl.inter, cl.pcie) if x is not None})
    return Plan(model=w.model, precision=w.precision.value, optimizer=w.optimizer.value, gpu=cl.gpu.name,
                gpus_per_node=cl.gpus_per_node, nodes=cl.nodes, world_size=cl.world_size,
                intra_node_link=cl.intra.name if cl.intra else None, inter_node_link=cl.inter.name if cl.inter else None,
                bus_gbs=cl.bus_gbs, param_count=base.param_count, trainable_param_count=base.trainable_param_count,
                block_class=lay.block_class, strategies=results, recommended=recommend(results),
                target_batch=target_batch, notes=list(cl.notes), assumptions=list(ASSUMPTIONS), sources=srcs)


def plan_strategy(w: Workload, gpu: GPU | str, n_gpus: int = 1, strategy: Strategy | str = Strategy.ZERO2_OFFLOAD,
                  *, nodes: int = 1, interconnect: str | None = None, context_bytes: int | None = None,
                  with_files: bool = False) -> StrategyPlan:
    """Per-GPU memory and step time of one strategy (e.g. single-GPU CPU offload for `gpuplan advise`).

    ``gpu`` is a catalog name or a GPU record; ``n_gpus`` GPUs per node; the workload's batch is the
    micro-batch and its ``grad_accum`` the accumulation.
    """
    from gpuplan.api import kernel_profile_for
    from gpuplan.catalog import get_gpu

    g = get_gpu(gpu) if isinstance(gpu, str) else gpu
    s = strategy if isinstance(strategy, Strategy) else parse_strategies(strategy)[0]
    cl = cluster_for((n_gpus, g), nodes=nodes, interconnect=interconnect)
    fn = _default_trace_fn(kernel_profile_for(g))
    return evaluate(s, w, cl, micro_batch=w.batch, grad_accum=w.grad_accum, trace_fn=fn, context_bytes=context_bytes,
                    with_files=with_files)
