"""`gpuplan recommend`: text tables (golden), JSON, budgets and currencies, bad input (exit 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from gpuplan.cli.main import main

GPUS = "gtx 1060 6gb,rtx 3060 12gb,rtx 4090,t4,a100 80gb sxm4,l4,k80"


@pytest.fixture(autouse=True)
def _pinned(pinned_prices: None) -> None:
    """Every test here: pinned price date, no user price file, English (tests/cli/conftest.py)."""


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch, fake_fit: Callable[..., Any]) -> None:
    """Model numbers that do not move when the memory or timing model is refitted (for golden text)."""
    monkeypatch.setattr("gpuplan.api.fit_many", lambda w, gpus, **kw: [fake_fit(g) for g in gpus])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.usefixtures("fake_models")
def test_text_buy_and_rent_in_cny(capsys: pytest.CaptureFixture[str], golden) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "recommend", "lenet5", "--budget", "1500cny", "--epochs", "5", "--dataset-size",
                       "60000", "--gpus", GPUS, "--top", "6")
    assert code == 0
    assert "Buy (new or used)" in out and "Rent (cloud)" in out and "Google Colab free tier" in out
    assert "2020-09*" in out  # the Colab row's date is old: flagged
    golden("recommend/buy_and_rent_cny", out)


@pytest.mark.usefixtures("fake_models")
def test_text_rent_only_without_job(capsys: pytest.CaptureFixture[str], golden) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "recommend", "cifar_cnn", "--rent", "--budget", "$20", "--gpus", "t4,l4,a100 80gb sxm4",
                       "--spot")
    assert code == 0
    assert "Buy" not in out and "spot" in out and "hours the" in out
    golden("recommend/rent_spot_no_job", out)


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "recommend", "lenet5", "--buy", "--budget", "300", "--dataset-size", "60000",
                       "--gpus", "gtx 1060 6gb,rtx 3060 12gb,rtx 4090", "--json")
    assert code == 0
    obj = json.loads(out)
    assert obj["budget"] == {"amount": 300.0, "currency": "USD"} and obj["scope"] == "buy" and obj["rent"] == []
    assert [o["rank"] for o in obj["buy"]] == list(range(1, len(obj["buy"]) + 1))
    for o in obj["buy"]:
        assert o["upfront_cost"] <= 300 and o["best_batch"] > 0 and o["job_seconds"] > 0
        assert o["price"]["date"] and o["price"]["source"]
    assert {"gpu": "GeForce RTX 4090", "kind": "new", "offer": "street price (Tom's Hardware retail)",
            "reason": "over budget"} in obj["excluded"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--budget", "300gbp"], "unknown currency 'gbp'; allowed: USD, CNY, EUR"),
        (["--budget=-300usd"], "must be positive"),
        (["--budget", "lots"], "expected an amount and a currency"),
        (["--budget", "300", "--currency", "yen"], "allowed: USD, CNY, EUR"),
        (["--epochs", "3"], "--epochs needs --dataset-size"),
        (["--dataset-size", "-1"], "--dataset-size -1"),
        (["--top", "0"], "--top 0"),
        (["--gpus", "gtx 7600000"], "Unknown GPU"),
    ],
)
def test_bad_input_exits_2_with_a_message(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code, out, err = run(capsys, "recommend", "lenet5", *argv)
    assert code == 2 and not out
    assert needle in err and "Traceback" not in err


def test_rent_and_buy_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["recommend", "lenet5", "--rent", "--buy"])
    assert exc.value.code == 2
    capsys.readouterr()


def test_free_tiers_are_shown_beyond_top(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "recommend", "lenet5", "--rent", "--top", "1", "--dataset-size", "60000",
                       "--gpus", "t4,a100 80gb sxm4")
    assert code == 0
    assert "Google Colab free tier" in out and "Kaggle Notebooks" in out
    assert "more (--top N, or --json)" in out
