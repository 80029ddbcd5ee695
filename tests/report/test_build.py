"""build_report: the fit sections are `gpuplan fit --json`, the sweep from two traces shared across GPUs
agrees with real traces, the largest batch is where the sweep crosses the capacity, prices join the fits."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gpuplan.api import fit_many, kernel_profile_for
from gpuplan.catalog import resolve_gpus
from gpuplan.cli.main import main
from gpuplan.memory.predict import predict_memory
from gpuplan.render.jsonout import to_jsonable
from gpuplan.report.build import build_report, sweep_batches
from gpuplan.report.data import ReportData
from gpuplan.trace import trace_workload
from gpuplan.workload.spec import Workload

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TWO_GPUS = "gtx 760,rtx 3060 12gb"  # different attention kernel profiles (math / memory-efficient)


@pytest.fixture(scope="module")
def lstm_report() -> ReportData:
    return build_report(Workload("lstm", batch=64), resolve_gpus(TWO_GPUS), now=NOW)


def _without_trace_time(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k != "trace_seconds"}


def test_fit_sections_equal_fit_json(lstm_report: ReportData, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "lstm", "--gpu", TWO_GPUS, "--batch", "64", "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    got = to_jsonable(lstm_report)["fits"]
    assert [_without_trace_time(o) for o in got] == [_without_trace_time(o) for o in expected]


def test_two_traces_serve_every_gpu_when_the_model_has_no_attention(lstm_report: ReportData) -> None:
    # batch 64 for the fits and the sweep's first point, 128 for its second: nothing per GPU (cuDNN RNN everywhere)
    assert lstm_report.traces == 2
    assert [s.traced_batches for s in lstm_report.sweeps] == [[64, 128], [64, 128]]
    assert all(s.affine for s in lstm_report.sweeps)


def test_sweep_crosses_capacity_at_the_largest_batch(lstm_report: ReportData) -> None:
    for s in lstm_report.sweeps:
        assert s.max_batch_size and s.max_batch_size > 64 and not s.max_batch_checked
        by_batch = {p.batch: p for p in s.points}
        assert by_batch[s.max_batch_size].fits is True
        assert by_batch[s.max_batch_size + 1].fits is False
        assert by_batch[1].device_total_bytes < by_batch[s.max_batch_size].device_total_bytes
        assert max(by_batch) >= 1.2 * s.max_batch_size  # the curve goes past the limit
        assert s.capacity_bytes and by_batch[s.max_batch_size].device_total_bytes <= s.capacity_bytes
    small, big = lstm_report.sweeps
    assert small.max_batch_size < big.max_batch_size  # 2 GB card vs 12 GB card


def test_sweep_points_match_real_traces() -> None:
    gpus = resolve_gpus("rtx 3060 12gb")
    data = build_report(Workload("cifar_cnn", batch=8), gpus, with_comparison=False, with_advice=False,
                        sweep_points=6)
    for p in data.sweeps[0].points[:3]:
        real = predict_memory(trace_workload(Workload("cifar_cnn", batch=p.batch), kernel_profile_for(gpus[0])),
                              gpus[0], with_timeline=False)
        assert abs(real.device_total_bytes - p.device_total_bytes) <= 0.02 * real.device_total_bytes


def test_auto_batch_takes_the_checked_largest_batch_from_fit_many() -> None:
    gpus = resolve_gpus("gtx 760")
    w = Workload("lenet5", batch=1)
    data = build_report(w, gpus, auto_batch=True, with_advice=False, now=NOW)
    ref = fit_many(w, gpus, auto_batch=True)
    assert data.fits[0].max_batch_size == ref[0].max_batch_size == data.sweeps[0].max_batch_size
    assert data.sweeps[0].max_batch_checked and data.auto_batch
    assert data.fits[0].batch == ref[0].max_batch_size


def test_comparison_joins_prices_and_throughput(lstm_report: ReportData) -> None:
    assert lstm_report.comparison_status.available
    c = lstm_report.comparison
    by_gpu = {p.gpu: p for p in c.points}
    rtx = by_gpu["GeForce RTX 3060 12GB"]
    assert rtx.samples_per_second and rtx.purchase is not None and rtx.purchase_per_device > 0
    assert rtx.per_1k == pytest.approx(rtx.samples_per_second / rtx.purchase_per_device * 1000)
    assert c.currency == "USD"


def test_sweep_batches_span_past_the_largest() -> None:
    b = sweep_batches(32, 137, 14)
    assert b[0] == 1 and 32 in b and 137 in b and 138 in b and b[-1] >= 171
    assert sweep_batches(1, 0, 5) == sorted(set(sweep_batches(1, 0, 5)))
    assert sweep_batches(1, None, 5)[-1] >= 5


def test_report_json_is_plain_json(lstm_report: ReportData) -> None:
    obj = to_jsonable(lstm_report)
    text = json.dumps(obj)
    assert json.loads(text)["generated_at"] == "2026-01-02T03:04:05+00:00"
    assert obj["workload"]["model"] == "lstm" and obj["detail_gpus"] == ["GeForce GTX 760", "GeForce RTX 3060 12GB"]
    assert obj["advice_status"]["available"] in (True, False)
