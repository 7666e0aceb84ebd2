"""Row filters as typed arguments, turned into parameterised WHERE clauses over validated, quoted columns;
and the shaping of SQLite values into JSON-ready result cells."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from dive.servers.kit import ToolFailure

from .schema import TableInfo, quote_ident

Scalar = str | int | float | bool | None
FilterOp = Literal[
    "=", "!=", "<", "<=", ">", ">=", "like", "not_like", "contains", "starts_with", "ends_with",
    "in", "not_in", "between", "is_null", "not_null",
]
#: Longest text a single result cell carries before it is clipped.
MAX_CELL_CHARS = 4_000
MAX_IN_VALUES = 1_000


class Filter(BaseModel):
    """One condition on a column; several filters are combined with AND."""

    column: str = Field(description="Column name, e.g. 'population' (for join tools: 'table.column')")
    op: FilterOp = Field(
        "=",
        description=(
            "Comparison: = != < <= > >= (exact, '=' is case-sensitive); like/not_like (SQL pattern with % and _, "
            "case-insensitive for ASCII); contains/starts_with/ends_with (plain text, case-insensitive for ASCII); "
            "in/not_in (value is a list); between (value is [low, high], inclusive); is_null/not_null (no value)"
        ),
    )
    value: Scalar | list[Scalar] = Field(None, description="The value to compare with (a list for in/not_in/between)")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _scalar(f: Filter) -> Any:
    if isinstance(f.value, list):
        raise ToolFailure(f"filter on {f.column!r} with op {f.op!r} needs a single value, not a list")
    if f.value is None:
        hint = " (use op 'is_null' to match missing values)" if f.op == "=" else (
            " (use op 'not_null')" if f.op == "!=" else "")
        raise ToolFailure(f"filter on {f.column!r} with op {f.op!r} needs a value{hint}")
    return int(f.value) if isinstance(f.value, bool) else f.value


def condition(f: Filter, expr: str) -> tuple[str, list[Any]]:
    """The SQL condition and parameters of one filter on the (already quoted) column expression `expr`."""
    op = f.op
    if op in ("=", "!=", "<", "<=", ">", ">="):
        return f"{expr} {'<>' if op == '!=' else op} ?", [_scalar(f)]
    if op in ("like", "not_like"):
        return f"{expr} {'NOT LIKE' if op == 'not_like' else 'LIKE'} ?", [str(_scalar(f))]
    if op in ("contains", "starts_with", "ends_with"):
        text = _escape_like(str(_scalar(f)))
        pattern = {"contains": f"%{text}%", "starts_with": f"{text}%", "ends_with": f"%{text}"}[op]
        return f"{expr} LIKE ? ESCAPE '\\'", [pattern]
    if op in ("in", "not_in"):
        values = f.value if isinstance(f.value, list) else None
        if not values:
            raise ToolFailure(f"filter on {f.column!r} with op {op!r} needs a non-empty list of values")
        if len(values) > MAX_IN_VALUES:
            raise ToolFailure(f"filter on {f.column!r}: at most {MAX_IN_VALUES} values in a list")
        values = [int(v) if isinstance(v, bool) else v for v in values]
        marks = ", ".join("?" * len(values))
        return f"{expr} {'NOT IN' if op == 'not_in' else 'IN'} ({marks})", values
    if op == "between":
        if not (isinstance(f.value, list) and len(f.value) == 2 and None not in f.value):
            raise ToolFailure(f"filter on {f.column!r} with op 'between' needs value [low, high]")
        return f"{expr} BETWEEN ? AND ?", list(f.value)
    if op == "is_null":
        return f"{expr} IS NULL", []
    if op == "not_null":
        return f"{expr} IS NOT NULL", []
    raise ToolFailure(f"unknown filter op {op!r}")


def where_clause(filters: Sequence[Filter] | None, resolve: Callable[[str], str]) -> tuple[str, list[Any]]:
    """' WHERE ...' (or '') and its parameters; `resolve` maps a caller's column name to quoted SQL."""
    parts: list[str] = []
    params: list[Any] = []
    for f in filters or []:
        sql, values = condition(f, resolve(f.column))
        parts.append(sql)
        params.extend(values)
    return (" WHERE " + " AND ".join(parts), params) if parts else ("", [])


def column_resolver(table: TableInfo) -> Callable[[str], str]:
    """Resolve bare column names of one table to quoted identifiers (unknown names fail with the list)."""
    return lambda name: quote_ident(table.column(name).name)


def table_where(table: TableInfo, filters: Sequence[Filter] | None) -> tuple[str, list[Any]]:
    return where_clause(filters, column_resolver(table))


def tidy(value: float | None) -> float | None:
    """A computed float without binary rounding noise (12 significant digits: 357529.68999999977 -> 357529.69);
    integers pass through unchanged."""
    if value is None or isinstance(value, int) or not math.isfinite(value):
        return None if value is None or math.isnan(value) else value
    return float(f"{value:.12g}")


def cell(value: Any) -> Any:
    """A SQLite value as JSON: floats without rounding noise, blobs described, very long text clipped."""
    if isinstance(value, float):
        return tidy(value)
    if isinstance(value, bytes):
        return f"<blob of {len(value)} bytes>"
    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
        return value[:MAX_CELL_CHARS] + f"…[clipped: {len(value) - MAX_CELL_CHARS} more characters]"
    return value


def as_dicts(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [{c: cell(v) for c, v in zip(columns, row)} for row in rows]


def as_lists(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    return [[cell(v) for v in row] for row in rows]


def select_list(table: TableInfo, columns: Sequence[str] | None) -> tuple[str, list[str]]:
    """The quoted select list for `columns` (all columns when None) and their canonical names."""
    names = [table.column(c).name for c in columns] if columns else table.column_names
    if not names:
        raise ToolFailure("choose at least one column")
    return ", ".join(quote_ident(n) for n in names), names
