"""The GTX 760 seed scenarios of docs/accuracy.md: largest batch for training and inference.

Run: python scripts/seed_scenarios.py
"""

from __future__ import annotations

from gpuplan.api import fit_many
from gpuplan.catalog import get_gpu
from gpuplan.workload.spec import Mode, Workload

CASES = [
    ("lenet5", {}), ("cifar_cnn", {}), ("lstm", {}), ("resnet50", {}), ("bert-base-uncased", {"seq_len": 128}),
    ("bert-base-uncased", {"seq_len": 512}),
]


def main() -> None:
    gpu = get_gpu("GTX 760")
    print("| model | mode | largest batch | device total at that batch | at batch 16 |")
    print("|---|---|---:|---:|---:|")
    for model, extra in CASES:
        for mode in (Mode.TRAIN, Mode.INFER):
            w = Workload(model, batch=1, mode=mode, **extra)
            r = fit_many(w, [gpu], auto_batch=True, with_time=False)[0]
            r16 = fit_many(w.with_batch(16), [gpu], with_time=False)[0]
            label = model + (f" (seq {extra['seq_len']})" if extra else "")
            print(f"| {label} | {mode.value} | {r.max_batch_size} | {r.memory.device_total_bytes / 2**20:.0f} MiB | "
                  f"{r16.memory.device_total_bytes / 2**20:.0f} MiB ({'fits' if r16.fits else 'does not fit'}) |")


if __name__ == "__main__":
    main()
