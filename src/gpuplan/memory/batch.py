"""Largest batch that fits: memory is affine in the batch size event by event, so two traces give
every batch; a search replays the allocator (sharing replays between GPUs), and for a few GPUs a
last real trace checks the answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gpuplan.trace.records import MemEvent, Trace
from gpuplan.workload.spec import Workload

if TYPE_CHECKING:
    from gpuplan.catalog.types import GPU

MAX_BATCH = 1 << 16
PROBE_BATCH = 64  # second point of the allocated-memory extrapolation in BatchFitSearch


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

    def _events_at(self, batch: int) -> list[MemEvent]:
        d = self.b2 - self.b1
        events = []
        for a, b in zip(self.t1.events, self.t2.events, strict=True):
            slope = (b.nbytes - a.nbytes) / d
            n = max(0, round(a.nbytes + slope * (batch - self.b1)))
            events.append(MemEvent(a.kind, a.block, n, a.category, a.op_index, a.phase, a.module, a.stream))
        return events

    def memory_at(self, batch: int) -> Trace:
        """A trace whose events are right at ``batch`` but whose ops are not scaled (enough for the
        allocator replay, cheaper than :meth:`at`)."""
        if batch in self._cache or not self.affine:
            return self.at(batch)
        return dataclasses.replace(self.t1, events=self._events_at(batch), batch=batch)

    def at(self, batch: int) -> Trace:
        if batch in self._cache:
            return self._cache[batch]
        if not self.affine:
            t = self.trace_fn(self.workload.with_batch(batch))
        else:
            d = self.b2 - self.b1
            ops = []
            for a, b in zip(self.t1.ops, self.t2.ops, strict=True):
                f = (batch - self.b1) / d
                ops.append(dataclasses.replace(
                    b, flops=max(0.0, a.flops + (b.flops - a.flops) * f),
                    bytes_in=max(0, round(a.bytes_in + (b.bytes_in - a.bytes_in) * f)),
                    bytes_out=max(0, round(a.bytes_out + (b.bytes_out - a.bytes_out) * f)),
                    shapes=tuple((batch, *s[1:]) if s and s[0] == self.b2 else s for s in b.shapes)))
            t = dataclasses.replace(self.t1, events=self._events_at(batch), ops=ops, batch=batch)
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
    return _bisect(fits, lo, hi)


class BatchFitSearch:
    """Largest batch that fits, for many GPUs at once, with few allocator replays.

    A replay without a memory limit depends on the GPU only through the cuBLAS workspace size, so its
    peaks are shared by every GPU: ``fits`` is decided from them (peak reserved under the limit: fits;
    peak allocated over it: cannot fit) and only the band in between needs a replay against the card's
    limit (the allocator releasing its cache under pressure). ``fits`` is assumed monotone in the batch.
    """

    def __init__(self, scaler: BatchScaler, replay_fn: Callable[..., Any] | None = None) -> None:
        self.scaler = scaler
        self._replay_fn = replay_fn  # default: gpuplan.memory.predict.replay (e.g. a search's ReplayMemo)
        self._peaks: dict[tuple[int, int], tuple[int, int]] = {}
        self._limited: dict[tuple[int, int, int], bool] = {}
        self.replays = 0

    def peaks(self, batch: int, gpu: GPU) -> tuple[int, int]:
        """(peak allocated, peak reserved) of ``batch`` with no memory limit."""
        from gpuplan.memory.context import cublas_workspace_bytes
        from gpuplan.memory.predict import replay

        key = (batch, cublas_workspace_bytes(gpu))
        if key not in self._peaks:
            st = (self._replay_fn or replay)(self.scaler.memory_at(batch), gpu).allocator.stats
            self.replays += 1
            self._peaks[key] = (st.peak_allocated, st.peak_reserved)
        return self._peaks[key]

    def fits(self, batch: int, gpu: GPU, limit: int) -> bool:
        """Does ``batch`` run within ``limit`` bytes of allocator memory on ``gpu``?"""
        from gpuplan.memory.allocator import OutOfMemory
        from gpuplan.memory.context import cublas_workspace_bytes
        from gpuplan.memory.predict import replay

        ws = cublas_workspace_bytes(gpu)
        if (batch, ws) in self._peaks:  # an unlimited replay (shared by all GPUs) may already decide
            allocated, reserved = self._peaks[(batch, ws)]
            if reserved <= limit:
                return True
            if allocated > limit:
                return False
        key = (batch, ws, limit)
        if key not in self._limited:
            self.replays += 1
            try:
                (self._replay_fn or replay)(self.scaler.memory_at(batch), gpu, limit=limit)
                self._limited[key] = True
            except OutOfMemory:
                self._limited[key] = False
        return self._limited[key]

    def largest(self, gpu: GPU, limit: int, cap: int = MAX_BATCH) -> int:
        """Largest batch in [1, cap] that fits within ``limit`` (0 when batch 1 does not).

        Near the limit the allocator releases its cache, so what decides is the peak *allocated*
        memory plus fragmentation: extrapolate the allocated peak (nearly affine in the batch) from
        batch 1 and a probe batch shared by every GPU, then gallop from that guess and bisect."""
        if not self.fits(1, gpu, limit):
            return 0
        probe = min(cap, PROBE_BATCH)
        a1, a2 = self.peaks(1, gpu)[0], self.peaks(probe, gpu)[0]
        slope = (a2 - a1) / (probe - 1) if probe > 1 else 0.0
        guess = cap if slope <= 0 else 1 + int((limit - a1) / slope)
        return _last_true(lambda b: self.fits(b, gpu, limit), 1, cap + 1, guess)


def _last_true(pred: Callable[[int], bool], lo: int, hi: int, guess: int) -> int:
    """Last b in [lo, hi) with pred(b), given pred(lo) and not pred(hi) and a monotone pred.

    Gallops from ``guess`` (cheap when the guess is close), then bisects."""
    guess = min(hi - 1, max(lo + 1, guess))
    if lo < guess < hi:
        step = 1
        if pred(guess):
            lo = guess
            while lo + step < hi:
                if not pred(lo + step):
                    hi = lo + step
                    break
                lo, step = lo + step, step * 2
        else:
            hi = guess
            while hi - step > lo:
                if pred(hi - step):
                    lo = hi - step
                    break
                hi, step = hi - step, step * 2
    return _bisect(pred, lo, hi)


def _bisect(pred: Callable[[int], bool], lo: int, hi: int) -> int:
    """Last b in [lo, hi) with pred(b), given pred(lo) (or lo a sentinel) and not pred(hi), pred monotone."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pred(mid):
            lo = mid
        else:
            hi = mid
    return lo
