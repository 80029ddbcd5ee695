#!/usr/bin/env python
"""Wall time of ``gpuplan compare`` for ResNet-50: every catalog GPU, and three GPUs.

    python benchmarks/bench_compare.py [--model resnet50] [--gpus3 "gtx 760,rtx 3060 12gb,a100 80gb sxm4"]
                                       [--breakdown]

Reports the time of ``compare_gpus`` (fit, largest batch, common-batch speed, prices) and of rendering the
text table. ``--breakdown`` also runs ``fit_many(auto_batch=True)`` alone on the same GPUs, so the
difference is what the compare layer adds (goal: <= 3 s: one trace per kernel profile at the common
batch, prices, rows); the rest is the shared largest-batch search.
"""

from __future__ import annotations

import argparse
import io
import sys
import time

GOAL_LAYER_SECONDS = 3.0


def _run(model: str, spec: str, breakdown: bool) -> tuple[float, float, float | None, int]:
    from rich.console import Console

    from gpuplan.advise.compare import compare_gpus
    from gpuplan.api import fit_many
    from gpuplan.catalog import resolve_gpus
    from gpuplan.render.compare_text import print_compare
    from gpuplan.workload.spec import Workload

    gpus = resolve_gpus(spec)
    w = Workload(model=model)
    t_fit = None
    if breakdown:
        t0 = time.perf_counter()
        fit_many(w, gpus, auto_batch=True)
        t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = compare_gpus(w, gpus, dataset_size=1_281_167, sort="speed" if spec == "all" else "input")
    t_cmp = time.perf_counter() - t0
    t0 = time.perf_counter()
    print_compare(res, Console(file=io.StringIO(), width=120, no_color=True))
    t_render = time.perf_counter() - t0
    return t_cmp, t_render, t_fit, len(gpus)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet50")
    p.add_argument("--gpus3", default="gtx 760,rtx 3060 12gb,a100 80gb sxm4")
    p.add_argument("--breakdown", action="store_true", help="also time fit_many alone (doubles the run time)")
    args = p.parse_args(argv)

    import gpuplan.api  # noqa: F401  (import torch & co. before timing)

    ok = True
    for label, spec in (("all", "all"), ("3 GPUs", args.gpus3)):
        t_cmp, t_render, t_fit, n = _run(args.model, spec, args.breakdown)
        line = f"compare {args.model} --gpus {label} ({n} GPUs): {t_cmp:.1f} s, text rendering {t_render:.2f} s"
        if t_fit is not None:
            layer = t_cmp - t_fit
            line += f"; fit_many alone {t_fit:.1f} s -> compare layer {layer:.1f} s"
            ok &= layer <= GOAL_LAYER_SECONDS
        print(line, flush=True)
    if args.breakdown:
        print(f"goal: compare layer <= {GOAL_LAYER_SECONDS:.0f} s beyond fit_many:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
