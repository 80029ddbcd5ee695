"""Measured vs predicted device memory on the published measurements in
shared/data/calibration/memory.csv (copied into docs/accuracy.md by hand after each run).

Run: python scripts/memory_accuracy.py [--calibration PATH]

Each row is reproduced as the source ran it: Hugging Face Trainer (transformers ~4.1x, 2021):
BertForSequenceClassification (bert-large-uncased, 2 labels), seq 512, eager attention, HF's
per-parameter AdamW, on a Tesla V100-SXM2-16GB with CUDA 11.2. The CUDA context is the one the
source measured on that machine (1343 MiB, its first row), so the error is that of everything
else (weights, gradients, optimizer state, activations, allocator).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

from gpuplan.api import fit_many
from gpuplan.catalog import get_gpu
from gpuplan.workload.spec import Mode, OptimizerKind, Precision, Workload

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "calibration" / "memory.csv"


def workload_for(row: dict[str, str]) -> Workload | None:
    if row["techniques"] in ("context_only", "weights_loaded_only"):
        return None
    tech = row["techniques"]
    opt = row["optimizer"].lower()
    optimizer = (OptimizerKind.ADAFACTOR if "adafactor" in opt else OptimizerKind.ADAM8BIT if "8bit" in opt
                 else OptimizerKind.ADAMW)
    precision = Precision.AMP_FP16 if "fp16" in row["precision"].lower() else Precision.FP32
    accum = 4 if "grad_accum=4" in tech else 1
    return Workload(
        model="bert-large-uncased", batch=int(row["batch"]), mode=Mode.TRAIN, precision=precision,
        optimizer=optimizer, seq_len=512, grad_accum=accum, checkpointing="grad_ckpt" in tech,
        extra=(("hf_architecture", "BertForSequenceClassification"), ("attn_implementation", "eager"),
               ("foreach", False), ("set_to_none", False)),
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calibration", type=Path, default=DEFAULT)
    args = ap.parse_args()
    rows = list(csv.DictReader(args.calibration.open()))
    context_mib = next(float(r["measured_value_mib"]) for r in rows if r["techniques"] == "context_only")
    gpu = get_gpu("V100 SXM2 16GB")
    errors = []
    print("| setup | measured MiB | predicted MiB | error |")
    print("|---|---:|---:|---:|")
    for r in rows:
        w = workload_for(r)
        if w is None:
            continue
        t0 = time.perf_counter()
        res = fit_many(w, [gpu], context_bytes=int(context_mib * 2**20), with_time=False)[0]
        pred = res.memory.device_total_bytes / 2**20
        meas = float(r["measured_value_mib"])
        err = (pred - meas) / meas
        errors.append(abs(err))
        label = f"{r['precision']}, {r['optimizer']}, batch {r['batch']}, {r['techniques']}"
        print(f"| {label} | {meas:.0f} | {pred:.0f} | {100 * err:+.1f}% | ({time.perf_counter() - t0:.1f} s)",
              file=sys.stdout)
    print(f"\nmedian |error| {100 * statistics.median(errors):.1f}%, mean {100 * statistics.mean(errors):.1f}%, "
          f"max {100 * max(errors):.1f}% over {len(errors)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
