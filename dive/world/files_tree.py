"""The file-management domain's tree: reports, profiles, data, logs, notes, mail, projects, configs,
archives and a few duplicates, all written from the catalog so the text names real entities.

A file counts as mentioning an entity only when the entity's name (or code) really occurs in its text:
`_Tree.text` checks each candidate before recording it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import yaml

from .catalog import Catalog, haversine_km
from .determinism import tar_gz_bytes, to_json, write_bytes, write_text, zip_bytes
from .prose import fmt_int, fmt_money
from .seeded import rng_for, slugify
from .sources import Airport, City


def entity_needles(cat: Catalog) -> dict[str, tuple[str, ...]]:
    """Entity id -> the strings whose presence in a text means the text mentions the entity."""
    needles: dict[str, tuple[str, ...]] = {}
    for c in cat.continents:
        needles[f"continent:{c.code}"] = (c.name,)
    for c in cat.countries:
        needles[f"country:{c.code}"] = (c.name,)
    for c in cat.pool_cities:
        needles[f"city:{c.id}"] = (c.name,)
    for a in cat.pool_airports:
        needles[f"airport:{a.iata}"] = (a.name, a.iata)
    for e in cat.elements:
        needles[f"element:{e.symbol}"] = (e.name,)
    for c in cat.companies:
        needles[f"company:{c.id}"] = (c.name,)
    for s in cat.stock_symbols:
        needles[f"stock:{s}"] = (s,)
    for p in cat.products:
        needles[f"product:{p.id}"] = (p.name,)
    return needles


class _Tree:
    """Writes files under the root and records which pool entities each text file mentions."""

    def __init__(self, root: Path, needles: dict[str, tuple[str, ...]]) -> None:
        self.root = root
        self.needles = needles
        self.mentions: dict[str, set[str]] = defaultdict(set)
        self.contents: dict[str, bytes] = {}

    def text(self, rel: str, content: str, mentions: Iterable[str] = ()) -> None:
        if rel in self.contents:
            raise ValueError(f"two files at {rel}")
        write_text(self.root / rel, content)
        self.contents[rel] = content.encode("utf-8")
        for entity_id in mentions:
            if any(n in content for n in self.needles.get(entity_id, ())):
                self.mentions[entity_id].add(rel)

    def binary(self, rel: str, data: bytes) -> None:
        if rel in self.contents:
            raise ValueError(f"two files at {rel}")
        write_bytes(self.root / rel, data)
        self.contents[rel] = data

    def copy(self, source: str, rel: str) -> None:
        """A duplicate: same bytes under another name (for checksum and dedupe tasks)."""
        data = self.contents[source]
        write_bytes(self.root / rel, data)
        self.contents[rel] = data
        for paths in self.mentions.values():
            if source in paths:
                paths.add(rel)


def _csv_text(header: list[str], rows: Iterable[Iterable]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _yaml_text(value) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=10_000, default_flow_style=False)


def write_files_tree(root: Path, cat: Catalog) -> dict[str, set[str]]:
    """Write the files domain's tree under `root`; return entity id -> relative paths of files that mention it."""
    tree = _Tree(root, entity_needles(cat))
    _readme(tree, cat)
    _reports(tree, cat)
    _country_profiles(tree, cat)
    _city_profiles(tree, cat)
    _data(tree, cat)
    _booking_logs(tree, cat)
    _travel_notes(tree, cat)
    _inbox(tree, cat)
    _projects(tree, cat)
    _configs(tree, cat)
    _archives(tree, cat)
    _duplicates(tree, cat)
    return dict(tree.mentions)


def _readme(tree: _Tree, cat: Catalog) -> None:
    tree.text("README.md", (
        "# Shared drive\n\n"
        "Working files of the atlas team.\n\n"
        "- `reports/` city tables per country, grouped by continent\n"
        "- `profiles/` country profiles (JSON) and city profiles (YAML)\n"
        "- `data/` reference data: elements, stock prices, Seattle weather, airports, products, companies\n"
        "- `logs/` monthly flight-booking logs for 2024\n"
        "- `notes/` travel notes\n"
        "- `inbox/` letters and memos\n"
        "- `projects/` per-company project folders\n"
        "- `config/` service configuration\n"
        "- `archives/` zip and tar.gz bundles\n"
        "- `backup/` copies kept by hand\n"
    ))


def _continent_folder(cat: Catalog, code: str) -> str:
    return slugify(cat.continent_by_code[code].name)


def _reports(tree: _Tree, cat: Catalog) -> None:
    header = ["geonameid", "name", "admin1", "population", "latitude", "longitude", "timezone"]
    pool = {c.id for c in cat.pool_cities}
    for code, cities in cat.cities_by_country.items():
        folder = _continent_folder(cat, cat.country_by_code[code].continent)
        content = _csv_text(header, ([c.id, c.name, c.admin1, c.population, c.latitude, c.longitude, c.timezone]
                                     for c in cities))
        tree.text(f"reports/{folder}/{code}_cities.csv", content, [f"city:{c.id}" for c in cities if c.id in pool])


def _country_profiles(tree: _Tree, cat: Catalog) -> None:
    pool = {c.id for c in cat.pool_cities}
    for country in cat.countries:
        largest = cat.cities_by_country.get(country.code, [])[:5]
        profile = {
            "code": country.code,
            "iso3": country.iso3,
            "name": country.name,
            "continent": cat.continent_by_code[country.continent].name,
            "continent_code": country.continent,
            "capital": country.capital or None,
            "population": country.population,
            "area_km2": country.area_km2,
            "currency": {"code": country.currency_code or None, "name": country.currency_name or None},
            "languages": [x for x in country.languages.split(",") if x],
            "tld": country.tld or None,
            "calling_code": f"+{country.phone}" if country.phone else None,
            "neighbours": [x for x in country.neighbours.split(",") if x],
            "largest_cities": [{"geonameid": c.id, "name": c.name, "population": c.population} for c in largest],
        }
        mentions = [f"country:{country.code}", f"continent:{country.continent}"]
        mentions += [f"city:{c.id}" for c in largest if c.id in pool]
        tree.text(f"profiles/countries/{country.code}.json", to_json(profile), mentions)


def _city_profiles(tree: _Tree, cat: Catalog) -> None:
    for city in cat.profile_cities:
        airports = cat.page_airports_by_city.get(city.id, [])
        companies = cat.companies_by_city.get(city.id, [])
        profile = {
            "geonameid": city.id,
            "name": city.name,
            "country": {"code": city.country_code, "name": cat.country_name(city.country_code)},
            "admin1": city.admin1,
            "population": city.population,
            "coordinates": {"latitude": city.latitude, "longitude": city.longitude},
            "timezone": city.timezone,
            "airports": [{"iata": a.iata, "name": a.name} for a in airports],
            "companies": [{"id": c.id, "name": c.name, "sector": c.sector} for c in companies],
        }
        mentions = [f"city:{city.id}", f"country:{city.country_code}"]
        mentions += [f"airport:{a.iata}" for a in airports] + [f"company:{c.id}" for c in companies]
        tree.text(f"profiles/cities/{cat.city_slug[city.id]}.yaml", _yaml_text(profile), mentions)


def _data(tree: _Tree, cat: Catalog) -> None:
    tree.text("data/elements.csv",
              _csv_text(["number", "symbol", "name", "mass", "density"],
                        ([e.number, e.symbol, e.name, e.mass, "" if e.density is None else e.density] for e in cat.elements)),
              [f"element:{e.symbol}" for e in cat.elements])
    for symbol in cat.stock_symbols:
        tree.text(f"data/stocks/{symbol}.csv",
                  _csv_text(["symbol", "date", "price"], ([p.symbol, p.date, p.price] for p in cat.stock_prices if p.symbol == symbol)),
                  [f"stock:{symbol}"])
    tree.text("data/weather_seattle.csv",
              _csv_text(["date", "precipitation", "temp_max", "temp_min", "wind", "weather"],
                        ([w.date, w.precipitation, w.temp_max, w.temp_min, w.wind, w.weather] for w in cat.weather)))
    tree.text("data/airports.csv",
              _csv_text(["iata", "icao", "name", "city", "country_code", "latitude", "longitude", "elevation_ft"],
                        ([a.iata, a.icao, a.name, a.city, a.country_code, a.latitude, a.longitude,
                          "" if a.elevation_ft is None else a.elevation_ft] for a in sorted(cat.pool_airports, key=lambda a: a.iata))),
              [f"airport:{a.iata}" for a in cat.pool_airports])
    tree.text("data/products.csv",
              _csv_text(["id", "name", "category", "unit_price"], ([p.id, p.name, p.category, f"{p.unit_price:.2f}"] for p in cat.products)),
              [f"product:{p.id}" for p in cat.products])
    tree.text("data/companies.csv",
              _csv_text(["id", "name", "sector", "hq_city", "hq_country", "founded", "employees", "ticker"],
                        ([c.id, c.name, c.sector, cat.city_by_id[c.hq_city_id].name, cat.city_by_id[c.hq_city_id].country_code,
                          c.founded, c.employees, c.ticker or ""] for c in cat.companies)),
              [f"company:{c.id}" for c in cat.companies] + [f"city:{c.hq_city_id}" for c in cat.companies])


def _fare(a: Airport, b: Airport) -> tuple[int, float]:
    km = round(float(haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)))
    return km, 40.0 + 0.09 * km


def _booking_logs(tree: _Tree, cat: Catalog) -> None:
    rng = rng_for(cat.seed, "booking-logs")
    hubs = cat.pool_airports[:150]
    customers = cat.customers
    for month in range(1, 13):
        start = dt.datetime(2024, month, 1)
        end = dt.datetime(2024 + month // 12, month % 12 + 1, 1)
        seconds = int((end - start).total_seconds())
        stamps = sorted(rng.randrange(seconds) for _ in range(rng.randint(280, 420)))
        lines, mentioned = [], set()
        for offset in stamps:
            when = start + dt.timedelta(seconds=offset)
            origin, dest = rng.sample(hubs, 2)
            mentioned.update((origin.iata, dest.iata))
            km, base = _fare(origin, dest)
            fare = round(base * rng.uniform(0.8, 1.6), 2)
            ref = f"BK{rng.getrandbits(24):06X}"
            customer = rng.choice(customers).id
            route = f"{origin.iata}-{dest.iata}"
            depart = (when + dt.timedelta(days=rng.randint(3, 90))).date().isoformat()
            level = rng.choices(("INFO", "WARN", "ERROR"), cum_weights=(85, 95, 100))[0]
            if level == "INFO":
                event = (f"booking.confirmed ref={ref} customer={customer} route={route} depart={depart} "
                         f"pax={rng.choices((1, 2, 3, 4), cum_weights=(70, 90, 96, 100))[0]} fare_usd={fare:.2f} distance_km={km}")
            elif level == "WARN":
                if rng.random() < 0.5:
                    new = round(fare * rng.uniform(1.05, 1.3), 2)
                    event = f"booking.fare_changed ref={ref} route={route} old_fare_usd={fare:.2f} new_fare_usd={new:.2f}"
                else:
                    event = f"booking.seat_unavailable ref={ref} route={route} depart={depart}"
            else:
                if rng.random() < 0.6:
                    reason = rng.choice(("card_expired", "insufficient_funds", "fraud_suspected"))
                    event = f"payment.declined ref={ref} customer={customer} route={route} amount_usd={fare:.2f} reason={reason}"
                else:
                    event = f"gateway.timeout ref={ref} route={route} after_ms={rng.choice((15000, 30000, 60000))}"
            lines.append(f"{when.isoformat()}Z {level:<5} {event}\n")
        tree.text(f"logs/bookings-2024-{month:02d}.log", "".join(lines), [f"airport:{code}" for code in sorted(mentioned)])


def _cities_with_airports(cat: Catalog) -> list[City]:
    return [c for c in cat.page_cities if c.id in cat.page_airports_by_city]


def _unique(rel: str, taken: dict[str, bytes]) -> str:
    if rel not in taken:
        return rel
    stem, _, ext = rel.rpartition(".")
    n = 2
    while f"{stem}-{n}.{ext}" in taken:
        n += 1
    return f"{stem}-{n}.{ext}"


def _travel_notes(tree: _Tree, cat: Catalog) -> None:
    rng = rng_for(cat.seed, "travel-notes")
    destinations = _cities_with_airports(cat)
    origins = cat.pool_airports[:100]
    guides = {p.name: p for p in cat.products if p.category == "Books"}
    for _ in range(120):
        city = rng.choice(destinations)
        country = cat.country_name(city.country_code)
        arrival = rng.choice(cat.page_airports_by_city[city.id])
        origin = rng.choice([a for a in origins if a.iata != arrival.iata])
        day = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(366))
        companies = cat.companies_by_city.get(city.id) or [rng.choice(cat.companies)]
        company = rng.choice(companies)
        hq = cat.city_by_id[company.hq_city_id]
        ref = f"BK{rng.getrandbits(24):06X}"
        style = rng.choice(("plan", "report", "packing"))
        mentions = [f"city:{city.id}", f"country:{city.country_code}", f"airport:{arrival.iata}", f"airport:{origin.iata}",
                    f"company:{company.id}", f"city:{hq.id}"]
        if style == "plan":
            body = (f"# Trip to {city.name}, {country}\n\n"
                    f"Date: {day.isoformat()}\n"
                    f"Flight: {origin.name} ({origin.iata}) -> {arrival.name} ({arrival.iata}), booking ref {ref}\n\n"
                    "## Plan\n\n"
                    f"- {city.name} has about {fmt_int(city.population)} inhabitants; local time zone {city.timezone}.\n"
                    f"- Meeting with {company.name} ({company.sector.lower()}), headquartered in {hq.name}.\n"
                    f"- Budget: {fmt_money(rng.randint(400, 4000))} USD.\n\n"
                    "## To do\n\n"
                    f"- [ ] Confirm the hotel in {city.name}\n"
                    f"- [{'x' if rng.random() < 0.5 else ' '}] Book the transfer from {arrival.iata}\n")
        elif style == "report":
            rating = rng.randint(2, 5)
            body = (f"# {city.name} trip report\n\n"
                    f"Back from {city.name} ({country}) on {day.isoformat()}. Flew {origin.iata} to {arrival.iata} "
                    f"({arrival.name}); the flight was {rng.choice(('on time', 'delayed by an hour', 'early', 'delayed overnight'))}.\n\n"
                    f"Met the team of {company.name}. Follow-up call planned for "
                    f"{(day + dt.timedelta(days=rng.randint(7, 30))).isoformat()}.\n\n"
                    f"Rating of the trip: {rating}/5\n")
        else:
            guide = next((g for name, g in sorted(guides.items()) if city.name in name), None)
            if guide:
                mentions.append(f"product:{guide.id}")
            items = ["passport", "charger", "umbrella" if rng.random() < 0.5 else "sunglasses", "laptop", "notebook"]
            body = (f"# Packing list: {city.name}\n\n"
                    f"Leaving {day.isoformat()} from {origin.name} ({origin.iata}) to {arrival.name} ({arrival.iata}).\n\n"
                    + "".join(f"- {item}\n" for item in items)
                    + (f"- {guide.name}\n" if guide else "")
                    + f"\nVisit to {company.name} on day {rng.randint(1, 4)}.\n")
        rel = _unique(f"notes/travel/{day.isoformat()}-{cat.city_slug[city.id]}.md", tree.contents)
        tree.text(rel, body, mentions)


_SUPPORT = "support@atlas.example.com"


def _inbox(tree: _Tree, cat: Catalog) -> None:
    rng = rng_for(cat.seed, "inbox")
    kinds = ("order", "memo", "meeting", "quote")
    for i in range(150):
        kind = kinds[i % len(kinds)] if i < 8 else rng.choice(kinds)
        if kind == "order":
            order = rng.choice(cat.orders)
            customer = cat.customer_by_id[order.customer_id]
            product = cat.product_by_id[order.product_id]
            city = cat.city_by_id[customer.city_id]
            sent = dt.date.fromisoformat(order.order_date) + dt.timedelta(days=rng.randint(2, 20))
            problem = rng.choice(("has not arrived yet", "arrived damaged", "was charged twice", "is not what I expected"))
            text = (f"From: {customer.name} <{customer.email}>\nTo: {_SUPPORT}\nDate: {sent.isoformat()}\n"
                    f"Subject: Order {order.id}: {product.name}\n\n"
                    f"Hello,\n\nI ordered {order.quantity} x {product.name} (order {order.id}, {order.amount:.2f} USD) on "
                    f"{order.order_date} and it {problem}. I live in {city.name}, {cat.country_name(city.country_code)}.\n\n"
                    f"Regards,\n{customer.name}\n")
            mentions = [f"product:{product.id}", f"city:{city.id}", f"country:{city.country_code}"]
            rel = f"inbox/{sent.isoformat()}-order-{order.id}.txt"
        elif kind == "memo":
            company = rng.choice(cat.companies)
            city = rng.choice(cat.page_cities)
            sent = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(366))
            topic = rng.choice((f"Opening of a new office in {city.name}", f"Quarterly review in {city.name}",
                                f"Hiring plan for {city.name}"))
            text = (f"MEMO\nTo: All staff\nFrom: Office of the CEO, {company.name}\nDate: {sent.isoformat()}\nRe: {topic}\n\n"
                    f"{company.name} employs {fmt_int(company.employees)} people today. Next quarter we focus on "
                    f"{city.name} ({cat.country_name(city.country_code)}), a city of {fmt_int(city.population)} people.\n"
                    f"Questions go to your manager.\n")
            mentions = [f"company:{company.id}", f"city:{city.id}", f"country:{city.country_code}"]
            rel = f"inbox/{sent.isoformat()}-memo-{slugify(company.name)}.txt"
        elif kind == "meeting":
            city = rng.choice(_cities_with_airports(cat))
            airport = rng.choice(cat.page_airports_by_city[city.id])
            company = rng.choice(cat.companies_by_city.get(city.id) or cat.companies)
            day = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(366))
            text = (f"From: events@atlas.example.com\nTo: team@atlas.example.com\nDate: {(day - dt.timedelta(days=14)).isoformat()}\n"
                    f"Subject: Meeting in {city.name} on {day.isoformat()}\n\n"
                    f"Hi all,\n\nWe meet {company.name} in {city.name} on {day.isoformat()} at {rng.randint(9, 16)}:00 local time "
                    f"({city.timezone}). Please fly into {airport.name} ({airport.iata}).\n\nThanks\n")
            mentions = [f"city:{city.id}", f"airport:{airport.iata}", f"company:{company.id}"]
            rel = f"inbox/{(day - dt.timedelta(days=14)).isoformat()}-meeting-{cat.city_slug[city.id]}.txt"
        else:
            element = rng.choice(cat.elements[:92])  # naturally occurring ones: nobody buys oganesson
            company = rng.choice(cat.companies)
            kg = rng.choice((5, 10, 25, 50, 100, 250))
            price = round(rng.uniform(2, 900), 2)
            sent = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(366))
            text = (f"QUOTE\nSupplier: {company.name}\nDate: {sent.isoformat()}\n\n"
                    f"Material: {element.name} (symbol {element.symbol}, atomic number {element.number})\n"
                    f"Quantity: {kg} kg\nUnit price: {price:.2f} USD/kg\nTotal: {kg * price:.2f} USD\n\n"
                    f"Valid for 30 days.\n")
            mentions = [f"element:{element.symbol}", f"company:{company.id}"]
            rel = f"inbox/{sent.isoformat()}-quote-{element.name.lower()}.txt"
        tree.text(_unique(rel, tree.contents), text, mentions)


def _projects(tree: _Tree, cat: Catalog) -> None:
    rng = rng_for(cat.seed, "projects")
    for company in sorted(rng.sample(cat.companies[5:], 20), key=lambda c: c.id):
        city = cat.city_by_id[company.hq_city_id]
        base = f"projects/{slugify(company.name)}"
        lead = f"{rng.choice(('Ana', 'Ben', 'Chen', 'Dmitri', 'Elena', 'Fatima', 'Hugo', 'Priya'))} {rng.choice(('Silva', 'Kim', 'Okafor', 'Weber', 'Tanaka', 'Patel'))}"
        mentions = [f"company:{company.id}", f"city:{city.id}"]
        tree.text(f"{base}/README.md",
                  f"# {company.name}\n\nSector: {company.sector}\nHeadquarters: {cat.city_label(city)}\n"
                  f"Founded: {company.founded}\nProject lead: {lead}\n\nFolders: one per year and quarter, budgets as CSV.\n",
                  mentions)
        for quarter in (1, 2, 3, 4):
            rows = [[company.name, f"2024-Q{quarter}", category, f"{rng.uniform(1_000, 250_000):.2f}"]
                    for category in ("salaries", "travel", "equipment", "marketing")]
            tree.text(f"{base}/2024/q{quarter}/budget.csv",
                      _csv_text(["company", "quarter", "category", "amount_usd"], rows), [f"company:{company.id}"])
        for _ in range(2):
            day = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(366))
            tree.text(_unique(f"{base}/meetings/{day.isoformat()}.md", tree.contents),
                      f"# Meeting {day.isoformat()}\n\nAttendees: {lead} and the {company.name} board.\n\n"
                      f"- Reviewed the budget for 2024.\n- Next meeting in {city.name}.\n", mentions)


def _configs(tree: _Tree, cat: Catalog) -> None:
    hubs = {}
    for continent in cat.continents:
        top = [a for a in cat.page_airports if cat.country_by_code[a.country_code].continent == continent.code][:3]
        if top:
            hubs[slugify(continent.name)] = [{"iata": a.iata, "name": a.name} for a in top]
    hub_ids = [f"airport:{a['iata']}" for items in hubs.values() for a in items]
    tree.text("config/hubs.yaml", _yaml_text({"hubs": hubs}), hub_ids)
    tree.text("config/app.yaml", _yaml_text({
        "service": {"name": "atlas-bookings", "port": 8080, "workers": 4, "timezone": "UTC"},
        "search": {"max_results": 25, "fuzzy": True},
        "features": {"live_pages": True, "fare_alerts": False},
    }))
    tree.text("config/database.json", to_json({
        "engine": "sqlite", "path": "db/world.sqlite", "pool_size": 5, "timeout_s": 30, "read_only": True,
    }))
    tree.text("config/logging.ini",
              "[loggers]\nkeys=root,bookings\n\n[handlers]\nkeys=file\n\n[formatters]\nkeys=plain\n\n"
              "[logger_root]\nlevel=WARNING\nhandlers=file\n\n"
              "[logger_bookings]\nlevel=INFO\nhandlers=file\nqualname=bookings\npropagate=0\n\n"
              "[handler_file]\nclass=FileHandler\nformatter=plain\nargs=('logs/bookings.log',)\n\n"
              "[formatter_plain]\nformat=%(asctime)s %(levelname)-5s %(message)s\n")
    tree.text("config/pipeline.toml",
              '[pipeline]\nname = "nightly-reports"\nschedule = "0 2 * * *"\nretries = 3\n\n'
              '[pipeline.inputs]\ncities = "reports"\nprofiles = "profiles/countries"\n\n'
              '[pipeline.outputs]\nformat = "csv"\ncompress = true\n')
    currencies: dict[str, dict] = {}
    for country in cat.countries:
        if country.currency_code:
            entry = currencies.setdefault(country.currency_code, {"name": country.currency_name, "countries": []})
            entry["countries"].append(country.code)
    tree.text("config/currencies.json", to_json(dict(sorted(currencies.items()))))
    for env, level, workers in (("production", "WARNING", 8), ("staging", "INFO", 2)):
        tree.text(f"config/env/{env}.ini", f"[server]\nhost = 0.0.0.0\nport = 8080\nworkers = {workers}\n\n[log]\nlevel = {level}\n")


def _archives(tree: _Tree, cat: Catalog) -> None:
    europe = [f"reports/europe/{code}_cities.csv" for code in ("DE", "ES", "FR", "GB", "IT")]
    tree.binary("archives/reports_europe.zip", zip_bytes((p.split("/")[-1], tree.contents[p]) for p in europe))
    stocks = [f"data/stocks/{s}.csv" for s in cat.stock_symbols]
    tree.binary("archives/stocks.zip", zip_bytes((f"stocks/{p.split('/')[-1]}", tree.contents[p]) for p in stocks))
    profiles = [f"profiles/cities/{cat.city_slug[c.id]}.yaml" for c in cat.profile_cities[:20]]
    tree.binary("archives/city_profiles_top20.tar.gz",
                tar_gz_bytes((f"city_profiles/{p.split('/')[-1]}", tree.contents[p]) for p in profiles))
    logs = [f"logs/bookings-2024-{m:02d}.log" for m in (1, 2, 3)]
    tree.binary("archives/bookings_2024_q1.tar.gz", tar_gz_bytes((p.split("/")[-1], tree.contents[p]) for p in logs))


def _duplicates(tree: _Tree, cat: Catalog) -> None:
    first_note = min(p for p in tree.contents if p.startswith("notes/travel/"))
    first_mail = min(p for p in tree.contents if p.startswith("inbox/"))
    for source, copy in (
        ("logs/bookings-2024-01.log", "backup/2024/bookings-2024-01.log"),
        ("data/elements.csv", "backup/2024/elements.csv"),
        ("profiles/countries/FR.json", "backup/profiles/FR.json"),
        (first_note, f"backup/notes/{first_note.split('/')[-1]}"),
        (first_mail, f"backup/inbox/{first_mail.split('/')[-1]}"),
        ("data/stocks/MSFT.csv", "data/stocks/archive/MSFT_2010.csv"),
    ):
        tree.copy(source, copy)
