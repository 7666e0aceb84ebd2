"""What the database server refuses, and how: writes through the read-only SQL tools, ways out of the
session's database even for write tools, runaway queries, and malformed arguments. Every refusal is a tool
error whose text says what was wrong; none changes the shared database.

The read-only refusals go through a stdio server process; the rest use the in-process MCP transport (the
same protocol, without a process start per test)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from dive.servers.database.guard import GuardedConnection
from dive.servers.kit import ToolFailure

pytestmark = pytest.mark.anyio

RUNAWAY = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"

# Statements the read-only tools must refuse, with a piece of the error each must give.
READ_ONLY_ATTEMPTS = [
    ("INSERT INTO countries (code, iso3, name, continent) VALUES ('QQ', 'QQQ', 'Q', 'EU')", "INSERT on 'countries' is a write"),
    ("UPDATE cities SET population = 0", "UPDATE on 'cities' is a write"),
    ("DELETE FROM orders", "DELETE on 'orders' is a write"),
    ("DROP TABLE countries", "changes the schema"),
    ("CREATE TABLE scratch (a INTEGER)", "changes the schema"),
    ("CREATE TEMP TABLE scratch (a INTEGER)", "changes the schema"),
    ("ALTER TABLE countries ADD COLUMN z TEXT", "ALTER TABLE is a write"),
    ("PRAGMA writable_schema = ON", "PRAGMA writable_schema"),
    ("PRAGMA journal_mode = WAL", "PRAGMA journal_mode"),
    ("ATTACH DATABASE '/tmp/dive-attack.sqlite' AS other", "ATTACH"),
    ("VACUUM INTO '/tmp/dive-attack.sqlite'", "VACUUM"),
    ("SELECT load_extension('/tmp/dive-attack.so')", "load_extension"),
    ("SELECT 1; DELETE FROM orders", "more than one statement"),
    ("BEGIN IMMEDIATE", "transaction control"),
    ("REINDEX", "REINDEX is a write"),
    ("VACUUM", "VACUUM"),
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_read_only_tools_refuse_every_write(pool_factory, world):
    before = sha256(world.db_path)
    async with pool_factory(["database"], "stdio") as pool:
        for sql, message in READ_ONLY_ATTEMPTS:
            for tool in ("run_query", "export_query"):
                rec = await pool.call(tool, {"sql": sql})
                assert rec.is_error, f"{tool} ran {sql!r}: {rec.result}"
                assert "refused" in rec.error and message in rec.error, f"{tool} {sql!r}: {rec.error}"
            plan = await pool.call("explain_query", {"sql": sql})
            assert plan.is_error and "refused" in plan.error, f"explain_query {sql!r}: {plan.error}"
        # A query may not smuggle a write past explain_query either: SQLite's authorizer sees the whole plan.
        plan = await pool.call("explain_query", {"sql": "WITH x AS (SELECT 1) SELECT load_extension('/tmp/dive-attack.so')"})
        assert plan.is_error and "load_extension" in plan.error
        info = await pool.call("database_info", {})
        assert info.result["modified"] is False, "no refused statement made a private copy"
        still = await pool.call("run_query", {"sql": "SELECT count(*) FROM orders"})
        assert still.result["rows"][0][0] > 0
    assert sha256(world.db_path) == before
    assert not Path("/tmp/dive-attack.sqlite").exists()


async def test_write_tools_refuse_ways_out_of_the_session(pool_factory, world):
    attempts = [
        ("ATTACH DATABASE '/tmp/dive-attack.sqlite' AS other", "ATTACH"),
        ("VACUUM INTO '/tmp/dive-attack.sqlite'", "VACUUM"),
        ("SELECT load_extension('/tmp/dive-attack.so')", "load_extension"),
        ("PRAGMA writable_schema = ON", "PRAGMA writable_schema"),
        ("COMMIT", "transaction control"),
        ("UPDATE products SET unit_price = 0; DROP TABLE orders", "more than one statement"),
    ]
    async with pool_factory(["database"], "inprocess") as pool:
        for sql, message in attempts:
            rec = await pool.call("execute_sql", {"sql": sql})
            assert rec.is_error and "refused" in rec.error and message in rec.error, f"{sql!r}: {rec.error}"
        view = await pool.call("create_view", {"name": "sneaky", "sql": "DELETE FROM orders"})
        assert view.is_error and "DELETE on 'orders' is a write" in view.error
        # Refused statements left the session's copy whole.
        count = await pool.call("run_query", {"sql": "SELECT count(*) FROM products WHERE unit_price = 0"})
        assert count.result["rows"] == [[0]]
        tables = await pool.call("list_tables", {"include_row_counts": False})
        assert "orders" in {t["name"] for t in tables.result["tables"]}
    assert not Path("/tmp/dive-attack.sqlite").exists()


async def test_runaway_query_is_stopped_by_the_time_limit(pool_factory):
    async with pool_factory(["database"], "inprocess") as pool:
        rec = await pool.call("run_query", {"sql": RUNAWAY, "time_limit_s": 0.5})
        assert rec.is_error and "time limit" in rec.error and "0.5 s" in rec.error
        write = await pool.call("execute_sql", {"sql": f"CREATE TABLE forever AS {RUNAWAY}", "time_limit_s": 0.5})
        assert write.is_error and "time limit" in write.error
        after = await pool.call("run_query", {"sql": "SELECT name FROM elements WHERE symbol = 'O'"})
        assert after.result["rows"] == [["Oxygen"]], "the session keeps working after a stopped query"
        tables = await pool.call("list_tables", {"include_row_counts": False})
        assert "forever" not in {t["name"] for t in tables.result["tables"]}


async def test_malformed_arguments_are_named_in_the_error(pool_factory):
    cases = [
        ("describe_table", {"table": "citys"}, ["unknown table 'citys'", "did you mean 'cities'", "countries"]),
        ("find_rows", {"table": "cities", "filters": [{"column": "populaton", "op": ">", "value": 5}]},
         ["unknown column 'populaton'", "population"]),
        ("aggregate", {"table": "orders", "aggregates": [{"function": "sum", "column": "price"}]}, ["unknown column 'price'"]),
        ("get_row", {"table": "stock_prices", "key": "MSFT"}, ["primary key (symbol, date)", "2 value(s)"]),
        ("run_query", {"sql": "SELECT 1", "limit": "many"}, ["limit"]),
        ("run_query", {}, ["sql"]),
        ("find_rows", {"table": "cities", "limit": 0}, ["limit"]),
        ("find_rows", {"table": "cities", "filters": [{"column": "name", "op": "matches", "value": "x"}]}, ["op"]),
        ("find_rows", {"table": "cities", "filters": [{"column": "name", "op": "in", "value": "Paris"}]}, ["non-empty list"]),
        ("rows_in_date_range", {"table": "orders", "date_column": "order_date", "start": "03/01/2024"}, ["ISO date"]),
        ("run_query", {"sql": "SELECT * FROM nowhere"}, ["no such table: nowhere"]),
        ("run_query", {"sql": "SELECT ?", "params": [1, 2]}, ["placeholders"]),
        ("update_rows", {"table": "products", "values": {"unit_price": 1}}, ["all_rows"]),
        ("insert_rows", {"table": "countries", "rows": [{"code": "FR", "iso3": "FRA", "name": "France", "continent": "EU"}]},
         ["UNIQUE constraint failed: countries.code"]),
        ("create_table", {"name": "bad name", "columns": [{"name": "a"}]}, ["invalid table name 'bad name'"]),
        ("search_documents", {"query": "\"open", "mode": "raw"}, ["FTS5 query"]),
    ]
    async with pool_factory(["database"], "inprocess") as pool:
        for tool, args, pieces in cases:
            rec = await pool.call(tool, args)
            assert rec.is_error, f"{tool} {args} succeeded: {rec.result}"
            for piece in pieces:
                assert piece in rec.error, f"{tool} {args}: {piece!r} not in {rec.error!r}"


def test_read_connection_is_read_only_below_the_authorizer(world):
    """Even with the authorizer removed, the read connection cannot write: mode=ro and query_only hold."""
    guarded = GuardedConnection(world.db_path, writable=False)
    try:
        guarded.conn.set_authorizer(None)
        with pytest.raises(sqlite3.OperationalError, match="readonly|query_only"):
            guarded.conn.execute("DELETE FROM orders")
        assert guarded.conn.execute("PRAGMA query_only").fetchone() == (1,)
        with pytest.raises(sqlite3.OperationalError, match="too many attached"):
            guarded.conn.execute("ATTACH DATABASE ':memory:' AS other")
    finally:
        guarded.close()


def test_guarded_connection_refuses_and_stops(world):
    guarded = GuardedConnection(world.db_path, writable=False)
    try:
        with pytest.raises(ToolFailure, match="INSERT on 'continents' is a write"):
            guarded.run("INSERT INTO continents (code, name) VALUES ('XX', 'X')", time_limit=5)
        with pytest.raises(ToolFailure, match="time limit"):
            guarded.run(RUNAWAY, time_limit=0.2)
        out = guarded.run("SELECT code FROM continents ORDER BY code", limit=2, time_limit=5)
        assert len(out.rows) == 2 and out.truncated is True
    finally:
        guarded.close()


def test_session_close_releases_its_connections(world, tmp_path):
    from dive.servers.database.state import DatabaseState
    from dive.servers.kit import SessionContext

    state = DatabaseState(SessionContext(key="t", world=world, directory=tmp_path, shared_directory=tmp_path / "shared"))
    assert state.read("SELECT count(*) FROM elements").rows[0][0] > 100
    with state.writing() as writer:
        writer.conn.execute("DELETE FROM weather WHERE date < '2013-01-01'")
    assert state.database.copied and state.reader().path == tmp_path / "world.sqlite"
    connections = [state.reader(), state.base_reader()]
    state.close()
    for guarded in connections:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            guarded.conn.execute("SELECT 1")


async def test_large_values_are_refused_where_they_are_fetched(pool_factory):
    """Rows are counted as they are fetched: a query over large values stops before the server holds them all,
    and no single value (or row of many) can be built past the per-value limit."""
    import tracemalloc

    from dive.servers.database.guard import MAX_FETCH_BYTES, MAX_VALUE_BYTES

    async with pool_factory(["database"], "inprocess") as pool:
        tracemalloc.start()
        try:
            many = await pool.call("run_query", {"sql": "SELECT zeroblob(200000) FROM cities", "limit": 1000})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert many.is_error and f"{MAX_FETCH_BYTES:,} bytes" in many.error and "fewer rows" in many.error
        assert peak < 3 * MAX_FETCH_BYTES, f"the server held {peak:,} bytes for a refused answer"
        one = await pool.call("run_query", {"sql": "SELECT zeroblob(31000000) FROM cities", "limit": 1000})
        assert one.is_error and f"over {MAX_VALUE_BYTES:,} bytes" in one.error and "substr" in one.error
        wide = ", ".join(f"zeroblob(900000) AS c{i}" for i in range(500))
        rec = await pool.call("run_query", {"sql": f"SELECT {wide}"})
        assert rec.is_error and "columns" in rec.error
        fine = await pool.call("run_query", {"sql": "SELECT zeroblob(1000) FROM cities", "limit": 1000})
        assert not fine.is_error and fine.result["row_count"] == 1000
