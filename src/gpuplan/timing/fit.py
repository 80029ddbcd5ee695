"""Fitting and cross-validation of the timing constants (used by ``scripts/fit_timing.py``).

The fit minimises a robust (Huber, in log space) sum of ``log(predicted / measured)`` step times over
the usable perf.csv rows with Levenberg-Marquardt on log-constants. Everything that does not depend on
the constants (peak rate per op, SM count, bandwidth) is precomputed once, and all rows are evaluated
as one concatenated array, so one evaluation of the whole calibration set takes milliseconds.

Validation: leave-one-GPU-out (every catalog GPU of the set held out in turn, constants refitted on
the rest) and leave-one-source-out (every run family: Lambda PyTorch v1, v2, Lambda TensorFlow, NVIDIA
DeepLearningExamples, timm inference, timm training). The baseline is a plain roofline
``sum_ops max(flops / peak, bytes / bandwidth)`` times one constant fitted on the same training folds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from gpuplan.catalog.types import GPU
from gpuplan.timing.calibration import WORKLOADS, CalibRow, load_rows
from gpuplan.timing.features import arrays_at, feature_key, load_features
from gpuplan.timing.model import (
    _CLASS_IDS,
    _PHASE_IDS,
    TimingConstants,
    _sms,
    kernel_traffic_bytes,
    rates_per_op,
    roofline_seconds,
)
from gpuplan.trace.records import OpClass, Phase
from gpuplan.workload.spec import Precision

# --------------------------------------------------------------------------------------------------
# Catalog access (product loader when present, else the shared CSV)
# --------------------------------------------------------------------------------------------------


@cache
def catalog_gpus() -> dict[str, GPU]:
    """Catalog name -> GPU (``gpuplan.catalog`` loader; falls back to shared/data/gpu-specs.csv)."""
    try:
        from gpuplan.catalog.gpus import load_catalog

        return {g.name: g for g in load_catalog()}
    except (ImportError, FileNotFoundError):  # pragma: no cover - before the catalog landed
        return _gpus_from_shared_csv()


def _gpus_from_shared_csv() -> dict[str, GPU]:  # pragma: no cover - fallback only
    import csv

    from gpuplan.timing.calibration import default_perf_csv

    path = default_perf_csv().parents[1] / "gpu-specs.csv"
    out: dict[str, GPU] = {}
    num = {"sms", "cuda_cores"}
    flt = {"boost_clock_mhz", "bandwidth_gbs", "fp32_tflops", "fp16_tflops", "tensor_fp16_tflops",
           "tf32_tflops", "int8_tops", "tensor_fp16_fp16acc_tflops"}
    with path.open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            kw: dict[str, Any] = {"name": r["name"], "vendor": r["vendor"], "architecture": r["architecture"],
                                  "compute_capability": r["compute_capability"] or None}
            for k in num:
                kw[k] = int(r[k]) if r[k] else None
            for k in flt:
                kw[k] = float(r[k]) if r[k] else None
            kw["tensor_cores"] = r["tensor_cores"] == "yes"
            kw["bf16_support"] = r["bf16_support"] == "yes"
            out[r["name"]] = GPU(**kw)
    return out


def catalog_cc() -> dict[str, str | None]:
    return {n: g.compute_capability for n, g in catalog_gpus().items()}


@cache
def _features() -> dict[str, Any]:
    return load_features()


def features_meta() -> dict[str, Any]:
    return dict(_features().get("meta", {}))


def trace_with_product_tracer(w: Any, precision: str, batch: int) -> Any:  # pragma: no cover
    """Trace a calibration workload with ``gpuplan.trace.trace_workload``."""
    from gpuplan.trace import trace_workload
    from gpuplan.trace.records import KernelProfile
    from gpuplan.workload.spec import Mode, OptimizerKind, Workload

    opt = {"sgd-momentum": OptimizerKind.SGD_MOMENTUM, "adamw": OptimizerKind.ADAMW}[w.optimizer]
    extra: tuple[tuple[str, Any], ...] = ()
    if w.task == "question-answering":
        # BERT on SQuAD as benchmarked (NVIDIA DLE / Lambda, 2020-22): the QA head and its start/end
        # loss, and attention as matmul + softmax (those BERT implementations predate fused SDPA)
        extra = (("hf_architecture", "BertForQuestionAnswering"), ("attn_implementation", "eager"))
    wl = Workload(
        model=w.model,
        batch=batch,
        mode=Mode(w.mode),
        precision=Precision(precision),
        optimizer=opt,
        seq_len=w.seq_len,
        extra=extra,
    )
    profile = KernelProfile(attention="flash" if precision in ("amp-fp16", "amp-bf16") else "mem_efficient",
                            tf32=precision == "tf32")
    return trace_workload(wl, profile)


# --------------------------------------------------------------------------------------------------
# Dataset: everything the constants do not change, concatenated over rows
# --------------------------------------------------------------------------------------------------

_CONV = _CLASS_IDS[OpClass.CONV]
_MM = (_CLASS_IDS[OpClass.MATMUL], _CLASS_IDS[OpClass.ATTENTION])


@dataclass
class Dataset:
    rows: list[CalibRow]
    gpus: list[GPU]
    measured: np.ndarray  # step seconds
    roofline: np.ndarray  # plain roofline step seconds
    seg: np.ndarray  # start index of each row in the concatenated arrays
    nops: np.ndarray
    flops: np.ndarray
    nbytes: np.ndarray  # kernel_traffic_bytes (the roofline baseline uses the plain traced bytes)
    launches: np.ndarray
    peak: np.ndarray
    bw: np.ndarray
    sms: np.ndarray
    conv_t: np.ndarray
    conv_c: np.ndarray
    mm_t: np.ndarray
    mm_c: np.ndarray
    rank: np.ndarray  # 1-based op position within its row (host issue order)
    bwd: np.ndarray  # backward-phase op

    def subset(self, idx: Iterable[int]) -> Dataset:
        idx = list(idx)
        parts = [np.arange(self.seg[i], self.seg[i] + self.nops[i]) for i in idx]
        sel = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        nops = self.nops[idx]
        seg = np.concatenate([[0], np.cumsum(nops)[:-1]]).astype(np.int64)
        return Dataset(
            rows=[self.rows[i] for i in idx],
            gpus=[self.gpus[i] for i in idx],
            measured=self.measured[idx],
            roofline=self.roofline[idx],
            seg=seg,
            nops=nops,
            **{k: getattr(self, k)[sel] for k in _OPCOLS},
        )


_OPCOLS = ("flops", "nbytes", "launches", "peak", "bw", "sms", "conv_t", "conv_c", "mm_t", "mm_c", "rank",
           "bwd")


def build_dataset(rows: list[CalibRow] | None = None, features: dict[str, Any] | None = None) -> Dataset:
    """Usable calibration rows with their op arrays, peaks and measured step times."""
    gpus = catalog_gpus()
    rows = rows if rows is not None else load_rows(cc_of=catalog_cc())
    feats = features if features is not None else _features()
    tables = feats["tables"]
    used: list[CalibRow] = []
    used_gpus: list[GPU] = []
    cols: dict[str, list[np.ndarray]] = defaultdict(list)
    meas: list[float] = []
    roof: list[float] = []
    nops: list[int] = []
    for r in rows:
        if r.excluded or r.workload is None or r.precision is None or r.batch is None or r.gpu is None:
            continue
        k = feature_key(r.workload, r.precision.value)
        if k not in tables or r.gpu not in gpus:
            r.excluded = f"no features for {k}" if k not in tables else f"{r.gpu} missing in catalog"
            continue
        g = gpus[r.gpu]
        a = arrays_at(tables[k], r.batch)
        peak, tensor, _ = rates_per_op(a, g, r.precision)
        n = len(a)
        is_conv = a.op_class == _CONV
        is_mm = np.isin(a.op_class, _MM)
        cols["flops"].append(a.flops)
        cols["nbytes"].append(kernel_traffic_bytes(a))
        cols["launches"].append(a.launches)
        cols["peak"].append(peak)
        cols["bw"].append(np.full(n, (g.bandwidth_gbs or math.nan) * 1e9))
        cols["sms"].append(np.full(n, _sms(g) or math.nan))
        cols["conv_t"].append(is_conv & tensor)
        cols["conv_c"].append(is_conv & ~tensor)
        cols["mm_t"].append(is_mm & tensor)
        cols["mm_c"].append(is_mm & ~tensor)
        cols["rank"].append(np.arange(1, n + 1, dtype=float))
        cols["bwd"].append(a.phase == _PHASE_IDS[Phase.BACKWARD])
        meas.append(r.batch / r.measured)
        roof.append(roofline_seconds(a, g, r.precision))
        nops.append(n)
        used.append(r)
        used_gpus.append(g)
    nops_a = np.array(nops, dtype=np.int64)
    return Dataset(
        rows=used,
        gpus=used_gpus,
        measured=np.array(meas),
        roofline=np.array(roof),
        seg=np.concatenate([[0], np.cumsum(nops_a)[:-1]]).astype(np.int64),
        nops=nops_a,
        **{k: np.concatenate(v) for k, v in cols.items()},
    )


# --------------------------------------------------------------------------------------------------
# Vectorised model over the dataset (must equal model.op_times; a test checks this)
# --------------------------------------------------------------------------------------------------


def predict_steps(d: Dataset, c: TimingConstants) -> np.ndarray:
    """Predicted step seconds of every row of ``d`` under constants ``c``."""
    eff = np.ones_like(d.flops)
    eff[d.conv_t] = c.eff_tensor_conv
    eff[d.conv_c] = c.eff_cuda_conv
    eff[d.mm_t] = c.eff_tensor_matmul
    eff[d.mm_c] = c.eff_cuda_matmul
    w = d.flops / d.sms
    gemm_like = d.conv_t | d.conv_c | d.mm_t | d.mm_c
    fill = np.where(np.isnan(d.sms) | ~gemm_like, 1.0, w / (w + c.half_fill_flops_per_sm))
    with np.errstate(divide="ignore", invalid="ignore"):
        tc = np.where(d.flops > 0, d.flops / (d.peak * eff * np.maximum(fill, 1e-9)), 0.0)
    tm = d.nbytes / (d.bw * c.eff_mem)
    tm = np.where(d.bwd, tm / c.eff_backward_mem, tm)
    t = np.maximum(tc, tm) + d.launches * c.kernel_seconds
    # per-row suffix sums: total of row minus inclusive prefix plus own term
    csum = np.cumsum(t)
    row_end = csum[d.seg + d.nops - 1]
    row_of = np.repeat(np.arange(len(d.nops)), d.nops)
    suffix = row_end[row_of] - (csum - t)  # sum of t over ops i..end of the same row
    issue = d.rank * c.cpu_op_seconds
    end = np.maximum.reduceat(issue + suffix, d.seg)
    return end + c.step_seconds


# --------------------------------------------------------------------------------------------------
# Fit
# --------------------------------------------------------------------------------------------------

_LOWER = TimingConstants(0.05, 0.05, 0.05, 0.05, 0.1, 0.2, 1e3, 1e-7, 1e-7, 1e-6)
_UPPER = TimingConstants(1.0, 1.0, 1.0, 2.0, 1.0, 1.5, 1e9, 5e-5, 2e-4, 5e-2)
HUBER_DELTA = 0.2  # in log space (~20% error): beyond it a row counts linearly, not quadratically
# Weak prior: each constant within a factor ~3 of the physically reasonable defaults of
# TimingConstants (documented there). It matters only where perf.csv does not constrain a constant
# (e.g. host overhead when the batch-1 rows are held out), and keeps CV folds from running to bounds.
PRIOR = TimingConstants()
PRIOR_SIGMA = math.log(3.0)
# Constants tied to another (not fitted separately); chosen by the CV ablation in docs/speed-accuracy.md.
TIED: dict[str, str] = {}


def _residuals(d: Dataset, c: TimingConstants) -> np.ndarray:
    return np.log(predict_steps(d, c) / d.measured)


def _huber_weights(r: np.ndarray) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= HUBER_DELTA, 1.0, HUBER_DELTA / np.maximum(a, 1e-12))


def fit_constants(
    d: Dataset, start: TimingConstants | None = None, iters: int = 60, tie: dict[str, str] | None = None
) -> tuple[TimingConstants, dict[str, Any]]:
    """Levenberg-Marquardt with Huber reweighting on log-constants (bounded by _LOWER/_UPPER).

    ``tie`` maps a constant to another whose value it takes (fewer free constants; see TIED).
    """
    names = TimingConstants.names()
    tie = TIED if tie is None else tie
    tied = [(names.index(a), names.index(b)) for a, b in tie.items()]
    lo = np.log(_LOWER.to_vector())
    hi = np.log(_UPPER.to_vector())
    x = np.clip(np.log((start or TimingConstants()).to_vector()), lo, hi)

    x0 = np.log(PRIOR.to_vector())
    n_data = len(d.rows)

    def full(xv: np.ndarray) -> np.ndarray:
        xv = xv.copy()
        for a, b in tied:
            xv[a] = xv[b]
        return xv

    def res(xv: np.ndarray) -> np.ndarray:
        data = _residuals(d, TimingConstants.from_vector(np.exp(full(xv))))
        return np.concatenate([data, (xv - x0) / PRIOR_SIGMA])

    def weights(rv: np.ndarray) -> np.ndarray:
        return np.concatenate([_huber_weights(rv[:n_data]), np.ones(rv.size - n_data)])

    r = res(x)
    w = weights(r)
    cost = float(np.sum(w * r * r))
    lam = 1e-2
    h = 1e-4
    for _ in range(iters):
        jac = np.empty((r.size, x.size))
        for j in range(x.size):
            if any(j == a for a, _ in tied):
                jac[:, j] = 0.0
                continue
            xp = x.copy()
            xp[j] += h
            jac[:, j] = (res(xp) - r) / h
        sw = np.sqrt(w)
        jw = jac * sw[:, None]
        rw = r * sw
        g = jw.T @ rw
        a = jw.T @ jw
        improved = False
        for _ in range(8):
            step = np.linalg.solve(a + lam * np.diag(np.diag(a) + 1e-9), -g)
            xn = np.clip(x + step, lo, hi)
            rn = res(xn)
            wn = weights(rn)
            cn = float(np.sum(wn * rn * rn))
            if np.isfinite(cn) and cn < cost:
                x, r, w, cost = xn, rn, wn, cn
                lam = max(lam / 3, 1e-6)
                improved = True
                break
            lam *= 4
        if not improved or float(np.max(np.abs(step))) < 1e-5:
            break
    c = TimingConstants.from_vector(np.exp(full(x)))
    return c, {"tied": dict(tie), "objective": f"Huber(delta={HUBER_DELTA}) on log(pred/measured) + weak log-normal prior "
               f"(sigma = ln {math.exp(PRIOR_SIGMA):.0f}) around TimingConstants() defaults; Levenberg-Marquardt",
               "cost": cost}


def fit_roofline_scale(d: Dataset) -> float:
    """The baseline's one constant: geometric-median scale of roofline vs measured."""
    return float(np.exp(np.median(np.log(d.measured / d.roofline))))


def errors(d: Dataset, c: TimingConstants) -> dict[str, float]:
    ape = np.abs(predict_steps(d, c) / d.measured - 1)
    return {"median_ape": float(np.median(ape)), "mean_ape": float(np.mean(ape))}


# --------------------------------------------------------------------------------------------------
# Cross-validation
# --------------------------------------------------------------------------------------------------


def _generation(g: GPU) -> str:
    a = g.architecture.replace(" Lovelace", "").replace(" 2.0", "")
    return a.split()[0] if a else "?"


def _folds(d: Dataset, key: Callable[[int], str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for i in range(len(d.rows)):
        out[key(i)].append(i)
    return dict(out)


def cross_validate(d: Dataset, iters: int = 40, tie: dict[str, str] | None = None) -> dict[str, Any]:
    """Leave-one-GPU-out and leave-one-source-out predictions for model and roofline baseline."""
    schemes = {
        "gpu": _folds(d, lambda i: d.rows[i].gpu or "?"),
        "source": _folds(d, lambda i: d.rows[i].source_group),
    }
    out: dict[str, Any] = {"schemes": {}}
    for name, folds in schemes.items():
        pred = np.full(len(d.rows), np.nan)
        base = np.full(len(d.rows), np.nan)
        for _fold, test in folds.items():
            train = [i for i in range(len(d.rows)) if i not in set(test)]
            dt_ = d.subset(train)
            c, _ = fit_constants(dt_, iters=iters, tie=tie)
            s = fit_roofline_scale(dt_)
            de = d.subset(test)
            pred[test] = predict_steps(de, c)
            base[test] = de.roofline * s
        out["schemes"][name] = {"pred": pred, "base": base}
    out["summary"] = _summary(d, out)
    return out


def _ape(pred: np.ndarray, meas: np.ndarray) -> np.ndarray:
    return np.abs(pred / meas - 1)


def _stats(a: np.ndarray) -> dict[str, float]:
    if a.size == 0:
        return {"n": 0, "median_ape": math.nan, "mean_ape": math.nan}
    return {"n": int(a.size), "median_ape": float(np.median(a)), "mean_ape": float(np.mean(a))}


def _groups(d: Dataset) -> dict[str, Callable[[int], str]]:
    return {
        "family": lambda i: d.rows[i].family or "?",
        "generation": lambda i: _generation(d.gpus[i]),
        "source": lambda i: d.rows[i].source_group,
        "mode": lambda i: WORKLOADS[d.rows[i].workload or ""].mode.value if d.rows[i].workload else "?",
        "precision": lambda i: d.rows[i].precision.value if d.rows[i].precision else "?",
    }


def ordering(d: Dataset, pred: np.ndarray) -> dict[str, float]:
    """GPU order per workload setting (same workload, precision, source): Spearman and pairwise accuracy."""
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(d.rows):
        groups[(r.workload or "", r.precision.value if r.precision else "", r.source_group)].append(i)
    rhos: list[float] = []
    pairs_ok = 0
    pairs = 0
    for idx in groups.values():
        # throughput = batch / step: compare samples/s
        gpus = {d.rows[i].gpu for i in idx}
        if len(gpus) < 3:
            continue
        bs = np.array([d.rows[i].batch or 0 for i in idx], dtype=float)
        m = bs / d.measured[idx]
        p = bs / pred[idx]
        rhos.append(_spearman(m, p))
        for a in range(len(idx)):
            for b in range(a + 1, len(idx)):
                if d.rows[idx[a]].gpu == d.rows[idx[b]].gpu or m[a] == m[b]:
                    continue
                pairs += 1
                pairs_ok += int((m[a] > m[b]) == (p[a] > p[b]))
    return {
        "settings": len(rhos),
        "mean_spearman": float(np.mean(rhos)) if rhos else math.nan,
        "pairwise_accuracy": pairs_ok / pairs if pairs else math.nan,
        "pairs": pairs,
    }


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    if np.std(ra) == 0 or np.std(rb) == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def _summary(d: Dataset, cv: dict[str, Any]) -> dict[str, Any]:
    s: dict[str, Any] = {"n_rows": len(d.rows), "n_gpus": len({r.gpu for r in d.rows})}
    for name, res in cv["schemes"].items():
        ape_m = _ape(res["pred"], d.measured)
        ape_b = _ape(res["base"], d.measured)
        block: dict[str, Any] = {"model": _stats(ape_m), "roofline": _stats(ape_b)}
        for gname, key in _groups(d).items():
            sub: dict[str, Any] = {}
            for label, idx in sorted(_folds(d, key).items()):
                sub[label] = {"model": _stats(ape_m[idx]), "roofline": _stats(ape_b[idx])}
            block[f"by_{gname}"] = sub
        block["ordering_model"] = ordering(d, res["pred"])
        block["ordering_roofline"] = ordering(d, res["base"])
        s[f"leave_one_{name}_out"] = block
    return s


def _fmt(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.1f}%"


def report_markdown(cv: dict[str, Any], d: Dataset) -> str:
    """The CV tables of docs/speed-accuracy.md."""
    s = cv["summary"]
    lines = [f"Rows used: {s['n_rows']} on {s['n_gpus']} catalog GPUs.", ""]
    for scheme in ("gpu", "source"):
        b = s[f"leave_one_{scheme}_out"]
        lines += [
            f"### Leave one {scheme} out",
            "",
            "| group | n | model median APE | model mean APE | roofline×k median APE | roofline×k mean APE |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            f"| **all** | {b['model']['n']} | **{_fmt(b['model']['median_ape'])}** | {_fmt(b['model']['mean_ape'])} "
            f"| {_fmt(b['roofline']['median_ape'])} | {_fmt(b['roofline']['mean_ape'])} |",
        ]
        for gname in ("family", "generation", "source", "mode", "precision"):
            for label, v in b[f"by_{gname}"].items():
                lines.append(
                    f"| {gname}: {label} | {v['model']['n']} | {_fmt(v['model']['median_ape'])} | "
                    f"{_fmt(v['model']['mean_ape'])} | {_fmt(v['roofline']['median_ape'])} | "
                    f"{_fmt(v['roofline']['mean_ape'])} |"
                )
        om, ob = b["ordering_model"], b["ordering_roofline"]
        lines += [
            "",
            f"GPU order ({om['settings']} settings with ≥3 GPUs, {om['pairs']} GPU pairs): model mean "
            f"Spearman {om['mean_spearman']:.2f}, pairwise order accuracy {_fmt(om['pairwise_accuracy'])}; "
            f"roofline×k {ob['mean_spearman']:.2f}, {_fmt(ob['pairwise_accuracy'])}.",
            "",
        ]
    return "\n".join(lines)


def per_row_table(d: Dataset, cv: dict[str, Any], scheme: str = "gpu") -> list[dict[str, Any]]:
    """Per-row predictions of one CV scheme (for inspection)."""
    res = cv["schemes"][scheme]
    out = []
    for i, r in enumerate(d.rows):
        out.append({
            "line": r.line, "gpu": r.gpu, "workload": r.workload, "precision": r.precision.value if r.precision
            else None, "batch": r.batch, "source": r.source_group, "measured_sps": r.measured,
            "pred_sps": (r.batch or 0) / res["pred"][i], "roof_sps": (r.batch or 0) / res["base"][i],
        })
    return out
