"""The world site's ranked search index (SQLite FTS5 with bm25) and its link graph.

Built once per process and world from `site/pages.jsonl` (the words every page shows) and the site's
HTML (for links), in memory, and shared read-only by every session.
"""

from __future__ import annotations

import html
import json
import posixpath
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from dive.world import World

#: bm25 column weights: a match in the title counts this many times a match in the body.
TITLE_WEIGHT = 8.0
_WORD = re.compile(r"\w+", re.UNICODE)
_ANCHOR = re.compile(r'<a\s[^>]*?href="([^"]*)"[^>]*>(.*?)</a>', re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_NAV_BLOCK = re.compile(r"<(header|nav)\b.*?</\1>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class PageRow:
    path: str
    title: str
    entity_id: str | None
    section: str
    requires_js: bool
    text: str


def section_of(path: str) -> str:
    """The site section of a URL path: 'cities' for '/cities/123.html', 'home' for '/index.html'."""
    parts = [p for p in path.split("/") if p]
    return parts[0] if len(parts) > 1 else "home"


def match_expression(query: str, mode: str) -> str:
    """An FTS5 MATCH expression for free text: every word quoted (so punctuation cannot break the syntax)."""
    words = _WORD.findall(query)
    joiner = " OR " if mode == "any" else " "
    return joiner.join('"' + w.replace('"', '""') + '"' for w in words)


class SiteIndex:
    """Full-text index of the site's pages, plus which page links to which."""

    def __init__(self, world: World) -> None:
        self.site_root = world.site_root
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        self._links_built = False
        self.pages: dict[str, PageRow] = {}
        self._build()

    def _build(self) -> None:
        source = self.site_root / "pages.jsonl"
        if not source.is_file():
            raise RuntimeError(f"{source} is missing; rebuild the world with `dive world build`")
        db = self._db
        db.execute("CREATE TABLE pages (id INTEGER PRIMARY KEY, path TEXT UNIQUE, title TEXT, entity_id TEXT, "
                   "section TEXT, requires_js INTEGER, text TEXT)")
        db.execute("CREATE VIRTUAL TABLE pages_fts USING fts5(title, text, content='pages', content_rowid='id', "
                   "tokenize='porter unicode61 remove_diacritics 2')")
        rows = []
        with open(source, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                rec = json.loads(line)
                row = PageRow(rec["path"], rec["title"], rec.get("entity_id"), section_of(rec["path"]),
                              bool(rec.get("requires_js")), rec.get("text", ""))
                self.pages[row.path] = row
                rows.append((row.path, row.title, row.entity_id, row.section, int(row.requires_js), row.text))
        db.executemany("INSERT INTO pages (path, title, entity_id, section, requires_js, text) VALUES (?,?,?,?,?,?)", rows)
        db.execute("INSERT INTO pages_fts (rowid, title, text) SELECT id, title, text FROM pages")
        db.execute("CREATE INDEX pages_entity ON pages(entity_id)")
        db.commit()

    def search(self, query: str, *, limit: int, section: str | None = None,
               mode: str = "auto") -> tuple[list[dict], str]:
        """Ranked pages for `query`; `mode` 'all' (every word), 'any', or 'auto' (all, else any)."""
        if not _WORD.search(query):
            return [], "none"
        modes = ["all", "any"] if mode == "auto" else [mode]
        for m in modes:
            expr = match_expression(query, m)
            sql = ("SELECT p.path, p.title, p.entity_id, p.section, p.requires_js, "
                   "snippet(pages_fts, 1, '[', ']', ' … ', 18), bm25(pages_fts, ?, 1.0) AS score "
                   "FROM pages_fts JOIN pages p ON p.id = pages_fts.rowid WHERE pages_fts MATCH ? ")
            args: list = [TITLE_WEIGHT, expr]
            if section:
                sql += "AND p.section = ? "
                args.append(section)
            sql += "ORDER BY score, p.path LIMIT ?"
            args.append(limit)
            with self._lock:
                rows = self._db.execute(sql, args).fetchall()
            if rows:
                return [{"path": r[0], "title": r[1], "entity_id": r[2], "section": r[3], "requires_js": bool(r[4]),
                         "snippet": r[5], "score": round(-r[6], 4)} for r in rows], m
        return [], modes[-1]

    def pages_for_entity(self, entity_id: str) -> list[PageRow]:
        """Every page about an entity (its main page first, then a JavaScript-only live page if any)."""
        found = [p for p in self.pages.values() if p.entity_id == entity_id]
        return sorted(found, key=lambda p: (p.requires_js, p.path))

    def sections(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.pages.values():
            counts[p.section] = counts.get(p.section, 0) + 1
        return dict(sorted(counts.items()))

    # -- links ---------------------------------------------------------------------------------------------
    def _build_links(self) -> None:
        rows = []
        for path in self.pages:
            file = self.site_root / path.lstrip("/")
            try:
                text = _NAV_BLOCK.sub("", file.read_text(encoding="utf-8"))
            except OSError:
                continue
            base = posixpath.dirname(path)
            for href, inner in _ANCHOR.findall(text):
                href = html.unescape(href).split("#", 1)[0]
                if not href or "://" in href or href.startswith(("mailto:", "javascript:")):
                    continue
                target = posixpath.normpath(href if href.startswith("/") else posixpath.join(base, href))
                anchor = " ".join(html.unescape(_TAG.sub("", inner)).split())
                rows.append((path, target, anchor))
        self._db.execute("CREATE TABLE links (src TEXT, dst TEXT, anchor TEXT)")
        self._db.executemany("INSERT INTO links VALUES (?,?,?)", rows)
        self._db.execute("CREATE INDEX links_dst ON links(dst)")
        self._db.commit()
        self._links_built = True

    def backlinks(self, path: str) -> list[tuple[str, str, str]]:
        """(source path, source title, anchor text) of every page linking to `path`, navigation menus excluded."""
        with self._lock:
            if not self._links_built:
                self._build_links()
            rows = self._db.execute("SELECT DISTINCT src, anchor FROM links WHERE dst = ? AND src != ? ORDER BY src",
                                    (path, path)).fetchall()
        return [(src, self.pages[src].title if src in self.pages else "", anchor) for src, anchor in rows]

    def close(self) -> None:
        self._db.close()


_indexes: dict[Path, SiteIndex] = {}
_indexes_lock = threading.Lock()


def site_index(world: World) -> SiteIndex:
    """The process's index of this world's site, built on first use."""
    key = world.site_root.resolve()
    with _indexes_lock:
        index = _indexes.get(key)
        if index is None:
            index = _indexes[key] = SiteIndex(world)
        return index
