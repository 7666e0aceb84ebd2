"""Every self-test example of every held-out tool passes over MCP (the Crawl-Validate step)."""

from __future__ import annotations

import pytest
from dive.servers import get_domain
from dive.servers.selftest import run_self_tests

pytestmark = pytest.mark.anyio

HELD_OUT = ["geo", "chrono", "science", "finance"]


def test_the_held_out_domains_are_registered_as_held_out():
    total = 0
    for name in HELD_OUT:
        domain = get_domain(name)
        assert domain.held_out
        assert len(domain.tools) >= 12, name
        total += len(domain.tools)
        for spec in domain.tools.values():
            assert spec.examples, spec.name
    assert total >= 45


async def test_every_self_test_passes(world):
    results = await run_self_tests(HELD_OUT, world=world.root, transport="inprocess")
    failed = [f"{r.domain}.{r.tool}[{r.example}]: {r.detail}" for r in results if not r.ok]
    assert not failed, "\n".join(failed)
    covered = {(r.domain, r.tool) for r in results}
    assert covered == {(d, t) for d in HELD_OUT for t in get_domain(d).tools}
