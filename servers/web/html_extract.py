"""Reading HTML as a person would: readable text, links, metadata, tables and forms (BeautifulSoup).

Every function takes a parsed document (or HTML text) and the URL it came from, so relative links come
back absolute. Used on raw HTML fetched with httpx and on the DOM a browser rendered alike.
"""

from __future__ import annotations

import re
import warnings
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, NavigableString, Tag
from bs4.element import Comment, Doctype

#: Elements whose content is never shown as text.
INVISIBLE = ("script", "style", "noscript", "template", "head", "svg", "canvas", "iframe", "object")
#: Elements that start a new line of text.
BLOCKS = frozenset(["address", "article", "aside", "blockquote", "body", "br", "dd", "details", "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "thead", "tfoot", "tr", "ul", "caption", "label", "option", "select", "textarea", "button"])
#: Site chrome left out of readable text unless asked for.
CHROME = ("header", "nav", "footer")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


def parse(html: str) -> BeautifulSoup:
    """A parsed document (Python's own parser: no native dependency). Text that looks like a URL or a file
    name is parsed as the markup it is, without BeautifulSoup's warning that it might be a locator."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        return BeautifulSoup(html, "html.parser")


def clean(text: str) -> str:
    """Whitespace collapsed to single spaces, trimmed."""
    return " ".join(text.split())


def readable_text(soup: BeautifulSoup | Tag, *, include_chrome: bool = False) -> str:
    """The text a reader sees: scripts and styles dropped, one line per block, table cells joined by ' | '."""
    root = soup
    pieces: list[str] = []

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, (Comment, Doctype)):
                continue
            if isinstance(child, NavigableString):
                pieces.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name.lower()
            if name in INVISIBLE or (not include_chrome and name in CHROME):
                continue
            if name in ("input",) and child.get("type", "text").lower() in ("submit", "button") and child.get("value"):
                pieces.append(f" {child['value']} ")
                continue
            if name in ("td", "th"):
                pieces.append(" | ")
                walk(child)
                continue
            block = name in BLOCKS
            if block:
                pieces.append("\n")
            walk(child)
            if block:
                pieces.append("\n")

    walk(root)
    lines = []
    for raw in "".join(pieces).split("\n"):
        line = _SPACES.sub(" ", raw).strip()
        line = line.removeprefix("| ")
        if line and line != "|":
            lines.append(line)
    return "\n".join(lines)


def title_of(soup: BeautifulSoup) -> str:
    tag = soup.find("title")
    return clean(tag.get_text()) if tag else ""


def meta_description(soup: BeautifulSoup) -> str:
    tag = soup.find("meta", attrs={"name": re.compile(r"^description$", re.IGNORECASE)})
    return clean(tag.get("content", "")) if tag else ""


def headings(soup: BeautifulSoup) -> list[tuple[int, str]]:
    return [(int(h.name[1]), clean(h.get_text())) for h in soup.find_all(re.compile(r"^h[1-6]$"))]


def meta_tags(soup: BeautifulSoup) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        key = tag.get("name") or tag.get("property") or tag.get("http-equiv")
        if key and tag.get("content") is not None:
            out[str(key).lower()] = clean(str(tag["content"]))
        elif tag.get("charset"):
            out["charset"] = str(tag["charset"])
    return out


def links(soup: BeautifulSoup, base_url: str) -> list[dict[str, str]]:
    """Every `<a href>` as an absolute URL with its anchor text, in document order."""
    base = _base_href(soup, base_url)
    out = []
    for a in soup.find_all("a", href=True):
        href = str(a["href"]).strip()
        url = _joined(base, href)
        if url is None:  # not a URL anyone could open ('http://[::1', a port past 65535): no link
            continue
        region = "navigation" if a.find_parent(list(CHROME)) else "content"
        out.append({"url": url, "text": clean(a.get_text()) or clean(a.get("title", "") or a.get("aria-label", "")),
                    "region": region})
    return out


def _base_href(soup: BeautifulSoup, url: str) -> str:
    base = soup.find("base", href=True)
    return (_joined(url, str(base["href"])) or url) if base else url


def _joined(base: str, href: str) -> str | None:
    """`href` made absolute against `base`, or None when either does not parse as a URL."""
    try:
        url = urljoin(base, href)
        urlsplit(url).port  # raises for a port out of range or not a number
    except ValueError:
        return None
    return url


def same_site(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _cell_text(cell: Tag) -> str:
    return clean(cell.get_text(" "))


def tables(soup: BeautifulSoup, base_url: str) -> list[dict]:
    """Each `<table>` as a caption, a header row and data rows of cell text (plus the links found in cells)."""
    out = []
    for index, table in enumerate(soup.find_all("table")):
        caption_tag = table.find("caption")
        caption = clean(caption_tag.get_text()) if caption_tag else ""
        if not caption:
            heading = table.find_previous(re.compile(r"^h[1-6]$"))
            caption = clean(heading.get_text()) if heading else ""
        rows: list[list[str]] = []
        header: list[str] = []
        cell_links: list[dict[str, str]] = []
        for tr in table.find_all("tr"):
            if tr.find_parent("table") is not table:
                continue  # rows of a nested table belong to that table
            cells = [c for c in tr.find_all(["th", "td"]) if c.find_parent("tr") is tr]
            if not cells:
                continue
            texts = [_cell_text(c) for c in cells]
            for c in cells:
                for a in c.find_all("a", href=True):
                    cell_links.append({"text": clean(a.get_text()), "url": urljoin(base_url, str(a["href"]))})
            in_head = tr.find_parent("thead") is not None
            if not header and not rows and (in_head or all(c.name == "th" for c in cells)) and len(cells) > 1:
                header = texts
            else:
                rows.append(texts)
        kind = "key-value" if not header and rows and all(len(r) == 2 for r in rows) and all(
            tr.find("th") is not None for tr in table.find_all("tr")) else "grid"
        out.append({"index": index, "caption": caption, "kind": kind, "columns": header, "rows": rows,
                    "links": cell_links})
    return out


def forms(soup: BeautifulSoup, base_url: str) -> list[dict]:
    """Each `<form>`: absolute action URL, method, and its fields with labels, defaults and choices."""
    out = []
    labels = {str(lab["for"]): clean(lab.get_text()) for lab in soup.find_all("label", attrs={"for": True})}
    for index, form in enumerate(soup.find_all("form")):
        action = urljoin(base_url, str(form.get("action") or "")) if form.get("action") else base_url
        fields = []
        for el in form.find_all(["input", "select", "textarea", "button"]):
            name = el.get("name")
            kind = el.name if el.name != "input" else str(el.get("type", "text")).lower()
            if el.name == "button":
                kind = "submit" if str(el.get("type", "submit")).lower() == "submit" else str(el.get("type")).lower()
            label = labels.get(str(el.get("id", "")), "")
            if not label and el.find_parent("label"):
                label = clean(el.find_parent("label").get_text())
            if not label and el.name == "button":
                label = clean(el.get_text())
            options = []
            value = str(el.get("value", "")) if el.name != "textarea" else el.get_text()
            if el.name == "select":
                for opt in el.find_all("option"):
                    options.append({"value": str(opt.get("value", clean(opt.get_text()))), "label": clean(opt.get_text())})
                chosen = el.find("option", selected=True) or el.find("option")
                value = str(chosen.get("value", clean(chosen.get_text()))) if chosen else ""
            if kind in ("checkbox", "radio") and not el.has_attr("checked"):
                value = ""
            fields.append({"name": str(name) if name else "", "type": kind, "label": label,
                           "required": el.has_attr("required"), "value": value, "options": options})
        out.append({"index": index, "id": str(form.get("id", "")), "action": action,
                    "method": str(form.get("method", "get")).lower(), "fields": fields})
    return out


def form_payload(form: dict, values: dict[str, str]) -> dict[str, str]:
    """The name -> value pairs a browser would submit: defaults, overridden by `values`; unknown names refused."""
    names = [f["name"] for f in form["fields"] if f["name"] and f["type"] not in ("submit", "button", "reset", "image")]
    unknown = [k for k in values if k not in names]
    if unknown:
        raise ValueError(f"the form has no field {', '.join(map(repr, unknown))}; its fields are {', '.join(names) or 'none'}")
    payload = {}
    for field in form["fields"]:
        name = field["name"]
        if name not in names:
            continue
        value = values.get(name, field["value"])
        if field["type"] == "select" and field["options"] and value not in {o["value"] for o in field["options"]}:
            by_label = {o["label"].lower(): o["value"] for o in field["options"]}
            if str(value).lower() in by_label:
                value = by_label[str(value).lower()]
            else:
                choices = ", ".join(o["value"] for o in field["options"])
                raise ValueError(f"{value!r} is not a choice of {name!r}; choose one of {choices}")
        if field["type"] in ("checkbox", "radio") and name not in values and not value:
            continue
        payload[name] = str(value)
    return payload


def select(soup: BeautifulSoup, css: str, attribute: str | None, base_url: str) -> list[dict[str, str]]:
    """Elements matching a CSS selector: tag, text, and the requested attribute (URLs made absolute)."""
    out = []
    for el in soup.select(css):
        item = {"tag": el.name, "text": clean(el.get_text(" "))}
        if attribute:
            value = el.get(attribute)
            if isinstance(value, list):
                value = " ".join(value)
            if value is not None and attribute in ("href", "src", "action"):
                value = urljoin(base_url, str(value))
            item["attribute"] = "" if value is None else str(value)
        out.append(item)
    return out
