"""Shared by the compare and recommend CLI tests: pinned price dates and deterministic fit records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def pinned_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Today's date pinned (stale flags), no user price file, English."""
    monkeypatch.setattr("gpuplan.catalog.prices.current_date", lambda: dt.date(2026, 11, 21))
    monkeypatch.delenv("GPUPLAN_PRICES", raising=False)
    monkeypatch.delenv("GPUPLAN_LANG", raising=False)


def stand_in_fit(gpu: Any, batch: int | None = None) -> Any:
    """Deterministic stand-in for a fit record: largest batch 10 per GiB, 20 samples/s per FP32 TFLOPS."""
    from gpuplan.api import FitResult, GPUSummary
    from gpuplan.memory.predict import MemoryResult
    from gpuplan.timing import TimeResult

    best = int((gpu.memory_gib or 0) * 10)
    b = batch or max(1, best)
    sps = (gpu.fp32_tflops or 1.0) * 20 * (b / max(1, best)) ** 0.25
    mem = MemoryResult(peak_allocated_bytes=1, peak_reserved_bytes=1, device_total_bytes=1,
                       capacity_bytes=gpu.memory_bytes, headroom_bytes=1, fits=best > 0, breakdown={},
                       top_modules=[], timeline=[], context_bytes=0, workspace_bytes=0)
    t = TimeResult(gpu=gpu.name, precision="fp32", batch=b, forward_seconds=None, backward_seconds=None,
                   optimizer_seconds=None, step_seconds=b / sps, samples_per_second=sps, bound="compute")
    return FitResult(gpu=GPUSummary(gpu.name, gpu.vendor, gpu.architecture, gpu.compute_capability,
                                    gpu.memory_bytes), model="fake", mode="train", precision="fp32",
                     optimizer="adamw", batch=b, grad_accum=1, fits=best > 0, memory=mem, max_batch_size=best,
                     time=t)


@pytest.fixture
def fake_fit() -> Callable[..., Any]:
    """Model numbers that do not move when the memory or timing model is refitted (for golden text)."""
    return stand_in_fit
