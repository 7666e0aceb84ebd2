"""Helpers for the web-domain tests: live-page facts from the world, a hostile local HTTP server, Chromium
process accounting, and pools on the web server with network options."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

from dive.env import ClientPool, MCPConfig
from dive.env.config import dive_server_config


def live_pages(world) -> list[dict]:
    """The JavaScript-only pages of the site with the figures their script shows (from the embedded JSON)."""
    pages = []
    for line in (world.site_root / "pages.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec.get("requires_js"):
            html = (world.site_root / rec["path"].lstrip("/")).read_text(encoding="utf-8")
            data = json.loads(re.search(r'<script type="application/json" id="live-data">(.*?)</script>', html, re.DOTALL)
                              .group(1).replace("<\\/", "</"))
            pages.append({**rec, "data": data})
    return pages


def chromium_pids() -> set[int]:
    """PIDs of running Chromium processes (read from /proc; psutil is not a dependency)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if cmd and os.path.basename(cmd.decode(errors="replace")) in ("chromium", "chrome", "headless_shell", "chromium-headless-shell"):
            pids.add(int(entry.name))
    return pids


def wait_until_gone(pids: set[int], timeout: float = 15.0) -> set[int]:
    """Wait for processes to exit; return those still running at the deadline."""
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if Path(f"/proc/{p}").exists() and not _is_zombie(p)}
        if alive:
            time.sleep(0.2)
    return alive


def _is_zombie(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]) == "Z"
    except (OSError, IndexError):
        return True


class HostileServer:
    """A local HTTP server that tries to lead clients elsewhere: redirects, subresources, script fetches.

    It records every path it is asked for, so a test can prove a refused hop never reached it.
    """

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                hits.append(self.path)
                path, _, query = self.path.partition("?")
                if path == "/redirect":  # /redirect?to=URL
                    from urllib.parse import parse_qs

                    self.send_response(302)
                    self.send_header("Location", parse_qs(query)["to"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if path.startswith("/hop"):  # /hop1 -> /hop2 -> ... -> /hopN -> the `final` query
                    from urllib.parse import parse_qs

                    n = int(path[4:])
                    params = parse_qs(query)
                    target = params["final"][0] if n >= int(params["n"][0]) else f"/hop{n + 1}?{query}"
                    self.send_response(301)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if path == "/page":  # a page pulling blocked subresources and calling blocked APIs
                    body = (b"<html><head><title>Hostile</title>"
                            b"<link rel='stylesheet' href='http://169.254.169.254/latest/meta-data/'></head><body>"
                            b"<h1>Hostile page</h1><img src='http://10.0.0.1/pixel.png'>"
                            b"<img src='http://localhost:" + str(self.server.server_address[1]).encode() + b"/secret-img'>"
                            b"<p><a id='leak' href='http://localhost:" + str(self.server.server_address[1]).encode()
                            + b"/secret-link'>Go secret</a> <a href='/redirect?to=http://169.254.169.254/'>Metadata</a></p>"
                            b"<p id='out'>waiting</p><script>"
                            b"fetch('http://localhost:" + str(self.server.server_address[1]).encode() + b"/secret-fetch')"
                            b".then(r => r.text()).then(t => { document.getElementById('out').textContent = 'LEAK ' + t; })"
                            b".catch(e => { document.getElementById('out').textContent = 'fetch refused'; });"
                            b"</script></body></html>")
                    self._ok(body)
                    return
                self._ok(b"<html><head><title>Plain</title></head><body><p>secret content " + path.encode() + b"</p></body></html>")

            def _ok(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@asynccontextmanager
async def web_stdio_pool(world, env: dict[str, str] | None = None) -> AsyncIterator[ClientPool]:
    """A pool on `dive serve web` over stdio, with extra environment (e.g. DIVE_WEB_ALLOW_HOSTS)."""
    server = dive_server_config("web", world=world.root)
    server.env = {**(server.env or {}), **(env or {})}
    async with ClientPool(MCPConfig(mcpServers={"web": server})) as pool:
        yield pool


def ok(rec) -> dict:
    assert not rec.is_error, rec.error
    return rec.result
