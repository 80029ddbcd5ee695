#!/usr/bin/env python
"""Time ``predict_time`` for every catalog GPU from one trace (goal: <= 2 s beyond the trace).

    python benchmarks/bench_timing.py [--model resnet50] [--batch 64] [--precision amp-fp16]
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet50")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--precision", default="amp-fp16")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)

    from gpuplan.catalog.gpus import load_catalog
    from gpuplan.timing import predict_many
    from gpuplan.trace import trace_workload
    from gpuplan.workload.spec import Precision, Workload

    gpus = list(load_catalog())
    t0 = time.perf_counter()
    trace = trace_workload(Workload(model=args.model, batch=args.batch, precision=Precision(args.precision)))
    t_trace = time.perf_counter() - t0
    best = float("inf")
    results = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        results = predict_many(trace, gpus, args.precision)
        best = min(best, time.perf_counter() - t0)
    ok = sum(r.step_seconds is not None for r in results)
    print(f"trace: {args.model} batch {args.batch} {args.precision}: {len(trace.ops)} ops, {t_trace:.2f} s")
    print(f"timing {len(gpus)} catalog GPUs ({ok} with a prediction, {len(gpus) - ok} N/A): "
          f"{best:.3f} s (best of {args.repeat}), {1e3 * best / len(gpus):.2f} ms per GPU")
    fastest = sorted((r for r in results if r.samples_per_second), key=lambda r: -(r.samples_per_second or 0))
    for r in fastest[:3]:
        print(f"  {r.gpu:32s} {r.samples_per_second:9.1f} samples/s  bound={r.bound}")
    print("goal <= 2 s:", "PASS" if best <= 2.0 else "FAIL")
    return 0 if best <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
