"""Computing over rows: aggregates, group-bys, rankings, percentiles, column profiles, histograms,
correlations, pivot tables and row comparisons. Each is one parameterised query plus, where SQLite has no
function for it (percentiles, standard deviation, correlation), exact arithmetic on the fetched values."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from dive.servers.kit import Aggregates, Example, Meaning, Statistics, ToolFailure, no_facts

from .checks import close, world_rows, world_value
from .filters import Filter, as_dicts, cell, select_list, table_where, tidy
from .lookups import Filters, Key, TableName, fetch_by_key
from .schema import TableInfo, quote_ident
from .state import DOMAIN, DatabaseState

AggregateFunction = Literal["count", "count_distinct", "sum", "avg", "min", "max"]
#: Most values fetched for a computation done outside SQLite (percentiles, correlation, histograms).
MAX_VALUES = 1_000_000
_NUMERIC = "typeof({col}) IN ('integer', 'real')"


def aggregate_sql(function: str, column: str | None, info: TableInfo) -> str:
    """SQL for one aggregate over a validated column (count without a column counts rows)."""
    if column is None:
        if function != "count":
            raise ToolFailure(f"aggregate {function!r} needs a column")
        return "count(*)"
    col = quote_ident(info.column(column).name)
    return {"count": f"count({col})", "count_distinct": f"count(DISTINCT {col})", "sum": f"sum({col})",
            "avg": f"avg({col})", "min": f"min({col})", "max": f"max({col})"}[function]


class Aggregate(BaseModel):
    function: AggregateFunction = Field(description="count, count_distinct, sum, avg, min or max")
    column: str | None = Field(None, description="Column to aggregate (omit with 'count' to count rows)")


class AggregateValue(BaseModel):
    function: str
    column: str | None
    value: Any


class AggregateResult(BaseModel):
    table: str
    rows_matched: int = Field(description="Rows that met the filters")
    results: list[AggregateValue]


@DOMAIN.tool(meaning=Meaning(aggregates=(Aggregates("results", table="table", filters="filters", request="aggregates"),)), kind="processing", examples=[
    Example({"table": "orders", "aggregates": [{"function": "sum", "column": "amount"}, {"function": "count"},
                                              {"function": "max", "column": "quantity"}],
             "filters": [{"column": "order_date", "op": "between", "value": ["2024-01-01", "2024-12-31"]}]},
            lambda r, w: close(r["results"][0]["value"], world_value(
                w, "SELECT sum(amount) FROM orders WHERE order_date BETWEEN '2024-01-01' AND '2024-12-31'"))
            and r["results"][1]["value"] == r["rows_matched"] == world_value(
                w, "SELECT count(*) FROM orders WHERE order_date BETWEEN '2024-01-01' AND '2024-12-31'")),
    Example({"table": "countries", "aggregates": [{"function": "avg", "column": "population"},
                                                 {"function": "count_distinct", "column": "currency_code"}],
             "filters": [{"column": "continent", "value": "SA"}]},
            lambda r, w: close(r["results"][0]["value"], world_value(
                w, "SELECT avg(population) FROM countries WHERE continent = 'SA'"))
            and r["results"][1]["value"] == world_value(
                w, "SELECT count(DISTINCT currency_code) FROM countries WHERE continent = 'SA'")),
])
def aggregate(
    s: DatabaseState,
    table: TableName,
    aggregates: Annotated[list[Aggregate], Field(min_length=1, max_length=20, description="Aggregates to compute, e.g. [{'function': 'sum', 'column': 'amount'}, {'function': 'count'}]")],
    filters: Filters = None,
) -> AggregateResult:
    """Compute aggregates (count, count of distinct values, sum, average, min, max) over the rows of a table
    that meet optional filters, e.g. total order amount in 2024 or the average population of a continent's
    countries. NULLs are ignored, as in SQL."""
    with s.lock:
        info = s.schema().table(table)
        exprs = [aggregate_sql(a.function, a.column, info) for a in aggregates]
        where, params = table_where(info, filters)
        out = s.read(f"SELECT count(*), {', '.join(exprs)} FROM {quote_ident(info.name)}{where}", params)
    row = out.rows[0]
    results = [AggregateValue(function=a.function, column=info.column(a.column).name if a.column else None,
                              value=cell(v)) for a, v in zip(aggregates, row[1:])]
    return AggregateResult(table=info.name, rows_matched=row[0], results=results)


class Group(BaseModel):
    group: dict[str, Any] = Field(description="The grouping columns' values")
    value: Any = Field(description="The aggregate over the group's rows")
    rows: int = Field(description="Rows in the group")


class GroupedResult(BaseModel):
    table: str
    function: str
    column: str | None
    groups: list[Group]
    group_count: int = Field(description="Groups meeting the thresholds, before the limit")
    truncated: bool


@DOMAIN.tool(meaning=no_facts("statistics over rows the caller chooses; not yet phrased as questions"), kind="processing", examples=[
    Example({"table": "cities", "group_by": ["country_code"], "function": "count", "order": "value_desc", "limit": 5},
            lambda r, w: [(g["group"]["country_code"], g["value"]) for g in r["groups"]] == [tuple(x) for x in world_rows(
                w, "SELECT country_code, count(*) FROM cities GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5")]),
    Example({"table": "orders", "group_by": ["product_id"], "function": "sum", "column": "quantity",
             "min_value": 200, "order": "group"},
            lambda r, w: r["group_count"] == len(world_rows(
                w, "SELECT product_id FROM orders GROUP BY product_id HAVING sum(quantity) >= 200"))
            and all(g["value"] >= 200 for g in r["groups"])),
])
def group_by_aggregate(
    s: DatabaseState,
    table: TableName,
    group_by: Annotated[list[str], Field(min_length=1, max_length=3, description="Columns to group by, e.g. ['country_code']")],
    function: Annotated[AggregateFunction, Field(description="Aggregate per group")] = "count",
    column: Annotated[str | None, Field(description="Column to aggregate (omit for count of rows)")] = None,
    filters: Filters = None,
    min_value: Annotated[float | None, Field(description="Keep only groups whose aggregate is >= this (like HAVING)")] = None,
    max_value: Annotated[float | None, Field(description="Keep only groups whose aggregate is <= this (like HAVING)")] = None,
    order: Annotated[Literal["value_desc", "value_asc", "group"], Field(description="Sort by the aggregate (largest or smallest first) or by the group values")] = "value_desc",
    limit: Annotated[int, Field(ge=1, le=500, description="Most groups to return")] = 50,
) -> GroupedResult:
    """Group rows by one or more columns and aggregate each group (count, sum, avg, min, max, count_distinct),
    with optional thresholds on the aggregate (HAVING) and sorting, e.g. cities per country, revenue per
    product, or sectors with more than 30 companies."""
    with s.lock:
        info = s.schema().table(table)
        keys = [info.column(c).name for c in group_by]
        keys_sql = ", ".join(quote_ident(k) for k in keys)
        agg = aggregate_sql(function, column, info)
        where, params = table_where(info, filters)
        having, hparams = [], []
        if min_value is not None:
            having.append("agg >= ?")
            hparams.append(min_value)
        if max_value is not None:
            having.append("agg <= ?")
            hparams.append(max_value)
        having_sql = f" HAVING {' AND '.join(having)}" if having else ""
        order_sql = {"value_desc": f"agg DESC, {keys_sql}", "value_asc": f"agg ASC, {keys_sql}", "group": keys_sql}[order]
        inner = (f"SELECT {keys_sql}, {agg} AS agg, count(*) AS n FROM {quote_ident(info.name)}{where} "
                 f"GROUP BY {keys_sql}{having_sql}")
        out = s.read(f"{inner} ORDER BY {order_sql} LIMIT ?", [*params, *hparams, limit], limit=limit)
        total = int(s.scalar(f"SELECT count(*) FROM ({inner})", [*params, *hparams]))
    groups = [Group(group={k: cell(v) for k, v in zip(keys, row[:len(keys)])}, value=cell(row[len(keys)]),
                    rows=row[len(keys) + 1]) for row in out.rows]
    return GroupedResult(table=info.name, function=function, column=info.column(column).name if column else None,
                         groups=groups, group_count=total, truncated=len(groups) < total)


class RankedRows(BaseModel):
    table: str
    by: str
    descending: bool
    per_group: str | None
    rows: list[dict[str, Any]] = Field(description="Rows with their 'rank' (1 = top; ties share a rank) and, per group, 'group_position'")
    truncated: bool


@DOMAIN.tool(meaning=no_facts("statistics over rows the caller chooses; not yet phrased as questions"), kind="processing", examples=[
    Example({"table": "elements", "by": "density", "n": 3, "columns": ["symbol", "density"]},
            lambda r, w: [x["symbol"] for x in r["rows"]] == [v for (v,) in world_rows(
                w, "SELECT symbol FROM elements WHERE density IS NOT NULL ORDER BY density DESC, number LIMIT 3")]
            and r["rows"][0]["rank"] == 1),
    Example({"table": "cities", "by": "population", "n": 1, "per_group": "country_code", "columns": ["name"],
             "filters": [{"column": "country_code", "op": "in", "value": ["FR", "DE", "IT"]}]},
            lambda r: sorted((x["country_code"], x["name"]) for x in r["rows"]) == [("DE", "Berlin"), ("FR", "Paris"),
                                                                                   ("IT", "Rome")]),
])
def top_n(
    s: DatabaseState,
    table: TableName,
    by: Annotated[str, Field(description="Column to rank by, e.g. 'population'")],
    n: Annotated[int, Field(ge=1, le=100, description="How many rows (per group when per_group is set)")] = 10,
    ascending: Annotated[bool, Field(description="Rank smallest first instead of largest first")] = False,
    per_group: Annotated[str | None, Field(description="Rank within each value of this column, e.g. the largest city per 'country_code'")] = None,
    columns: Annotated[list[str] | None, Field(description="Columns to show besides the ranking column (default: all)")] = None,
    filters: Filters = None,
) -> RankedRows:
    """The top (or bottom) N rows by a column, overall or within each group, with their rank (ties share a
    rank), e.g. the 5 densest elements or the most populous city of each country. NULLs are left out."""
    with s.lock:
        info = s.schema().table(table)
        by_col = info.column(by).name
        wanted = [info.column(c).name for c in columns] if columns else list(info.column_names)
        group_col = info.column(per_group).name if per_group else None
        shown = list(dict.fromkeys([*([group_col] if group_col else []), *wanted, by_col]))
        select = ", ".join(quote_ident(c) for c in shown)
        direction = "ASC" if ascending else "DESC"
        tiebreak = ", ".join(quote_ident(c) for c in info.primary_key) or ("rowid" if info.kind == "table" else select)
        filters = [*(filters or []), Filter(column=by_col, op="not_null")]
        where, params = table_where(info, filters)
        partition = f"PARTITION BY {quote_ident(group_col)} " if group_col else ""
        window = f"{partition}ORDER BY {quote_ident(by_col)} {direction}"
        cap = 1000
        sql = (f"SELECT * FROM (SELECT {select}, rank() OVER ({window}) AS rank, "
               f"row_number() OVER ({window}, {tiebreak}) AS group_position FROM {quote_ident(info.name)}{where}) "
               f"WHERE group_position <= ? ORDER BY {quote_ident(group_col) + ', ' if group_col else ''}group_position")
        out = s.read(sql, [*params, n], limit=cap)
    names = [*shown, "rank", "group_position"]
    rows = as_dicts(names, out.rows)
    if not group_col:
        for r in rows:
            r.pop("group_position")
    return RankedRows(table=info.name, by=by_col, descending=not ascending, per_group=group_col, rows=rows,
                      truncated=out.truncated)


def numeric_values(s: DatabaseState, info: TableInfo, column: str, filters: list[Filter] | None,
                   group: str | None = None) -> list[tuple[Any, ...]]:
    """(value,) or (group, value) rows of the numeric values of a column, NULLs and text left out."""
    col = quote_ident(info.column(column).name)
    where, params = table_where(info, filters)
    numeric = _NUMERIC.format(col=col)
    where = f"{where} AND {numeric}" if where else f" WHERE {numeric}"
    select = f"{quote_ident(info.column(group).name)}, {col}" if group else col
    out = s.read(f"SELECT {select} FROM {quote_ident(info.name)}{where} ORDER BY {'1, 2' if group else '1'}", params,
                 limit=MAX_VALUES)
    if out.truncated:
        raise ToolFailure(f"more than {MAX_VALUES} values; add filters to narrow the rows")
    return out.rows


class PercentileValue(BaseModel):
    percentile: float
    value: float | None


class PercentileGroup(BaseModel):
    group: Any = Field(description="The group's value (None when not grouped)")
    count: int = Field(description="Numeric values used")
    median: float | None
    percentiles: list[PercentileValue]


class PercentileResult(BaseModel):
    table: str
    column: str
    method: str = Field(description="How values between data points are computed")
    groups: list[PercentileGroup]
    truncated: bool = Field(description="True when there were more groups than shown")


def _pct(values: np.ndarray, q: float) -> float | None:
    return tidy(float(np.percentile(values, q, method="linear"))) if len(values) else None


@DOMAIN.tool(meaning=Meaning(statistics=(Statistics({"groups[0].median": "median"}),)), kind="processing", examples=[
    Example({"table": "countries", "column": "population", "percentiles": [50, 90]},
            lambda r, w: close(r["groups"][0]["median"], float(np.median([v for (v,) in world_rows(
                w, "SELECT population FROM countries WHERE population IS NOT NULL")])))
            and r["groups"][0]["percentiles"][1]["percentile"] == 90),
    Example({"table": "weather", "column": "temp_max", "group_by": "weather", "percentiles": [50]},
            lambda r, w: {g["group"] for g in r["groups"]} == {v for (v,) in world_rows(w, "SELECT DISTINCT weather FROM weather")}
            and sum(g["count"] for g in r["groups"]) == world_value(w, "SELECT count(temp_max) FROM weather")),
])
def percentiles(
    s: DatabaseState,
    table: TableName,
    column: Annotated[str, Field(description="Numeric column")],
    percentiles: Annotated[list[float], Field(min_length=1, max_length=20, description="Percentiles between 0 and 100, e.g. [25, 50, 75]")] = [25, 50, 75],  # noqa: B006
    group_by: Annotated[str | None, Field(description="Compute separately for each value of this column")] = None,
    filters: Filters = None,
    max_groups: Annotated[int, Field(ge=1, le=500, description="Most groups to return")] = 100,
) -> PercentileResult:
    """Median and percentiles of a numeric column (linear interpolation between values, as numpy and pandas
    do by default), overall or per group, e.g. the median city population of each country."""
    if any(not 0 <= q <= 100 for q in percentiles):
        raise ToolFailure("percentiles must lie between 0 and 100")
    with s.lock:
        info = s.schema().table(table)
        rows = numeric_values(s, info, column, filters, group_by)
    grouped: dict[Any, list[float]] = {}
    for row in rows:
        key, value = (row[0], row[1]) if group_by else (None, row[0])
        grouped.setdefault(key, []).append(float(value))
    if not grouped:
        grouped[None] = []
    groups = []
    for key in list(grouped)[:max_groups]:
        arr = np.asarray(grouped[key])
        groups.append(PercentileGroup(group=cell(key), count=len(arr), median=_pct(arr, 50),
                                      percentiles=[PercentileValue(percentile=q, value=_pct(arr, q)) for q in percentiles]))
    return PercentileResult(table=info.name, column=info.column(column).name, method="linear", groups=groups,
                            truncated=len(grouped) > max_groups)


class TypeCount(BaseModel):
    type: str
    count: int


class ColumnStatistics(BaseModel):
    table: str
    column: str
    declared_type: str
    rows: int
    nulls: int
    distinct: int
    storage_types: list[TypeCount] = Field(description="How many values SQLite stores as integer, real, text, blob, null")
    min: Any
    max: Any
    mean: float | None = Field(description="Mean of the numeric values")
    stddev: float | None = Field(description="Sample standard deviation of the numeric values")
    sum: float | None
    min_length: int | None = Field(description="Shortest text value, in characters")
    max_length: int | None
    avg_length: float | None
    top_values: list[dict[str, Any]] = Field(description="The 5 most frequent values with their counts")


@DOMAIN.tool(meaning=Meaning(statistics=(Statistics({"mean": "avg", "stddev": "stdev", "sum": "sum", "min": "min",
                                                      "max": "max"}),)), kind="processing", examples=[
    Example({"table": "elements", "column": "mass"}, lambda r, w: r["rows"] == world_value(w, "SELECT count(*) FROM elements")
            and close(r["mean"], world_value(w, "SELECT avg(mass) FROM elements"))
            and close(r["stddev"], float(np.std([v for (v,) in world_rows(w, "SELECT mass FROM elements WHERE mass IS NOT NULL")], ddof=1)))),
    Example({"table": "countries", "column": "name", "filters": [{"column": "continent", "value": "OC"}]},
            lambda r, w: r["max_length"] == world_value(w, "SELECT max(length(name)) FROM countries WHERE continent = 'OC'")
            and r["mean"] is None and r["storage_types"] == [{"type": "text", "count": r["rows"]}]),
])
def column_statistics(
    s: DatabaseState,
    table: TableName,
    column: Annotated[str, Field(description="Column to profile")],
    filters: Filters = None,
) -> ColumnStatistics:
    """Profile one column: row, NULL and distinct counts, the storage types SQLite actually holds, min and
    max, mean, standard deviation and sum of numeric values, text lengths, and the most frequent values."""
    with s.lock:
        info = s.schema().table(table)
        name = info.column(column).name
        col = quote_ident(name)
        src = quote_ident(info.name)
        where, params = table_where(info, filters)
        and_ = f"{where} AND" if where else " WHERE"
        base = s.read(f"SELECT count(*), count({col}), count(DISTINCT {col}), min({col}), max({col}) FROM {src}{where}",
                      params).rows[0]
        types = s.read(f"SELECT typeof({col}), count(*) FROM {src}{where} GROUP BY 1 ORDER BY 2 DESC, 1", params).rows
        lengths = s.read(f"SELECT min(length({col})), max(length({col})), avg(length({col})) FROM {src}{and_} "
                         f"typeof({col}) = 'text'", params).rows[0]
        top = s.read(f"SELECT {col}, count(*) FROM {src}{and_} {col} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5",
                     params).rows
        numbers = np.asarray([float(v) for (v,) in numeric_values(s, info, name, filters)])
    return ColumnStatistics(
        table=info.name, column=name, declared_type=info.column(name).type, rows=base[0], nulls=base[0] - base[1],
        distinct=base[2], storage_types=[TypeCount(type=t, count=n) for t, n in types], min=cell(base[3]), max=cell(base[4]),
        mean=tidy(float(numbers.mean())) if len(numbers) else None,
        stddev=tidy(float(numbers.std(ddof=1))) if len(numbers) > 1 else None,
        sum=tidy(float(numbers.sum())) if len(numbers) else None,
        min_length=lengths[0], max_length=lengths[1], avg_length=tidy(lengths[2]),
        top_values=[{"value": cell(v), "count": n} for v, n in top],
    )


class Bin(BaseModel):
    low: float
    high: float = Field(description="Upper edge (exclusive, except for the last bin)")
    count: int


class Histogram(BaseModel):
    table: str
    column: str
    bins: list[Bin]
    count: int = Field(description="Numeric values inside the range")
    below: int = Field(description="Values under the range's low end")
    above: int = Field(description="Values over the range's high end")


@DOMAIN.tool(meaning=no_facts("statistics over rows the caller chooses; not yet phrased as questions"), kind="processing", examples=[
    Example({"table": "weather", "column": "temp_max", "bins": 4, "low": 0, "high": 40},
            lambda r, w: [b["count"] for b in r["bins"]] == [world_value(
                w, f"SELECT count(*) FROM weather WHERE temp_max >= {lo} AND temp_max {'<=' if lo == 30 else '<'} {lo + 10}")
                for lo in (0, 10, 20, 30)] and r["below"] == world_value(w, "SELECT count(*) FROM weather WHERE temp_max < 0")),
    Example({"table": "elements", "column": "number", "bins": 2},
            lambda r: [b["count"] for b in r["bins"]] == [59, 59] and r["bins"][0]["low"] == 1),
])
def histogram(
    s: DatabaseState,
    table: TableName,
    column: Annotated[str, Field(description="Numeric column")],
    bins: Annotated[int, Field(ge=1, le=100, description="Number of equal-width bins")] = 10,
    low: Annotated[float | None, Field(description="Low end of the range (default: the smallest value)")] = None,
    high: Annotated[float | None, Field(description="High end of the range (default: the largest value)")] = None,
    filters: Filters = None,
) -> Histogram:
    """Distribution of a numeric column in equal-width bins (counts per interval), e.g. how many days had a
    maximum temperature between 20 and 25 degrees. Values outside an explicit range are counted separately."""
    with s.lock:
        info = s.schema().table(table)
        values = np.asarray([float(v) for (v,) in numeric_values(s, info, column, filters)])
    if len(values) == 0 and (low is None or high is None):
        raise ToolFailure(f"{column!r} has no numeric values in the chosen rows")
    lo = float(values.min()) if low is None else low
    hi = float(values.max()) if high is None else high
    if hi < lo:
        raise ToolFailure(f"high ({hi}) must not be below low ({lo})")
    if hi == lo:
        hi = lo + 1.0
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return Histogram(table=info.name, column=info.column(column).name,
                     bins=[Bin(low=tidy(float(edges[i])), high=tidy(float(edges[i + 1])), count=int(c)) for i, c in enumerate(counts)],
                     count=int(counts.sum()), below=int((values < lo).sum()), above=int((values > hi).sum()))


class Correlation(BaseModel):
    table: str
    x: str
    y: str
    n: int = Field(description="Rows where both columns are numeric")
    pearson_r: float | None
    spearman_rho: float | None
    slope: float | None = Field(description="Least-squares line y = slope * x + intercept")
    intercept: float | None
    r_squared: float | None


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (what Spearman's correlation is computed on)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(ordered)) + 1))
    ends = np.concatenate((starts[1:], [len(values)]))
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


@DOMAIN.tool(meaning=no_facts("statistics over rows the caller chooses; not yet phrased as questions"), kind="processing", examples=[
    Example({"table": "weather", "x": "temp_min", "y": "temp_max"},
            lambda r, w: r["n"] == world_value(w, "SELECT count(*) FROM weather WHERE temp_min IS NOT NULL AND temp_max IS NOT NULL")
            and 0.5 < r["pearson_r"] <= 1 and close(r["r_squared"], r["pearson_r"] ** 2, 1e-6)),
    Example({"table": "elements", "x": "number", "y": "mass", "filters": [{"column": "number", "op": "<=", "value": 20}]},
            lambda r: r["n"] == 20 and r["spearman_rho"] > 0.99),
])
def correlation(
    s: DatabaseState,
    table: TableName,
    x: Annotated[str, Field(description="First numeric column")],
    y: Annotated[str, Field(description="Second numeric column")],
    filters: Filters = None,
) -> Correlation:
    """How strongly two numeric columns move together: Pearson and Spearman correlation and the least-squares
    line through them, over rows where both are numeric, e.g. daily minimum vs maximum temperature."""
    with s.lock:
        info = s.schema().table(table)
        cx, cy = quote_ident(info.column(x).name), quote_ident(info.column(y).name)
        where, params = table_where(info, filters)
        both = f"{_NUMERIC.format(col=cx)} AND {_NUMERIC.format(col=cy)}"
        out = s.read(f"SELECT {cx}, {cy} FROM {quote_ident(info.name)}{where + ' AND ' if where else ' WHERE '}{both}",
                     params, limit=MAX_VALUES)
    if out.truncated:
        raise ToolFailure(f"more than {MAX_VALUES} rows; add filters to narrow them")
    n = len(out.rows)
    result = Correlation(table=info.name, x=info.column(x).name, y=info.column(y).name, n=n, pearson_r=None,
                         spearman_rho=None, slope=None, intercept=None, r_squared=None)
    if n >= 2:
        xs = np.asarray([float(a) for a, _ in out.rows])
        ys = np.asarray([float(b) for _, b in out.rows])
        if xs.std() > 0 and ys.std() > 0:
            r = float(np.corrcoef(xs, ys)[0, 1])
            slope, intercept = np.polyfit(xs, ys, 1)
            result.pearson_r = tidy(r)
            result.spearman_rho = tidy(float(np.corrcoef(average_ranks(xs), average_ranks(ys))[0, 1]))
            result.slope, result.intercept, result.r_squared = tidy(float(slope)), tidy(float(intercept)), tidy(r * r)
    return result


class PivotRow(BaseModel):
    row: Any = Field(description="The row column's value")
    cells: dict[str, Any] = Field(description="Aggregate per column value (missing when no rows)")
    total: Any = Field(description="The aggregate over the whole row")


class PivotTable(BaseModel):
    table: str
    row_column: str
    column_column: str
    function: str
    value_column: str | None
    columns: list[str] = Field(description="The column values, as text, in order")
    rows: list[PivotRow]
    truncated: bool = Field(description="True when there were more row values than returned")


Period = Literal["year", "quarter", "month", "week", "day", "weekday", "decade"]
_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def period_expr(col: str, period: str | None) -> str:
    """SQL that maps an ISO date (or, for 'decade', a year) in the quoted column `col` to its period label."""
    if period is None:
        return col
    if period == "weekday":
        cases = " ".join(f"WHEN '{i}' THEN '{d}'" for i, d in enumerate(_WEEKDAYS))
        return f"(CASE strftime('%w', {col}) {cases} END)"
    return {
        "year": f"substr({col}, 1, 4)",
        "quarter": f"(substr({col}, 1, 4) || '-Q' || ((CAST(substr({col}, 6, 2) AS INTEGER) + 2) / 3))",
        "month": f"substr({col}, 1, 7)",
        "week": f"strftime('%Y-W%W', {col})",
        "day": f"substr({col}, 1, 10)",
        "decade": f"(CAST(substr({col}, 1, 4) AS INTEGER) / 10 * 10)",
    }[period]


def _label(value: Any) -> str:
    return "null" if value is None else str(value)


@DOMAIN.tool(meaning=no_facts("statistics over rows the caller chooses; not yet phrased as questions"), kind="processing", examples=[
    Example({"table": "weather", "row_column": "weather", "column_column": "date", "column_period": "year"},
            lambda r, w: r["columns"] == ["2012", "2013", "2014", "2015"]
            and {x["row"]: x["cells"] for x in r["rows"]}["rain"]["2014"] == world_value(
                w, "SELECT count(*) FROM weather WHERE weather = 'rain' AND date LIKE '2014%'")
            and sum(x["total"] for x in r["rows"]) == world_value(w, "SELECT count(*) FROM weather")),
    Example({"table": "companies", "row_column": "sector", "column_column": "founded", "column_period": "decade",
             "function": "sum", "value_column": "employees", "filters": [{"column": "founded", "op": ">=", "value": 1990}]},
            lambda r, w: {x["row"]: x for x in r["rows"]}["Technology"]["total"] == world_value(
                w, "SELECT sum(employees) FROM companies WHERE sector = 'Technology' AND founded >= 1990")
            and all(int(c) >= 1990 for c in r["columns"])),
])
def pivot_table(
    s: DatabaseState,
    table: TableName,
    row_column: Annotated[str, Field(description="Column whose values become the rows")],
    column_column: Annotated[str, Field(description="Column whose values become the columns (at most max_columns distinct)")],
    function: Annotated[AggregateFunction, Field(description="Aggregate in each cell")] = "count",
    value_column: Annotated[str | None, Field(description="Column to aggregate (omit for count of rows)")] = None,
    row_period: Annotated[Period | None, Field(description="Group an ISO-date row column by this period (or a year column by decade)")] = None,
    column_period: Annotated[Period | None, Field(description="Group an ISO-date column column by this period (or a year column by decade)")] = None,
    filters: Filters = None,
    max_columns: Annotated[int, Field(ge=1, le=50, description="Most distinct column values allowed")] = 30,
    limit: Annotated[int, Field(ge=1, le=500, description="Most rows to return")] = 100,
) -> PivotTable:
    """Cross-tabulate a table: one column's values as rows, another's as columns, and an aggregate (count, sum,
    avg, min, max, count_distinct) in each cell, with row totals. Date columns can be grouped by year, quarter,
    month, week or weekday, and year columns by decade, e.g. weather types per year or employees per sector
    and founding decade."""
    with s.lock:
        info = s.schema().table(table)
        rname, cname = info.column(row_column).name, info.column(column_column).name
        r_expr = period_expr(quote_ident(rname), row_period)
        c_expr = period_expr(quote_ident(cname), column_period)
        agg = aggregate_sql(function, value_column, info)
        where, params = table_where(info, filters)
        src = quote_ident(info.name)
        distinct = s.read(f"SELECT DISTINCT {c_expr} FROM {src}{where} ORDER BY 1", params, limit=max_columns)
        if distinct.truncated:
            n = s.scalar(f"SELECT count(DISTINCT {c_expr}) FROM {src}{where}", params)
            raise ToolFailure(f"{cname!r} has {n} distinct values, more than max_columns={max_columns}; filter the rows, "
                              "group it by a period, or swap row_column and column_column")
        totals = s.read(f"SELECT {r_expr}, {agg} FROM {src}{where} GROUP BY 1 ORDER BY 1 LIMIT ?", [*params, limit],
                        limit=limit)
        cells = s.read(f"SELECT {r_expr}, {c_expr}, {agg} FROM {src}{where} GROUP BY 1, 2", params, limit=MAX_VALUES)
    by_row: dict[str, dict[str, Any]] = {}
    for r, c, v in cells.rows:
        by_row.setdefault(_label(r), {})[_label(c)] = cell(v)
    columns = [_label(c) for (c,) in distinct.rows]
    rows = [PivotRow(row=cell(r), cells={c: by_row.get(_label(r), {})[c] for c in columns if c in by_row.get(_label(r), {})},
                     total=cell(t)) for r, t in totals.rows]
    return PivotTable(table=info.name, row_column=rname, column_column=cname, function=function,
                      value_column=info.column(value_column).name if value_column else None, columns=columns,
                      rows=rows, truncated=totals.truncated)


class FieldComparison(BaseModel):
    column: str
    a: Any
    b: Any
    equal: bool
    difference: float | None = Field(description="b - a, when both are numbers")
    ratio: float | None = Field(description="b / a, when both are numbers and a is not zero")


class RowComparison(BaseModel):
    table: str
    key_a: Any
    key_b: Any
    fields: list[FieldComparison]
    differing_columns: list[str]


@DOMAIN.tool(meaning=no_facts("statistics over rows the caller chooses; not yet phrased as questions"), kind="processing", examples=[
    Example({"table": "countries", "key_a": "FR", "key_b": "DE", "columns": ["population", "area_km2", "currency_code"]},
            lambda r, w: {f["column"]: f for f in r["fields"]}["currency_code"]["equal"] is True
            and {f["column"]: f for f in r["fields"]}["population"]["difference"] == world_value(
                w, "SELECT (SELECT population FROM countries WHERE code = 'DE') - "
                   "(SELECT population FROM countries WHERE code = 'FR')")),
    Example({"table": "elements", "key_a": 1, "key_b": 2},
            lambda r: set(r["differing_columns"]) == {"number", "symbol", "name", "mass", "density"}),
])
def compare_rows(
    s: DatabaseState,
    table: TableName,
    key_a: Key,
    key_b: Key,
    columns: Annotated[list[str] | None, Field(description="Columns to compare (default: all)")] = None,
) -> RowComparison:
    """Compare two rows of a table (picked by primary key) column by column: which values are equal, and for
    numbers the difference and ratio, e.g. two countries' population and area."""
    with s.lock:
        info = s.schema().table(table, kinds=("table",))
        names = select_list(info, columns)[1]
        a = fetch_by_key(s, info, key_a, names)
        b = fetch_by_key(s, info, key_b, names)
    for label, key, row in (("key_a", key_a, a), ("key_b", key_b, b)):
        if row is None:
            raise ToolFailure(f"{label}: no row in {info.name!r} has primary key {key!r}")
    fields = []
    for name in names:
        va, vb = a[name], b[name]  # type: ignore[index]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (va, vb))
        fields.append(FieldComparison(
            column=name, a=va, b=vb, equal=va == vb,
            difference=tidy(vb - va) if numeric else None,
            ratio=tidy(vb / va) if numeric and va != 0 else None,
        ))
    return RowComparison(table=info.name, key_a=key_a, key_b=key_b, fields=fields,
                         differing_columns=[f.column for f in fields if not f.equal])
