#!/usr/bin/env python
"""Which shipped Hugging Face configs gpuplan traces: inference in bf16 and one training step in fp32
at a short sequence (seconds each; the 70B configs take longest).

    python scripts/hf_coverage.py [--train]
"""

from __future__ import annotations

import argparse
import time

from gpuplan.errors import GpuplanError
from gpuplan.trace import trace_workload
from gpuplan.trace.records import KernelProfile
from gpuplan.workload.spec import Mode, Precision, Workload
from gpuplan.workload.zoo import shipped_hf_configs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", action="store_true", help="also a training step (slower)")
    args = ap.parse_args()
    bad = []
    modes = [(Mode.INFER, Precision.BF16)] + ([(Mode.TRAIN, Precision.FP32)] if args.train else [])
    for name in sorted(shipped_hf_configs()):
        for mode, precision in modes:
            t0 = time.time()
            try:
                t = trace_workload(Workload(name, batch=1, seq_len=64, mode=mode, precision=precision),
                                   KernelProfile(attention="flash"))
                print(f"{name} {mode} {precision}: ok, {t.param_count:,} parameters, {time.time() - t0:.1f} s",
                      flush=True)
            except GpuplanError as e:
                print(f"{name} {mode} {precision}: FAILED {str(e)[:200]}", flush=True)
                bad.append(f"{name} ({mode})")
    print(f"failed: {bad or 'none'}")


if __name__ == "__main__":
    main()
