"""The four held-out servers through a real MCP client: geo and finance over stdio, all four in-process.

A user relies on the listing (every tool typed, described and marked held out) and on the answers
matching known facts of the world.
"""

from __future__ import annotations

import sqlite3

import pytest

pytestmark = pytest.mark.anyio

HELD_OUT = ["geo", "chrono", "science", "finance"]


def ok(rec) -> dict:
    assert not rec.is_error, rec.error
    return rec.result


def check_listing(tools, domain: str) -> None:
    assert len(tools) >= 10, f"{domain} lists only {len(tools)} tools"
    for tool in tools:
        meta = tool.meta["dive/tool"]
        assert meta["held_out"] is True, tool.name
        assert meta["domain"] == domain
        assert meta["kind"] in ("retrieval", "processing")
        assert meta["examples"], tool.name
        assert len(tool.description) > 60, f"{tool.name} has no usable description"
        assert tool.input_schema.get("type") == "object"
        assert tool.output_schema and tool.output_schema.get("properties"), f"{tool.name} has no output schema"


async def test_geo_and_finance_over_stdio(pool_factory, world):
    """Two held-out servers as separate processes: listed as held out, answering from the world."""
    con = sqlite3.connect(f"file:{world.db_path}?mode=ro", uri=True)
    first, last = con.execute(
        "SELECT (SELECT price FROM stock_prices WHERE symbol='MSFT' AND date='2005-01-01'),"
        " (SELECT price FROM stock_prices WHERE symbol='MSFT' AND date='2009-12-01')"
    ).fetchone()
    con.close()
    async with pool_factory(["geo", "finance"], "stdio") as pool:
        for domain in ("geo", "finance"):
            check_listing([t for t in pool.tools() if t.server == domain], domain)
        result = ok(await pool.call("distance", {"origin": "London, GB", "destination": "Paris, FR"}))
        assert abs(result["distance_km"] - 344) < 2
        assert abs(result["distance_miles"] - 213.6) < 1.5
        assert result["origin"]["entity_id"] == "city:2643743"
        # The same question, asked by airport codes, is the Heathrow-Charles de Gaulle hop (~348 km).
        airports = ok(await pool.call("distance", {"origin": "LHR", "destination": "CDG"}))
        assert abs(airports["distance_km"] - 348) < 3
        ret = ok(await pool.call("stock_return", {"symbol": "Microsoft", "start": "2005-01-20", "end": "2009-12"}))
        assert ret["start_month"] == "2005-01-01" and ret["start_price"] == first
        assert abs(ret["total_return_pct"] - 100 * (last / first - 1)) < 1e-3


async def test_every_held_out_domain_lists_typed_held_out_tools(pool_factory):
    async with pool_factory(HELD_OUT, "inprocess") as pool:
        tools = pool.tools()
        for domain in HELD_OUT:
            check_listing([t for t in tools if t.server == domain], domain)
        names = [t.name for t in tools]
        assert len(names) >= 45
        assert len(set(names)) == len(names), "tool names collide across the held-out domains"
        kinds = {t.meta["dive/tool"]["kind"] for t in tools}
        assert kinds == {"retrieval", "processing"}
