"""The finance domain, its per-session state, and the world's monthly stock series."""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dive.servers.kit import world_value
from dive.servers.kit import Domain, SessionContext, ToolFailure


@dataclass(frozen=True)
class Company:
    id: str
    name: str
    sector: str
    hq_city: str
    hq_city_id: int
    founded: int | None


@dataclass(frozen=True)
class Series:
    """One ticker's monthly closing prices, oldest first."""

    symbol: str
    dates: tuple[dt.date, ...]
    prices: tuple[float, ...]
    company: Company | None

    def index_at_or_before(self, day: dt.date, what: str) -> int:
        """The last month on or before `day` (the month's price is the one in force on that day)."""
        if day < self.dates[0]:
            raise ToolFailure(
                f"{self.symbol} has no price before {self.dates[0].isoformat()}; {what} {day.isoformat()} is too early"
            )
        if day > self.dates[-1] + dt.timedelta(days=31):
            raise ToolFailure(
                f"{self.symbol}'s prices end at {self.dates[-1].isoformat()}; {what} {day.isoformat()} "
                "is after the data"
            )
        lo, hi = 0, len(self.dates) - 1
        while lo < hi:  # the last index with dates[i] <= day
            mid = (lo + hi + 1) // 2
            if self.dates[mid] <= day:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def window(self, start: dt.date | None, end: dt.date | None) -> tuple[int, int]:
        """Indices [i, j] of the months from `start` (on or before) to `end` (on or before); whole series by default."""
        i = self.index_at_or_before(start, "start") if start else 0
        j = self.index_at_or_before(end, "end") if end else len(self.dates) - 1
        if j < i:
            raise ToolFailure("end must not be before start")
        return i, j


class Market:
    def __init__(self, db_path: Path) -> None:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT symbol, date, price FROM stock_prices ORDER BY symbol, date").fetchall()
            companies = con.execute(
                "SELECT co.ticker, co.id, co.name, co.sector, ci.name, co.hq_city_id, co.founded FROM companies co"
                " LEFT JOIN cities ci ON ci.id = co.hq_city_id WHERE co.ticker IS NOT NULL"
            ).fetchall()
        finally:
            con.close()
        by_symbol: dict[str, list[tuple[dt.date, float]]] = {}
        for symbol, day, price in rows:
            by_symbol.setdefault(symbol, []).append((dt.date.fromisoformat(day), float(price)))
        company_of = {r[0]: Company(r[1], r[2], r[3], r[4] or "", int(r[5]), r[6]) for r in companies}
        self.series = {
            sym: Series(sym, tuple(d for d, _ in pts), tuple(p for _, p in pts), company_of.get(sym))
            for sym, pts in by_symbol.items()
        }
        self.by_company = {fold_name(c.name): sym for sym, c in company_of.items() if sym in self.series}
        self.by_company_id = {c.id: sym for sym, c in company_of.items() if sym in self.series}

    def get(self, text: str) -> Series:
        """A series by ticker ('MSFT'), entity id ('stock:MSFT', 'company:c0005') or company name ('Microsoft')."""
        raw = (text or "").strip()
        if raw.lower().startswith("stock:"):
            raw = raw.split(":", 1)[1]
        elif raw.lower().startswith("company:"):
            raw = self.by_company_id.get(raw.split(":", 1)[1], raw)
        found = self.series.get(raw.upper()) or self.series.get(self.by_company.get(fold_name(raw), ""))
        if found is None:
            raise ToolFailure(
                f"no stock series for {text!r}; the world has monthly prices for {', '.join(sorted(self.series))}"
            )
        return found


def fold_name(text: str) -> str:
    return " ".join(text.lower().replace(",", " ").replace(".", " ").split())


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> Market:
    return Market(Path(path))


class FinanceState:
    """A session's view of the world's stock series (shared, read-only) and its database (read-only)."""

    def __init__(self, ctx: SessionContext) -> None:
        self.db_path = ctx.world.db_path
        stat = Path(self.db_path).stat()
        self.market = _load(str(self.db_path), stat.st_mtime_ns, stat.st_size)

    def close(self) -> None:
        """Nothing to release: the price table is shared and read-only."""


DOMAIN = Domain(
    "finance",
    "Finance: the world's monthly stock prices (AAPL, AMZN, GOOG, IBM, MSFT, 2000-2010) with returns, "
    "volatility, drawdowns, moving averages and comparisons; company financials and product sales; and "
    "calculators for compound interest, loans, NPV, IRR, CAGR, percentage change, break-even and inflation.",
    FinanceState,
    held_out=True,
)


def parse_month_date(text: str, what: str) -> dt.date:
    """'2008-09-15' or '2008-09' (the first of the month)."""
    raw = (text or "").strip()
    try:
        if len(raw) == 7:
            return dt.date.fromisoformat(raw + "-01")
        return dt.date.fromisoformat(raw[:10])
    except ValueError:
        raise ToolFailure(f"{what} {text!r} is not a date; use YYYY-MM-DD or YYYY-MM, e.g. '2008-09-15'") from None


def monthly_returns(prices: tuple[float, ...] | list[float]) -> list[float]:
    return [prices[k] / prices[k - 1] - 1 for k in range(1, len(prices))]


def years_between(a: dt.date, b: dt.date) -> float:
    return (b - a).days / 365.25


def money(x: float) -> float:
    return round(x, 2)


def pct(x: float, digits: int = 4) -> float:
    """A fraction as a percentage, rounded."""
    return round(100 * x, digits)


def finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ToolFailure(f"{what} must be a finite number")
    return value


fact = world_value  # one value from the world database (read-only), for self-test checks
