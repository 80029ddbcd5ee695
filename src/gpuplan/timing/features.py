"""Batch-affine op tables: the calibration traces in a form that is cheap to store and evaluate.

For a fixed model, precision and mode, the op sequence of a step does not depend on the batch size and
each op's FLOPs and bytes are affine in the batch (weights and optimizer state are constant,
activations scale). So two traces (batches ``b1 < b2``) give every batch::

    flops(B) = f0 + f1 * B,   bytes(B) = y0 + y1 * B

Ops are de-duplicated into a table of distinct kinds plus the op order as indices into that table,
which keeps ``calibration_features.json`` small while the scheduler still sees ops in program order.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from gpuplan.timing.model import _CLASS_IDS, _PHASE_IDS, OpArrays, op_arrays
from gpuplan.trace.records import OpClass, Phase, Trace

FEATURES_FILE = "calibration_features.json"


class OpSequenceMismatchError(ValueError):
    """The two traces do not run the same ops (the batch-affine assumption fails)."""


def _sig(a: OpArrays, i: int) -> tuple[Any, ...]:
    return (a.names[i], int(a.op_class[i]), int(a.phase[i]), str(a.dtype[i]), bool(a.tensor_ok[i]))


def affine_table(t1: Trace, t2: Trace) -> dict[str, Any]:
    """Compress two traces of the same workload at two batches into a batch-affine op table."""
    a, b = op_arrays(t1.ops), op_arrays(t2.ops)
    if len(a) != len(b):
        raise OpSequenceMismatchError(f"{len(a)} vs {len(b)} ops at batches {t1.batch}, {t2.batch}")
    db = float(t2.batch - t1.batch)
    kinds: dict[tuple[Any, ...], int] = {}
    table: list[list[Any]] = []
    order: list[int] = []
    for i in range(len(a)):
        s1, s2 = _sig(a, i), _sig(b, i)
        if s1 != s2:
            raise OpSequenceMismatchError(f"op {i}: {s1} vs {s2}")
        f1 = (b.flops[i] - a.flops[i]) / db
        f0 = a.flops[i] - f1 * t1.batch
        y1 = (b.nbytes[i] - a.nbytes[i]) / db
        y0 = a.nbytes[i] - y1 * t1.batch
        launches = int(a.launches[i]) if a.launches[i] == b.launches[i] else -1
        row = [*s1, _r(f0), _r(f1), _r(y0), _r(y1), launches, int(b.launches[i])]
        key = tuple(row)
        if key not in kinds:
            kinds[key] = len(table)
            table.append(row)
        order.append(kinds[key])
    return {
        "batches": [t1.batch, t2.batch],
        "columns": ["name", "op_class", "phase", "dtype", "tensor_ok", "f0", "f1", "y0", "y1",
                    "launches", "launches_b2"],
        "classes": [c.value for c in OpClass],
        "phases": [p.value for p in Phase],
        "kinds": table,
        "order": order,
    }


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def arrays_at(entry: dict[str, Any], batch: int) -> OpArrays:
    """The op arrays of a batch-affine table at ``batch``."""
    classes = [OpClass(c) for c in entry["classes"]]
    phases = [Phase(p) for p in entry["phases"]]
    k = entry["kinds"]
    order = np.asarray(entry["order"], dtype=np.int64)
    _b1, b2 = entry["batches"]
    cls = np.array([_CLASS_IDS[classes[r[1]]] for r in k], dtype=np.int16)[order]
    ph = np.array([_PHASE_IDS[phases[r[2]]] for r in k], dtype=np.int16)[order]
    f = np.maximum(0.0, np.array([r[5] + r[6] * batch for r in k]))[order]
    y = np.maximum(0.0, np.array([r[7] + r[8] * batch for r in k]))[order]
    # launches that grow with size (foreach chunking): interpolate, at least 1
    la = np.array([r[9] if r[9] >= 0 else max(1.0, r[10] * batch / b2) for r in k], dtype=float)[order]
    return OpArrays(
        flops=f,
        nbytes=y,
        launches=la,
        op_class=cls,
        phase=ph,
        dtype=np.array([k[i][3] for i in order], dtype=object),
        tensor_ok=np.array([k[i][4] for i in order], dtype=bool),
        names=[k[i][0] for i in order],
        modules=[""] * len(order),
    )


def load_features(path: Path | str | None = None) -> dict[str, Any]:
    """The shipped calibration features (or those at ``path``)."""
    if path is not None:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    text = resources.files("gpuplan.timing").joinpath("data", FEATURES_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def feature_key(workload: str, precision: str) -> str:
    return f"{workload}|{precision}"
