"""compare: common and best batch, relative speed, money per GPU, sorting, the JSON superset, and a real run."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from gpuplan.advise.compare import (
    SortKey,
    _times_at,
    build_rows,
    choose_common_batch,
    compare_gpus,
    sort_rows,
)
from gpuplan.api import FitResult, GPUSummary, _TraceCache, fit_many
from gpuplan.catalog import get_gpu
from gpuplan.catalog.prices import PriceKind, load_prices, price_for
from gpuplan.errors import UnknownGPUError, UsageError
from gpuplan.memory.predict import MemoryResult
from gpuplan.render.jsonout import dumps
from gpuplan.timing import TimeResult
from gpuplan.workload.spec import Workload

TODAY = dt.date(2026, 11, 21)


def fake_fit(name: str, max_batch: int, sps: float | None) -> FitResult:
    """A fit record at the GPU's largest batch (0 = does not fit) with ``sps`` samples/s there."""
    batch = max(1, max_batch)
    step = None if sps is None else batch / sps
    mem = MemoryResult(peak_allocated_bytes=1, peak_reserved_bytes=1, device_total_bytes=1, capacity_bytes=2,
                       headroom_bytes=1, fits=max_batch > 0, breakdown={}, top_modules=[], timeline=[],
                       context_bytes=0, workspace_bytes=0)
    t = TimeResult(gpu=name, precision="fp32", batch=batch, forward_seconds=step, backward_seconds=None,
                   optimizer_seconds=None, step_seconds=step, samples_per_second=sps, bound="compute")
    return FitResult(gpu=GPUSummary(name, "NVIDIA", "x", "8.6", 2**30), model="m", mode="train", precision="fp32",
                     optimizer="adamw", batch=batch, grad_accum=1, fits=max_batch > 0, memory=mem,
                     max_batch_size=max_batch, time=t)


def t_at(sps: float, batch: int) -> TimeResult:
    return TimeResult(gpu="g", precision="fp32", batch=batch, forward_seconds=None, backward_seconds=None,
                      optimizer_seconds=None, step_seconds=batch / sps, samples_per_second=sps, bound="compute")


# ---------------------------------------------------------------- pure pieces


def test_common_batch_is_the_smallest_largest_batch_of_gpus_that_fit() -> None:
    fits = [fake_fit("a", 64, 100.0), fake_fit("b", 0, None), fake_fit("c", 16, 50.0)]
    assert choose_common_batch(fits) == 16  # "b" does not fit at all and does not drag it to 0
    assert choose_common_batch(fits, requested=100) == 100
    assert choose_common_batch(fits, cap=8) == 8
    assert choose_common_batch([fake_fit("b", 0, None)]) is None


def test_relative_speed_and_best_batch() -> None:
    fits = [fake_fit("slow", 16, 50.0), fake_fit("fast", 64, 400.0), fake_fit("none", 0, None)]
    common = {"slow": fits[0].time, "fast": t_at(300.0, 16), "none": None}
    rows = build_rows(fits, common_batch=16, common_times=common, reference="slow", dataset_size=1000,
                      price_kind="new", quotes={}, currency="USD", today=TODAY)
    slow, fast, none = (r.compare for r in rows)
    assert slow.relative_speed == 1.0 and fast.relative_speed == pytest.approx(6.0)
    assert fast.relative_speed_at_best_batch == pytest.approx(8.0)
    assert fast.best_batch == 64 and fast.fits_common_batch is True
    assert fast.epoch_seconds == pytest.approx(16 * 64 / 400.0)  # ceil(1000 / 64) = 16 steps at the best batch
    assert none.best_batch is None and none.relative_speed is None and none.fits_common_batch is False
    assert "does not fit even at batch 1" in none.notes


def test_cloud_money_per_gpu_hour() -> None:
    fit = fake_fit("A100 80GB SXM4", 100, 360.0)
    q = price_for("A100 80GB SXM4", "cloud", prices=load_prices(use_env=False))
    assert q is not None and q.per_gpu_hour == pytest.approx(1.39)
    (row,) = build_rows([fit], common_batch=100, common_times={fit.gpu.name: fit.time}, reference=fit.gpu.name,
                        dataset_size=36_000, price_kind=PriceKind.CLOUD, quotes={fit.gpu.name: q}, currency="USD",
                        today=TODAY)
    c = row.compare
    assert c.epoch_seconds == pytest.approx(100.0)  # 360 steps of 100 samples at 360 samples/s
    assert c.cost_per_epoch == pytest.approx(100.0 / 3600 * 1.39)
    assert c.samples_per_currency_unit == pytest.approx(360.0 * 3600 / 1.39)
    assert c.samples_per_second_per_1k is None and c.price_stale is False and c.price_age_days == 12


def test_purchase_value_uses_the_price_per_device() -> None:
    fit = fake_fit("Tesla K80 (per GPU)", 10, 50.0)
    q = price_for("k80", "new", prices=load_prices(use_env=False))
    assert q is not None and q.price == 5000 and q.devices_per_board == 2
    (row,) = build_rows([fit], common_batch=10, common_times={fit.gpu.name: fit.time}, reference=None,
                        dataset_size=None, price_kind="new", quotes={fit.gpu.name: q}, currency="USD", today=TODAY)
    c = row.compare
    assert c.price_per_device == 2500 and c.samples_per_second_per_1k == pytest.approx(50.0 / 2.5)
    assert c.cost_per_epoch is None and c.price_stale is True
    assert any("board of 2 GPUs" in n for n in c.notes)


def test_sort_rows_by_speed_and_value_with_na_last() -> None:
    fits = [fake_fit("a", 8, 10.0), fake_fit("b", 0, None), fake_fit("c", 8, 30.0)]
    quote = price_for("rtx 3060 12gb", "used", prices=load_prices(use_env=False))
    rows = build_rows(fits, common_batch=8, common_times={}, reference="a", dataset_size=None, price_kind="used",
                      quotes={"c": quote}, currency="USD", today=TODAY)
    assert [r.fit.gpu.name for r in sort_rows(rows, SortKey.SPEED)] == ["c", "a", "b"]
    assert [r.fit.gpu.name for r in sort_rows(rows, "input")] == ["a", "b", "c"]
    assert [r.fit.gpu.name for r in sort_rows(rows, "value")] == ["c", "a", "b"]  # priced first, N/A stable


def test_row_json_is_the_fit_object_plus_compare() -> None:
    fit = fake_fit("a", 8, 10.0)
    (row,) = build_rows([fit], common_batch=8, common_times={"a": fit.time}, reference="a", dataset_size=None,
                        price_kind="new", quotes={}, currency="USD", today=TODAY)
    fit_obj = json.loads(dumps(fit))
    row_obj = json.loads(dumps(row))
    assert {k: v for k, v in row_obj.items() if k != "compare"} == fit_obj
    assert row_obj["compare"]["best_batch"] == 8 and row_obj["compare"]["relative_speed"] == 1.0


# ---------------------------------------------------------------- a real run (LeNet-5, three GPUs)


@pytest.fixture(scope="module")
def lenet_cmp():  # type: ignore[no-untyped-def]
    gpus = [get_gpu("gtx 760"), get_gpu("rtx 3060 12gb"), get_gpu("k80")]
    return compare_gpus(Workload("lenet5"), gpus, dataset_size=60_000, price_kind="used",
                        prices=load_prices(use_env=False), today=TODAY)


def test_real_compare_common_batch_and_reference(lenet_cmp) -> None:  # type: ignore[no-untyped-def]
    res = lenet_cmp
    by = {r.fit.gpu.name: r for r in res.rows}
    maxes = {n: r.fit.max_batch_size for n, r in by.items()}
    assert res.common_batch == min(maxes.values())
    assert res.common_batch_limited_by == min(maxes, key=lambda n: maxes[n])
    assert res.reference_gpu == "GeForce GTX 760"  # the first listed GPU that fits
    for r in res.rows:
        c = r.compare
        assert r.fit.batch == c.best_batch == r.fit.max_batch_size  # the fit record is at the best batch
        assert c.fits_common_batch is True and c.samples_per_second_at_common_batch
        assert c.step_seconds_at_common_batch == pytest.approx(
            res.common_batch / c.samples_per_second_at_common_batch)
    assert by["GeForce GTX 760"].compare.relative_speed == 1.0
    assert by["GeForce RTX 3060 12GB"].compare.relative_speed > 1.0
    used = by["GeForce RTX 3060 12GB"].compare
    assert used.price is not None and used.price.price == 218 and used.price_stale is True
    assert by["GeForce GTX 760"].compare.price is None  # no dated used price: N/A, not a guess


def test_time_at_the_common_batch_matches_a_fit_at_that_batch() -> None:
    """The common-batch timing (one trace per kernel profile) equals `fit` at that batch."""
    w = Workload("lenet5")
    gpu = get_gpu("rtx 3060 12gb")
    mine = _times_at(w, [gpu], 256, _TraceCache())[gpu.name][0]
    ref = fit_many(w.with_batch(256), [gpu], auto_batch=False)[0].time
    assert mine is not None and ref is not None
    assert mine.samples_per_second == pytest.approx(ref.samples_per_second, rel=1e-9)


def test_given_common_batch_too_big_for_a_gpu() -> None:
    gpus = [get_gpu("gtx 760"), get_gpu("rtx 3060 12gb")]
    res = compare_gpus(Workload("lenet5"), gpus, batch=40_000, max_batch=50_000, price_kind="new", today=TODAY)
    small, big = res.rows
    assert small.fit.max_batch_size < 40_000 <= big.fit.max_batch_size
    assert small.compare.fits_common_batch is False and small.compare.samples_per_second_at_common_batch is None
    assert "batch 40000 does not fit" in small.compare.notes
    assert res.reference_gpu == "GeForce RTX 3060 12GB"  # the first GPU with a speed at the common batch
    assert big.fit.batch == big.compare.best_batch == 50_000  # capped, and the fit record is at the cap
    assert big.fit.fits is True and big.fit.time.batch == 50_000


def test_bad_input() -> None:
    gpus = [get_gpu("gtx 760")]
    with pytest.raises(UsageError, match="not among the compared GPUs"):
        compare_gpus(Workload("lenet5"), gpus, reference="rtx 3060 12gb")
    with pytest.raises(UnknownGPUError):
        compare_gpus(Workload("lenet5"), gpus, reference="rtx 99999")
    with pytest.raises(UsageError, match="allowed: new, used, cloud"):
        compare_gpus(Workload("lenet5"), gpus, price_kind="rental")
    with pytest.raises(UsageError, match="allowed: USD, CNY, EUR"):
        compare_gpus(Workload("lenet5"), gpus, currency="GBP")
    with pytest.raises(UsageError, match="--dataset-size"):
        compare_gpus(Workload("lenet5"), gpus, dataset_size=0)
    with pytest.raises(UsageError, match="no GPUs"):
        compare_gpus(Workload("lenet5"), [])


@pytest.mark.slow
def test_resnet50_three_gpus() -> None:
    gpus = [get_gpu(n) for n in ("gtx 760", "rtx 3060 12gb", "a100 80gb sxm4")]
    res = compare_gpus(Workload("resnet50"), gpus, dataset_size=1_281_167, price_kind="cloud", today=TODAY)
    g760, r3060, a100 = res.rows
    assert 0 < g760.fit.max_batch_size < r3060.fit.max_batch_size < a100.fit.max_batch_size
    assert res.common_batch == g760.fit.max_batch_size
    assert 1.0 == g760.compare.relative_speed < r3060.compare.relative_speed < a100.compare.relative_speed
    assert a100.compare.cost_per_epoch is not None and a100.compare.cost_per_epoch > 0
