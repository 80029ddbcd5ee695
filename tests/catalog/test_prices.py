"""Prices: the shipped rows, which price is chosen, GPU name matching, FX conversion, budgets, overrides."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import pytest

from gpuplan.catalog import load_catalog
from gpuplan.catalog.prices import (
    CloudTerms,
    Money,
    PriceKind,
    cloud_offers,
    convert,
    currencies,
    fx_rates,
    in_currency,
    load_prices,
    parse_budget,
    price_for,
    priced_catalog_names,
    unmatched_gpus,
)
from gpuplan.errors import UsageError

TODAY = dt.date(2026, 11, 21)


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPUPLAN_PRICES", raising=False)


# ---------------------------------------------------------------- the shipped data


def test_shipped_rows_load_with_sources_and_known_currencies() -> None:
    rows = load_prices()
    assert len(rows) == 312
    assert {q.kind for q in rows} == set(PriceKind)
    for q in rows:
        assert q.source, q
        assert q.currency in currencies()
        assert q.price >= 0
        assert (q.unit == "hour") == (q.kind is PriceKind.CLOUD)


def test_cloud_rows_per_gpu_hour_agrees_with_the_notes() -> None:
    """The notes state GPUs per instance and the GPU-hour price; the code derives the latter from the price."""
    note = re.compile(r"^(\d+) GPU\(s\) per instance -> ([\d.]+) USD per GPU-hour")
    cloud = [q for q in load_prices() if q.kind is PriceKind.CLOUD]
    assert len(cloud) == 53
    for q in cloud:
        m = note.match(q.notes)
        assert m, f"{q.offer}: notes do not start with the GPU count"
        assert int(m[1]) == q.gpus_per_instance
        assert q.per_gpu_hour == pytest.approx(float(m[2]), rel=1e-3, abs=1e-4), q.offer


def test_per_gpu_priced_rows_and_instance_price() -> None:
    nd96 = next(q for q in load_prices() if "ND96isr" in q.offer)
    assert (nd96.gpus_per_instance, nd96.per_gpu_hour) == (8, 12.29)
    assert nd96.instance_hourly == pytest.approx(98.32)
    p4d = next(q for q in load_prices() if q.offer == "AWS p4d.24xlarge on-demand")
    assert p4d.gpus_per_instance == 8 and p4d.instance_hourly == pytest.approx(21.957642)


def test_fx_rates_are_dated_usd_rates() -> None:
    rates = fx_rates()
    assert {r.base for r in rates} == {"USD"}
    assert {r.quote for r in rates} == {"CNY", "EUR"}
    assert all(re.fullmatch(r"\d{4}-\d{2}", r.date) for r in rates)
    assert currencies() == ("USD", "CNY", "EUR")


# ---------------------------------------------------------------- which price


def test_new_price_prefers_the_newest_dated_row() -> None:
    q = price_for("rtx 3060 12gb", "new")
    assert q is not None
    assert (q.price, q.date, q.offer) == (250.0, "2023-10", "street price (Tom's Hardware retail)")  # not the 2021 MSRP


def test_new_price_same_date_prefers_msrp_over_founders_edition() -> None:
    q = price_for("GeForce GTX 1070", "new")
    assert q is not None and (q.price, q.offer) == (379.0, "MSRP (launch)")


def test_used_price() -> None:
    q = price_for("rtx 3060 12gb", PriceKind.USED)
    assert q is not None and (q.price, q.currency, q.date, q.source) == (218.0, "USD", "2023-10", "TOMS-EBAY-2023-11")
    assert price_for("gtx 760", "used") is None  # no dated used price for Kepler: None, never a guess


def test_cloud_price_is_cheapest_on_demand_per_gpu_hour() -> None:
    l4 = price_for("L4", "cloud")
    assert l4 is not None and l4.offer == "GCP g2-standard-4 on-demand"  # not the cheaper spot offer
    h100 = price_for("h100 sxm", "cloud")
    assert h100 is not None and h100.terms is CloudTerms.ON_DEMAND
    assert h100.per_gpu_hour == pytest.approx(2.4024)  # below AWS capacity blocks and spot, both left out
    assert price_for("t4", "cloud") is None  # only free tiers


def test_cloud_offers_list_free_tiers_with_their_limits() -> None:
    offers = cloud_offers("Tesla T4")
    assert {q.offer for q in offers} == {"Google Colab free tier", "Kaggle Notebooks free GPU (T4 x2)"}
    colab = next(q for q in offers if "Colab" in q.offer)
    kaggle = next(q for q in offers if "Kaggle" in q.offer)
    assert colab.free_tier and colab.session_hours_limit == 12 and colab.weekly_hours_limit is None
    assert kaggle.gpus_per_instance == 2 and kaggle.weekly_hours_limit == 30
    assert not cloud_offers("Tesla T4", include_free=False)
    h100 = cloud_offers("H100 SXM5 80GB")
    assert all(q.terms is not CloudTerms.RESERVATION for q in h100)
    assert any(q.terms is CloudTerms.RESERVATION for q in cloud_offers("H100 SXM5 80GB", include_reservations=True))
    per_hour = [q.per_gpu_hour for q in h100]
    assert per_hour == sorted(per_hour)


# ---------------------------------------------------------------- names


def test_rows_without_a_spec_row_never_match_a_neighbour() -> None:
    rx9070 = price_for("Radeon RX 9070", "new")
    assert rx9070 is not None and rx9070.catalog_name is None and rx9070.price == 549
    xt = price_for("rx 9070 xt", "new")
    assert xt is not None and xt.catalog_name == "Radeon RX 9070 XT" and xt.price == 599
    a10g = price_for("A10G", "cloud")
    assert a10g is not None and a10g.catalog_name is None
    a10 = price_for("A10", "new")
    assert a10 is not None and a10.catalog_name == "A10" and a10.price == 2800


def test_board_prices_of_multi_gpu_boards() -> None:
    q = price_for("Instinct MI250X", "new")  # the price file says "Instinct MI250X"; the catalog has one GCD
    assert q is not None and q.catalog_name == "Instinct MI250X (per GCD)"
    assert q.devices_per_board == 2 and q.price_per_device == pytest.approx(7250)


def test_unknown_gpu_has_no_price() -> None:
    assert price_for("My custom card", "new") is None  # e.g. a --gpu-spec card: no price, not an error
    assert cloud_offers("My custom card") == []


def test_matched_and_unmatched_names() -> None:
    names = {g.name for g in load_catalog()}
    priced = priced_catalog_names(["new", "used"])
    assert "GeForce GTX 760" in priced and set(priced) <= names
    assert {"A10G", "Radeon RX 9070", "TITAN V"} <= set(unmatched_gpus())
    assert not set(unmatched_gpus()) & names


def test_bad_price_kind() -> None:
    with pytest.raises(UsageError, match="allowed: new, used, cloud"):
        price_for("gtx 760", "rental")


# ---------------------------------------------------------------- currencies


def test_convert_with_the_latest_dated_rate() -> None:
    value, date = convert(100, "USD", "CNY")
    assert value == pytest.approx(677.58) and date == "2026-06"
    assert convert(42.0, "EUR", "eur") == (42.0, None)


def test_convert_with_the_rate_of_a_given_month() -> None:
    value, date = convert(100, "USD", "CNY", "2023-10-15")
    assert value == pytest.approx(730.71) and date == "2023-10"
    value, date = convert(100, "EUR", "CNY", "2023-10")  # cross rate through USD, same month
    assert value == pytest.approx(100 / 0.9465 * 7.3071) and date == "2023-10"
    _, date = convert(100, "USD", "CNY", "2013-06-25")  # older than every rate: the earliest one
    assert date == "2023-10"


def test_convert_rejects_unknown_currency() -> None:
    with pytest.raises(UsageError, match="allowed: USD, CNY, EUR"):
        convert(1, "USD", "GBP")


def test_quote_in_another_currency_keeps_the_original() -> None:
    q = price_for("rtx 3060 12gb", "used", "CNY")
    assert q is not None and q.currency == "CNY"
    assert q.original_price == 218 and q.original_currency == "USD" and q.fx_date == "2026-06"
    assert q.price == pytest.approx(218 * 6.7758)
    cloud = price_for("L4", "cloud", "EUR")
    assert cloud is not None and cloud.per_gpu_hour == pytest.approx(0.706832 * 0.8684)
    assert in_currency(cloud, "EUR") is cloud


# ---------------------------------------------------------------- staleness


def test_stale_flag_relative_to_today() -> None:
    fresh = price_for("L4", "cloud")  # 2026-07-30
    assert fresh is not None and not fresh.is_stale(TODAY) and fresh.age_days(TODAY) == 114
    assert fresh.is_stale(dt.date(2027, 8, 1))  # more than 12 months later
    old = price_for("rtx 3060 12gb", "used")  # 2023-10
    assert old is not None and old.is_stale(TODAY)
    undated = price_for("GeForce RTX 5050", "new")
    assert undated is not None and undated.date is None and undated.is_stale(TODAY)


# ---------------------------------------------------------------- budgets


@pytest.mark.parametrize(
    ("text", "money"),
    [
        ("300usd", Money(300, "USD")),
        ("$300", Money(300, "USD")),
        ("US$300", Money(300, "USD")),
        ("1500cny", Money(1500, "CNY")),
        ("¥1500", Money(1500, "CNY")),
        ("1,500 RMB", Money(1500, "CNY")),
        ("1500元", Money(1500, "CNY")),
        ("250eur", Money(250, "EUR")),
        ("€250", Money(250, "EUR")),
        ("2k usd", Money(2000, "USD")),
        ("$300 USD", Money(300, "USD")),
        ("99.5", Money(99.5, "USD")),
    ],
)
def test_parse_budget(text: str, money: Money) -> None:
    assert parse_budget(text) == money


def test_bare_budget_takes_the_default_currency() -> None:
    assert parse_budget("800", default_currency="cny") == Money(800, "CNY")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("300gbp", "unknown currency 'gbp'; allowed: USD, CNY, EUR"),
        ("-5usd", "must be positive"),
        ("0cny", "must be positive"),
        ("usd", "expected an amount and a currency"),
        ("", "expected an amount and a currency"),
        ("three hundred", "expected an amount and a currency"),
        ("$300 eur", "two different currencies"),
    ],
)
def test_parse_budget_errors_name_what_is_allowed(text: str, needle: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_budget(text)
    assert needle in str(err.value)


# ---------------------------------------------------------------- user override files


def _write(tmp_path: Path, text: str, name: str = "my_prices.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_override_replaces_same_offer_and_adds_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, (
        "kind,gpu,offer,price,currency,unit,region,date,source,notes\n"
        "used,GeForce RTX 3060 12GB,eBay average sold price (Tom's Hardware),190,USD,each,US,2026-10,me,\n"
        "used,gtx 760,Xianyu listing,120,CNY,each,China,2026-11-01,xianyu.com,\n"
    ))
    rows = load_prices(path)
    assert len(rows) == len(load_prices()) + 1
    q = price_for("rtx 3060 12gb", "used", prices=rows)
    assert q is not None and q.price == 190 and q.origin == str(path)
    kepler = price_for("GeForce GTX 760", "used", "CNY", prices=rows)
    assert kepler is not None and (kepler.price, kepler.currency, kepler.catalog_name) == (120, "CNY", "GeForce GTX 760")
    in_usd = price_for("GeForce GTX 760", "used", prices=rows)
    assert in_usd is not None and in_usd.price == pytest.approx(120 / 6.7758) and in_usd.original_currency == "CNY"


def test_user_rows_win_over_shipped_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, "kind,gpu,price,currency,date\nnew,rtx 3060 12gb,280,USD,2020-01\n")
    q = price_for("rtx 3060 12gb", "new", prices=load_prices(path))
    assert q is not None and q.price == 280 and q.offer == "user price" and q.source == "user file"


def test_override_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "kind,gpu,offer,price,currency\ncloud,Tesla T4,my lab,0.1,USD\n")
    monkeypatch.setenv("GPUPLAN_PRICES", str(path))
    q = price_for("t4", "cloud")
    assert q is not None and q.per_gpu_hour == pytest.approx(0.1) and q.terms is CloudTerms.ON_DEMAND
    assert q.date is None and q.is_stale(TODAY)  # undated user price: shown as undated
    assert price_for("t4", "cloud", prices=load_prices(use_env=False)) is None


def test_override_env_pointing_nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GPUPLAN_PRICES", str(tmp_path / "missing.csv"))
    with pytest.raises(UsageError, match="GPUPLAN_PRICES"):
        load_prices()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("gpu,price\nrtx 3060,1\n", "missing column(s) kind, currency"),
        ("kind,gpu,price,currency\nrental,rtx 3060 12gb,1,USD\n", "line 2: kind 'rental'; allowed: new, used, cloud"),
        ("kind,gpu,price,currency\nnew,rtx 3060 12gb,cheap,USD\n", "price 'cheap' is not a number"),
        ("kind,gpu,price,currency\nnew,rtx 3060 12gb,-3,USD\n", "negative"),
        ("kind,gpu,price,currency\nnew,rtx 3060 12gb,3,GBP\n", "allowed: USD, CNY, EUR"),
        ("kind,gpu,price,currency,date\nnew,rtx 3060 12gb,3,USD,last week\n", "YYYY-MM-DD"),
        ("kind,gpu,price,currency,unit\nnew,rtx 3060 12gb,3,USD,hour\n", "cloud prices are per 'hour'"),
        ("kind,gpu,price,currency\nnew,,3,USD\n", "missing gpu"),
    ],
)
def test_bad_override_files(tmp_path: Path, body: str, needle: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(UsageError) as err:
        load_prices(path)
    assert needle in str(err.value) and "my_prices.csv" in str(err.value)


def test_unreadable_override_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot be read"):
        load_prices(tmp_path / "nope.csv")


def test_money_values_are_finite() -> None:
    for q in load_prices():
        assert math.isfinite(q.price)
