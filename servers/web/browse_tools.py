"""Tools that drive a real Chromium: pages as rendered after JavaScript, clicks, links, history, forms,
rendered tables, waiting, DOM queries, screenshots and the page's network log.

Each session has one browser tab (a Playwright page in its own context), kept across calls: open a page,
then click, fill, read or screenshot it. Every request the page makes passes the network policy.
"""

from __future__ import annotations

import struct
from typing import Annotated, Any, Literal

from dive.servers.kit import (
    Example,
    Takes,
    ToolFailure,
    atomic_write,
    clip_text,
    describe_exception,
    no_facts,
    relative_to_root,
    resolve_in_root,
)
from pydantic import BaseModel, Field

from . import html_extract as hx
from .browser import BrowserSession, now_ms
from .fetch_tools import TablesResult, UrlArg, tables_result
from .netpolicy import Refused
from .state import DOMAIN, WebState

MaxChars = Annotated[int, Field(ge=200, le=50_000, description="Most characters of page text to return.")]


class BlockedRequest(BaseModel):
    url: str
    reason: str


class PageView(BaseModel):
    url: str = Field(description="The page's URL now.")
    title: str
    status: int | None = Field(description="HTTP status of the page's document, when a navigation happened.")
    text: str = Field(description="Rendered text of the page (after JavaScript), clipped to max_chars.")
    text_chars: int = Field(description="Length of the whole rendered text.")
    truncated: bool
    redirects: list[str] = Field(description="URLs redirected through on the way, in order.")
    blocked: list[BlockedRequest] = Field(description="Requests the page tried that the network policy refused.")


async def _view(b: BrowserSession, *, status: int | None, redirects: list[str], since: int, max_chars: int,
                selector: str = "body") -> dict[str, Any]:
    snap = await b.snapshot(selector)
    text, cut = clip_text(snap["text"], max_chars)
    blocked = [{"url": e["url"], "reason": e["detail"]} for e in b.take_blocked_since(since)]
    return {"url": snap["url"], "title": snap["title"], "status": status, "text": text,
            "text_chars": len(snap["text"]), "truncated": cut, "redirects": redirects, "blocked": blocked}


def _london_check(r: dict, w) -> bool:
    return r["status"] == 200 and "London, United Kingdom" in r["title"] and "Population\t8,961,989" in r["text"]


@DOMAIN.tool(meaning=no_facts("returns a page's rendered text: the facts in it are prose, not fields a question can point to (live figures included); its lengths depend on the browser's rendering", url=Takes("page", "url")), kind="retrieval", timeout=45, examples=[
    Example({"url": "/cities/2643743.html"}, _london_check),
    Example({"url": "/elements/Fe.html", "max_chars": 400},
            lambda r: r["text"].startswith("Home") and r["truncated"] and r["text_chars"] > 400),
])
async def browser_open(
    s: WebState,
    url: UrlArg,
    wait_until: Annotated[Literal["load", "domcontentloaded", "networkidle"], Field(
        description="When the page counts as loaded: 'load' (default), 'domcontentloaded', or 'networkidle' "
                    "(also wait for scripts' requests to finish).")] = "load",
    max_chars: MaxChars = 8000,
) -> PageView:
    """Open a URL in the session's browser tab (real Chromium) and return the page as a person sees it:
    title and rendered text AFTER JavaScript has run (e.g. the site's /live/ pages show their live figures
    only in a browser). Later browser_* calls act on this page."""
    b = s.browser
    target = s.absolute(url)

    async def run() -> dict[str, Any]:
        since = now_ms()
        nav = await b.goto(target, wait_until=wait_until)
        return await _view(b, status=nav["status"], redirects=nav["redirects"], since=since, max_chars=max_chars)

    return PageView(**await b.call(run()))


class PageTextView(BaseModel):
    url: str
    title: str
    selector: str
    text: str
    offset: int
    next_offset: int | None
    total_chars: int


@DOMAIN.tool(meaning=no_facts("reads the open tab's rendered text (or the part a selector the caller writes picks): prose, not fields a question can point to", url=Takes("page", "url")), kind="retrieval", examples=[
    Example({"url": "/countries/FR.html", "selector": "table.facts"},
            lambda r: "Capital\tParis" in r["text"] and r["title"].startswith("France")),
])
async def browser_read_text(
    s: WebState,
    selector: Annotated[str, Field(description="CSS selector of the part to read; 'body' for the whole page, "
                                               "'main' for the content without menus.")] = "main",
    offset: Annotated[int, Field(ge=0, description="Start at this character (for paging through long pages).")] = 0,
    max_chars: MaxChars = 12_000,
    url: Annotated[str | None, Field(description="Open this URL first; leave empty to read the page already open.")] = None,
) -> PageTextView:
    """Read the rendered text of the open page (or of one part of it, by CSS selector), page by page with
    offset: the current state of the DOM, including anything scripts or your clicks and form entries changed."""
    b = s.browser
    target = s.absolute(url) if url else None

    async def run() -> dict[str, Any]:
        await b.page_at(target)
        snap = await b.snapshot(selector)
        text = snap["text"]
        part = text[offset: offset + max_chars]
        end = offset + len(part)
        return {"url": snap["url"], "title": snap["title"], "selector": selector, "text": part, "offset": offset,
                "next_offset": end if end < len(text) else None, "total_chars": len(text)}

    return PageTextView(**await b.call(run()))


class ActionResult(PageView):
    navigated: bool = Field(description="True when the action loaded another page.")
    action: str = Field(description="What was done, e.g. 'clicked link \"Next: Cobalt\"'.")


async def _locate_clickable(page: Any, text: str | None, selector: str | None, exact: bool, index: int):
    if selector:
        loc = page.locator(selector)
        what = f"element {selector!r}"
    else:
        assert text is not None
        loc = None
        for role in ("link", "button"):
            candidate = page.get_by_role(role, name=text, exact=exact)
            if await candidate.count():
                loc, what = candidate, f"{role} {text!r}"
                break
        if loc is None:
            loc, what = page.get_by_text(text, exact=exact), f"text {text!r}"
    count = await loc.count()
    if count == 0:
        raise ToolFailure(f"nothing on {page.url} matches the {what}; read the page (browser_read_text) for exact labels")
    if index >= count:
        raise ToolFailure(f"only {count} match(es) for the {what}; index {index} is out of range")
    return loc.nth(index), what, count


@DOMAIN.tool(meaning=no_facts("reports the browser tab's state after a click the caller chose"), kind="retrieval", timeout=45, examples=[
    Example({"text": "Next: Cobalt", "url": "/elements/Fe.html"},
            lambda r: r["navigated"] and r["url"].endswith("/elements/Co.html") and r["title"].startswith("Cobalt")),
])
async def browser_click(
    s: WebState,
    text: Annotated[str | None, Field(description="Visible text of the link, button or element to click.")] = None,
    selector: Annotated[str | None, Field(description="Or a CSS selector of the element to click.")] = None,
    exact: Annotated[bool, Field(description="Match the whole text exactly (case-sensitive) instead of a substring.")] = False,
    index: Annotated[int, Field(ge=0, description="Which match to click when several match (0 = first).")] = 0,
    url: Annotated[str | None, Field(description="Open this URL first; leave empty to act on the page already open.")] = None,
    max_chars: MaxChars = 6000,
) -> ActionResult:
    """Click an element of the open page, found by its visible text (links and buttons first) or by a CSS
    selector, as a user would; scripts react and links navigate. Returns the page afterwards."""
    if not text and not selector:
        raise ToolFailure("give the text of the element to click, or a CSS selector")
    b = s.browser
    target = s.absolute(url) if url else None

    async def run() -> dict[str, Any]:
        page = await b.page_at(target)
        since = now_ms()
        before = page.url
        element, what, _ = await _locate_clickable(page, text, selector, exact, index)
        b.pending_reset()
        try:
            await element.click()
        except Exception as exc:
            if not b.has_pending_redirect():
                refusal = b.last_refusal_since(since)
                if refusal:
                    raise Refused(refusal) from None
                raise ToolFailure(f"could not click the {what}: {str(exc).splitlines()[0]}") from None
        redirects = await b.settle()
        page = b.require_page()
        refusal = b.last_refusal_since(since)
        if refusal and page.url == before:
            raise Refused(f"the click tried to navigate: {refusal}")
        view = await _view(b, status=None, redirects=redirects, since=since, max_chars=max_chars)
        return {**view, "navigated": page.url != before, "action": f"clicked {what}"}

    return ActionResult(**await b.call(run()))


@DOMAIN.tool(meaning=no_facts("reports the browser tab's state after following a link the caller chose"), kind="retrieval", timeout=45, examples=[
    Example({"link_text": "Heathrow", "url": "/cities/2643743.html"},
            lambda r: r["url"].endswith("/airports/LHR.html") and "EGLL" in r["text"]),
])
async def browser_follow_link(
    s: WebState,
    link_text: Annotated[str, Field(min_length=1, description="Text (or part of the text) of the link to follow.")],
    index: Annotated[int, Field(ge=0, description="Which matching link to follow (0 = first).")] = 0,
    url: Annotated[str | None, Field(description="Open this URL first; leave empty to use the page already open.")] = None,
    max_chars: MaxChars = 6000,
) -> ActionResult:
    """Follow a hyperlink of the open page by its text: the link's address is resolved, checked against the
    network policy and opened in the same tab (even links meant for a new tab). Returns the new page."""
    b = s.browser
    target = s.absolute(url) if url else None

    async def run() -> dict[str, Any]:
        page = await b.page_at(target)
        links = await page.eval_on_selector_all(
            "a[href]", "els => els.map(a => [a.href, (a.innerText || a.textContent || '').trim().replace(/\\s+/g, ' ')])")
        needle = link_text.strip().lower()
        matches = [(href, label) for href, label in links if needle in label.lower()]
        exact = [m for m in matches if m[1].lower() == needle]
        matches = exact + [m for m in matches if m not in exact]
        if not matches:
            sample = ", ".join(repr(label) for _, label in links[:15])
            raise ToolFailure(f"no link on {page.url} has text containing {link_text!r}; some links: {sample}")
        if index >= len(matches):
            raise ToolFailure(f"only {len(matches)} link(s) match {link_text!r}; index {index} is out of range")
        href, label = matches[index]
        since = now_ms()
        nav = await b.goto(href)
        view = await _view(b, status=nav["status"], redirects=nav["redirects"], since=since, max_chars=max_chars)
        return {**view, "navigated": True, "action": f"followed link {label!r} to {href}"}

    return ActionResult(**await b.call(run()))


@DOMAIN.tool(meaning=no_facts("reports the browser tab's state after going back in its own history"), kind="retrieval", timeout=45, examples=[
    Example({"url": "/elements/Fe.html", "then_open": "/elements/Co.html"},
            lambda r: r["navigated"] and r["url"].endswith("/elements/Fe.html")),
])
async def browser_back(
    s: WebState,
    url: Annotated[str | None, Field(description="Open this URL first (to start a history).")] = None,
    then_open: Annotated[str | None, Field(description="Then open this URL, before going back (to set up history).")] = None,
    max_chars: MaxChars = 6000,
) -> ActionResult:
    """Go back one page in the tab's history, like the browser's Back button, and return that page."""
    b = s.browser
    first = s.absolute(url) if url else None
    second = s.absolute(then_open) if then_open else None

    async def run() -> dict[str, Any]:
        if first:
            await b.goto(first)
        if second:
            await b.goto(second)
        page = b.require_page()
        since = now_ms()
        before = page.url
        response = await page.go_back(wait_until="load")
        if response is None and page.url == before:
            raise ToolFailure("there is no previous page in this tab's history")
        redirects = await b.settle()
        view = await _view(b, status=response.status if response else None, redirects=redirects, since=since,
                           max_chars=max_chars)
        return {**view, "navigated": page.url != before, "action": f"went back from {before}"}

    return ActionResult(**await b.call(run()))


class HistoryView(BaseModel):
    current_url: str | None
    title: str
    visited: list[str] = Field(description="Pages the tab has shown, oldest first.")


@DOMAIN.tool(meaning=no_facts("reports the browser tab's own history, not facts about the world"), kind="retrieval", examples=[
    Example({"visit": ["/elements/Fe.html", "/elements/Co.html"]},
            lambda r: [u.rsplit("/", 1)[-1] for u in r["visited"]] == ["Fe.html", "Co.html"]
            and r["current_url"].endswith("/elements/Co.html")),
])
async def browser_history(
    s: WebState,
    visit: Annotated[list[str] | None, Field(max_length=10, description="URLs to open in turn first (optional).")] = None,
) -> HistoryView:
    """Where the session's browser tab is now (URL and title) and every page it has shown, oldest first."""
    b = s.browser
    targets = [s.absolute(u) for u in visit or []]

    async def run() -> dict[str, Any]:
        for t in targets:
            await b.goto(t)
        page = b.page
        if page is None:
            return {"current_url": None, "title": "", "visited": []}
        return {"current_url": page.url, "title": await page.title(), "visited": list(b.history)}

    return HistoryView(**await b.call(run()))


class FillResult(ActionResult):
    filled: dict[str, str] = Field(description="Field -> value as entered.")
    submitted: bool


async def _field_locator(page: Any, form: Any, key: str):
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    for candidate in (form.locator(f'[name="{escaped}"]'), form.locator(f'[id="{escaped}"]'),
                      form.get_by_label(key, exact=True), form.get_by_label(key)):
        if await candidate.count():
            return candidate.first
    names = await form.locator("[name]").evaluate_all("els => els.map(e => e.getAttribute('name'))")
    raise ToolFailure(f"the form on {page.url} has no field {key!r} (by name, id or label); its fields: {', '.join(names)}")


@DOMAIN.tool(meaning=no_facts("reports the browser tab's state after filling a form with the caller's values; a question would have to spell out the form and its values"), kind="retrieval", timeout=45, examples=[
    Example({"url": "/forms/lookup.html", "fields": {"q": "LHR", "type": "Airport"}},
            lambda r: r["submitted"] and "/api/lookup" in r["url"] and "London Heathrow Airport" in r["text"]),
    Example({"url": "/forms/contact.html", "fields": {"Your name": "Ada", "email": "ada@example.org",
                                                      "message": "Hello there"}},
            lambda r: r["title"].startswith("Message received") and "DW-" in r["text"]),
])
async def browser_fill_form(
    s: WebState,
    fields: Annotated[dict[str, str], Field(description="Field -> value. A field is named by its name attribute, id "
                                                        "or label; a select takes an option value or label; a "
                                                        "checkbox takes 'true'/'false'.")],
    submit: Annotated[bool, Field(description="Submit the form after filling it.")] = True,
    form_selector: Annotated[str, Field(description="CSS selector of the form when the page has several.")] = "form",
    url: Annotated[str | None, Field(description="Open this URL first; leave empty to use the page already open.")] = None,
    max_chars: MaxChars = 6000,
) -> FillResult:
    """Type values into a form of the open page (text boxes, text areas, select boxes, checkboxes) the way a
    user does, then submit it with its submit button (or Enter) and return the resulting page."""
    b = s.browser
    target = s.absolute(url) if url else None

    async def run() -> dict[str, Any]:
        page = await b.page_at(target)
        forms = page.locator(form_selector)
        if await forms.count() == 0:
            raise ToolFailure(f"no form on {page.url} matches {form_selector!r}")
        form = forms.first
        filled: dict[str, str] = {}
        for key, value in fields.items():
            field = await _field_locator(page, form, key)
            tag = await field.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
            if tag.startswith("select"):
                options = await field.evaluate("e => Array.from(e.options).map(o => [o.value, o.label])")
                value_of = {v: v for v, _ in options} | {lab.lower(): v for v, lab in options}
                chosen = value_of.get(value) or value_of.get(value.lower())
                if chosen is None:
                    raise ToolFailure(f"{value!r} is not a choice of {key!r}; choices: {', '.join(v for v, _ in options)}")
                await field.select_option(chosen)
                filled[key] = chosen
            elif tag.endswith(("checkbox", "radio")):
                await field.set_checked(value.strip().lower() in ("1", "true", "yes", "on", "checked"))
                filled[key] = value
            else:
                await field.fill(value)
                filled[key] = value
        since = now_ms()
        before = page.url
        if submit:
            b.pending_reset()
            button = form.locator("button[type=submit], button:not([type]), input[type=submit]")
            try:
                if await button.count():
                    await button.first.click()
                else:
                    await form.evaluate("f => f.requestSubmit()")
            except Exception as exc:
                if not b.has_pending_redirect():
                    refusal = b.last_refusal_since(since)
                    if refusal:
                        raise Refused(refusal) from None
                    raise ToolFailure(f"could not submit the form: {str(exc).splitlines()[0]}") from None
            redirects = await b.settle()
            refusal = b.last_refusal_since(since)
            if refusal and b.require_page().url == before:
                raise Refused(f"the form tried to navigate: {refusal}")
        else:
            redirects = []
        view = await _view(b, status=None, redirects=redirects, since=since, max_chars=max_chars)
        return {**view, "navigated": b.require_page().url != before, "filled": filled, "submitted": submit,
                "action": "filled and submitted the form" if submit else "filled the form"}

    return FillResult(**await b.call(run()))


@DOMAIN.tool(meaning=no_facts("a page's facts come as label/value rows ('Population' | '8,961,989') that a meaning cannot yet address by label; their values are display strings (names where the ontology holds codes or ids, thousands separators, units in labels)", url=Takes("page", "url")), kind="retrieval", timeout=45, examples=[
    Example({"url": "/stocks/MSFT.html", "caption_contains": "closing prices", "max_rows": 3},
            lambda r: r["tables"][0]["columns"] == ["Date", "Price"] and r["tables"][0]["rows"][0][0] == "2000-01-01"),
])
async def browser_extract_tables(
    s: WebState,
    caption_contains: Annotated[str | None, Field(description="Only tables whose caption/heading contains this.")] = None,
    max_rows: Annotated[int, Field(ge=1, le=2000, description="Most rows per table.")] = 200,
    url: Annotated[str | None, Field(description="Open this URL first; leave empty to use the page already open.")] = None,
) -> TablesResult:
    """Extract the tables of the open page as rendered now (tables that scripts built or that a form
    submission returned included): caption, columns and rows of cell text."""
    b = s.browser
    target = s.absolute(url) if url else None

    async def run() -> tuple[str, str]:
        page = await b.page_at(target)
        return page.url, await page.content()

    page_url, content = await b.call(run())
    return tables_result(page_url, hx.tables(hx.parse(content), page_url), caption_contains, max_rows)


class WaitResult(BaseModel):
    url: str
    selector: str
    state: str
    count: int = Field(description="Elements matching the selector once the wait ended.")
    text: str = Field(description="Text of the first matching element ('' when waiting for it to go away).")


@DOMAIN.tool(meaning=no_facts("waits on a CSS selector the caller writes; its count and text answer the selector, which a question cannot name"), kind="retrieval", timeout=45, examples=[
    Example({"url": "/countries/FR.html", "selector": "table.facts td"},
            lambda r: r["count"] == 9 and r["text"] == "Paris"),
])
async def browser_wait_for(
    s: WebState,
    selector: Annotated[str, Field(min_length=1, description="CSS selector to wait for, e.g. 'li.live-fact'.")],
    state: Annotated[Literal["visible", "attached", "hidden", "detached"], Field(
        description="Wait until an element is visible (default), in the DOM, hidden, or gone.")] = "visible",
    timeout_s: Annotated[float, Field(ge=0.1, le=20, description="Give up after this many seconds.")] = 10,
    url: Annotated[str | None, Field(description="Open this URL first; leave empty to use the page already open.")] = None,
) -> WaitResult:
    """Wait until an element matching a CSS selector appears (or disappears) on the open page, e.g. content
    a script adds after loading, then return how many match and the first one's text."""
    b = s.browser
    target = s.absolute(url) if url else None

    async def run() -> dict[str, Any]:
        page = await b.page_at(target)
        try:
            await page.wait_for_selector(selector, state=state, timeout=timeout_s * 1000)
        except Exception as exc:
            if describe_exception(exc).startswith("not a valid CSS selector"):
                raise ToolFailure(describe_exception(exc)) from None
            raise ToolFailure(f"{selector!r} did not become {state} within {timeout_s:g} s on {page.url}: "
                              f"{str(exc).splitlines()[0]}") from None
        loc = page.locator(selector)
        count = await loc.count()
        text = (await loc.first.inner_text()).strip() if count and state in ("visible", "attached") else ""
        return {"url": page.url, "selector": selector, "state": state, "count": count, "text": text}

    return WaitResult(**await b.call(run()))


class QueryItem(BaseModel):
    text: str
    attribute: str | None = None


class QueryResult(BaseModel):
    url: str
    selector: str
    count: int = Field(description="How many elements match in the live DOM.")
    items: list[QueryItem]


@DOMAIN.tool(meaning=no_facts("answers a CSS selector the caller writes; a question cannot name the selector"), kind="retrieval", examples=[
    Example({"url": "/cities/2643743.html", "selector": "main a[href*='airports/']"},
            lambda r: r["count"] == 7 and r["items"][3]["text"] == "London Heathrow Airport (LHR)"),
    Example({"url": "/index.html", "selector": "nav a", "attribute": "href", "limit": 2},
            lambda r: r["count"] == 8 and r["items"][0]["attribute"] == "index.html" and len(r["items"]) == 2),
])
async def browser_query_selector(
    s: WebState,
    selector: Annotated[str, Field(min_length=1, description="CSS selector, e.g. 'li.live-fact' or 'table tr'.")],
    attribute: Annotated[str | None, Field(description="Also return this attribute's value, as written in the DOM.")] = None,
    limit: Annotated[int, Field(ge=0, le=500, description="Most elements to describe (count is always total).")] = 50,
    url: Annotated[str | None, Field(description="Open this URL first; leave empty to use the page already open.")] = None,
) -> QueryResult:
    """Count the elements of the open page's live DOM that match a CSS selector and return their rendered
    text (and optionally one attribute). Read-only: it runs no script of yours."""
    b = s.browser
    target = s.absolute(url) if url else None

    async def run() -> dict[str, Any]:
        page = await b.page_at(target)
        try:
            found = await page.eval_on_selector_all(
                selector, "(els, a) => els.map(e => [(e.innerText ?? e.textContent ?? '').trim(), "
                          "a ? e.getAttribute(a) : null])", attribute)
        except Exception as exc:
            raise ToolFailure(f"bad selector {selector!r}: {str(exc).splitlines()[0]}") from None
        items = [{"text": t, "attribute": a} for t, a in found[:limit]]
        return {"url": page.url, "selector": selector, "count": len(found), "items": items}

    return QueryResult(**await b.call(run()))


class Screenshot(BaseModel):
    path: str = Field(description="Workspace-relative path of the PNG, e.g. 'screenshots/page.png'.")
    url: str = Field(description="The page that was captured.")
    width: int
    height: int
    bytes: int
    full_page: bool


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ToolFailure("the browser did not return a PNG image")
    return struct.unpack(">II", data[16:24])


@DOMAIN.tool(meaning=no_facts("saves a screenshot under a name the caller chose; its pixel size and bytes are the browser's rendering, not facts"), kind="retrieval", writes=True, timeout=45, examples=[
    Example({"url": "/elements/Fe.html", "name": "iron"},
            lambda r: r["path"] == "screenshots/iron.png" and r["width"] == 1280 and r["bytes"] > 1000),
])
async def browser_screenshot(
    s: WebState,
    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                               description="File name for the image (letters, digits, '-', '_', '.'); '.png' is added.")],
    full_page: Annotated[bool, Field(description="Capture the whole scrollable page, not just the 1280x800 viewport.")] = True,
    selector: Annotated[str | None, Field(description="Capture only the first element matching this CSS selector.")] = None,
    url: Annotated[str | None, Field(description="Open this URL first; leave empty to capture the page already open.")] = None,
) -> Screenshot:
    """Take a PNG screenshot of the open page (or of one element) and save it in the session's workspace
    under screenshots/, where media tools can open it; returns its path and pixel size."""
    stem = name[:-4] if name.lower().endswith(".png") else name
    dest = resolve_in_root(s.workspace, f"screenshots/{stem}.png")
    b = s.browser
    target = s.absolute(url) if url else None

    async def run() -> tuple[str, bytes]:
        page = await b.page_at(target)
        if selector:
            loc = page.locator(selector)
            if await loc.count() == 0:
                raise ToolFailure(f"nothing on {page.url} matches {selector!r}")
            return page.url, await loc.first.screenshot(type="png")
        return page.url, await page.screenshot(type="png", full_page=full_page)

    page_url, data = await b.call(run())
    width, height = _png_size(data)
    atomic_write(dest, data)
    return Screenshot(path=relative_to_root(s.workspace, dest), url=page_url, width=width, height=height,
                      bytes=len(data), full_page=full_page and not selector)


class ScreenshotInfo(BaseModel):
    path: str
    bytes: int
    width: int
    height: int


class ScreenshotList(BaseModel):
    count: int
    screenshots: list[ScreenshotInfo]


@DOMAIN.tool(meaning=no_facts("lists the session's own screenshots"), kind="retrieval", examples=[
    Example({}, lambda r: r["count"] == 0 and r["screenshots"] == []),
])
def list_screenshots(s: WebState) -> ScreenshotList:
    """List the screenshots saved in this session's workspace (path, size in bytes and pixels), newest last."""
    folder = s.screenshot_dir
    items = []
    if folder.is_dir():
        for file in sorted(folder.glob("*.png"), key=lambda p: (p.stat().st_mtime, p.name)):
            data = file.read_bytes()[:24]
            width, height = _png_size(data) if len(data) == 24 else (0, 0)
            items.append(ScreenshotInfo(path=relative_to_root(s.workspace, file), bytes=file.stat().st_size,
                                        width=width, height=height))
    return ScreenshotList(count=len(items), screenshots=items)


class NetworkEntry(BaseModel):
    method: str
    url: str
    resource_type: str = Field(description="document, stylesheet, script, image, fetch, xhr, websocket...")
    status: int = Field(description="HTTP status, 0 when no response.")
    outcome: Literal["ok", "redirect", "blocked", "failed"]
    detail: str = Field(description="Content type, redirect target, or why it was blocked / failed.")


class NetworkLog(BaseModel):
    page_url: str | None
    count: int
    requests: list[NetworkEntry]


@DOMAIN.tool(meaning=no_facts("reports the browser's own requests (status, outcome), not facts about the world"), kind="retrieval", examples=[
    Example({"url": "/elements/Fe.html"},
            lambda r: [(e["resource_type"], e["url"].rsplit("/", 1)[-1], e["status"]) for e in r["requests"]]
            == [("document", "Fe.html", 200), ("stylesheet", "style.css", 200)]),
])
async def browser_network_log(
    s: WebState,
    url: Annotated[str | None, Field(description="Open this URL first and log only its requests.")] = None,
    outcome: Annotated[Literal["ok", "redirect", "blocked", "failed"] | None, Field(
        description="Only requests with this outcome.")] = None,
    limit: Annotated[int, Field(ge=1, le=300, description="Most entries (the latest are kept).")] = 100,
) -> NetworkLog:
    """The requests the session's browser made (documents, stylesheets, scripts, API calls), oldest first,
    with status and outcome: which were redirected, and which the network policy blocked and why."""
    b = s.browser
    target = s.absolute(url) if url else None

    async def run() -> dict[str, Any]:
        since = 0
        if target:
            since = now_ms()
            await b.ensure_page()
            await b.goto(target)
        entries = [e for e in b.log if e["at_ms"] >= since and (outcome is None or e["outcome"] == outcome)]
        entries = entries[-limit:]
        return {"page_url": b.page.url if b.page else None, "count": len(entries),
                "requests": [{k: e[k] for k in ("method", "url", "resource_type", "status", "outcome", "detail")}
                             for e in entries]}

    return NetworkLog(**await b.call(run()))


class RenderComparison(BaseModel):
    url: str
    raw_lines: int = Field(description="Lines of text in the page as served (no JavaScript).")
    rendered_lines: int = Field(description="Lines of text after the browser ran the page's scripts.")
    only_rendered: list[str] = Field(description="Lines that exist only after JavaScript ran.")
    only_raw: list[str] = Field(description="Lines scripts removed or replaced.")


def _norm_line(line: str) -> str:
    return " ".join(line.replace("\t", " ").replace("|", " ").split())


@DOMAIN.tool(meaning=no_facts("compares a page as served with the browser's rendering of it; its lines and counts are the tools' text extraction, not facts", url=Takes("page", "url")), kind="retrieval", timeout=45, examples=[
    Example({"url": "/elements/Fe.html"}, lambda r: r["only_rendered"] == [] and r["only_raw"] == []
            and r["rendered_lines"] > 5),
])
async def compare_raw_and_rendered(s: WebState, url: UrlArg) -> RenderComparison:
    """Compare a page as served over HTTP with the same page after a browser ran its JavaScript, and list
    the lines that only scripts produce (and those they remove): tells whether a page needs browser_open."""
    from .fetch_tools import load_html

    target = s.absolute(url)
    fetched, soup = load_html(s, target)
    raw = [_norm_line(x) for x in hx.readable_text(soup, include_chrome=True).split("\n")]
    raw = [x for x in raw if x]
    b = s.browser

    async def run() -> str:
        await b.goto(target)
        return (await b.snapshot("body"))["text"]

    rendered = [x for x in (_norm_line(x) for x in (await b.call(run())).split("\n")) if x]
    raw_set, rendered_set = set(raw), set(rendered)
    return RenderComparison(url=fetched.url, raw_lines=len(raw), rendered_lines=len(rendered),
                            only_rendered=[x for x in rendered if x not in raw_set],
                            only_raw=[x for x in raw if x not in rendered_set])

