"""One error mapping for every tool: whatever a tool raises or returns, the caller gets a result on its schema or
a tool error that says what to change, never an exception on the client, a raw traceback or a host path."""

from __future__ import annotations

import tempfile
from typing import Annotated

import pytest
from dive.env import ClientPool
from dive.servers.kit import Domain, Example, SessionContext
from dive.servers.kit.errors import MAX_ERROR_CHARS
from pydantic import BaseModel, Field

pytestmark = pytest.mark.anyio


class Value(BaseModel):
    value: float
    names: list[str]


class Session:
    def __init__(self, ctx: SessionContext) -> None:
        self.directory = ctx.directory


def hostile_domain() -> Domain:
    domain = Domain("hostile", "Tools that fail in every way a tool can.", Session)
    ok = [Example({}, lambda r: True)]

    @domain.tool(kind="processing", examples=ok)
    def overflowing(s: Session, x: Annotated[float, Field(description="x")] = 1e308) -> Value:
        """Return a product that overflows."""
        return Value(value=x * 10, names=[])

    @domain.tool(kind="retrieval", examples=ok)
    def missing_file(s: Session) -> Value:
        """Open a file of the session's folder that is not there."""
        (s.directory / "work" / "secret.txt").read_text()
        return Value(value=0, names=[])

    @domain.tool(kind="retrieval", examples=ok)
    def undecodable_name(s: Session) -> Value:
        """List a file whose name is not UTF-8."""
        return Value(value=1, names=["ok", b"bad-\xff".decode("utf-8", "surrogateescape")])

    @domain.tool(kind="processing", examples=ok)
    def huge_int(s: Session) -> Value:
        """Bind an integer SQLite cannot hold."""
        import sqlite3

        sqlite3.connect(":memory:").execute("SELECT ?", (2**64,))
        return Value(value=0, names=[])

    @domain.tool(kind="processing", examples=ok)
    def long_message(s: Session) -> Value:
        """Fail with a very long message naming a host path."""
        raise ValueError(f"bad input {'x' * 100_000} at {tempfile.gettempdir()}/dive-sessions-abc/1/ws/file.txt")

    @domain.tool(kind="processing", examples=ok)
    def deep(s: Session) -> Value:
        """Recurse forever."""
        def down(n: int) -> int:
            return down(n + 1)
        down(0)
        return Value(value=0, names=[])

    return domain


async def test_every_failure_is_a_tool_error_without_host_paths(world):
    server = hostile_domain().create_server(world)
    try:
        async with ClientPool(servers={"hostile": server.mcp}) as pool:
            over = await pool.call("overflowing", {})
            assert over.is_error and "not finite" in over.error and "smaller magnitude" in over.error
            missing = await pool.call("missing_file", {})
            assert missing.is_error and "no such file" in missing.error and "secret.txt" in missing.error
            odd = await pool.call("undecodable_name", {})
            assert not odd.is_error and odd.result["names"] == ["ok", "bad-\\udcff"]
            big = await pool.call("huge_int", {})
            assert big.is_error and "out of range" in big.error and "smaller value" in big.error
            long = await pool.call("long_message", {})
            assert long.is_error and len(long.error) < MAX_ERROR_CHARS + 200
            deep = await pool.call("deep", {})
            assert deep.is_error and "nested too deeply" in deep.error
            for rec in (over, missing, big, long, deep):
                assert tempfile.gettempdir() + "/" not in rec.error, rec.error
                assert str(world.root) not in rec.error and "internal error" not in rec.error, rec.error
    finally:
        server.close()


async def test_domain_results_stay_on_their_schema(pool_factory):
    async with pool_factory(["finance", "files"], "inprocess") as pool:
        rec = await pool.call("percentage_change", {"old_value": -1.5, "new_value": -1e308})
        assert rec.is_error and "not finite" in rec.error
        long = await pool.call("list_directory", {"path": "a" * 5000})
        assert long.is_error and "too long" in long.error and tempfile.gettempdir() + "/" not in long.error
        surrogate = await pool.call("read_file", {"path": "\ud800.txt"})
        assert surrogate.is_error and "Unicode" in surrogate.error


async def test_junk_from_a_caller_gets_an_answer_that_says_what_to_change(pool_factory):
    """Found by bench/fuzz.py: a unit pint cannot parse, and selectors the browser cannot parse."""
    async with pool_factory(["science", "web"], "inprocess") as pool:
        unit = await pool.call("ideal_gas_law", {"pressure": "1 atm", "amount": "1 mol", "temperature": "0 degC",
                                                 "result_unit": ".."})
        assert unit.is_error and "cannot read the unit '..'" in unit.error and "AssertionError" not in unit.error
        for tool, args in (("browser_read_text", {"url": "/countries/FR.html", "selector": "[1, 2]"}),
                           ("browser_wait_for", {"url": "/countries/FR.html", "selector": "C:\\Windows\\x.ini"})):
            rec = await pool.call(tool, args)
            assert rec.is_error and "not a valid CSS selector" in rec.error, rec.error
            assert "<anonymous>" not in rec.error and "did not become" not in rec.error
