"""Speed figures of the memory engine (issue: memory engine), on this machine.

Run: python benchmarks/bench_memory.py [--skip-70b]
* ResNet-50 training prediction at batch 32 on one GPU (goal <= 3 s, trace included)
* --batch auto for ResNet-50 across the whole catalog (goal <= 20 s)
* a LLaMA-70B config traced (goal <= 30 s, <= 4 GB RAM; peak RSS of this process is printed)
"""

from __future__ import annotations

import argparse
import resource
import time

from gpuplan.api import fit_many
from gpuplan.catalog import get_gpu, load_catalog
from gpuplan.trace import KernelProfile, trace_workload
from gpuplan.workload.spec import Mode, Precision, Workload


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-70b", action="store_true")
    args = ap.parse_args()
    import torchvision  # noqa: F401  (import cost is not prediction cost)

    t0 = time.perf_counter()
    fit_many(Workload("resnet50", batch=32), [get_gpu("RTX 3060 12GB")])
    print(f"resnet50 train b32 on one GPU: {time.perf_counter() - t0:.2f} s (goal <= 3 s)")
    gpus = list(load_catalog())
    t0 = time.perf_counter()
    fit_many(Workload("resnet50", batch=1), gpus, auto_batch=True, with_time=False)
    print(f"resnet50 --batch auto across {len(gpus)} GPUs: {time.perf_counter() - t0:.2f} s (goal <= 20 s)")
    if not args.skip_70b:
        t0 = time.perf_counter()
        tr = trace_workload(Workload("meta-llama/Meta-Llama-3-70B", batch=1, seq_len=512, mode=Mode.INFER,
                                     precision=Precision.BF16), KernelProfile(attention="flash"))
        print(f"Llama-3-70B bf16 inference trace (seq 512): {time.perf_counter() - t0:.2f} s, "
              f"{tr.param_count:,} params; peak RSS {_rss_gib():.2f} GiB (goal <= 30 s, <= 4 GB)")


if __name__ == "__main__":
    main()
