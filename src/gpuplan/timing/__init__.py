"""Speed engine: time one traced step on any catalog GPU.

    >>> from gpuplan.timing import predict_time, rate_for
    >>> res = predict_time(trace, gpu, "amp-fp16")          # doctest: +SKIP
    >>> res.step_seconds, res.samples_per_second, res.bound  # doctest: +SKIP

Model, constants and their fit: ``model.py``, ``constants.json``, ``scripts/fit_timing.py``;
accuracy: ``docs/speed-accuracy.md``.
"""

from __future__ import annotations

from gpuplan.timing.generate import GenerateTimeResult, predict_generate_time
from gpuplan.timing.model import (
    Bound,
    OpArrays,
    Rate,
    TimeResult,
    TimingConstants,
    TopOp,
    Unit,
    default_constants,
    op_arrays,
    precision_notes,
    predict_arrays,
    predict_many,
    predict_time,
    rate_for,
)

__all__ = [
    "Bound",
    "GenerateTimeResult",
    "OpArrays",
    "Rate",
    "TimeResult",
    "TimingConstants",
    "TopOp",
    "Unit",
    "default_constants",
    "op_arrays",
    "precision_notes",
    "predict_arrays",
    "predict_generate_time",
    "predict_many",
    "predict_time",
    "rate_for",
]
