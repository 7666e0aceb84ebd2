"""The seed pool: one `Entity` per city, country, airport, element, company, stock, product and continent,
each with the domains where the build actually put it."""

from __future__ import annotations

from collections.abc import Iterable

from .catalog import Catalog
from .media import MediaItem, brand_colours, tone_frequency_hz
from .model import HELD_OUT_DOMAINS, TRAINING_DOMAINS, Entity
from .site import PageRecord

# Held-out domains follow from what an entity is: coordinates (geo), time zones or dated series (time),
# chemistry (science), money (finance).
_HELD_OUT = {
    "city": ("geo", "chrono"),
    "country": ("geo",),
    "continent": ("geo",),
    "airport": ("geo", "chrono"),
    "element": ("science",),
    "company": ("finance",),
    "stock": ("finance", "chrono"),
    "product": ("finance",),
}


def _domains(entity_id: str, kind: str, pages: dict[str, str], mentions: dict[str, set[str]],
             media: dict[str, list[MediaItem]]) -> list[str]:
    present = {"database"}  # every pool entity has rows: the pool is drawn from the database's tables
    if entity_id in pages:
        present.add("web")
    if mentions.get(entity_id):
        present.add("files")
    if entity_id in media:
        present.add("media")
    present.update(_HELD_OUT[kind])
    return [d for d in (*TRAINING_DOMAINS, *HELD_OUT_DOMAINS) if d in present]


def build_entities(cat: Catalog, records: Iterable[PageRecord], mentions: dict[str, set[str]],
                   media_items: Iterable[MediaItem]) -> list[Entity]:
    """The seed pool, sorted by id. An entity's main page (not its live page) is its `page` attribute."""
    pages: dict[str, str] = {}
    for record in records:
        if record.entity_id and not record.requires_js:
            pages[record.entity_id] = record.path
    media: dict[str, list[MediaItem]] = {}
    for item in media_items:
        media.setdefault(item.entity_id, []).append(item)
    colours = brand_colours(cat)
    drafts: list[tuple[str, str, str, dict]] = []

    for c in cat.continents:
        drafts.append((f"continent:{c.code}", "continent", c.name, {"code": c.code, "population": c.population}))
    for c in cat.countries:
        drafts.append((f"country:{c.code}", "country", c.name, {
            "code": c.code, "iso3": c.iso3, "capital": c.capital, "continent": c.continent, "population": c.population}))
    for c in cat.pool_cities:
        drafts.append((f"city:{c.id}", "city", c.name, {
            "country_code": c.country_code, "country": cat.country_name(c.country_code), "population": c.population,
            "latitude": c.latitude, "longitude": c.longitude, "timezone": c.timezone, "slug": cat.city_slug[c.id]}))
    for a in cat.pool_airports:
        drafts.append((f"airport:{a.iata}", "airport", a.name, {
            "iata": a.iata, "icao": a.icao, "city": a.city, "country_code": a.country_code,
            "city_id": cat.airport_city.get(a.iata)}))
    for e in cat.elements:
        attrs = {"number": e.number, "symbol": e.symbol, "mass": e.mass}
        if any(item.kind == "tone" for item in media.get(f"element:{e.symbol}", [])):
            attrs["tone_hz"] = tone_frequency_hz(e.number)
        drafts.append((f"element:{e.symbol}", "element", e.name, attrs))
    for c in cat.companies:
        attrs = {"sector": c.sector, "hq_city_id": c.hq_city_id, "founded": c.founded, "ticker": c.ticker}
        if c.id in colours:
            attrs["brand_color"] = colours[c.id]
        drafts.append((f"company:{c.id}", "company", c.name, attrs))
    for symbol in cat.stock_symbols:
        company = cat.company_by_ticker[symbol]
        months = sum(1 for p in cat.stock_prices if p.symbol == symbol)
        drafts.append((f"stock:{symbol}", "stock", symbol,
                       {"symbol": symbol, "company": company.name, "company_id": company.id, "months": months}))
    for p in cat.products:
        drafts.append((f"product:{p.id}", "product", p.name, {"category": p.category, "unit_price": p.unit_price}))

    entities = []
    for entity_id, kind, name, attrs in drafts:
        if entity_id in pages:
            attrs["page"] = pages[entity_id]
        entities.append(Entity(id=entity_id, type=kind, name=name,
                               domains=_domains(entity_id, kind, pages, mentions, media), attrs=attrs))
    entities.sort(key=lambda e: e.id)
    ids = [e.id for e in entities]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate entity ids in the seed pool")
    return entities
