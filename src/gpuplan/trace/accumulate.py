"""The second micro-step of gradient accumulation, derived from the first instead of traced again.

With ``grad_accum >= 2`` a trace holds two micro-steps (the second meets the gradients the first left)
and the optimizer step. The second micro-step runs the same ops on the same shapes as the first; the only
difference is in each trainable parameter's ``AccumulateGrad``:

* first micro-step, no gradient yet: the incoming gradient is **stolen** (it becomes ``p.grad``, no copy),
  or, when PyTorch cannot steal it (another reference holds it, or its strides break the layout contract),
  **cloned** into a new ``p.grad`` block;
* second micro-step: ``p.grad += incoming`` (one in-place ``aten.add_`` kernel, no allocation), and the
  incoming gradient is freed as soon as ``AccumulateGrad`` is done with it (the clone's source was freed
  at that point already).

So the tracer runs one micro-step with hooks around every ``AccumulateGrad`` (a tensor hook before it, a
post-accumulate hook after it: :class:`AccumulationMarks`) and :func:`second_micro_step` writes the second
one: every storage again under a new block id, the clone allocations and their ops dropped, an ``add_`` op
and the free of the incoming gradient put where ``AccumulateGrad`` runs. Events, block ids, op indices and
ops come out as tracing both micro-steps gives them (tests compare the two on MLP, CNN, RNN, transformer
and LLM workloads, with mixed precision, checkpointing, LoRA and kept gradients). A step the rules do not
cover (a storage of the micro-step other than a gradient outliving it, a parameter accumulated twice,
anything unexpected inside ``AccumulateGrad``) gives None, and the tracer traces both micro-steps.

Saves one forward and backward pass per accumulation trace (about a quarter of the trace's time).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from gpuplan.trace.recorder import Recorder
from gpuplan.trace.records import Category, EventKind, MemEvent, OpRecord, Phase

_ADD = "aten.add_.Tensor"  # what `p.grad += incoming` dispatches


@dataclass
class AccumulationMark:
    """One parameter's ``AccumulateGrad`` in the traced micro-step (positions in the recorder's lists)."""

    param: int
    had_grad: bool  # the parameter held a gradient already (it accumulates in both micro-steps)
    events_before: int
    ops_before: int
    use_count: int  # references to the incoming gradient as it reaches AccumulateGrad
    events_after: int = -1
    ops_after: int = -1
    grad_block: int | None = None
    module: str = ""
    add_op: OpRecord | None = None  # the in-place add the second micro-step runs here


class AccumulationMarks:
    """Hooks that mark where each trainable parameter's ``AccumulateGrad`` runs during a micro-step."""

    def __init__(self, rec: Recorder, params: list[torch.nn.Parameter]) -> None:
        self.rec = rec
        self.params = params
        self.marks: list[AccumulationMark] = []
        self._open: dict[int, AccumulationMark] = {}
        self._handles: list[Any] = []
        self.anomaly = False

    def _before(self, i: int) -> Callable[[torch.Tensor], None]:
        def hook(grad: torch.Tensor) -> None:  # keeps no reference: PyTorch steals only unshared gradients
            if i in self._open:
                self.anomaly = True
            p = self.params[i]
            self._open[i] = AccumulationMark(i, p.grad is not None, len(self.rec.events), len(self.rec.ops),
                                             grad._use_count())
        return hook

    def _after(self, i: int) -> Callable[[torch.Tensor], None]:
        def hook(p: torch.Tensor) -> None:
            m = self._open.pop(i, None)
            if m is None or p.grad is None:
                self.anomaly = True
                return
            g = p.grad
            m.events_after, m.ops_after = len(self.rec.events), len(self.rec.ops)
            m.grad_block, m.module = self.rec.block_of(g), self.rec.module
            m.add_op = self.rec.op_record(torch.ops.aten.add_.Tensor, _ADD, (g, g), {}, g, [g, g], [g])
            self.marks.append(m)
        return hook

    def __enter__(self) -> AccumulationMarks:
        for i, p in enumerate(self.params):
            self._handles.append(p.register_hook(self._before(i)))
            self._handles.append(p.register_post_accumulate_grad_hook(self._after(i)))
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the hooks (a micro-step traced after this one runs without them)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
        if self._open:
            self.anomaly = True


@dataclass(frozen=True)
class StepSpan:
    """Where the traced micro-step sits in the recorder's lists."""

    events_start: int  # first event of the micro-step (after the setup)
    events_end: int  # first event of the optimizer step
    ops_end: int  # ops of the micro-step (the ops list starts with it)
    next_block: int  # first block id after the micro-step's


@dataclass
class SecondStepPlan:
    """How the second micro-step differs from the traced one (see the module docstring)."""

    span: StepSpan
    adds: list[AccumulationMark]  # AccumulateGrads that add in the second micro-step, in order
    stolen: set[int]  # parameters whose incoming gradient is freed right after it is added
    dropped_events: set[int]  # the clones' allocations (absolute event indices)
    dropped_ops: set[int]  # the clones' ops


def _usual_use_count(marks: list[AccumulationMark]) -> int | None:
    """The reference count an unshared incoming gradient has in this PyTorch (most gradients are unshared:
    the count held by a majority of the parameters), or None when no count is held by most."""
    counts: dict[int, int] = {}
    for m in marks:
        counts[m.use_count] = counts.get(m.use_count, 0) + 1
    usual = max(counts, key=lambda c: counts[c], default=None)
    return usual if usual is not None and 2 * counts[usual] > len(marks) else None


def plan_second_micro_step(events: list[MemEvent], marks: AccumulationMarks, span: StepSpan,
                           grad_blocks: set[int]) -> SecondStepPlan | None:
    """Right after the traced micro-step: the plan of the second one, or None when it must be traced.

    ``grad_blocks``: blocks of the parameters' gradients now."""
    if marks.anomaly or marks._open:
        return None
    first = events[span.events_start:span.events_end]
    allocated_at = {e.block: span.events_start + i for i, e in enumerate(first) if e.kind is EventKind.ALLOC}
    freed = {e.block for e in first if e.kind is EventKind.FREE}
    if not freed <= allocated_at.keys() or not (allocated_at.keys() - freed) <= grad_blocks:
        return None  # the micro-step frees older storages or keeps one that is not a gradient
    fresh = [m for m in marks.marks if not m.had_grad]
    usual = _usual_use_count(fresh)
    seen: set[int] = set()
    plan = SecondStepPlan(span, [], set(), set(), set())
    for m in sorted(marks.marks, key=lambda m: (m.events_after, m.ops_after)):
        if m.param in seen or m.grad_block is None or m.add_op is None:
            return None
        seen.add(m.param)
        if m.had_grad:
            continue  # accumulates in the traced micro-step too: the add is in it already
        if m.use_count != usual:
            # the incoming gradient is shared with another consumer (e.g. a parameter added to an activation
            # of its own shape): when it dies in the second micro-step is not seen in the first
            return None
        inside = range(m.events_before, m.events_after)
        at = allocated_at.get(m.grad_block)
        if at is not None and at < m.events_before and not inside and m.ops_after == m.ops_before:
            plan.stolen.add(m.param)
        elif len(inside) == 1 and at == m.events_before:
            plan.dropped_events.add(at)  # the clone: the second micro-step adds into it instead
            plan.dropped_ops.update(range(m.ops_before, m.ops_after))
        else:
            return None
        plan.adds.append(m)
    return plan


def second_micro_step(events: list[MemEvent], ops: list[OpRecord], plan: SecondStepPlan, grad_blocks: set[int],
                      category_before: Callable[[int], Category]) -> tuple[list[MemEvent], list[OpRecord]]:
    """Events and ops of setup + two micro-steps + optimizer from the trace of setup + one micro-step +
    optimizer (categories final) and the plan made right after the micro-step.

    ``category_before(block)``: a block's category before gradients were marked (a stolen gradient's
    second-step counterpart is a temporary)."""
    span = plan.span
    allocated_at = {e.block: span.events_start + i for i, e in enumerate(events[span.events_start:span.events_end])
                    if e.kind is EventKind.ALLOC}
    # the second micro-step's ops: the first's without the clones, with an add where each AccumulateGrad ran
    add_at: dict[int, list[OpRecord]] = {}
    for m in plan.adds:
        assert m.add_op is not None
        add_at.setdefault(m.ops_after, []).append(m.add_op)
    second_ops: list[OpRecord] = []
    for k in range(span.ops_end + 1):
        second_ops += add_at.get(k, [])
        if k < span.ops_end and k not in plan.dropped_ops:
            second_ops.append(ops[k])
    dropped_before = [0] * (span.ops_end + 2)  # dropped ops among the first k
    for k in range(span.ops_end + 1):
        dropped_before[k + 1] = dropped_before[k] + (k in plan.dropped_ops)

    def op_index(k: int, added: int) -> int:
        return k - dropped_before[min(k, span.ops_end)] + added

    new_id: dict[int, int] = {}
    next_id = span.next_block
    second: list[MemEvent] = []
    added = 0  # adds the second micro-step has run so far
    pending = iter(plan.adds)
    m_next = next(pending, None)
    for i in range(span.events_start, span.events_end + 1):
        while m_next is not None and m_next.events_after <= i:  # AccumulateGrads that ran before event i
            added += 1
            if m_next.param in plan.stolen and m_next.grad_block is not None:
                g = m_next.grad_block  # incoming gradient: freed once added into p.grad
                second.append(MemEvent(EventKind.FREE, new_id[g], events[allocated_at[g]].nbytes,
                                       category_before(g), op_index(m_next.ops_after, added), Phase.BACKWARD,
                                       m_next.module))
            m_next = next(pending, None)
        if i == span.events_end or i in plan.dropped_events:
            continue
        e = events[i]
        if e.kind is EventKind.ALLOC:
            new_id[e.block] = next_id
            next_id += 1
        cat = category_before(e.block) if e.block in grad_blocks else e.category
        second.append(dataclasses.replace(e, block=new_id[e.block], category=cat, op_index=op_index(e.op_index, added)))
    shift = next_id - span.next_block
    extra_ops = len(second_ops) - span.ops_end
    rest = [dataclasses.replace(e, block=e.block + shift if e.block >= span.next_block else e.block,
                                op_index=e.op_index + extra_ops) for e in events[span.events_end:]]
    first_copy = [e if e.op_index == 0 else dataclasses.replace(e, op_index=0)
                  for e in events[span.events_start:span.events_end]]
    all_ops = second_ops + ops[span.ops_end:]
    all_ops = [op if op.index == i else dataclasses.replace(op, index=i) for i, op in enumerate(all_ops)]
    return events[:span.events_start] + first_copy + second + rest, all_ops
