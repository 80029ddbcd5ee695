#!/usr/bin/env python
"""Which torchvision classification models gpuplan traces (one inference step at batch 1 each).

    python scripts/zoo_coverage.py      # ~3 min on 2 cores; prints one line per model, then failures
"""

from __future__ import annotations

import time

import torchvision

from gpuplan.errors import GpuplanError
from gpuplan.trace import trace_workload
from gpuplan.workload.spec import Mode, Workload


def main() -> None:
    bad = []
    for n in torchvision.models.list_models(module=torchvision.models):
        t0 = time.time()
        try:
            t = trace_workload(Workload(n, batch=1, mode=Mode.INFER))
            print(f"{n}: ok, {t.param_count:,} parameters, {time.time() - t0:.1f} s", flush=True)
        except GpuplanError as e:
            print(f"{n}: FAILED {e}", flush=True)
            bad.append(n)
    print(f"failed: {bad or 'none'}")


if __name__ == "__main__":
    main()
