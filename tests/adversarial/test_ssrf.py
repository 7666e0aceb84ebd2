"""SSRF attempts in the default mode (the world's site only): a listener on a loopback port records every request,
and a few hundred URLs aim at it or at private, metadata and reserved addresses in every spelling a URL parser
might read differently (numeric, octal, hex and IPv6 forms of loopback, Unicode digits and dots, userinfo, '#' and
backslash tricks, scheme-relative links, other schemes). Every one is refused over HTTP and in the browser, and
the listener hears nothing.

Redirect chains, page subresources and clicks towards refused addresses are in
tests/servers/web/test_web_redirects.py; the policy's rules one by one in tests/servers/web/test_web_units.py."""

from __future__ import annotations

import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dive.env import ClientPool
from dive.servers import get_domain

pytestmark = pytest.mark.anyio


class Listener:
    """An HTTP server on 127.0.0.1 (and ::1 on the same port where it can) that records what reaches it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<html><body><p>internal secret</p><a href='/x'>x</a></body></html>")

            do_POST = do_HEAD = do_GET

        self.servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler)]
        self.port = self.servers[0].server_address[1]

        class V6(ThreadingHTTPServer):
            address_family = socket.AF_INET6

        try:
            self.servers.append(V6(("::1", self.port), Handler))
        except OSError:
            pass
        for server in self.servers:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def listener():
    server = Listener()
    yield server
    server.close()


LOOPBACK_HOSTS = [
    "127.0.0.1", "localhost", "LOCALHOST", "localhost.", "LocalHost.localdomain", "127.1", "127.0.1", "2130706433",
    "0x7f000001", "0x7f.0x0.0x0.0x1", "0177.0.0.1", "0177.0000.0000.0001", "017700000001", "127.000.000.001",
    "127.0.0.1.", "[::1]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0000::0001]",
    "[::1%25lo]", "0.0.0.0", "0", "[::]", "127.127.127.127", "127.0.0.2", "%31%32%37.0.0.1",
    "\u2460\u2461\u2466.\uff10.\uff10.\u2460", "127\u30020\u30020\u30021", "\uff11\uff12\uff17.\uff10.\uff10.\uff11",
]
OTHER_ADDRESSES = [
    "169.254.169.254", "[fd00:ec2::254]", "metadata.google.internal", "metadata", "10.0.0.1", "192.168.0.1",
    "172.16.0.1", "100.64.0.1", "0xa9fea9fe", "2852039166", "0251.0376.0251.0376", "[::ffff:a9fe:a9fe]",
    "[::ffff:169.254.169.254]", "[64:ff9b::a9fe:a9fe]", "[2002:a9fe:a9fe::]", "[fe80::1]", "198.18.0.1",
    "224.0.0.1", "255.255.255.255", "240.0.0.1", "[ff02::1]", "169.254.169.254.nip.io", "8.8.8.8", "example.com",
]


def refused_urls(port: int) -> list[str]:
    """URLs that reach the listener or a forbidden address if the guard failed."""
    urls = []
    for host in LOOPBACK_HOSTS:
        urls += [f"http://{host}:{port}/secret", f"HTTP://{host}:{port}/secret"]
    for host in OTHER_ADDRESSES:
        urls.append(f"http://{host}/latest/meta-data/")
    urls += [
        f"//127.0.0.1:{port}/relative-scheme", f"http://atlas.dive.test@127.0.0.1:{port}/userinfo",
        f"http://user:pass@localhost:{port}/userinfo", f"http://127.0.0.1:{port}#@atlas.dive.test/",
        f"http://127.0.0.1:{port}?@atlas.dive.test/", f"http://127.0.0.1:0{port}/leading-zero",
        f"https://127.0.0.1:{port}/tls", f"ws://127.0.0.1:{port}/", f"gopher://127.0.0.1:{port}/_GET",
        f"ftp://127.0.0.1:{port}/", f"dict://127.0.0.1:{port}/", "file:///etc/passwd", "file://localhost/etc/passwd",
        f"view-source:http://127.0.0.1:{port}/", "jar:http://127.0.0.1/x!/", f"http+unix://127.0.0.1:{port}/",
        f"http://atlas.dive.test:{port}/other-port", f"http://127.0.0.1:{port + 65536}/wrapped-port",
    ]
    return urls


def tricky_urls(port: int) -> list[str]:
    """URLs that parsers split differently: they may land on the world's site, never on the listener."""
    return [f"http://127.0.0.1:{port}\\@atlas.dive.test/", f"http://127.0.0.1:{port}\\\\@atlas.dive.test/",
            f"http:\\\\127.0.0.1:{port}\\secret", f"http:/127.0.0.1:{port}/secret", f"http:127.0.0.1:{port}/secret",
            f"http://127.0.0.1:{port}@atlas.dive.test/", f"http://localhost:{port}:80@atlas.dive.test/",
            f"http://atlas.dive.test#@127.0.0.1:{port}/", f"http://atlas.dive.test\t@127.0.0.1:{port}/",
            f"http://atlas.dive.test%40127.0.0.1:{port}/", f" http://127.0.0.1:{port}/ ", f"\nhttp://127.0.0.1:{port}/"]


async def test_no_spelling_reaches_a_refused_address_over_http(world, listener):
    server = get_domain("web").create_server(world)
    attempts = 0
    try:
        async with ClientPool(servers={"web": server.mcp}, timeout=120) as pool:
            for url in refused_urls(listener.port):
                for tool, args in (("fetch_url", {"url": url}), ("fetch_headers", {"url": url}),
                                   ("extract_text", {"url": url}), ("crawl_site", {"url": url, "max_depth": 1})):
                    rec = await pool.call(tool, args)
                    attempts += 1
                    assert rec.is_error, f"{tool} {url!r} was not refused: {str(rec.result)[:200]}"
                    assert "internal secret" not in rec.error and "internal error" not in rec.error, rec.error
                policy = await pool.call("check_url_policy", {"url": url})
                assert policy.is_error or policy.result["allowed"] is False, (url, policy.result)
            for url in tricky_urls(listener.port):
                for tool in ("fetch_url", "extract_text", "check_links"):
                    rec = await pool.call(tool, {"url": url})
                    attempts += 1
                    shown = rec.error if rec.is_error else str(rec.result)
                    assert "internal secret" not in shown, (tool, url)
    finally:
        server.close()
    assert attempts >= 400
    assert listener.hits == [], f"requests reached the listener: {listener.hits}"


@pytest.mark.skipif(shutil.which("/usr/lib/chromium/chromium-headless-shell") is None and shutil.which("chromium") is None,
                    reason="Chromium is not installed")
async def test_no_spelling_reaches_a_refused_address_in_the_browser(world, listener):
    server = get_domain("web").create_server(world)
    try:
        async with ClientPool(servers={"web": server.mcp}, timeout=120) as pool:
            for url in refused_urls(listener.port) + tricky_urls(listener.port):
                rec = await pool.call("browser_open", {"url": url})
                shown = rec.error if rec.is_error else str(rec.result)
                assert "internal secret" not in shown, url
                if url in refused_urls(listener.port):
                    assert rec.is_error, f"browser_open {url!r} was not refused: {shown[:200]}"
    finally:
        server.close()
    assert listener.hits == [], f"requests reached the listener: {listener.hits}"
