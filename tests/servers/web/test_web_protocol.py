"""The web server end to end over stdio (`dive serve web`, real MCP client), with the default policy: the
world site only. One server process (and one Chromium) is shared by the module's tests."""

from __future__ import annotations

import json

import pytest
from dive.servers.web.site_server import contact_reference

from tests.servers.web.web_support import live_pages, ok, web_stdio_pool

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def pool(world):
    async with web_stdio_pool(world) as p:
        yield p


async def test_browser_shows_text_only_javascript_writes(pool, world):
    pages = live_pages(world)
    assert len(pages) == 50
    for page in pages[:3]:
        marker = f"Live population estimate: {page['data']['population_estimate']:,}"
        rendered = ok(await pool.call("browser_open", {"url": page["path"]}))
        assert marker in rendered["text"], rendered["text"]
        assert f"Air quality index: {page['data']['air_quality_index']}" in rendered["text"]
        assert "Loading live data" not in rendered["text"]

        served = ok(await pool.call("extract_text", {"url": page["path"]}))
        assert "Live population estimate" not in served["text"]
        assert "Loading live data" in served["text"]
        raw = ok(await pool.call("fetch_url", {"url": page["path"]}))
        assert f"{page['data']['population_estimate']:,}" not in raw["body"]

        diff = ok(await pool.call("compare_raw_and_rendered", {"url": page["path"]}))
        assert marker in diff["only_rendered"]
        assert "Loading live data…" in diff["only_raw"]
    facts = ok(await pool.call("browser_wait_for", {"selector": "li.live-fact"}))
    assert facts["count"] == 4 and facts["text"].startswith("Live population estimate: ")
    numbers = ok(await pool.call("parse_key_values", {"text": rendered["text"]}))["numbers"]
    assert numbers["Live population estimate"] == page["data"]["population_estimate"]


def _entity_pages(world) -> list[dict]:
    recs = [json.loads(line) for line in (world.site_root / "pages.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r for r in recs if r["entity_id"] and not r["requires_js"]]


async def test_search_puts_the_described_page_first(pool, world):
    pages = _entity_pages(world)[::97]  # a spread over airports, cities, companies, countries, elements, stocks
    assert {p["entity_id"].split(":")[0] for p in pages} >= {"airport", "city", "company", "country", "element"}
    for page in pages:
        first_paragraph = page["text"].split("\n\n")[1]
        query = " ".join(first_paragraph.split()[:20])
        result = ok(await pool.call("search_site", {"query": query, "limit": 3}))
        assert result["results"][0]["path"] == page["path"], (query, result["results"])
        assert result["results"][0]["entity_id"] == page["entity_id"]
        assert "[" in result["results"][0]["snippet"]


async def test_forms_submit_over_http_and_in_the_browser(pool):
    lookup = ok(await pool.call("submit_form", {"url": "/forms/lookup.html", "fields": {"q": "Paris", "type": "city"}}))
    assert lookup["url"].split("?")[0].endswith("/api/lookup") and lookup["submitted"] == {"q": "Paris", "type": "city"}
    first = lookup["tables"][0]["rows"][0]
    assert first[:3] == ["city", "Paris, France", "2988507"]
    assert any(link["url"].endswith("/cities/2988507.html") for link in lookup["tables"][0]["links"])

    fields = {"name": "Grace Hopper", "email": "grace@example.org", "topic": "booking", "message": "Two seats to LHR."}
    expected = contact_reference(**fields)
    sent = ok(await pool.call("submit_form", {"url": "/forms/contact.html", "fields": fields}))
    assert sent["status"] == 200 and expected in sent["text"]
    again = ok(await pool.call("submit_form", {"url": "/forms/contact.html", "fields": fields}))
    assert expected in again["text"]
    other = ok(await pool.call("submit_form", {"url": "/forms/contact.html", "fields": {**fields, "message": "One seat."}}))
    assert expected not in other["text"] and "DW-" in other["text"]
    bad = ok(await pool.call("submit_form", {"url": "/forms/contact.html", "fields": {**fields, "email": "nobody"}}))
    assert bad["status"] == 400 and "is not an email address" in bad["text"]

    browsed = ok(await pool.call("browser_fill_form", {"url": "/forms/contact.html", "fields": {
        "Your name": fields["name"], "Email": fields["email"], "topic": "Flight booking", "message": fields["message"]}}))
    assert browsed["submitted"] and browsed["navigated"] and browsed["title"].startswith("Message received")
    assert expected in browsed["text"] and browsed["filled"]["topic"] == "booking"
    reference = ok(await pool.call("browser_query_selector", {"selector": "#reference"}))
    assert reference["count"] == 1 and reference["items"][0]["text"] == expected

    found = ok(await pool.call("browser_fill_form", {"url": "/forms/lookup.html", "fields": {"q": "MSFT", "type": "stock"}}))
    assert "MSFT (Microsoft)" in found["text"]
    tables = ok(await pool.call("browser_extract_tables", {}))
    assert tables["tables"][0]["rows"][0][:3] == ["stock", "MSFT (Microsoft)", "MSFT"]


async def test_browser_clicks_follows_links_and_goes_back(pool):
    ok(await pool.call("browser_open", {"url": "/elements/Fe.html"}))
    clicked = ok(await pool.call("browser_click", {"text": "Next: Cobalt"}))
    assert clicked["navigated"] and clicked["url"].endswith("/elements/Co.html")
    followed = ok(await pool.call("browser_follow_link", {"link_text": "Next: Nickel"}))
    assert followed["url"].endswith("/elements/Ni.html") and "atomic number 28" in followed["text"]
    back = ok(await pool.call("browser_back", {}))
    assert back["url"].endswith("/elements/Co.html")
    history = ok(await pool.call("browser_history", {}))
    assert [u.rsplit("/", 1)[-1] for u in history["visited"]][-3:] == ["Co.html", "Ni.html", "Co.html"]
    missing = await pool.call("browser_click", {"text": "No such button anywhere"})
    assert missing.is_error and "nothing on" in missing.error


async def test_screenshot_is_saved_and_listed(pool):
    shot = ok(await pool.call("browser_screenshot", {"url": "/countries/FR.html", "name": "france"}))
    assert shot["path"] == "screenshots/france.png" and shot["width"] == 1280 and shot["height"] > 800
    part = ok(await pool.call("browser_screenshot", {"name": "facts", "selector": "table.facts"}))
    assert part["height"] < shot["height"]
    listed = ok(await pool.call("list_screenshots", {}))
    assert [s["path"] for s in listed["screenshots"]] == ["screenshots/france.png", "screenshots/facts.png"]
    assert listed["screenshots"][0]["bytes"] == shot["bytes"]
    bad = await pool.call("browser_screenshot", {"name": "../escape"})
    assert bad.is_error


# Addresses refused with the default policy (the world site only), in the many spellings of each.
BLOCKED = [
    "http://127.0.0.1:1/", "http://localhost/", "http://localhost:22/", "http://2130706433/", "http://0x7f000001/",
    "http://0177.0.0.1/", "http://127.1/", "http://0/", "http://0.0.0.0:80/", "http://[::1]/", "http://[::]/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]:8080/", "http://10.0.0.1/", "http://172.16.5.4/",
    "http://192.168.1.1/", "http://100.64.0.1/", "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/", "http://metadata.google.internal/computeMetadata/v1/",
    "http://[::ffff:a9fe:a9fe]/", "http://0xa9fea9fe/", "http://2852039166/", "http://[fe80::1]/", "http://[fc00::1]/",
    "http://224.0.0.1/", "http://[ff02::1]/", "http://240.0.0.1/", "http://255.255.255.255/",
    "http://[2002:a9fe:a9fe::]/", "http://[64:ff9b::a9fe:a9fe]/",
    "file:///etc/passwd", "data:text/html,<h1>x</h1>", "javascript:alert(1)", "ftp://ftp.example.org/",
    "chrome://version", "http://example.com/", "https://93.184.216.34/", "http://atlas.dive.test:8080/",
    "https://atlas.dive.test/index.html",
]


@pytest.mark.parametrize("url", BLOCKED)
async def test_blocked_addresses_are_refused(pool, url):
    verdict = ok(await pool.call("check_url_policy", {"url": url}))
    assert verdict["allowed"] is False, verdict
    for tool in ("fetch_url", "browser_open"):
        rec = await pool.call(tool, {"url": url})
        assert rec.is_error, (tool, rec.result)
        assert "refused" in rec.error, (tool, rec.error)
