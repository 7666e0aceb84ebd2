"""Changing the database: every write acts on the calling session's private copy (made on its first write),
never on the shared world file; each call is one transaction, rolled back whole if any part fails.
Also: what this session has changed compared with the shared database."""

from __future__ import annotations

import csv
import io
import math
import sqlite3
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from sqlite_utils.utils import TypeTracker

from dive.servers.kit import Example, ToolFailure, no_facts

from .checks import world_value
from .filters import Filter, Scalar, as_lists, table_where
from .guard import CallerSQL, GuardedConnection
from .lookups import Filters, TableName
from .querying import Params, TimeLimit, _params
from .schema import Schema, TableInfo, check_new_name, quote_ident
from .state import DOMAIN, DatabaseState

ColumnType = Literal["INTEGER", "REAL", "TEXT", "BLOB", "NUMERIC"]
MAX_ROWS_PER_CALL = 1_000
MAX_CSV_CHARS = 2_000_000


def sql_literal(value: Any) -> str:
    """A constant as SQL text, for the few places SQLite takes no parameters (DEFAULT clauses)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ToolFailure("default values must be finite numbers")
        return repr(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise ToolFailure("text values may not contain NUL characters")
        return "'" + value.replace("'", "''") + "'"
    raise ToolFailure(f"unsupported default value {value!r}: use a number, text, true/false or null")


def _absent(schema: Schema, name: str, what: str) -> str:
    check_new_name(name, what)
    if any(t.lower() == name.lower() for t in schema.tables):
        raise ToolFailure(f"a table or view named {name!r} already exists; choose another name")
    return name


def _constraint_failure(exc: sqlite3.IntegrityError, hint: str) -> ToolFailure:
    if "FOREIGN KEY" in str(exc):
        hint = ("a value points to a row that does not exist, or rows still point to one being removed "
                "(describe_table lists the foreign keys); nothing was changed")
    return ToolFailure(f"constraint violated: {exc}; {hint}")


class NewColumn(BaseModel):
    name: str = Field(description="Column name (letters, digits, underscores)")
    type: ColumnType = Field("TEXT", description="INTEGER, REAL, TEXT, BLOB or NUMERIC")
    not_null: bool = Field(False, description="Refuse NULL values")
    default: Scalar = Field(None, description="Value used when an insert leaves the column out")


class NewForeignKey(BaseModel):
    column: str = Field(description="Column of the new table")
    references_table: str = Field(description="Existing table it points to")
    references_column: str | None = Field(None, description="Column it points to (default: that table's primary key)")


class TableCreated(BaseModel):
    table: str
    columns: list[str]
    primary_key: list[str]
    sql: str = Field(description="The CREATE TABLE statement SQLite stored")


@DOMAIN.tool(meaning=no_facts("changes the session's copy of the database; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"name": "trips", "columns": [{"name": "id", "type": "INTEGER"}, {"name": "city_id", "type": "INTEGER", "not_null": True},
                                          {"name": "note", "type": "TEXT", "default": "none"}],
             "primary_key": ["id"], "foreign_keys": [{"column": "city_id", "references_table": "cities"}]},
            lambda r: r["table"] == "trips" and r["primary_key"] == ["id"] and 'REFERENCES "cities"("id")' in r["sql"]
            and "DEFAULT 'none'" in r["sql"]),
])
def create_table(
    s: DatabaseState,
    name: Annotated[str, Field(description="New table name")],
    columns: Annotated[list[NewColumn], Field(min_length=1, max_length=100, description="The columns, in order")],
    primary_key: Annotated[list[str] | None, Field(description="Primary-key column(s) (default: none, rows keyed by rowid)")] = None,
    foreign_keys: Annotated[list[NewForeignKey] | None, Field(description="References from this table's columns to existing tables")] = None,
) -> TableCreated:
    """Create a new table in your session's copy of the database, with typed columns, an optional primary key,
    NOT NULL constraints, defaults and foreign keys to existing tables. The shared database is never changed."""
    names = [check_new_name(c.name, "column") for c in columns]
    if len({n.lower() for n in names}) != len(names):
        raise ToolFailure("column names must be unique")
    pk = [next((n for n in names if n.lower() == p.lower()), None) for p in primary_key or []]
    if None in pk:
        raise ToolFailure(f"primary_key names columns not in the table: {primary_key}; columns: {', '.join(names)}")
    with s.lock:
        schema = s.schema()
        _absent(schema, name, "table")
        fks = []
        for fk in foreign_keys or []:
            col = next((n for n in names if n.lower() == fk.column.lower()), None)
            if col is None:
                raise ToolFailure(f"foreign key column {fk.column!r} is not one of the new columns ({', '.join(names)})")
            parent = schema.table(fk.references_table, kinds=("table",))
            ref = parent.column(fk.references_column).name if fk.references_column else (
                parent.primary_key[0] if len(parent.primary_key) == 1 else None)
            if ref is None:
                raise ToolFailure(f"{parent.name!r} has no single-column primary key; give references_column")
            fks.append((col, parent.name, ref))
        with s.writing() as w:
            w.db[name].create(
                {c.name: c.type for c in columns},
                pk=(pk[0] if len(pk) == 1 else tuple(pk)) if pk else None,
                not_null={c.name for c in columns if c.not_null} or None,
                defaults={c.name: c.default for c in columns if c.default is not None} or None,
                foreign_keys=fks or None,
            )
        info = s.schema().table(name)
    return TableCreated(table=info.name, columns=info.column_names, primary_key=info.primary_key, sql=info.sql)


def _canonical_rows(info: TableInfo, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, row in enumerate(rows):
        if not row:
            raise ToolFailure(f"row {i} is empty; give at least one column value")
        fixed = {}
        for key, value in row.items():
            fixed[info.column(key).name] = int(value) if isinstance(value, bool) else value
        out.append(fixed)
    return out


class RowsInserted(BaseModel):
    table: str
    inserted: int = Field(description="Rows written (with on_conflict='ignore', rows skipped are not counted)")
    skipped: int = Field(description="Rows left out because they clashed with existing keys (on_conflict='ignore')")
    row_count: int = Field(description="Rows in the table afterwards")
    last_rowid: int | None


@DOMAIN.tool(meaning=no_facts("changes the session's copy of the database; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"table": "products", "rows": [{"id": "p9001", "name": "Test Lantern", "category": "Outdoor", "unit_price": 12.5},
                                           {"id": "p9002", "name": "Test Compass", "category": "Outdoor", "unit_price": 8}]},
            lambda r, w: r["inserted"] == 2 and r["row_count"] == world_value(w, "SELECT count(*) FROM products") + 2),
    Example({"table": "countries", "rows": [{"code": "FR", "iso3": "FRA", "name": "France", "continent": "EU"}],
             "on_conflict": "ignore"}, lambda r: r["inserted"] == 0 and r["skipped"] == 1),
])
def insert_rows(
    s: DatabaseState,
    table: TableName,
    rows: Annotated[list[dict[str, Scalar]], Field(min_length=1, max_length=MAX_ROWS_PER_CALL, description="Rows as objects mapping column names to values; columns left out get their default (or NULL)")],
    on_conflict: Annotated[Literal["fail", "ignore", "replace"], Field(description="When a row clashes with a primary key or UNIQUE value: fail (nothing is written), ignore (skip that row) or replace (overwrite the old row)")] = "fail",
) -> RowsInserted:
    """Insert rows into a table of your session's copy of the database (the shared database is never changed).
    Column names are checked against the table; constraints (keys, NOT NULL, foreign keys) are enforced."""
    with s.lock:
        info = s.schema().table(table, kinds=("table",))
        fixed = _canonical_rows(info, rows)
        with s.writing() as w:
            before = w.conn.total_changes
            try:
                w.db[info.name].insert_all(fixed, ignore=on_conflict == "ignore", replace=on_conflict == "replace",
                                           alter=False, batch_size=100)
            except sqlite3.IntegrityError as exc:
                raise _constraint_failure(exc, "fix the values, or choose on_conflict 'ignore' or 'replace'") from None
            inserted = w.conn.total_changes - before
            last = w.conn.execute("SELECT last_insert_rowid()").fetchone()[0] if inserted else None
            count = w.conn.execute(f"SELECT count(*) FROM {quote_ident(info.name)}").fetchone()[0]
    return RowsInserted(table=info.name, inserted=inserted, skipped=len(fixed) - inserted if on_conflict == "ignore" else 0,
                        row_count=count, last_rowid=last)


def _require_filters(filters: list[Filter] | None, all_rows: bool, verb: str) -> None:
    if not filters and not all_rows:
        raise ToolFailure(f"give filters choosing the rows to {verb}, or set all_rows=true to {verb} every row")


class RowsUpdated(BaseModel):
    table: str
    updated: int


@DOMAIN.tool(meaning=no_facts("changes the session's copy of the database; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"table": "products", "values": {"unit_price": 1.0}, "filters": [{"column": "category", "value": "Books"}]},
            lambda r, w: r["updated"] == world_value(w, "SELECT count(*) FROM products WHERE category = 'Books'")),
    Example({"table": "countries", "values": {"capital": "Lutetia"}, "filters": [{"column": "code", "value": "FR"}]},
            lambda r: r["updated"] == 1),
])
def update_rows(
    s: DatabaseState,
    table: TableName,
    values: Annotated[dict[str, Scalar], Field(min_length=1, description="New values by column name, e.g. {'unit_price': 9.99}")],
    filters: Filters = None,
    all_rows: Annotated[bool, Field(description="Must be true to update every row when no filters are given")] = False,
) -> RowsUpdated:
    """Set column values on the rows matching filters, in your session's copy of the database (the shared
    database is never changed). Returns how many rows were updated."""
    _require_filters(filters, all_rows, "update")
    with s.lock:
        info = s.schema().table(table, kinds=("table",))
        sets = [(info.column(k).name, int(v) if isinstance(v, bool) else v) for k, v in values.items()]
        where, params = table_where(info, filters)
        assignment = ", ".join(f"{quote_ident(c)} = ?" for c, _ in sets)
        with s.writing() as w:
            try:
                cur = w.conn.execute(f"UPDATE {quote_ident(info.name)} SET {assignment}{where}", [*(v for _, v in sets), *params])
            except sqlite3.IntegrityError as exc:
                raise _constraint_failure(exc, "no rows were changed") from None
            updated = cur.rowcount
    return RowsUpdated(table=info.name, updated=updated)


class RowsDeleted(BaseModel):
    table: str
    deleted: int
    row_count: int = Field(description="Rows left in the table")


@DOMAIN.tool(meaning=no_facts("changes the session's copy of the database; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"table": "weather", "filters": [{"column": "date", "op": "starts_with", "value": "2012"}]},
            lambda r, w: r["deleted"] == 366 and r["row_count"] == world_value(w, "SELECT count(*) FROM weather") - 366),
])
def delete_rows(
    s: DatabaseState,
    table: TableName,
    filters: Filters = None,
    all_rows: Annotated[bool, Field(description="Must be true to delete every row when no filters are given")] = False,
) -> RowsDeleted:
    """Delete the rows matching filters from a table of your session's copy of the database (the shared
    database is never changed). Rows still referenced by foreign keys cannot be deleted."""
    _require_filters(filters, all_rows, "delete")
    with s.lock:
        info = s.schema().table(table, kinds=("table",))
        where, params = table_where(info, filters)
        with s.writing() as w:
            try:
                cur = w.conn.execute(f"DELETE FROM {quote_ident(info.name)}{where}", params)
            except sqlite3.IntegrityError as exc:
                raise _constraint_failure(exc, "nothing was deleted") from None
            deleted = cur.rowcount
            left = w.conn.execute(f"SELECT count(*) FROM {quote_ident(info.name)}").fetchone()[0]
    return RowsDeleted(table=info.name, deleted=deleted, row_count=left)


class ColumnAdded(BaseModel):
    table: str
    column: str
    type: str
    columns: list[str] = Field(description="The table's columns afterwards")


@DOMAIN.tool(meaning=no_facts("changes the session's copy of the database; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"table": "countries", "name": "visited", "type": "INTEGER", "default": 0},
            lambda r: r["columns"][-1] == "visited" and r["type"] == "INTEGER"),
    Example({"table": "customers", "name": "home_country", "type": "TEXT", "references_table": "countries"},
            lambda r: "home_country" in r["columns"]),
])
def add_column(
    s: DatabaseState,
    table: TableName,
    name: Annotated[str, Field(description="New column name")],
    type: Annotated[ColumnType, Field(description="INTEGER, REAL, TEXT, BLOB or NUMERIC")] = "TEXT",
    default: Annotated[Scalar, Field(description="Value for existing and future rows that leave it out")] = None,
    references_table: Annotated[str | None, Field(description="Make it a foreign key to this table's primary key")] = None,
) -> ColumnAdded:
    """Add a column to a table in your session's copy of the database, optionally with a default value (filled
    into existing rows) or as a foreign key to another table."""
    check_new_name(name, "column")
    with s.lock:
        schema = s.schema()
        info = schema.table(table, kinds=("table",))
        if any(c.lower() == name.lower() for c in info.column_names):
            raise ToolFailure(f"{info.name!r} already has a column named {name!r}")
        clause = f"ALTER TABLE {quote_ident(info.name)} ADD COLUMN {quote_ident(name)} {type}"
        if default is not None:
            clause += f" DEFAULT {sql_literal(default)}"
        if references_table:
            parent = schema.table(references_table, kinds=("table",))
            if len(parent.primary_key) != 1:
                raise ToolFailure(f"{parent.name!r} has no single-column primary key to reference")
            clause += f" REFERENCES {quote_ident(parent.name)}({quote_ident(parent.primary_key[0])})"
        with s.writing() as w:
            w.conn.execute(clause)
        info = s.schema().table(info.name)
    return ColumnAdded(table=info.name, column=name, type=type, columns=info.column_names)


class IndexCreated(BaseModel):
    index: str
    table: str
    columns: list[str]
    unique: bool


@DOMAIN.tool(meaning=no_facts("changes the session's copy of the database; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"table": "weather", "columns": ["weather", "temp_max"]},
            lambda r: r["index"] == "idx_weather_weather_temp_max" and r["columns"] == ["weather", "temp_max"]),
    Example({"table": "companies", "columns": ["name"], "unique": True, "name": "uq_company_name"},
            lambda r: r["index"] == "uq_company_name" and r["unique"] is True),
])
def create_index(
    s: DatabaseState,
    table: TableName,
    columns: Annotated[list[str], Field(min_length=1, max_length=8, description="Columns to index, in order")],
    unique: Annotated[bool, Field(description="Also refuse duplicate values (fails if duplicates exist)")] = False,
    name: Annotated[str | None, Field(description="Index name (default: idx_<table>_<columns>)")] = None,
) -> IndexCreated:
    """Create an index on columns of a table in your session's copy of the database, to speed up filters and
    sorts on them (check with explain_query), or a UNIQUE index to enforce distinct values."""
    with s.lock:
        info = s.schema().table(table, kinds=("table",))
        cols = [info.column(c).name for c in columns]
        index = check_new_name(name or f"idx_{info.name}_{'_'.join(cols)}"[:63], "index")
        with s.writing() as w:
            exists = w.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND lower(name) = lower(?)",
                                    (index,)).fetchone()
            if exists:
                raise ToolFailure(f"an index named {index!r} already exists; choose another name")
            try:
                w.db[info.name].create_index(cols, index_name=index, unique=unique)
            except sqlite3.IntegrityError as exc:
                raise _constraint_failure(exc, "the column values are not distinct, so a UNIQUE index is impossible") from None
    return IndexCreated(index=index, table=info.name, columns=cols, unique=unique)


class ViewCreated(BaseModel):
    view: str
    columns: list[str]
    row_count: int


@DOMAIN.tool(meaning=no_facts("changes the session's copy of the database; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"name": "big_cities", "sql": "SELECT name, country_code, population FROM cities WHERE population >= 5000000"},
            lambda r, w: r["columns"] == ["name", "country_code", "population"]
            and r["row_count"] == world_value(w, "SELECT count(*) FROM cities WHERE population >= 5000000")),
])
def create_view(
    s: DatabaseState,
    name: Annotated[str, Field(description="New view name")],
    sql: Annotated[str, Field(min_length=1, description="One read-only SELECT statement defining the view")],
) -> ViewCreated:
    """Save a SELECT query as a named view in your session's copy of the database; other tools (find_rows,
    aggregate, run_query, ...) can then use it like a table."""
    body = sql.strip().rstrip(";").strip()
    with s.lock:
        _absent(s.schema(), name, "view")
        with s.writing() as w:
            # The query must compile as a read-only statement on its own before it becomes part of a view.
            probe = s.reader()
            with probe.deadline(s.time_limit):
                try:
                    probe.conn.execute(f"EXPLAIN {body}").close()
                except sqlite3.Error as exc:
                    raise probe.failure(exc) from None
            w.db.create_view(name, body)
        columns = s.schema().table(name).column_names
        count = s.count(name)
    return ViewCreated(view=name, columns=columns, row_count=count)


class ImportedColumn(BaseModel):
    name: str
    type: str


class CsvImported(BaseModel):
    table: str
    created: bool = Field(description="Whether the table was created by this import")
    rows_imported: int
    columns: list[ImportedColumn]
    row_count: int = Field(description="Rows in the table afterwards")


def _parse_csv(text: str, delimiter: str | None) -> tuple[list[str], list[list[str]]]:
    if len(text) > MAX_CSV_CHARS:
        raise ToolFailure(f"CSV text is over {MAX_CSV_CHARS} characters; import it in parts")
    sample = text[:10_000]
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    records = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r and any(v.strip() for v in r)]
    if len(records) < 2:
        raise ToolFailure("the CSV needs a header line and at least one row")
    header = [h.strip() for h in records[0]]
    for h in header:
        check_new_name(h, "column (from the CSV header)")
    if len({h.lower() for h in header}) != len(header):
        raise ToolFailure("the CSV header repeats a column name")
    for i, r in enumerate(records[1:], start=2):
        if len(r) != len(header):
            raise ToolFailure(f"CSV line {i} has {len(r)} fields; the header has {len(header)}")
    return header, records[1:]


@DOMAIN.tool(meaning=no_facts("changes the session's copy of the database; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"table": "visits", "csv_text": "city_id,visited_on,rating\n2988507,2024-05-01,4.5\n2643743,2024-06-12,5\n"},
            lambda r: r["created"] and r["rows_imported"] == 2
            and [(c["name"], c["type"]) for c in r["columns"]] == [("city_id", "INTEGER"), ("visited_on", "TEXT"), ("rating", "REAL")]),
    Example({"table": "elements", "csv_text": "number;symbol;name;mass\n119;Uue;Ununennium;315\n", "mode": "append"},
            lambda r, w: not r["created"] and r["row_count"] == world_value(w, "SELECT count(*) FROM elements") + 1),
])
def import_csv(
    s: DatabaseState,
    table: Annotated[str, Field(description="Table to import into (new, or existing with mode 'append')")],
    csv_text: Annotated[str, Field(min_length=1, description="CSV text with a header line naming the columns")],
    mode: Annotated[Literal["create", "append", "replace"], Field(description="create = a new table (column types detected from the values); append = add rows to an existing table; replace = drop an existing table of that name and create it anew")] = "create",
    delimiter: Annotated[str | None, Field(min_length=1, max_length=1, description="Field separator (default: detected among , ; tab |)")] = None,
) -> CsvImported:
    """Import CSV text into your session's copy of the database: into a new table whose column types
    (INTEGER, REAL, TEXT) are detected from the values, or appended to an existing table. Empty fields
    become NULL."""
    header, records = _parse_csv(csv_text, delimiter)
    raw_rows = [{h: (v if v.strip() != "" else None) for h, v in zip(header, r)} for r in records]
    with s.lock:
        schema = s.schema()
        existing = next((t for t in schema.tables.values() if t.name.lower() == table.lower()), None)
        if mode == "append":
            info = schema.table(table, kinds=("table",))
            rows = [{info.column(k).name: v for k, v in row.items()} for row in raw_rows]
            types = {c: info.column(c).type or "ANY" for c in rows[0]}
        else:
            if existing is not None and mode == "create":
                raise ToolFailure(f"a table named {existing.name!r} already exists; use mode 'append' or 'replace'")
            if existing is not None and existing.kind != "table":
                raise ToolFailure(f"{existing.name!r} is a {existing.kind}, not a table")
            check_new_name(table, "table")
            tracker = TypeTracker()
            rows = list(tracker.wrap(raw_rows))
            detected = {"integer": "INTEGER", "float": "REAL"}
            types = {h: detected.get(tracker.types.get(h, "text"), "TEXT") for h in header}
            convert = {"INTEGER": int, "REAL": float}
            rows = [{k: (convert[types[k]](v) if v is not None and types[k] in convert else v) for k, v in row.items()}
                    for row in rows]
        with s.writing() as w:
            name = existing.name if existing is not None else table
            if mode == "replace" and existing is not None:
                w.conn.execute(f"DROP TABLE {quote_ident(existing.name)}")
            if mode != "append":
                w.db[name].create(types)
            try:
                w.db[name].insert_all(rows, alter=False, batch_size=200)
            except sqlite3.IntegrityError as exc:
                raise _constraint_failure(exc, "nothing was imported") from None
            count = w.conn.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()[0]
    return CsvImported(table=name, created=mode != "append", rows_imported=len(rows),
                       columns=[ImportedColumn(name=k, type=v) for k, v in types.items()], row_count=count)


class StatementResult(BaseModel):
    changes: int = Field(description="Rows inserted, updated or deleted by the statement")
    tables_changed: list[str] = Field(description="Tables whose rows the statement changed")
    columns: list[str] = Field(description="Columns of rows it returned (e.g. with RETURNING)")
    rows: list[list[Any]]
    truncated: bool


@DOMAIN.tool(meaning=no_facts("changes the session's copy of the database; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"sql": "UPDATE products SET unit_price = round(unit_price * 1.1, 2) WHERE category = ?", "params": ["Books"]},
            lambda r, w: r["changes"] == world_value(w, "SELECT count(*) FROM products WHERE category = 'Books'")
            and r["tables_changed"] == ["products"]),
    Example({"sql": "DELETE FROM orders WHERE order_date < '2019-02-01' RETURNING id"},
            lambda r, w: r["changes"] == len(r["rows"]) == world_value(
                w, "SELECT count(*) FROM orders WHERE order_date < '2019-02-01'") and r["columns"] == ["id"]),
])
def execute_sql(
    s: DatabaseState,
    sql: Annotated[str, Field(min_length=1, description="One SQL statement: INSERT, UPDATE, DELETE, CREATE, DROP, ALTER ...")],
    params: Params = None,
    limit: Annotated[int, Field(ge=1, le=1000, description="Most returned rows to show (for RETURNING)")] = 100,
    time_limit_s: TimeLimit = None,
) -> StatementResult:
    """Run one data-changing SQL statement on your session's copy of the database (the shared database is
    never changed), e.g. an UPDATE with an expression or an INSERT ... SELECT. The whole statement is one
    transaction. ATTACH, VACUUM INTO, extension loading, writable_schema and transaction control are refused.
    For reading, use run_query."""
    seconds = time_limit_s or s.time_limit
    with s.lock, s.writing(seconds) as w:
        with CallerSQL(w.guarded):
            out = w.guarded.run(sql, _params(params), limit=limit, time_limit=seconds)
        changed = sorted(w.guarded.touched)
    return StatementResult(changes=out.changes, tables_changed=changed, columns=out.columns, rows=as_lists(out.rows),
                           truncated=out.truncated)


class TableChange(BaseModel):
    table: str
    status: Literal["added", "dropped", "changed", "unchanged"]
    base_rows: int | None = Field(description="Rows in the shared database")
    session_rows: int | None = Field(description="Rows in this session's copy")
    inserted: int | None = Field(description="Rows whose key exists only in the session copy")
    deleted: int | None = Field(description="Rows whose key exists only in the shared database")
    updated: int | None = Field(description="Rows whose key exists in both with different values")
    columns_added: list[str]
    columns_removed: list[str]
    changed_keys: list[Any] = Field(description="A few keys of inserted, deleted or updated rows")


class DatabaseDiff(BaseModel):
    modified: bool = Field(description="Whether this session has written at all")
    tables: list[TableChange] = Field(description="Every table that differs (all tables when include_unchanged)")


def _keyed_rows(conn: GuardedConnection, info: TableInfo, columns: list[str], time_limit: float) -> dict[Any, tuple]:
    key = info.primary_key or ["rowid"]
    key_sql = ", ".join("rowid" if k == "rowid" else quote_ident(k) for k in key)
    cols = ", ".join(quote_ident(c) for c in columns) or "NULL"
    out = conn.run(f"SELECT {key_sql}, {cols} FROM {quote_ident(info.name)}", time_limit=time_limit)
    n = len(key)
    return {(r[0] if n == 1 else tuple(r[:n])): tuple(r[n:]) for r in out.rows}


@DOMAIN.tool(meaning=no_facts("reports the session's own changes"), kind="retrieval", examples=[
    Example({}, lambda r: r["modified"] is False and r["tables"] == []),
    Example({"include_unchanged": True}, lambda r, w: r["modified"] is False and {t["table"]: t for t in r["tables"]}["orders"]
            ["session_rows"] == world_value(w, "SELECT count(*) FROM orders")),
])
def session_changes(
    s: DatabaseState,
    include_unchanged: Annotated[bool, Field(description="Also list tables this session has not changed")] = False,
) -> DatabaseDiff:
    """What your session has changed compared with the shared world database: tables added or dropped,
    columns added or removed, and per table how many rows were inserted, deleted or updated (by primary key),
    with a few of the changed keys."""
    with s.lock:
        base = s.base_reader()
        session = s.reader()
        base_schema = Schema.load(base.conn) if s.database.copied else s.schema()
        mine = s.schema()
        names = sorted({n for n, t in base_schema.tables.items() if t.kind == "table"}
                       | {n for n, t in mine.tables.items() if t.kind == "table"})

        def count(conn: GuardedConnection, table: str) -> int:
            return conn.run(f"SELECT count(*) FROM {quote_ident(table)}", time_limit=s.time_limit).rows[0][0]

        changes = []
        for name in names:
            old, new = base_schema.tables.get(name), mine.tables.get(name)
            if old is None or new is None:
                changes.append(TableChange(
                    table=name, status="added" if old is None else "dropped",
                    base_rows=count(base, name) if old else None, session_rows=count(session, name) if new else None,
                    inserted=None, deleted=None, updated=None, columns_added=[], columns_removed=[], changed_keys=[]))
                continue
            added = [c for c in new.column_names if c not in old.column_names]
            removed = [c for c in old.column_names if c not in new.column_names]
            if not s.database.copied or (old.sql == new.sql and name.lower() not in s.written_tables):
                if include_unchanged:
                    n = count(session, name)
                    changes.append(TableChange(table=name, status="unchanged", base_rows=n, session_rows=n, inserted=0,
                                               deleted=0, updated=0, columns_added=[], columns_removed=[], changed_keys=[]))
                continue
            common = [c for c in old.column_names if c in new.column_names]
            before = _keyed_rows(base, old, common, s.time_limit)
            after = _keyed_rows(session, new, common, s.time_limit)
            ins = [k for k in after if k not in before]
            dele = [k for k in before if k not in after]
            upd = [k for k in after if k in before and after[k] != before[k]]
            status = "changed" if ins or dele or upd or added or removed else "unchanged"
            if status == "unchanged" and not include_unchanged:
                continue
            keys = (ins + dele + upd)[:10]
            changes.append(TableChange(
                table=name, status=status, base_rows=len(before), session_rows=len(after), inserted=len(ins),
                deleted=len(dele), updated=len(upd), columns_added=added, columns_removed=removed,
                changed_keys=[list(k) if isinstance(k, tuple) else k for k in keys]))
    return DatabaseDiff(modified=s.database.copied, tables=changes)

