#!/usr/bin/env python
"""GTX 760 vs CPU for the seed models: measured training steps on THIS machine's CPU vs gpuplan's
prediction for the GTX 760 (docs/speed-accuracy.md, "Seed claims").

    python scripts/cpu_baseline.py [--threads N] [--steps 20]

The CPU side is a real measurement (PyTorch eager, fp32, AdamW, cross-entropy; median of timed steps
after warm-up) on whatever CPU runs the script — state its model and core count with the numbers.
The GPU side is a prediction (no GTX 760 measurement exists in the calibration data).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from torch import nn

from gpuplan.api import kernel_profile_for
from gpuplan.catalog import get_gpu
from gpuplan.timing import predict_time
from gpuplan.trace import trace_workload
from gpuplan.workload import seeds
from gpuplan.workload.spec import Workload

CASES = [("lenet5", seeds.LeNet5, (1, 28, 28), 64), ("lenet5", seeds.LeNet5, (1, 28, 28), 256),
         ("cifar_cnn", seeds.CifarCNN, (3, 32, 32), 128), ("cifar_cnn", seeds.CifarCNN, (3, 32, 32), 512)]


def cpu_step_seconds(factory: type[nn.Module], shape: tuple[int, ...], batch: int, steps: int) -> float:
    model = factory()
    opt = torch.optim.AdamW(model.parameters())
    x = torch.randn(batch, *shape)
    y = torch.randint(0, 10, (batch,))
    times = []
    for i in range(steps + 3):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gpu = get_gpu("GTX 760")
    print(f"CPU: {_cpu_name()}, {args.threads} threads, torch {torch.__version__}; load average "
          f"{os.getloadavg()[0]:.1f}")
    print("| model | batch | CPU measured (ms/step) | GTX 760 predicted (ms/step) | GPU speed-up |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, factory, shape, batch in CASES:
        cpu = cpu_step_seconds(factory, shape, batch, args.steps)
        w = Workload(name, batch=batch)
        pred = predict_time(trace_workload(w, kernel_profile_for(gpu)), gpu, w.precision).step_seconds
        ratio = f"{cpu / pred:.1f}×" if pred else "N/A"
        print(f"| {name} | {batch} | {cpu * 1e3:.1f} | {'N/A' if pred is None else f'{pred * 1e3:.1f}'} | {ratio} |")


if __name__ == "__main__":
    main()
