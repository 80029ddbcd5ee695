"""GPU prices: dated, sourced purchase and cloud prices, currency conversion and budgets.

    >>> from gpuplan.catalog.prices import price_for, cloud_offers, convert, parse_budget
    >>> q = price_for("rtx 3060 12gb", "used")
    >>> q.price, q.currency, q.date, q.source
    (218.0, 'USD', '2023-10', 'TOMS-EBAY-2023-11')
    >>> parse_budget("1500cny")
    Money(amount=1500.0, currency='CNY')

Data: ``catalog/data/prices.csv`` (columns ``kind,gpu,offer,price,currency,unit,region,date,source,notes``,
sources and caveats in ``prices_sources.md``) and ``catalog/data/fx_rates.csv`` (dated monthly USD rates).
Users add or replace rows with a CSV of the same columns: ``--prices FILE`` or ``$GPUPLAN_PRICES``
(see :func:`load_prices`). Nothing is estimated here: a GPU without a price row has no price (None).

Which price :func:`price_for` picks (one rule per kind, user rows first):

* ``new``: the newest *dated* row, so a 2023 retail street price wins over a 2020 launch MSRP (what a
  new card cost most recently); on the same date the launch MSRP wins over a Founders Edition price.
* ``used``: the newest row (the shipped used prices are one month of US eBay sales, 2023-10).
* ``cloud``: the cheapest *on-demand* offer per GPU-hour (spot, reservations and free tiers are
  left out here; :func:`cloud_offers` lists every offer).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from gpuplan.catalog._data import read_csv
from gpuplan.errors import UnknownGPUError, UsageError
from gpuplan.i18n import msg

PRICES_ENV = "GPUPLAN_PRICES"
STALE_AFTER_DAYS = 365  # a price older than 12 months is flagged as stale
COLUMNS = ("kind", "gpu", "offer", "price", "currency", "unit", "region", "date", "source", "notes")
REQUIRED_COLUMNS = ("kind", "gpu", "price", "currency")


class PriceKind(StrEnum):
    NEW = "new"
    USED = "used"
    CLOUD = "cloud"


class CloudTerms(StrEnum):
    """How a cloud offer is billed (from its ``offer`` text and price)."""

    ON_DEMAND = "on-demand"
    SPOT = "spot"
    RESERVATION = "reservation"
    FREE = "free"


@dataclass(frozen=True)
class Money:
    amount: float
    currency: str  # ISO code: "USD" | "CNY" | "EUR" (those with a dated rate)


@dataclass(frozen=True)
class FxRate:
    date: str  # "YYYY-MM" (monthly average)
    base: str  # always "USD"
    quote: str
    rate: float  # units of ``quote`` per 1 ``base``
    source: str


@dataclass(frozen=True)
class PriceQuote:
    """One price row: what, how much, in which currency, when and where it was seen, and who says so.

    ``price`` is per card (``unit="each"``) or per instance-hour (``unit="hour"``), in ``currency``.
    When a quote was converted (``price_for(..., currency=...)``), ``original_price`` /
    ``original_currency`` keep the row's own figure and ``fx_rate`` / ``fx_date`` the rate used.
    """

    gpu: str  # GPU name as written in the price file
    catalog_name: str | None  # the matching catalog GPU; None when the catalog has no such GPU
    kind: PriceKind
    offer: str
    price: float
    currency: str
    unit: str  # "each" | "hour"
    region: str
    date: str | None  # "YYYY-MM-DD", "YYYY-MM" (monthly figure) or None (undated)
    source: str  # source key(s), see prices_sources.md
    notes: str
    gpus_per_instance: int = 1  # cloud: GPUs in one instance/session; purchases: 1
    devices_per_board: int = 1  # purchases: GPUs (as PyTorch sees them) on the board the price buys
    per_gpu_hour: float | None = None  # cloud: price of one GPU-hour, in ``currency``
    terms: CloudTerms | None = None  # cloud only
    session_hours_limit: float | None = None  # free tiers: longest session, as the data states
    weekly_hours_limit: float | None = None  # free tiers: weekly GPU quota, as the data states
    origin: str = "shipped"  # "shipped" or the path of the user's override file
    original_price: float | None = None
    original_currency: str | None = None
    fx_rate: float | None = None  # units of ``currency`` per 1 ``original_currency``
    fx_date: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The row's fields plus the derived ones (price per device, instance-hour price, free tier)."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out.update(price_per_device=self.price_per_device, instance_hourly=self.instance_hourly,
                   free_tier=self.free_tier)
        return out

    @property
    def free_tier(self) -> bool:
        return self.terms is CloudTerms.FREE

    @property
    def price_per_device(self) -> float:
        """Purchase price of one GPU device (a dual-GPU board's price split in two)."""
        return self.price / max(1, self.devices_per_board)

    @property
    def instance_hourly(self) -> float | None:
        """Price of one instance-hour (cloud), in ``currency``."""
        if self.per_gpu_hour is None:
            return None
        return self.per_gpu_hour * self.gpus_per_instance

    @property
    def as_of(self) -> dt.date | None:
        """The price date as a day (a monthly figure counts from the 1st of its month)."""
        return parse_date(self.date)

    def age_days(self, today: dt.date | None = None) -> int | None:
        d = self.as_of
        return None if d is None else ((today or current_date()) - d).days

    def is_stale(self, today: dt.date | None = None) -> bool:
        """Older than 12 months (or undated): show it with its date and treat it with care."""
        age = self.age_days(today)
        return age is None or age > STALE_AFTER_DAYS


# --------------------------------------------------------------------------- dates, currencies


def current_date() -> dt.date:
    """Today's date (one place, so tests can pin it)."""
    return dt.date.today()


_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


def parse_date(text: str | None) -> dt.date | None:
    """``"2023-10"`` -> 2023-10-01, ``"2026-11-09"`` -> that day, ``""``/None -> None."""
    if not text:
        return None
    m = _DATE.match(text.strip())
    if not m:
        raise ValueError(f"date {text!r} is not YYYY-MM-DD or YYYY-MM")
    return dt.date(int(m[1]), int(m[2]), int(m[3] or 1))


@cache
def fx_rates() -> tuple[FxRate, ...]:
    """The dated exchange rates of ``fx_rates.csv`` (USD to each quote currency), oldest first."""
    rows = [FxRate(r["date"], r["base"].upper(), r["quote"].upper(), float(r["rate"]), r["source"])
            for r in read_csv("fx_rates.csv")]
    for r in rows:
        if r.base != "USD":  # pragma: no cover - data invariant, checked by the tests
            raise ValueError(f"fx_rates.csv: base must be USD (got {r.base})")
    return tuple(sorted(rows, key=lambda r: r.date))


def currencies() -> tuple[str, ...]:
    """Currencies that can be converted: USD and every quote currency with a dated rate."""
    return ("USD", *sorted({r.quote for r in fx_rates()}))


def check_currency(code: str, what: str = "currency") -> str:
    """Upper-cased ISO code, or :class:`UsageError` naming the allowed ones."""
    c = _CURRENCY_WORDS.get(code.strip().lower(), code.strip().upper())
    if c not in currencies():
        raise UsageError(msg("{what} {code} is not supported; allowed: {allowed} (the currencies with a dated "
                             "exchange rate in fx_rates.csv).", what=what, code=repr(code),
                             allowed=", ".join(currencies())))
    return c


def _usd_rate(code: str, on: dt.date | None) -> FxRate | None:
    """Rate USD -> ``code`` for the month of ``on`` (the latest one at or before it, else the earliest);
    ``on=None``: the latest rate. None for USD itself."""
    if code == "USD":
        return None
    rows = [r for r in fx_rates() if r.quote == code]
    if not rows:
        raise UsageError(msg("no exchange rate for {code}; allowed: {allowed}.", code=code,
                             allowed=", ".join(currencies())))
    if on is None:
        return rows[-1]
    month = f"{on.year:04d}-{on.month:02d}"
    before = [r for r in rows if r.date <= month]
    return before[-1] if before else rows[0]


def convert(amount: float, from_ccy: str, to_ccy: str, on: str | dt.date | None = None) -> tuple[float, str | None]:
    """``amount`` in ``from_ccy`` expressed in ``to_ccy`` with the dated monthly rate, and that rate's date.

    ``on`` picks the month of the rate (the latest rate at or before it); by default the latest rate in
    the data, i.e. the amount in today's money as far as the data go. The date returned is the rate's
    month (``None`` when no conversion was needed). Rates are monthly averages (FRED, see fx_rates.csv).
    """
    src, dst = check_currency(from_ccy), check_currency(to_ccy)
    if src == dst:
        return float(amount), None
    day = parse_date(on) if isinstance(on, str) else on
    r_src, r_dst = _usd_rate(src, day), _usd_rate(dst, day)
    usd = amount / r_src.rate if r_src else amount
    value = usd * r_dst.rate if r_dst else usd
    dates = [r.date for r in (r_src, r_dst) if r is not None]
    return value, max(dates)


# --------------------------------------------------------------------------- budgets

_SYMBOLS = {"$": "USD", "us$": "USD", "usd$": "USD", "¥": "CNY", "￥": "CNY", "rmb¥": "CNY", "€": "EUR"}
_CURRENCY_WORDS = {"usd": "USD", "dollar": "USD", "dollars": "USD", "cny": "CNY", "rmb": "CNY", "yuan": "CNY",
                   "元": "CNY", "块": "CNY", "eur": "EUR", "euro": "EUR", "euros": "EUR"}
_BUDGET = re.compile(r"^\s*(?P<pre>[^\d\s.,+-]*)\s*(?P<num>[+-]?[\d][\d,_]*(?:\.\d+)?|[+-]?\.\d+)\s*(?P<k>[kK])?"
                     r"\s*(?P<post>[^\d\s.,]*)\s*$")


def parse_budget(text: str, default_currency: str = "USD") -> Money:
    """``"300usd"``, ``"$300"``, ``"1500cny"``, ``"¥1500"``, ``"1,500 RMB"``, ``"250eur"``, ``"€250"``, ``"2k usd"``.

    A bare number is in ``default_currency``. ``¥`` is read as Chinese yuan (no JPY rate is kept).
    Raises :class:`UsageError` for a missing or non-positive amount or an unsupported currency.
    """
    allowed = ", ".join(currencies())
    examples = msg("e.g. {list}", list="300usd, $300, 1500cny, ¥1500, 250eur")
    m = _BUDGET.match(text or "")
    if not m:
        raise UsageError(msg("budget {text}: expected an amount and a currency ({examples}); currencies: {allowed}.",
                             text=repr(text), examples=examples, allowed=allowed))
    pre, post = m["pre"].lower(), m["post"].lower()
    found = []
    for word in (pre, post):
        if not word:
            continue
        code = _SYMBOLS.get(word) or _CURRENCY_WORDS.get(word)
        if code is None:
            raise UsageError(msg("budget {text}: unknown currency {word}; allowed: {allowed} (symbols $, ¥, €; "
                                 "{examples}).", text=repr(text), word=repr(word), allowed=allowed,
                                 examples=examples))
        found.append(code)
    if len(set(found)) > 1:
        raise UsageError(msg("budget {text}: two different currencies; give one ({examples}).", text=repr(text),
                             examples=examples))
    currency = found[0] if found else check_currency(default_currency)
    amount = float(m["num"].replace(",", "").replace("_", "")) * (1000 if m["k"] else 1)
    if not amount > 0:
        raise UsageError(msg("budget {text}: the amount must be positive ({examples}).", text=repr(text),
                             examples=examples))
    return Money(amount, currency)


# --------------------------------------------------------------------------- rows and matching

_CLOUD_NOTE = re.compile(r"^\s*(\d+) GPU\(s\) per instance -> ([\d.]+) ([A-Z]{3}) per GPU-hour")
_PER_GPU_PRICE = re.compile(r"price is per GPU-hour", re.IGNORECASE)
_GPUS_IN_TEXT = re.compile(r"(\d+) GPUs per (?:VM|instance|session)", re.IGNORECASE)
_SESSION = re.compile(r"session limit (\d+(?:\.\d+)?) h\b")
_WEEKLY = re.compile(r"weekly quota (\d+(?:\.\d+)?) h\b")
_NO_SPEC = "no gpu-specs row"


def _terms(offer: str, price: float) -> CloudTerms:
    low = offer.lower()
    if price == 0 or "free" in low:
        return CloudTerms.FREE
    if "spot" in low or "preemptible" in low:
        return CloudTerms.SPOT
    if "reservation" in low or "capacity block" in low:
        return CloudTerms.RESERVATION
    return CloudTerms.ON_DEMAND


def _catalog_name(gpu: str, notes: str, *, forgiving: bool) -> str | None:
    """The catalog GPU a price row is about (exact name first, then the forgiving lookup).

    Rows whose notes say "no gpu-specs row" are about a card the catalog lacks: they never match
    a neighbour ("Radeon RX 9070" is not the "RX 9070 XT", "A10G" is not the "A10").
    """
    from gpuplan.catalog.gpus import load_catalog
    from gpuplan.catalog.lookup import get_gpu

    names = {g.name for g in load_catalog()}
    if gpu in names:
        return gpu
    if _NO_SPEC in notes.lower() or not forgiving:
        return None
    try:
        return get_gpu(gpu).name
    except UnknownGPUError:
        return None


def _row_to_quote(row: dict[str, str], origin: str, where: str) -> PriceQuote:
    def bad(problem: str) -> UsageError:
        return UsageError(msg("{where}: {problem}", where=where, problem=problem))

    missing = [c for c in REQUIRED_COLUMNS if not row.get(c)]
    if missing:
        raise bad(msg("missing {names} (required columns: {required}).", names=", ".join(missing),
                      required=", ".join(REQUIRED_COLUMNS)))
    try:
        kind = PriceKind(row["kind"].lower())
    except ValueError:
        raise bad(msg("kind {kind}; allowed: new, used, cloud.", kind=repr(row["kind"]))) from None
    try:
        price = float(row["price"].replace(",", ""))
    except ValueError:
        raise bad(msg("price {price} is not a number.", price=repr(row["price"]))) from None
    if price < 0:
        raise bad(msg("price {price} is negative.", price=price))
    currency = check_currency(row["currency"], what=f"{where}: currency")
    unit = (row.get("unit") or ("hour" if kind is PriceKind.CLOUD else "each")).lower()
    if unit not in ("each", "hour") or (unit == "hour") != (kind is PriceKind.CLOUD):
        raise bad(msg("unit {unit}: cloud prices are per 'hour', new and used prices 'each'.", unit=repr(unit)))
    date = row.get("date") or None
    try:
        parse_date(date)
    except ValueError as err:
        raise bad(str(err)) from None
    notes = row.get("notes") or ""
    shipped = origin == "shipped"
    q = PriceQuote(
        gpu=row["gpu"], catalog_name=_catalog_name(row["gpu"], notes, forgiving=True), kind=kind,
        offer=row.get("offer") or ("user price" if not shipped else ""), price=price, currency=currency,
        unit=unit, region=row.get("region") or "", date=date,
        source=row.get("source") or ("user file" if not shipped else ""), notes=notes, origin=origin)
    if kind is PriceKind.CLOUD:
        q = _with_cloud_fields(q, row.get("gpus_per_instance") or "", where)
    elif q.catalog_name is not None:
        from gpuplan.catalog.lookup import get_gpu

        q = dataclasses.replace(q, devices_per_board=get_gpu(q.catalog_name).devices_per_board)
    return q


def _with_cloud_fields(q: PriceQuote, gpus_cell: str, where: str) -> PriceQuote:
    """GPUs per instance and price per GPU-hour from the notes convention of prices.csv.

    Cloud notes start with ``N GPU(s) per instance -> X USD per GPU-hour``; the ``price`` column is
    the instance-hour price unless the notes say "price is per GPU-hour" (then it is per GPU-hour).
    Free tiers state their limits as ``session limit N h`` / ``weekly quota N h``.
    """
    m = _CLOUD_NOTE.match(q.notes)
    gpus = int(gpus_cell) if gpus_cell.strip().isdigit() else int(m[1]) if m else 1
    per_gpu_price = bool(_PER_GPU_PRICE.search(q.notes))
    if per_gpu_price and not m:
        g = _GPUS_IN_TEXT.search(q.notes)
        gpus = int(g[1]) if g else gpus
    if gpus <= 0:
        raise UsageError(msg("{where}: GPUs per instance must be positive.", where=where))
    per_gpu_hour = q.price if per_gpu_price else q.price / gpus
    s, w = _SESSION.search(q.notes), _WEEKLY.search(q.notes)
    return dataclasses.replace(
        q, gpus_per_instance=gpus, per_gpu_hour=per_gpu_hour, terms=_terms(q.offer, q.price),
        session_hours_limit=float(s[1]) if s else None, weekly_hours_limit=float(w[1]) if w else None)


@cache
def _shipped() -> tuple[PriceQuote, ...]:
    return tuple(_row_to_quote(r, "shipped", f"prices.csv line {i + 2}") for i, r in enumerate(read_csv("prices.csv")))


def _read_override(path: Path) -> list[PriceQuote]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise UsageError(msg("price file {path} cannot be read ({error}); give a CSV with the columns {columns}.",
                             path=repr(str(path)), error=str(err.strerror or err), columns=",".join(COLUMNS))) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise UsageError(msg("price file {path}: missing column(s) {missing}; the header must name at least "
                             "{required} (all columns: {columns}).", path=repr(str(path)), missing=", ".join(missing),
                             required=",".join(REQUIRED_COLUMNS), columns=",".join(COLUMNS)))
    out = []
    for i, raw in enumerate(reader):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        if not any(row.values()):
            continue
        out.append(_row_to_quote(row, str(path), f"price file {str(path)!r} line {i + 2}"))
    return out


@cache
def _compact(name: str) -> str:
    from gpuplan.catalog.lookup import compact

    return compact(name)


def _identity(q: PriceQuote) -> str:
    return q.catalog_name or _compact(q.gpu)


def _merge(base: Iterable[PriceQuote], extra: Iterable[PriceQuote]) -> list[PriceQuote]:
    """``extra`` rows replace ``base`` rows with the same (kind, GPU, offer); other rows are added."""
    def key(q: PriceQuote) -> tuple[str, str, str]:
        return (q.kind.value, _identity(q), q.offer.strip().lower())

    extra = list(extra)
    replaced = {key(q) for q in extra}
    return [q for q in base if key(q) not in replaced] + extra


def load_prices(path: str | Path | None = None, *, use_env: bool = True) -> tuple[PriceQuote, ...]:
    """The shipped price rows, plus the user's rows.

    User rows come from ``$GPUPLAN_PRICES`` (when ``use_env``) and then from ``path`` (``--prices FILE``),
    each a CSV with the columns of prices.csv (``kind,gpu,price,currency`` required; ``unit`` defaults
    to each/hour by kind, an empty ``date`` means undated). A user row replaces a row with the same
    ``(kind, GPU, offer)`` and is added otherwise; :func:`price_for` prefers user rows.
    """
    rows: list[PriceQuote] = list(_shipped())
    paths: list[Path] = []
    env = os.environ.get(PRICES_ENV, "").strip() if use_env else ""
    if env:
        if not Path(env).is_file():
            raise UsageError(msg("${env}={value} is not a file; unset it or point it to a CSV with the columns "
                                 "{columns}.", env=PRICES_ENV, value=repr(env), columns=",".join(COLUMNS)))
        paths.append(Path(env))
    if path is not None:
        paths.append(Path(path))
    for p in paths:
        rows = _merge(rows, _read_override(p))
    return tuple(rows)


def _rows_for(gpu_name: str, prices: Sequence[PriceQuote]) -> list[PriceQuote]:
    """Rows about ``gpu_name``: an exact price-file name first, else the catalog GPU it resolves to
    (none for a name that is neither, e.g. a custom ``--gpu-spec`` card)."""
    from gpuplan.catalog.lookup import get_gpu

    key = _compact(gpu_name)
    direct = [q for q in prices if _compact(q.gpu) == key]
    if direct:
        ident = _identity(direct[0])
        return [q for q in prices if _identity(q) == ident]
    try:
        name = get_gpu(gpu_name).name
    except UnknownGPUError:
        return []
    return [q for q in prices if q.catalog_name == name]


_NEW_OFFER_RANK = ("msrp (launch)", "launch price", "release price (epoch)", "founders edition launch price")


def _offer_rank(q: PriceQuote) -> int:
    low = q.offer.lower()
    return _NEW_OFFER_RANK.index(low) if low in _NEW_OFFER_RANK else len(_NEW_OFFER_RANK)


def choose(rows: Sequence[PriceQuote], kind: PriceKind | str) -> PriceQuote | None:
    """The one price of ``kind`` among ``rows`` of one GPU, by the rule in the module docstring."""
    kind = PriceKind(kind)
    rows = [q for q in rows if q.kind is kind]
    user = [q for q in rows if q.origin != "shipped"]
    rows = user or rows
    if kind is PriceKind.CLOUD:
        paid = [q for q in rows if q.terms is CloudTerms.ON_DEMAND and q.per_gpu_hour is not None]
        if not paid:
            return None
        return min(paid, key=lambda q: (q.per_gpu_hour, -(q.as_of or dt.date.min).toordinal(), q.offer))
    if not rows:
        return None
    return min(rows, key=lambda q: (-(q.as_of or dt.date.min).toordinal(), _offer_rank(q), q.price))


def in_currency(q: PriceQuote, currency: str, on: str | dt.date | None = None) -> PriceQuote:
    """``q`` with its money fields in ``currency`` (latest dated rate unless ``on``); the original kept."""
    target = check_currency(currency)
    if target == q.currency:
        return q
    value, rate_date = convert(q.price, q.currency, target, on)
    factor = value / q.price if q.price else convert(1.0, q.currency, target, on)[0]
    return dataclasses.replace(
        q, price=value, currency=target,
        per_gpu_hour=None if q.per_gpu_hour is None else q.per_gpu_hour * factor,
        original_price=q.price, original_currency=q.currency, fx_rate=factor, fx_date=rate_date)


def price_for(gpu_name: str, kind: PriceKind | str = "new", currency: str = "USD", *,
              prices: Sequence[PriceQuote] | None = None) -> PriceQuote | None:
    """The price of one GPU of ``kind`` (new | used | cloud) in ``currency``, or None when none is known.

    ``gpu_name`` is a price-file name or any name the catalog lookup accepts ("rtx 3060 12gb"); a name
    that is neither (a custom card) has no price. See the module docstring for which row is chosen.
    Converted with the latest dated rate.
    """
    try:
        kind = PriceKind(kind)
    except ValueError:
        raise UsageError(msg("price kind {kind}; allowed: new, used, cloud.", kind=repr(kind))) from None
    rows = _rows_for(gpu_name, load_prices() if prices is None else prices)
    q = choose(rows, kind)
    return None if q is None else in_currency(q, currency)


def cloud_offers(gpu_name: str | None = None, *, currency: str = "USD", include_spot: bool = True,
                 include_reservations: bool = False, include_free: bool = True,
                 prices: Sequence[PriceQuote] | None = None) -> list[PriceQuote]:
    """Cloud offers (all GPUs, or one), cheapest per GPU-hour first, in ``currency``."""
    rows = list(load_prices() if prices is None else prices)
    if gpu_name is not None:
        rows = _rows_for(gpu_name, rows)
    allowed = {CloudTerms.ON_DEMAND}
    allowed |= {CloudTerms.SPOT} if include_spot else set()
    allowed |= {CloudTerms.RESERVATION} if include_reservations else set()
    allowed |= {CloudTerms.FREE} if include_free else set()
    out = [in_currency(q, currency) for q in rows if q.kind is PriceKind.CLOUD and q.terms in allowed]
    return sorted(out, key=lambda q: (q.per_gpu_hour or 0.0, q.gpu, q.offer))


def priced_catalog_names(kinds: Iterable[PriceKind | str], prices: Sequence[PriceQuote] | None = None) -> list[str]:
    """Catalog GPU names with at least one price of ``kinds`` (in catalog order)."""
    from gpuplan.catalog.gpus import load_catalog

    wanted = {PriceKind(k) for k in kinds}
    have = {q.catalog_name for q in (load_prices() if prices is None else prices)
            if q.kind in wanted and q.catalog_name}
    return [g.name for g in load_catalog() if g.name in have]


def unmatched_gpus(prices: Sequence[PriceQuote] | None = None) -> list[str]:
    """Priced GPUs the catalog does not have (so nothing can be predicted for them)."""
    rows = load_prices() if prices is None else prices
    return sorted({q.gpu for q in rows if q.catalog_name is None})
