"""recommend: dominance-consistent ranking, budgets, cloud job cost, free-tier limits, and a real run."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest

from gpuplan.advise.recommend import (
    Job,
    Option,
    Scope,
    build_options,
    dominates,
    rank_options,
    recommend,
    rent_option,
    within_budget,
)
from gpuplan.api import FitResult, GPUSummary
from gpuplan.catalog import get_gpu
from gpuplan.catalog.prices import PriceKind, load_prices, parse_budget, price_for
from gpuplan.errors import UsageError
from gpuplan.memory.predict import MemoryResult
from gpuplan.timing import TimeResult
from gpuplan.workload.spec import Workload

TODAY = dt.date(2026, 11, 21)
PRICES = load_prices(use_env=False)


def fake_fit(name: str, max_batch: int, sps: float) -> FitResult:
    batch = max(1, max_batch)
    mem = MemoryResult(peak_allocated_bytes=1, peak_reserved_bytes=1, device_total_bytes=1, capacity_bytes=2,
                       headroom_bytes=1, fits=max_batch > 0, breakdown={}, top_modules=[], timeline=[],
                       context_bytes=0, workspace_bytes=0)
    t = TimeResult(gpu=name, precision="fp32", batch=batch, forward_seconds=None, backward_seconds=None,
                   optimizer_seconds=None, step_seconds=batch / sps, samples_per_second=sps, bound="compute")
    return FitResult(gpu=GPUSummary(name, "NVIDIA", "x", "7.5", 2**30), model="m", mode="train", precision="fp32",
                     optimizer="adamw", batch=batch, grad_accum=1, fits=max_batch > 0, memory=mem,
                     max_batch_size=max_batch, time=t)


def option(name: str, seconds: float, cost: float) -> Option:
    q = price_for("rtx 3060 12gb", "used", prices=PRICES)
    assert q is not None
    return Option(kind="used", gpu=name, offer="o", price=q, price_date=q.date, price_stale=True, best_batch=8,
                  samples_per_second=1.0, step_seconds=1.0, job_seconds=seconds, upfront_cost=cost,
                  hourly_cost=None, job_cost=cost)


# ---------------------------------------------------------------- ranking


def test_faster_and_cheaper_ranks_above() -> None:
    slow_dear, fast_cheap = option("slow_dear", 100, 500), option("fast_cheap", 50, 200)
    ranked = rank_options([slow_dear, fast_cheap])
    assert [o.gpu for o in ranked] == ["fast_cheap", "slow_dear"]
    assert fast_cheap.frontier and not slow_dear.frontier and fast_cheap.rank == 1


def test_frontier_first_fastest_first() -> None:
    opts = [option("cheap_slow", 300, 100), option("mid", 200, 200), option("fast_dear", 100, 900),
            option("dominated", 250, 250)]
    ranked = rank_options(opts)
    assert [o.gpu for o in ranked] == ["fast_dear", "mid", "cheap_slow", "dominated"]
    assert [o.frontier for o in ranked] == [True, True, True, False]


def test_ranking_never_puts_a_dominated_option_above_its_dominator() -> None:
    rng = random.Random(7)
    opts = [option(f"g{i}", rng.choice([10, 20, 30, 40]), rng.choice([100, 200, 300])) for i in range(40)]
    ranked = rank_options(opts)
    for i, j in itertools.combinations(range(len(ranked)), 2):
        assert not dominates(ranked[j], ranked[i]), (ranked[i].gpu, ranked[j].gpu)


def test_equal_options_do_not_dominate_each_other() -> None:
    a, b = option("a", 10, 100), option("b", 10, 100)
    assert not dominates(a, b) and not dominates(b, a)
    assert all(o.frontier for o in rank_options([a, b]))


# ---------------------------------------------------------------- money


def test_budget_limits_the_price_or_the_jobs_rent() -> None:
    assert within_budget(option("a", 10, 300), 300) and not within_budget(option("a", 10, 301), 300)
    assert within_budget(option("a", 10, 10**6), None)


def test_rent_cost_is_hours_times_the_instance_price() -> None:
    fit = fake_fit("A100 40GB SXM4", 100, 100.0)
    p4d = next(q for q in PRICES if q.offer == "AWS p4d.24xlarge on-demand")
    o = rent_option(fit, p4d, Job(1, 360_000), TODAY, budget=100.0)  # 3600 steps of 1 s: one hour
    assert o.job_seconds == pytest.approx(3600)
    assert o.hourly_cost == pytest.approx(21.957642)  # the 8-GPU instance, not one GPU's share
    assert o.job_cost == pytest.approx(21.957642)
    assert o.hours_for_budget == pytest.approx(100 / 21.957642)
    assert any("pays for 8" in n for n in o.notes)


def test_free_tier_sessions_and_weeks() -> None:
    fit = fake_fit("Tesla T4", 100, 100.0)
    colab = next(q for q in PRICES if q.offer == "Google Colab free tier")
    kaggle = next(q for q in PRICES if q.offer == "Kaggle Notebooks free GPU (T4 x2)")
    job = Job(1, 100 * 40 * 3600)  # 40 hours
    c = rent_option(fit, colab, job, TODAY, budget=None)
    assert c.free_tier and c.job_cost == 0 and c.sessions_needed == 4 and c.weeks_needed is None
    k = rent_option(fit, kaggle, job, TODAY, budget=None)
    assert k.sessions_needed == 4 and k.weeks_needed == 2
    assert any("2 weeks of the 30 h weekly quota" in n for n in k.notes)
    assert any("checkpoint and resume" in n for n in c.notes)


def test_build_options_excludes_with_reasons() -> None:
    fits = {"GeForce RTX 3060 12GB": fake_fit("GeForce RTX 3060 12GB", 64, 100.0),
            "GeForce GTX 760": fake_fit("GeForce GTX 760", 0, 1.0)}
    quotes = [q for q in (price_for("rtx 3060 12gb", k, prices=PRICES) for k in ("new", "used"))
              if q is not None]
    quotes.append(price_for("gtx 760", "new", prices=PRICES))  # type: ignore[arg-type]
    quotes.append(price_for("rx 9070", "new", prices=PRICES))  # type: ignore[arg-type]
    buy, rent, excluded = build_options(fits, quotes, job=Job(1, 6400), budget=240.0, today=TODAY)
    assert [(o.gpu, o.kind) for o in buy] == [("GeForce RTX 3060 12GB", "used")] and not rent
    reasons = {(e.gpu, e.reason) for e in excluded}
    assert ("GeForce RTX 3060 12GB", "over budget") in reasons  # the $250 street price
    assert ("GeForce GTX 760", "does not fit even at batch 1") in reasons
    assert ("Radeon RX 9070", "not in the catalog: nothing to predict") in reasons
    assert buy[0].job_seconds == pytest.approx(100 * 64 / 100.0)


# ---------------------------------------------------------------- a real run (LeNet-5)


@pytest.fixture(scope="module")
def lenet_rec():  # type: ignore[no-untyped-def]
    gpus = [get_gpu(n) for n in ("gtx 1060 6gb", "rtx 3060 12gb", "rtx 4090", "t4", "a100 80gb sxm4", "l4")]
    return recommend(Workload("lenet5"), budget=parse_budget("1500cny"), epochs=5, dataset_size=60_000,
                     prices=PRICES, gpus=gpus, today=TODAY)


def test_real_recommend_budget_in_cny(lenet_rec) -> None:  # type: ignore[no-untyped-def]
    res = lenet_rec
    assert res.currency == "CNY" and res.budget_converted == 1500
    assert res.buy and all(o.upfront_cost is not None and o.upfront_cost <= 1500 for o in res.buy)
    assert all(o.price.currency == "CNY" and o.price.original_currency == "USD" for o in res.buy)
    used_3060 = next(o for o in res.buy if o.gpu == "GeForce RTX 3060 12GB")
    assert used_3060.kind == PriceKind.USED and used_3060.upfront_cost == pytest.approx(218 * 6.7758)
    assert any(e.reason == "over budget" and e.gpu == "GeForce RTX 4090" for e in res.excluded)
    for o in res.buy + res.rent:
        assert o.best_batch > 0 and o.samples_per_second > 0 and o.job_seconds is not None
    free = [o for o in res.rent if o.free_tier]
    assert {o.offer for o in free} == {"Google Colab free tier", "Kaggle Notebooks free GPU (T4 x2)"}


def test_real_recommend_ranking_is_consistent(lenet_rec) -> None:  # type: ignore[no-untyped-def]
    for ranked in (lenet_rec.buy, lenet_rec.rent):
        assert [o.rank for o in ranked] == list(range(1, len(ranked) + 1))
        for i, j in itertools.combinations(range(len(ranked)), 2):
            assert not dominates(ranked[j], ranked[i])


def test_rent_only_in_usd_without_a_job() -> None:
    res = recommend(Workload("lenet5"), scope=Scope.RENT, prices=PRICES, gpus=[get_gpu("l4")], today=TODAY)
    assert not res.buy and res.rent and res.currency == "USD"
    assert all(o.job_seconds is None and o.job_cost is None for o in res.rent)
    assert [o.offer for o in res.rent] == ["GCP g2-standard-4 on-demand", "GCP g2-standard-96 on-demand"]
    assert any("no job given" in n for n in res.notes)


def test_bad_input() -> None:
    w = Workload("lenet5")
    with pytest.raises(UsageError, match="--epochs needs --dataset-size"):
        recommend(w, epochs=3)
    with pytest.raises(UsageError, match="--epochs 0"):
        recommend(w, epochs=0, dataset_size=10)
    with pytest.raises(UsageError, match="allowed: both, buy, rent"):
        recommend(w, scope="lease")
    with pytest.raises(UsageError, match="allowed: USD, CNY, EUR"):
        recommend(w, currency="JPY")
