"""Largest batch that fits: memory is affine in the batch size event by event, so two traces give
every batch; a binary search replays the allocator, and a last real trace checks the answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from gpuplan.trace.records import MemEvent, Trace
from gpuplan.workload.spec import Workload

MAX_BATCH = 1 << 16


@dataclasses.dataclass
class BatchScaler:
    """Traces of a workload at any batch, from two real traces (b1 < b2) when their events line up."""

    trace_fn: Callable[[Workload], Trace]
    workload: Workload
    b1: int = 2
    b2: int = 4

    def __post_init__(self) -> None:
        self.t1 = self.trace_fn(self.workload.with_batch(self.b1))
        self.t2 = self.trace_fn(self.workload.with_batch(self.b2))
        e1, e2 = self.t1.events, self.t2.events
        self.affine = len(e1) == len(e2) and all(
            a.kind == b.kind and a.block == b.block and a.category == b.category for a, b in zip(e1, e2, strict=True)
        ) and len(self.t1.ops) == len(self.t2.ops) and all(
            a.name == b.name for a, b in zip(self.t1.ops, self.t2.ops, strict=True))
        self._cache: dict[int, Trace] = {self.b1: self.t1, self.b2: self.t2}

    def at(self, batch: int) -> Trace:
        if batch in self._cache:
            return self._cache[batch]
        if not self.affine:
            t = self.trace_fn(self.workload.with_batch(batch))
        else:
            d = self.b2 - self.b1
            events = []
            for a, b in zip(self.t1.events, self.t2.events, strict=True):
                slope = (b.nbytes - a.nbytes) / d
                n = max(0, round(a.nbytes + slope * (batch - self.b1)))
                events.append(MemEvent(a.kind, a.block, n, a.category, a.op_index, a.phase, a.module, a.stream))
            ops = []
            for a, b in zip(self.t1.ops, self.t2.ops, strict=True):
                f = (batch - self.b1) / d
                ops.append(dataclasses.replace(
                    b, flops=max(0.0, a.flops + (b.flops - a.flops) * f),
                    bytes_in=max(0, round(a.bytes_in + (b.bytes_in - a.bytes_in) * f)),
                    bytes_out=max(0, round(a.bytes_out + (b.bytes_out - a.bytes_out) * f)),
                    shapes=tuple((batch, *s[1:]) if s and s[0] == self.b2 else s for s in b.shapes)))
            t = dataclasses.replace(self.t1, events=events, ops=ops, batch=batch)
        self._cache[batch] = t
        return t

    def real(self, batch: int) -> Trace:
        t = self.trace_fn(self.workload.with_batch(batch))
        self._cache[batch] = t
        return t


def largest_fitting_batch(fits: Callable[[int], bool], start: int = 1, cap: int = MAX_BATCH) -> int:
    """Largest b in [1, cap] with fits(b), assuming fits is monotone (0 when even 1 does not fit)."""
    if not fits(start):
        lo, hi = 0, start
    else:
        lo, hi = start, start * 2
        while hi <= cap and fits(hi):
            lo, hi = hi, hi * 2
        hi = min(hi, cap + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo
