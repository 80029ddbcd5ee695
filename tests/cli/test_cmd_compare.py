"""`gpuplan compare`: the JSON contract (fit object + compare), the text table (golden), bad input (exit 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gpuplan.cli.main import main

GPUS = "gtx 760,rtx 3060 12gb,k80"


@pytest.fixture(autouse=True)
def _pinned(pinned_prices: None) -> None:
    """Every test here: pinned price date, no user price file, English (tests/cli/conftest.py)."""


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch, fake_fit: Callable[..., Any]) -> None:
    """Model numbers that do not move when the memory or timing model is refitted (for golden text)."""
    monkeypatch.setattr("gpuplan.api.fit_many", lambda w, gpus, **kw: [fake_fit(g) for g in gpus])
    monkeypatch.setattr("gpuplan.advise.compare._times_at", lambda w, gpus, b, traces, **kw: {
        g.name: (fake_fit(g, b).time, fake_fit(g, b).memory) for g in gpus})


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_rows_extend_the_fit_objects(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "compare", "lenet5", "--gpus", GPUS, "--dataset-size", "60000", "--price-kind",
                       "used", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["gpu"]["name"] for r in rows] == ["GeForce GTX 760", "GeForce RTX 3060 12GB", "Tesla K80 (per GPU)"]
    code, fit_out, _ = run(capsys, "fit", "lenet5", "--gpu", GPUS, "--batch", "auto", "--json")
    fits = json.loads(fit_out)
    for row, fit in zip(rows, fits, strict=True):
        assert set(fit) <= set(row)  # a superset of `gpuplan fit --json`
        assert row["max_batch_size"] == fit["max_batch_size"] and row["batch"] == fit["batch"]
        for key in ("forward_seconds", "backward_seconds", "optimizer_seconds", "step_seconds",
                    "samples_per_second", "bound"):
            assert key in row["time"]
        assert row["time"]["samples_per_second"] > 0 and row["time"]["bound"] in ("compute", "memory", "overhead")
        c = row["compare"]
        assert c["best_batch"] == row["batch"] and c["common_batch"] == min(f["max_batch_size"] for f in fits)
        assert c["samples_per_second_at_best_batch"] == row["time"]["samples_per_second"]
        assert c["reference_gpu"] == "GeForce GTX 760" and c["price_kind"] == "used" and c["currency"] == "USD"
        assert c["epoch_seconds"] > 0
    r3060 = rows[1]["compare"]
    assert r3060["price"]["price"] == 218 and r3060["price"]["date"] == "2023-10"
    assert r3060["price"]["source"] == "TOMS-EBAY-2023-11" and r3060["price_stale"] is True
    assert r3060["samples_per_second_per_1k"] == pytest.approx(rows[1]["time"]["samples_per_second"] / 0.218)
    assert rows[0]["compare"]["price"] is None and rows[0]["compare"]["relative_speed"] == 1.0


def test_text_table_real_models(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "compare", "lenet5", "--gpus", GPUS, "--dataset-size", "60000", "--price-kind",
                       "used")
    assert code == 0
    assert "common batch" in out and "set by GeForce GTX 760" in out and "1.00×" in out
    assert "$218" in out and "2023-10*" in out and "TOMS-EBAY-2023-11" in out and "older than 12 months" in out


@pytest.mark.usefixtures("fake_models")
def test_text_table_used_prices(capsys: pytest.CaptureFixture[str], golden) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "compare", "lenet5", "--gpus", GPUS + ",rx 7900 xtx", "--dataset-size", "60000",
                       "--price-kind", "used")
    assert code == 0
    golden("compare/used_prices", out)


@pytest.mark.usefixtures("fake_models")
def test_text_table_new_prices_capped_sorted(capsys: pytest.CaptureFixture[str], golden) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "compare", "lenet5", "--gpus", "gtx 760,gtx 690,rtx 3060 12gb,rtx 4090,mi250x",
                       "--max-batch", "100", "--sort", "value")
    assert code == 0
    golden("compare/new_prices_capped_by_value", out)


@pytest.mark.usefixtures("fake_models")
def test_text_table_cloud_in_cny(capsys: pytest.CaptureFixture[str], golden) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "compare", "cifar_cnn", "--gpus", "t4,l4,a100 80gb sxm4,h100 sxm", "--dataset-size",
                       "50000", "--price-kind", "cloud", "--currency", "cny", "--reference", "l4")
    assert code == 0
    assert "¥" in out and "2026-06" in out and "speeds relative to L4" in out
    golden("compare/cloud_cny", out)


@pytest.mark.usefixtures("fake_models")
def test_text_table_cloud_in_cny_chinese(capsys: pytest.CaptureFixture[str], golden) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "compare", "cifar_cnn", "--gpus", "t4,l4,a100 80gb sxm4,h100 sxm", "--dataset-size",
                       "50000", "--price-kind", "cloud", "--currency", "cny", "--reference", "l4", "--lang", "zh")
    assert code == 0
    assert "¥" in out and "速度以 L4 为基准" in out and "每轮耗时" in out
    golden("compare/cloud_cny_zh", out)


def test_override_file_changes_the_price(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    prices = tmp_path / "p.csv"
    prices.write_text("kind,gpu,offer,price,currency,date,source\nused,gtx 760,local shop,300,CNY,2026-11-01,me\n",
                      encoding="utf-8")
    code, out, _ = run(capsys, "compare", "lenet5", "--gpus", "gtx 760", "--price-kind", "used", "--currency",
                       "cny", "--prices", str(prices), "--json")
    assert code == 0
    c = json.loads(out)[0]["compare"]
    assert c["price"]["price"] == 300 and c["price"]["origin"] == str(prices) and c["price_stale"] is False


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--gpus", "gtx 760", "--currency", "gbp"], "allowed: USD, CNY, EUR"),
        (["--gpus", "gtx 760", "--reference", "rtx 3060 12gb"], "not among the compared GPUs"),
        (["--gpus", "gtx 7600000"], "Unknown GPU"),
        (["--gpus", "gtx 760", "--dataset-size", "0"], "--dataset-size 0"),
        (["--gpus", "gtx 760", "--max-batch", "-1"], "--max-batch -1"),
        (["--gpus", "gtx 760", "--batch", "zero"], "--batch"),
        (["--gpus", "gtx 760", "--prices", "/nonexistent/p.csv"], "cannot be read"),
    ],
)
def test_bad_input_exits_2_with_a_message(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code, out, err = run(capsys, "compare", "lenet5", *argv)
    assert code == 2 and not out
    assert needle in err and "Traceback" not in err


def test_bad_price_kind_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["compare", "lenet5", "--gpus", "gtx 760", "--price-kind", "rental"])
    assert exc.value.code == 2
    assert "new, used, cloud" in capsys.readouterr().err.replace("'", "")
