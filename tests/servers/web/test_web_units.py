"""Fast unit checks of the web domain's parts: the network policy, the site's API and HTML reading."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from dive.servers.web import html_extract as hx
from dive.servers.web import site_server
from dive.servers.web.netpolicy import (
    ENV_ALLOW_HOSTS,
    ENV_ALLOW_NET,
    NetPolicy,
    Refused,
    VettedTransport,
)
from dive.servers.web.site_server import acquire_site, contact_reference, release_site, stop_unused_sites

SITE_PORT = 5555


def policy(**options) -> NetPolicy:
    return NetPolicy.from_options(options, "127.0.0.1", SITE_PORT)


@pytest.mark.parametrize("url", [
    "http://atlas.dive.test/index.html", "HTTP://ATLAS.DIVE.TEST:80/x", f"http://127.0.0.1:{SITE_PORT}/index.html", f"http://localhost:{SITE_PORT}/x", f"http://[::1]:{SITE_PORT}/",
    f"http://2130706433:{SITE_PORT}/", f"http://[::ffff:127.0.0.1]:{SITE_PORT}/",
])
def test_the_world_site_is_reachable_in_any_spelling(url):
    verdict = policy().vet_url(url)
    assert verdict.allowed and verdict.is_world_site


@pytest.mark.parametrize("url,reason", [
    ("http://127.0.0.1:22/", "loopback"), ("http://0177.0.0.1/", "loopback"), ("http://0x7f.1/", "loopback"),
    ("http://10.1.2.3/", "private"), ("http://169.254.169.254/", "metadata"), ("http://[fd00:ec2::254]/", "metadata"),
    ("http://metadata.google.internal/", "metadata"), ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://[fe80::1%25eth0]/", "link-local"), ("http://239.1.1.1/", "multicast"), ("http://0.0.0.0/", "unspecified"),
    ("gopher://x/", "scheme"), ("HTTP://10.0.0.1/", "private"), ("http://8.8.8.8/", "real web is off"),
    ("http://atlas.dive.test:8080/", "real web is off"), ("https://atlas.dive.test/", "real web is off"),
])
def test_refusals_say_why(url, reason):
    verdict = policy().vet_url(url)
    assert not verdict.allowed and reason in verdict.reason, verdict


def test_allow_net_opens_public_addresses_only():
    net = policy(allow_net=True)
    assert net.vet_url("https://8.8.8.8/").allowed
    assert not net.vet_url("http://10.0.0.1/").allowed
    assert not net.vet_url("http://169.254.169.254/").allowed


def test_allow_hosts_names_hosts_and_their_subdomains():
    named = policy(allow_hosts=["127.0.0.1", ".example.org"])
    assert named.vet_url("http://127.0.0.1:9/").allowed
    assert named.vet_url("http://www.example.org/", resolve=False).allowed
    assert named.vet_url("http://example.org/", resolve=False).allowed
    assert not named.vet_url("http://example.com/").allowed
    assert not named.vet_url("http://localhost:9/").allowed  # a name the list does not hold


def test_environment_switches_the_real_web_on(monkeypatch):
    monkeypatch.setenv(ENV_ALLOW_NET, "1")
    monkeypatch.setenv(ENV_ALLOW_HOSTS, "a.test, b.test")
    env = policy()
    assert env.allow_net and env.allow_hosts == {"a.test", "b.test"}
    assert policy(allow_net=False).allow_net is False  # explicit options win over the environment


def test_the_stable_site_name_connects_to_the_local_port(world):
    site = acquire_site(world)
    try:
        client = httpx.Client(transport=VettedTransport(NetPolicy.from_options({}, site.host, site.port)))
        page = client.get("http://atlas.dive.test/elements/Fe.html")
        assert page.status_code == 200 and "<h1>Iron (Fe)</h1>" in page.text
        client.close()
    finally:
        release_site(site)


def test_connections_are_vetted_at_connect_time():
    # Even a request built without the URL check cannot connect to a refused address.
    client = httpx.Client(transport=VettedTransport(policy()))
    with pytest.raises(Refused):
        client.get("http://127.0.0.1:9/")
    client.close()


def test_contact_reference_is_a_digest_of_the_normalised_message():
    ref = contact_reference("Ada", "Ada@Example.org", "general", "Hello")
    assert ref == contact_reference(" Ada ", "ada@example.org", "general", "Hello\n")
    assert ref != contact_reference("Ada", "ada@example.org", "booking", "Hello")
    assert ref.startswith("DW-") and len(ref) == 11


def test_site_server_api_and_shared_lifetime(world):
    first, second = acquire_site(world), acquire_site(world)
    assert first is second
    try:
        with httpx.Client(base_url=first.base_url) as client:
            found = client.get("/api/lookup", params={"q": "LHR", "format": "json"}).json()
            assert found["results"][0]["id"] == "airport:LHR" and found["results"][0]["page"] == "/airports/LHR.html"
            assert client.get("/api/lookup", params={"q": "Fe", "type": "planet"}).status_code == 400
            assert client.get("/../manifest.json").status_code == 404
            assert client.get("/countries/").text == (world.site_root / "countries/index.html").read_text()
            sent = client.post("/api/contact", data={"name": "A", "email": "a@b.co", "topic": "general", "message": "Hi"})
            assert sent.headers["x-reference"] == contact_reference("A", "a@b.co", "general", "Hi")
            assert client.post("/api/contact", data={"name": "A"}).status_code == 400
    finally:
        release_site(second)
        release_site(first)
    # Unused, it lingers for the next session (which gets the same server), until stopped or its time is up.
    assert httpx.get(first.base_url + "/index.html").status_code == 200
    again = acquire_site(world)
    assert again is first
    release_site(again)
    stop_unused_sites()
    with pytest.raises(httpx.ConnectError):
        httpx.get(first.base_url + "/index.html")
    fresh = acquire_site(world)
    assert fresh is not first  # a stopped server is never handed out again
    stop_unused_sites()  # held: not stopped
    assert httpx.get(fresh.base_url + "/index.html").status_code == 200
    release_site(fresh)
    stop_unused_sites()


def test_an_unused_site_server_stops_when_its_linger_ends(world, monkeypatch):
    monkeypatch.setattr(site_server, "LINGER_SECONDS", 0.05)
    site = acquire_site(world)
    release_site(site)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and refused(site) is False:
        time.sleep(0.02)
    assert refused(site) and world.site_root.resolve() not in site_server._sites


def refused(site) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((site.host, site.port)) != 0


def test_readable_text_tables_and_forms():
    soup = hx.parse("""<html><head><title>T</title></head><body><nav><a href="/">Home</a></nav><main>
        <h2>Facts</h2><table><tr><th>Population</th><td>1,234</td></tr><tr><th>Capital</th><td><a href="c.html">X</a></td></tr></table>
        <form action="/api/lookup"><input name="q" required><select name="type"><option value="any">Anything</option>
        <option value="city" selected>City</option></select><button>Go</button></form></main></body></html>""")
    assert hx.readable_text(soup) == "Facts\nPopulation | 1,234\nCapital | X\nAnything\nCity\nGo"
    table = hx.tables(soup, "http://h/p/")[0]
    assert table["kind"] == "key-value" and table["rows"] == [["Population", "1,234"], ["Capital", "X"]]
    assert table["caption"] == "Facts" and table["links"] == [{"text": "X", "url": "http://h/p/c.html"}]
    form = hx.forms(soup, "http://h/p/")[0]
    assert form["action"] == "http://h/api/lookup" and form["method"] == "get"
    assert hx.form_payload(form, {"q": "Lima"}) == {"q": "Lima", "type": "city"}
    assert hx.form_payload(form, {"q": "Lima", "type": "Anything"}) == {"q": "Lima", "type": "any"}
    with pytest.raises(ValueError, match="no field"):
        hx.form_payload(form, {"nope": "1"})
