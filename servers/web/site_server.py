"""The world's website served over HTTP on a loopback port, with the `/api/...` endpoints its forms use.

One site server runs per server process and world (shared by every session, counted by `acquire_site` /
`release_site`): static files come from the read-only `site/` folder, `/api/lookup` (GET, the lookup
form) searches the world database, and `/api/contact` (POST, the contact form) validates a message and
confirms it with a reference number derived from its content, so the same message always gets the same
reference. Nothing is stored: every answer is a pure function of the request and the world.
"""

from __future__ import annotations

import hashlib
import html
import json
import mimetypes
import re
import sqlite3
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dive.servers.kit import Linger

from dive.world import World

SITE_NAME = "DIVE World Atlas"
LOOKUP_KINDS = ("any", "city", "country", "airport", "element", "company", "stock")
CONTACT_TOPICS = {"general": "General question", "booking": "Flight booking", "correction": "Data correction"}
LOOKUP_LIMIT = 25
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MAX_BODY = 64 * 1024


def contact_reference(name: str, email: str, topic: str, message: str) -> str:
    """The reference number a contact message is confirmed with: a digest of its normalised fields."""
    canonical = "\n".join([name.strip(), email.strip().lower(), topic.strip(), message.strip()])
    return "DW-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:8].upper()


class WorldLookup:
    """Entity lookup by name or code over the world database (the `/api/lookup` endpoint)."""

    def __init__(self, world: World) -> None:
        self.site_root = world.site_root
        self._db = sqlite3.connect(f"file:{world.db_path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _page(self, path: str) -> str | None:
        return path if (self.site_root / path.lstrip("/")).is_file() else None

    def lookup(self, query: str, kind: str = "any") -> list[dict[str, Any]]:
        """Entities whose code or name matches `query` (exact codes first, then exact names, then name prefixes)."""
        q = query.strip()
        if not q:
            return []
        kinds = LOOKUP_KINDS[1:] if kind == "any" else (kind,)
        found: list[tuple[int, int, dict[str, Any]]] = []
        with self._lock:
            for k in kinds:
                for rank, row in getattr(self, f"_{k}")(q):
                    found.append((rank, LOOKUP_KINDS.index(k), row))
        found.sort(key=lambda t: (t[0], t[1], -(t[2].get("population") or 0), t[2]["id"]))
        seen: set[str] = set()
        results = []
        for _, _, row in found:
            if row["id"] not in seen:
                seen.add(row["id"])
                results.append(row)
        return results[:LOOKUP_LIMIT]

    def _rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        cur = self._db.execute(sql, args)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    @staticmethod
    def _name_rank(name: str, q: str) -> int:
        return 1 if name.lower() == q.lower() else 2

    def _city(self, q: str):
        rows = self._rows("SELECT c.id, c.name, c.country_code, c.population, k.name AS country FROM cities c "
                          "JOIN countries k ON k.code = c.country_code WHERE c.id = ? OR c.name LIKE ? "
                          "ORDER BY c.population DESC LIMIT 60", int(q) if q.isdigit() else -1, q + "%")
        for r in rows:
            rank = 0 if str(r["id"]) == q else self._name_rank(r["name"], q)
            yield rank, {"kind": "city", "id": f"city:{r['id']}", "name": f"{r['name']}, {r['country']}",
                         "code": str(r["id"]), "population": r["population"],
                         "details": f"population {r['population']:,}", "page": self._page(f"/cities/{r['id']}.html")}

    def _country(self, q: str):
        rows = self._rows("SELECT code, iso3, name, capital, population FROM countries WHERE code = ? COLLATE NOCASE "
                          "OR iso3 = ? COLLATE NOCASE OR name LIKE ? ORDER BY population DESC LIMIT 60", q, q, q + "%")
        for r in rows:
            rank = 0 if q.upper() in (r["code"], r["iso3"]) else self._name_rank(r["name"], q)
            yield rank, {"kind": "country", "id": f"country:{r['code']}", "name": r["name"], "code": r["code"],
                         "population": r["population"],
                         "details": f"capital {r['capital'] or '-'}, population {r['population'] or 0:,}",
                         "page": self._page(f"/countries/{r['code']}.html")}

    def _airport(self, q: str):
        rows = self._rows("SELECT iata, icao, name, city, country_code FROM airports WHERE iata = ? COLLATE NOCASE "
                          "OR icao = ? COLLATE NOCASE OR name LIKE ? OR city = ? COLLATE NOCASE ORDER BY iata LIMIT 60",
                          q, q, q + "%", q)
        for r in rows:
            page = self._page(f"/airports/{r['iata']}.html")
            if q.upper() in (r["iata"], r["icao"]):
                rank = 0
            elif q.lower() in (r["name"].lower(), (r["city"] or "").lower()):
                rank = 1  # its name, or the city it is in
            else:
                rank = 2 if page else 3  # among loose matches, airports with pages first
            yield rank, {"kind": "airport", "id": f"airport:{r['iata']}", "name": r["name"], "code": r["iata"],
                         "details": f"ICAO {r['icao']}, {r['city'] or '-'}, {r['country_code']}", "page": page}

    def _element(self, q: str):
        rows = self._rows("SELECT number, symbol, name, mass FROM elements WHERE symbol = ? COLLATE NOCASE "
                          "OR name LIKE ? OR number = ? ORDER BY number LIMIT 60", q, q + "%",
                          int(q) if q.isdigit() else -1)
        for r in rows:
            rank = 0 if q.lower() == r["symbol"].lower() or q == str(r["number"]) else self._name_rank(r["name"], q)
            yield rank, {"kind": "element", "id": f"element:{r['symbol']}", "name": r["name"], "code": r["symbol"],
                         "details": f"atomic number {r['number']}, mass {r['mass']}",
                         "page": self._page(f"/elements/{r['symbol']}.html")}

    def _company(self, q: str):
        rows = self._rows("SELECT id, name, sector, ticker FROM companies WHERE id = ? COLLATE NOCASE "
                          "OR ticker = ? COLLATE NOCASE OR name LIKE ? ORDER BY name LIMIT 60", q, q, "%" + q + "%")
        for r in rows:
            if q.lower() in (r["id"].lower(), (r["ticker"] or "").lower()):
                rank = 0
            elif r["name"].lower() == q.lower():
                rank = 1
            else:
                rank = 2
            yield rank, {"kind": "company", "id": f"company:{r['id']}", "name": r["name"], "code": r["id"],
                         "details": f"{r['sector']}" + (f", ticker {r['ticker']}" if r["ticker"] else ""),
                         "page": self._page(f"/companies/{r['id']}.html")}

    def _stock(self, q: str):
        rows = self._rows("SELECT s.symbol, c.name, COUNT(*) AS months FROM stock_prices s JOIN companies c "
                          "ON c.ticker = s.symbol WHERE s.symbol = ? COLLATE NOCASE OR c.name = ? COLLATE NOCASE "
                          "GROUP BY s.symbol", q, q)
        for r in rows:
            yield (0 if q.upper() == r["symbol"] else 1), {
                "kind": "stock", "id": f"stock:{r['symbol']}", "name": f"{r['symbol']} ({r['name']})",
                "code": r["symbol"], "details": f"{r['months']} monthly prices",
                "page": self._page(f"/stocks/{r['symbol']}.html")}


def _document(title: str, body: str) -> bytes:
    """A result page in the site's own look (relative links work from /api/)."""
    nav = " | ".join(f'<a href="{href}">{label}</a>' for label, href in (
        ("Home", "/index.html"), ("Lookup", "/forms/lookup.html"), ("Contact", "/forms/contact.html")))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)} - {SITE_NAME}</title>\n"
            f'<meta name="description" content="{html.escape(title)}">\n'
            f'<link rel="stylesheet" href="/style.css">\n</head>\n<body>\n<header><nav>{nav}</nav></header>\n'
            f"<main>\n<h1>{html.escape(title)}</h1>\n{body}\n</main>\n</body>\n</html>\n").encode()


class _Handler(BaseHTTPRequestHandler):
    server: _SiteHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "DiveWorldSite/1"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet: stdout/stderr belong to MCP
        pass

    # -- plumbing ------------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8",
              extra: dict[str, str] | None = None, head_only: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str, head_only: bool = False, extra: dict[str, str] | None = None) -> None:
        body = _document(f"{status.value} {status.phrase}", f"<p>{html.escape(message)}</p>")
        self._send(status.value, body, extra=extra, head_only=head_only)

    def _wants_json(self, params: dict[str, list[str]]) -> bool:
        return params.get("format", [""])[0] == "json" or "application/json" in (self.headers.get("Accept") or "")

    # -- methods -------------------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._get(head_only=True)

    def do_GET(self) -> None:
        self._get(head_only=False)

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {_MAX_BODY} bytes")
            return
        raw = self.rfile.read(length) if length else b""
        if path == "/api/contact":
            self._contact(raw)
        elif path == "/api/lookup":
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, "/api/lookup answers GET requests", extra={"Allow": "GET, HEAD"})
        else:
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, "only the /api/contact endpoint accepts POST",
                        extra={"Allow": "GET, HEAD"})

    def _get(self, head_only: bool) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        params = parse_qs(parts.query, keep_blank_values=True)
        if path == "/api/lookup":
            self._lookup(params, head_only)
            return
        if path == "/api/contact":
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, "/api/contact accepts POST (the contact form) only",
                        head_only, extra={"Allow": "POST"})
            return
        target = self.server.resolve_static(path)
        if target is None:
            self._error(HTTPStatus.NOT_FOUND, f"no page at {path}", head_only)
            return
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/json", "application/javascript"):
            ctype += "; charset=utf-8"
        if target.suffix == ".jsonl":
            ctype = "application/x-ndjson; charset=utf-8"
        self._send(HTTPStatus.OK, target.read_bytes(), ctype, head_only=head_only)

    # -- API -----------------------------------------------------------------------------------------------
    def _lookup(self, params: dict[str, list[str]], head_only: bool) -> None:
        q = params.get("q", [""])[0].strip()
        kind = params.get("type", ["any"])[0] or "any"
        if kind not in LOOKUP_KINDS:
            self._error(HTTPStatus.BAD_REQUEST, f"unknown kind {kind!r}; use one of {', '.join(LOOKUP_KINDS)}", head_only)
            return
        if not q:
            self._error(HTTPStatus.BAD_REQUEST, "the field q (name or code) is required", head_only)
            return
        results = self.server.lookup.lookup(q, kind)
        if self._wants_json(params):
            body = json.dumps({"query": q, "type": kind, "count": len(results), "results": results},
                              ensure_ascii=False, indent=1).encode("utf-8")
            self._send(HTTPStatus.OK, body, "application/json; charset=utf-8", head_only=head_only)
            return
        noun = "match" if len(results) == 1 else "matches"
        rows = []
        for r in results:
            name = html.escape(r["name"])
            cell = f'<a href="{html.escape(r["page"])}">{name}</a>' if r["page"] else name
            rows.append(f"<tr><td>{r['kind']}</td><td>{cell}</td><td>{html.escape(r['code'])}</td>"
                        f"<td>{html.escape(r['details'])}</td></tr>")
        table = ('<table class="results">\n<thead><tr><th>Kind</th><th>Name</th><th>Code</th><th>Details</th></tr>'
                 "</thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>") if rows else ""
        body = (f'<p class="summary">{len(results)} {noun} for &quot;{html.escape(q)}&quot; (kind: {kind}).</p>\n'
                + (table or "<p>Nothing matched; try a code (FR, LHR, Fe, MSFT) or the start of a name.</p>"))
        self._send(HTTPStatus.OK, _document(f"Lookup results for {q}", body), head_only=head_only)

    def _contact(self, raw: bytes) -> None:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/json":
            try:
                data = {k: str(v) for k, v in json.loads(raw or b"{}").items()}
            except (ValueError, AttributeError):
                self._error(HTTPStatus.BAD_REQUEST, "the JSON body does not parse as an object")
                return
        else:
            data = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
        name, email = data.get("name", "").strip(), data.get("email", "").strip()
        topic, message = (data.get("topic") or "general").strip(), data.get("message", "").strip()
        problems = []
        if not name:
            problems.append("name is required")
        if not email:
            problems.append("email is required")
        elif not _EMAIL.match(email):
            problems.append(f"email {email!r} is not an email address")
        if topic not in CONTACT_TOPICS:
            problems.append(f"topic must be one of {', '.join(CONTACT_TOPICS)}")
        if not message:
            problems.append("message is required")
        if problems:
            items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
            body = _document("Message not sent", f'<p class="error">Please correct the form:</p>\n<ul class="errors">{items}</ul>')
            self._send(HTTPStatus.BAD_REQUEST, body)
            return
        reference = contact_reference(name, email, topic, message)
        words = len(message.split())
        body = (f'<p class="confirmation">Thank you, {html.escape(name)}. Your message was received.</p>\n'
                '<table class="facts">\n<tbody>\n'
                f"<tr><th>Reference</th><td id=\"reference\">{reference}</td></tr>\n"
                f"<tr><th>Topic</th><td>{html.escape(CONTACT_TOPICS[topic])}</td></tr>\n"
                f"<tr><th>Reply to</th><td>{html.escape(email)}</td></tr>\n"
                f"<tr><th>Message length</th><td>{words} words</td></tr>\n"
                "</tbody>\n</table>\n"
                f"<p>Quote reference {reference} in any follow-up.</p>")
        self._send(HTTPStatus.OK, _document("Message received", body), extra={"X-Reference": reference})


class _SiteHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, world: World) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = world.site_root.resolve()
        self.lookup = WorldLookup(world)

    def resolve_static(self, path: str) -> Path | None:
        """The file a URL path names inside the site, or None (no `..`, no hidden files, no symlinks out)."""
        if "\x00" in path or not path.startswith("/"):
            return None
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") or p.startswith(".") for p in parts):
            return None
        target = self.root.joinpath(*parts)
        if target.is_dir() or path.endswith("/"):
            target = target / "index.html"
        try:
            real = target.resolve()
        except OSError:
            return None
        if self.root not in real.parents or not real.is_file():
            return None
        return real


class SiteServer:
    """The world site on http://127.0.0.1:PORT/ in a background thread."""

    def __init__(self, world: World) -> None:
        if not (world.site_root / "index.html").is_file():
            raise RuntimeError(f"the world at {world.root} has no site/index.html; rebuild it with `dive world build`")
        self._httpd = _SiteHTTPServer(world)
        self.host, self.port = self._httpd.server_address[:2]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"dive-web-site-{self.port}", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.lookup.close()
        self._thread.join(timeout=5)


#: How long a site server outlives its last session, waiting for the next one.
LINGER_SECONDS = 30.0


class _Held:
    def __init__(self, server: SiteServer) -> None:
        self.server = server
        self.users = 0
        self.linger = Linger(stop_unused_sites)


_sites: dict[Path, _Held] = {}
_sites_lock = threading.Lock()


def acquire_site(world: World) -> SiteServer:
    """The process's site server for this world, started on first use; pair with `release_site`."""
    key = world.site_root.resolve()
    with _sites_lock:
        held = _sites.get(key)
        if held is None:
            held = _sites[key] = _Held(SiteServer(world))
        held.users += 1
        held.linger.cancel()
        return held.server


def release_site(server: SiteServer) -> None:
    """Drop one user of a site server; once it has had none for `LINGER_SECONDS` it stops."""
    with _sites_lock:
        for held in _sites.values():
            if held.server is server:
                held.users = max(0, held.users - 1)
                if held.users == 0:
                    held.linger.start(LINGER_SECONDS)
                return


def stop_unused_sites() -> None:
    """Stop every site server no session holds (a server closing, or a linger ending)."""
    with _sites_lock:
        unused = [(key, held) for key, held in _sites.items() if held.users == 0]
        for key, held in unused:
            del _sites[key]
            held.linger.cancel()
    for _key, held in unused:
        held.server.stop()
