"""Every web tool's self-test examples pass, run through a real MCP client on an in-process server."""

from __future__ import annotations

import pytest
from dive.servers import get_domain
from dive.servers.selftest import run_self_tests

from tests.servers.web.web_support import chromium_pids, wait_until_gone

pytestmark = pytest.mark.anyio


async def test_every_web_tool_passes_its_self_tests(world, monkeypatch):
    web = get_domain("web")
    # run_self_tests does not close the in-process servers it makes; track them so their Chromium goes too.
    created = []
    make = web.create_server

    def tracked(*args, **kwargs):
        created.append(make(*args, **kwargs))
        return created[-1]

    monkeypatch.setattr(web, "create_server", tracked)
    before = chromium_pids()
    try:
        results = await run_self_tests(["web"], world=world.root, transport="inprocess")
    finally:
        started = chromium_pids() - before
        for server in created:
            server.close()
    failed = [f"{r.tool}[{r.example}]: {r.detail}" for r in results if not r.ok]
    assert not failed, "\n".join(failed)
    assert {r.tool for r in results} == set(web.tools) and len(web.tools) >= 30
    assert wait_until_gone(started) == set()
