"""Everything the world is made of, in memory: the real records, the seeded ones, and the choices that tie
them together (which cities get pages, which airport serves which city, where companies sit).

The writers of each part (database, files, site, media) read one `Catalog`, so an entity chosen here
appears consistently in every domain.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from . import seeded, sources
from .seeded import Company, Customer, Order, Product, rng_for, slugify
from .sources import Airport, City, Continent, Country, Element, StockPrice, WeatherDay

POOL_CITIES = 3000
PAGE_CITIES = 1500
PROFILE_CITIES = 400
LIVE_CITIES = 50
POOL_AIRPORTS = 1300
PAGE_AIRPORTS = 600

# Airports whose name says they are not for airline passengers rank last.
_NON_PASSENGER_WORDS = ("heliport", "air base", "air force", "army", "naval", "military", "seaplane", "airstrip")
EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance in km; works on floats and numpy arrays alike."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@dataclass
class Catalog:
    """The assembled world data; lists are in their canonical (sorted) order."""

    seed: int
    continents: list[Continent]
    countries: list[Country]
    cities: list[City]
    airports: list[Airport]
    elements: list[Element]
    stock_prices: list[StockPrice]
    weather: list[WeatherDay]
    companies: list[Company]
    customers: list[Customer]
    products: list[Product]
    orders: list[Order]

    country_by_code: dict[str, Country] = field(default_factory=dict)
    continent_by_code: dict[str, Continent] = field(default_factory=dict)
    city_by_id: dict[int, City] = field(default_factory=dict)
    airport_by_iata: dict[str, Airport] = field(default_factory=dict)
    company_by_id: dict[str, Company] = field(default_factory=dict)
    customer_by_id: dict[str, Customer] = field(default_factory=dict)
    product_by_id: dict[str, Product] = field(default_factory=dict)

    cities_by_rank: list[City] = field(default_factory=list)
    """All cities, most populous first (ties by geonameid)."""
    pool_cities: list[City] = field(default_factory=list)
    page_cities: list[City] = field(default_factory=list)
    profile_cities: list[City] = field(default_factory=list)
    live_cities: list[City] = field(default_factory=list)
    city_slug: dict[int, str] = field(default_factory=dict)
    """Unique file-name slug of every pool city ("paris-fr")."""
    cities_by_country: dict[str, list[City]] = field(default_factory=dict)
    """Country code -> its cities, most populous first."""
    nearby_cities: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    """Page city -> (geonameid, whole km) of the three nearest other page cities."""

    airport_city: dict[str, int | None] = field(default_factory=dict)
    """IATA code -> geonameid of the city it serves (same-named within 100 km, else nearest within 40 km)."""
    airports_by_rank: list[Airport] = field(default_factory=list)
    pool_airports: list[Airport] = field(default_factory=list)
    page_airports: list[Airport] = field(default_factory=list)
    page_airports_by_city: dict[int, list[Airport]] = field(default_factory=dict)

    companies_by_city: dict[int, list[Company]] = field(default_factory=dict)
    company_by_ticker: dict[str, Company] = field(default_factory=dict)
    stock_symbols: list[str] = field(default_factory=list)

    @property
    def page_city_ids(self) -> set[int]:
        return {c.id for c in self.page_cities}

    @property
    def page_airport_codes(self) -> set[str]:
        return {a.iata for a in self.page_airports}

    def country_name(self, code: str) -> str:
        return self.country_by_code[code].name

    def city_label(self, city: City) -> str:
        """"Paris, France": a city's name with its country, which tells same-named cities apart."""
        return f"{city.name}, {self.country_name(city.country_code)}"


def assemble_catalog(seed: int) -> Catalog:
    """Read the packaged data, generate the seeded records and make every cross-domain choice."""
    continents = sources.load_continents()
    countries = sources.load_countries()
    codes = {c.code for c in countries}
    cities = sources.load_cities(codes)
    airports = sources.load_airports(codes)
    cat = Catalog(
        seed=seed,
        continents=continents,
        countries=countries,
        cities=cities,
        airports=airports,
        elements=sources.load_elements(),
        stock_prices=sources.load_stock_prices(),
        weather=sources.load_weather(),
        companies=[], customers=[], products=[], orders=[],
    )
    cat.country_by_code = {c.code: c for c in countries}
    cat.continent_by_code = {c.code: c for c in continents}
    cat.city_by_id = {c.id: c for c in cities}
    cat.airport_by_iata = {a.iata: a for a in airports}
    _rank_cities(cat)
    _match_airports(cat)

    real_hq = seeded.real_company_hq(cities)
    # The real companies' headquarters join the pool and get pages, so every company page can link its city.
    hq_ids = set(real_hq.values())
    cat.pool_cities = cat.cities_by_rank[:POOL_CITIES] + [c for c in cat.cities_by_rank[POOL_CITIES:] if c.id in hq_ids]
    cat.page_cities = cat.cities_by_rank[:PAGE_CITIES] + [c for c in cat.cities_by_rank[PAGE_CITIES:] if c.id in hq_ids]
    cat.city_slug = _city_slugs(cat.pool_cities)
    cat.live_cities = sorted(rng_for(seed, "live-cities").sample(cat.page_cities, LIVE_CITIES), key=lambda c: c.id)
    cat.nearby_cities = _nearby(cat.page_cities, 3)
    cat.page_airports_by_city = defaultdict(list)
    page_ids = cat.page_city_ids
    for airport in cat.page_airports:
        served = cat.airport_city[airport.iata]
        if served in page_ids:
            cat.page_airports_by_city[served].append(airport)
    cat.page_airports_by_city = dict(cat.page_airports_by_city)

    cat.companies = seeded.generate_companies(rng_for(seed, "companies"), cat.page_cities, real_hq)
    cat.company_by_id = {c.id: c for c in cat.companies}
    cat.company_by_ticker = {c.ticker: c for c in cat.companies if c.ticker}
    by_city: dict[int, list[Company]] = defaultdict(list)
    for company in cat.companies:
        by_city[company.hq_city_id].append(company)
    cat.companies_by_city = dict(by_city)
    cat.stock_symbols = sorted({p.symbol for p in cat.stock_prices})

    cat.customers = seeded.generate_customers(rng_for(seed, "customers"), cat.pool_cities)
    cat.customer_by_id = {c.id: c for c in cat.customers}
    cat.products = seeded.generate_products(rng_for(seed, "products"), cat.profile_cities, cat.country_by_code)
    cat.product_by_id = {p.id: p for p in cat.products}
    cat.orders = seeded.generate_orders(rng_for(seed, "orders"), cat.customers, cat.products)
    return cat


def _rank_cities(cat: Catalog) -> None:
    cat.cities_by_rank = sorted(cat.cities, key=lambda c: (-c.population, c.id))
    cat.profile_cities = cat.cities_by_rank[:PROFILE_CITIES]
    by_country: dict[str, list[City]] = defaultdict(list)
    for city in cat.cities_by_rank:
        by_country[city.country_code].append(city)
    cat.cities_by_country = dict(sorted(by_country.items()))


def _city_slugs(cities: list[City]) -> dict[int, str]:
    slugs: dict[int, str] = {}
    taken: set[str] = set()
    for city in sorted(cities, key=lambda c: (-c.population, c.id)):  # the larger city keeps the plain slug
        slug = f"{slugify(city.name) or 'city'}-{city.country_code.lower()}"
        if slug in taken:
            slug = f"{slug}-{city.id}"
        taken.add(slug)
        slugs[city.id] = slug
    return slugs


def _match_airports(cat: Catalog) -> None:
    """Find the city each airport serves, then rank airports by how many people they plausibly serve."""
    by_country = {}
    for cc, cities in cat.cities_by_country.items():
        names: dict[str, list[int]] = defaultdict(list)
        for i, city in enumerate(cities):
            names[city.name].append(i)
        lat = np.radians([c.latitude for c in cities])
        lon = np.radians([c.longitude for c in cities])
        by_country[cc] = (cities, names, lat, lon, np.cos(lat))
    scores = {}
    for airport in cat.airports:
        served = None
        if airport.country_code in by_country:
            cities, names, lat, lon, cos_lat = by_country[airport.country_code]
            lat0, lon0 = math.radians(airport.latitude), math.radians(airport.longitude)
            # haversine, inlined on pre-converted arrays: this loop runs ~8,000 times
            a = np.sin((lat - lat0) / 2) ** 2 + math.cos(lat0) * cos_lat * np.sin((lon - lon0) / 2) ** 2
            dist = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
            same_name = [i for i in names.get(airport.city, ()) if dist[i] <= 100.0]
            if same_name:
                served = cities[min(same_name, key=lambda i: (dist[i], cities[i].id))]
            else:
                nearest = int(np.argmin(dist))
                if dist[nearest] <= 40.0:
                    served = cities[nearest]
        cat.airport_city[airport.iata] = served.id if served else None
        population = served.population if served else 0
        lowered = airport.name.lower()
        if any(word in lowered for word in _NON_PASSENGER_WORDS):
            population = 0
        scores[airport.iata] = population * (3 if "international" in lowered else 1)
    cat.airports_by_rank = sorted(cat.airports, key=lambda a: (-scores[a.iata], a.iata))
    cat.pool_airports = cat.airports_by_rank[:POOL_AIRPORTS]
    cat.page_airports = cat.airports_by_rank[:PAGE_AIRPORTS]


def _nearby(cities: list[City], k: int) -> dict[int, list[tuple[int, int]]]:
    lats = np.array([c.latitude for c in cities])
    lons = np.array([c.longitude for c in cities])
    dist = haversine_km(lats[:, None], lons[:, None], lats[None, :], lons[None, :])
    np.fill_diagonal(dist, math.inf)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]  # stable: ties keep the cities' rank order
    return {city.id: [(cities[j].id, round(float(dist[i, j]))) for j in order[i]] for i, city in enumerate(cities)}
