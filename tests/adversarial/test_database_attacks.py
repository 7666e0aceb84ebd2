"""Database escapes and slow queries, a few hundred of them: every write through the read-only tools in several
spellings, every way out of the session's copy through the write tools (attached files, extensions, file
functions, schema surgery, triggers and views that would run them later), SQL smuggled into the structured tools'
names and values, and queries built to run for ever or to build huge values. Each is refused or stopped with a
sentence saying why; the shared database is byte for byte unchanged and no file appears on the host.

The single cases with their exact messages are in tests/servers/database/test_database_guards.py (the memory a
refused answer may cost is measured there too)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.anyio

ESCAPEE = f"/tmp/dive-attack-{uuid.uuid4().hex}"

WRITES = [
    "INSERT INTO countries (code, iso3, name, continent) VALUES ('QQ', 'QQQ', 'Q', 'EU')",
    "INSERT INTO continents SELECT * FROM continents", "REPLACE INTO continents (code, name) VALUES ('EU', 'x')",
    "UPDATE cities SET population = 0", "UPDATE countries SET name = name || 'x' WHERE code = 'FR'",
    "DELETE FROM orders", "DELETE FROM cities WHERE 1", "DROP TABLE countries", "DROP TABLE IF EXISTS cities",
    "CREATE TABLE scratch (a INTEGER)", "CREATE TEMP TABLE scratch (a)",
    "CREATE TABLE copy AS SELECT * FROM cities", "CREATE VIEW v AS SELECT 1", "CREATE INDEX i ON cities(name)",
    "CREATE TRIGGER t AFTER INSERT ON orders BEGIN DELETE FROM orders; END",
    "CREATE VIRTUAL TABLE f USING fts5(x)", "ALTER TABLE countries ADD COLUMN z TEXT",
    "ALTER TABLE countries RENAME TO nations", "PRAGMA writable_schema = ON", "PRAGMA journal_mode = WAL",
    "PRAGMA query_only = 0", "PRAGMA user_version = 7", "PRAGMA schema_version = 1", "PRAGMA trusted_schema = 1",
    "PRAGMA mmap_size = 1000000000", "PRAGMA temp_store_directory = '/tmp'", "PRAGMA secure_delete = ON",
    "PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA locking_mode = EXCLUSIVE", "PRAGMA foreign_keys = OFF",
    f"ATTACH DATABASE '{ESCAPEE}.sqlite' AS other", "ATTACH ':memory:' AS m", "DETACH DATABASE main",
    f"VACUUM INTO '{ESCAPEE}.sqlite'", "VACUUM", "REINDEX", "ANALYZE", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK",
    "SAVEPOINT s", "RELEASE s", f"SELECT load_extension('{ESCAPEE}.so')", f"SELECT writefile('{ESCAPEE}', 'x')",
    "SELECT readfile('/etc/passwd')", "SELECT fts3_tokenizer('simple')", "SELECT 1; DELETE FROM orders",
    "WITH x AS (SELECT 1) DELETE FROM orders", "WITH x AS (SELECT 1) UPDATE products SET unit_price = 0",
    f"SELECT * FROM cities WHERE name = load_extension('{ESCAPEE}.so')",
    f"SELECT (SELECT writefile('{ESCAPEE}', name) FROM countries LIMIT 1)",
]


def spellings(sql: str) -> list[str]:
    """The same statement as a careless or crafty caller might write it."""
    return [sql, sql.lower(), f"/* note */ {sql}", "\n\t " + sql.replace(" ", "\n  ") + "\n", f"{sql} -- trailing"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_read_only_tools_refuse_every_write_in_every_spelling(pool_factory, world):
    before = sha256(world.db_path)
    attempts = 0
    async with pool_factory(["database"], "inprocess") as pool:
        for sql in WRITES:
            for text in spellings(sql):
                for tool in ("run_query", "export_query", "explain_query"):
                    rec = await pool.call(tool, {"sql": text})
                    attempts += 1
                    assert rec.is_error, f"{tool} ran {text!r}: {rec.result}"
                    assert any(w in rec.error for w in ("refused", "no such function", "syntax error")), (
                        f"{tool} {text!r}: {rec.error}")
        info = await pool.call("database_info", {})
        assert info.result["modified"] is False, "no refused statement made a private copy"
    assert attempts >= 700
    assert sha256(world.db_path) == before
    assert not list(Path("/tmp").glob(Path(ESCAPEE).name + "*"))


OUT_OF_THE_SESSION = [
    f"ATTACH DATABASE '{ESCAPEE}.sqlite' AS other", f"ATTACH 'file:{ESCAPEE}.sqlite?mode=rwc' AS other",
    f"VACUUM INTO '{ESCAPEE}.sqlite'", f"VACUUM main INTO 'file:{ESCAPEE}.sqlite'",
    f"SELECT load_extension('{ESCAPEE}.so')", f"SELECT load_extension('{ESCAPEE}.so', 'sqlite3_extension_init')",
    f"SELECT writefile('{ESCAPEE}', 'x')", "SELECT readfile('/etc/passwd')", "SELECT edit('x', 'vi')",
    "SELECT fts3_tokenizer('simple', x'00')", "PRAGMA writable_schema = ON", "PRAGMA writable_schema = RESET",
    "PRAGMA journal_mode = OFF", "PRAGMA temp_store_directory = '/tmp'", "PRAGMA mmap_size = 1000000000",
    "PRAGMA trusted_schema = ON", "PRAGMA cell_size_check = OFF", "PRAGMA schema_version = 1",
    "PRAGMA query_only = 0", "PRAGMA synchronous = OFF", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT s", "END",
    f"INSERT INTO products (id, name) SELECT 'p1', load_extension('{ESCAPEE}.so')",
    f"UPDATE products SET name = writefile('{ESCAPEE}', name)",
    "CREATE TABLE t AS SELECT readfile('/etc/passwd') AS x",
    "UPDATE sqlite_master SET sql = 'x'", "DELETE FROM sqlite_schema", "INSERT INTO sqlite_master VALUES (1,2,3,4,5)",
    "UPDATE products SET unit_price = 0; DROP TABLE orders", "DELETE FROM orders; ATTACH ':memory:' AS m",
]


async def test_write_tools_cannot_leave_the_session(pool_factory, world):
    before = sha256(world.db_path)
    attempts = 0
    async with pool_factory(["database"], "inprocess") as pool:
        for sql in OUT_OF_THE_SESSION:
            for text in spellings(sql):
                rec = await pool.call("execute_sql", {"sql": text})
                attempts += 1
                assert rec.is_error, f"execute_sql ran {text!r}: {rec.result}"
                assert any(w in rec.error for w in ("refused", "not allowed", "no such function", "syntax error")), (
                    f"{text!r}: {rec.error}")
        for sql in OUT_OF_THE_SESSION[:12]:
            view = await pool.call("create_view", {"name": "v" + uuid.uuid4().hex[:6], "sql": sql})
            attempts += 1
            assert view.is_error, f"create_view took {sql!r}"
        # What may be planted in the session's copy never runs what is refused when it fires.
        for sql in (f"CREATE TRIGGER later AFTER INSERT ON products BEGIN SELECT load_extension('{ESCAPEE}.so'); END",
                    f"CREATE TRIGGER later2 AFTER UPDATE ON products BEGIN SELECT writefile('{ESCAPEE}', 'x'); END"):
            await pool.call("execute_sql", {"sql": sql})
        for tool, args in (("insert_rows", {"table": "products", "rows": [{"id": "p-fire", "name": "Fire", "category": "Outdoor", "unit_price": 1}]}),
                           ("update_rows", {"table": "products", "values": {"unit_price": 3}, "all_rows": True}),
                           ("execute_sql", {"sql": "UPDATE products SET unit_price = 3"})):
            fired = await pool.call(tool, args)
            attempts += 1
            assert fired.is_error and ("load_extension" in fired.error or "writefile" in fired.error), fired.error
        for sql in ("DROP TRIGGER later", "DROP TRIGGER later2"):
            assert not (await pool.call("execute_sql", {"sql": sql})).is_error
        added = await pool.call("insert_rows", {"table": "products", "rows": [{"id": "p-after", "name": "After", "category": "Outdoor",
                                                                          "unit_price": 1}]})
        assert not added.is_error, added.error
        changed = await pool.call("execute_sql", {"sql": "UPDATE products SET unit_price = 2 WHERE id = 'p-after'"})
        assert not changed.is_error and changed.result["changes"] == 1, changed.error
        tables = await pool.call("list_tables", {"include_row_counts": False})
        assert {"orders", "products"} <= {t["name"] for t in tables.result["tables"]}
    assert attempts >= 180
    assert sha256(world.db_path) == before
    assert not list(Path("/tmp").glob(Path(ESCAPEE).name + "*"))


# SQL smuggled into the structured tools' table and column names and filter values: either named as unknown or
# taken as a plain value.
INJECTIONS = ["cities; DROP TABLE countries", "cities --", "cities WHERE 1=1", "\"cities\"", "cities\x00",
              "name) FROM cities; DELETE FROM orders; --", "name FROM sqlite_master --", "*", "1; ATTACH ':memory:' AS m",
              "' OR '1'='1", "x' UNION SELECT sql FROM sqlite_master --", "[cities]", "`cities`", "main.cities",
              "temp.sqlite_master", "sqlite_master", "cities\"; DROP TABLE orders; --", "\u0000", "a" * 5000]


async def test_structured_tools_take_names_and_values_as_data(pool_factory, world):
    before = sha256(world.db_path)
    attempts = 0
    async with pool_factory(["database"], "inprocess") as pool:
        for text in INJECTIONS:
            for tool, args in (
                ("describe_table", {"table": text}), ("sample_rows", {"table": text, "n": 2}),
                ("get_row", {"table": "countries", "key": text}), ("find_rows", {"table": text}),
                ("find_rows", {"table": "cities", "columns": [text]}),
                ("find_rows", {"table": "cities", "filters": [{"column": text, "op": "=", "value": 1}]}),
                ("find_rows", {"table": "cities", "filters": [{"column": "name", "op": "=", "value": text}]}),
                ("find_rows", {"table": "cities", "order_by": [text]}),
                ("distinct_values", {"table": "cities", "column": text}),
                ("value_counts", {"table": text, "column": "name"}),
                ("aggregate", {"table": "orders", "aggregates": [{"function": "sum", "column": text}]}),
                ("top_n", {"table": "cities", "by": text, "n": 3}),
                ("search_all_tables", {"text": text}),
                ("delete_rows", {"table": text, "all_rows": True}),
                ("update_rows", {"table": "products", "values": {text: 1}, "all_rows": True}),
                ("create_index", {"table": "cities", "columns": [text]}),
                ("add_column", {"table": "countries", "name": text, "type": "TEXT"}),
            ):
                rec = await pool.call(tool, args)
                attempts += 1
                if rec.is_error:
                    assert "internal error" not in rec.error and "Traceback" not in rec.error, rec.error
        tables = await pool.call("list_tables", {"include_row_counts": True})
        counts = {t["name"]: t["row_count"] for t in tables.result["tables"]}
        assert counts["countries"] > 100 and counts["orders"] > 0, "no injected statement dropped or emptied a table"
    assert attempts >= 300
    assert sha256(world.db_path) == before


SLOW = [
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT max(x) FROM n",
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x FROM n) SELECT sum(x) FROM n",
    "WITH RECURSIVE n(x) AS (VALUES(1) UNION ALL SELECT x + 1 FROM n LIMIT -1) SELECT avg(x) FROM n",
    "WITH RECURSIVE s(t) AS (SELECT 'a' UNION ALL SELECT t || t FROM s) SELECT length(t) FROM s",
    "WITH RECURSIVE s(t) AS (SELECT 'x' UNION ALL SELECT t || 'x' FROM s) SELECT count(*) FROM s",
    "SELECT count(*) FROM cities a, cities b, cities c", "SELECT count(*) FROM cities a, cities b, cities c, cities d",
    "SELECT sum(a.population * b.population) FROM cities a CROSS JOIN cities b CROSS JOIN countries c",
    "SELECT count(*) FROM cities a JOIN cities b ON a.name LIKE '%' || b.name || '%' JOIN cities c",
    "SELECT group_concat(a.name) FROM cities a, cities b, cities c",
    "SELECT max(length(a.name || b.name || c.name)) FROM cities a, cities b, cities c",
    "SELECT count(*) FROM orders a, orders b, orders c", "SELECT count(DISTINCT a.id || b.id) FROM orders a, orders b",
    "SELECT * FROM cities a, cities b, cities c ORDER BY random()",
    "SELECT randomblob(2000000000)", "SELECT zeroblob(2000000000)", "SELECT length(zeroblob(1000000001))",
    "SELECT hex(zeroblob(600000))", "SELECT replace(hex(zeroblob(400000)), '0', '00000')",
    "SELECT printf('%.*c', 2000000000, 'x')", "SELECT printf('%2000000000d', 1)",
    "SELECT substr(replace(hex(zeroblob(100000)), '0', hex(zeroblob(100))), 1, 10)",
    "SELECT group_concat(hex(zeroblob(10000))) FROM cities", "SELECT json_group_array(hex(zeroblob(5000))) FROM cities",
    "SELECT upper(hex(randomblob(999999)))", "SELECT zeroblob(200000) FROM cities",
    "SELECT count(*) FROM cities a, cities b, cities c WHERE a.name || b.name || c.name GLOB '*a*a*a*a*a*a*a*a*b'",
    ("WITH RECURSIVE j(v, n) AS (SELECT json_array(1), 0 UNION ALL SELECT json_array(v, v), n + 1 FROM j)"
     " SELECT max(length(v)) FROM j"),
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000000) SELECT x FROM n ORDER BY -x",
]


async def test_slow_and_huge_queries_are_stopped(pool_factory):
    attempts = 0
    async with pool_factory(["database"], "inprocess") as pool:
        for sql in SLOW:
            for tool in ("run_query", "export_query"):
                rec = await pool.call(tool, {"sql": sql, "time_limit_s": 0.25, "limit": 1000})
                attempts += 1
                assert rec.is_error, f"{tool} finished {sql!r}"
                assert "time limit" in rec.error or "refused" in rec.error, f"{sql!r}: {rec.error}"
        for sql in SLOW[:8]:
            rec = await pool.call("execute_sql", {"sql": f"CREATE TABLE slow_{attempts} AS {sql}", "time_limit_s": 0.25})
            attempts += 1
            assert rec.is_error and ("time limit" in rec.error or "refused" in rec.error), f"{sql!r}: {rec.error}"
        # instr() over a megabyte is searched in linear time (SQLite's own search compares at every offset in one step
        # of its VM, where no deadline reaches): text in text and bytes in bytes are answered, a mix is refused.
        text, needle = "replace(hex(zeroblob(499999)), '0', 'a')", "replace(hex(zeroblob(249999)), '0', 'a') || 'b'"
        found = await pool.call("run_query", {"sql": f"SELECT instr({text}, {needle}), instr({text}, 'ab'), "
                                                     f"instr(zeroblob(900000), x'0001'), instr('xyz', 'z')",
                                              "time_limit_s": 0.25})
        assert found.result["rows"] == [[0, 0, 0, 3]], found.error
        mixed = await pool.call("run_query", {"sql": f"SELECT instr({text}, zeroblob(400000))", "time_limit_s": 0.25})
        assert mixed.is_error and "instr()" in mixed.error and "same type" in mixed.error, mixed.error
        after = await pool.call("run_query", {"sql": "SELECT name FROM elements WHERE symbol = 'O'"})
        assert after.result["rows"] == [["Oxygen"]], "the session keeps answering after every stopped query"
    assert attempts >= 60
