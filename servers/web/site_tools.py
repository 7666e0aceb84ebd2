"""Tools about the world site as a whole: where it is, ranked search, its pages, links into a page, policy."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from dive.servers.kit import Example, Fact, Items, Meaning, Takes, ToolFailure, no_facts
from pydantic import BaseModel, Field

from .site_server import CONTACT_TOPICS, LOOKUP_KINDS
from .state import DOMAIN, WebState

Section = Literal["home", "countries", "cities", "airports", "elements", "companies", "stocks", "live", "forms"]


class SiteInfo(BaseModel):
    base_url: str = Field(description="Absolute URL of the world site's home page; every site path is relative to it.")
    site_name: str
    page_count: int = Field(description="Number of indexed pages.")
    sections: dict[str, int] = Field(description="Pages per section (first URL path segment).")
    forms: list[str] = Field(description="URLs of the site's HTML forms.")
    api_endpoints: list[str] = Field(description="The /api endpoints the forms submit to, with their method.")
    network: str = Field(description="What the web tools may reach in this server.")
    allow_net: bool
    allow_hosts: list[str]


@DOMAIN.tool(meaning=no_facts("describes the site's layout (sections, page counts, forms) and this server's network policy, not the world"), kind="retrieval", examples=[
    Example({}, lambda r: r["base_url"] == "http://atlas.dive.test/index.html" and r["sections"]["elements"] >= 118
            and any(u.endswith("/forms/lookup.html") for u in r["forms"])),
])
def site_info(s: WebState) -> SiteInfo:
    """Where the world's website is served and what it holds: its base URL (use it, or plain paths such as
    '/cities/2643743.html', with every other web tool), its sections with page counts, its forms and the
    /api endpoints behind them, and whether the real internet is reachable from this server."""
    index = s.index
    return SiteInfo(
        base_url=s.site_url("/index.html"),
        site_name="DIVE World Atlas",
        page_count=len(index.pages),
        sections=index.sections(),
        forms=[s.site_url(p) for p in sorted(index.pages) if p.startswith("/forms/")],
        api_endpoints=[(f"GET {s.site_url('/api/lookup')}?q=NAME_OR_CODE&type={'|'.join(LOOKUP_KINDS)} "
                        "(add &format=json for JSON)"),
                       (f"POST {s.site_url('/api/contact')} fields name, email, topic "
                        f"({'|'.join(CONTACT_TOPICS)}), message")],
        network=s.policy.describe(),
        allow_net=s.policy.allow_net,
        allow_hosts=sorted(s.policy.allow_hosts),
    )


class SearchHit(BaseModel):
    rank: int
    title: str
    url: str = Field(description="Absolute URL of the page.")
    path: str = Field(description="The page's path on the site.")
    entity_id: str | None = Field(description="World entity the page is about, e.g. 'city:2643743'.")
    section: str
    snippet: str = Field(description="Matching passage; matched words are in [brackets].")
    score: float = Field(description="bm25 relevance (higher is better).")
    requires_js: bool = Field(description="True when the page's figures appear only after JavaScript runs.")


class SearchResult(BaseModel):
    query: str
    mode: str = Field(description="'all' when every word had to match, 'any' when that found nothing.")
    count: int
    results: list[SearchHit]


@DOMAIN.tool(meaning=no_facts("ranks pages by relevance; which pages come back, and in what order, is the engine's choice, not a fact"), kind="retrieval", examples=[
    Example({"query": "London Heathrow airport"}, lambda r: r["results"][0]["path"] == "/airports/LHR.html"),
    Example({"query": "iron chemical element", "section": "elements"},
            lambda r: r["results"][0]["entity_id"] == "element:Fe"),
])
def search_site(
    s: WebState,
    query: Annotated[str, Field(min_length=1, max_length=500, description="Words to look for, e.g. 'largest city of Peru'.")],
    section: Annotated[Section | None, Field(description="Only pages of this section.")] = None,
    limit: Annotated[int, Field(ge=1, le=50, description="Most results to return.")] = 10,
    mode: Annotated[Literal["auto", "all", "any"], Field(
        description="'all': pages containing every word; 'any': pages containing some; 'auto': all, falling back to any.")] = "auto",
) -> SearchResult:
    """Search the world site's pages with a ranked full-text index (SQLite FTS5, bm25; titles weigh most).
    Returns titles, URLs, the entity each page is about and a snippet around the matching words."""
    rows, used = s.index.search(query, limit=limit, section=section, mode=mode)
    hits = [SearchHit(rank=i, url=s.site_url(r["path"]), **r) for i, r in enumerate(rows, start=1)]
    return SearchResult(query=query, mode=used, count=len(hits), results=hits)


class PageRef(BaseModel):
    url: str
    path: str
    title: str
    entity_id: str | None
    requires_js: bool


class EntityPages(BaseModel):
    entity_id: str
    pages: list[PageRef] = Field(description="The entity's page first, then its JavaScript-only live page if it has one.")


@DOMAIN.tool(meaning=Meaning(takes={"entity_id": Takes("entity", "entity_id")}, facts=(Fact("pages[].url", "the atlas page about {entity_id}", refers_to="page", by="url"),)), kind="retrieval", examples=[
    Example({"entity_id": "element:Fe"}, lambda r: r["pages"][0]["path"] == "/elements/Fe.html"
            and r["pages"][0]["title"] == "Iron (Fe)"),
    Example({"entity_id": "country:FR"}, lambda r: r["pages"][0]["url"].endswith("/countries/FR.html")),
])
def find_entity_pages(
    s: WebState,
    entity_id: Annotated[str, Field(description="A world entity id: 'city:2643743', 'country:FR', 'airport:LHR', "
                                                "'element:Fe', 'company:c0042' or 'stock:MSFT'.")],
) -> EntityPages:
    """The site's page(s) about one world entity, by entity id: use it to go from a database row, a file or a
    search hit to the entity's web page."""
    pages = s.index.pages_for_entity(entity_id.strip())
    if not pages:
        raise ToolFailure(f"the site has no page about {entity_id!r}; ids look like 'city:2643743', 'country:FR', "
                          "'airport:LHR', 'element:Fe', 'company:c0001', 'stock:MSFT' (search_site finds others)")
    return EntityPages(entity_id=entity_id, pages=[
        PageRef(url=s.site_url(p.path), path=p.path, title=p.title, entity_id=p.entity_id, requires_js=p.requires_js)
        for p in pages])


class SitePages(BaseModel):
    section: str
    total: int = Field(description="Pages in the section (after the title filter).")
    offset: int
    next_offset: int | None = Field(description="Offset of the next batch, or null when this is the last.")
    pages: list[PageRef]


@DOMAIN.tool(meaning=no_facts("lists a site section page by page; how many pages a section has (its index page included) describes the site's layout, not the world"), kind="retrieval", examples=[
    Example({"section": "stocks"}, lambda r: r["total"] == 6 and any(p["path"] == "/stocks/MSFT.html" for p in r["pages"])),
    Example({"section": "elements", "title_contains": "iron"}, lambda r: [p["title"] for p in r["pages"]] == ["Iron (Fe)"]),
])
def list_site_pages(
    s: WebState,
    section: Annotated[Section, Field(description="Which section to list.")],
    title_contains: Annotated[str | None, Field(description="Only pages whose title contains this (case-insensitive).")] = None,
    offset: Annotated[int, Field(ge=0, description="Skip this many pages (for paging).")] = 0,
    limit: Annotated[int, Field(ge=1, le=200, description="Most pages to return.")] = 50,
) -> SitePages:
    """List the pages of one site section in path order (e.g. every stock page, or the live pages whose
    figures need JavaScript), optionally filtered by title; page through with offset/limit."""
    pages = sorted((p for p in s.index.pages.values() if p.section == section), key=lambda p: p.path)
    if title_contains:
        needle = title_contains.lower()
        pages = [p for p in pages if needle in p.title.lower()]
    batch = pages[offset: offset + limit]
    nxt = offset + limit if offset + limit < len(pages) else None
    return SitePages(section=section, total=len(pages), offset=offset, next_offset=nxt, pages=[
        PageRef(url=s.site_url(p.path), path=p.path, title=p.title, entity_id=p.entity_id, requires_js=p.requires_js)
        for p in batch])


class Backlink(BaseModel):
    url: str
    title: str
    anchor_text: str


class Backlinks(BaseModel):
    url: str
    count: int = Field(description="Links to the page, one per linking page and link text")
    pages: int = Field(description="Pages that link to it")
    links: list[Backlink]
    truncated: bool


def _site_path(s: WebState, url: str) -> str:
    absolute = s.absolute(url)
    if not s.policy.vet_url(absolute, resolve=False).is_world_site:
        raise ToolFailure(f"{url!r} is not a page of the world site ({s.policy.site_origin}/); pass a site URL or "
                          "a path like '/cities/2643743.html'")
    path = urlsplit(absolute).path or "/"
    return "/index.html" if path == "/" else path


@DOMAIN.tool(meaning=Meaning(takes={"url": Takes("page", "url")}, items=(Items("links", phrase="the atlas pages whose text links to {url}", name="url", name_type="page", name_by="url", total="pages", complete_unless="truncated", attributes={"anchor_text": "link text"}),)), kind="retrieval", examples=[
    Example({"url": "/elements/Fe.html"}, lambda r: {b["anchor_text"] for b in r["links"]} >= {"Iron", "Next: Iron", "Previous: Iron"}),
])
def find_backlinks(
    s: WebState,
    url: Annotated[str, Field(description="A world-site page, as a URL or a path such as '/countries/FR.html'.")],
    limit: Annotated[int, Field(ge=1, le=500, description="Most linking pages to return.")] = 100,
) -> Backlinks:
    """Which pages of the world site link to a given page, with the anchor text they use (site navigation
    menus left out). Answers questions like 'which airports serve this city' or 'which pages cite this country'."""
    path = _site_path(s, url)
    if path not in s.index.pages:
        raise ToolFailure(f"the site has no page {path}")
    rows = s.index.backlinks(path)
    links = [Backlink(url=s.site_url(src), title=title, anchor_text=anchor) for src, title, anchor in rows]
    return Backlinks(url=s.site_url(path), count=len(links), pages=len({src for src, _, _ in rows}), links=links[:limit],
                     truncated=len(links) > limit)


class PolicyVerdict(BaseModel):
    url: str
    allowed: bool
    reason: str
    world_site: bool = Field(description="True when the URL is on the world site.")
    policy: str = Field(description="What this server may reach.")


@DOMAIN.tool(meaning=no_facts("says what this server's network policy allows, not facts about the world"), kind="processing", examples=[
    Example({"url": "http://169.254.169.254/latest/meta-data/"}, lambda r: r["allowed"] is False and "metadata" in r["reason"]),
    Example({"url": "/index.html"}, lambda r: r["allowed"] is True and r["world_site"] is True),
    Example({"url": "file:///etc/passwd"}, lambda r: r["allowed"] is False and "scheme" in r["reason"]),
])
def check_url_policy(
    s: WebState,
    url: Annotated[str, Field(description="An absolute URL, or a world-site path such as '/index.html'.")],
) -> PolicyVerdict:
    """Say whether the web tools may open a URL under this server's network policy, and why: the world site
    is always allowed; the real internet only when the server was started with allow_net or allow_hosts;
    private, loopback, link-local and cloud-metadata addresses and non-http(s) schemes are refused."""
    absolute = s.absolute(url)
    verdict = s.policy.vet_url(absolute)
    return PolicyVerdict(url=absolute, allowed=verdict.allowed, reason=verdict.reason,
                         world_site=verdict.is_world_site, policy=s.policy.describe())
