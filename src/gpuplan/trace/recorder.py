"""Record every op and every device storage of a step traced under fake tensors.

A ``TorchDispatchMode`` sees each aten op after autograd (so it sees what the GPU would run,
forward and backward). New output storages become ALLOC events; a weak-reference finaliser on
each storage turns its death into a FREE event at the point the real program would release it
(CPython frees by reference count, and autograd releases saved tensors as backward consumes
them). This is the technique of PyTorch's MemTracker (torch.distributed._tools.mem_tracker),
re-implemented here because that API is private and models no allocator.

Fused kernels the target GPU runs (flash attention, cuDNN RNN) are emulated by code that runs
inside ``Recorder.fused(...)``: their inner aten ops allocate as the real kernel does but are
reported as one op with the fused kernel's FLOPs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from gpuplan.trace.opinfo import classify_op, count_flops
from gpuplan.trace.records import Category, EventKind, MemEvent, OpClass, OpRecord, Phase

# Factory ops whose 0-dim results live on the host in a real CUDA program (Python scalars turned
# into tensors, e.g. Adam's `step` counters): not device memory.
_HOST_SCALAR_FACTORIES = {"aten.lift_fresh.default", "aten.lift_fresh_copy.default", "aten.scalar_tensor.default"}
_NO_KERNEL_OPS = {"aten.detach.default", "aten.lift_fresh.default", "aten._local_scalar_dense.default"}
# device queries and profiler annotations (record_function) dispatch like ops but launch nothing
_NON_KERNEL_PREFIXES = ("prim.", "profiler.", "aten._record_function", "aten.device")


@dataclass
class _Block:
    block: int
    nbytes: int
    category: Category
    phase: Phase
    module: str
    op_index: int
    alive: bool = True


@dataclass
class _Fused:
    name: str
    op_class: OpClass
    flops: float
    dtype: str
    bytes_in: int
    bytes_out: int
    shapes: tuple[tuple[int, ...], ...]
    launches: int
    tensor_core_eligible: bool


@dataclass
class Recorder(TorchDispatchMode):
    """Collects ops and memory events; ``phase`` and the module stack are set by the step driver."""

    phase: Phase = Phase.SETUP
    recording_ops: bool = False
    ops: list[OpRecord] = field(default_factory=list)
    events: list[MemEvent] = field(default_factory=list)
    blocks: dict[int, _Block] = field(default_factory=dict)
    module_stack: list[str] = field(default_factory=list)
    uncovered: dict[str, int] = field(default_factory=dict)
    _live: dict[int, int] = field(default_factory=dict)  # storage _cdata -> block id
    _host: set[int] = field(default_factory=set)  # storage _cdata of host tensors
    _next_block: int = 0
    _fused: _Fused | None = None
    _fused_depth: int = 0

    def __post_init__(self) -> None:
        TorchDispatchMode.__init__(self)

    # --- storages -------------------------------------------------------------------------
    @property
    def next_block(self) -> int:
        """The id the next new storage will get."""
        return self._next_block

    def forget_ops(self) -> None:
        """Drop the ops recorded so far (and their indices in the events), as if none had been recorded."""
        self.ops.clear()
        self.events[:] = [e if e.op_index == 0 else dataclasses.replace(e, op_index=0) for e in self.events]

    @property
    def module(self) -> str:
        return self.module_stack[-1] if self.module_stack else ""

    def track(self, t: torch.Tensor, category: Category, *, host: bool = False) -> int | None:
        """Register the storage of ``t`` (if new); returns its block id."""
        st = t.untyped_storage()
        key = st._cdata
        if key in self._live:
            return self._live[key]
        if host:
            if key not in self._host:
                self._host.add(key)
                # forget the address when the storage dies: a device storage may reuse it
                weakref.finalize(st, self._host.discard, key)
            return None
        if key in self._host:
            return None
        block = self._next_block
        self._next_block += 1
        nbytes = int(st.nbytes())
        op_index = len(self.ops)
        self._live[key] = block
        self.blocks[block] = _Block(block, nbytes, category, self.phase, self.module, op_index)
        self.events.append(MemEvent(EventKind.ALLOC, block, nbytes, category, op_index, self.phase, self.module))
        weakref.finalize(st, self._on_free, key, block)
        return block

    def _on_free(self, key: int, block: int) -> None:
        if self._live.get(key) == block:
            del self._live[key]
        info = self.blocks.get(block)
        if info is None or not info.alive:
            return
        info.alive = False
        self.events.append(
            MemEvent(EventKind.FREE, block, info.nbytes, info.category, len(self.ops), self.phase, self.module)
        )

    def block_of(self, t: torch.Tensor) -> int | None:
        return self._live.get(t.untyped_storage()._cdata)

    def is_host(self, t: torch.Tensor) -> bool:
        return t.untyped_storage()._cdata in self._host

    def default_category(self) -> Category:
        if self.phase in (Phase.FORWARD, Phase.LOSS):
            return Category.ACTIVATION
        if self.phase is Phase.SETUP:
            return Category.INPUT
        return Category.TEMPORARY

    # --- fused kernels ----------------------------------------------------------------------
    @contextlib.contextmanager
    def fused(self, name: str, op_class: OpClass, *, flops: float, dtype: torch.dtype, bytes_in: int,
              bytes_out: int, shapes: tuple[tuple[int, ...], ...] = (), launches: int = 1,
              tensor_core_eligible: bool = True) -> Iterator[None]:
        """Ops run inside are one kernel of the target GPU (their allocations still count)."""
        if self._fused is None:
            self._fused = _Fused(name, op_class, flops, str(dtype).replace("torch.", ""), bytes_in, bytes_out,
                                 shapes, launches, tensor_core_eligible)
        self._fused_depth += 1
        try:
            yield
        finally:
            self._fused_depth -= 1
            if self._fused_depth == 0:
                f = self._fused
                self._fused = None
                if f is not None and self.recording_ops:
                    self.ops.append(OpRecord(len(self.ops), f.name, f.op_class, self.phase, self.module, f.dtype,
                                             f.flops, f.bytes_in, f.bytes_out, f.shapes, f.launches,
                                             f.tensor_core_eligible))

    # --- dispatch ---------------------------------------------------------------------------
    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = str(func)
        # In-place foreach ops (the optimizer's step) return nothing and allocate nothing: their effect on
        # fake tensors is nil, so they are recorded without running them (FakeTensor's per-tensor handling
        # of 100+ element lists was a quarter of a training trace).
        out = None if no_effect_on_fakes(func, name, args) else func(*args, **kwargs)
        outs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        ins = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        host_out = name in _HOST_SCALAR_FACTORIES and all(t.dim() == 0 for t in outs)
        if ins and not host_out and all(self.is_host(t) for t in ins):
            host_out = all(t.dim() == 0 for t in outs)  # scalar math on host tensors stays on the host
        category = self.default_category()
        for t in outs:
            self.track(t, category, host=host_out)
        if (self._fused is not None or not self.recording_ops or host_out or name in _NO_KERNEL_OPS
                or name.startswith(_NON_KERNEL_PREFIXES) or self.phase is Phase.SETUP):
            # no kernel on the GPU: bookkeeping ops, and the step's inputs (created by the data
            # loader and copied in, not computed) — their memory is tracked above, their time is not
            return out
        self.ops.append(self.op_record(func, name, args, kwargs, out, ins, outs))
        return out

    def op_record(self, func: Any, name: str, args: Any, kwargs: Any, out: Any, ins: list[torch.Tensor],
                  outs: list[torch.Tensor]) -> OpRecord:
        """The record of one aten op that launches a kernel, as the next op of the step."""
        op_class = classify_op(func, ins, outs)
        dtype = _compute_dtype(ins, outs)
        flops = count_flops(func, args, kwargs, out)
        bytes_in = sum(_tensor_bytes(t) for t in ins) if op_class is not OpClass.VIEW else 0
        bytes_out = sum(_tensor_bytes(t) for t in outs) if op_class is not OpClass.VIEW else 0
        if name == "aten.embedding.default" and len(ins) == 2:
            bytes_in = _tensor_bytes(ins[1]) + bytes_out  # a gather reads the indices and the rows it returns
        shapes = tuple(tuple(t.shape) for t in ins[:3])
        tc = op_class in (OpClass.MATMUL, OpClass.CONV)
        launches = 0 if op_class is OpClass.VIEW else _launches(name, ins)
        return OpRecord(len(self.ops), name, op_class, self.phase, self.module, dtype, float(flops), bytes_in,
                        bytes_out, shapes, launches, tc)


def no_effect_on_fakes(func: Any, name: str, args: Any) -> bool:
    """An in-place ``aten._foreach_*_`` op (it mutates its first list and returns nothing) on value-less fake
    tensors: running it changes nothing a trace can see, so it is skipped. Real tensors and fake tensors that
    carry a known value (e.g. the optimizer's step counters, which the next step reads with ``.item()``)
    are updated for real."""
    if not name.startswith("aten._foreach_"):
        return False
    schema = func._schema
    if schema.returns or not schema.arguments or schema.arguments[0].alias_info is None:
        return False
    first = args[0] if args else None
    return isinstance(first, (list, tuple)) and all(
        isinstance(t, FakeTensor) and t.constant is None for t in first)


class SkipInplaceForeach(TorchDispatchMode):
    """In-place foreach ops on fake tensors do nothing (the optimizer's warm-up step, outside the recorder)."""

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if no_effect_on_fakes(func, str(func), args):
            return None
        return func(*args, **(kwargs or {}))


def _tensor_bytes(t: torch.Tensor) -> int:
    return int(t.numel()) * t.element_size()


def _compute_dtype(ins: list[torch.Tensor], outs: list[torch.Tensor]) -> str:
    for t in ins + outs:
        if t.is_floating_point():
            return str(t.dtype).replace("torch.", "")
    t0 = (ins + outs)[0] if (ins or outs) else None
    return str(t0.dtype).replace("torch.", "") if t0 is not None else "none"


def _launches(name: str, ins: list[torch.Tensor]) -> int:
    """Kernel launches of one aten op on CUDA: foreach ops launch one kernel per chunk of tensors."""
    if name.startswith("aten._foreach_"):
        # multi_tensor_apply packs up to 110 tensors per launch (depth-1 lists); ~24 for depth 4
        return max(1, -(-len(ins) // 48))
    return 1
