"""The database server through the real protocol: an MCP client over stdio and over streamable HTTP, and
sessions whose writes stay private to them while the shared world database never changes."""

from __future__ import annotations

import hashlib

import anyio
import anyio.lowlevel
import pytest

from dive.env import ClientPool

pytestmark = pytest.mark.anyio


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_stdio_discovery_queries_search_and_session_switch(pool_factory, world):
    before = sha256(world.db_path)
    async with pool_factory(["database"], "stdio") as pool:
        listed = {t.name: t for t in pool.tools()}
        assert len(listed) >= 30
        assert all(t.output_schema for t in listed.values()), "every tool declares its output schema"
        assert {t.kind for t in listed.values()} == {"retrieval", "processing"}
        assert listed["insert_rows"].dive["writes"] is True and listed["run_query"].dive["writes"] is False

        tables = await pool.call("list_tables", {})
        counts = {t["name"]: t["row_count"] for t in tables.result["tables"]}
        assert counts["countries"] > 200 and counts["orders"] > 0

        described = await pool.call("describe_table", {"table": "orders"})
        assert {fk["to_table"] for fk in described.result["foreign_keys"]} == {"customers", "products"}

        query = await pool.call("run_query", {"sql": "SELECT capital FROM countries WHERE code = :code", "params": {"code": "JP"}})
        assert query.result["rows"] == [["Tokyo"]] and query.result["truncated"] is False
        limited = await pool.call("run_query", {"sql": "SELECT id FROM cities", "limit": 5})
        assert limited.result["row_count"] == 5 and limited.result["truncated"] is True

        hits = await pool.call("search_documents", {"query": "France", "column": "title", "limit": 1, "filters": [
            {"column": "entity_id", "op": "starts_with", "value": "country:"}]})
        assert hits.result["hits"][0]["row"]["entity_id"] == "country:FR"

        # A write lands in this session's private copy only; a new session starts from the shared database.
        rec = await pool.call("execute_sql", {"sql": "DELETE FROM orders WHERE id <= ?", "params": [100]})
        assert rec.result["changes"] == 100 and rec.result["tables_changed"] == ["orders"]
        mine = await pool.call("aggregate", {"table": "orders", "aggregates": [{"function": "min", "column": "id"}]})
        assert mine.result["results"][0]["value"] == 101
        info = await pool.call("database_info", {})
        assert info.result["modified"] is True and info.result["source"] == "session copy"

        pool.new_session()
        other = await pool.call("aggregate", {"table": "orders", "aggregates": [{"function": "min", "column": "id"}]})
        assert other.result["results"][0]["value"] == 1
        info = await pool.call("database_info", {})
        assert info.result["modified"] is False
    assert sha256(world.db_path) == before


async def test_http_transport_and_concurrent_sessions(http_server, world):
    """Over HTTP: tools answer, and two clients writing at the same time each see only their own rows."""
    before = sha256(world.db_path)
    config = {"mcpServers": {"database": {"url": http_server("database")}}}
    async with ClientPool(config) as pool:
        element = await pool.call("get_row", {"table": "elements", "key": 79})
        assert not element.is_error and element.result["row"]["symbol"] == "Au"
        plan = await pool.call("explain_query", {"sql": "SELECT * FROM cities WHERE country_code = 'NO'"})
        assert plan.result["indexes_used"] == ["idx_cities_country"]

    seen: dict[str, list] = {}

    async def client(name: str, code: str) -> None:
        async with ClientPool(config) as pool:
            for i in range(3):  # interleave several writes and reads with the other client
                rec = await pool.call("insert_rows", {"table": "continents", "rows": [{"code": f"{code}{i}", "name": name}]})
                assert not rec.is_error, rec.error
                await anyio.lowlevel.checkpoint()
            rec = await pool.call("run_query", {"sql": "SELECT code FROM continents WHERE length(code) = 3 ORDER BY code"})
            seen[name] = [r[0] for r in rec.result["rows"]]
            diff = await pool.call("session_changes", {})
            seen[name + ":diff"] = [(t["table"], t["inserted"]) for t in diff.result["tables"]]

    async with anyio.create_task_group() as tg:
        tg.start_soon(client, "alpha", "QA")
        tg.start_soon(client, "beta", "QB")

    assert seen["alpha"] == ["QA0", "QA1", "QA2"]
    assert seen["beta"] == ["QB0", "QB1", "QB2"]
    assert seen["alpha:diff"] == seen["beta:diff"] == [("continents", 3)]
    async with ClientPool(config) as pool:
        rec = await pool.call("run_query", {"sql": "SELECT count(*) FROM continents WHERE length(code) = 3"})
        assert rec.result["rows"] == [[0]], "a third session sees neither client's rows"
    assert sha256(world.db_path) == before, "the shared world database is byte-for-byte unchanged"


async def test_a_search_of_the_shared_database_is_answered_once_and_a_session_that_writes_sees_its_own(world,
                                                                                                          monkeypatch):
    """search_all_tables over the (immutable) world file is computed once per process for every session that
    has not written; a session that wrote searches its own copy, and the others still see the world."""
    from dive.servers import get_domain
    from dive.servers.database import lookups, state

    computed = []
    real = lookups._search_all_tables
    monkeypatch.setattr(lookups, "_search_all_tables", lambda *a: computed.append(a[1]) or real(*a))
    monkeypatch.setattr(state, "_memo", type(state._memo)(16))
    server = get_domain("database").create_server(world)
    try:
        async with ClientPool(servers={"database": server.mcp}) as pool:
            first, writer = pool.open_session("reader"), pool.open_session("writer")
            seen = (await first.call("search_all_tables", {"text": "Fountain Pen"})).result
            again = (await writer.call("search_all_tables", {"text": "Fountain Pen"})).result
            assert again == seen and computed == ["Fountain Pen"]
            products = next(h for h in seen["hits"] if (h["table"], h["column"]) == ("products", "name"))
            added = await writer.call("insert_rows", {"table": "products", "rows": [
                {"id": "p9901", "name": "Fountain Pen Deluxe", "category": "Office", "unit_price": 30}]})
            assert not added.is_error, added.error
            own = (await writer.call("search_all_tables", {"text": "Fountain Pen"})).result
            mine = next(h for h in own["hits"] if (h["table"], h["column"]) == ("products", "name"))
            assert mine["match_count"] == products["match_count"] + 1 and len(computed) == 2
            still = (await first.call("search_all_tables", {"text": "Fountain Pen"})).result
            assert still == seen and len(computed) == 2
    finally:
        server.close()
