"""Lifetimes: Chromium and the site server start on first use and are gone when the pool or server closes;
each session has its own browser tab; screenshots land in the session's workspace as PNG files."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import anyio
import pytest
from dive.env import ClientPool
from dive.servers import get_domain
from dive.servers.web import browser
from dive.servers.web.browser import RUNTIME

from tests.mcp_processes import free_port, wait_for_port
from tests.servers.web.web_support import (
    chromium_pids,
    ok,
    wait_until_gone,
    web_stdio_pool,
)

pytestmark = pytest.mark.anyio


async def test_no_chromium_left_after_a_stdio_pool_closes(world):
    before = chromium_pids()
    async with web_stdio_pool(world) as pool:
        ok(await pool.call("browser_open", {"url": "/index.html"}))
        started = chromium_pids() - before
        assert started, "browser_open should have started Chromium"
    assert wait_until_gone(started) == set()


async def test_no_chromium_left_after_an_http_server_stops(world):
    before = chromium_pids()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dive", "serve", "web", "--transport", "http", "--port", str(port),
                             "--world", str(world.root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        async with ClientPool({"mcpServers": {"web": {"url": f"http://127.0.0.1:{port}/mcp"}}}) as pool:
            hit = ok(await pool.call("search_site", {"query": "Tokyo", "limit": 1}))
            assert hit["results"][0]["title"].startswith("Tokyo")
            page = ok(await pool.call("browser_open", {"url": hit["results"][0]["path"]}))
            assert "Tokyo" in page["title"]
            started = chromium_pids() - before
            assert started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert wait_until_gone(started) == set()


async def test_inprocess_server_owns_its_browser_site_and_screenshots(world):
    before = chromium_pids()
    server = get_domain("web").create_server(world)
    try:
        async with ClientPool(servers={"web": server.mcp}) as pool:
            info = ok(await pool.call("site_info", {}))
            assert info["base_url"] == "http://atlas.dive.test/index.html"
            shot = ok(await pool.call("browser_screenshot", {"url": "/elements/Fe.html", "name": "iron"}))
            entry = server.sessions.get(f"meta:{pool.trace.session}")
            port = entry.state.site.port  # the loopback port behind http://atlas.dive.test
            png = entry.shared / shot["path"]  # the session's shared folder, where media tools can open it
            data = png.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) == shot["bytes"]

            first = pool.trace.session
            ok(await pool.call("browser_open", {"url": "/elements/Co.html"}))
            pool.new_session()
            ok(await pool.call("browser_open", {"url": "/elements/Ni.html"}))
            other = ok(await pool.call("browser_history", {}))
            assert [u.rsplit("/", 1)[-1] for u in other["visited"]] == ["Ni.html"]
            pool.new_session(first)
            mine = ok(await pool.call("browser_history", {}))
            assert [u.rsplit("/", 1)[-1] for u in mine["visited"]] == ["Fe.html", "Co.html"]
            assert ok(await pool.call("list_screenshots", {}))["count"] == 1
            started = chromium_pids() - before
            assert started
    finally:
        server.close()
    assert wait_until_gone(started) == set()
    assert RUNTIME._loop is None  # the browser thread stopped with its last session
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the site server should be stopped"


async def test_the_browser_waits_for_the_next_session_then_stops_when_unused(world, monkeypatch):
    server = get_domain("web").create_server(world)
    try:
        async with ClientPool(servers={"web": server.mcp}) as pool:
            first = pool.open_session()
            ok(await first.call("browser_open", {"url": "/elements/Fe.html"}))
            launches = RUNTIME.launches
            pool.end_session(first.trace)
            second = pool.open_session()  # the ended session is disposed of with this session's first call
            ok(await second.call("browser_open", {"url": "/elements/Ni.html"}))
            assert len(server.sessions) == 1 and RUNTIME.launches == launches  # the same Chromium served it
            started = chromium_pids()
            assert started
            monkeypatch.setattr(browser, "LINGER_SECONDS", 0.05)
            pool.end_session(second.trace)
            ok(await pool.open_session().call("site_info", {}))  # no browser: the last user is gone
            assert wait_until_gone(started) == set()  # stopped by the linger's end, the server still up
            deadline = time.monotonic() + 10
            while RUNTIME._loop is not None and time.monotonic() < deadline:
                await anyio.sleep(0.05)
            assert RUNTIME._loop is None
    finally:
        server.close()
