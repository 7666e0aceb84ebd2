"""Tools that read pages over plain HTTP (httpx, no JavaScript): responses, text, links, metadata,
tables, forms, crawling and link checking."""

from __future__ import annotations

import json
import re
from collections import deque
from typing import Annotated, Any, Literal
from urllib.parse import urldefrag, urljoin, urlsplit

from dive.servers.kit import Record, Example, Items, Meaning, Takes, ToolFailure, clip_text, no_facts
from pydantic import BaseModel, Field

from . import html_extract as hx
from .http_fetch import Fetched
from .netpolicy import Refused
from .state import DOMAIN, WebState

UrlArg = Annotated[str, Field(min_length=1, max_length=2000,
                              description="An absolute http(s) URL, or a world-site path such as '/cities/2643743.html'.")]


class RedirectHop(BaseModel):
    url: str
    status: int
    location: str


def _hops(fetched: Fetched) -> list[RedirectHop]:
    return [RedirectHop(url=h.url, status=h.status, location=h.location) for h in fetched.redirects]


def load_html(s: WebState, url: str) -> tuple[Fetched, Any]:
    """Fetch `url` and parse it as HTML; refuse error statuses and non-HTML bodies with a clear message."""
    fetched = s.fetcher.fetch(url)
    if fetched.status >= 400:
        raise ToolFailure(f"HTTP {fetched.status} {fetched.reason} for {fetched.url}")
    if not fetched.is_html:
        raise ToolFailure(f"{fetched.url} is {fetched.content_type or 'not HTML'}, not an HTML page; use fetch_url "
                          "(or fetch_json for JSON)")
    return fetched, hx.parse(fetched.text)


# -- raw responses ---------------------------------------------------------------------------------------------

class FetchResponse(BaseModel):
    requested_url: str
    url: str = Field(description="Final URL after redirects.")
    status: int
    reason: str
    content_type: str
    content_length: int = Field(description="Bytes of body received.")
    redirects: list[RedirectHop]
    body: str = Field(description="The body as text (HTML source for pages), clipped to max_chars.")
    truncated: bool


@DOMAIN.tool(meaning=no_facts("returns a response as served (raw HTML source, status, content type, redirects); the facts on a page are not fields of it", url=Takes("page", "url")), kind="retrieval", examples=[
    Example({"url": "/elements/Fe.html"}, lambda r: r["status"] == 200 and r["content_type"] == "text/html"
            and "<h1>Iron (Fe)</h1>" in r["body"]),
    Example({"url": "/no/such/page.html"}, lambda r: r["status"] == 404),
])
def fetch_url(
    s: WebState,
    url: UrlArg,
    max_chars: Annotated[int, Field(ge=100, le=200_000, description="Most characters of body to return.")] = 20_000,
) -> FetchResponse:
    """GET a URL over plain HTTP (no JavaScript) and return the status, final URL, redirect chain, content
    type and the raw body (HTML source). Error statuses (404, 500) are returned, not raised."""
    fetched = s.fetcher.fetch(url)
    body, cut = clip_text(fetched.text, max_chars)
    return FetchResponse(requested_url=fetched.requested_url, url=fetched.url, status=fetched.status,
                         reason=fetched.reason, content_type=fetched.content_type, content_length=len(fetched.body),
                         redirects=_hops(fetched), body=body, truncated=cut or fetched.truncated)


class HeadersResult(BaseModel):
    url: str
    status: int
    reason: str
    method: str
    headers: dict[str, str] = Field(description="Response headers (lower-case names; repeated ones joined with ', ').")
    redirects: list[RedirectHop]


@DOMAIN.tool(meaning=no_facts("HTTP status and headers say how the site serves a URL, not facts about the world", url=Takes("page", "url")), kind="retrieval", examples=[
    Example({"url": "/style.css"}, lambda r: r["status"] == 200 and r["headers"]["content-type"].startswith("text/css")),
    Example({"url": "/api/contact", "method": "GET"}, lambda r: r["status"] == 405 and r["headers"]["allow"] == "POST"),
])
def fetch_headers(
    s: WebState,
    url: UrlArg,
    method: Annotated[Literal["HEAD", "GET"], Field(description="HEAD (headers only) or GET.")] = "HEAD",
) -> HeadersResult:
    """Request a URL and return only its status line and response headers (content type, length, caching,
    Allow, Location...), following redirects; HEAD by default so no body is transferred."""
    fetched = s.fetcher.fetch(url, method=method, max_bytes=0 if method == "HEAD" else 1_000_000)
    headers: dict[str, str] = {}
    for k, v in fetched.headers:
        k = k.lower()
        headers[k] = f"{headers[k]}, {v}" if k in headers else v
    return HeadersResult(url=fetched.url, status=fetched.status, reason=fetched.reason, method=method,
                         headers=headers, redirects=_hops(fetched))


class JsonResult(BaseModel):
    url: str
    status: int
    pointer: str
    data: Any = Field(description="The JSON value (or the part the pointer selects).")


def _json_pointer(doc: Any, pointer: str) -> Any:
    if pointer in ("", "/"):
        return doc
    if not pointer.startswith("/"):
        raise ToolFailure(f"a JSON pointer starts with '/', e.g. '/results/0/name'; got {pointer!r}")
    node = doc
    for raw in pointer.lstrip("/").split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ToolFailure(f"the pointer {pointer!r} asks for index {key!r} of a list of {len(node)}")
            node = node[int(key)]
        elif isinstance(node, dict):
            if key not in node:
                raise ToolFailure(f"the pointer {pointer!r} asks for {key!r}; present keys: {', '.join(map(str, node))}")
            node = node[key]
        else:
            raise ToolFailure(f"the pointer {pointer!r} goes below a {type(node).__name__} value")
    return node


@DOMAIN.tool(meaning=no_facts("returns the JSON answering a request the caller composes (endpoint and query string); a question would have to spell the request out"), kind="retrieval", examples=[
    Example({"url": "/api/lookup?q=LHR&type=airport&format=json", "pointer": "/results/0/name"},
            lambda r: r["data"] == "London Heathrow Airport"),
    Example({"url": "/api/lookup?q=Fe&format=json"}, lambda r: r["data"]["results"][0]["id"] == "element:Fe"),
])
def fetch_json(
    s: WebState,
    url: UrlArg,
    pointer: Annotated[str, Field(description="Optional JSON pointer (RFC 6901) selecting part of the document, "
                                              "e.g. '/results/0/name'.")] = "",
) -> JsonResult:
    """GET a JSON endpoint (sending Accept: application/json) and return the parsed value, or the part a
    JSON pointer selects. The world site's /api/lookup answers JSON with format=json."""
    fetched = s.fetcher.fetch(url, headers={"Accept": "application/json"})
    try:
        doc = json.loads(fetched.text)
    except ValueError:
        raise ToolFailure(f"{fetched.url} (HTTP {fetched.status}, {fetched.content_type}) did not return JSON") from None
    data = _json_pointer(doc, pointer)
    if len(json.dumps(data)) > 400_000:
        raise ToolFailure("the JSON value is too large to return; select a part of it with a pointer")
    return JsonResult(url=fetched.url, status=fetched.status, pointer=pointer, data=data)


# -- reading pages ---------------------------------------------------------------------------------------------

class PageText(BaseModel):
    url: str
    title: str
    text: str = Field(description="Readable text, one line per block; table cells separated by ' | '.")
    offset: int
    next_offset: int | None = Field(description="Pass as offset to read on; null at the end.")
    total_chars: int


@DOMAIN.tool(meaning=no_facts("returns a page's readable text: the facts in it are prose, not fields a question can point to; its lengths depend on the tool's text extraction", url=Takes("page", "url")), kind="retrieval", examples=[
    Example({"url": "/cities/2643743.html"},
            lambda r, w: r["title"].startswith("London, United Kingdom")
            and f"Population | {_city_population(w, 2643743):,}" in r["text"]),
])
def extract_text(
    s: WebState,
    url: UrlArg,
    include_navigation: Annotated[bool, Field(description="Keep the header menu and footer.")] = False,
    offset: Annotated[int, Field(ge=0, description="Start at this character (for paging).")] = 0,
    max_chars: Annotated[int, Field(ge=200, le=50_000, description="Most characters to return.")] = 12_000,
) -> PageText:
    """Fetch a page over HTTP and return its readable text (scripts, styles and, by default, menus removed),
    as served: text a script would add later is NOT here (use browser_open for that)."""
    fetched, soup = load_html(s, url)
    text = hx.readable_text(soup, include_chrome=include_navigation)
    part = text[offset: offset + max_chars]
    end = offset + len(part)
    return PageText(url=fetched.url, title=hx.title_of(soup), text=part, offset=offset,
                    next_offset=end if end < len(text) else None, total_chars=len(text))


class LinkItem(BaseModel):
    url: str = Field(description="Absolute URL.")
    text: str = Field(description="Anchor text.")
    region: Literal["content", "navigation"]
    same_site: bool = Field(description="True when the link stays on the page's own origin.")


class LinksResult(BaseModel):
    url: str
    count: int
    links: list[LinkItem]
    truncated: bool


@DOMAIN.tool(meaning=Meaning(takes={"url": Takes("page", "url")}, items=(Items("links", name="url", name_type="page", name_by="url", attributes={"text": "link text"}),)), kind="retrieval", examples=[
    Example({"url": "/elements/Fe.html", "include_navigation": False},
            lambda r: [(link["text"], link["url"].rsplit("/", 1)[-1]) for link in r["links"]]
            == [("Previous: Manganese", "Mn.html"), ("Next: Cobalt", "Co.html")]),
])
def extract_links(
    s: WebState,
    url: UrlArg,
    include_navigation: Annotated[bool, Field(description="Also list the header/footer menu links.")] = False,
    contains: Annotated[str | None, Field(description="Only links whose text or URL contains this (case-insensitive).")] = None,
    limit: Annotated[int, Field(ge=1, le=500, description="Most links to return.")] = 200,
) -> LinksResult:
    """List a page's hyperlinks as absolute URLs with their anchor text, in page order; menus are left out
    unless asked for. Use it to find where to go next (a city's airports, a country's cities...)."""
    fetched, soup = load_html(s, url)
    items = []
    for link in hx.links(soup, fetched.url):
        if link["region"] == "navigation" and not include_navigation:
            continue
        if contains and contains.lower() not in (link["text"] + " " + link["url"]).lower():
            continue
        items.append(LinkItem(url=link["url"], text=link["text"], region=link["region"],
                              same_site=hx.same_site(link["url"], fetched.url)))
    return LinksResult(url=fetched.url, count=len(items), links=items[:limit], truncated=len(items) > limit)


class Heading(BaseModel):
    level: int
    text: str


class PageMetadata(BaseModel):
    url: str
    status: int
    title: str
    description: str = Field(description="The meta description.")
    language: str
    canonical: str
    headings: list[Heading]
    meta: dict[str, str] = Field(description="Every <meta> name/property and its content.")
    word_count: int = Field(description="Words of readable text (menus excluded).")
    link_count: int
    table_count: int
    form_count: int
    script_count: int = Field(description="<script> elements: a hint that browser_open may show more text.")


@DOMAIN.tool(meaning=no_facts("its title, description and headings restate the page's own text; its counts of words, links, tables and scripts follow the site's page templates (and menus), not the world", url=Takes("page", "url")), kind="retrieval", examples=[
    Example({"url": "/countries/FR.html"}, lambda r: r["title"] == "France - DIVE World Atlas"
            and r["headings"][0] == {"level": 1, "text": "France"} and r["description"].startswith("France")),
])
def page_metadata(s: WebState, url: UrlArg) -> PageMetadata:
    """A page's metadata without its body: title, meta description and other meta tags, language,
    canonical URL, the outline of headings, and counts of words, links, tables, forms and scripts."""
    fetched, soup = load_html(s, url)
    html_tag = soup.find("html")
    canonical = soup.find("link", rel="canonical", href=True)
    return PageMetadata(
        url=fetched.url, status=fetched.status, title=hx.title_of(soup), description=hx.meta_description(soup),
        language=str(html_tag.get("lang", "")) if html_tag else "",
        canonical=urljoin(fetched.url, str(canonical["href"])) if canonical else "",
        headings=[Heading(level=lv, text=t) for lv, t in hx.headings(soup)],
        meta=hx.meta_tags(soup), word_count=len(hx.readable_text(soup).split()),
        link_count=len(soup.find_all("a", href=True)), table_count=len(soup.find_all("table")),
        form_count=len(soup.find_all("form")), script_count=len(soup.find_all("script")),
    )


class TableData(BaseModel):
    index: int = Field(description="Position of the table on the page, from 0.")
    caption: str = Field(description="The table's caption, else the heading above it.")
    kind: Literal["key-value", "grid"] = Field(description="'key-value': label/value rows; 'grid': columns and rows.")
    columns: list[str]
    rows: list[list[str]]
    row_count: int
    links: list[dict[str, str]] = Field(description="Links inside the cells (text and absolute URL).")


class TablesResult(BaseModel):
    url: str
    count: int
    tables: list[TableData]


def tables_result(url: str, raw: list[dict], caption_contains: str | None, max_rows: int) -> TablesResult:
    chosen = [t for t in raw if not caption_contains or caption_contains.lower() in t["caption"].lower()]
    if caption_contains and not chosen:
        captions = ", ".join(repr(t["caption"]) for t in raw) or "none"
        raise ToolFailure(f"no table on {url} has a caption containing {caption_contains!r}; captions: {captions}")
    tables = [TableData(index=t["index"], caption=t["caption"], kind=t["kind"], columns=t["columns"],
                        rows=t["rows"][:max_rows], row_count=len(t["rows"]), links=t["links"][:max_rows * 3])
              for t in chosen]
    return TablesResult(url=url, count=len(tables), tables=tables)


@DOMAIN.tool(meaning=Meaning(takes={"url": Takes("page", "url")}, records=(Record("tables[].rows", "=url", labelled=True),)), kind="retrieval", examples=[
    Example({"url": "/countries/FR.html", "caption_contains": "largest cities"},
            lambda r: r["tables"][0]["columns"] == ["City", "Population", "Time zone"]
            and r["tables"][0]["rows"][0][0] == "Paris"),
    Example({"url": "/elements/Fe.html"}, lambda r: r["tables"][0]["kind"] == "key-value"
            and ["Atomic mass", "55.845"] in r["tables"][0]["rows"]),
])
def extract_tables(
    s: WebState,
    url: UrlArg,
    caption_contains: Annotated[str | None, Field(description="Only tables whose caption/heading contains this.")] = None,
    max_rows: Annotated[int, Field(ge=1, le=2000, description="Most rows per table.")] = 200,
) -> TablesResult:
    """Turn a page's HTML tables into rows of cell text, with each table's caption (or the heading above
    it), its column names, and the links in its cells. Fact boxes come back as label/value rows."""
    fetched, soup = load_html(s, url)
    return tables_result(fetched.url, hx.tables(soup, fetched.url), caption_contains, max_rows)


class TextMatch(BaseModel):
    line: int = Field(description="Line number in the page's readable text, from 1.")
    text: str = Field(description="The matching line (clipped around the match when long).")
    match: str


class FindResult(BaseModel):
    url: str
    pattern: str
    count: int
    matches: list[TextMatch]


@DOMAIN.tool(meaning=no_facts("finds the caller's text or pattern in a page; the matches echo the pattern and a question would have to spell it out", url=Takes("page", "url")), kind="retrieval", examples=[
    Example({"url": "/cities/2643743.html", "pattern": "Heathrow"},
            lambda r: r["count"] >= 1 and "(LHR)" in r["matches"][0]["text"]),
    Example({"url": "/elements/Fe.html", "pattern": r"atomic number \d+", "regex": True},
            lambda r: r["matches"][0]["match"] == "atomic number 26"),
])
def find_in_page(
    s: WebState,
    url: UrlArg,
    pattern: Annotated[str, Field(min_length=1, max_length=300, description="Text to find (or a regular expression).")],
    regex: Annotated[bool, Field(description="Treat pattern as a Python regular expression.")] = False,
    limit: Annotated[int, Field(ge=1, le=200, description="Most matches to return.")] = 20,
) -> FindResult:
    """Find every line of a page's readable text that contains a word, phrase or regular expression
    (case-insensitive), with the exact matched text: a quick way to pull one fact out of a long page."""
    fetched, soup = load_html(s, url)
    try:
        rx = re.compile(pattern if regex else re.escape(pattern), re.IGNORECASE)
    except re.error as exc:
        raise ToolFailure(f"the regular expression does not compile: {exc}") from None
    matches = []
    for number, line in enumerate(hx.readable_text(soup, include_chrome=True).split("\n"), start=1):
        for m in rx.finditer(line):
            start = max(0, m.start() - 150)
            shown = ("…" if start else "") + line[start: m.end() + 150] + ("…" if m.end() + 150 < len(line) else "")
            matches.append(TextMatch(line=number, text=shown, match=m.group(0)))
    return FindResult(url=fetched.url, pattern=pattern, count=len(matches), matches=matches[:limit])


class SelectedElement(BaseModel):
    tag: str
    text: str
    attribute: str | None = None


class SelectResult(BaseModel):
    url: str
    selector: str
    count: int
    elements: list[SelectedElement]


@DOMAIN.tool(meaning=no_facts("answers a CSS selector the caller writes; a question cannot name the selector", url=Takes("page", "url")), kind="retrieval", examples=[
    Example({"url": "/countries/FR.html", "selector": "table.facts th"},
            lambda r: [e["text"] for e in r["elements"]][:3] == ["Capital", "Continent", "Population"]),
    Example({"url": "/index.html", "selector": "nav a", "attribute": "href"},
            lambda r: r["count"] == 8 and r["elements"][1]["attribute"].endswith("/countries/index.html")),
])
def select_elements(
    s: WebState,
    url: UrlArg,
    selector: Annotated[str, Field(min_length=1, max_length=300, description="A CSS selector, e.g. 'table.facts td' or 'h2'.")],
    attribute: Annotated[str | None, Field(description="Also return this attribute of each element (href/src made absolute).")] = None,
    limit: Annotated[int, Field(ge=1, le=500, description="Most elements to return.")] = 100,
) -> SelectResult:
    """Query a page's served HTML with a CSS selector and return each matching element's tag, text and,
    optionally, one attribute; count tells how many matched in all."""
    fetched, soup = load_html(s, url)
    try:
        found = hx.select(soup, selector, attribute, fetched.url)
    except Exception as exc:  # soupsieve raises its own error types for bad selectors
        raise ToolFailure(f"bad CSS selector {selector!r}: {exc}") from None
    return SelectResult(url=fetched.url, selector=selector, count=len(found),
                        elements=[SelectedElement(**e) for e in found[:limit]])


# -- forms -----------------------------------------------------------------------------------------------------

class FormOption(BaseModel):
    value: str
    label: str


class FormField(BaseModel):
    name: str
    type: str = Field(description="text, email, select, textarea, checkbox, submit...")
    label: str
    required: bool
    value: str = Field(description="The value submitted if you leave the field alone.")
    options: list[FormOption] = Field(description="The choices of a select field.")


class FormInfo(BaseModel):
    index: int
    id: str
    action: str = Field(description="Absolute URL the form submits to.")
    method: str
    fields: list[FormField]


class FormsResult(BaseModel):
    url: str
    count: int
    forms: list[FormInfo]


@DOMAIN.tool(meaning=no_facts("describes the structure of a page's forms (fields, actions, options), not facts about the world", url=Takes("page", "url")), kind="retrieval", examples=[
    Example({"url": "/forms/contact.html"}, lambda r: r["forms"][0]["method"] == "post"
            and r["forms"][0]["action"].endswith("/api/contact")
            and [f["name"] for f in r["forms"][0]["fields"] if f["name"]] == ["name", "email", "topic", "message"]),
])
def describe_forms(s: WebState, url: UrlArg) -> FormsResult:
    """List a page's forms: where each submits (absolute action URL and method) and its fields with their
    labels, types, whether required, default values and the choices of select boxes."""
    fetched, soup = load_html(s, url)
    forms = [FormInfo(**{**f, "fields": [FormField(**{**fld, "options": [FormOption(**o) for o in fld["options"]]})
                                          for fld in f["fields"]]}) for f in hx.forms(soup, fetched.url)]
    return FormsResult(url=fetched.url, count=len(forms), forms=forms)


class SubmitResult(BaseModel):
    form_url: str
    action: str
    method: str
    submitted: dict[str, str] = Field(description="The field values sent (defaults plus yours).")
    url: str = Field(description="URL of the response page, after redirects.")
    status: int
    title: str
    text: str = Field(description="Readable text of the response page.")
    truncated: bool
    tables: list[TableData]


@DOMAIN.tool(meaning=no_facts("returns the page a form submission with the caller's field values answers; a question would have to spell out the form and its values"), kind="retrieval", examples=[
    Example({"url": "/forms/lookup.html", "fields": {"q": "Fe", "type": "element"}},
            lambda r: r["status"] == 200 and r["tables"][0]["rows"][0][:3] == ["element", "Iron", "Fe"]),
    Example({"url": "/forms/contact.html", "fields": {"name": "Ada", "email": "ada@example.org",
                                                      "topic": "correction", "message": "The density of iron looks right."}},
            lambda r: r["status"] == 200 and "DW-" in r["text"] and r["submitted"]["topic"] == "correction"),
])
def submit_form(
    s: WebState,
    url: UrlArg,
    fields: Annotated[dict[str, str], Field(description="Field name -> value; a select takes an option value or "
                                                        "its label. Unnamed fields keep their defaults.")],
    form_index: Annotated[int, Field(ge=0, description="Which form of the page (0 = first).")] = 0,
) -> SubmitResult:
    """Fill in and submit a page's HTML form over plain HTTP (as a browser without JavaScript would: GET
    forms as a query string, POST forms as form data) and return the response page's text and tables.
    Call describe_forms first to learn the field names."""
    fetched, soup = load_html(s, url)
    forms = hx.forms(soup, fetched.url)
    if form_index >= len(forms):
        raise ToolFailure(f"{fetched.url} has {len(forms)} form(s); form_index {form_index} does not exist")
    form = forms[form_index]
    try:
        payload = hx.form_payload(form, fields)
    except ValueError as exc:
        raise ToolFailure(str(exc)) from None
    missing = [f["name"] for f in form["fields"] if f["required"] and f["name"] and not payload.get(f["name"])]
    if missing:
        raise ToolFailure(f"required field(s) left empty: {', '.join(missing)}")
    if form["method"] == "post":
        result = s.fetcher.fetch(form["action"], method="POST", data=payload)
    else:
        result = s.fetcher.fetch(urldefrag(form["action"])[0].split("?", 1)[0], params=payload)
    if result.is_html:
        page = hx.parse(result.text)
        text, cut = clip_text(hx.readable_text(page), 12_000)
        title, tables = hx.title_of(page), tables_result(result.url, hx.tables(page, result.url), None, 100).tables
    else:
        (text, cut), title, tables = clip_text(result.text, 12_000), "", []
    return SubmitResult(form_url=fetched.url, action=form["action"], method=form["method"], submitted=payload,
                        url=result.url, status=result.status, title=title, text=text, truncated=cut, tables=tables)


# -- many pages ------------------------------------------------------------------------------------------------

class CrawledPage(BaseModel):
    url: str
    depth: int
    status: int
    title: str
    links_out: int = Field(description="Content links found on the page (menus excluded).")


class CrawlResult(BaseModel):
    start_url: str
    count: int
    pages: list[CrawledPage]
    refused: list[str] = Field(description="Links not followed because the network policy refuses them.")
    reached_limit: bool = Field(description="True when max_pages stopped the crawl before it ran out of links.")


@DOMAIN.tool(meaning=Meaning(takes={"url": Takes("page", "url")}, items=(Items("pages", phrase="the atlas pages at a content-link distance of at most {max_depth} from {url}", name="url", name_type="page", name_by="url", complete_unless="reached_limit", attributes={"links_out": "number of content links"}),)), kind="retrieval", timeout=90, examples=[
    Example({"url": "/stocks/index.html", "max_depth": 1},
            lambda r: r["count"] == 6 and {p["url"].rsplit("/", 1)[-1] for p in r["pages"] if p["depth"] == 1}
            == {"AAPL.html", "AMZN.html", "GOOG.html", "IBM.html", "MSFT.html"}),
])
def crawl_site(
    s: WebState,
    url: UrlArg,
    max_depth: Annotated[int, Field(ge=0, le=4, description="Links to follow away from the start page.")] = 1,
    max_pages: Annotated[int, Field(ge=1, le=200, description="Stop after this many pages.")] = 50,
    path_prefix: Annotated[str | None, Field(description="Only follow links whose path starts with this, e.g. '/airports/'.")] = None,
) -> CrawlResult:
    """Crawl breadth-first from a page, following content links (not menus) on the same site up to a depth,
    and list every page reached with its depth, HTTP status and title: a map of what a page leads to."""
    start = s.absolute(url)
    s.policy.check_url(start)
    queue: deque[tuple[str, int]] = deque([(urldefrag(start)[0], 0)])
    seen = {urldefrag(start)[0]}
    pages: list[CrawledPage] = []
    refused: list[str] = []
    limited = False
    while queue:
        if len(pages) >= max_pages:
            limited = True
            break
        current, depth = queue.popleft()
        try:
            fetched = s.fetcher.fetch(current)
        except Refused:
            refused.append(current)
            continue
        title, out = "", []
        if fetched.is_html and fetched.status < 400:
            soup = hx.parse(fetched.text)
            title = hx.title_of(soup)
            out = [link["url"] for link in hx.links(soup, fetched.url) if link["region"] == "content"]
        pages.append(CrawledPage(url=fetched.url, depth=depth, status=fetched.status, title=title, links_out=len(out)))
        if depth >= max_depth:
            continue
        for link in out:
            link = urldefrag(link)[0]
            if link in seen or not hx.same_site(link, start):
                continue
            if path_prefix and not urlsplit(link).path.startswith(path_prefix):
                continue
            seen.add(link)
            if not s.policy.vet_url(link, resolve=False).allowed:
                refused.append(link)
                continue
            queue.append((link, depth + 1))
    return CrawlResult(start_url=start, count=len(pages), pages=pages, refused=refused, reached_limit=limited)


class LinkStatus(BaseModel):
    url: str
    text: str
    status: int = Field(description="HTTP status after redirects; 0 when no response.")
    ok: bool
    detail: str


class LinkCheckResult(BaseModel):
    url: str
    checked: int
    broken: int
    refused: int = Field(description="Links the network policy does not let the tools open.")
    links: list[LinkStatus]


@DOMAIN.tool(meaning=no_facts("reports the HTTP statuses this server gets for a page's links (on the offline site every link works); a page-limited check, not a fact about the world", url=Takes("page", "url")), kind="retrieval", timeout=90, examples=[
    Example({"url": "/cities/2643743.html"}, lambda r: r["checked"] >= 10 and r["broken"] == 0
            and all(x["status"] == 200 for x in r["links"])),
])
def check_links(
    s: WebState,
    url: UrlArg,
    include_navigation: Annotated[bool, Field(description="Also check the header/footer menu links.")] = False,
    limit: Annotated[int, Field(ge=1, le=150, description="Most distinct links to check.")] = 60,
) -> LinkCheckResult:
    """Check every distinct link on a page: request each (HEAD, falling back to GET) and report its final
    HTTP status, so broken links (4xx/5xx, no answer) and links the network policy refuses stand out."""
    fetched, soup = load_html(s, url)
    results: list[LinkStatus] = []
    seen: set[str] = set()
    for link in hx.links(soup, fetched.url):
        if link["region"] == "navigation" and not include_navigation:
            continue
        target = urldefrag(link["url"])[0]
        if target in seen or not target.startswith(("http://", "https://")):
            continue
        seen.add(target)
        if len(results) >= limit:
            break
        try:
            head = s.fetcher.fetch(target, method="HEAD", max_bytes=0)
            if head.status in (405, 501):
                head = s.fetcher.fetch(target, max_bytes=0)
            results.append(LinkStatus(url=target, text=link["text"], status=head.status, ok=head.status < 400,
                                      detail=head.reason))
        except Refused as exc:
            results.append(LinkStatus(url=target, text=link["text"], status=0, ok=False, detail=f"refused: {exc}"))
        except ToolFailure as exc:
            results.append(LinkStatus(url=target, text=link["text"], status=0, ok=False, detail=str(exc)))
    refused = sum(1 for r in results if r.detail.startswith("refused"))
    return LinkCheckResult(url=fetched.url, checked=len(results), refused=refused,
                           broken=sum(1 for r in results if not r.ok) - refused, links=results)


def _city_population(world, city_id: int) -> int:
    import sqlite3

    db = sqlite3.connect(f"file:{world.db_path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT population FROM cities WHERE id = ?", (city_id,)).fetchone()[0]
    finally:
        db.close()
