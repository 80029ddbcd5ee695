"""What one traced step yields: the ops it ran and the device memory events, in order.

These records are GPU-independent except for the kernels named in ``KernelProfile`` (the
attention backend and the RNN implementation the *target* GPU would run), which the tracer
emulates. Memory and time predictions read these records; they never re-run the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Phase(StrEnum):
    SETUP = "setup"  # parameters, buffers, optimizer state that exist before the step
    FORWARD = "forward"
    LOSS = "loss"
    BACKWARD = "backward"
    OPTIMIZER = "optimizer"
    PREFILL = "prefill"  # --mode generate: the prompt's forward pass (and the first token's selection)
    DECODE = "decode"  # --mode generate: one new token per sequence with the KV cache


class Category(StrEnum):
    PARAMETER = "parameters"
    BUFFER = "buffers"
    GRADIENT = "gradients"
    OPTIMIZER_STATE = "optimizer_state"
    ACTIVATION = "activations"  # created in forward (incl. those saved for backward)
    TEMPORARY = "temporaries"  # created in backward/optimizer and freed within the step
    INPUT = "inputs"
    KV_CACHE = "kv_cache"
    WORKSPACE = "workspaces"  # cuBLAS/cuDNN workspaces, reserve space


class OpClass(StrEnum):
    MATMUL = "matmul"  # mm, bmm, addmm, linear (GEMM)
    CONV = "conv"
    ATTENTION = "attention"  # fused SDPA kernels (flash / memory-efficient)
    RNN = "rnn"  # fused cuDNN RNN
    NORM = "norm"  # batch/layer/group norm
    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"  # sum, mean, softmax, loss
    EMBEDDING = "embedding"  # gather/scatter, index ops
    POOL = "pool"
    OPTIMIZER = "optimizer"  # fused/foreach optimizer math
    COPY = "copy"  # dtype casts, contiguous copies, cat
    VIEW = "view"  # no kernel (metadata only)
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class OpRecord:
    """One kernel-level op of the step, as the target GPU would run it."""

    index: int
    name: str  # aten op ("aten.mm.default") or emulated kernel ("gpuplan.flash_attention_fwd")
    op_class: OpClass
    phase: Phase
    module: str  # dotted module path ("" = model root / outside modules)
    dtype: str  # compute dtype ("float32", "float16", "bfloat16", "int64", ...)
    flops: float  # floating-point operations (multiply-add = 2)
    bytes_in: int  # bytes of tensor inputs read
    bytes_out: int  # bytes of tensor outputs written
    shapes: tuple[tuple[int, ...], ...] = ()  # input shapes (for size-dependent efficiency)
    launches: int = 1  # kernel launches this op costs on the GPU
    tensor_core_eligible: bool = False  # GEMM/conv whose dtype can use tensor cores


class EventKind(StrEnum):
    ALLOC = "alloc"
    FREE = "free"


@dataclass(frozen=True, slots=True)
class MemEvent:
    """An allocation or a free of one storage, in program order."""

    kind: EventKind
    block: int  # storage id (unique within a trace)
    nbytes: int  # requested bytes (before allocator rounding)
    category: Category
    op_index: int  # index of the op that caused it (-1 before the first op)
    phase: Phase
    module: str = ""
    stream: int = 0  # CUDA stream (blocks are reused only on the stream that freed them)


@dataclass(frozen=True)
class KernelProfile:
    """The GPU-dependent kernel choices a trace was made for (one trace serves every GPU that shares them)."""

    attention: str = "none"  # "flash" | "mem_efficient" | "math" | "none" (model has no SDPA)
    rnn: str = "cudnn"  # "cudnn"
    tf32: bool = False  # TF32 allowed for matmul (affects time only)


@dataclass
class Trace:
    """One step of a workload, traced once, GPU-independent but for ``kernel_profile``."""

    workload_key: str
    batch: int
    kernel_profile: KernelProfile
    ops: list[OpRecord]
    events: list[MemEvent]
    param_count: int
    trainable_param_count: int
    bytes_by_category: dict[str, int]  # persistent state: parameters, buffers, optimizer_state
    module_activation_bytes: dict[str, int]  # activations created in forward, by top-level module path
    uncovered: list[str] = field(default_factory=list)  # ops/modules whose memory or time is not modelled
    warnings: list[str] = field(default_factory=list)
    trace_seconds: float = 0.0
    grad_accum: int = 1  # micro-steps per optimizer step (the ops hold the last one and the optimizer)
    family: str = ""  # "mlp" | "cnn" | "rnn" | "transformer" | "llm" | "custom"
    kernels_used: tuple[str, ...] = ()  # emulated target kernels the step ran ("flash", "math", "cudnn_rnn", ...)

    @property
    def depends_on_attention_backend(self) -> bool:
        """False when no SDPA ran: the same trace then serves every kernel profile."""
        return any(k in ("flash", "mem_efficient", "math") for k in self.kernels_used)
