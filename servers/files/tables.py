"""CSV files as tables: their shape, filtered and sorted rows, column statistics and grouped aggregates."""

from __future__ import annotations

import csv
import io
import math
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from dive.servers.kit import Example, Fact, Items, Meaning, Memo, Takes, ToolFailure, clip_items, content_key
from pydantic import BaseModel, Field

from .workspace import DOMAIN, FilesState, read_text

CsvArg = Annotated[str, Field(description="Workspace-relative path of a CSV (or TSV) file with a header row, e.g. 'data/elements.csv'")]
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")

Cell = str | int | float | None


def typed(value: str) -> Cell:
    """A CSV cell as the JSON value it stands for: '' -> null, '42' -> 42, '4.5' -> 4.5, else the text."""
    text = value.strip()
    if text == "":
        return None
    if _INT.fullmatch(text) and not (len(text.lstrip("+-")) > 1 and text.lstrip("+-").startswith("0")):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return value


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    delimiter: str
    ragged_rows: int

    def index(self, column: str) -> int:
        if column in self.columns:
            return self.columns.index(column)
        lowered = [c.lower() for c in self.columns]
        if column.lower() in lowered:
            return lowered.index(column.lower())
        raise ToolFailure(f"no column {column!r}; the columns are: {', '.join(self.columns)}")

    def record(self, row: Sequence[Cell]) -> dict[str, Cell]:
        return dict(zip(self.columns, row))


def sniff_delimiter(text: str, name: str) -> str:
    """The delimiter the header row uses most (comma, tab, semicolon or pipe); tab for .tsv files when unclear."""
    header = re.sub(r'"[^"]*"', "", text.split("\n", 1)[0])
    counts = {d: header.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        return "\t" if name.lower().endswith(".tsv") else ","
    return best


def parse_csv(text: str, name: str) -> Table:
    """Parse CSV text with a header row; the delimiter is sniffed (comma, semicolon, tab or pipe)."""
    delimiter = sniff_delimiter(text, name)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ToolFailure(f"{name!r} is empty; a CSV file needs a header row") from None
    columns: list[str] = []
    for i, col in enumerate(header):
        col = col.strip() or f"column_{i + 1}"
        while col in columns:
            col = f"{col}_{i + 1}"
        columns.append(col)
    raw_rows: list[list[str]] = []
    ragged = 0
    width = len(columns)
    for raw in reader:
        if not raw:
            continue
        if len(raw) != width:
            ragged += 1
            raw = (raw + [""] * width)[:width]
        raw_rows.append(raw)
    # A column is numeric only when every value in it is: codes such as '08' and '11' stay text together.
    numeric = [all(not isinstance(typed(r[i]), str) for r in raw_rows) for i in range(width)]
    rows: list[list[Cell]] = [[typed(v) if numeric[i] else (v if v.strip() else None) for i, v in enumerate(r)]
                              for r in raw_rows]
    return Table(columns, rows, delimiter, ragged)


#: Parsed tables by content: the world's few CSV files are read by most table tools, in every session, and
#: parsing (typing every cell) costs more than hashing. The tools only read a table, never change it.
_tables: Memo[Table] = Memo(64)


def load_table(s: FilesState, path: str) -> Table:
    f = s.file(path)
    text = read_text(f, path)[0]
    key = (content_key(text), f.name.lower().endswith(".tsv"))
    return _tables.get(key, lambda: parse_csv(text, path))


def column_type(values: Sequence[Cell]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "empty"
    if all(isinstance(v, int) for v in present):
        return "integer"
    if all(isinstance(v, (int, float)) for v in present):
        return "number"
    if all(isinstance(v, str) and _DATE.fullmatch(v) for v in present):
        return "date"
    if all(isinstance(v, str) and v.lower() in ("true", "false", "yes", "no") for v in present):
        return "boolean"
    return "text"


# -- conditions -------------------------------------------------------------------------------


class Condition(BaseModel):
    """One row filter: `column op value`."""

    column: str = Field(description="Column name (case-insensitive)")
    op: Literal["==", "!=", ">", ">=", "<", "<=", "contains", "not_contains", "startswith", "endswith", "in", "not_in",
                "matches", "is_empty", "not_empty"] = Field(
        "==", description="Comparison; numbers compare numerically, other values as text; 'matches' takes a regex; "
        "'in'/'not_in' take a list; 'is_empty'/'not_empty' take no value")
    value: str | int | float | bool | list[str | int | float] | None = Field(None, description="Value to compare with")


WhereArg = Annotated[list[Condition], Field(description="Filters that rows must all satisfy, e.g. "
                                            "[{\"column\": \"population\", \"op\": \">\", \"value\": 1000000}]")]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)
    return None


def _text(value: Any, fold: bool) -> str:
    text = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
    return text.lower() if fold else text


def row_filter(table: Table, where: Sequence[Condition], ignore_case: bool):
    """A predicate on rows for the given conditions (all must hold)."""
    checks = []
    for cond in where:
        idx = table.index(cond.column)
        if cond.op in ("in", "not_in"):
            if not isinstance(cond.value, list):
                raise ToolFailure(f"op {cond.op!r} needs a list value, e.g. [\"FR\", \"DE\"]")
        elif cond.op not in ("is_empty", "not_empty") and (cond.value is None or isinstance(cond.value, list)):
            raise ToolFailure(f"op {cond.op!r} on column {cond.column!r} needs a single value")
        if cond.op == "matches":
            try:
                rx = re.compile(str(cond.value), re.IGNORECASE if ignore_case else 0)
            except re.error as exc:
                raise ToolFailure(f"invalid regular expression {cond.value!r}: {exc}") from None
        else:
            rx = None
        checks.append((idx, cond, rx))

    def test(cell: Cell, cond: Condition, rx: re.Pattern[str] | None) -> bool:
        op, value = cond.op, cond.value
        if op == "is_empty":
            return cell is None
        if op == "not_empty":
            return cell is not None
        if op in ("in", "not_in"):
            assert isinstance(value, list)
            found = any(_equal(cell, v, ignore_case) for v in value)
            return found if op == "in" else not found
        if op == "==":
            return _equal(cell, value, ignore_case)
        if op == "!=":
            return not _equal(cell, value, ignore_case)
        if op in (">", ">=", "<", "<="):
            a, b = _number(cell), _number(value)
            if a is None or b is None:
                if cell is None:
                    return False
                a, b = _text(cell, ignore_case), _text(value, ignore_case)  # type: ignore[assignment]
            return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]  # type: ignore[operator]
        text, needle = _text(cell, ignore_case), _text(value, ignore_case)
        if op == "contains":
            return needle in text
        if op == "not_contains":
            return needle not in text
        if op == "startswith":
            return text.startswith(needle)
        if op == "endswith":
            return text.endswith(needle)
        assert rx is not None
        return rx.search("" if cell is None else str(cell)) is not None

    def predicate(row: Sequence[Cell]) -> bool:
        return all(test(row[idx], cond, rx) for idx, cond, rx in checks)

    return predicate


def _equal(cell: Cell, value: Any, fold: bool) -> bool:
    a, b = _number(cell), _number(value)
    if a is not None and b is not None:
        return a == b
    return _text(cell, fold) == _text(value, fold)


def sort_key(value: Cell) -> tuple:
    """Nulls last, numbers before text."""
    if value is None:
        return (2, 0, "")
    if isinstance(value, (int, float)):
        return (0, value, "")
    return (1, 0, value)


# -- csv_describe -----------------------------------------------------------------------------


class ColumnInfo(BaseModel):
    name: str
    type: Literal["integer", "number", "date", "boolean", "text", "empty"]
    non_empty: int
    distinct: int
    example: Cell = Field(description="The first non-empty value")


class CsvDescription(BaseModel):
    path: str
    delimiter: str
    row_count: int = Field(description="Data rows (the header not counted)")
    column_count: int
    columns: list[ColumnInfo]
    sample_rows: list[dict[str, Any]]
    ragged_rows: int = Field(description="Rows whose field count differed from the header (padded or cut)")


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("csv_file", "path")}, facts=(Fact("row_count", "the number of data rows in {path}"), Fact("column_count", "the number of columns in {path}")), items=(Items("columns", phrase="the columns of {path}", total="column_count", name="name", name_type="csv_column", name_by="name", attributes={"distinct": "number of distinct values", "non_empty": "number of non-empty values"}),)), kind="retrieval", examples=[
    Example({"path": "data/elements.csv"},
            lambda r: r["row_count"] == 118 and [c["name"] for c in r["columns"]] == ["number", "symbol", "name", "mass", "density"]
            and r["columns"][0]["type"] == "integer" and r["columns"][3]["type"] == "number"),
    Example({"path": "data/weather_seattle.csv", "sample_rows": 1},
            lambda r: r["columns"][0]["type"] == "date" and len(r["sample_rows"]) == 1),
])
def csv_describe(
    s: FilesState,
    path: CsvArg,
    sample_rows: Annotated[int, Field(ge=0, le=20, description="How many of the first rows to include")] = 3,
) -> CsvDescription:
    """Describe a CSV file: its columns with inferred types (integer, number, date, boolean, text), counts of
    non-empty and distinct values, the number of rows, and the first few rows."""
    table = load_table(s, path)
    cols = []
    for i, name in enumerate(table.columns):
        values = [row[i] for row in table.rows]
        present = [v for v in values if v is not None]
        cols.append(ColumnInfo(name=name, type=column_type(values), non_empty=len(present),  # type: ignore[arg-type]
                               distinct=len(set(present)), example=present[0] if present else None))
    return CsvDescription(path=path, delimiter=table.delimiter, row_count=len(table.rows), column_count=len(table.columns),
                          columns=cols, sample_rows=[table.record(r) for r in table.rows[:sample_rows]],
                          ragged_rows=table.ragged_rows)


# -- csv_query --------------------------------------------------------------------------------


class CsvRows(BaseModel):
    path: str
    columns: list[str]
    rows: list[dict[str, Any]] = Field(description="Matching rows (numbers as numbers, empty cells as null)")
    matched: int = Field(description="Rows that satisfied the filters (before offset/limit)")
    offset: int
    has_more: bool = Field(description="True when more matching rows follow the ones returned")


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("csv_file", "path")}, items=(Items("rows", type="~", phrase="the rows of {path}", filters="where", total="matched", complete_unless="has_more", name="name"),)), kind="retrieval", examples=[
    Example({"path": "data/elements.csv", "where": [{"column": "symbol", "op": "==", "value": "Fe"}]},
            lambda r: r["matched"] == 1 and r["rows"][0]["name"] == "Iron" and r["rows"][0]["number"] == 26),
    Example({"path": "data/elements.csv", "columns": ["name", "density"], "sort_by": "density", "descending": True, "limit": 3},
            lambda r, w: r["columns"] == ["name", "density"] and r["rows"][0]["density"] == max(
                x[0] for x in __import__("sqlite3").connect(w.db_path).execute("select density from elements where density is not null"))),
    Example({"path": "reports/europe/FR_cities.csv", "where": [{"column": "population", "op": ">", "value": 500000}], "columns": ["name"]},
            lambda r: any(row["name"] == "Paris" for row in r["rows"])),
])
def csv_query(
    s: FilesState,
    path: CsvArg,
    where: WhereArg = [],  # noqa: B006 - pydantic copies defaults
    columns: Annotated[list[str] | None, Field(description="Columns to return, in this order (default: all)")] = None,
    sort_by: Annotated[str | None, Field(description="Column to sort by (numbers numerically, empty cells last)")] = None,
    descending: Annotated[bool, Field(description="Sort largest (or last) first")] = False,
    distinct: Annotated[bool, Field(description="Drop duplicate rows (after selecting columns)")] = False,
    ignore_case: Annotated[bool, Field(description="Compare text case-insensitively in the filters")] = False,
    limit: Annotated[int, Field(ge=1, le=500, description="Most rows to return")] = 50,
    offset: Annotated[int, Field(ge=0, description="Skip this many matching rows (for paging)")] = 0,
) -> CsvRows:
    """Query a CSV file like a table: filter rows with conditions, choose columns, sort, de-duplicate and page.
    For one column's statistics use csv_column_stats; for per-group totals use csv_group_by."""
    table = load_table(s, path)
    keep = row_filter(table, where, ignore_case)
    rows = [r for r in table.rows if keep(r)]
    if sort_by is not None:
        idx = table.index(sort_by)
        present = [r for r in rows if r[idx] is not None]
        missing = [r for r in rows if r[idx] is None]
        present.sort(key=lambda r: sort_key(r[idx]), reverse=descending)
        rows = present + missing
    names = [table.columns[table.index(c)] for c in columns] if columns else list(table.columns)
    idxs = [table.index(c) for c in names]
    projected = [[r[i] for i in idxs] for r in rows]
    if distinct:
        seen: set[tuple] = set()
        unique = []
        for r in projected:
            key = tuple(r)
            if key not in seen:
                seen.add(key)
                unique.append(r)
        projected = unique
    page = projected[offset:offset + limit]
    return CsvRows(path=path, columns=names, rows=[dict(zip(names, r)) for r in page], matched=len(projected), offset=offset,
                   has_more=offset + len(page) < len(projected))


# -- csv_column_stats -------------------------------------------------------------------------


class ValueCount(BaseModel):
    value: Cell
    count: int


class ColumnStats(BaseModel):
    path: str
    column: str
    rows: int = Field(description="Rows considered (after filters)")
    non_empty: int
    empty: int
    distinct: int
    type: str
    min: Cell
    max: Cell
    sum: float | None = Field(description="Numeric columns only")
    mean: float | None
    median: float | None
    stdev: float | None = Field(description="Sample standard deviation (numeric columns with 2+ values)")
    min_row: dict[str, Any] | None = Field(description="The first row holding the minimum")
    max_row: dict[str, Any] | None = Field(description="The first row holding the maximum")
    top_values: list[ValueCount] = Field(description="The ten most frequent values")


def _round(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 6)


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("csv_file", "path"), "column": Takes("csv_column", "name")}, facts=(Fact("non_empty", "the number of rows of {path} with a value in column {column}"), Fact("empty", "the number of rows of {path} whose {column} is empty"), Fact("distinct", "the number of distinct values of {column} in {path}"), Fact("min", "the lowest {column} in {path}"), Fact("max", "the highest {column} in {path}"), Fact("sum", "the total of {column} over all rows of {path}"), Fact("mean", "the average {column} in {path}"), Fact("median", "the median {column} in {path}"), Fact("stdev", "the sample standard deviation of {column} in {path}")), items=(Items("top_values", phrase="the most frequent values of {column} in {path}", total="distinct", name="value", attributes={"count": "number of rows"}),)), kind="processing", examples=[
    Example({"path": "data/elements.csv", "column": "mass"},
            lambda r: r["type"] == "number" and r["min_row"]["name"] == "Hydrogen" and r["non_empty"] == 118),
    Example({"path": "data/stocks/MSFT.csv", "column": "price", "where": [{"column": "date", "op": "startswith", "value": "2009"}]},
            lambda r, w: r["rows"] == 12 and abs(r["mean"] - sum(x[0] for x in __import__("sqlite3").connect(w.db_path).execute(
                "select price from stock_prices where symbol='MSFT' and date like '2009%'")) / 12) < 1e-6),
    Example({"path": "data/weather_seattle.csv", "column": "weather"},
            lambda r: r["type"] == "text" and r["top_values"][0]["count"] >= r["top_values"][-1]["count"] and r["sum"] is None),
])
def csv_column_stats(
    s: FilesState,
    path: CsvArg,
    column: Annotated[str, Field(description="The column to summarise")],
    where: WhereArg = [],  # noqa: B006
    ignore_case: Annotated[bool, Field(description="Compare text case-insensitively in the filters")] = False,
) -> ColumnStats:
    """Statistics of one CSV column, optionally over filtered rows: count, empty and distinct values, min/max
    (with the rows holding them), and for numeric columns sum, mean, median and standard deviation, plus the
    most frequent values."""
    table = load_table(s, path)
    keep = row_filter(table, where, ignore_case)
    rows = [r for r in table.rows if keep(r)]
    idx = table.index(column)
    values = [r[idx] for r in rows]
    present = [v for v in values if v is not None]
    ctype = column_type(values)
    numeric = ctype in ("integer", "number")
    total = mean = median = stdev = None
    min_row = max_row = None
    lo = hi = None
    if present:
        ordered = sorted(present, key=sort_key)
        lo, hi = ordered[0], ordered[-1]
        min_row = table.record(next(r for r in rows if r[idx] == lo))
        max_row = table.record(next(r for r in rows if r[idx] == hi))
        if numeric:
            nums = [float(v) for v in present]  # type: ignore[arg-type]
            total = math.fsum(nums)
            mean = total / len(nums)
            median = statistics.median(nums)
            stdev = statistics.stdev(nums) if len(nums) > 1 else None
    counts = Counter(present)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], sort_key(kv[0])))[:10]
    return ColumnStats(path=path, column=table.columns[idx], rows=len(rows), non_empty=len(present),
                       empty=len(values) - len(present), distinct=len(counts), type=ctype, min=lo, max=hi,
                       sum=_round(total), mean=_round(mean), median=_round(median), stdev=_round(stdev),
                       min_row=min_row, max_row=max_row, top_values=[ValueCount(value=v, count=n) for v, n in top])


# -- csv_group_by -----------------------------------------------------------------------------


class Group(BaseModel):
    key: dict[str, Any] = Field(description="The group's values of the group_by columns")
    rows: int = Field(description="Rows in the group")
    value: float | int | None = Field(description="The aggregate (null when the group has no numeric values)")


class GroupResult(BaseModel):
    path: str
    group_by: list[str]
    aggregate: str
    value_column: str | None
    groups: list[Group]
    total_groups: int
    truncated: bool


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("csv_file", "path")}, items=(Items("groups", phrase="the groups of rows of {path} by {group_by}", total="total_groups", complete_unless="truncated", name="key", attributes={"rows": "number of rows", "value": "{aggregate} of {value_column}"}),)), kind="processing", examples=[
    Example({"path": "data/companies.csv", "group_by": ["sector"]},
            lambda r, w: sum(g["rows"] for g in r["groups"]) == 300 and r["groups"][0]["value"] >= r["groups"][-1]["value"]),
    Example({"path": "data/products.csv", "group_by": ["category"], "value_column": "unit_price", "aggregate": "max", "sort": "group",
             "descending": False},
            lambda r: [g["key"]["category"] for g in r["groups"]] == sorted(g["key"]["category"] for g in r["groups"])),
    Example({"path": "data/weather_seattle.csv", "group_by": ["weather"], "value_column": "precipitation", "aggregate": "sum",
             "where": [{"column": "date", "op": "startswith", "value": "2015"}]},
            lambda r, w: abs(sum(g["value"] for g in r["groups"]) - next(__import__("sqlite3").connect(w.db_path).execute(
                "select sum(precipitation) from weather where date like '2015%'"))[0]) < 1e-6),
])
def csv_group_by(
    s: FilesState,
    path: CsvArg,
    group_by: Annotated[list[str], Field(min_length=1, max_length=3, description="Columns whose values form the groups")],
    aggregate: Annotated[Literal["count", "count_distinct", "sum", "mean", "median", "min", "max"],
                         Field(description="How to combine value_column within each group ('count' needs no value_column)")] = "count",
    value_column: Annotated[str | None, Field(description="The column to aggregate (required except for 'count')")] = None,
    where: WhereArg = [],  # noqa: B006
    ignore_case: Annotated[bool, Field(description="Compare text case-insensitively in the filters")] = False,
    sort: Annotated[Literal["value", "group"], Field(description="Order groups by their aggregate or by their key")] = "value",
    descending: Annotated[bool, Field(description="Largest (or last) first")] = True,
    limit: Annotated[int, Field(ge=1, le=500, description="Most groups to return")] = 50,
) -> GroupResult:
    """Group the rows of a CSV file by one to three columns and aggregate each group (count, distinct count,
    sum, mean, median, min or max of a column), like SQL GROUP BY."""
    table = load_table(s, path)
    if aggregate != "count" and value_column is None:
        raise ToolFailure(f"aggregate {aggregate!r} needs value_column (the column to {aggregate})")
    keep = row_filter(table, where, ignore_case)
    gidx = [table.index(c) for c in group_by]
    gnames = [table.columns[i] for i in gidx]
    vidx = table.index(value_column) if value_column is not None else None
    buckets: dict[tuple, list[Cell]] = {}
    for row in table.rows:
        if keep(row):
            buckets.setdefault(tuple(row[i] for i in gidx), []).append(row[vidx] if vidx is not None else None)
    groups = []
    for key, vals in buckets.items():
        present = [v for v in vals if v is not None]
        nums = [float(v) for v in present if isinstance(v, (int, float))]
        value: float | int | None
        if aggregate == "count":
            value = len(vals)
        elif aggregate == "count_distinct":
            value = len(set(present))
        elif not nums:
            value = None
        elif aggregate == "sum":
            value = _round(math.fsum(nums))
        elif aggregate == "mean":
            value = _round(math.fsum(nums) / len(nums))
        elif aggregate == "median":
            value = _round(statistics.median(nums))
        elif aggregate == "min":
            value = min(nums)
        else:
            value = max(nums)
        if isinstance(value, float) and value.is_integer() and all(isinstance(v, int) for v in present) and aggregate in ("sum", "min", "max"):
            value = int(value)
        groups.append(Group(key=dict(zip(gnames, key)), rows=len(vals), value=value))
    if sort == "value":
        with_value = sorted((g for g in groups if g.value is not None), key=lambda g: (g.value, [sort_key(v) for v in g.key.values()]),
                            reverse=descending)
        groups = with_value + [g for g in groups if g.value is None]
    else:
        groups.sort(key=lambda g: [sort_key(v) for v in g.key.values()], reverse=descending)
    shown, _ = clip_items(groups, limit)
    return GroupResult(path=path, group_by=gnames, aggregate=aggregate, value_column=value_column, groups=shown,
                       total_groups=len(groups), truncated=len(groups) > limit)
