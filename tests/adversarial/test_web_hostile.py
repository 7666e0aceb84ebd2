"""Hostile pages on a host the server allows: odd links do not fail whole tools, a page's popups do not break
browser_open, and WebRTC cannot send a packet anywhere (the guard is the browser's, not only HTTP's)."""

from __future__ import annotations

import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dive.env import ClientPool
from dive.servers import get_domain

pytestmark = [pytest.mark.anyio]

ODD_LINKS = ["data:text/html,<b>hi</b>", "javascript:alert(1)", "JavaScript:void(0)", "mailto:a@example.com",
             "http://[::1", "http://host:99999/", "http://a b/", "tel:+100", "ftp://127.0.0.1/x", "//", "http://",
             "http://%zz/", "about:blank", "blob:null/abc", "ws://127.0.0.1:1/", "file:///etc/passwd",
             "http://127.0.0.1:1/closed", "/plain#frag", "?q=1", "#top", " ", "http://[v1.x]/", "%00"]


class HostilePages:
    def __init__(self, udp_port: int) -> None:
        links = "".join(f"<a href='{href}'>link {i}</a> " for i, href in enumerate(ODD_LINKS))
        self.pages = {
            "/links": f"<html><head><title>Links</title></head><body><main><p>{links}</p>"
                      "<a href='/plain'>plain</a></main></body></html>",
            "/popup": "<html><head><title>Popup</title></head><body><p>Popups below</p><script>"
                      "window.open('/plain'); window.open('http://169.254.169.254/'); window.open('about:blank');"
                      "</script></body></html>",
            "/webrtc": "<html><head><title>RTC</title></head><body><p id='out'>start</p><script>"
                       "(async () => { try {"
                       f"const pc = new RTCPeerConnection({{iceServers: [{{urls: 'stun:127.0.0.1:{udp_port}'}},"
                       f"{{urls: 'turn:127.0.0.1:{udp_port}?transport=udp', username: 'u', credential: 'p'}}]}});"
                       "pc.createDataChannel('x'); await pc.setLocalDescription(await pc.createOffer());"
                       "document.getElementById('out').textContent = 'offer made';"
                       "} catch (e) { document.getElementById('out').textContent = 'no webrtc: ' + e; } })();"
                       "</script></body></html>",
            "/plain": "<html><head><title>Plain</title></head><body><p>plain page</p></body></html>",
        }
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0].split("#")[0], pages["/plain"]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def udp_listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    yield sock
    sock.close()


@pytest.fixture
def hostile(udp_listener):
    pages = HostilePages(udp_listener.getsockname()[1])
    yield pages
    pages.close()


async def test_odd_links_do_not_fail_link_tools(world, hostile):
    server = get_domain("web").create_server(world, options={"allow_hosts": ["127.0.0.1"]})
    try:
        async with ClientPool(servers={"web": server.mcp}, timeout=120) as pool:
            checked = await pool.call("check_links", {"url": f"{hostile.base}/links", "include_navigation": True})
            assert not checked.is_error, checked.error
            assert any(link["url"].endswith("/plain") and link["ok"] for link in checked.result["links"])
            crawled = await pool.call("crawl_site", {"url": f"{hostile.base}/links", "max_depth": 1})
            assert not crawled.is_error, crawled.error
            assert any(p["url"].endswith("/plain") for p in crawled.result["pages"])
            extracted = await pool.call("extract_links", {"url": f"{hostile.base}/links"})
            assert not extracted.is_error, extracted.error
    finally:
        server.close()


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("/usr/lib/chromium/chromium-headless-shell") is None,
                    reason="Chromium is not installed")
async def test_popups_and_webrtc_are_contained(world, hostile, udp_listener):
    server = get_domain("web").create_server(world, options={"allow_hosts": ["127.0.0.1"]})
    try:
        async with ClientPool(servers={"web": server.mcp}, timeout=120) as pool:
            rtc = await pool.call("browser_open", {"url": f"{hostile.base}/webrtc", "wait_until": "networkidle"})
            assert not rtc.is_error, rtc.error
            again = await pool.call("browser_open", {"url": f"{hostile.base}/webrtc"})
            assert not again.is_error, again.error
            received = []
            for _ in range(15):
                try:
                    received.append(udp_listener.recvfrom(65536))
                except TimeoutError:
                    pass
            assert received == [], f"the page sent {len(received)} UDP packets past the guard"
            popup = await pool.call("browser_open", {"url": f"{hostile.base}/popup"})
            assert not popup.is_error, popup.error
            assert popup.result["title"] == "Popup" and "Popups below" in popup.result["text"]
    finally:
        server.close()
