"""Caller-written SQL, run read-only: queries with row and time limits, query plans, and exports as text."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from dive.servers.kit import Example, ToolFailure, clip_text, no_facts

from .checks import close, world_rows, world_value
from .filters import Scalar, as_lists, cell
from .state import DOMAIN, MAX_TIME_LIMIT_S, DatabaseState

Sql = Annotated[str, Field(min_length=1, description="One read-only SQL statement (SELECT / WITH ... SELECT); use ? or :name placeholders for values")]
Params = Annotated[
    list[Scalar] | dict[str, Scalar] | None,
    Field(description="Values for the placeholders: a list for ?, an object for :name"),
]
TimeLimit = Annotated[
    float | None,
    Field(gt=0, le=MAX_TIME_LIMIT_S, description=f"Seconds the query may run (default 10, at most {MAX_TIME_LIMIT_S:g})"),
]


class QueryResult(BaseModel):
    columns: list[str]
    rows: list[list[Any]] = Field(description="Result rows, each a list of values in column order")
    row_count: int = Field(description="Rows returned here")
    truncated: bool = Field(description="True when the query had more rows than the limit")
    limit: int


def _params(params: list[Any] | dict[str, Any] | None) -> list[Any] | dict[str, Any]:
    if params is None:
        return []
    if isinstance(params, dict):
        return {k.lstrip(":@$"): (int(v) if isinstance(v, bool) else v) for k, v in params.items()}
    return [int(v) if isinstance(v, bool) else v for v in params]


@DOMAIN.tool(meaning=no_facts("answers SQL the caller writes; a question cannot name the SQL"), kind="retrieval", examples=[
    Example({"sql": "SELECT name, population FROM countries WHERE continent = ? ORDER BY population DESC",
             "params": ["EU"], "limit": 3},
            lambda r, w: r["rows"] == [list(x) for x in world_rows(
                w, "SELECT name, population FROM countries WHERE continent = 'EU' ORDER BY population DESC LIMIT 3")]
            and r["truncated"] is True and r["columns"] == ["name", "population"]),
    Example({"sql": "SELECT symbol, name FROM elements WHERE number = :n", "params": {"n": 26}},
            lambda r: r["rows"] == [["Fe", "Iron"]] and r["truncated"] is False),
])
def run_query(
    s: DatabaseState,
    sql: Sql,
    params: Params = None,
    limit: Annotated[int, Field(ge=1, le=1000, description="Most rows to return")] = 100,
    time_limit_s: TimeLimit = None,
) -> QueryResult:
    """Run one read-only SQL query (SQLite dialect) and return its rows. Writes, ATTACH, extension loading
    and multiple statements are refused by the database itself; at most `limit` rows come back
    (`truncated` says whether there were more) and a query past its time limit is stopped with an error."""
    out = s.read(sql, _params(params), limit=limit, time_limit=time_limit_s)
    return QueryResult(columns=out.columns, rows=as_lists(out.rows), row_count=len(out.rows),
                       truncated=out.truncated, limit=limit)


class PlanStep(BaseModel):
    id: int
    parent: int
    detail: str


class QueryPlan(BaseModel):
    steps: list[PlanStep]
    full_scans: list[str] = Field(description="Tables (or aliases) read in full, row by row")
    indexes_used: list[str] = Field(description="Indexes the plan searches ('INTEGER PRIMARY KEY' for rowid lookups)")
    uses_temp_btree: bool = Field(description="Whether the plan sorts or de-duplicates in a temporary b-tree")
    text: str = Field(description="The plan as an indented tree")


_COMMENT = re.compile(r"^\s*(?:--[^\n]*(?:\n|$)|/\*.*?\*/)", re.DOTALL)


def first_keyword(sql: str) -> str:
    """The statement's first keyword, upper-cased, after leading comments and parentheses."""
    text = sql
    while (m := _COMMENT.match(text)) is not None:
        text = text[m.end():]
    m = re.match(r"[\s(]*([A-Za-z]+)", text)
    return m.group(1).upper() if m else ""


_SCAN = re.compile(r"^SCAN (?:TABLE )?(\S+)(.*)$")
_INDEX = re.compile(r"USING (?:COVERING )?INDEX (\S+)")


@DOMAIN.tool(meaning=no_facts("answers SQL the caller writes; a question cannot name the SQL"), kind="processing", examples=[
    Example({"sql": "SELECT name FROM cities WHERE country_code = 'FR'"},
            lambda r: "idx_cities_country" in r["indexes_used"] and r["full_scans"] == []),
    Example({"sql": "SELECT date FROM weather WHERE wind > 5 ORDER BY wind DESC"},
            lambda r: r["full_scans"] == ["weather"] and r["uses_temp_btree"] is True),
])
def explain_query(s: DatabaseState, sql: Sql, params: Params = None) -> QueryPlan:
    """Show how SQLite would execute a read-only query (EXPLAIN QUERY PLAN) without running it: which tables
    it scans in full, which indexes it uses, and whether it needs temporary sorting. Use it to make a slow
    query faster."""
    keyword = first_keyword(sql)
    if keyword not in ("SELECT", "WITH", "VALUES"):
        raise ToolFailure(f"refused: explain_query plans read-only queries (SELECT, WITH or VALUES), not {keyword or 'empty'} "
                          "statements")
    out = s.read(f"EXPLAIN QUERY PLAN {sql}", _params(params))
    steps = [PlanStep(id=r[0], parent=r[1], detail=r[3]) for r in out.rows]
    scans, indexes = [], []
    depth: dict[int, int] = {0: -1}
    lines = []
    for step in steps:
        depth[step.id] = depth.get(step.parent, -1) + 1
        lines.append("  " * depth[step.id] + step.detail)
        scan = _SCAN.match(step.detail)
        if scan and "USING" not in scan.group(2):
            scans.append(scan.group(1))
        if (m := _INDEX.search(step.detail)) is not None:
            indexes.append(m.group(1))
        elif "INTEGER PRIMARY KEY" in step.detail:
            indexes.append("INTEGER PRIMARY KEY")
    return QueryPlan(steps=steps, full_scans=scans, indexes_used=indexes,
                     uses_temp_btree=any("TEMP B-TREE" in st.detail for st in steps), text="\n".join(lines))


class ExportResult(BaseModel):
    format: str
    text: str = Field(description="The query result as text in the chosen format")
    columns: list[str]
    row_count: int
    truncated: bool = Field(description="True when rows beyond the limit (or text beyond the size cap) were left out")


def _markdown_cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _render(fmt: str, columns: list[str], rows: list[list[Any]]) -> str:
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return buf.getvalue()
    if fmt == "json":
        return json.dumps([dict(zip(columns, r)) for r in rows], ensure_ascii=False, indent=1)
    if fmt == "jsonl":
        return "".join(json.dumps(dict(zip(columns, r)), ensure_ascii=False) + "\n" for r in rows)
    head = "| " + " | ".join(_markdown_cell(c) for c in columns) + " |"
    rule = "|" + "|".join(" --- " for _ in columns) + "|"
    body = ["| " + " | ".join(_markdown_cell(v) for v in r) + " |" for r in rows]
    return "\n".join([head, rule, *body]) + "\n"


@DOMAIN.tool(meaning=no_facts("answers SQL the caller writes; a question cannot name the SQL"), kind="processing", examples=[
    Example({"sql": "SELECT code, name FROM continents ORDER BY code", "format": "csv"},
            lambda r, w: r["text"].splitlines() == ["code,name"] + [f"{c},{n}" for c, n in world_rows(
                w, "SELECT code, name FROM continents ORDER BY code")]),
    Example({"sql": "SELECT symbol, mass FROM elements WHERE number <= 2 ORDER BY number", "format": "json"},
            lambda r, w: [d["symbol"] for d in json.loads(r["text"])] == ["H", "He"]
            and close(json.loads(r["text"])[1]["mass"], world_value(w, "SELECT mass FROM elements WHERE number = 2"))),
    Example({"sql": "SELECT name, sector FROM companies ORDER BY id", "format": "markdown", "limit": 2},
            lambda r: r["text"].startswith("| name | sector |\n") and "| Apple | Technology |" in r["text"]
            and r["truncated"] is True),
])
def export_query(
    s: DatabaseState,
    sql: Sql,
    format: Annotated[Literal["csv", "json", "jsonl", "markdown"], Field(description="Text format of the export")] = "csv",
    params: Params = None,
    limit: Annotated[int, Field(ge=1, le=5000, description="Most rows to export")] = 1000,
    time_limit_s: TimeLimit = None,
) -> ExportResult:
    """Run a read-only query and return its result as CSV, JSON (an array of objects), JSON Lines or a
    Markdown table, ready to save to a file or paste into a report."""
    out = s.read(sql, _params(params), limit=limit, time_limit=time_limit_s)
    rows = [[cell(v) for v in r] for r in out.rows]
    text, clipped = clip_text(_render(format, out.columns, rows), 100_000)
    return ExportResult(format=format, text=text, columns=out.columns, row_count=len(rows),
                        truncated=out.truncated or clipped)
