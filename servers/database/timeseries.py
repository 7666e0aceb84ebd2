"""Rows over time: filtering by a date range and aggregating per day, week, month, quarter or year."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from dive.servers.kit import Example, ToolFailure, no_facts

from .analysis import AggregateFunction, aggregate_sql, period_expr
from .checks import close, world_value
from .filters import as_dicts, cell, select_list, table_where, tidy
from .lookups import Columns, Filters, TableName
from .schema import quote_ident
from .state import DOMAIN, DatabaseState

DateColumn = Annotated[str, Field(description="Column holding ISO dates ('YYYY-MM-DD', optionally with a time)")]


def _date(text: str | None, name: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ToolFailure(f"{name} must be an ISO date like '2024-03-01', got {text!r}") from None


def date_range_condition(col: str, start: str | None, end: str | None) -> tuple[str, list[Any]]:
    """Conditions for start <= date <= end (end inclusive, times on the end day included)."""
    first, last = _date(start, "start"), _date(end, "end")
    if first and last and last < first:
        raise ToolFailure(f"end ({end}) is before start ({start})")
    parts, params = [], []
    if first:
        parts.append(f"{col} >= ?")
        params.append(first.isoformat())
    if last:
        parts.append(f"{col} < ?")
        params.append((last + dt.timedelta(days=1)).isoformat())
    parts.append(f"{col} IS NOT NULL")
    return " AND ".join(parts), params


class DateRangeRows(BaseModel):
    table: str
    date_column: str
    count: int = Field(description="Rows in the range (and matching the filters)")
    first_date: str | None = Field(description="Earliest date in the range")
    last_date: str | None = Field(description="Latest date in the range")
    rows: list[dict[str, Any]] = Field(description="Rows in date order")
    truncated: bool


@DOMAIN.tool(meaning=no_facts("lists rows of a date range the caller chooses; not yet phrased as questions"), kind="retrieval", examples=[
    Example({"table": "weather", "date_column": "date", "start": "2014-07-01", "end": "2014-07-07"},
            lambda r: r["count"] == 7 and r["first_date"] == "2014-07-01" and r["last_date"] == "2014-07-07"
            and [x["date"] for x in r["rows"]][:2] == ["2014-07-01", "2014-07-02"]),
    Example({"table": "orders", "date_column": "order_date", "start": "2023-12-01", "end": "2023-12-31",
             "filters": [{"column": "customer_id", "value": "cu00042"}], "columns": ["id", "order_date", "amount"]},
            lambda r, w: r["count"] == world_value(w, "SELECT count(*) FROM orders WHERE customer_id = 'cu00042' AND "
                                                     "order_date BETWEEN '2023-12-01' AND '2023-12-31'")),
])
def rows_in_date_range(
    s: DatabaseState,
    table: TableName,
    date_column: DateColumn,
    start: Annotated[str | None, Field(description="First day, inclusive ('YYYY-MM-DD'); omit for no lower bound")] = None,
    end: Annotated[str | None, Field(description="Last day, inclusive ('YYYY-MM-DD'); omit for no upper bound")] = None,
    filters: Filters = None,
    columns: Columns = None,
    newest_first: Annotated[bool, Field(description="Sort latest dates first")] = False,
    limit: Annotated[int, Field(ge=1, le=500, description="Most rows to return")] = 100,
) -> DateRangeRows:
    """Rows whose date falls between two days (both inclusive), in date order, with how many there are and
    the first and last date present, e.g. the weather of one week or a customer's orders in a month."""
    with s.lock:
        info = s.schema().table(table)
        dcol = info.column(date_column).name
        qd = quote_ident(dcol)
        cond, dparams = date_range_condition(qd, start, end)
        where, params = table_where(info, filters)
        where = f"{where} AND {cond}" if where else f" WHERE {cond}"
        params = [*params, *dparams]
        select, names = select_list(info, columns)
        if dcol not in names:
            select, names = f"{qd}, {select}", [dcol, *names]
        src = quote_ident(info.name)
        count, first, last = s.read(f"SELECT count(*), min({qd}), max({qd}) FROM {src}{where}", params).rows[0]
        out = s.read(f"SELECT {select} FROM {src}{where} ORDER BY {qd} {'DESC' if newest_first else 'ASC'} LIMIT ?",
                     [*params, limit], limit=limit)
    return DateRangeRows(table=info.name, date_column=dcol, count=count, first_date=first, last_date=last,
                         rows=as_dicts(names, out.rows), truncated=out.truncated or len(out.rows) < count)


class PeriodValue(BaseModel):
    period: str
    value: Any
    rows: int
    change: float | None = Field(description="Value minus the previous period's value")
    change_pct: float | None = Field(description="Change as a percentage of the previous period's value")


class PeriodSeries(BaseModel):
    table: str
    date_column: str
    period: str
    function: str
    value_column: str | None
    periods: list[PeriodValue] = Field(description="In period order")
    highest: str | None = Field(description="Period with the largest value")
    lowest: str | None = Field(description="Period with the smallest value")
    truncated: bool


@DOMAIN.tool(meaning=no_facts("aggregates by period over rows the caller chooses; not yet phrased as questions"), kind="processing", examples=[
    Example({"table": "orders", "date_column": "order_date", "period": "month", "function": "sum", "value_column": "amount",
             "start": "2024-01-01", "end": "2024-06-30"},
            lambda r, w: [p["period"] for p in r["periods"]] == ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]
            and close(r["periods"][2]["value"], world_value(
                w, "SELECT sum(amount) FROM orders WHERE order_date LIKE '2024-03%'"))
            and close(r["periods"][1]["change"], r["periods"][1]["value"] - r["periods"][0]["value"])),
    Example({"table": "stock_prices", "date_column": "date", "period": "year", "function": "avg", "value_column": "price",
             "filters": [{"column": "symbol", "value": "AAPL"}]},
            lambda r, w: r["periods"][0]["period"] == "2000" and r["periods"][0]["rows"] == 12
            and r["highest"] == world_value(w, "SELECT substr(date, 1, 4) FROM stock_prices WHERE symbol = 'AAPL' "
                                               "GROUP BY 1 ORDER BY avg(price) DESC LIMIT 1")),
    Example({"table": "weather", "date_column": "date", "period": "weekday", "function": "avg", "value_column": "precipitation"},
            lambda r: sorted(p["period"] for p in r["periods"]) == sorted(
                ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"])),
])
def aggregate_by_period(
    s: DatabaseState,
    table: TableName,
    date_column: DateColumn,
    period: Annotated[Literal["day", "week", "month", "quarter", "year", "weekday"], Field(description="Time bucket: week labels look like '2024-W05' (Monday-based), quarters '2024-Q1'")] = "month",
    function: Annotated[AggregateFunction, Field(description="Aggregate per period")] = "count",
    value_column: Annotated[str | None, Field(description="Column to aggregate (omit for count of rows)")] = None,
    start: Annotated[str | None, Field(description="First day, inclusive ('YYYY-MM-DD')")] = None,
    end: Annotated[str | None, Field(description="Last day, inclusive ('YYYY-MM-DD')")] = None,
    filters: Filters = None,
    limit: Annotated[int, Field(ge=1, le=1000, description="Most periods to return (the earliest first)")] = 200,
) -> PeriodSeries:
    """Aggregate rows per time period (day, week, month, quarter, year or weekday) of a date column, with the
    change from one period to the next and the highest and lowest periods, e.g. monthly order revenue or a
    stock's average price per year."""
    with s.lock:
        info = s.schema().table(table)
        dcol = info.column(date_column).name
        qd = quote_ident(dcol)
        bucket = period_expr(qd, period)
        agg = aggregate_sql(function, value_column, info)
        cond, dparams = date_range_condition(qd, start, end)
        where, params = table_where(info, filters)
        where = f"{where} AND {cond}" if where else f" WHERE {cond}"
        order = "min(" + qd + ")" if period == "weekday" else "1"
        out = s.read(f"SELECT {bucket}, {agg}, count(*) FROM {quote_ident(info.name)}{where} GROUP BY 1 ORDER BY {order} "
                     "LIMIT ?", [*params, *dparams, limit], limit=limit)
    if period == "weekday":
        order_days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
        rows = sorted(out.rows, key=lambda r: order_days.index(r[0]) if r[0] in order_days else 7)
    else:
        rows = out.rows
    periods: list[PeriodValue] = []
    for label, value, n in rows:
        prev = periods[-1].value if periods else None
        numeric = isinstance(value, (int, float)) and isinstance(prev, (int, float))
        change = value - prev if numeric and period != "weekday" else None
        periods.append(PeriodValue(period=str(label), value=cell(value), rows=n, change=tidy(change),
                                   change_pct=tidy(change / prev * 100) if change is not None and prev else None))
    valued = [p for p in periods if isinstance(p.value, (int, float))]
    return PeriodSeries(
        table=info.name, date_column=dcol, period=period, function=function,
        value_column=info.column(value_column).name if value_column else None, periods=periods,
        highest=max(valued, key=lambda p: p.value).period if valued else None,
        lowest=min(valued, key=lambda p: p.value).period if valued else None,
        truncated=out.truncated,
    )

