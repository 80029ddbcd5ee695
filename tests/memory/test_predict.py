"""predict_memory: totals, fit verdicts, breakdown; BatchScaler and largest_fitting_batch."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from gpuplan.catalog import get_gpu
from gpuplan.memory.allocator import OutOfMemory
from gpuplan.memory.batch import BatchScaler, largest_fitting_batch
from gpuplan.memory.predict import ReplayMemo, predict_memory, replay
from gpuplan.trace import trace_workload
from gpuplan.trace.records import Trace
from gpuplan.workload.spec import Mode, Workload

MiB = 1 << 20


@pytest.fixture(scope="module")
def lenet_trace() -> Trace:
    return trace_workload(Workload("lenet5", batch=64))


def test_device_total_is_context_plus_peak_reserved(lenet_trace: Trace) -> None:
    r = predict_memory(lenet_trace, get_gpu("GTX 760"))
    assert r.device_total_bytes == r.context_bytes + r.peak_reserved_bytes
    assert r.peak_reserved_bytes >= r.peak_allocated_bytes > 0
    assert r.peak_reserved_bytes % (2 * MiB) == 0  # whole segments
    assert r.fits is True
    assert r.headroom_bytes == r.capacity_bytes - r.device_total_bytes
    assert r.headroom_bytes > 0


def test_context_override(lenet_trace: Trace) -> None:
    r = predict_memory(lenet_trace, get_gpu("GTX 760"), context_bytes=100 * MiB)
    assert r.context_bytes == 100 * MiB
    assert r.breakdown["cuda_context"] == 100 * MiB
    assert r.device_total_bytes == 100 * MiB + r.peak_reserved_bytes


def test_breakdown_non_negative_with_context(lenet_trace: Trace) -> None:
    r = predict_memory(lenet_trace, get_gpu("RTX 3060 12GB"))
    assert "cuda_context" in r.breakdown
    assert all(v >= 0 for v in r.breakdown.values())
    for key in ("parameters", "gradients", "optimizer_state", "workspaces", "allocator_overhead"):
        assert key in r.breakdown
    # everything but the context is what the allocator reserved at its peak
    assert sum(v for k, v in r.breakdown.items() if k != "cuda_context") <= r.peak_reserved_bytes + 0
    assert r.breakdown["parameters"] >= 4 * 61_706


def test_training_workspaces_two_cublas_handles(lenet_trace: Trace) -> None:
    r = predict_memory(lenet_trace, get_gpu("RTX 3060 12GB"))
    ws = 4096 * 1024 * 2 + 16 * 1024 * 8
    assert r.workspace_bytes == 2 * ws  # forward thread + autograd thread


def test_infer_one_workspace() -> None:
    t = trace_workload(Workload("mlp", batch=8, mode=Mode.INFER))
    r = predict_memory(t, get_gpu("RTX 3060 12GB"))
    assert r.workspace_bytes == 4096 * 1024 * 2 + 16 * 1024 * 8
    assert r.breakdown.get("gradients", 0) == 0


def test_headroom_sign_matches_fits_when_too_small(lenet_trace: Trace) -> None:
    gpu = get_gpu("GTX 760")
    # a context that leaves less than the step needs
    ctx = (gpu.memory_bytes or 0) - 4 * MiB
    r = predict_memory(lenet_trace, gpu, context_bytes=ctx)
    assert r.fits is False
    assert r.headroom_bytes is not None and r.headroom_bytes < 0


def test_timeline_is_downsampled(lenet_trace: Trace) -> None:
    r = predict_memory(lenet_trace, get_gpu("RTX 3060 12GB"))
    assert 0 < len(r.timeline) <= 201
    assert max(p.reserved_bytes for p in r.timeline) <= r.peak_reserved_bytes
    assert all(p.allocated_bytes <= p.reserved_bytes for p in r.timeline)


@pytest.mark.slow
def test_resnet50_b64_does_not_fit_gtx760() -> None:
    t = trace_workload(Workload("resnet50", batch=64))
    r = predict_memory(t, get_gpu("GTX 760"), with_timeline=False)
    assert r.fits is False
    assert r.headroom_bytes is not None and r.headroom_bytes < 0
    assert r.device_total_bytes > (r.capacity_bytes or 0)
    # weights + grads + AdamW state alone: 16 B per parameter
    assert r.peak_allocated_bytes > 16 * 25_557_032


# --- largest batch ---------------------------------------------------------------------------

@pytest.mark.parametrize("limit", [1, 2, 3, 37, 64, 1000, 4097])
def test_largest_fitting_batch_threshold(limit: int) -> None:
    assert largest_fitting_batch(lambda b: b <= limit) == limit


def test_largest_fitting_batch_zero_when_nothing_fits() -> None:
    assert largest_fitting_batch(lambda b: False) == 0
    assert largest_fitting_batch(lambda b: False, start=16) == 0


def test_largest_fitting_batch_respects_cap() -> None:
    assert largest_fitting_batch(lambda b: True, cap=100) == 100
    assert largest_fitting_batch(lambda b: b <= 500, cap=100) == 100


def test_largest_fitting_batch_start_above_answer() -> None:
    assert largest_fitting_batch(lambda b: b <= 5, start=64) == 5


def test_largest_fitting_batch_log_calls() -> None:
    calls: list[int] = []

    def fits(b: int) -> bool:
        calls.append(b)
        return b <= 3000

    assert largest_fitting_batch(fits) == 3000
    assert len(calls) <= 2 * 13 + 2


@contextmanager
def _no_gc() -> Iterator[None]:
    """Fewer sources of variation between traces (see test_trace_is_deterministic_under_gc)."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _event_keys(t: Trace) -> list[tuple[object, ...]]:
    return [(e.kind, e.block, e.nbytes, e.category) for e in t.events]


def test_trace_is_deterministic_under_gc() -> None:
    keys = [_event_keys(trace_workload(Workload("mlp", batch=2))) for _ in range(10)]
    assert all(k == keys[0] for k in keys)


def _stable_trace(w: Workload, n: int) -> Trace:
    """Most frequent event list of n traces (works around the non-determinism bug above)."""
    traces = [trace_workload(w) for _ in range(n)]
    return max(traces, key=lambda t: sum(_event_keys(t) == _event_keys(u) for u in traces))


def test_batch_scaler_matches_real_trace_for_mlp() -> None:
    w = Workload("mlp", batch=1)
    with _no_gc():
        scaler = BatchScaler(lambda x: _stable_trace(x, 5), w)
        reals = {b: _stable_trace(w.with_batch(b), 5) for b in (7, 33)}
    if not scaler.affine or any(len(r.events) != len(scaler.t1.events) for r in reals.values()):
        pytest.fail("traces of one workload at two batches do not line up event by event")
    for b, real in reals.items():
        predicted = scaler.at(b)
        assert predicted.batch == b
        assert _event_keys(predicted) == _event_keys(real)


def test_batch_scaler_prediction_matches_real_memory() -> None:
    w = Workload("lenet5", batch=1)
    with _no_gc():
        scaler = BatchScaler(lambda x: _stable_trace(x, 5), w)
        real = _stable_trace(w.with_batch(100), 5)
    gpu = get_gpu("RTX 3060 12GB")
    a = predict_memory(scaler.at(100), gpu, with_timeline=False)
    b = predict_memory(real, gpu, with_timeline=False)
    assert a.peak_allocated_bytes == b.peak_allocated_bytes
    assert a.peak_reserved_bytes == b.peak_reserved_bytes


@pytest.mark.parametrize("gpu_name", ["GTX 760", "GTX 1060 3GB", "RTX 3060 12GB"])
def test_batch_fit_search_matches_brute_force_at_the_boundary(gpu_name: str) -> None:
    """The interpolating search returns b with fits(b) and not fits(b + 1), as the replay decides."""
    from gpuplan.memory.allocator import OutOfMemory
    from gpuplan.memory.batch import BatchFitSearch
    from gpuplan.memory.predict import replay

    gpu = get_gpu(gpu_name)
    scaler = BatchScaler(trace_workload, Workload("cifar_cnn", batch=1))
    limit = 40 * MiB if gpu_name == "GTX 760" else 300 * MiB  # small limits: boundary at modest batches
    search = BatchFitSearch(scaler)
    best = search.largest(gpu, limit)

    def fits(b: int) -> bool:
        try:
            replay(scaler.memory_at(b), gpu, limit=limit)
        except OutOfMemory:
            return False
        return True

    assert best > 1
    assert fits(best)
    assert not fits(best + 1)
    calls = 0

    def counted(b: int) -> bool:
        nonlocal calls
        calls += 1
        return fits(b)

    assert largest_fitting_batch(counted) == best
    # few replays per GPU (the catalog-wide saving comes from sharing them: benchmarks/bench_memory.py)
    assert search.replays <= 2 * calls


def test_batch_fit_search_zero_when_batch_one_does_not_fit() -> None:
    from gpuplan.memory.batch import BatchFitSearch

    scaler = BatchScaler(trace_workload, Workload("mlp", batch=1))
    assert BatchFitSearch(scaler).largest(get_gpu("GTX 760"), limit=1024) == 0


@pytest.mark.parametrize("limit_mib", [None, 8, 22, 24, 1024])  # lenet5 at 64: 21.1 MiB allocated, 24 reserved
def test_replay_memo_answers_as_replay(lenet_trace: Trace, limit_mib: int | None) -> None:
    """A memo's answer to every question (fits under a limit or not, and the allocator's peaks) is the one a
    fresh replay gives, whichever question was asked first."""
    gpu = get_gpu("GTX 760")
    limit = None if limit_mib is None else limit_mib * 2**20

    def answer(fn: Callable[..., Any]) -> tuple[int, int] | str:
        try:
            st = fn(lenet_trace, gpu, limit=limit).allocator.stats
        except OutOfMemory:
            return "out of memory"
        return st.peak_allocated, st.peak_reserved

    expected = answer(replay)
    free_first = ReplayMemo()
    free_first(lenet_trace, gpu)
    limited_first = ReplayMemo()
    assert answer(free_first) == answer(limited_first) == expected
    assert answer(limited_first) == expected


def test_replay_memo_replays_each_question_once(lenet_trace: Trace) -> None:
    gpu = get_gpu("GTX 760")
    memo = ReplayMemo()
    free = memo(lenet_trace, gpu)
    peak = free.allocator.stats.peak_reserved
    assert memo(lenet_trace, gpu) is free
    assert memo(lenet_trace, gpu, limit=peak) is free  # the limit is never met: the same run
    with pytest.raises(OutOfMemory):  # below the peak of live memory: no run fits
        memo(lenet_trace, gpu, limit=free.allocator.stats.peak_allocated - 1)
    assert memo.replays == 1
    m = predict_memory(lenet_trace, gpu, replay_fn=memo, with_timeline=False)
    assert m == predict_memory(lenet_trace, gpu, with_timeline=False)
    assert memo.replays == 1
