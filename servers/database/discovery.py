"""Schema discovery: what tables exist, what they hold, how they link, and what a few rows look like."""

from __future__ import annotations

import random
import sqlite3
from collections import deque
from typing import Annotated, Any

from pydantic import BaseModel, Field

from dive.servers.kit import Example, ToolFailure, no_facts

from .checks import world_rows, world_value
from .filters import as_dicts, select_list
from .schema import ForeignKey, Schema, TableInfo, quote_ident
from .state import DOMAIN, DatabaseState

TableName = Annotated[str, Field(description="Table or view name, e.g. 'cities' (see list_tables)")]


class TableSummary(BaseModel):
    name: str
    kind: str = Field(description="'table', 'view' or 'virtual' (a full-text index)")
    column_count: int
    row_count: int | None = Field(description="Rows in it (None when not counted)")
    primary_key: list[str]


class TableList(BaseModel):
    tables: list[TableSummary]
    count: int


@DOMAIN.tool(meaning=no_facts("describes the schema, not facts about the world"), kind="retrieval", examples=[
    Example({}, lambda r, w: {t["name"]: t["row_count"] for t in r["tables"]}["cities"]
            == world_value(w, "SELECT count(*) FROM cities") and r["count"] == len(r["tables"])),
    Example({"include_row_counts": False}, lambda r: all(t["row_count"] is None for t in r["tables"])
            and any(t["name"] == "documents_fts" and t["kind"] == "virtual" for t in r["tables"])),
])
def list_tables(
    s: DatabaseState,
    include_row_counts: Annotated[bool, Field(description="Also count the rows of every table and view")] = True,
) -> TableList:
    """List every table, view and full-text index in the database with its kind, column count, primary key
    and (by default) row count. Start here to learn what data exists; then use describe_table for one table."""
    with s.lock:
        schema = s.schema()
        tables = []
        for info in schema.tables.values():
            count = s.count(info.name) if include_row_counts else None
            tables.append(TableSummary(name=info.name, kind=info.kind, column_count=len(info.columns),
                                       row_count=count, primary_key=info.primary_key))
    return TableList(tables=tables, count=len(tables))


class ColumnDescription(BaseModel):
    name: str
    type: str = Field(description="Declared type ('' when none)")
    not_null: bool
    default: str | None = Field(description="Default value as SQL text, if any")
    primary_key_position: int = Field(description="1-based position in the primary key, 0 if not part of it")


class ForeignKeyEdge(BaseModel):
    from_table: str
    from_columns: list[str]
    to_table: str
    to_columns: list[str]


class IndexDescription(BaseModel):
    name: str
    unique: bool
    columns: list[str]
    origin: str = Field(description="'c' created by CREATE INDEX, 'u' a UNIQUE constraint, 'pk' the primary key")


class TableDescription(BaseModel):
    name: str
    kind: str
    row_count: int
    columns: list[ColumnDescription]
    primary_key: list[str]
    foreign_keys: list[ForeignKeyEdge] = Field(description="Columns of this table that reference other tables")
    referenced_by: list[ForeignKeyEdge] = Field(description="Columns of other tables that reference this one")
    indexes: list[IndexDescription]
    full_text_indexes: list[str] = Field(description="FTS5 tables that index this table's text (search with search_documents)")
    sql: str = Field(description="The CREATE statement")


def _edge(fk: ForeignKey) -> ForeignKeyEdge:
    return ForeignKeyEdge(from_table=fk.table, from_columns=list(fk.columns), to_table=fk.ref_table,
                          to_columns=list(fk.ref_columns))


@DOMAIN.tool(meaning=no_facts("describes the schema, not facts about the world"), kind="retrieval", examples=[
    Example({"table": "cities"}, lambda r, w: r["primary_key"] == ["id"] and r["row_count"]
            == world_value(w, "SELECT count(*) FROM cities")
            and any(fk["to_table"] == "countries" and fk["from_columns"] == ["country_code"] for fk in r["foreign_keys"])
            and any(fk["from_table"] == "customers" for fk in r["referenced_by"])
            and any(ix["columns"] == ["population"] for ix in r["indexes"])),
    Example({"table": "documents"}, lambda r: r["full_text_indexes"] == ["documents_fts"]),
])
def describe_table(s: DatabaseState, table: TableName) -> TableDescription:
    """Describe one table or view: its columns (type, NOT NULL, default, primary key), row count, foreign keys
    in both directions, indexes, attached full-text indexes and its CREATE statement."""
    with s.lock:
        schema = s.schema()
        info = schema.table(table)
        indexes = []
        if info.kind == "table":
            for _seq, name, unique, origin, _partial in s.read(f"PRAGMA index_list({quote_ident(info.name)})").rows:
                cols = [r[2] for r in s.read(f"PRAGMA index_info({quote_ident(name)})").rows]
                indexes.append(IndexDescription(name=name, unique=bool(unique), columns=[c or "<expression>" for c in cols],
                                                origin=origin))
            indexes.sort(key=lambda ix: ix.name)
        return TableDescription(
            name=info.name, kind=info.kind, row_count=s.count(info.name),
            columns=[ColumnDescription(name=c.name, type=c.type, not_null=c.not_null, default=c.default,
                                       primary_key_position=c.pk) for c in info.columns],
            primary_key=info.primary_key,
            foreign_keys=[_edge(fk) for fk in info.foreign_keys],
            referenced_by=[_edge(fk) for fk in schema.references_to(info.name)],
            indexes=indexes,
            full_text_indexes=sorted(f.name for f in schema.fts.values()
                                     if f.content_table and f.content_table.lower() == info.name.lower()),
            sql=info.sql,
        )


class JoinStep(BaseModel):
    from_table: str
    to_table: str
    on: str = Field(description="The join condition, ready for SQL")


class ForeignKeyGraph(BaseModel):
    edges: list[ForeignKeyEdge]
    tables: list[str] = Field(description="Tables that take part in at least one foreign key")
    path: list[JoinStep] | None = Field(
        None, description="When from_table and to_table are given: the shortest chain of joins between them")
    join_sql: str | None = Field(None, description="The path as a FROM ... JOIN ... clause")


def _join_path(schema: Schema, start: str, goal: str) -> list[tuple[str, str, ForeignKey]]:
    """Breadth-first search over foreign keys (either direction); returns (from, to, fk) steps."""
    start_t, goal_t = schema.table(start, kinds=("table",)).name, schema.table(goal, kinds=("table",)).name
    neighbours: dict[str, list[tuple[str, ForeignKey]]] = {}
    for fk in schema.foreign_keys:
        neighbours.setdefault(fk.table, []).append((fk.ref_table, fk))
        neighbours.setdefault(fk.ref_table, []).append((fk.table, fk))
    previous: dict[str, tuple[str, ForeignKey] | None] = {start_t: None}
    queue = deque([start_t])
    while queue:
        node = queue.popleft()
        if node == goal_t:
            break
        for nxt, fk in sorted(neighbours.get(node, []), key=lambda p: (p[0], p[1].columns)):
            if nxt not in previous:
                previous[nxt] = (node, fk)
                queue.append(nxt)
    if goal_t not in previous:
        raise ToolFailure(f"no chain of foreign keys connects {start_t!r} and {goal_t!r}")
    steps = []
    node = goal_t
    while previous[node] is not None:
        prev, fk = previous[node]  # type: ignore[misc]
        steps.append((prev, node, fk))
        node = prev
    return list(reversed(steps))


def _on(fk: ForeignKey) -> str:
    return " AND ".join(f"{quote_ident(fk.table)}.{quote_ident(c)} = {quote_ident(fk.ref_table)}.{quote_ident(r)}"
                        for c, r in zip(fk.columns, fk.ref_columns))


@DOMAIN.tool(meaning=no_facts("describes the schema, not facts about the world"), kind="retrieval", examples=[
    Example({}, lambda r: {"from_table": "orders", "from_columns": ["customer_id"], "to_table": "customers",
                           "to_columns": ["id"]} in r["edges"] and r["path"] is None),
    Example({"from_table": "orders", "to_table": "countries"},
            lambda r: [(p["from_table"], p["to_table"]) for p in r["path"]]
            == [("orders", "customers"), ("customers", "cities"), ("cities", "countries")]),
])
def foreign_key_graph(
    s: DatabaseState,
    from_table: Annotated[str | None, Field(description="Optional: start table of a join path")] = None,
    to_table: Annotated[str | None, Field(description="Optional: end table of a join path (with from_table)")] = None,
) -> ForeignKeyGraph:
    """The database's foreign-key graph: every reference from a child table's columns to a parent table.
    Give from_table and to_table to get the shortest chain of joins linking them, with ready-to-use SQL."""
    schema = s.schema()
    fks = schema.foreign_keys
    tables = sorted({fk.table for fk in fks} | {fk.ref_table for fk in fks})
    if (from_table is None) != (to_table is None):
        raise ToolFailure("give both from_table and to_table to get a join path, or neither for the whole graph")
    path = join_sql = None
    if from_table is not None and to_table is not None:
        steps = _join_path(schema, from_table, to_table)
        path = [JoinStep(from_table=a, to_table=b, on=_on(fk)) for a, b, fk in steps]
        first = schema.table(from_table).name
        join_sql = f"FROM {quote_ident(first)}" + "".join(f" JOIN {quote_ident(p.to_table)} ON {p.on}" for p in path)
    return ForeignKeyGraph(edges=[_edge(fk) for fk in fks], tables=tables, path=path, join_sql=join_sql)


class SampleRows(BaseModel):
    table: str
    columns: list[str]
    rows: list[dict[str, Any]]
    row_count: int = Field(description="Rows in the whole table")
    positions: list[int] = Field(description="0-based positions of the sampled rows in primary-key order")


def order_clause(info: TableInfo) -> str:
    """A deterministic row order: the primary key, else the rowid, else every column."""
    if info.primary_key:
        return ", ".join(quote_ident(c) for c in info.primary_key)
    if info.kind == "table" and not info.without_rowid:
        return "rowid"
    return ", ".join(quote_ident(c) for c in info.column_names)


@DOMAIN.tool(meaning=no_facts("draws rows at random positions: which rows come back is the tool's choice"), kind="retrieval", examples=[
    Example({"table": "elements", "n": 3}, lambda r: [row["symbol"] for row in r["rows"]] == ["H", "He", "Li"]),
    Example({"table": "countries", "n": 4, "seed": 7, "columns": ["code", "name"]},
            lambda r, w: len(r["rows"]) == 4 and all(
                world_value(w, "SELECT name FROM countries WHERE code = ?", (row["code"],)) == row["name"]
                for row in r["rows"])),
])
def sample_rows(
    s: DatabaseState,
    table: TableName,
    n: Annotated[int, Field(ge=1, le=50, description="How many rows")] = 5,
    seed: Annotated[int | None, Field(description="Omit for the first n rows; give a number for a reproducible random sample")] = None,
    columns: Annotated[list[str] | None, Field(description="Columns to show (default: all)")] = None,
) -> SampleRows:
    """Show a few rows of a table to see what its values look like: the first n rows in primary-key order,
    or a reproducible random sample when a seed is given."""
    with s.lock:
        info = s.schema().table(table)
        select, names = select_list(info, columns)
        total = s.count(info.name)
        base = f"SELECT {select} FROM {quote_ident(info.name)} ORDER BY {order_clause(info)}"
        if seed is None:
            positions = list(range(min(n, total)))
            rows = s.read(f"{base} LIMIT ?", (n,)).rows
        else:
            positions = sorted(random.Random(seed).sample(range(total), min(n, total)))
            rows = [r for p in positions for r in s.read(f"{base} LIMIT 1 OFFSET ?", (p,)).rows]
    return SampleRows(table=info.name, columns=names, rows=as_dicts(names, rows), row_count=total, positions=positions)


class DatabaseInfo(BaseModel):
    sqlite_version: str
    source: str = Field(description="'shared world database' until this session writes, then 'session copy'")
    modified: bool = Field(description="Whether this session has written (writes never reach the shared database)")
    size_bytes: int
    page_size: int
    tables: int
    views: int
    full_text_indexes: list[str]
    foreign_keys: int
    total_rows: int = Field(description="Rows across all ordinary tables")


@DOMAIN.tool(meaning=no_facts("describes the schema, not facts about the world"), kind="retrieval", examples=[
    Example({}, lambda r, w: r["modified"] is False and r["source"] == "shared world database"
            and r["sqlite_version"] == sqlite3.sqlite_version and r["full_text_indexes"] == ["documents_fts"]
            and r["total_rows"] == sum(world_value(w, f"SELECT count(*) FROM {t}") for (t,) in world_rows(
                w, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                   "AND name NOT LIKE 'documents_fts%'"))),
])
def database_info(s: DatabaseState) -> DatabaseInfo:
    """Facts about the database as a whole: SQLite version, size, numbers of tables, views, foreign keys and
    rows, its full-text indexes, and whether this session has modified its private copy."""
    with s.lock:
        schema = s.schema()
        plain = [t for t in schema.tables.values() if t.kind == "table"]
        page_size = int(s.scalar("PRAGMA page_size"))
        pages = int(s.scalar("PRAGMA page_count"))
        return DatabaseInfo(
            sqlite_version=sqlite3.sqlite_version,
            source="session copy" if s.database.copied else "shared world database",
            modified=s.database.copied,
            size_bytes=page_size * pages,
            page_size=page_size,
            tables=len(plain),
            views=sum(t.kind == "view" for t in schema.tables.values()),
            full_text_indexes=sorted(schema.fts),
            foreign_keys=len(schema.foreign_keys),
            total_rows=sum(s.count(t.name) for t in plain),
        )


class ColumnMatch(BaseModel):
    table: str
    column: str
    type: str
    primary_key: bool
    references: str | None = Field(description="'table.column' this column points to, if it is a foreign key")


class ColumnMatches(BaseModel):
    matches: list[ColumnMatch]
    count: int


@DOMAIN.tool(meaning=no_facts("describes the schema, not facts about the world"), kind="retrieval", examples=[
    Example({"name_contains": "population"}, lambda r: {(m["table"], m["column"]) for m in r["matches"]}
            == {("cities", "population"), ("continents", "population"), ("countries", "population")}),
    Example({"name_contains": "city", "type": "INTEGER"}, lambda r: {"companies", "customers", "airports"}
            <= {m["table"] for m in r["matches"]} and all(m["references"] == "cities.id" for m in r["matches"])),
])
def find_columns(
    s: DatabaseState,
    name_contains: Annotated[str | None, Field(description="Case-insensitive part of a column name, e.g. 'date'")] = None,
    type: Annotated[str | None, Field(description="Declared type to match, e.g. 'TEXT', 'INTEGER', 'REAL'")] = None,
) -> ColumnMatches:
    """Find columns across all tables and views by part of their name and/or their declared type, e.g. every
    column holding a date or a population. Shows which are primary keys and where foreign keys point."""
    if not name_contains and not type:
        raise ToolFailure("give name_contains and/or type")
    matches = []
    for info in s.schema().tables.values():
        refs = {c: f"{fk.ref_table}.{r}" for fk in info.foreign_keys for c, r in zip(fk.columns, fk.ref_columns)}
        for col in info.columns:
            if name_contains and name_contains.lower() not in col.name.lower():
                continue
            if type and col.type.upper() != type.upper():
                continue
            matches.append(ColumnMatch(table=info.name, column=col.name, type=col.type, primary_key=bool(col.pk),
                                       references=refs.get(col.name)))
    return ColumnMatches(matches=matches, count=len(matches))
