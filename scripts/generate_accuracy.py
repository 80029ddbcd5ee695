"""--mode generate against what can be checked (copied into docs/accuracy.md by hand after each run).

Run: python scripts/generate_accuracy.py [--memory PATH] [--perf PATH]

1. Memory: rows of shared/data/calibration/memory.csv that measure generation (KV cache, decode) are
   reproduced and the error printed. (At the time of writing there are none: the script says so.)
2. Exact parts: the traced KV cache and weight bytes against closed forms, and the trace time.
3. Speed side check: the llama.cpp "generate 1024 tokens" rows of perf.csv (Llama 3 8B, F16 and
   Q4_K_M). llama.cpp is not PyTorch (its own fused kernels, no Python per op), so these rows do not
   score the prediction; they are printed next to the HF-eager prediction and the prediction's
   GPU-only time per token (host dispatch removed), which is the part comparable to llama.cpp.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

from gpuplan.catalog import get_gpu
from gpuplan.errors import GpuplanError
from gpuplan.timing import default_constants, op_arrays, predict_generate_time
from gpuplan.timing.calibration import GPU_MAP
from gpuplan.timing.model import op_times
from gpuplan.trace import KernelProfile
from gpuplan.trace.generate import GenerateTrace, trace_generate
from gpuplan.workload.spec import Mode, Precision, Workload

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "calibration"
FLASH = KernelProfile(attention="flash")
GENERATE_WORDS = ("generate", "decode", "kv", "token", "inference")


def generation_rows(path: Path) -> list[dict[str, str]]:
    """memory.csv rows that measure a generation (not a context-only or weights-only load)."""
    rows = list(csv.DictReader(path.open()))
    out = []
    for r in rows:
        text = " ".join(r.values()).lower()
        if r["techniques"] in ("context_only", "weights_loaded_only") or r["task"] == "train":
            continue
        if any(w in text for w in GENERATE_WORDS):
            out.append(r)
    return out


def trace(model: str, prompt: int, new: int, precision: str = "fp16") -> tuple[GenerateTrace, float]:
    t0 = time.perf_counter()
    t = trace_generate(Workload(model, batch=1, mode=Mode.GENERATE, precision=Precision(precision),
                                prompt_len=prompt, new_tokens=new), FLASH)
    return t, time.perf_counter() - t0


def gpu_only_per_token(t: GenerateTrace, gpu_name: str, precision: str) -> float:
    """Mean GPU time of a decode step without host dispatch (kernels back to back)."""
    c = default_constants()
    gpu = get_gpu(gpu_name)
    busy = [op_times(op_arrays(ops), gpu, Precision(precision), c).gpu_busy_seconds
            for ops in (t.decode_first_ops, t.decode_last_ops)]
    return sum(busy) / len(busy)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--memory", type=Path, default=SHARED / "memory.csv")
    ap.add_argument("--perf", type=Path, default=SHARED / "perf.csv")
    args = ap.parse_args()

    print("## 1. Memory of generation: published measurements\n")
    rows = generation_rows(args.memory)
    if not rows:
        print(f"{args.memory}: no row measures a generation (KV cache / decode); nothing to compare.\n")
    else:  # pragma: no cover - no such rows yet
        for r in rows:
            print("unmapped row (add a mapping to this script):", r["model"], r["gpu"], r["measured_value_mib"])

    print("## 2. Exact parts (trace vs closed form), trace time\n")
    print("| model | prompt + new | KV cache traced | 2·L·kv·d·(P+N−1)·B·2 | weights traced | 2·params "
          "| trace s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    cases = [("gpt2", 12, 12, 64), ("Qwen/Qwen2.5-0.5B", 24, 2, 64), ("meta-llama/Meta-Llama-3-8B", 32, 8, 128),
             ("mistralai/Mistral-7B-v0.1", 32, 8, 128)]
    llama8b: GenerateTrace | None = None
    for model, layers, kv, d in cases:
        prompt, new = 512, 256
        t, secs = trace(model, prompt, new)
        formula = 2 * layers * kv * d * (prompt + new - 1) * 1 * 2
        print(f"| {model} | {prompt} + {new} | {t.kv_cache_bytes:,} | {formula:,} | "
              f"{t.bytes_by_category['parameters']:,} | {2 * t.param_count:,} | {secs:.1f} |")
        if model == "meta-llama/Meta-Llama-3-8B":
            llama8b = t
    assert llama8b is not None

    print("\n## 3. Speed side check: llama.cpp tokens/s (perf.csv) vs the HF-eager prediction\n")
    t16, _ = trace("meta-llama/Meta-Llama-3-8B", 16, 1024, "fp16")
    t4, _ = trace("meta-llama/Meta-Llama-3-8B", 16, 1024, "int4")
    print("| GPU | runtime | llama.cpp tok/s | gpuplan HF eager tok/s | gpuplan GPU-only tok/s "
          "| llama.cpp / GPU-only |")
    print("|---|---|---:|---:|---:|---:|")
    ratios: dict[str, list[float]] = {"F16": [], "Q4_K_M": []}
    for r in csv.DictReader(args.perf.open()):
        if "llama.cpp" not in r["model"] or r["input"] != "generate 1024 tokens":
            continue
        fmt = "F16" if "F16" in r["model"] else "Q4_K_M"
        name = GPU_MAP.get(r["gpu"])
        if not name:
            continue
        t, prec = (t16, "fp16") if fmt == "F16" else (t4, "int4")
        try:
            res = predict_generate_time(t, get_gpu(name), prec)
            gpu_only = 1.0 / gpu_only_per_token(t, name, prec)
        except GpuplanError as e:
            print(f"| {name} | {fmt} | {r['value']} | N/A ({e}) | | |")
            continue
        measured = float(r["value"])
        ratios[fmt].append(measured / gpu_only)
        print(f"| {name} | {fmt} | {measured:.1f} | {res.tokens_per_second:.1f} | {gpu_only:.1f} | "
              f"{measured / gpu_only:.2f} |")
    for fmt, vals in ratios.items():
        if vals:
            print(f"\n{fmt}: llama.cpp / gpuplan GPU-only tokens/s: median {statistics.median(vals):.2f}, "
                  f"range {min(vals):.2f}–{max(vals):.2f} over {len(vals)} GPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
