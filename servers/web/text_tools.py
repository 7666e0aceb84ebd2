"""Processing tools: they transform what they are given (URLs, HTML, page text) and fetch nothing."""

from __future__ import annotations

import difflib
import re
import sqlite3
from typing import Annotated
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from dive.servers.kit import Example, ToolFailure, clip_text, no_facts
from pydantic import BaseModel, Field

from . import html_extract as hx
from .netpolicy import literal_address
from .search_index import match_expression
from .state import DOMAIN, WebState


class ParsedURL(BaseModel):
    url: str = Field(description="The absolute, normalised URL.")
    scheme: str
    host: str
    port: int | None = Field(description="The explicit or default port (null for schemes without one).")
    path: str
    query: list[list[str]] = Field(description="Decoded query parameters as [name, value] pairs, in order.")
    fragment: str
    host_is_ip: bool = Field(description="True when the host is a literal IP address (in any spelling).")
    ip: str | None = Field(description="The address a literal IP host means, e.g. '127.0.0.1' for '2130706433'.")


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}


@DOMAIN.tool(meaning=no_facts("splits a URL the caller supplies; every part is written in the URL itself"), kind="processing", examples=[
    Example({"url": "../airports/LHR.html?x=1&y=a%20b#top", "base": "http://example.org/cities/2643743.html"},
            lambda r: r["url"] == "http://example.org/airports/LHR.html?x=1&y=a%20b#top"
            and r["query"] == [["x", "1"], ["y", "a b"]] and r["port"] == 80 and r["fragment"] == "top"),
    Example({"url": "http://0x7f000001:8080/admin"}, lambda r: r["host_is_ip"] and r["ip"] == "127.0.0.1"),
])
def parse_url(
    s: WebState,
    url: Annotated[str, Field(min_length=1, max_length=4000, description="A URL, absolute or relative to base.")],
    base: Annotated[str | None, Field(description="Base URL to resolve a relative URL against (e.g. the page it came from).")] = None,
) -> ParsedURL:
    """Resolve a (possibly relative) link against a base URL and split it into scheme, host, port, path,
    decoded query parameters and fragment; says whether the host is a literal IP and which address it means
    (decimal, octal and hex spellings included)."""
    absolute = urljoin(base, url.strip()) if base else url.strip()
    parts = urlsplit(absolute)
    if not parts.scheme:
        raise ToolFailure(f"{url!r} is relative; pass the page it came from as base")
    try:
        port = parts.port
    except ValueError as exc:
        raise ToolFailure(f"bad port in {url!r}: {exc}") from None
    host = (parts.hostname or "").lower()
    ip = literal_address(host) if host else None
    return ParsedURL(url=absolute, scheme=parts.scheme.lower(), host=host,
                     port=port if port is not None else _DEFAULT_PORTS.get(parts.scheme.lower()),
                     path=parts.path or "/", query=[[k, v] for k, v in parse_qsl(parts.query, keep_blank_values=True)],
                     fragment=parts.fragment, host_is_ip=ip is not None, ip=str(ip) if ip is not None else None)


class BuiltURL(BaseModel):
    url: str


@DOMAIN.tool(meaning=no_facts("composes a URL from parts the caller supplies"), kind="processing", examples=[
    Example({"base": "http://127.0.0.1:8000/forms/lookup.html", "path": "/api/lookup",
             "params": {"q": "São Paulo", "type": "city"}},
            lambda r: r["url"] == "http://127.0.0.1:8000/api/lookup?q=S%C3%A3o+Paulo&type=city"),
])
def build_url(
    s: WebState,
    base: Annotated[str, Field(min_length=1, description="The URL to start from (scheme and host are kept).")],
    path: Annotated[str | None, Field(description="A path to resolve against base, e.g. '/api/lookup' or 'LHR.html'.")] = None,
    params: Annotated[dict[str, str] | None, Field(description="Query parameters to set (percent-encoded for you); "
                                                               "they replace parameters of the same name.")] = None,
) -> BuiltURL:
    """Build a URL from a base, an optional path and query parameters, encoding them correctly: the way to
    compose a GET request such as the site's /api/lookup?q=...&type=... without hand-escaping."""
    url = urljoin(base, quote(path, safe="/:@!$&'()*+,;=%.~-")) if path else base
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ToolFailure(f"base must be an absolute URL such as http://host/page, got {base!r}")
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not params or k not in params]
    pairs += list((params or {}).items())
    return BuiltURL(url=urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(pairs), parts.fragment)))


class HtmlText(BaseModel):
    title: str
    text: str
    headings: list[str]
    links: list[dict[str, str]] = Field(description="Links as text and URL (absolute when base_url is given).")
    truncated: bool


@DOMAIN.tool(meaning=no_facts("converts HTML the caller supplies; a question would have to spell the HTML out"), kind="processing", examples=[
    Example({"html": "<html><head><title>T</title><style>p{}</style></head><body><h1>Hi</h1><p>One <b>two</b></p>"
                     "<script>x()</script><a href='/a'>A</a></body></html>", "base_url": "http://h/x/"},
            lambda r: r["title"] == "T" and r["text"] == "Hi\nOne two\nA" and r["links"] == [{"text": "A", "url": "http://h/a"}]),
])
def html_to_text(
    s: WebState,
    html: Annotated[str, Field(min_length=1, max_length=2_000_000, description="An HTML document or fragment.")],
    base_url: Annotated[str, Field(description="URL the HTML came from, to make its links absolute.")] = "",
    max_chars: Annotated[int, Field(ge=100, le=100_000, description="Most characters of text to return.")] = 20_000,
) -> HtmlText:
    """Convert HTML you already have (e.g. fetch_url's body) into readable text, one line per block, with
    its title, headings and links; scripts and styles are dropped."""
    soup = hx.parse(html)
    text, cut = clip_text(hx.readable_text(soup, include_chrome=True), max_chars)
    links = [{"text": link["text"], "url": link["url"]} for link in hx.links(soup, base_url)][:500]
    return HtmlText(title=hx.title_of(soup), text=text, headings=[t for _, t in hx.headings(soup)], links=links,
                    truncated=cut)


class Passage(BaseModel):
    rank: int
    index: int = Field(description="Position of the passage in the text, from 0.")
    text: str
    score: float = Field(description="bm25 relevance (higher is better).")


class RankedPassages(BaseModel):
    query: str
    passage_count: int = Field(description="Passages the text was split into.")
    passages: list[Passage]


@DOMAIN.tool(meaning=no_facts("ranks passages of text the caller supplies by relevance; a rank is the engine's choice, not a fact"), kind="processing", examples=[
    Example({"text": "Paris is the capital of France.\n\nBerlin is the capital of Germany.\n\nIron melts at 1538 C.",
             "query": "capital of Germany"},
            lambda r: r["passages"][0]["text"].startswith("Berlin") and r["passage_count"] == 3),
])
def rank_passages(
    s: WebState,
    text: Annotated[str, Field(min_length=1, max_length=2_000_000, description="The text to search (e.g. a page's text).")],
    query: Annotated[str, Field(min_length=1, max_length=500, description="What you are looking for.")],
    limit: Annotated[int, Field(ge=1, le=50, description="Most passages to return.")] = 5,
) -> RankedPassages:
    """Split a long text into passages (paragraphs, or lines when there are no blank lines) and rank them by
    relevance to a query with bm25 (SQLite FTS5): finds the part of a page that answers a question."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    if len(blocks) <= 1:
        blocks = [b.strip() for b in text.splitlines() if b.strip()]
    if not blocks:
        raise ToolFailure("the text is empty")
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE VIRTUAL TABLE p USING fts5(body, tokenize='porter unicode61 remove_diacritics 2')")
        db.executemany("INSERT INTO p (rowid, body) VALUES (?, ?)", list(enumerate(blocks)))
        rows = []
        for mode in ("all", "any"):
            expr = match_expression(query, mode)
            if not expr:
                break
            rows = db.execute("SELECT rowid, bm25(p) FROM p WHERE p MATCH ? ORDER BY bm25(p), rowid LIMIT ?",
                              (expr, limit)).fetchall()
            if rows:
                break
    finally:
        db.close()
    passages = [Passage(rank=i, index=row, text=clip_text(blocks[row], 4000)[0], score=round(-score, 4))
                for i, (row, score) in enumerate(rows, start=1)]
    return RankedPassages(query=query, passage_count=len(blocks), passages=passages)


class KeyValues(BaseModel):
    count: int
    pairs: list[list[str]] = Field(description="[label, value] pairs in text order.")
    values: dict[str, str] = Field(description="Label -> value (the first value of a repeated label).")
    numbers: dict[str, float] = Field(description="Label -> the value read as a number, where it starts with one "
                                                  "('8,961,989' -> 8961989, '16.8 °C' -> 16.8).")


_NUMBER = re.compile(r"^[-+−]?\d[\d,]*(\.\d+)?")


@DOMAIN.tool(meaning=no_facts("reads labelled values out of text the caller supplies; a question would have to spell the text out"), kind="processing", examples=[
    Example({"text": "Live population estimate: 561,654\nTemperature now: 16.8 °C\nAir quality index: 158"},
            lambda r: r["numbers"] == {"Live population estimate": 561654.0, "Temperature now": 16.8,
                                       "Air quality index": 158.0}),
    Example({"text": "Population | 8,961,989\nTime zone | Europe/London"},
            lambda r: r["values"] == {"Population": "8,961,989", "Time zone": "Europe/London"}),
])
def parse_key_values(
    s: WebState,
    text: Annotated[str, Field(min_length=1, max_length=1_000_000,
                               description="Text with 'Label: value' or 'Label | value' lines (e.g. from extract_text or browser_open).")],
) -> KeyValues:
    """Pull labelled facts out of page text: every 'Label: value', 'Label | value' or 'Label<TAB>value' line
    becomes a pair, and values that start with a number are also read as numbers (thousands separators and
    units handled)."""
    pairs: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip().lstrip("-•* ").strip()
        m = re.match(r"^([^:|\t]{1,80}?)\s*(?::|\||\t)\s*(.+)$", line)
        if not m or m.group(1).startswith(("http", "https")):
            continue
        label, value = m.group(1).strip(), m.group(2).strip()
        if label and value:
            pairs.append([label, value])
    values: dict[str, str] = {}
    numbers: dict[str, float] = {}
    for label, value in pairs:
        values.setdefault(label, value)
        num = _NUMBER.match(value.replace("−", "-"))
        if num and label not in numbers:
            numbers[label] = float(num.group(0).replace(",", ""))
    return KeyValues(count=len(pairs), pairs=pairs, values=values, numbers=numbers)


class TextDiff(BaseModel):
    only_in_a: list[str] = Field(description="Lines of a that b lacks.")
    only_in_b: list[str] = Field(description="Lines of b that a lacks.")
    common: int = Field(description="Lines both share.")
    similarity: float = Field(description="0..1 similarity of the two line sequences.")
    unified_diff: str = Field(description="A unified diff, clipped.")


@DOMAIN.tool(meaning=no_facts("compares two texts the caller supplies; a question would have to spell them out"), kind="processing", examples=[
    Example({"a": "Population: 100\nArea: 5", "b": "Population: 120\nArea: 5"},
            lambda r: r["only_in_a"] == ["Population: 100"] and r["only_in_b"] == ["Population: 120"] and r["common"] == 1),
])
def diff_texts(
    s: WebState,
    a: Annotated[str, Field(max_length=1_000_000, description="First text (e.g. one page's text).")],
    b: Annotated[str, Field(max_length=1_000_000, description="Second text.")],
    ignore_whitespace: Annotated[bool, Field(description="Compare lines with spaces collapsed.")] = True,
) -> TextDiff:
    """Compare two texts line by line: which lines only one of them has, how many they share, a similarity
    ratio and a unified diff. Use it to see what changed between two pages or two versions of one."""
    def lines(t: str) -> list[str]:
        out = [" ".join(x.split()) if ignore_whitespace else x for x in t.splitlines()]
        return [x for x in out if x.strip()]

    la, lb = lines(a), lines(b)
    matcher = difflib.SequenceMatcher(a=la, b=lb, autojunk=False)
    common = sum(block.size for block in matcher.get_matching_blocks())
    set_a, set_b = set(la), set(lb)
    diff = "\n".join(difflib.unified_diff(la, lb, "a", "b", lineterm="", n=1))
    return TextDiff(only_in_a=[x for x in la if x not in set_b][:500], only_in_b=[x for x in lb if x not in set_a][:500],
                    common=common, similarity=round(matcher.ratio(), 4), unified_diff=clip_text(diff, 20_000)[0])
