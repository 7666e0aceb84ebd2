"""The static website of the web domain: one page per entity, index pages, forms, and JavaScript-only pages.

Pages are built as small structures (paragraphs, fact tables, link lists) and rendered twice, to HTML and
to plain text, so `site/pages.jsonl` and the database's documents hold exactly the words a page shows.
Links are relative, so the site works under any URL prefix.
"""

from __future__ import annotations

import html
import json
import posixpath
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from . import prose
from .catalog import Catalog
from .determinism import to_json, write_text
from .prose import fmt_int, fmt_money, fmt_number
from .seeded import rng_for

SITE_NAME = "DIVE World Atlas"


@dataclass
class Paragraph:
    text: str


@dataclass
class Facts:
    """A two-column table of labelled facts; a row may link its value."""

    rows: list[tuple[str, str, str | None]]
    heading: str = "Facts"


@dataclass
class LinkList:
    heading: str
    items: list[tuple[str, str]]
    """(text, URL path) pairs."""


@dataclass
class Table:
    heading: str
    columns: list[str]
    rows: list[list[tuple[str, str | None]]]
    """Each cell is (text, URL path or None)."""


@dataclass
class Raw:
    """Hand-written HTML (forms, the JavaScript mount point) with the text it shows before any script runs."""

    html: str
    text: str


Block = Paragraph | Facts | LinkList | Table | Raw


@dataclass
class Page:
    path: str
    """URL path, e.g. "/cities/2643743.html"."""
    title: str
    description: str
    entity_id: str | None
    blocks: list[Block] = field(default_factory=list)
    script: str = ""
    """Extra HTML placed at the end of <body> (the data and code of JavaScript-only pages)."""
    requires_js: bool = False


@dataclass(frozen=True)
class PageRecord:
    """One line of site/pages.jsonl: what the web server indexes for search."""

    path: str
    title: str
    entity_id: str | None
    text: str
    requires_js: bool


_NAV = (("Home", "/index.html"), ("Countries", "/countries/index.html"), ("Airports", "/airports/index.html"),
        ("Elements", "/elements/index.html"), ("Companies", "/companies/index.html"), ("Stocks", "/stocks/index.html"),
        ("Lookup", "/forms/lookup.html"), ("Contact", "/forms/contact.html"))

STYLE_CSS = """\
body { font-family: Georgia, serif; max-width: 52rem; margin: 0 auto; padding: 0 1rem; color: #222; }
header nav a { margin-right: 0.6rem; }
h1 { font-size: 1.8rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #bbb; padding: 0.2rem 0.6rem; text-align: left; }
th { background: #f2f2f2; }
footer { margin: 2rem 0; font-size: 0.85rem; color: #666; }
form label { display: block; margin-top: 0.6rem; }
"""


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _href(from_path: str, to_path: str) -> str:
    return posixpath.relpath(to_path, posixpath.dirname(from_path))


def render_html(page: Page) -> str:
    """The page as a small, valid HTML5 document."""
    here = page.path
    css = _href(here, "/style.css")
    nav = " | ".join(f'<a href="{_esc(_href(here, url))}">{_esc(label)}</a>' for label, url in _NAV)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{_esc(page.title)} - {SITE_NAME}</title>",
        f'<meta name="description" content="{_esc(page.description)}">',
        f'<link rel="stylesheet" href="{_esc(css)}">',
        "</head>",
        "<body>",
        f"<header><nav>{nav}</nav></header>",
        "<main>",
        f"<h1>{_esc(page.title)}</h1>",
    ]
    for block in page.blocks:
        out.append(_block_html(block, here))
    out.append("</main>")
    out.append(f"<footer>{SITE_NAME}: an offline site built from GeoNames, airportsdata, periodictable and "
               "vega-datasets data, with seeded companies.</footer>")
    if page.script:
        out.append(page.script)
    out.append("</body>")
    out.append("</html>")
    return "\n".join(out) + "\n"


def _link_or_text(text: str, url: str | None, here: str) -> str:
    if url is None:
        return _esc(text)
    return f'<a href="{_esc(_href(here, url))}">{_esc(text)}</a>'


def _block_html(block: Block, here: str) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{_esc(block.text)}</p>"
    if isinstance(block, Facts):
        rows = "\n".join(f"<tr><th>{_esc(label)}</th><td>{_link_or_text(value, url, here)}</td></tr>"
                         for label, value, url in block.rows)
        return f'<h2>{_esc(block.heading)}</h2>\n<table class="facts">\n<tbody>\n{rows}\n</tbody>\n</table>'
    if isinstance(block, LinkList):
        items = "\n".join(f"<li>{_link_or_text(text, url, here)}</li>" for text, url in block.items)
        return f"<h2>{_esc(block.heading)}</h2>\n<ul>\n{items}\n</ul>"
    if isinstance(block, Table):
        head = "".join(f"<th>{_esc(c)}</th>" for c in block.columns)
        rows = "\n".join("<tr>" + "".join(f"<td>{_link_or_text(t, u, here)}</td>" for t, u in row) + "</tr>"
                         for row in block.rows)
        return (f"<h2>{_esc(block.heading)}</h2>\n<table>\n<thead><tr>{head}</tr></thead>\n"
                f"<tbody>\n{rows}\n</tbody>\n</table>")
    return block.html


def render_text(page: Page) -> str:
    """The words the page shows before any script runs (navigation and footer left out), one block a paragraph."""
    parts = [page.title]
    for block in page.blocks:
        if isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Facts):
            parts.append("\n".join([block.heading] + [f"{label}: {value}" for label, value, _ in block.rows]))
        elif isinstance(block, LinkList):
            parts.append("\n".join([block.heading] + [text for text, _ in block.items]))
        elif isinstance(block, Table):
            lines = [block.heading, " | ".join(block.columns)]
            lines += [" | ".join(text for text, _ in row) for row in block.rows]
            parts.append("\n".join(lines))
        else:
            parts.append(block.text)
    return "\n\n".join(p for p in parts if p)


# ---- URL paths -------------------------------------------------------------------------------------------

def country_url(code: str) -> str:
    return f"/countries/{code}.html"


def city_url(city_id: int) -> str:
    return f"/cities/{city_id}.html"


def live_url(city_id: int) -> str:
    return f"/live/{city_id}.html"


def airport_url(iata: str) -> str:
    return f"/airports/{iata}.html"


def element_url(symbol: str) -> str:
    return f"/elements/{symbol}.html"


def company_url(company_id: str) -> str:
    return f"/companies/{company_id}.html"


def stock_url(symbol: str) -> str:
    return f"/stocks/{symbol}.html"


# ---- pages -----------------------------------------------------------------------------------------------

class _SitePlan:
    """Which entities have pages, so a page links another only where that page exists."""

    def __init__(self, cat: Catalog) -> None:
        self.cat = cat
        self.city_ids = cat.page_city_ids
        self.airport_codes = cat.page_airport_codes
        self.live_ids = {c.id for c in cat.live_cities}

    def city_link(self, city_id: int | None) -> str | None:
        return city_url(city_id) if city_id in self.city_ids else None

    def airport_link(self, iata: str) -> str | None:
        return airport_url(iata) if iata in self.airport_codes else None


def _description(paragraphs: list[str], limit: int = 160) -> str:
    # Cut at a word, not at the first ". ": names such as "O. R. Tambo International Airport" hold full stops.
    first = paragraphs[0]
    if len(first) <= limit:
        return first
    return first[: first.rfind(" ", 0, limit)].rstrip(",;:") + "…"


def _city_page(plan: _SitePlan, city_id: int) -> Page:
    cat = plan.cat
    city = cat.city_by_id[city_id]
    country = cat.country_by_code[city.country_code]
    paragraphs = prose.city_prose(cat, city)
    blocks: list[Block] = [Paragraph(p) for p in paragraphs]
    blocks.append(Facts([
        ("Country", country.name, country_url(country.code)),
        ("Region code", city.admin1 or "-", None),
        ("Population", fmt_int(city.population), None),
        ("Rank in country", str(prose.city_rank_in_country(cat, city)), None),
        ("Latitude", str(city.latitude), None),
        ("Longitude", str(city.longitude), None),
        ("Time zone", city.timezone, None),
        ("GeoNames id", str(city.id), None),
    ]))
    airports = cat.page_airports_by_city.get(city.id, [])
    if airports:
        blocks.append(LinkList("Airports", [(f"{a.name} ({a.iata})", airport_url(a.iata)) for a in airports]))
    companies = cat.companies_by_city.get(city.id, [])
    if companies:
        blocks.append(LinkList("Companies headquartered here", [(c.name, company_url(c.id)) for c in companies]))
    nearby = cat.nearby_cities.get(city.id, [])
    if nearby:
        blocks.append(LinkList("Nearest large cities in the atlas",
                               [(f"{cat.city_label(cat.city_by_id[i])} ({fmt_int(km)} km)", city_url(i)) for i, km in nearby]))
    if city.id in plan.live_ids:
        blocks.append(LinkList("Live data", [(f"Live figures for {city.name}", live_url(city.id))]))
    return Page(city_url(city.id), cat.city_label(city), _description(paragraphs), f"city:{city.id}", blocks)


def _live_page(plan: _SitePlan, city_id: int, facts: dict) -> Page:
    """A page whose figures exist only in a JSON script tag until its inline script renders them."""
    cat = plan.cat
    city = cat.city_by_id[city_id]
    data = json.dumps(facts, sort_keys=True, ensure_ascii=False).replace("</", "<\\/")
    script = (
        f'<script type="application/json" id="live-data">{data}</script>\n'
        "<script>\n"
        "(function () {\n"
        "  var d = JSON.parse(document.getElementById('live-data').textContent);\n"
        "  function group(n) { return String(n).replace(/\\B(?=(\\d{3})+(?!\\d))/g, ','); }\n"
        "  var box = document.getElementById('live');\n"
        "  box.textContent = '';\n"
        "  var rows = [['Live population estimate: ', group(d.population_estimate)],\n"
        "              ['Temperature now: ', d.temperature_c.toFixed(1) + ' °C'],\n"
        "              ['Air quality index: ', String(d.air_quality_index)],\n"
        "              ['Updated: ', d.updated]];\n"
        "  var list = document.createElement('ul');\n"
        "  rows.forEach(function (r) {\n"
        "    var li = document.createElement('li');\n"
        "    li.className = 'live-fact';\n"
        "    li.textContent = r[0] + r[1];\n"
        "    list.appendChild(li);\n"
        "  });\n"
        "  box.appendChild(list);\n"
        "})();\n"
        "</script>"
    )
    blocks: list[Block] = [
        Paragraph(f"Live figures for {cat.city_label(city)}, refreshed by the page's script."),
        Raw('<div id="live"><p>Loading live data…</p></div>', "Loading live data…"),
        LinkList("See also", [(f"{city.name} city page", city_url(city.id))]),
    ]
    return Page(live_url(city.id), f"Live: {cat.city_label(city)}",
                f"Live population estimate, temperature and air quality for {city.name}.",
                f"city:{city.id}", blocks, script=script, requires_js=True)


def live_facts(cat: Catalog) -> dict[int, dict]:
    """Seeded figures of the JavaScript-only pages, per city: the page's embedded data, exactly."""
    rng = rng_for(cat.seed, "live-facts")
    facts = {}
    for city in cat.live_cities:
        facts[city.id] = {
            "city": city.name,
            "population_estimate": int(city.population * (1 + rng.uniform(-0.02, 0.06))),
            "temperature_c": round(rng.uniform(-10.0, 35.0), 1),
            "air_quality_index": rng.randint(10, 180),
            "updated": f"2024-06-{rng.randint(1, 28):02d}T12:00:00Z",
        }
    return facts


def _country_page(plan: _SitePlan, code: str) -> Page:
    cat = plan.cat
    country = cat.country_by_code[code]
    paragraphs = prose.country_prose(cat, country)
    blocks: list[Block] = [Paragraph(p) for p in paragraphs]
    capital = next((c for c in cat.cities_by_country.get(code, []) if c.name == country.capital), None)
    blocks.append(Facts([
        ("Capital", country.capital or "-", plan.city_link(capital.id) if capital else None),
        ("Continent", cat.continent_by_code[country.continent].name, None),
        ("Population", fmt_int(country.population), None),
        ("Area (km²)", fmt_number(country.area_km2), None),
        ("Currency", f"{country.currency_name} ({country.currency_code})" if country.currency_code else "-", None),
        ("Languages", country.languages or "-", None),
        ("Internet domain", country.tld or "-", None),
        ("Calling code", f"+{country.phone}" if country.phone else "-", None),
        ("ISO codes", f"{country.code} / {country.iso3}", None),
    ]))
    cities = cat.cities_by_country.get(code, [])[:25]
    if cities:
        blocks.append(Table("Largest cities", ["City", "Population", "Time zone"],
                            [[(c.name, plan.city_link(c.id)), (fmt_int(c.population), None), (c.timezone, None)]
                             for c in cities]))
    airports = [a for a in cat.page_airports if a.country_code == code][:20]
    if airports:
        blocks.append(LinkList("Airports", [(f"{a.name} ({a.iata})", airport_url(a.iata)) for a in airports]))
    neighbours = [n for n in country.neighbours.split(",") if n in cat.country_by_code]
    if neighbours:
        blocks.append(LinkList("Neighbouring countries", [(cat.country_name(n), country_url(n)) for n in sorted(neighbours)]))
    return Page(country_url(code), country.name, _description(paragraphs), f"country:{code}", blocks)


def _airport_page(plan: _SitePlan, iata: str) -> Page:
    cat = plan.cat
    airport = cat.airport_by_iata[iata]
    paragraphs = prose.airport_prose(cat, airport)
    served = cat.airport_city.get(iata)
    blocks: list[Block] = [Paragraph(p) for p in paragraphs]
    blocks.append(Facts([
        ("IATA code", airport.iata, None),
        ("ICAO code", airport.icao, None),
        ("City", airport.city or "-", plan.city_link(served) if served and cat.city_by_id[served].name == airport.city else None),
        ("Region", airport.region or "-", None),
        ("Country", cat.country_name(airport.country_code), country_url(airport.country_code)),
        ("Elevation (ft)", fmt_int(airport.elevation_ft) if airport.elevation_ft is not None else "-", None),
        ("Latitude", str(airport.latitude), None),
        ("Longitude", str(airport.longitude), None),
        ("Time zone", airport.timezone, None),
    ]))
    if served is not None and plan.city_link(served):
        blocks.append(LinkList("Serves", [(cat.city_label(cat.city_by_id[served]), city_url(served))]))
    return Page(airport_url(iata), f"{airport.name} ({iata})", _description(paragraphs), f"airport:{iata}", blocks)


def _element_page(plan: _SitePlan, index: int) -> Page:
    elements = plan.cat.elements
    element = elements[index]
    paragraphs = prose.element_prose(element)
    blocks: list[Block] = [Paragraph(p) for p in paragraphs]
    blocks.append(Facts([
        ("Atomic number", str(element.number), None),
        ("Symbol", element.symbol, None),
        ("Name", element.name, None),
        ("Atomic mass", fmt_number(element.mass), None),
        ("Density (g/cm³)", fmt_number(element.density) if element.density is not None else "unknown", None),
    ]))
    around = []
    if index > 0:
        around.append((f"Previous: {elements[index - 1].name}", element_url(elements[index - 1].symbol)))
    if index + 1 < len(elements):
        around.append((f"Next: {elements[index + 1].name}", element_url(elements[index + 1].symbol)))
    blocks.append(LinkList("Neighbours in the periodic table", around))
    return Page(element_url(element.symbol), f"{element.name} ({element.symbol})", _description(paragraphs),
                f"element:{element.symbol}", blocks)


def _company_page(plan: _SitePlan, company_id: str) -> Page:
    cat = plan.cat
    company = cat.company_by_id[company_id]
    city = cat.city_by_id[company.hq_city_id]
    paragraphs = prose.company_prose(cat, company)
    blocks: list[Block] = [Paragraph(p) for p in paragraphs]
    blocks.append(Facts([
        ("Sector", company.sector, None),
        ("Headquarters", cat.city_label(city), plan.city_link(city.id)),
        ("Founded", str(company.founded), None),
        ("Employees", fmt_int(company.employees), None),
        ("Revenue (million USD)", fmt_money(company.revenue_musd), None),
        ("Ticker", company.ticker or "-", stock_url(company.ticker) if company.ticker else None),
        ("Company id", company.id, None),
    ]))
    return Page(company_url(company.id), company.name, _description(paragraphs), f"company:{company.id}", blocks)


def _stock_page(plan: _SitePlan, symbol: str) -> Page:
    cat = plan.cat
    company = cat.company_by_ticker[symbol]
    paragraphs = prose.stock_prose(cat, symbol)
    prices = [p for p in cat.stock_prices if p.symbol == symbol]
    blocks: list[Block] = [Paragraph(p) for p in paragraphs]
    blocks.append(Facts([("Company", company.name, company_url(company.id)), ("Months", str(len(prices)), None),
                         ("First date", prices[0].date, None), ("Last date", prices[-1].date, None)]))
    blocks.append(Table("Monthly closing prices (USD)", ["Date", "Price"],
                        [[(p.date, None), (fmt_money(p.price), None)] for p in prices]))
    return Page(stock_url(symbol), f"{symbol} stock prices", _description(paragraphs), f"stock:{symbol}", blocks)


def _index_pages(plan: _SitePlan) -> list[Page]:
    cat = plan.cat
    by_continent: dict[str, list] = defaultdict(list)
    for country in cat.countries:
        by_continent[country.continent].append(country)
    countries_blocks: list[Block] = [Paragraph(f"All {len(cat.countries)} countries and territories, by continent.")]
    for code in sorted(by_continent, key=lambda c: cat.continent_by_code[c].name):
        countries_blocks.append(LinkList(cat.continent_by_code[code].name,
                                         [(c.name, country_url(c.code)) for c in sorted(by_continent[code], key=lambda c: c.name)]))
    largest = cat.cities_by_rank[:30]
    home_blocks: list[Block] = [
        Paragraph(f"The {SITE_NAME} describes {fmt_int(len(cat.countries))} countries, {fmt_int(len(cat.page_cities))} "
                  f"cities, {fmt_int(len(cat.page_airports))} airports, {len(cat.elements)} chemical elements, "
                  f"{len(cat.companies)} companies and {len(cat.stock_symbols)} stocks."),
        LinkList("Sections", [(label, url) for label, url in _NAV[1:]]),
        Table("Largest cities", ["City", "Country", "Population"],
              [[(c.name, city_url(c.id)), (cat.country_name(c.country_code), country_url(c.country_code)),
                (fmt_int(c.population), None)] for c in largest]),
    ]
    return [
        Page("/index.html", SITE_NAME, "An offline atlas of countries, cities, airports, elements, companies and stocks.",
             None, home_blocks),
        Page("/countries/index.html", "Countries", "All countries and territories of the atlas, by continent.", None,
             countries_blocks),
        Page("/airports/index.html", "Airports", "The busiest-looking airports of the atlas, with IATA codes.", None,
             [Table("Airports", ["Airport", "IATA", "Country"],
                    [[(a.name, airport_url(a.iata)), (a.iata, None), (cat.country_name(a.country_code), country_url(a.country_code))]
                     for a in sorted(cat.page_airports, key=lambda a: a.iata)])]),
        Page("/elements/index.html", "Chemical elements", "The 118 chemical elements with their symbols and masses.", None,
             [Table("Elements", ["Number", "Symbol", "Name", "Atomic mass"],
                    [[(str(e.number), None), (e.symbol, element_url(e.symbol)), (e.name, element_url(e.symbol)),
                      (fmt_number(e.mass), None)] for e in cat.elements])]),
        Page("/companies/index.html", "Companies", "Companies of the atlas with their sectors and headquarters.", None,
             [Table("Companies", ["Company", "Sector", "Headquarters"],
                    [[(c.name, company_url(c.id)), (c.sector, None),
                      (cat.city_label(cat.city_by_id[c.hq_city_id]), plan.city_link(c.hq_city_id))]
                     for c in sorted(cat.companies, key=lambda c: (c.name, c.id))])]),
        Page("/stocks/index.html", "Stocks", "Monthly stock prices 2000-2010 of five technology companies.", None,
             [LinkList("Stocks", [(f"{s} ({cat.company_by_ticker[s].name})", stock_url(s)) for s in cat.stock_symbols])]),
    ]


_CONTACT_FORM = """\
<form action="/api/contact" method="post">
<label for="name">Your name</label>
<input type="text" id="name" name="name" required>
<label for="email">Email</label>
<input type="email" id="email" name="email" required>
<label for="topic">Topic</label>
<select id="topic" name="topic">
<option value="general">General question</option>
<option value="booking">Flight booking</option>
<option value="correction">Data correction</option>
</select>
<label for="message">Message</label>
<textarea id="message" name="message" rows="6" cols="60" required></textarea>
<p><button type="submit">Send message</button></p>
</form>"""

_LOOKUP_FORM = """\
<form action="/api/lookup" method="get">
<label for="q">Name or code</label>
<input type="text" id="q" name="q" required>
<label for="type">Kind</label>
<select id="type" name="type">
<option value="any">Anything</option>
<option value="city">City</option>
<option value="country">Country</option>
<option value="airport">Airport</option>
<option value="element">Element</option>
<option value="company">Company</option>
<option value="stock">Stock</option>
</select>
<p><button type="submit">Look up</button></p>
</form>"""


def _form_pages() -> list[Page]:
    return [
        Page("/forms/contact.html", "Contact us", "Send a message to the atlas editors.", None,
             [Paragraph("Write to the atlas editors. Fields marked required must be filled in."),
              Raw(_CONTACT_FORM, "Your name\nEmail\nTopic\nMessage\nSend message")]),
        Page("/forms/lookup.html", "Look up an entity", "Look up a city, country, airport, element, company or stock.", None,
             [Paragraph("Type a name or a code (for example Paris, FR, LHR, Fe or MSFT) and choose a kind."),
              Raw(_LOOKUP_FORM, "Name or code\nKind\nLook up")]),
    ]


def build_pages(cat: Catalog) -> list[Page]:
    """Every page of the site, sorted by URL path."""
    plan = _SitePlan(cat)
    pages = _index_pages(plan) + _form_pages()
    pages += [_country_page(plan, c.code) for c in cat.countries]
    pages += [_city_page(plan, c.id) for c in cat.page_cities]
    facts = live_facts(cat)
    pages += [_live_page(plan, city_id, facts[city_id]) for city_id in sorted(facts)]
    pages += [_airport_page(plan, a.iata) for a in cat.page_airports]
    pages += [_element_page(plan, i) for i in range(len(cat.elements))]
    pages += [_company_page(plan, c.id) for c in cat.companies]
    pages += [_stock_page(plan, s) for s in cat.stock_symbols]
    return sorted(pages, key=lambda p: p.path)


def write_site(site_root: Path, pages: list[Page]) -> list[PageRecord]:
    """Write the pages, the shared stylesheet and pages.jsonl under `site_root`; return the page records."""
    write_text(site_root / "style.css", STYLE_CSS)
    records = []
    for page in pages:
        write_text(site_root / page.path.lstrip("/"), render_html(page))
        records.append(PageRecord(page.path, page.title, page.entity_id, render_text(page), page.requires_js))
    lines = [to_json({"path": r.path, "title": r.title, "entity_id": r.entity_id, "text": r.text,
                      "requires_js": r.requires_js}, indent=None) for r in records]
    write_text(site_root / "pages.jsonl", "".join(lines))
    return records
