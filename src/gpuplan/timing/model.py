"""Per-op time model: one traced step, one catalog GPU, one precision -> seconds per step.

The model (constants in ``constants.json``, fitted by ``scripts/fit_timing.py`` on
``shared/data/calibration/perf.csv`` only; derivation and errors in ``docs/speed-accuracy.md``):

  per op, on the GPU
    t_compute = flops / (peak(unit) * eff(class, unit) * fill)      fill = w / (w + w_half)
                w = flops per SM: an op too small to give every SM work runs at a fraction of peak
    t_memory  = kernel_bytes / (bandwidth * eff_mem)       kernel_bytes: see kernel_traffic_bytes
    (backward-phase ops: t_memory divided by eff_backward_mem; backward GEMMs/convs run at the
    forward efficiency)
    t_gpu     = max(t_compute, t_memory) + launches * kernel_seconds
  host side: every op costs ``cpu_op_seconds`` of dispatch (eager PyTorch); the GPU cannot start op
  i before the host has issued it, so the step ends at
    max_k ( k * cpu_op_seconds + sum_{i >= k} t_gpu[i] )           (exact for an in-order queue)
  plus ``step_seconds`` (per-iteration loop / sync cost).

``peak(unit)`` is chosen by :func:`rate_for` (the one place that decides which catalog rate an op
runs at). Everything is vectorised with numpy so that timing all catalog GPUs from one trace takes
milliseconds per GPU.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from gpuplan.i18n import msg
from gpuplan.trace.records import OpClass, Phase
from gpuplan.workload.spec import Precision

if TYPE_CHECKING:
    from gpuplan.catalog.types import GPU
    from gpuplan.trace.records import OpRecord, Trace


class Unit(StrEnum):
    """The execution unit an op's FLOPs run on."""

    CUDA = "cuda"  # CUDA cores / shader ALUs (FP32, or FP16/BF16 without tensor cores)
    TENSOR = "tensor"  # tensor cores / matrix cores


class Bound(StrEnum):
    COMPUTE = "compute"
    MEMORY = "memory"
    OVERHEAD = "overhead"


@dataclass(frozen=True)
class Rate:
    """A peak rate chosen for (GPU, dtype, unit, op class, precision)."""

    tflops: float | None  # None: the catalog lacks the rate (result becomes N/A)
    unit: Unit  # the unit actually used (TENSOR requested may fall back to CUDA)
    label: str  # e.g. "tf32-tensor", "fp16-tensor (fp32 acc)", "fp32"
    note: str | None = None  # why this rate (shown to the user when it matters)


# --------------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimingConstants:
    """Fitted constants of the time model (see ``constants.json`` for values and fit provenance)."""

    eff_tensor_matmul: float = 0.55  # fraction of tensor peak reached by GEMM / attention
    eff_tensor_conv: float = 0.45  # fraction of tensor peak reached by convolutions
    eff_cuda_matmul: float = 0.75  # fraction of CUDA-core peak reached by GEMM
    eff_cuda_conv: float = 0.75  # fraction of CUDA-core peak reached by convs (Winograd can exceed 1)
    eff_mem: float = 0.75  # fraction of DRAM bandwidth reached by memory-bound kernels
    eff_backward_mem: float = 0.8  # bandwidth of backward kernels relative to forward (dgrad/wgrad GEMMs: 1)
    half_fill_flops_per_sm: float = 2.0e6  # per-SM work at which an op reaches half its peak fraction
    kernel_seconds: float = 3.0e-6  # GPU-side cost per kernel launch (ramp-up, tail, gaps)
    cpu_op_seconds: float = 2.0e-5  # host-side dispatch per op in eager PyTorch
    step_seconds: float = 5.0e-4  # per-iteration cost outside the ops (loop, sync, data handoff)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def to_vector(self) -> np.ndarray:
        return np.array([getattr(self, n) for n in self.names()], dtype=float)

    @classmethod
    def from_vector(cls, v: np.ndarray | list[float]) -> TimingConstants:
        return cls(**{n: float(x) for n, x in zip(cls.names(), v, strict=True)})


@lru_cache(maxsize=1)
def default_constants() -> TimingConstants:
    """The shipped fitted constants (``gpuplan/timing/constants.json``)."""
    text = resources.files("gpuplan.timing").joinpath("constants.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return TimingConstants(**{k: float(v) for k, v in data["constants"].items()})


# --------------------------------------------------------------------------------------------------
# Which peak applies
# --------------------------------------------------------------------------------------------------

_TENSOR_CLASSES = (OpClass.MATMUL, OpClass.CONV, OpClass.ATTENTION)


def _cc(gpu: GPU) -> tuple[int, int] | None:
    try:
        return gpu.cc_tuple
    except ValueError:  # non-numeric (e.g. an AMD gfx target stored in compute_capability)
        return None


def _is_nvidia(gpu: GPU) -> bool:
    return gpu.vendor.upper() == "NVIDIA" and _cc(gpu) is not None


def rate_for(
    gpu: GPU,
    dtype: str,
    unit: Unit | str = Unit.CUDA,
    *,
    op_class: OpClass | None = None,
    precision: Precision | str = Precision.FP32,
) -> Rate:
    """The peak rate (TFLOPS) an op of ``dtype`` runs at on ``gpu``: the one place this is decided.

    Args:
        gpu: catalog record.
        dtype: the op's compute dtype ("float32", "float16", "bfloat16", ...).
        unit: ``Unit.TENSOR`` when the op is tensor-core eligible (GEMM, conv, fused attention),
            ``Unit.CUDA`` otherwise.
        op_class: the op's class (TF32 under default fp32 applies to convolutions only).
        precision: the workload's precision (``tf32`` allows TF32 for matmul too).

    Rules (sources in docs/speed-accuracy.md):
      * float32 on tensor-core-eligible ops uses TF32 tensor cores on compute capability >= 8.0 for
        convolutions under PyTorch defaults (``torch.backends.cudnn.allow_tf32 = True``) and for
        matmul only with precision ``tf32`` (``torch.backends.cuda.matmul.allow_tf32`` defaults to
        False since PyTorch 1.12). Otherwise float32 runs on CUDA cores at ``fp32_tflops``.
      * float16 / bfloat16 on tensor-core GPUs: the tensor rate with FP32 accumulate
        (``tensor_fp16_tflops``; GeForce cards run it at half the FP16-accumulate rate). PyTorch's
        cuBLAS/cuDNN calls accumulate in FP32. Where the catalog only has the FP16-accumulate rate
        (pro Ada/Blackwell rows), half of it is used and a note says so (a lower bound).
      * float16 without tensor cores: cuBLAS/cuDNN compute FP16-stored data in FP32
        (``CUBLAS_COMPUTE_32F``, cuDNN pseudo-half) on GPUs whose native FP16 is missing (Kepler,
        Maxwell 5.0/5.2) or crippled (Pascal 6.1: 1/64 rate), so those run at the FP32 rate: mixed
        precision buys no compute there. GPUs with fast native FP16 (P100, 5.3/6.2, and the
        catalog's ``fp16_tflops`` elsewhere) get the faster of the two.
      * bfloat16 without BF16 hardware (< 8.0): emulated through FP32 math: FP32 rate.
      * AMD / Intel / Apple: whatever the catalog has (matrix-core ``tensor_fp16_tflops``,
        ``fp16_tflops``, ``fp32_tflops``), else ``None``.
    """
    unit = Unit(unit)
    precision = Precision(precision)
    fp32 = gpu.fp32_tflops
    cc = _cc(gpu)
    nvidia = _is_nvidia(gpu)
    want_tensor = unit is Unit.TENSOR and (op_class is None or op_class in _TENSOR_CLASSES)

    if dtype in ("float32", "float64"):
        if dtype == "float64":
            return Rate(None, Unit.CUDA, "fp64", msg("FP64 rate is not in the catalog"))
        if want_tensor and nvidia and cc is not None and cc >= (8, 0) and gpu.tensor_cores:
            # cudnn.allow_tf32 defaults to True (every precision); cuda.matmul.allow_tf32 to False
            tf32_ok = precision is Precision.TF32 or op_class is OpClass.CONV
            if tf32_ok and gpu.tf32_tflops:
                return Rate(gpu.tf32_tflops, Unit.TENSOR, "tf32-tensor")
            if tf32_ok and not gpu.tf32_tflops:
                note = msg("TF32 rate missing in the catalog; FP32 CUDA-core rate used")
                return Rate(fp32, Unit.CUDA, "fp32", note)
        return Rate(fp32, Unit.CUDA, "fp32", None if fp32 else msg("FP32 rate missing in the catalog"))

    if dtype in ("float16", "bfloat16"):
        bf16 = dtype == "bfloat16"
        name = "bf16" if bf16 else "fp16"
        has_bf16_hw = gpu.bf16_support or (nvidia and cc is not None and cc >= (8, 0))
        if want_tensor and gpu.tensor_cores and not (bf16 and not has_bf16_hw):
            rate = (gpu.tensor_bf16_tflops if bf16 else None) or gpu.tensor_fp16_tflops
            if rate:
                return Rate(rate, Unit.TENSOR, f"{name}-tensor (fp32 acc)")
            if gpu.tensor_fp16_fp16acc_tflops:
                return Rate(
                    gpu.tensor_fp16_fp16acc_tflops / 2,
                    Unit.TENSOR,
                    f"{name}-tensor (fp32 acc, assumed half rate)",
                    msg("catalog has only the FP16-accumulate tensor rate; assumed FP32 accumulate runs at half "
                        "of it (lower bound)"),
                )
        if bf16 and not has_bf16_hw:
            return Rate(fp32, Unit.CUDA, "fp32", msg("no BF16 hardware: bfloat16 math runs through FP32"))
        native = gpu.bf16_tflops if bf16 else gpu.fp16_tflops
        if nvidia and cc is not None and not bf16 and cc in ((3, 0), (3, 2), (3, 5), (3, 7), (5, 0), (5, 2)):
            native = None  # no native FP16 arithmetic on Kepler / Maxwell 5.0, 5.2
        if native and fp32 and native > fp32:
            return Rate(native, Unit.CUDA, name)
        if fp32:
            note = None
            if not gpu.tensor_cores and want_tensor:
                note = msg("no tensor cores and no fast FP16 math: FP16 GEMMs/convs run at the FP32 rate (mixed "
                           "precision saves memory traffic, not compute)")
            return Rate(fp32, Unit.CUDA, "fp32 (fp16 storage)", note)
        return Rate(native, Unit.CUDA, name, None if native else msg("{name} rate missing in the catalog", name=name))

    if dtype in ("int8", "uint8"):
        if want_tensor and gpu.int8_tops:
            return Rate(gpu.int8_tops, Unit.TENSOR, "int8-tensor")
        return Rate(fp32, Unit.CUDA, "fp32", None)

    # integer/bool bookkeeping ops: memory-bound in practice
    return Rate(fp32, Unit.CUDA, "fp32", None)


def _sms(gpu: GPU) -> float | None:
    if gpu.sms:
        return float(gpu.sms)
    if gpu.cuda_cores:
        return gpu.cuda_cores / 128.0
    if gpu.fp32_tflops and gpu.boost_clock_mhz:
        return gpu.fp32_tflops * 1e12 / (256.0 * gpu.boost_clock_mhz * 1e6)
    return None


# --------------------------------------------------------------------------------------------------
# Op arrays (the vectorised form of a trace)
# --------------------------------------------------------------------------------------------------

_CLASS_IDS = {c: i for i, c in enumerate(OpClass)}
_PHASE_IDS = {p: i for i, p in enumerate(Phase)}
_KERNEL_FREE = {OpClass.VIEW}


@dataclass
class OpArrays:
    """Columns of the ops of one step (view ops removed). Built once per trace, reused per GPU."""

    flops: np.ndarray
    nbytes: np.ndarray
    launches: np.ndarray
    op_class: np.ndarray  # int ids into list(OpClass)
    phase: np.ndarray  # int ids into list(Phase)
    dtype: np.ndarray  # str
    tensor_ok: np.ndarray  # bool
    names: list[str] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.flops.shape[0])


def _runs_kernel(o: OpRecord) -> bool:
    """Ops that cost GPU/host time in the step: not views (the recorder emits no bookkeeping ops and
    no input creation; op tables cached before that change still carry them, hence the phase check)."""
    return o.op_class not in _KERNEL_FREE and o.launches > 0 and o.phase is not Phase.SETUP and \
        not o.name.startswith(("prim.", "profiler.", "aten._record_function", "aten.device"))


# Normalisations whose CUDA kernels read their big inputs twice (PyTorch aten/src/ATen/native/cuda
# Normalization.cuh, layer_norm_kernel.cu, group_norm_kernel.cu; cuDNN BN is two-pass the same way):
#  * batch norm in training and group norm reduce over more than one row, so the statistics pass
#    (batch_norm_collect_statistics / RowwiseMoments) reads x before the normalisation pass reads x
#    again and writes y: 3 activation passes where the op's tensors are x and y (factor 3/2);
#  * every norm backward reduces (dy, x) for the weight/bias gradients (batch_norm_backward_reduce,
#    GammaBetaBackward) in a kernel separate from the one that reads (dy, x) and writes dx: 5 passes
#    where the op's tensors are dy, x and dx (factor 5/3).
# Layer norm forward keeps a row in registers (one pass); eval-mode batch norm is one elementwise pass.
_STATS_PASS_FORWARD = ("aten.native_group_norm.", )
_STATS_PASS_FORWARD_TRAINING = ("aten.native_batch_norm.", "aten.cudnn_batch_norm.", "aten._native_batch_norm_legit.",
                                "aten._native_batch_norm_legit_functional.", "aten._batch_norm_with_update.",
                                "aten._batch_norm_with_update_functional.")
_REDUCE_PASS_BACKWARD = ("aten.native_batch_norm_backward.", "aten.cudnn_batch_norm_backward.",
                         "aten.batch_norm_backward.", "aten.native_layer_norm_backward.",
                         "aten.native_group_norm_backward.")


def kernel_traffic_bytes(arrays: OpArrays) -> np.ndarray:
    """DRAM bytes the CUDA kernels of each op move: the traced tensor bytes (inputs read + outputs
    written once), except normalisations, whose kernels re-read x (and dy) in a separate reduction
    pass (see the comment above). Batch norm counts as training-mode when the step has a backward pass."""
    out = arrays.nbytes.copy()
    if not arrays.names:
        return out
    training = bool(np.any(arrays.phase == _PHASE_IDS[Phase.BACKWARD]))
    fwd_two_pass = _STATS_PASS_FORWARD + (_STATS_PASS_FORWARD_TRAINING if training else ())
    for i, name in enumerate(arrays.names):
        if not name.startswith("aten.") or "norm" not in name:
            continue
        if name.startswith(_REDUCE_PASS_BACKWARD):
            out[i] *= 5.0 / 3.0
        elif name.startswith(fwd_two_pass):
            out[i] *= 1.5
    return out


def op_arrays(ops: list[OpRecord]) -> OpArrays:
    """Columns of the timed ops of a step (views, bookkeeping and input creation dropped)."""
    keep = [o for o in ops if _runs_kernel(o)]
    return OpArrays(
        flops=np.array([o.flops for o in keep], dtype=float),
        nbytes=np.array([o.bytes_in + o.bytes_out for o in keep], dtype=float),
        launches=np.array([o.launches for o in keep], dtype=float),
        op_class=np.array([_CLASS_IDS[o.op_class] for o in keep], dtype=np.int16),
        phase=np.array([_PHASE_IDS[o.phase] for o in keep], dtype=np.int16),
        dtype=np.array([o.dtype for o in keep], dtype=object),
        tensor_ok=np.array([o.tensor_core_eligible for o in keep], dtype=bool),
        names=[o.name for o in keep],
        modules=[o.module for o in keep],
    )


@dataclass
class OpTimes:
    """Per-op times of one step on one GPU (arrays aligned with ``OpArrays``)."""

    t_gpu: np.ndarray
    t_compute: np.ndarray
    t_memory: np.ndarray
    step_seconds: float
    gpu_busy_seconds: float
    host_seconds: float
    launch_seconds: float
    notes: list[str]


class RateMissingError(ValueError):
    """The catalog lacks a rate or the bandwidth needed to time this workload."""


def rates_per_op(arrays: OpArrays, gpu: GPU, precision: Precision) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Peak FLOP/s and tensor-unit flag for every op (rate_for on each distinct op kind)."""
    peak = np.zeros(len(arrays))
    tensor = np.zeros(len(arrays), dtype=bool)
    notes: list[str] = []
    classes = list(OpClass)
    key = np.char.add(
        np.char.add(arrays.op_class.astype(str), "|"),
        np.char.add(arrays.dtype.astype(str), np.where(arrays.tensor_ok, "|t", "|c")),
    )
    for k in np.unique(key):
        cls_id, dt, u = k.split("|")
        r = rate_for(
            gpu,
            dt,
            Unit.TENSOR if u == "t" else Unit.CUDA,
            op_class=classes[int(cls_id)],
            precision=precision,
        )
        mask = key == k
        if r.tflops is None:
            if np.any(arrays.flops[mask] > 0) and classes[int(cls_id)] in _TENSOR_CLASSES:
                raise RateMissingError(r.note or msg("no {rate} rate for {gpu}", rate=r.label, gpu=gpu.name))
            peak[mask] = np.inf  # no rate needed: memory-bound bookkeeping
        else:
            peak[mask] = r.tflops * 1e12
        tensor[mask] = r.unit is Unit.TENSOR
        if r.note and r.note not in notes:
            notes.append(r.note)
    return peak, tensor, notes


_CONV_ID = _CLASS_IDS[OpClass.CONV]
_MATMUL_IDS = (_CLASS_IDS[OpClass.MATMUL], _CLASS_IDS[OpClass.ATTENTION])


def op_times(arrays: OpArrays, gpu: GPU, precision: Precision, c: TimingConstants) -> OpTimes:
    """Time every op of one step on ``gpu`` (raises RateMissingError when the catalog lacks data)."""
    if not gpu.bandwidth_gbs:
        raise RateMissingError(msg("memory bandwidth of {gpu} is not in the catalog", gpu=gpu.name))
    peak, tensor, notes = rates_per_op(arrays, gpu, precision)
    sms = _sms(gpu)
    eff = np.ones(len(arrays))
    is_conv = arrays.op_class == _CONV_ID
    is_mm = np.isin(arrays.op_class, _MATMUL_IDS)
    eff[is_conv & tensor] = c.eff_tensor_conv
    eff[is_conv & ~tensor] = c.eff_cuda_conv
    eff[is_mm & tensor] = c.eff_tensor_matmul
    eff[is_mm & ~tensor] = c.eff_cuda_matmul
    # other classes: FLOPs are a formality (memory-bound); full peak keeps them memory-bound.
    # Only GEMM-like ops (tiles spread over SMs) get the fill penalty; small elementwise kernels
    # are latency-bound, which kernel_seconds covers.
    fill = np.ones(len(arrays))
    gemm_like = is_conv | is_mm
    if sms is not None:
        w = arrays.flops[gemm_like] / sms
        fill[gemm_like] = w / (w + c.half_fill_flops_per_sm)
    else:
        notes.append(msg("SM count unknown: no small-op fill penalty"))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_compute = np.where(arrays.flops > 0, arrays.flops / (peak * eff * np.maximum(fill, 1e-9)), 0.0)
    t_memory = kernel_traffic_bytes(arrays) / (gpu.bandwidth_gbs * 1e9 * c.eff_mem)
    # backward GEMMs/convs (dgrad, wgrad) are GEMMs of the forward's size: forward efficiency; the
    # bandwidth of backward memory-bound kernels is fitted separately (docs/speed-accuracy.md)
    bwd = arrays.phase == _PHASE_IDS[Phase.BACKWARD]
    t_memory = np.where(bwd, t_memory / c.eff_backward_mem, t_memory)
    launch = arrays.launches * c.kernel_seconds
    t_gpu = np.maximum(t_compute, t_memory) + launch
    step, busy, host = _schedule(t_gpu, c.cpu_op_seconds)
    return OpTimes(t_gpu, t_compute, t_memory, step + c.step_seconds, busy, host, float(launch.sum()), notes)


def _schedule(t_gpu: np.ndarray, cpu_op: float) -> tuple[float, float, float]:
    """In-order GPU queue fed by a host that issues one op every ``cpu_op`` seconds.

    end = max_k ( (k+1) * cpu_op + sum_{i>=k} t_gpu[i] ): the GPU is never ahead of the host.
    """
    n = t_gpu.shape[0]
    if n == 0:
        return 0.0, 0.0, 0.0
    suffix = np.cumsum(t_gpu[::-1])[::-1]
    issue = cpu_op * np.arange(1, n + 1)
    end = float(np.max(issue + suffix))
    return end, float(suffix[0]), float(n * cpu_op)


# --------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------


@dataclass
class TopOp:
    name: str
    module: str
    op_class: str
    seconds: float
    bound: str


@dataclass
class TimeResult:
    """Predicted time of one step of a workload on one GPU. ``None`` = N/A (see ``na_reason``)."""

    gpu: str
    precision: str
    batch: int  # samples per step used for samples_per_second
    forward_seconds: float | None
    backward_seconds: float | None
    optimizer_seconds: float | None
    step_seconds: float | None
    samples_per_second: float | None
    bound: str | None  # "compute" | "memory" | "overhead"
    gpu_busy_seconds: float | None = None  # sum of kernel times (no host stalls)
    host_seconds: float | None = None  # host dispatch time of the step's ops
    seconds_by_class: dict[str, float] = field(default_factory=dict)
    top_ops: list[TopOp] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    na_reason: str | None = None

    def epoch_seconds(self, dataset_size: int) -> float | None:
        """Seconds for one pass over ``dataset_size`` samples (last partial step counted whole)."""
        if self.step_seconds is None or self.batch <= 0:
            return None
        return math.ceil(dataset_size / self.batch) * self.step_seconds

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _na(gpu: GPU, precision: Precision, batch: int, reason: str) -> TimeResult:
    return TimeResult(
        gpu=gpu.name,
        precision=precision.value,
        batch=batch,
        forward_seconds=None,
        backward_seconds=None,
        optimizer_seconds=None,
        step_seconds=None,
        samples_per_second=None,
        bound=None,
        notes=[reason],
        na_reason=reason,
    )


_PHASES = list(Phase)
_FWD_IDS = (_PHASE_IDS[Phase.FORWARD], _PHASE_IDS[Phase.LOSS], _PHASE_IDS[Phase.SETUP])


def summarize(
    arrays: OpArrays,
    times: OpTimes,
    gpu: GPU,
    precision: Precision,
    samples_per_step: int,
    top: int = 10,
) -> TimeResult:
    """Turn per-op times into a ``TimeResult`` (phase split, bound, top ops)."""
    step = times.step_seconds
    busy = times.gpu_busy_seconds
    stall = max(0.0, step - busy)  # host-bound waiting plus per-step cost
    n = max(1, len(arrays))
    # stall time is charged to phases in proportion to their op counts (the host issues every op)
    phase_secs: dict[int, float] = {}
    for pid in range(len(_PHASES)):
        m = arrays.phase == pid
        if np.any(m):
            phase_secs[pid] = float(times.t_gpu[m].sum()) + stall * float(m.sum()) / n
    fwd = sum(phase_secs.get(p, 0.0) for p in _FWD_IDS)
    bwd = phase_secs.get(_PHASE_IDS[Phase.BACKWARD], 0.0)
    opt = phase_secs.get(_PHASE_IDS[Phase.OPTIMIZER], 0.0)

    compute_bound = times.t_compute >= times.t_memory
    t_c = float(times.t_compute[compute_bound].sum())
    t_m = float(times.t_memory[~compute_bound].sum())
    overhead = stall + times.launch_seconds
    bound = Bound.OVERHEAD if overhead >= max(t_c, t_m) else Bound.COMPUTE if t_c >= t_m else Bound.MEMORY

    classes = list(OpClass)
    by_class: dict[str, float] = {}
    for cid in np.unique(arrays.op_class):
        m = arrays.op_class == cid
        by_class[classes[int(cid)].value] = float(times.t_gpu[m].sum())
    if stall > 0:
        by_class["overhead"] = stall

    # top ops: aggregate identical (name, module) pairs
    agg: dict[tuple[str, str, int], list[float]] = {}
    for i in range(len(arrays)):
        k = (arrays.names[i] if arrays.names else "?", arrays.modules[i] if arrays.modules else "", int(arrays.op_class[i]))
        a = agg.setdefault(k, [0.0, 0.0, 0.0])
        a[0] += float(times.t_gpu[i])
        a[1] += float(times.t_compute[i])
        a[2] += float(times.t_memory[i])
    ranked = sorted(agg.items(), key=lambda kv: -kv[1][0])[:top]
    top_ops = [
        TopOp(
            name=k[0],
            module=k[1],
            op_class=classes[k[2]].value,
            seconds=v[0],
            bound=(Bound.COMPUTE if v[1] >= v[2] else Bound.MEMORY).value,
        )
        for k, v in ranked
    ]
    notes = list(times.notes)
    return TimeResult(
        gpu=gpu.name,
        precision=precision.value,
        batch=samples_per_step,
        forward_seconds=fwd,
        backward_seconds=bwd if bwd > 0 else (0.0 if opt == 0 else bwd),
        optimizer_seconds=opt,
        step_seconds=step,
        samples_per_second=samples_per_step / step if step > 0 else None,
        bound=bound.value,
        gpu_busy_seconds=busy,
        host_seconds=times.host_seconds,
        seconds_by_class=by_class,
        top_ops=top_ops,
        notes=notes,
    )


def predict_arrays(
    arrays: OpArrays,
    gpu: GPU,
    precision: Precision | str,
    *,
    samples_per_step: int,
    constants: TimingConstants | None = None,
    top: int = 10,
) -> TimeResult:
    """``predict_time`` on pre-built op arrays (build them once with :func:`op_arrays` for many GPUs)."""
    precision = Precision(precision)
    c = constants or default_constants()
    try:
        times = op_times(arrays, gpu, precision, c)
    except RateMissingError as err:
        return _na(gpu, precision, samples_per_step, err.args[0] if err.args else str(err))
    res = summarize(arrays, times, gpu, precision, samples_per_step, top=top)
    res.notes.extend(precision_notes(gpu, precision))
    return res


def precision_notes(gpu: GPU, precision: Precision) -> list[str]:
    """What the precision does on this GPU, in words (for the report)."""
    cc = _cc(gpu)
    nvidia = _is_nvidia(gpu)
    out: list[str] = []
    if precision in (Precision.AMP_FP16, Precision.FP16) and not gpu.tensor_cores:
        fast_fp16 = gpu.fp16_tflops and gpu.fp32_tflops and gpu.fp16_tflops > gpu.fp32_tflops
        if nvidia and cc is not None and cc in ((3, 0), (3, 2), (3, 5), (3, 7), (5, 0), (5, 2)):
            out.append(msg("FP16 on a GPU without FP16 math: GEMMs/convs run at the FP32 rate; AMP adds cast kernels, "
                           "so it is no faster (often slower) apart from halved activation traffic"))
        elif not fast_fp16:
            out.append(msg("no tensor cores and FP16 math slower than FP32: FP16 GEMMs/convs run at the FP32 rate; AMP "
                           "mainly saves memory"))
    if precision in (Precision.AMP_BF16, Precision.BF16) and nvidia and cc is not None and cc < (8, 0):
        out.append(msg("no BF16 hardware before compute capability 8.0: bfloat16 runs through FP32 math"))
    if precision is Precision.FP32 and nvidia and cc is not None and cc >= (8, 0):
        out.append(msg("fp32 (PyTorch defaults): convolutions use TF32 tensor cores, matmuls run in full FP32 (use "
                       "precision tf32 to allow TF32 matmuls)"))
    return out


def predict_time(
    trace: Trace,
    gpu: GPU,
    precision: Precision | str,
    *,
    constants: TimingConstants | None = None,
    samples_per_step: int | None = None,
    top: int = 10,
) -> TimeResult:
    """Predict forward/backward/optimizer/step seconds and samples/s of ``trace`` on ``gpu``.

    Args:
        trace: one steady-state step (``trace.ops``). If the trace holds several micro-batches of a
            gradient-accumulation step, pass ``samples_per_step = workload.effective_batch``.
        gpu: catalog record of the target GPU.
        precision: the workload's precision (decides TF32 / tensor-core use via :func:`rate_for`).
        constants: fitted constants; default: the shipped ``constants.json``.
        samples_per_step: samples processed by the ops of ``trace`` (default ``trace.batch``).
        top: number of most expensive ops to report.

    Returns:
        ``TimeResult``; fields are ``None`` with ``na_reason`` when the catalog lacks a needed rate
        or the bandwidth (never a guess).
    """
    res = predict_arrays(
        op_arrays(trace.ops),
        gpu,
        precision,
        samples_per_step=samples_per_step if samples_per_step is not None else trace.batch,
        constants=constants,
        top=top,
    )
    if trace.grad_accum > 1 and samples_per_step is None:
        res = with_grad_accumulation(res, trace.grad_accum)
    return res


def with_grad_accumulation(micro: TimeResult, n: int) -> TimeResult:
    """One optimizer step of ``n`` micro-batches from a trace holding one micro-step + the optimizer.

    Micro-steps run back to back and are identical, so forward and backward repeat ``n`` times and
    the optimizer runs once: step = n * (forward + backward) + optimizer."""
    if micro.step_seconds is None or micro.forward_seconds is None or n <= 1:
        return micro
    fb = micro.forward_seconds + (micro.backward_seconds or 0.0)
    step = micro.step_seconds + (n - 1) * fb
    ratio = step / micro.step_seconds if micro.step_seconds > 0 else 1.0
    return dataclasses.replace(
        micro,
        batch=micro.batch * n,
        forward_seconds=micro.forward_seconds * n,
        backward_seconds=None if micro.backward_seconds is None else micro.backward_seconds * n,
        step_seconds=step,
        samples_per_second=micro.batch * n / step if step > 0 else None,
        gpu_busy_seconds=None if micro.gpu_busy_seconds is None else micro.gpu_busy_seconds * ratio,
        host_seconds=None if micro.host_seconds is None else micro.host_seconds * ratio,
        seconds_by_class={k: v * ratio for k, v in micro.seconds_by_class.items()},
        notes=[*micro.notes, msg("gradient accumulation: {n} micro-batches of {batch} per optimizer step", n=n,
                                 batch=micro.batch)],
    )


def predict_many(
    trace: Trace,
    gpus: list[GPU],
    precision: Precision | str,
    *,
    constants: TimingConstants | None = None,
    samples_per_step: int | None = None,
    top: int = 10,
) -> list[TimeResult]:
    """``predict_time`` for many GPUs from one trace (the op arrays are built once)."""
    arrays = op_arrays(trace.ops)
    n = samples_per_step if samples_per_step is not None else trace.batch
    return [
        predict_arrays(arrays, g, precision, samples_per_step=n, constants=constants, top=top) for g in gpus
    ]


def roofline_seconds(arrays: OpArrays, gpu: GPU, precision: Precision) -> float:
    """Plain roofline: sum over ops of max(flops / peak, bytes / bandwidth), peaks from rate_for.

    The baseline the model must beat (scaled by one fitted constant in the fit script).
    """
    if not gpu.bandwidth_gbs:
        raise RateMissingError(msg("memory bandwidth of {gpu} is not in the catalog", gpu=gpu.name))
    peak, _, _ = rates_per_op(arrays, gpu, precision)
    with np.errstate(divide="ignore", invalid="ignore"):
        tc = np.where(arrays.flops > 0, arrays.flops / peak, 0.0)
    tm = arrays.nbytes / (gpu.bandwidth_gbs * 1e9)
    return float(np.maximum(tc, tm).sum())
