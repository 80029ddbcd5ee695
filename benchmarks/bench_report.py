#!/usr/bin/env python
"""Time `gpuplan report` for ResNet-50 on 3 GPUs (goal: <= 10 s on the 2-core development machine).

    python benchmarks/bench_report.py [--model resnet50] [--gpu "gtx 760,rtx 3060 12gb,a100 80gb"] [--batch 32]

Measures (1) the command end to end in a fresh process (Python start, imports, tracing, HTML written),
best of ``--repeat`` runs: at --batch without and with the advisor's section, as typed without --batch
(batch 1) and with --batch auto; and (2) in one warm process:
build_report (without advice) and render_html separately.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet50")
    p.add_argument("--gpu", default="gtx 760,rtx 3060 12gb,a100 80gb")
    p.add_argument("--batch", default="32")
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args(argv)

    out = Path(tempfile.mkdtemp(prefix="gpuplan-bench-")) / "report.html"
    base = [sys.executable, "-m", "gpuplan", "report", args.model, "--gpu", args.gpu, "--batch", args.batch,
            "-o", str(out)]
    print(f"command: gpuplan report {args.model} --gpu {args.gpu!r} --batch {args.batch} -o report.html")
    default = [sys.executable, "-m", "gpuplan", "report", args.model, "--gpu", args.gpu, "-o", str(out)]
    cases = (("without the advisor (--no-advice)", [*base, "--no-advice"]), ("with the advisor", base),
             ("as typed, no --batch (batch 1), with the advisor", default),
             ("--batch auto, with the advisor", [*default, "--batch", "auto"]))
    for label, cmd in cases:
        walls = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "GPUPLAN_LANG": "en"})
            walls.append(time.perf_counter() - t0)
        print(f"  end to end, fresh process, {label}: best {min(walls):.2f} s of {args.repeat} "
              f"({', '.join(f'{w:.2f}' for w in walls)}); report {out.stat().st_size / 1024:.0f} KiB")

    t0 = time.perf_counter()
    from gpuplan.catalog import get_gpu, resolve_gpus
    from gpuplan.report.build import build_report
    from gpuplan.report.html import render_html
    from gpuplan.workload.spec import Workload

    t_import = time.perf_counter() - t0
    gpus = resolve_gpus(args.gpu) if "," in args.gpu else [get_gpu(args.gpu)]
    w = Workload(args.model, batch=int(args.batch))
    build_report(w, gpus, with_advice=False)  # warm-up: the tracer's first call pays one-off costs
    t0 = time.perf_counter()
    data = build_report(w, gpus, with_advice=False)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    html = render_html(data)
    t_render = time.perf_counter() - t0
    print(f"  in process: imports {t_import:.2f} s; warm build_report without advice {t_build:.2f} s ({data.traces} traces, "
          f"{len(gpus)} GPUs, {sum(len(s.points) for s in data.sweeps)} sweep points); render_html {t_render:.3f} s "
          f"({len(html.encode()) / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
