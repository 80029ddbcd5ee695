#!/usr/bin/env python
"""Seed speed claims of docs/speed-accuracy.md: GTX 760 vs RTX 3060 and what mixed precision buys.

    python scripts/seed_speed.py

Model output with the shipped constants; no measurement of these models or of a GTX 760 exists in
perf.csv, so these are predictions, not validated numbers.
"""

from __future__ import annotations

from gpuplan.api import kernel_profile_for
from gpuplan.catalog import get_gpu
from gpuplan.timing import predict_time
from gpuplan.trace import trace_workload
from gpuplan.workload.spec import Precision, Workload

CASES = [
    ("LeNet-5, batch 64, fp32", Workload("lenet5", batch=64)),
    ("LeNet-5, batch 256, fp32", Workload("lenet5", batch=256)),
    ("CIFAR CNN, batch 128, fp32", Workload("cifar_cnn", batch=128)),
    ("CIFAR CNN, batch 512, fp32", Workload("cifar_cnn", batch=512)),
    ("ResNet-50 224², batch 64, fp32", Workload("resnet50", batch=64)),
    ("ResNet-50 224², batch 64, AMP", Workload("resnet50", batch=64, precision=Precision.AMP_FP16)),
]
AMP_GPUS = ["GTX 760", "GTX 1080 Ti", "RTX 3060 12GB", "RTX 4060 Ti 16GB", "RTX 2080 Ti", "RTX 4090", "A100 80GB SXM4"]


def _ms(s: float | None) -> str:
    return "N/A" if s is None else f"{s * 1e3:.2f} ms"


def main() -> None:
    old, new = get_gpu("GTX 760"), get_gpu("RTX 3060 12GB")
    print("| workload | GTX 760 | RTX 3060 12GB | 3060 speed-up | bound (760 / 3060) |")
    print("| --- | ---: | ---: | ---: | --- |")
    for label, w in CASES:
        a = predict_time(trace_workload(w, kernel_profile_for(old)), old, w.precision)
        b = predict_time(trace_workload(w, kernel_profile_for(new)), new, w.precision)
        speedup = a.step_seconds / b.step_seconds if a.step_seconds and b.step_seconds else None
        print(f"| {label} | {_ms(a.step_seconds)} | {_ms(b.step_seconds)} | "
              f"{'N/A' if speedup is None else f'{speedup:.1f}×'} | {a.bound} / {b.bound} |")
    print()
    print("AMP / fp32 throughput, ResNet-50 batch 64 training:")
    fp32 = Workload("resnet50", batch=64)
    amp = Workload("resnet50", batch=64, precision=Precision.AMP_FP16)
    for name in AMP_GPUS:
        g = get_gpu(name)
        p = kernel_profile_for(g)
        t32 = predict_time(trace_workload(fp32, p), g, fp32.precision)
        t16 = predict_time(trace_workload(amp, p), g, amp.precision)
        if t32.samples_per_second and t16.samples_per_second:
            print(f"  {g.name}: {t16.samples_per_second / t32.samples_per_second:.2f}×")
    for w in (Workload("lenet5", batch=64), Workload("lenet5", batch=64, precision=Precision.AMP_FP16)):
        t = predict_time(trace_workload(w, kernel_profile_for(new)), new, w.precision)
        print(f"  LeNet-5 batch 64 {w.precision} on {new.name}: {_ms(t.step_seconds)}/step")


if __name__ == "__main__":
    main()
