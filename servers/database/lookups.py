"""Finding rows without writing SQL: by primary key, by filters, by text anywhere, and along foreign keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, Field

from dive.servers.kit import Example, Items, Meaning, Record, Takes, ToolFailure, no_facts

from .checks import world_rows, world_value
from .filters import Filter, Scalar, as_dicts, cell, column_resolver, select_list, table_where, where_clause
from .schema import ForeignKey, Schema, TableInfo, quote_ident
from .state import DOMAIN, DatabaseState

TableName = Annotated[str, Field(description="Table name, e.g. 'cities' (see list_tables)")]
Filters = Annotated[list[Filter] | None, Field(description="Conditions rows must meet (combined with AND)")]
Key = Annotated[
    Scalar | list[Scalar],
    Field(description="Primary-key value, e.g. 'FR' or 2643743; a list of values in key order for composite keys"),
]
Columns = Annotated[list[str] | None, Field(description="Columns to return (default: all)")]


def key_condition(info: TableInfo, key: Any) -> tuple[list[str], str, list[Any]]:
    """The key columns, the WHERE condition and its parameters that pick one row by primary key."""
    if info.kind != "table":
        raise ToolFailure(f"{info.name!r} is a {info.kind}; rows can be looked up by key only in tables")
    cols = info.primary_key or (["rowid"] if not info.without_rowid else [])
    values = key if isinstance(key, list) else [key]
    if len(values) != len(cols):
        raise ToolFailure(f"{info.name!r} has primary key ({', '.join(cols)}): give {len(cols)} value(s) in that order, "
                          f"got {len(values)}")
    if any(v is None for v in values):
        raise ToolFailure("primary-key values cannot be null")
    cond = " AND ".join(f"{quote_ident(c) if c != 'rowid' else 'rowid'} = ?" for c in cols)
    return cols, cond, [int(v) if isinstance(v, bool) else v for v in values]


def fetch_by_key(s: DatabaseState, info: TableInfo, key: Any, names: Sequence[str] | None = None) -> dict[str, Any] | None:
    _cols, cond, params = key_condition(info, key)
    select, names = select_list(info, names)
    out = s.read(f"SELECT {select} FROM {quote_ident(info.name)} WHERE {cond}", params, limit=1)
    return as_dicts(names, out.rows)[0] if out.rows else None


class RowResult(BaseModel):
    table: str
    key_columns: list[str]
    found: bool
    row: dict[str, Any] | None


@DOMAIN.tool(meaning=Meaning(takes={"key": Takes("@table", "key")}, records=(Record("row", "@table"),)), kind="retrieval", examples=[
    Example({"table": "countries", "key": "FR"}, lambda r: r["found"] and r["row"]["name"] == "France"
            and r["row"]["capital"] == "Paris" and r["key_columns"] == ["code"]),
    Example({"table": "stock_prices", "key": ["MSFT", "2000-01-01"]},
            lambda r, w: r["found"] and r["row"]["price"] == world_value(
                w, "SELECT price FROM stock_prices WHERE symbol = 'MSFT' AND date = '2000-01-01'")),
    Example({"table": "elements", "key": 500}, lambda r: r["found"] is False and r["row"] is None),
])
def get_row(s: DatabaseState, table: TableName, key: Key, columns: Columns = None) -> RowResult:
    """Fetch one row of a table by its primary key (e.g. a country by code, a city by geonameid, a stock
    price by [symbol, date]). `found` is false when no row has that key."""
    with s.lock:
        info = s.schema().table(table)
        cols, _cond, _params = key_condition(info, key)
        row = fetch_by_key(s, info, key, columns)
    return RowResult(table=info.name, key_columns=cols, found=row is not None, row=row)


class RowsResult(BaseModel):
    table: str
    columns: list[str]
    rows: list[dict[str, Any]]
    row_count: int = Field(description="Rows returned here")
    total_matches: int = Field(description="Rows matching the filters in the whole table")
    truncated: bool = Field(description="True when more rows matched than were returned (use offset to page)")


def order_by_sql(resolve, order_by: Sequence[str] | None) -> str:
    """' ORDER BY ...' from names like 'population' or '-population' (descending)."""
    if not order_by:
        return ""
    parts = []
    for item in order_by:
        desc = item.startswith("-")
        parts.append(f"{resolve(item[1:] if desc else item)} {'DESC' if desc else 'ASC'}")
    return " ORDER BY " + ", ".join(parts)


@DOMAIN.tool(meaning=Meaning(items=(Items("rows", type="@table", filters="filters", total="total_matches"),)), kind="retrieval", examples=[
    Example({"table": "cities", "filters": [{"column": "country_code", "op": "=", "value": "JP"}],
             "order_by": ["-population"], "columns": ["name", "population"], "limit": 3},
            lambda r, w: [x["name"] for x in r["rows"]] == [n for (n,) in world_rows(
                w, "SELECT name FROM cities WHERE country_code = 'JP' ORDER BY population DESC LIMIT 3")]
            and r["total_matches"] == world_value(w, "SELECT count(*) FROM cities WHERE country_code = 'JP'")),
    Example({"table": "products", "filters": [{"column": "name", "op": "contains", "value": "atlas"},
                                              {"column": "unit_price", "op": "<", "value": 10}]},
            lambda r, w: r["total_matches"] == world_value(
                w, "SELECT count(*) FROM products WHERE name LIKE '%atlas%' AND unit_price < 10")
            and all("atlas" in x["name"].lower() for x in r["rows"])),
])
def find_rows(
    s: DatabaseState,
    table: TableName,
    filters: Filters = None,
    columns: Columns = None,
    order_by: Annotated[list[str] | None, Field(description="Columns to sort by; prefix '-' for descending, e.g. ['-population', 'name']")] = None,
    limit: Annotated[int, Field(ge=1, le=500, description="Most rows to return")] = 50,
    offset: Annotated[int, Field(ge=0, description="Rows to skip (for paging)")] = 0,
) -> RowsResult:
    """Find rows of a table matching column conditions (equality, comparisons, LIKE patterns, substring,
    IN lists, ranges, NULL checks), sorted and paged. Also reports how many rows match in total."""
    with s.lock:
        info = s.schema().table(table)
        select, names = select_list(info, columns)
        where, params = table_where(info, filters)
        order = order_by_sql(column_resolver(info), order_by) or (f" ORDER BY {_default_order(info)}" if info.kind == "table" else "")
        out = s.read(f"SELECT {select} FROM {quote_ident(info.name)}{where}{order} LIMIT ? OFFSET ?",
                     [*params, limit, offset], limit=limit)
        total = int(s.scalar(f"SELECT count(*) FROM {quote_ident(info.name)}{where}", params))
    return RowsResult(table=info.name, columns=names, rows=as_dicts(names, out.rows), row_count=len(out.rows),
                      total_matches=total, truncated=offset + len(out.rows) < total)


def _default_order(info: TableInfo) -> str:
    if info.primary_key:
        return ", ".join(quote_ident(c) for c in info.primary_key)
    return "rowid" if not info.without_rowid else ", ".join(quote_ident(c) for c in info.column_names)


class DistinctValues(BaseModel):
    table: str
    column: str
    values: list[Any] = Field(description="Distinct non-null values, sorted ascending")
    distinct_count: int = Field(description="Distinct non-null values in total (matching the filters)")
    null_count: int = Field(description="Matching rows where the column is NULL")
    truncated: bool


@DOMAIN.tool(meaning=no_facts("lists the values a column holds; which values exist is a question about the schema, not the world"), kind="retrieval", examples=[
    Example({"table": "products", "column": "category"}, lambda r, w: r["values"] == [v for (v,) in world_rows(
        w, "SELECT DISTINCT category FROM products ORDER BY category")] and r["null_count"] == 0),
    Example({"table": "countries", "column": "currency_code", "filters": [{"column": "continent", "value": "EU"}],
             "contains": "E"}, lambda r: "EUR" in r["values"] and all("e" in v.lower() for v in r["values"])),
])
def distinct_values(
    s: DatabaseState,
    table: TableName,
    column: Annotated[str, Field(description="Column whose distinct values to list")],
    filters: Filters = None,
    contains: Annotated[str | None, Field(description="Keep only values containing this text (case-insensitive)")] = None,
    limit: Annotated[int, Field(ge=1, le=1000, description="Most values to return")] = 200,
    offset: Annotated[int, Field(ge=0, description="Values to skip (for paging)")] = 0,
) -> DistinctValues:
    """List the distinct values a column takes (sorted), e.g. every product category or every sector, with
    how many there are. Narrow with filters or a substring."""
    with s.lock:
        info = s.schema().table(table)
        col = quote_ident(info.column(column).name)
        extra = list(filters or [])
        if contains:
            extra.append(Filter(column=info.column(column).name, op="contains", value=contains))
        where, params = table_where(info, extra)
        nonnull = f"{where} AND {col} IS NOT NULL" if where else f" WHERE {col} IS NOT NULL"
        source = quote_ident(info.name)
        out = s.read(f"SELECT DISTINCT {col} FROM {source}{nonnull} ORDER BY 1 LIMIT ? OFFSET ?",
                     [*params, limit, offset], limit=limit)
        total = int(s.scalar(f"SELECT count(DISTINCT {col}) FROM {source}{nonnull}", params))
        nulls = 0 if contains else int(s.scalar(
            f"SELECT count(*) FROM {source}{where + ' AND ' if where else ' WHERE '}{col} IS NULL", params))
    return DistinctValues(table=info.name, column=info.column(column).name, values=[cell(r[0]) for r in out.rows],
                          distinct_count=total, null_count=nulls, truncated=offset + len(out.rows) < total)


class ValueCount(BaseModel):
    value: Any
    count: int
    share: float = Field(description="Fraction of the counted rows (0-1)")


class ValueCounts(BaseModel):
    table: str
    column: str
    values: list[ValueCount] = Field(description="Most frequent first (ties by value)")
    distinct_count: int
    total_rows: int = Field(description="Rows counted (matching the filters), NULLs included")
    other_count: int = Field(description="Rows whose value is not among those listed")


@DOMAIN.tool(meaning=no_facts("tallies a column over a whole table, not a fact about one entity"), kind="processing", examples=[
    Example({"table": "companies", "column": "sector", "limit": 3}, lambda r, w: [(v["value"], v["count"]) for v in r["values"]]
            == [tuple(x) for x in world_rows(w, "SELECT sector, count(*) FROM companies GROUP BY sector "
                                                 "ORDER BY count(*) DESC, sector LIMIT 3")]
            and r["total_rows"] == world_value(w, "SELECT count(*) FROM companies")),
    Example({"table": "weather", "column": "weather", "filters": [{"column": "date", "op": "starts_with", "value": "2015"}]},
            lambda r, w: sum(v["count"] for v in r["values"]) + r["other_count"] == 365
            and r["values"][0]["count"] == world_value(
                w, "SELECT count(*) FROM weather WHERE date LIKE '2015%' GROUP BY weather ORDER BY 1 DESC LIMIT 1")),
])
def value_counts(
    s: DatabaseState,
    table: TableName,
    column: Annotated[str, Field(description="Column whose values to count")],
    filters: Filters = None,
    limit: Annotated[int, Field(ge=1, le=500, description="How many of the most frequent values to list")] = 20,
) -> ValueCounts:
    """Count how often each value of a column occurs (a frequency table), most frequent first, with each
    value's share of the rows; NULL is counted as a value."""
    with s.lock:
        info = s.schema().table(table)
        col = quote_ident(info.column(column).name)
        where, params = table_where(info, filters)
        source = quote_ident(info.name)
        out = s.read(f"SELECT {col}, count(*) AS n FROM {source}{where} GROUP BY {col} ORDER BY n DESC, {col} LIMIT ?",
                     [*params, limit], limit=limit)
        total = int(s.scalar(f"SELECT count(*) FROM {source}{where}", params))
        distinct = int(s.scalar(f"SELECT count(*) FROM (SELECT 1 FROM {source}{where} GROUP BY {col})", params))
    values = [ValueCount(value=cell(v), count=n, share=n / total if total else 0.0) for v, n in out.rows]
    return ValueCounts(table=info.name, column=info.column(column).name, values=values, distinct_count=distinct,
                       total_rows=total, other_count=total - sum(v.count for v in values))


class TextHit(BaseModel):
    table: str
    column: str
    match_count: int
    examples: list[dict[str, Any]] = Field(description="A few matching rows: their primary key and the matching value")


class TextSearchResult(BaseModel):
    text: str
    hits: list[TextHit] = Field(description="One entry per table column containing the text, most matches first")
    columns_searched: int


def _is_text(col_type: str) -> bool:
    t = col_type.upper()
    return t == "" or "CHAR" in t or "TEXT" in t or "CLOB" in t


@DOMAIN.tool(meaning=no_facts("says where a text occurs; the rows it shows are examples, cut to a few per column"), kind="retrieval", examples=[
    Example({"text": "Reykjav"}, lambda r: any(h["table"] == "cities" and h["column"] == "name" for h in r["hits"])
            and any(h["table"] == "countries" and h["column"] == "capital" for h in r["hits"])),
    Example({"text": "Fountain Pen", "tables": ["products"]}, lambda r, w: r["hits"][0]["match_count"] == world_value(
        w, "SELECT count(*) FROM products WHERE name LIKE '%fountain pen%'") and r["columns_searched"] == 3),
])
def search_all_tables(
    s: DatabaseState,
    text: Annotated[str, Field(min_length=2, description="Text to look for (case-insensitive substring)")],
    tables: Annotated[list[str] | None, Field(description="Only these tables (default: every table)")] = None,
    examples_per_column: Annotated[int, Field(ge=1, le=20, description="Matching rows to show per column")] = 3,
) -> TextSearchResult:
    """Find where a piece of text occurs anywhere in the database: every text column of every table is
    searched for the substring, reporting how many rows match per column and a few of them with their keys.
    Use it when you know a value (a name, a code) but not which table or column holds it."""
    found = s.remembered(("search_all_tables", text, tuple(tables or ()), examples_per_column),
                         lambda: _search_all_tables(s, text, tables, examples_per_column))
    return found.model_copy(deep=True)


def _search_all_tables(s: DatabaseState, text: str, tables: list[str] | None, examples_per_column: int) -> TextSearchResult:
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    hits: list[TextHit] = []
    searched = 0
    with s.lock:
        schema = s.schema()
        chosen = [schema.table(t, kinds=("table",)) for t in tables] if tables else [
            t for t in schema.tables.values() if t.kind == "table"]
        for info in chosen:
            key = info.primary_key or (["rowid"] if not info.without_rowid else [])
            key_sql = ", ".join("rowid" if k == "rowid" else quote_ident(k) for k in key)
            columns = [col for col in info.columns if _is_text(col.type)]
            searched += len(columns)
            if not columns:
                continue
            # One pass over the table counts the matches of every text column.
            tallies = s.read("SELECT " + ", ".join(f"count(*) FILTER (WHERE {quote_ident(col.name)} LIKE ?1 ESCAPE '\\')"
                                                   for col in columns) + f" FROM {quote_ident(info.name)}",
                             [pattern], limit=1).rows[0]
            for col, n in zip(columns, tallies):
                if not n:
                    continue
                c = quote_ident(col.name)
                cond = f" WHERE {c} LIKE ? ESCAPE '\\'"
                out = s.read(f"SELECT {key_sql + ', ' if key else ''}{c} FROM {quote_ident(info.name)}{cond} "
                             f"ORDER BY {key_sql or c} LIMIT ?", [pattern, examples_per_column])
                examples = [dict(zip([*key, col.name], [cell(v) for v in row])) for row in out.rows]
                hits.append(TextHit(table=info.name, column=col.name, match_count=n, examples=examples))
    hits.sort(key=lambda h: (-h.match_count, h.table, h.column))
    return TextSearchResult(text=text, hits=hits, columns_searched=searched)


class ParentRow(BaseModel):
    via: str = Field(description="The foreign key followed, e.g. 'cities(country_code) -> countries(code)'")
    table: str
    row: dict[str, Any] | None


class ChildRows(BaseModel):
    via: str
    table: str
    count: int = Field(description="All rows of this table that reference the row")
    rows: list[dict[str, Any]] = Field(description="The first of them in primary-key order")


class RelatedRows(BaseModel):
    table: str
    row: dict[str, Any]
    parents: list[ParentRow] = Field(description="Rows this row references through its foreign keys")
    children: list[ChildRows] = Field(description="Rows of other tables that reference this row")


@DOMAIN.tool(meaning=Meaning(takes={"key": Takes("@table", "key")}, records=(Record("row", "@table"), Record("parents[].row", "^table")), items=(Items("children[].rows", type="^table", via="^via", total="^count"),)), kind="retrieval", examples=[
    Example({"table": "customers", "key": "cu00001", "child_limit": 2}, lambda r, w: r["parents"][0]["table"] == "cities"
            and r["parents"][0]["row"]["id"] == r["row"]["city_id"]
            and r["children"][0]["table"] == "orders" and r["children"][0]["count"] == world_value(
                w, "SELECT count(*) FROM orders WHERE customer_id = 'cu00001'") and len(r["children"][0]["rows"]) <= 2),
    Example({"table": "countries", "key": "IS", "only_table": "cities"}, lambda r, w: [c["table"] for c in r["children"]]
            == ["cities"] and r["children"][0]["count"] == world_value(
                w, "SELECT count(*) FROM cities WHERE country_code = 'IS'") and r["parents"][0]["row"]["name"] == "Europe"),
])
def related_rows(
    s: DatabaseState,
    table: TableName,
    key: Key,
    only_table: Annotated[str | None, Field(description="Only children from this table (default: every referencing table)")] = None,
    child_limit: Annotated[int, Field(ge=0, le=100, description="Child rows to show per referencing table")] = 10,
) -> RelatedRows:
    """Follow foreign keys from one row (picked by primary key): the parent rows it references (e.g. a
    city's country) and the child rows that reference it (e.g. a customer's orders), with counts."""
    with s.lock:
        schema = s.schema()
        info = schema.table(table, kinds=("table",))
        row = fetch_by_key(s, info, key)
        if row is None:
            raise ToolFailure(f"no row in {info.name!r} has primary key {key!r}")
        parents = []
        for fk in info.foreign_keys:
            parent = schema.table(fk.ref_table, kinds=("table",))
            values = [row[c] for c in fk.columns]
            found = None
            if None not in values:
                cond = " AND ".join(f"{quote_ident(c)} = ?" for c in fk.ref_columns)
                select, names = select_list(parent, None)
                out = s.read(f"SELECT {select} FROM {quote_ident(parent.name)} WHERE {cond}", values, limit=1)
                found = as_dicts(names, out.rows)[0] if out.rows else None
            parents.append(ParentRow(via=fk.describe(), table=parent.name, row=found))
        children = []
        only = schema.table(only_table, kinds=("table",)).name if only_table else None
        for fk in schema.references_to(info.name):
            if only and fk.table != only:
                continue
            child = schema.table(fk.table)
            values = [row[c] for c in fk.ref_columns]
            cond = " AND ".join(f"{quote_ident(c)} = ?" for c in fk.columns)
            count = int(s.scalar(f"SELECT count(*) FROM {quote_ident(child.name)} WHERE {cond}", values))
            select, names = select_list(child, None)
            out = s.read(f"SELECT {select} FROM {quote_ident(child.name)} WHERE {cond} ORDER BY {_default_order(child)} LIMIT ?",
                         [*values, child_limit], limit=max(child_limit, 1))
            children.append(ChildRows(via=fk.describe(), table=child.name, count=count, rows=as_dicts(names, out.rows)))
    return RelatedRows(table=info.name, row=row, parents=parents, children=children)


class JoinResult(BaseModel):
    tables: list[str]
    joins: list[str] = Field(description="The join conditions used, one per added table")
    columns: list[str] = Field(description="Result columns as 'table.column'")
    rows: list[dict[str, Any]]
    row_count: int
    total_matches: int
    truncated: bool


def _plan_joins(schema: Schema, tables: list[TableInfo]) -> list[ForeignKey]:
    joined = [tables[0]]
    fks = []
    for nxt in tables[1:]:
        candidates = [fk for fk in schema.foreign_keys for prev in joined
                      if {fk.table, fk.ref_table} == {prev.name, nxt.name} and fk.table != fk.ref_table]
        if not candidates:
            raise ToolFailure(
                f"no foreign key links {nxt.name!r} to {', '.join(t.name for t in joined)}; list the tables in an "
                "order where each one references (or is referenced by) an earlier one, adding the tables in between "
                "(foreign_key_graph with from_table/to_table finds them)")
        if len({(fk.table, fk.columns, fk.ref_table) for fk in candidates}) > 1:
            raise ToolFailure(f"{nxt.name!r} links to the earlier tables in several ways "
                              f"({'; '.join(fk.describe() for fk in candidates)}); use run_query with an explicit JOIN")
        fks.append(candidates[0])
        joined.append(nxt)
    return fks


@DOMAIN.tool(meaning=no_facts("joins arbitrary columns; its rows are answered as records by get_row and related_rows"), kind="retrieval", examples=[
    Example({"tables": ["orders", "products"], "columns": ["orders.id", "products.name", "orders.amount"],
             "filters": [{"column": "orders.id", "op": "<=", "value": 3}], "order_by": ["orders.id"]},
            lambda r, w: [x["products.name"] for x in r["rows"]] == [n for (n,) in world_rows(
                w, "SELECT p.name FROM orders o JOIN products p ON p.id = o.product_id WHERE o.id <= 3 ORDER BY o.id")]),
    Example({"tables": ["companies", "cities", "countries"], "columns": ["companies.name", "cities.name", "countries.name"],
             "filters": [{"column": "companies.ticker", "value": "MSFT"}]},
            lambda r: r["rows"] == [{"companies.name": "Microsoft", "cities.name": "Redmond",
                                     "countries.name": "United States"}]),
])
def join_rows(
    s: DatabaseState,
    tables: Annotated[list[str], Field(min_length=2, max_length=5, description="Tables to join, each linked by a foreign key to one listed before it, e.g. ['orders', 'customers', 'cities']")],
    columns: Annotated[list[str] | None, Field(description="Columns as 'table.column' (default: all columns of all tables)")] = None,
    filters: Annotated[list[Filter] | None, Field(description="Conditions on 'table.column' names (combined with AND)")] = None,
    order_by: Annotated[list[str] | None, Field(description="'table.column' names to sort by; prefix '-' for descending")] = None,
    limit: Annotated[int, Field(ge=1, le=500, description="Most rows to return")] = 50,
) -> JoinResult:
    """Join tables along their foreign keys without writing SQL (e.g. orders with their products and
    customers), with filters and sorting on any joined column. The join conditions come from the schema."""
    with s.lock:
        schema = s.schema()
        infos = [schema.table(t, kinds=("table",)) for t in tables]
        if len({t.name for t in infos}) != len(infos):
            raise ToolFailure("each table may appear once in a join")
        by_name = {t.name.lower(): t for t in infos}

        def resolve_pair(qualified: str) -> tuple[TableInfo, str]:
            if "." not in qualified:
                raise ToolFailure(f"name columns as 'table.column' in joins, got {qualified!r}")
            t, c = qualified.split(".", 1)
            info = by_name.get(t.lower())
            if info is None:
                raise ToolFailure(f"table {t!r} is not one of the joined tables ({', '.join(x.name for x in infos)})")
            return info, info.column(c).name

        def resolve(qualified: str) -> str:
            info, col = resolve_pair(qualified)
            return f"{quote_ident(info.name)}.{quote_ident(col)}"

        fks = _plan_joins(schema, infos)
        from_sql = f"FROM {quote_ident(infos[0].name)}"
        joins = []
        for info, fk in zip(infos[1:], fks):
            on = " AND ".join(f"{quote_ident(fk.table)}.{quote_ident(c)} = {quote_ident(fk.ref_table)}.{quote_ident(r)}"
                              for c, r in zip(fk.columns, fk.ref_columns))
            joins.append(on)
            from_sql += f" JOIN {quote_ident(info.name)} ON {on}"
        pairs = [resolve_pair(c) for c in columns] if columns else [(t, c) for t in infos for c in t.column_names]
        labels = [f"{t.name}.{c}" for t, c in pairs]
        select = ", ".join(f"{quote_ident(t.name)}.{quote_ident(c)}" for t, c in pairs)
        where, params = where_clause(filters, resolve)
        order = order_by_sql(resolve, order_by)
        out = s.read(f"SELECT {select} {from_sql}{where}{order} LIMIT ?", [*params, limit], limit=limit)
        total = int(s.scalar(f"SELECT count(*) {from_sql}{where}", params))
    return JoinResult(tables=[t.name for t in infos], joins=joins, columns=labels, rows=as_dicts(labels, out.rows),
                      row_count=len(out.rows), total_matches=total, truncated=len(out.rows) < total)
