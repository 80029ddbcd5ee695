#!/usr/bin/env python
"""Fit and cross-validate the timing model on shared/data/calibration/perf.csv.

    # 1. (slow, ~1-2 min) trace every calibration workload twice and cache batch-affine op tables
    python scripts/fit_timing.py features
    # 2. (seconds) fit the constants on all usable rows, write src/gpuplan/timing/constants.json
    python scripts/fit_timing.py fit
    # 3. (about a minute) leave-one-GPU-out / leave-one-source-out CV, model vs roofline baseline,
    #    printed as the markdown tables of docs/speed-accuracy.md
    python scripts/fit_timing.py cv

Only perf.csv rows are used (mapping and exclusions: ``gpuplan.timing.calibration``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gpuplan.timing import fit as fitlib
from gpuplan.timing.calibration import WORKLOADS, load_rows
from gpuplan.timing.features import FEATURES_FILE, affine_table, feature_key

ROOT = Path(__file__).resolve().parents[1]
TIMING = ROOT / "src/gpuplan/timing"
FEATURES = TIMING / "data" / FEATURES_FILE
CONSTANTS = TIMING / "constants.json"
TRACE_BATCHES = (2, 4)


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _trace(wkey: str, precision: str, batch: int) -> Any:
    """Trace one calibration workload with the product tracer (``gpuplan.trace.trace_workload``)."""
    return fitlib.trace_with_product_tracer(WORKLOADS[wkey], precision, batch)


def cmd_features(args: argparse.Namespace) -> int:
    rows = load_rows(cc_of=fitlib.catalog_cc())
    needed = sorted({(r.workload, r.precision.value) for r in rows if r.excluded is None
                     and r.workload and r.precision})
    extra = [tuple(x.split("|")) for x in (args.extra or [])]
    needed = sorted(set(needed) | set(extra))
    old: dict[str, Any] = {}
    if FEATURES.exists() and not args.force:
        old = json.loads(FEATURES.read_text())
    out: dict[str, Any] = {"meta": {}, "tables": dict(old.get("tables", {}))}
    for wkey, prec in needed:
        k = feature_key(wkey, prec)
        if k in out["tables"] and not args.force:
            continue
        t0 = time.time()
        t1, t2 = _trace(wkey, prec, TRACE_BATCHES[0]), _trace(wkey, prec, TRACE_BATCHES[1])
        out["tables"][k] = affine_table(t1, t2)
        out["tables"][k]["tracer"] = "gpuplan.trace.trace_workload"
        print(f"{k}: {len(out['tables'][k]['order'])} ops, {len(out['tables'][k]['kinds'])} kinds, "
              f"{time.time() - t0:.1f}s", flush=True)
        FEATURES.parent.mkdir(parents=True, exist_ok=True)
        FEATURES.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    import torch

    out["meta"] = {
        "created": dt.date.today().isoformat(),
        "script": "scripts/fit_timing.py features",
        "git": _git_commit(),
        "torch": torch.__version__,
        "tracers": ["gpuplan.trace.trace_workload"],
        "trace_batches": list(TRACE_BATCHES),
        "note": "batch-affine op tables (gpuplan.timing.features); one per calibration workload|precision",
    }
    FEATURES.parent.mkdir(parents=True, exist_ok=True)
    FEATURES.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {FEATURES.relative_to(ROOT)} ({FEATURES.stat().st_size / 1e3:.0f} kB)")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    data = fitlib.build_dataset()
    t0 = time.time()
    c, info = fitlib.fit_constants(data)
    secs = time.time() - t0
    train = fitlib.errors(data, c)
    doc = {
        "constants": {k: float(f"{v:.5g}") for k, v in c.__dict__.items()},
        "provenance": {
            "fitted": dt.date.today().isoformat(),
            "script": "python scripts/fit_timing.py fit",
            "git": _git_commit(),
            "data": "shared/data/calibration/perf.csv (mapping and exclusions: gpuplan/timing/calibration.py)",
            "rows_used": [r.line for r in data.rows],
            "n_rows": len(data.rows),
            "n_gpus": len({r.gpu for r in data.rows}),
            "objective": info["objective"],
            "fit_seconds": round(secs, 2),
            "train_median_ape": round(train["median_ape"], 4),
            "train_mean_ape": round(train["mean_ape"], 4),
            "cv": _load_cv_summary(),
            "features": fitlib.features_meta(),
        },
    }
    CONSTANTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc["constants"], indent=2))
    print(f"train median APE {train['median_ape']:.1%}, mean {train['mean_ape']:.1%} on {len(data.rows)} rows "
          f"({secs:.1f}s)")
    return 0


def _load_cv_summary() -> dict[str, Any]:
    if CONSTANTS.exists():
        return json.loads(CONSTANTS.read_text()).get("provenance", {}).get("cv", {})
    return {}


def cmd_cv(args: argparse.Namespace) -> int:
    data = fitlib.build_dataset()
    t0 = time.time()
    report = fitlib.cross_validate(data)
    print(fitlib.report_markdown(report, data))
    print(f"\n(cv took {time.time() - t0:.0f}s)", file=sys.stderr)
    if CONSTANTS.exists():
        doc = json.loads(CONSTANTS.read_text())
        doc["provenance"]["cv"] = report["summary"]
        doc["provenance"]["cv"]["date"] = dt.date.today().isoformat()
        doc["provenance"]["cv"]["script"] = "python scripts/fit_timing.py cv"
        CONSTANTS.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("features", help="trace calibration workloads, cache batch-affine op tables")
    f.add_argument("--force", action="store_true", help="re-trace everything")
    f.add_argument("--extra", nargs="*", help="more workload|precision tables (e.g. resnet50-train|fp32)")
    f.set_defaults(func=cmd_features)
    sub.add_parser("fit", help="fit constants on all usable rows").set_defaults(func=cmd_fit)
    sub.add_parser("cv", help="cross-validation report (markdown)").set_defaults(func=cmd_cv)
    args = p.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
