"""Stock tools over the world's monthly closing prices: prices, returns, risk and comparisons."""

from __future__ import annotations

import math
import statistics
from typing import Annotated, Literal

from dive.servers.kit import Example, Fact, Items, Meaning, Takes, ToolFailure
from pydantic import BaseModel, Field

from .domain import (
    DOMAIN,
    FinanceState,
    Series,
    fact,
    monthly_returns,
    parse_month_date,
    pct,
    years_between,
)

SymbolArg = Annotated[
    str,
    Field(
        description="Ticker ('MSFT', 'AAPL', 'AMZN', 'GOOG', 'IBM'), 'stock:MSFT', or the company name ('Microsoft')",
        min_length=2,
        max_length=60,
    ),
]
StartArg = Annotated[
    str | None,
    Field(
        description="First month, YYYY-MM-DD or YYYY-MM (the month on or before it is "
        "used); the series start when omitted",
        max_length=20,
    ),
]
EndArg = Annotated[
    str | None,
    Field(description="Last month, YYYY-MM-DD or YYYY-MM (on or before); the series end when omitted", max_length=20),
]


def _window(series: Series, start: str | None, end: str | None) -> tuple[int, int]:
    return series.window(
        parse_month_date(start, "start") if start else None, parse_month_date(end, "end") if end else None
    )


class PricePoint(BaseModel):
    date: str = Field(description="Month (first day) of the closing price")
    price: float


class StockOverview(BaseModel):
    symbol: str
    entity_id: str = Field(description="'stock:<SYMBOL>'")
    company: str | None
    company_entity_id: str | None
    sector: str | None
    headquarters: str | None
    first_month: str
    last_month: str
    months: int
    first_price: float
    last_price: float
    low: PricePoint
    high: PricePoint
    total_return_pct: float


@DOMAIN.tool(
    meaning=Meaning(
        takes={"symbol": Takes("company", "ticker")},
        facts=(
            Fact("sector", "the sector of {symbol}"),
            Fact("headquarters", "the headquarters city of {symbol}", refers_to="city", by="name"),
            Fact("high.price", "the highest monthly closing price of {symbol}'s stock in its recorded prices",
                 unit="US dollars"),
            Fact("high.date", "the month of the highest monthly closing price of {symbol}'s stock in its recorded "
                 "prices"),
            Fact("low.price", "the lowest monthly closing price of {symbol}'s stock in its recorded prices",
                 unit="US dollars"),
            Fact("low.date", "the month of the lowest monthly closing price of {symbol}'s stock in its recorded "
                 "prices"),
            Fact("total_return_pct", "the total price return of {symbol}'s stock over its recorded prices",
                 unit="percent"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"symbol": "MSFT"},
            lambda r, w: (
                r["company"] == "Microsoft"
                and r["first_month"] == "2000-01-01"
                and r["months"] == fact(w, "SELECT COUNT(*) FROM stock_prices WHERE symbol = 'MSFT'")
            ),
        ),
        Example(
            {"symbol": "Google"},
            lambda r, w: (
                r["symbol"] == "GOOG"
                and r["first_month"] == fact(w, "SELECT MIN(date) FROM stock_prices WHERE symbol = 'GOOG'")
                and r["high"]["price"] == fact(w, "SELECT MAX(price) FROM stock_prices WHERE symbol = 'GOOG'")
            ),
        ),
    ],
)
def stock_overview(s: FinanceState, symbol: SymbolArg) -> StockOverview:
    """Summary of one stock's monthly price series: the company (name, sector, headquarters), the months
    covered, first and last prices, the all-time low and high with their months, and the total return."""
    x = s.market.get(symbol)
    lo = min(range(len(x.prices)), key=lambda k: (x.prices[k], k))
    hi = max(range(len(x.prices)), key=lambda k: (x.prices[k], -k))
    c = x.company
    return StockOverview(
        symbol=x.symbol,
        entity_id=f"stock:{x.symbol}",
        company=c.name if c else None,
        company_entity_id=f"company:{c.id}" if c else None,
        sector=c.sector if c else None,
        headquarters=c.hq_city if c else None,
        first_month=x.dates[0].isoformat(),
        last_month=x.dates[-1].isoformat(),
        months=len(x.dates),
        first_price=x.prices[0],
        last_price=x.prices[-1],
        low=PricePoint(date=x.dates[lo].isoformat(), price=x.prices[lo]),
        high=PricePoint(date=x.dates[hi].isoformat(), price=x.prices[hi]),
        total_return_pct=pct(x.prices[-1] / x.prices[0] - 1),
    )


class PriceOnDate(BaseModel):
    symbol: str
    requested_date: str
    price_month: str = Field(description="The month whose closing price applies (on or before the requested date)")
    price: float


@DOMAIN.tool(
    meaning=Meaning(
        takes={"symbol": Takes("company", "ticker"), "date": Takes("date", "iso")},
        facts=(
            Fact("price", "the monthly closing price of {symbol}'s stock for the month of {date}", unit="US dollars"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"symbol": "MSFT", "date": "2008-10-15"},
            lambda r, w: (
                r["price_month"] == "2008-10-01"
                and r["price"]
                == fact(w, "SELECT price FROM stock_prices WHERE symbol = 'MSFT' AND date = '2008-10-01'")
            ),
        ),
        Example({"symbol": "stock:AAPL", "date": "2005-01"}, lambda r: r["price_month"] == "2005-01-01"),
    ],
)
def stock_price(
    s: FinanceState,
    symbol: SymbolArg,
    date: Annotated[str, Field(description="YYYY-MM-DD or YYYY-MM", min_length=7, max_length=20)],
) -> PriceOnDate:
    """A stock's monthly closing price in force on a date: the price of the latest month on or before it."""
    x = s.market.get(symbol)
    day = parse_month_date(date, "date")
    k = x.index_at_or_before(day, "date")
    return PriceOnDate(
        symbol=x.symbol, requested_date=day.isoformat(), price_month=x.dates[k].isoformat(), price=x.prices[k]
    )


class PriceHistory(BaseModel):
    symbol: str
    months: int
    points: list[PricePoint]
    low: PricePoint
    high: PricePoint
    average_price: float


@DOMAIN.tool(
    meaning=Meaning(
        takes={"symbol": Takes("company", "ticker")},
        facts=(
            Fact("average_price", "the average monthly closing price of {symbol}'s stock over its recorded prices",
                 unit="US dollars"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"symbol": "IBM", "start": "2009-01", "end": "2009-12"},
            lambda r: (
                r["months"] == 12 and r["points"][0]["date"] == "2009-01-01" and r["points"][-1]["date"] == "2009-12-01"
            ),
        ),
    ],
)
def price_history(s: FinanceState, symbol: SymbolArg, start: StartArg = None, end: EndArg = None) -> PriceHistory:
    """A stock's monthly closing prices between two months (inclusive), with the low, high and average."""
    x = s.market.get(symbol)
    i, j = _window(x, start, end)
    pts = [PricePoint(date=x.dates[k].isoformat(), price=x.prices[k]) for k in range(i, j + 1)]
    lo = min(pts, key=lambda p: p.price)
    hi = max(pts, key=lambda p: p.price)
    return PriceHistory(
        symbol=x.symbol,
        months=len(pts),
        points=pts,
        low=lo,
        high=hi,
        average_price=round(statistics.fmean(p.price for p in pts), 4),
    )


class StockReturn(BaseModel):
    symbol: str
    start_month: str
    start_price: float
    end_month: str
    end_price: float
    price_change: float
    total_return_pct: float = Field(description="Price return (no dividends), percent")
    years: float
    annualized_return_pct: float | None = Field(description="Compound annual growth rate, percent (null for < 1 month)")


def _return(x: Series, i: int, j: int) -> StockReturn:
    years = years_between(x.dates[i], x.dates[j])
    total = x.prices[j] / x.prices[i] - 1
    return StockReturn(
        symbol=x.symbol,
        start_month=x.dates[i].isoformat(),
        start_price=x.prices[i],
        end_month=x.dates[j].isoformat(),
        end_price=x.prices[j],
        price_change=round(x.prices[j] - x.prices[i], 4),
        total_return_pct=pct(total),
        years=round(years, 4),
        annualized_return_pct=pct((1 + total) ** (1 / years) - 1) if years >= 28 / 365.25 else None,
    )


@DOMAIN.tool(
    meaning=Meaning(
        takes={"symbol": Takes("company", "ticker"), "start": Takes("date", "iso"), "end": Takes("date", "iso")},
        facts=(
            Fact("total_return_pct", "the price return of {symbol}'s stock from {start} to {end}", unit="percent"),
            Fact("annualized_return_pct", "the annualised price return of {symbol}'s stock from {start} to {end}",
                 unit="percent"),
            Fact("price_change", "the change in the monthly closing price of {symbol}'s stock from {start} to {end}",
                 unit="US dollars"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"symbol": "AAPL", "start": "2005-01-01", "end": "2010-01-01"},
            lambda r, w: (
                abs(
                    r["total_return_pct"]
                    - 100
                    * (
                        fact(w, "SELECT price FROM stock_prices WHERE symbol='AAPL' AND date='2010-01-01'")
                        / fact(w, "SELECT price FROM stock_prices WHERE symbol='AAPL' AND date='2005-01-01'")
                        - 1
                    )
                )
                < 1e-3
                and abs(r["years"] - 5) < 0.01
            ),
        ),
    ],
)
def stock_return(
    s: FinanceState,
    symbol: SymbolArg,
    start: Annotated[str, Field(description="Buy month: YYYY-MM-DD or YYYY-MM", max_length=20)],
    end: Annotated[str, Field(description="Sell month: YYYY-MM-DD or YYYY-MM", max_length=20)],
) -> StockReturn:
    """The price return of a stock between two dates (buying at the month on or before start, selling at
    the month on or before end): price change, total return and annualised return (CAGR)."""
    x = s.market.get(symbol)
    i, j = _window(x, start, end)
    return _return(x, i, j)


class Volatility(BaseModel):
    symbol: str
    start_month: str
    end_month: str
    returns_used: int = Field(description="Monthly returns in the window")
    mean_monthly_return_pct: float
    monthly_volatility_pct: float = Field(description="Sample standard deviation of monthly returns")
    annualized_volatility_pct: float = Field(description="Monthly volatility x sqrt(12)")
    method: str


def _volatility(x: Series, i: int, j: int, method: str) -> tuple[float, float, int]:
    prices = x.prices[i : j + 1]
    rets = [math.log(1 + r) for r in monthly_returns(prices)] if method == "log" else monthly_returns(prices)
    if len(rets) < 2:
        raise ToolFailure("volatility needs at least 3 monthly prices; widen the window")
    return statistics.fmean(rets), statistics.stdev(rets), len(rets)


@DOMAIN.tool(
    meaning=Meaning(
        takes={"symbol": Takes("company", "ticker")},
        facts=(
            Fact("annualized_volatility_pct", "the annualised volatility of the simple monthly returns of {symbol}'s "
                 "stock over its recorded prices", unit="percent"),
            Fact("mean_monthly_return_pct", "the mean simple monthly return of {symbol}'s stock over its recorded "
                 "prices", unit="percent"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"symbol": "AMZN", "start": "2000-01", "end": "2010-03"},
            lambda r: (
                r["returns_used"] == 122
                and abs(r["annualized_volatility_pct"] - r["monthly_volatility_pct"] * 12**0.5) < 1e-3
                and r["annualized_volatility_pct"] > 30
            ),
        ),
        Example({"symbol": "IBM", "method": "log"}, lambda r: 10 < r["annualized_volatility_pct"] < 50),
    ],
)
def stock_volatility(
    s: FinanceState,
    symbol: SymbolArg,
    start: StartArg = None,
    end: EndArg = None,
    method: Annotated[Literal["simple", "log"], Field(description="Simple (p1/p0 - 1) or log returns")] = "simple",
) -> Volatility:
    """Risk of a stock over a window: mean monthly return and the standard deviation of monthly returns,
    annualised by sqrt(12)."""
    x = s.market.get(symbol)
    i, j = _window(x, start, end)
    mean, sd, n = _volatility(x, i, j, method)
    return Volatility(
        symbol=x.symbol,
        start_month=x.dates[i].isoformat(),
        end_month=x.dates[j].isoformat(),
        returns_used=n,
        mean_monthly_return_pct=pct(mean),
        monthly_volatility_pct=pct(sd),
        annualized_volatility_pct=pct(sd * math.sqrt(12)),
        method=method,
    )


class Drawdown(BaseModel):
    symbol: str
    max_drawdown_pct: float = Field(description="Largest peak-to-trough fall, percent (negative)")
    peak: PricePoint
    trough: PricePoint
    recovered: PricePoint | None = Field(description="First later month at or above the peak price, within the window")
    months_peak_to_trough: int


def _drawdown(x: Series, i: int, j: int) -> Drawdown:
    peak_k, best = i, (0.0, i, i)
    for k in range(i, j + 1):
        if x.prices[k] > x.prices[peak_k]:
            peak_k = k
        dd = x.prices[k] / x.prices[peak_k] - 1
        if dd < best[0]:
            best = (dd, peak_k, k)
    dd, p, t = best
    rec = next((k for k in range(t + 1, j + 1) if x.prices[k] >= x.prices[p]), None) if dd < 0 else None
    return Drawdown(
        symbol=x.symbol,
        max_drawdown_pct=pct(dd),
        peak=PricePoint(date=x.dates[p].isoformat(), price=x.prices[p]),
        trough=PricePoint(date=x.dates[t].isoformat(), price=x.prices[t]),
        recovered=PricePoint(date=x.dates[rec].isoformat(), price=x.prices[rec]) if rec is not None else None,
        months_peak_to_trough=t - p,
    )


@DOMAIN.tool(
    meaning=Meaning(
        takes={"symbol": Takes("company", "ticker")},
        facts=(
            Fact("max_drawdown_pct", "the maximum drawdown of {symbol}'s stock over its recorded prices",
                 unit="percent"),
            Fact("peak.date", "the month of the peak before the maximum drawdown of {symbol}'s stock over its recorded "
                 "prices"),
            Fact("trough.date", "the month of the trough of the maximum drawdown of {symbol}'s stock over its recorded "
                 "prices"),
            Fact("months_peak_to_trough", "the length of the maximum drawdown of {symbol}'s stock over its recorded "
                 "prices", unit="months"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"symbol": "AMZN", "start": "2000-01", "end": "2002-12"},
            lambda r: r["max_drawdown_pct"] < -80 and r["peak"]["date"] < r["trough"]["date"],
        ),
        Example(
            {"symbol": "MSFT", "start": "2008-01", "end": "2009-06"},
            lambda r: (
                r["peak"]["date"] == "2008-01-01"
                and r["trough"]["date"] == "2009-02-01"
                and abs(r["max_drawdown_pct"] - 100 * (15.81 / 31.13 - 1)) < 1e-3
            ),
        ),
    ],
)
def max_drawdown(s: FinanceState, symbol: SymbolArg, start: StartArg = None, end: EndArg = None) -> Drawdown:
    """The largest peak-to-trough fall of a stock's monthly price in a window: how deep, the peak and trough
    months, how long the fall took, and when (if) the price regained the peak."""
    x = s.market.get(symbol)
    i, j = _window(x, start, end)
    return _drawdown(x, i, j)


class MovingAverage(BaseModel):
    symbol: str
    month: str = Field(description="The month the average ends at")
    window_months: int
    moving_average: float
    price: float
    price_vs_average_pct: float = Field(description="How far the price is above (+) or below (-) the average, percent")
    months_averaged: list[str]


@DOMAIN.tool(
    meaning=Meaning(
        takes={"symbol": Takes("company", "ticker"), "date": Takes("date", "iso")},
        facts=(
            Fact("moving_average", "the 12-month moving average of {symbol}'s monthly closing price up to the month of "
                 "{date}", unit="US dollars"),
            Fact("price_vs_average_pct", "the percentage by which {symbol}'s closing price for the month of {date} "
                 "exceeds its 12-month moving average", unit="percent"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"symbol": "IBM", "date": "2009-12-01", "window_months": 3},
            lambda r, w: (
                abs(
                    r["moving_average"]
                    - fact(
                        w,
                        "SELECT AVG(price) FROM stock_prices WHERE symbol='IBM'"
                        " AND date BETWEEN '2009-10-01' AND '2009-12-01'",
                    )
                )
                < 1e-3
                and r["months_averaged"] == ["2009-10-01", "2009-11-01", "2009-12-01"]
            ),
        ),
    ],
)
def moving_average(
    s: FinanceState,
    symbol: SymbolArg,
    date: Annotated[
        str, Field(description="Month the average ends at: YYYY-MM-DD or YYYY-MM (on or before)", max_length=20)
    ],
    window_months: Annotated[
        int, Field(ge=2, le=120, description="How many monthly prices to average, ending at `date`")
    ] = 12,
) -> MovingAverage:
    """The simple moving average of a stock's monthly closing prices over the N months ending at a date, and
    how far that month's price sits above or below it."""
    x = s.market.get(symbol)
    j = x.index_at_or_before(parse_month_date(date, "date"), "date")
    i = j - window_months + 1
    if i < 0:
        raise ToolFailure(
            f"only {j + 1} months of {x.symbol} up to {x.dates[j].isoformat()}; use window_months <= {j + 1} "
            "or a later date"
        )
    avg = statistics.fmean(x.prices[i : j + 1])
    return MovingAverage(
        symbol=x.symbol,
        month=x.dates[j].isoformat(),
        window_months=window_months,
        moving_average=round(avg, 4),
        price=x.prices[j],
        price_vs_average_pct=pct(x.prices[j] / avg - 1),
        months_averaged=[d.isoformat() for d in x.dates[i : j + 1]],
    )


class ComparedStock(BaseModel):
    rank: int = Field(description="1 = highest total return")
    symbol: str
    total_return_pct: float
    annualized_return_pct: float | None
    annualized_volatility_pct: float | None
    max_drawdown_pct: float
    start_price: float
    end_price: float


class Comparison(BaseModel):
    start_month: str
    end_month: str
    best: str
    worst: str
    stocks: list[ComparedStock] = Field(description="Best total return first")


@DOMAIN.tool(
    meaning=Meaning(
        facts=(
            Fact("best", "the stock with the highest price return among {symbols} from {start} to {end}",
                 refers_to="company", by="ticker"),
            Fact("worst", "the stock with the lowest price return among {symbols} from {start} to {end}",
                 refers_to="company", by="ticker"),
        ),
        items=(
            Items("stocks", phrase="the stocks among {symbols} from {start} to {end}", name="symbol",
                  name_type="company", name_by="ticker",
                  attributes={"total_return_pct": "price return", "annualized_return_pct": "annualised return",
                              "annualized_volatility_pct": "annualised volatility",
                              "max_drawdown_pct": "maximum drawdown"},
                  units={"total_return_pct": "percent", "annualized_return_pct": "percent",
                         "annualized_volatility_pct": "percent", "max_drawdown_pct": "percent"}),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"symbols": ["MSFT", "IBM", "AAPL"], "start": "2005-01", "end": "2009-12"},
            lambda r: r["best"] == "AAPL" and len(r["stocks"]) == 3 and r["stocks"][0]["rank"] == 1,
        ),
        Example(
            {"symbols": ["AMZN", "MSFT"], "start": "2001-01", "end": "2001-12"},
            lambda r: {x["symbol"] for x in r["stocks"]} == {"AMZN", "MSFT"},
        ),
    ],
)
def compare_stocks(
    s: FinanceState,
    symbols: Annotated[
        list[str], Field(min_length=2, max_length=10, description="Tickers or company names to compare")
    ],
    start: Annotated[str, Field(description="Start month: YYYY-MM-DD or YYYY-MM", max_length=20)],
    end: Annotated[str, Field(description="End month: YYYY-MM-DD or YYYY-MM", max_length=20)],
) -> Comparison:
    """Compare several stocks over the same window: total and annualised return, annualised volatility and
    maximum drawdown of each, ranked by total return. Every stock must have prices at the start."""
    d0, d1 = parse_month_date(start, "start"), parse_month_date(end, "end")
    rows = []
    seen = set()
    for text in symbols:
        x = s.market.get(text)
        if x.symbol in seen:
            raise ToolFailure(f"{x.symbol} is listed twice")
        seen.add(x.symbol)
        i, j = x.window(d0, d1)
        ret = _return(x, i, j)
        vol = _volatility(x, i, j, "simple")[1] * math.sqrt(12) if j - i >= 2 else None
        rows.append((ret, vol, _drawdown(x, i, j)))
    rows.sort(key=lambda r: (-r[0].total_return_pct, r[0].symbol))
    stocks = [
        ComparedStock(
            rank=k + 1,
            symbol=ret.symbol,
            total_return_pct=ret.total_return_pct,
            annualized_return_pct=ret.annualized_return_pct,
            annualized_volatility_pct=pct(vol) if vol is not None else None,
            max_drawdown_pct=dd.max_drawdown_pct,
            start_price=ret.start_price,
            end_price=ret.end_price,
        )
        for k, (ret, vol, dd) in enumerate(rows)
    ]
    return Comparison(
        start_month=rows[0][0].start_month,
        end_month=rows[0][0].end_month,
        best=stocks[0].symbol,
        worst=stocks[-1].symbol,
        stocks=stocks,
    )


class MonthReturn(BaseModel):
    month: str = Field(description="The month whose price ended the move (from the previous month's price)")
    return_pct: float
    from_price: float
    to_price: float


class ExtremeMonths(BaseModel):
    symbol: str
    months_considered: int
    best: list[MonthReturn] = Field(description="Largest monthly gains first")
    worst: list[MonthReturn] = Field(description="Largest monthly losses first")
    positive_months: int
    negative_months: int


@DOMAIN.tool(
    meaning=Meaning(
        takes={"symbol": Takes("company", "ticker")},
        facts=(
            Fact("positive_months", "the number of months in which {symbol}'s stock closed higher than the month "
                 "before, over its recorded prices"),
            Fact("negative_months", "the number of months in which {symbol}'s stock closed lower than the month "
                 "before, over its recorded prices"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"symbol": "MSFT", "start": "2008-01", "end": "2009-06", "count": 1},
            lambda r: r["worst"][0]["month"] == "2008-10-01" and r["months_considered"] == 17,
        ),
        Example(
            {"symbol": "AAPL", "count": 3},
            lambda r: len(r["best"]) == 3 and r["best"][0]["return_pct"] >= r["best"][1]["return_pct"],
        ),
    ],
)
def best_worst_months(
    s: FinanceState,
    symbol: SymbolArg,
    start: StartArg = None,
    end: EndArg = None,
    count: Annotated[int, Field(ge=1, le=24, description="How many best and worst months to list")] = 3,
) -> ExtremeMonths:
    """A stock's best and worst monthly returns in a window (month-over-month change of the closing price),
    and how many months went up or down."""
    x = s.market.get(symbol)
    i, j = _window(x, start, end)
    moves = [
        MonthReturn(
            month=x.dates[k].isoformat(),
            return_pct=pct(x.prices[k] / x.prices[k - 1] - 1),
            from_price=x.prices[k - 1],
            to_price=x.prices[k],
        )
        for k in range(i + 1, j + 1)
    ]
    if not moves:
        raise ToolFailure("the window holds a single month; widen it to see monthly returns")
    ordered = sorted(moves, key=lambda m: (-m.return_pct, m.month))
    return ExtremeMonths(
        symbol=x.symbol,
        months_considered=len(moves),
        best=ordered[:count],
        worst=sorted(moves, key=lambda m: (m.return_pct, m.month))[:count],
        positive_months=sum(m.return_pct > 0 for m in moves),
        negative_months=sum(m.return_pct < 0 for m in moves),
    )


class Correlation(BaseModel):
    symbol_a: str
    symbol_b: str
    start_month: str
    end_month: str
    months: int = Field(description="Paired monthly returns used")
    correlation: float = Field(description="Pearson correlation of monthly returns, -1 to 1")
    beta_b_on_a: float = Field(description="Slope of b's monthly returns on a's")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"symbol_a": Takes("company", "ticker"), "symbol_b": Takes("company", "ticker")},
        facts=(
            Fact("correlation", "the correlation between the monthly returns of {symbol_a}'s and {symbol_b}'s stocks "
                 "over the months both have recorded prices"),
            Fact("beta_b_on_a", "the beta of {symbol_b}'s monthly stock returns on {symbol_a}'s over the months both "
                 "have recorded prices"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"symbol_a": "MSFT", "symbol_b": "IBM", "start": "2005-01", "end": "2009-12"},
            lambda r: 0 < r["correlation"] <= 1 and r["months"] == 59,
        ),
        Example(
            {"symbol_a": "AAPL", "symbol_b": "AAPL"},
            lambda r: abs(r["correlation"] - 1) < 1e-9 and abs(r["beta_b_on_a"] - 1) < 1e-9,
        ),
    ],
)
def return_correlation(
    s: FinanceState,
    symbol_a: SymbolArg,
    symbol_b: SymbolArg,
    start: StartArg = None,
    end: EndArg = None,
) -> Correlation:
    """How closely two stocks move together: the Pearson correlation of their monthly returns over the months
    both have prices, and the beta of the second on the first."""
    a, b = s.market.get(symbol_a), s.market.get(symbol_b)
    common = sorted(set(a.dates) & set(b.dates))
    d0 = parse_month_date(start, "start").replace(day=1) if start else common[0]
    d1 = parse_month_date(end, "end") if end else common[-1]
    months = [d for d in common if d0 <= d <= d1]
    if len(months) < 3:
        raise ToolFailure("fewer than 3 months where both stocks have prices in this window")
    pa = dict(zip(a.dates, a.prices, strict=True))
    pb = dict(zip(b.dates, b.prices, strict=True))
    ra = monthly_returns([pa[d] for d in months])
    rb = monthly_returns([pb[d] for d in months])
    corr = statistics.correlation(ra, rb)
    beta = statistics.covariance(ra, rb) / statistics.variance(ra)
    return Correlation(
        symbol_a=a.symbol,
        symbol_b=b.symbol,
        start_month=months[0].isoformat(),
        end_month=months[-1].isoformat(),
        months=len(ra),
        correlation=round(corr, 6),
        beta_b_on_a=round(beta, 6),
    )
