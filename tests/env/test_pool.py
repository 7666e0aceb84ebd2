"""The client pool against servers it launches, servers it did not start, and servers that die or hang."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from dive.env import ClientPool, ConfigError, MCPConfig, PoolError, SyncClientPool, ToolCallRecord
from tests.mcp_processes import free_port, wait_for_port

pytestmark = pytest.mark.anyio

PLAIN = str(Path(__file__).with_name("plain_server.py"))


def stdio_config(name: str = "plain") -> dict:
    return {"mcpServers": {name: {"command": sys.executable, "args": [PLAIN, "stdio"]}}}


@pytest.fixture
def plain_http():
    """The plain server over streamable HTTP, launched by the test (not by the pool)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, PLAIN, "http", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for_port(port, proc)
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # uvicorn waits for an in-flight slow call; don't
        proc.kill()
        proc.wait()


async def test_calls_are_recorded_as_typed_trace_records():
    async with ClientPool(stdio_config()) as pool:
        record = await pool.call("echo", {"text": "hello"})
        assert isinstance(record, ToolCallRecord)
        assert record.result == {"text": "hello"} and not record.is_error
        assert record.server == "plain" and record.tool == "echo" and record.latency_ms > 0
        listed = {t.name: t for t in pool.tools()}
        assert record.schema_hash == listed["echo"].schema_hash
        assert [c.tool for c in pool.trace.calls] == ["echo"]
        again = ToolCallRecord.model_validate_json(record.model_dump_json())
        assert again == record


async def test_pool_uses_a_server_it_did_not_start(plain_http):
    async with ClientPool({"mcpServers": {"remote": {"url": plain_http}}}) as pool:
        record = await pool.call("echo", {"text": "over http"})
        assert record.result == {"text": "over http"}


async def test_a_config_s_headers_go_with_every_request(tmp_path):
    """A hosted server that wants an API key in a header: the config's `headers` reach it, and without them the
    server is named as refusing, the key never printed."""
    port, token = free_port(), "sk-test-planted-7f3a"
    proc = subprocess.Popen([sys.executable, PLAIN, "http", str(port), token], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        url = f"http://127.0.0.1:{port}/mcp"
        async with ClientPool({"mcpServers": {"hosted": {"url": url, "headers": {
                "Authorization": f"Bearer {token}"}}}}) as pool:
            assert (await pool.call("echo", {"text": "with a key"})).result == {"text": "with a key"}
        with pytest.raises(PoolError) as refused:
            async with ClientPool({"mcpServers": {"hosted": {"url": url, "headers": {
                    "Authorization": "Bearer wrong-key"}}}}):
                pass
        assert "hosted" in str(refused.value) and "wrong-key" not in str(refused.value)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_a_server_that_dies_mid_call_gives_an_error_not_a_hang():
    async with ClientPool(stdio_config(), timeout=60) as pool:
        with anyio.fail_after(30):  # the pool must notice the death itself, well before its own timeout
            record = await pool.call("crash", {})
        assert record.is_error and "plain" in record.error
        later = await pool.call("echo", {"text": "x"})
        assert later.is_error and "not available" in later.error


async def test_a_hanging_tool_hits_the_call_timeout(plain_http):
    async with ClientPool({"mcpServers": {"p": {"url": plain_http}}}, timeout=1.0) as pool:
        record = await pool.call("slow", {"seconds": 20})
        assert record.is_error and "timeout" in record.error
        # The pool stays usable after a timeout.
        assert (await pool.call("echo", {"text": "still here"})).result == {"text": "still here"}


async def test_concurrent_connections_and_name_clashes(plain_http):
    config = {"mcpServers": {"a": {"url": plain_http}, **stdio_config("b")["mcpServers"]}}
    async with ClientPool(config) as pool:
        exposed = pool.exposed_names()
        assert "a__echo" in exposed and "b__echo" in exposed and "echo" not in exposed
        assert (await pool.call("b__echo", {"text": "b"})).server == "b"
        assert (await pool.call("echo", {"text": "a"}, server="a")).server == "a"


async def test_unknown_tool_and_unknown_server_raise_clearly():
    async with ClientPool(stdio_config()) as pool:
        with pytest.raises(PoolError, match="unknown tool"):
            await pool.call("nope", {})
        with pytest.raises(PoolError, match="unknown server"):
            await pool.call("echo", {}, server="nope")


async def test_a_server_that_cannot_start_is_named():
    config = {"mcpServers": {"broken": {"command": sys.executable, "args": ["-c", "import sys; sys.exit(2)"]}}}
    with pytest.raises(PoolError, match="broken"):
        async with ClientPool(config, connect_timeout=20):
            pass


@pytest.mark.parametrize(
    "bad, message",
    [
        ({}, "mcpServers"),
        ({"mcpServers": {}}, "empty"),
        ({"mcpServers": {"x": {}}}, "exactly one"),
        ({"mcpServers": {"x": {"command": "a", "url": "http://h"}}}, "exactly one"),
        ({"mcpServers": {"x": {"url": "ftp://h"}}}, "http"),
        ("{not json", "not valid JSON"),
        ("/no/such/config.json", "not found"),
    ],
)
def test_broken_configs_are_refused_with_a_reason(bad, message):
    with pytest.raises(ConfigError, match=message):
        MCPConfig.load(bad)


def test_config_round_trips_the_standard_shape(tmp_path):
    source = {"mcpServers": {"t": {"command": "uvx", "args": ["mcp-server-time"]}, "h": {"url": "http://127.0.0.1:1/mcp"}}}
    path = tmp_path / "servers.json"
    path.write_text(__import__("json").dumps(source))
    assert MCPConfig.load(path).to_json() == source


def test_sync_pool_for_synchronous_callers():
    with SyncClientPool(stdio_config()) as pool:
        assert pool.call("echo", {"text": "sync"}).result == {"text": "sync"}
        assert len(pool.trace.calls) == 1
        with pytest.raises(PoolError, match="unknown tool"):  # what the pool raises reaches the caller
            pool.call("no_such_tool", {})
    with pytest.raises(RuntimeError, match="closed"):
        pool.call("echo", {"text": "late"})


async def test_a_stopped_server_is_killed_and_restarted_like_a_crashed_one():
    """A server that stops answering altogether (SIGSTOP, a deadlock) is found by the call that times out, killed
    with what it started, and restarted on request; the pool then closes without waiting on it."""
    import os
    import signal

    from dive.env.pool import _processes_of

    async with ClientPool(stdio_config(), timeout=1.0) as pool:
        assert (await pool.call("echo", {"text": "before"})).result == {"text": "before"}
        [pid] = _processes_of(pool._connections["plain"].target)
        os.kill(pid, signal.SIGSTOP)
        try:
            hung = await pool.call("echo", {"text": "into the void"})
            assert hung.is_error and "stopped answering" in hung.error
            assert pool.is_dead("plain")
            later = await pool.call("echo", {"text": "x"})
            assert later.is_error and "not available" in later.error, "no second wait on a hung server"
            await pool.restart("plain")
            assert (await pool.call("echo", {"text": "after"})).result == {"text": "after"}
            assert _processes_of(pool._connections["plain"].target) != [pid]
        finally:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


async def test_a_slow_tool_is_not_taken_for_a_hung_server():
    async with ClientPool(stdio_config(), timeout=1.0) as pool:
        record = await pool.call("slow", {"seconds": 8})
        assert record.is_error and "timeout" in record.error
        assert not pool.is_dead("plain")
        assert (await pool.call("echo", {"text": "still here"})).result == {"text": "still here"}
