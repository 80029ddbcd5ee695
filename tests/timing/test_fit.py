"""Calibration mapping, batch-affine features, the vectorised fit model and the CV on a tiny fixture."""

from __future__ import annotations

import numpy as np
import pytest

from gpuplan.timing import fit as F
from gpuplan.timing.calibration import CalibRow, load_rows
from gpuplan.timing.features import affine_table, arrays_at, feature_key
from gpuplan.timing.model import TimingConstants, op_arrays, op_times
from gpuplan.trace.records import KernelProfile, OpClass, OpRecord, Phase, Trace
from gpuplan.workload.spec import Precision

C = TimingConstants()


def _trace(batch: int) -> Trace:
    """A toy step whose activations scale with the batch and whose weights do not."""
    ops = [
        OpRecord(0, "aten.convolution", OpClass.CONV, Phase.FORWARD, "c", "float32", 1e9 * batch,
                 4_000_000 * batch + 100_000, 4_000_000 * batch, tensor_core_eligible=True),
        OpRecord(1, "aten.relu_", OpClass.ELEMENTWISE, Phase.FORWARD, "r", "float32", 1e6 * batch,
                 4_000_000 * batch, 4_000_000 * batch),
        OpRecord(2, "aten.relu_", OpClass.ELEMENTWISE, Phase.FORWARD, "r2", "float32", 1e6 * batch,
                 4_000_000 * batch, 4_000_000 * batch),
        OpRecord(2, "aten.view", OpClass.VIEW, Phase.FORWARD, "", "float32", 0, 0, 0, launches=0),
        # a training-mode batch norm and its backward: kernel_traffic_bytes re-reads their inputs
        OpRecord(2, "aten.native_batch_norm.default", OpClass.NORM, Phase.FORWARD, "bn", "float32", 1e6 * batch,
                 4_000_000 * batch, 4_000_000 * batch),
        OpRecord(3, "aten.native_batch_norm_backward.default", OpClass.NORM, Phase.BACKWARD, "bn", "float32",
                 1e6 * batch, 8_000_000 * batch, 4_000_000 * batch),
        OpRecord(3, "aten.convolution_backward", OpClass.CONV, Phase.BACKWARD, "c", "float32", 2e9 * batch,
                 8_000_000 * batch + 100_000, 4_000_000 * batch + 100_000, tensor_core_eligible=True),
        OpRecord(4, "aten.relu_", OpClass.ELEMENTWISE, Phase.BACKWARD, "r", "float32", 1e6 * batch,
                 4_000_000 * batch, 4_000_000 * batch),
        OpRecord(5, "aten._foreach_add_", OpClass.OPTIMIZER, Phase.OPTIMIZER, "", "float32", 25_000,
                 200_000, 100_000),
    ]
    return Trace("toy", batch, KernelProfile(), ops, [], 0, 0, {}, {})


def test_affine_table_reproduces_a_third_batch() -> None:
    table = affine_table(_trace(2), _trace(4))
    a8 = arrays_at(table, 8)
    ref = op_arrays(_trace(8).ops)
    assert np.allclose(a8.flops, ref.flops) and np.allclose(a8.nbytes, ref.nbytes)
    assert list(a8.names) == list(ref.names)
    assert len(table["kinds"]) < len(table["order"])  # the two forward relu_ share a kind


def test_perf_csv_mapping() -> None:
    rows = load_rows(cc_of=F.catalog_cc())
    by_line = {r.line: r for r in rows}
    # Lambda v1 fp32 on an RTX 3080 (Ampere) in an NGC container: TF32
    r = by_line[6]
    assert r.gpu == "GeForce RTX 3080" and r.precision is Precision.TF32 and r.excluded is None
    # the same source on a Turing card stays fp32
    assert next(x for x in rows if x.gpu == "GeForce RTX 2080 Ti" and x.source_group == "lambda-pt-v1"
                and x.model_label.startswith("ResNet")).precision in (Precision.FP32, Precision.FP16)
    # laptops and llama.cpp are excluded with a reason
    assert by_line[2].excluded and "laptop" in by_line[2].excluded
    assert all(x.excluded for x in rows if x.framework == "llama.cpp")
    assert all(x.excluded for x in rows if x.batch is None)
    usable = [x for x in rows if x.excluded is None]
    assert len(usable) > 150
    assert all(x.gpu in F.catalog_gpus() for x in usable)


def _fixture_dataset() -> F.Dataset:
    table = affine_table(_trace(2), _trace(4))
    feats = {"meta": {}, "tables": {feature_key("resnet50-train", "fp32"): table,
                                    feature_key("resnet50-train", "tf32"): table}}
    rows = []
    specs = [("GeForce GTX 1080 Ti", "fp32", "s1"), ("Tesla V100 SXM2 16GB", "fp32", "s1"),
             ("GeForce RTX 3090", "tf32", "s2"), ("A100 40GB PCIe", "tf32", "s2"),
             ("Tesla T4", "fp32", "s2"), ("GeForce RTX 2080 Ti", "fp32", "s1")]
    gpus = F.catalog_gpus()
    for i, (g, p, src) in enumerate(specs):
        for b in (16, 64):
            # synthetic "measurement": the model itself with known constants, +-10% noise
            a = arrays_at(table, b)
            t = op_times(a, gpus[g], Precision(p), C).step_seconds * (1.1 if i % 2 else 0.9)
            rows.append(CalibRow(line=100 + len(rows), source=src, source_group=src, framework="pytorch",
                                 gpu_label=g, gpu=g, model_label="toy", workload="resnet50-train", family="cnn",
                                 precision=Precision(p), batch=b, measured=b / t))
    return F.build_dataset(rows=rows, features=feats)


def test_vectorised_fit_model_equals_op_times() -> None:
    d = _fixture_dataset()
    pred = F.predict_steps(d, C)
    gpus = F.catalog_gpus()
    table = affine_table(_trace(2), _trace(4))
    for i, r in enumerate(d.rows):
        a = arrays_at(table, r.batch or 0)
        ref = op_times(a, gpus[r.gpu or ""], r.precision or Precision.FP32, C).step_seconds
        assert pred[i] == pytest.approx(ref, rel=1e-9)


def test_fit_and_cv_run_on_a_tiny_fixture() -> None:
    d = _fixture_dataset()
    c, _ = F.fit_constants(d, iters=5)
    assert np.all(np.isfinite(c.to_vector()))
    assert F.errors(d, c)["median_ape"] < 0.3
    cv = F.cross_validate(d, iters=3)
    s = cv["summary"]
    assert s["leave_one_gpu_out"]["model"]["n"] == len(d.rows)
    assert s["leave_one_source_out"]["roofline"]["n"] == len(d.rows)
    md = F.report_markdown(cv, d)
    assert "Leave one gpu out" in md and "roofline" in md
