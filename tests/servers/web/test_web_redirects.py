"""A server allowed to reach one local host cannot be led further: redirects (one hop or many), page
subresources and script requests towards refused addresses are stopped, over httpx and in Chromium alike.

The local "hostile" server records every request it receives, so the tests prove a refused URL on it
(reached through the name `localhost`, which the policy does not allow) was never requested.
"""

from __future__ import annotations

import pytest

from tests.servers.web.web_support import HostileServer, ok, web_stdio_pool

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def hostile():
    with HostileServer() as server:
        yield server


@pytest.fixture(scope="module")
async def pool(world, hostile):
    # DIVE_WEB_ALLOW_HOSTS is how `dive serve web` takes allow_hosts (the CLI has no flag for it yet).
    async with web_stdio_pool(world, env={"DIVE_WEB_ALLOW_HOSTS": "127.0.0.1"}) as p:
        yield p


def targets(port: int) -> list[str]:
    return [
        f"http://localhost:{port}/secret",
        f"http://[::1]:{port}/secret",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/",
        "http://10.0.0.1/",
        "http://[::ffff:192.168.0.1]/",
        "http://2852039166/",
        "file:///etc/passwd",
        "ftp://127.0.0.1/",
        "http://example.com/",
    ]


async def test_the_allowed_host_is_reachable(pool, hostile):
    info = ok(await pool.call("site_info", {}))
    assert info["allow_hosts"] == ["127.0.0.1"] and info["allow_net"] is False
    page = ok(await pool.call("fetch_url", {"url": f"{hostile.base}/plain"}))
    assert page["status"] == 200 and "secret content /plain" in page["body"]
    chain = ok(await pool.call("fetch_url", {"url": f"{hostile.base}/hop1?n=3&final=/landing"}))
    assert chain["url"].endswith("/landing") and [h["status"] for h in chain["redirects"]] == [301, 301, 301]
    browsed = ok(await pool.call("browser_open", {"url": f"{hostile.base}/hop1?n=2&final=/landing2"}))
    assert browsed["url"].endswith("/landing2") and "secret content /landing2" in browsed["text"]
    assert len(browsed["redirects"]) == 2


@pytest.mark.parametrize("index", range(11))
async def test_redirect_to_a_refused_address_is_stopped(pool, hostile, index):
    target = targets(hostile.port)[index]
    hostile.hits.clear()
    for tool in ("fetch_url", "browser_open"):
        rec = await pool.call(tool, {"url": f"{hostile.base}/redirect?to={target}"})
        assert rec.is_error and "refused" in rec.error, (tool, target, rec.error or rec.result)
    assert all(hit.startswith("/redirect") for hit in hostile.hits), hostile.hits


async def test_refused_hop_deep_in_a_redirect_chain(pool, hostile):
    hostile.hits.clear()
    final = f"http://localhost:{hostile.port}/secret-final"
    for tool in ("fetch_url", "browser_open", "extract_text"):
        rec = await pool.call(tool, {"url": f"{hostile.base}/hop1?n=3&final={final}"})
        assert rec.is_error and "refused" in rec.error and "localhost" in rec.error, (tool, rec.error)
    assert hostile.hits and not any("secret-final" in hit.split("?")[0] for hit in hostile.hits)
    assert {hit.split("?")[0] for hit in hostile.hits} == {"/hop1", "/hop2", "/hop3"}


async def test_page_subresources_and_script_requests_are_vetted(pool, hostile):
    hostile.hits.clear()
    page = ok(await pool.call("browser_open", {"url": f"{hostile.base}/page", "wait_until": "networkidle"}))
    assert page["title"] == "Hostile"
    blocked = {b["url"] for b in page["blocked"]}
    assert "http://169.254.169.254/latest/meta-data/" in blocked
    assert "http://10.0.0.1/pixel.png" in blocked
    assert f"http://localhost:{hostile.port}/secret-img" in blocked
    out = ok(await pool.call("browser_wait_for", {"selector": "#out:has-text('fetch refused')"}))
    assert out["text"] == "fetch refused"
    log = ok(await pool.call("browser_network_log", {"outcome": "blocked"}))
    assert f"http://localhost:{hostile.port}/secret-fetch" in {e["url"] for e in log["requests"]}
    assert all(e["detail"] for e in log["requests"])
    assert hostile.hits == ["/page"]


async def test_clicks_and_links_towards_refused_addresses(pool, hostile):
    ok(await pool.call("browser_open", {"url": f"{hostile.base}/page"}))
    hostile.hits.clear()
    for tool, args in [("browser_click", {"text": "Go secret"}), ("browser_click", {"selector": "#leak"}),
                       ("browser_follow_link", {"link_text": "Go secret"}), ("browser_click", {"text": "Metadata"}),
                       ("browser_follow_link", {"link_text": "Metadata"})]:
        rec = await pool.call(tool, args)
        assert rec.is_error and "refused" in rec.error, (tool, args, rec.error or rec.result)
        still = ok(await pool.call("browser_history", {}))
        assert still["current_url"] == f"{hostile.base}/page", (tool, still)
    assert all(hit.startswith("/redirect") for hit in hostile.hits), hostile.hits


async def test_crawl_and_link_check_report_refusals(pool, hostile):
    checked = ok(await pool.call("check_links", {"url": "/cities/2643743.html"}))
    assert checked["broken"] == 0 and checked["refused"] == 0
    crawl = ok(await pool.call("crawl_site", {"url": f"{hostile.base}/plain", "max_depth": 0}))
    assert crawl["count"] == 1 and crawl["pages"][0]["title"] == "Plain"
