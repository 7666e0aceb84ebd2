"""Geography tools over the world's cities, countries and airports: look-ups, distances and spatial searches."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from dive.servers.kit import (
    Domain,
    Example,
    Fact,
    Items,
    Meaning,
    Record,
    SessionContext,
    Takes,
    ToolFailure,
    clip_items,
    world_value,
)
from pydantic import BaseModel, Field

from .places import (
    KM_PER_MILE,
    KM_PER_NAUTICAL_MILE,
    GeoData,
    Place,
    check_coordinates,
    compass_point,
    destination,
    fold,
    geo_data,
    haversine_km,
    initial_bearing,
    midpoint,
    normalise_lon,
)


class GeoState:
    """A session's view of the world's places (shared, read-only tables)."""

    def __init__(self, ctx: SessionContext) -> None:
        self.data: GeoData = geo_data(ctx.world.db_path)

    def close(self) -> None:
        """Nothing to release: the tables are shared and read-only."""


DOMAIN = Domain(
    "geo",
    "Geography of the world's cities (15,000+ people), countries and airports: look up places, measure "
    "great-circle distances and bearings, find nearby cities and airports, rank and bound countries.",
    GeoState,
    held_out=True,
)


# -- world facts for self-tests ---------------------------------------------------------------


# -- records ----------------------------------------------------------------------------------

PlaceArg = Annotated[
    str,
    Field(
        description="A city ('Paris', 'Paris, FR', 'Paris, France', 'Springfield, MA, US', 'city:2988507'), "
        "an airport code ('CDG', 'LFPG', 'airport:CDG') or coordinates 'lat, lon' ('48.85, 2.35'). "
        "A bare city name shared by several cities is refused with the candidates unless one is 5x more "
        "populous than the rest.",
        min_length=1,
        max_length=200,
    ),
]
CountryArg = Annotated[
    str,
    Field(
        description="Country as ISO code ('FR'), ISO3 ('FRA'), 'country:FR' or English name ('France')",
        min_length=1,
        max_length=100,
    ),
]


class PlaceRef(BaseModel):
    """A resolved point."""

    kind: Literal["city", "airport", "coordinates"]
    entity_id: str | None = Field(description="World entity id ('city:2988507', 'airport:CDG'); null for coordinates")
    name: str
    country_code: str | None
    latitude: float
    longitude: float
    note: str | None = Field(None, description="How an ambiguous name was resolved, when it was")


class CityRecord(BaseModel):
    entity_id: str = Field(description="'city:<geonameid>'")
    id: int = Field(description="GeoNames id")
    name: str
    country_code: str
    country_name: str
    admin1: str = Field(description="First-level administrative division code (state/region)")
    population: int
    latitude: float
    longitude: float
    timezone: str = Field(description="IANA time zone")


class CityDistance(CityRecord):
    distance_km: float
    bearing_deg: float = Field(description="Initial bearing from the origin, degrees clockwise from north")


def _place_ref(p: Place) -> PlaceRef:
    return PlaceRef(
        kind=p.kind,
        entity_id=p.entity_id,
        name=p.name,
        country_code=p.country_code,
        latitude=round(p.latitude, 6),
        longitude=round(p.longitude, 6),
        note=p.note,
    )


def _city(d: GeoData, i: int) -> dict[str, Any]:
    country = d.countries.get(d.city_cc[i])
    return {
        "entity_id": f"city:{int(d.city_ids[i])}",
        "id": int(d.city_ids[i]),
        "name": d.city_names[i],
        "country_code": d.city_cc[i],
        "country_name": country.name if country else d.city_cc[i],
        "admin1": d.city_admin1[i],
        "population": int(d.city_pop[i]),
        "latitude": float(d.city_lat[i]),
        "longitude": float(d.city_lon[i]),
        "timezone": d.city_tz[i],
    }


def _origin(d: GeoData, place: str | None, latitude: float | None, longitude: float | None) -> Place:
    if place:
        if latitude is not None or longitude is not None:
            raise ToolFailure("give either place or latitude/longitude, not both")
        return d.place(place)
    if latitude is None or longitude is None:
        raise ToolFailure("give a place, or both latitude and longitude")
    check_coordinates(latitude, longitude)
    return Place("coordinates", None, f"{latitude:.5f}, {longitude:.5f}", None, latitude, longitude)


def _country_code_filter(d: GeoData, country: str | None) -> str | None:
    return d.country(country).code if country else None


# -- look-ups ---------------------------------------------------------------------------------


class FindCitiesResult(BaseModel):
    query: str
    exact: bool = Field(description="True when the matches carry exactly this name; False for prefix/substring matches")
    total_matches: int
    matches: list[CityRecord] = Field(description="Most populous first")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"name": Takes("city", "name")},
        items=(Items("matches", type="city", phrase="the cities named {name}", total="total_matches"),),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"name": "Springfield", "country": "US"},
            lambda r: r["exact"] and r["total_matches"] >= 5 and all(m["country_code"] == "US" for m in r["matches"]),
        ),
        Example(
            {"name": "sao paulo"},
            lambda r: r["matches"][0]["name"] == "São Paulo" and r["matches"][0]["country_code"] == "BR",
        ),
    ],
)
def find_cities(
    s: GeoState,
    name: Annotated[
        str,
        Field(
            description="City name, accents and case ignored ('sao paulo' finds 'São Paulo')",
            min_length=1,
            max_length=100,
        ),
    ],
    country: Annotated[str | None, Field(description="Only cities of this country (ISO code or name)")] = None,
    limit: Annotated[int, Field(ge=1, le=100, description="Most matches to return")] = 10,
) -> FindCitiesResult:
    """Search the world's cities (15,000+ people) by name and list every match with its id, country,
    region code, population, coordinates and time zone, most populous first. Exact name matches win;
    when none exist, names starting with or containing the text are returned (exact=false). Use it to
    tell same-named cities apart and get the 'city:<id>' other tools accept."""
    d = s.data
    matches, exact = d.search_cities(name, _country_code_filter(d, country))
    shown, _ = clip_items(matches, limit)
    return FindCitiesResult(
        query=name, exact=exact, total_matches=len(matches), matches=[CityRecord(**_city(d, i)) for i in shown]
    )


class CityInfo(CityRecord):
    rank_in_country: int = Field(description="1 = the country's most populous city")
    is_capital: bool
    nearest_airport: str | None = Field(description="IATA code of the nearest airport")
    nearest_airport_name: str | None
    nearest_airport_km: float | None
    serving_airports: list[str] = Field(description="IATA codes of the airports the world lists as serving this city")
    note: str | None = Field(None, description="How an ambiguous name was resolved, when it was")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"city": Takes("city", "name")},
        records=(Record("", "city"),),
        facts=(
            Fact("rank_in_country", "the population rank of {city} among the cities of its country"),
            Fact("is_capital", "whether {city} is the capital of its country"),
            Fact("nearest_airport", "the airport nearest to {city}", refers_to="airport", by="iata"),
            Fact("nearest_airport_km", "the distance from {city} to its nearest airport", unit="kilometres"),
        ),
        items=(Items("serving_airports", phrase="the airports serving {city}", name_type="airport", name_by="iata"),),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"city": "Tokyo"},
            lambda r, w: (
                r["country_code"] == "JP"
                and r["timezone"] == "Asia/Tokyo"
                and r["population"] == world_value(w, "SELECT population FROM cities WHERE id = 1850147")
                and r["rank_in_country"] == 1
            ),
        ),
        Example(
            {"city": "Lyon, FR"},
            lambda r: r["rank_in_country"] >= 2 and not r["is_capital"] and abs(r["latitude"] - 45.75) < 0.1,
        ),
        Example(
            {"city": "city:2643743"},
            lambda r: r["name"] == "London" and r["is_capital"] and "LHR" in r["serving_airports"],
        ),
    ],
)
def city_info(
    s: GeoState,
    city: Annotated[str, Field(description="City: 'Lyon', 'Lyon, FR' or 'city:2996944'", min_length=1, max_length=200)],
) -> CityInfo:
    """Look up one city: coordinates, country, region, population, IANA time zone, its population rank
    within its country, whether it is the capital, the nearest airport with its distance, and the
    airports that serve it."""
    d = s.data
    i, note = d.city(city)
    cc = d.city_cc[i]
    rank = int(np.count_nonzero((d.city_cc_arr == cc) & (d.city_pop > d.city_pop[i]))) + 1
    country = d.countries.get(cc)
    is_capital = bool(
        country and country.capital and fold(country.capital) == fold(d.city_names[i]) and _capital_index(d, cc) == i
    )
    airport_code = airport_name = airport_km = None
    if d.airports:
        dist = haversine_km(d.city_lat[i], d.city_lon[i], d.airport_lat, d.airport_lon)
        j = int(np.argmin(dist))
        airport_code, airport_name, airport_km = d.airports[j].iata, d.airports[j].name, round(float(dist[j]), 2)
    city_id = int(d.city_ids[i])
    serving = sorted(a.iata for a in d.airports if a.city_id == city_id)
    return CityInfo(
        **_city(d, i),
        rank_in_country=rank,
        is_capital=is_capital,
        nearest_airport=airport_code,
        nearest_airport_name=airport_name,
        nearest_airport_km=airport_km,
        serving_airports=serving,
        note=note,
    )


def _capital_index(d: GeoData, cc: str) -> int | None:
    country = d.countries.get(cc)
    if not country or not country.capital:
        return None
    hits = [i for i in d.index_by_name.get(fold(country.capital), []) if d.city_cc[i] == cc]
    return hits[0] if hits else None


class Neighbour(BaseModel):
    code: str
    name: str


class CountryInfo(BaseModel):
    entity_id: str
    code: str
    iso3: str
    name: str
    continent_code: str
    continent: str
    capital: str
    capital_entity_id: str | None = Field(description="The capital's city id when it is in the world's cities")
    population: int
    area_km2: float
    density_per_km2: float | None = Field(description="Population per square km (null when the area is unknown)")
    currency_code: str
    currency_name: str
    languages: list[str]
    tld: str
    phone_code: str
    neighbours: list[Neighbour]
    city_count: int = Field(description="Cities of 15,000+ people in the world for this country")
    largest_city: str | None
    largest_city_population: int | None


@DOMAIN.tool(
    meaning=Meaning(
        takes={"country": Takes("country", "code")},
        facts=(
            Fact("name", "the name of {country}"),
            Fact("iso3", "the three-letter ISO code of {country}"),
            Fact("continent", "the continent of {country}", refers_to="continent", by="name"),
            Fact("capital", "the capital of {country}", refers_to="city", by="name"),
            Fact("population", "the population of {country}"),
            Fact("area_km2", "the area of {country}", unit="square kilometres"),
            Fact("density_per_km2", "the population density of {country}", unit="people per square kilometre"),
            Fact("currency_code", "the currency code of {country}"),
            Fact("currency_name", "the currency of {country}"),
            Fact("tld", "the internet country domain of {country}"),
            Fact("phone_code", "the international calling code of {country}"),
            Fact("city_count", "the number of cities with 15,000 or more people in {country}"),
            Fact("largest_city", "the most populous city of {country}", refers_to="city", by="name"),
            Fact("largest_city_population", "the population of the most populous city of {country}"),
        ),
        items=(
            Items("neighbours", phrase="the countries bordering {country}", name="code", name_type="country",
                  name_by="code"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"country": "France"},
            lambda r: (
                r["code"] == "FR"
                and r["capital"] == "Paris"
                and r["continent"] == "Europe"
                and {"DE", "ES", "BE"} <= {n["code"] for n in r["neighbours"]}
                and r["largest_city"] == "Paris"
            ),
        ),
        Example(
            {"country": "JPN"},
            lambda r, w: (
                r["code"] == "JP" and r["population"] == world_value(w, "SELECT population FROM countries WHERE code = 'JP'")
            ),
        ),
    ],
)
def country_info(s: GeoState, country: CountryArg) -> CountryInfo:
    """Look up a country: capital, continent, population, area, density, currency, languages, internet
    TLD, phone code, land neighbours (codes and names), and its number of cities and largest city."""
    d = s.data
    c = d.country(country)
    idx = np.flatnonzero(d.city_cc_arr == c.code)
    cap = _capital_index(d, c.code)
    return CountryInfo(
        entity_id=f"country:{c.code}",
        code=c.code,
        iso3=c.iso3,
        name=c.name,
        continent_code=c.continent,
        continent=d.continents.get(c.continent, c.continent),
        capital=c.capital,
        capital_entity_id=f"city:{int(d.city_ids[cap])}" if cap is not None else None,
        population=c.population,
        area_km2=c.area_km2,
        density_per_km2=round(c.population / c.area_km2, 3) if c.area_km2 > 0 else None,
        currency_code=c.currency_code,
        currency_name=c.currency_name,
        languages=[x for x in c.languages.split(",") if x],
        tld=c.tld,
        phone_code=c.phone,
        neighbours=[Neighbour(code=n, name=d.countries[n].name if n in d.countries else n) for n in c.neighbours],
        city_count=int(idx.size),
        largest_city=d.city_names[int(idx[0])] if idx.size else None,
        largest_city_population=int(d.city_pop[int(idx[0])]) if idx.size else None,
    )


class AirportInfo(BaseModel):
    entity_id: str
    iata: str
    icao: str
    name: str
    city: str = Field(description="The city the airport is listed under")
    region: str
    country_code: str
    elevation_ft: int | None
    elevation_m: float | None
    latitude: float
    longitude: float
    timezone: str
    served_city: str | None = Field(description="The world city this airport serves ('Name, Country'), if any")
    served_city_entity_id: str | None
    nearest_city: str = Field(description="Nearest world city ('Name, Country')")
    nearest_city_entity_id: str
    nearest_city_km: float


@DOMAIN.tool(
    meaning=Meaning(
        takes={"code": Takes("airport", "iata")},
        records=(Record("", "airport"),),
        facts=(
            Fact("elevation_m", "the elevation of {code}", unit="metres"),
            Fact("served_city", "the city served by {code}", refers_to="city", by="name"),
            Fact("nearest_city", "the city nearest to {code}", refers_to="city", by="name"),
            Fact("nearest_city_km", "the distance from {code} to the nearest city", unit="kilometres"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"code": "LHR"},
            lambda r: (
                r["icao"] == "EGLL"
                and r["country_code"] == "GB"
                and r["timezone"] == "Europe/London"
                and r["served_city_entity_id"] == "city:2643743"
            ),
        ),
        Example(
            {"code": "SLLP"},
            lambda r, w: (
                r["iata"] == "LPB"
                and r["elevation_ft"] > 13000
                and r["elevation_ft"] == world_value(w, "SELECT elevation_ft FROM airports WHERE icao = 'SLLP'")
                and abs(r["elevation_m"] - r["elevation_ft"] * 0.3048) < 0.1
            ),
        ),
    ],
)
def airport_info(
    s: GeoState,
    code: Annotated[
        str, Field(description="IATA code ('LHR'), ICAO code ('EGLL') or 'airport:LHR'", min_length=3, max_length=20)
    ],
) -> AirportInfo:
    """Look up an airport by IATA or ICAO code: name, city, region, country, elevation (feet and metres),
    coordinates, time zone, the world city it serves, and the nearest world city with its distance."""
    d = s.data
    a = d.airport(code)
    i, km = d.nearest_city(a.latitude, a.longitude)
    return AirportInfo(
        entity_id=f"airport:{a.iata}",
        iata=a.iata,
        icao=a.icao,
        name=a.name,
        city=a.city,
        region=a.region,
        country_code=a.country_code,
        elevation_ft=a.elevation_ft,
        elevation_m=round(a.elevation_ft * 0.3048, 1) if a.elevation_ft is not None else None,
        latitude=a.latitude,
        longitude=a.longitude,
        timezone=a.timezone,
        served_city=d.city_label(d.index_by_id[a.city_id]) if a.city_id in d.index_by_id else None,
        served_city_entity_id=f"city:{a.city_id}" if a.city_id in d.index_by_id else None,
        nearest_city=d.city_label(i),
        nearest_city_entity_id=f"city:{int(d.city_ids[i])}",
        nearest_city_km=round(km, 2),
    )


class LargestCities(BaseModel):
    country_code: str
    country_name: str
    city_count: int = Field(description="All cities of 15,000+ people in the country (or region)")
    total_population: int = Field(description="Summed population of those cities")
    cities: list[CityRecord] = Field(description="Most populous first")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"country": Takes("country", "code")},
        facts=(
            Fact("city_count", "the number of cities with 15,000 or more people in {country}"),
            Fact("total_population", "the combined population of the cities with 15,000 or more people in {country}"),
        ),
        items=(Items("cities", type="city", phrase="the cities of {country} in the atlas", total="city_count"),),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"country": "DE", "limit": 3}, lambda r: [c["name"] for c in r["cities"]] == ["Berlin", "Hamburg", "Munich"]
        ),
        Example(
            {"country": "US", "admin1": "TX", "limit": 2},
            lambda r: r["cities"][0]["name"] == "Houston" and all(c["admin1"] == "TX" for c in r["cities"]),
        ),
    ],
)
def largest_cities(
    s: GeoState,
    country: CountryArg,
    admin1: Annotated[str | None, Field(description="Only this first-level region code (e.g. 'TX', 'ENG')")] = None,
    limit: Annotated[int, Field(ge=1, le=200, description="How many cities")] = 10,
) -> LargestCities:
    """List a country's (or one of its regions') most populous cities, with the total count and summed
    population of all its cities of 15,000+ people."""
    d = s.data
    c = d.country(country)
    idx = [
        int(i)
        for i in np.flatnonzero(d.city_cc_arr == c.code)
        if admin1 is None or d.city_admin1[int(i)].upper() == admin1.strip().upper()
    ]
    if not idx:
        regions = sorted({d.city_admin1[int(i)] for i in np.flatnonzero(d.city_cc_arr == c.code)})
        raise ToolFailure(
            f"no cities in {c.name}"
            + (f" region {admin1!r}; its region codes: {', '.join(regions[:60])}" if admin1 else "")
        )
    return LargestCities(
        country_code=c.code,
        country_name=c.name,
        city_count=len(idx),
        total_population=int(sum(int(d.city_pop[i]) for i in idx)),
        cities=[CityRecord(**_city(d, i)) for i in idx[:limit]],
    )


class RankedCountry(BaseModel):
    rank: int
    code: str
    name: str
    continent: str
    value: float
    population: int
    area_km2: float


class CountryRanking(BaseModel):
    metric: str
    continent: str | None
    order: str
    considered: int = Field(description="Countries ranked (those with the metric known)")
    countries: list[RankedCountry]


@DOMAIN.tool(
    meaning=Meaning(
        takes={"continent": Takes("continent", "code")},
        items=(
            Items("countries", type="country", phrase="the countries of {continent} with a known {metric}",
                  total="considered"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"metric": "area_km2", "limit": 3},
            lambda r, w: (
                r["countries"][0]["code"] == "RU"
                and r["countries"][0]["value"] == world_value(w, "SELECT MAX(area_km2) FROM countries")
            ),
        ),
        Example({"metric": "population", "continent": "SA", "limit": 1}, lambda r: r["countries"][0]["code"] == "BR"),
        Example(
            {"metric": "density", "continent": "Europe", "order": "descending", "limit": 2},
            lambda r: r["countries"][0]["code"] == "MC",
        ),
    ],
)
def rank_countries(
    s: GeoState,
    metric: Annotated[
        Literal["population", "area_km2", "density", "city_count"],
        Field(description="What to rank by: population, area, population density, or number of cities"),
    ],
    continent: Annotated[
        str | None, Field(description="Only this continent: code (EU, AS, AF, NA, SA, OC, AN) or name")
    ] = None,
    order: Annotated[
        Literal["descending", "ascending"], Field(description="descending = largest first")
    ] = "descending",
    limit: Annotated[int, Field(ge=1, le=252, description="How many countries")] = 10,
) -> CountryRanking:
    """Rank countries by population, area, population density (people per km²) or number of cities,
    worldwide or within one continent. Answers 'the most densely populated country in Europe' or
    'the smallest countries of Africa by area'."""
    d = s.data
    cont = None
    if continent:
        key = continent.strip().upper()
        names = {v.upper(): k for k, v in d.continents.items()}
        cont = key if key in d.continents else names.get(key)
        if cont is None:
            raise ToolFailure(
                f"unknown continent {continent!r}; use one of "
                + ", ".join(f"{k} ({v})" for k, v in d.continents.items())
            )
    counts: dict[str, int] = {}
    for cc in d.city_cc:
        counts[cc] = counts.get(cc, 0) + 1
    rows = []
    for c in d.countries.values():
        if cont and c.continent != cont:
            continue
        if metric == "population":
            value = float(c.population)
        elif metric == "area_km2":
            value = c.area_km2
        elif metric == "density":
            if c.area_km2 <= 0:
                continue
            value = round(c.population / c.area_km2, 3)
        else:
            value = float(counts.get(c.code, 0))
        rows.append((value, c))
    rows.sort(key=lambda vc: (-vc[0] if order == "descending" else vc[0], vc[1].code))
    return CountryRanking(
        metric=metric,
        continent=d.continents.get(cont) if cont else None,
        order=order,
        considered=len(rows),
        countries=[
            RankedCountry(
                rank=k + 1,
                code=c.code,
                name=c.name,
                continent=c.continent,
                value=v,
                population=c.population,
                area_km2=c.area_km2,
            )
            for k, (v, c) in enumerate(rows[:limit])
        ],
    )


# -- distances and points ---------------------------------------------------------------------


class DistanceResult(BaseModel):
    origin: PlaceRef
    destination: PlaceRef
    distance_km: float
    distance_miles: float
    distance_nautical_miles: float
    initial_bearing_deg: float = Field(description="Bearing to leave the origin on, degrees clockwise from true north")
    final_bearing_deg: float = Field(description="Bearing on arrival at the destination")
    compass_direction: str = Field(description="16-point compass direction of the initial bearing")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"origin": Takes("city", "name"), "destination": Takes("city", "name")},
        facts=(
            Fact("distance_km", "the great-circle distance between {origin} and {destination}", unit="kilometres"),
            Fact("distance_miles", "the great-circle distance between {origin} and {destination}", unit="miles"),
            Fact("distance_nautical_miles", "the great-circle distance between {origin} and {destination}",
                 unit="nautical miles"),
            Fact("initial_bearing_deg", "the initial bearing from {origin} to {destination}", unit="degrees"),
            Fact("final_bearing_deg", "the bearing on arrival at {destination} from {origin}", unit="degrees"),
            Fact("compass_direction", "the 16-point compass direction from {origin} to {destination}"),
        ),
    ),
    kind="processing",
    examples=[
        Example(
            {"origin": "London, GB", "destination": "Paris, FR"},
            lambda r: abs(r["distance_km"] - 343.9) < 2 and r["compass_direction"] in ("SSE", "SE"),
        ),
        Example(
            {"origin": "JFK", "destination": "LHR"},
            lambda r: (
                abs(r["distance_km"] - 5540) < 15 and abs(r["distance_miles"] - r["distance_km"] / 1.609344) < 0.05
            ),
        ),
    ],
)
def distance(s: GeoState, origin: PlaceArg, destination: PlaceArg) -> DistanceResult:
    """Great-circle (haversine, mean Earth radius 6371.0 km) distance between two places in km, miles and
    nautical miles, with the initial and final bearings and the compass direction of travel. Places
    are cities, airports or coordinates."""
    d = s.data
    a, b = d.place(origin), d.place(destination)
    km = float(haversine_km(a.latitude, a.longitude, b.latitude, b.longitude))
    bearing = float(initial_bearing(a.latitude, a.longitude, b.latitude, b.longitude))
    back = float(initial_bearing(b.latitude, b.longitude, a.latitude, a.longitude))
    return DistanceResult(
        origin=_place_ref(a),
        destination=_place_ref(b),
        distance_km=round(km, 2),
        distance_miles=round(km / KM_PER_MILE, 2),
        distance_nautical_miles=round(km / KM_PER_NAUTICAL_MILE, 2),
        initial_bearing_deg=round(bearing, 2),
        final_bearing_deg=round((back + 180.0) % 360.0, 2),
        compass_direction=compass_point(bearing),
    )


class NearbyCities(BaseModel):
    origin: PlaceRef
    min_population: int
    cities: list[CityDistance] = Field(description="Nearest first; the origin city itself is left out")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"place": Takes("city", "name")},
        items=(
            Items("cities", type="city", phrase="the cities nearest to {place}",
                  attributes={"distance_km": "distance"}, units={"distance_km": "kilometres"}),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"place": "Paris, FR", "min_population": 1000000, "limit": 2},
            lambda r: (
                [c["name"] for c in r["cities"]] == ["Brussels", "London"]
                and all(c["population"] >= 1000000 for c in r["cities"])
            ),
        ),
        Example(
            {"latitude": 52.37, "longitude": 4.89, "limit": 1},
            lambda r: r["cities"][0]["name"] == "Amsterdam" and r["cities"][0]["distance_km"] < 5,
        ),
    ],
)
def nearest_cities(
    s: GeoState,
    place: Annotated[
        str | None,
        Field(description="Origin: city, airport code or 'lat, lon' (or use latitude/longitude)", max_length=200),
    ] = None,
    latitude: Annotated[
        float | None, Field(ge=-90, le=90, description="Origin latitude (with longitude, instead of place)")
    ] = None,
    longitude: Annotated[float | None, Field(ge=-180, le=180, description="Origin longitude")] = None,
    min_population: Annotated[int, Field(ge=0, description="Only cities with at least this many people")] = 0,
    country: Annotated[str | None, Field(description="Only cities of this country (code or name)")] = None,
    limit: Annotated[int, Field(ge=1, le=100, description="How many cities")] = 5,
) -> NearbyCities:
    """The cities nearest to a place or to coordinates, nearest first, with distance and bearing from
    the origin; optionally only cities above a population floor or in one country."""
    d = s.data
    o = _origin(d, place, latitude, longitude)
    cc = _country_code_filter(d, country)
    dist = haversine_km(o.latitude, o.longitude, d.city_lat, d.city_lon)
    mask = d.city_pop >= min_population
    if cc:
        mask &= d.city_cc_arr == cc
    if o.city_index is not None:
        mask[o.city_index] = False
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        raise ToolFailure("no city matches these filters; lower min_population or drop the country filter")
    order = idx[np.argsort(dist[idx], kind="stable")][:limit]
    return NearbyCities(origin=_place_ref(o), min_population=min_population,
                        cities=_city_distances(d, o, order, dist))


class CitiesInRadius(BaseModel):
    origin: PlaceRef
    radius_km: float
    min_population: int
    count: int = Field(description="All cities within the radius matching the filter (origin city excluded)")
    total_population: int = Field(description="Their summed population")
    truncated: bool = Field(description="True when more cities matched than are listed")
    cities: list[CityDistance] = Field(description="Ordered as asked (by distance or by population)")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"place": Takes("city", "name")},
        facts=(
            Fact("count", "the number of other cities with 15,000 or more people within {radius_km} km of {place}"),
            Fact("total_population", "the combined population of the other cities with 15,000 or more people within "
                 "{radius_km} km of {place}"),
        ),
        items=(
            Items("cities", type="city", phrase="the other cities with 15,000 or more people within {radius_km} km of "
                  "{place}", total="count", complete_unless="truncated",
                  attributes={"distance_km": "distance"}, units={"distance_km": "kilometres"}),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"place": "Brussels, BE", "radius_km": 200, "min_population": 500000},
            lambda r: (
                {"Antwerpen", "Amsterdam", "Rotterdam"} & {c["name"] for c in r["cities"]} != set()
                and all(c["distance_km"] <= 200 for c in r["cities"])
            ),
        ),
        Example(
            {"place": "Tokyo", "radius_km": 50, "order_by": "population", "limit": 3},
            lambda r: r["count"] > 20 and r["cities"][0]["name"] == "Yokohama",
        ),
    ],
)
def cities_within_radius(
    s: GeoState,
    place: PlaceArg,
    radius_km: Annotated[float, Field(gt=0, le=20038, description="Search radius in km")],
    min_population: Annotated[int, Field(ge=0, description="Only cities with at least this many people")] = 0,
    order_by: Annotated[
        Literal["distance", "population"], Field(description="Sort the list by distance or population")
    ] = "distance",
    limit: Annotated[int, Field(ge=1, le=200, description="Most cities to list (count covers all)")] = 20,
) -> CitiesInRadius:
    """Every city within a radius of a place: how many there are, their summed population, and the list
    (nearest or most populous first). Answers 'how many cities over 1 million lie within 300 km of X'."""
    d = s.data
    o = d.place(place)
    dist = haversine_km(o.latitude, o.longitude, d.city_lat, d.city_lon)
    mask = (dist <= radius_km) & (d.city_pop >= min_population)
    if o.city_index is not None:
        mask[o.city_index] = False
    idx = np.flatnonzero(mask)
    if order_by == "distance":
        idx = idx[np.argsort(dist[idx], kind="stable")]
    return CitiesInRadius(
        origin=_place_ref(o),
        radius_km=radius_km,
        min_population=min_population,
        count=int(idx.size),
        total_population=int(d.city_pop[idx].sum()),
        truncated=bool(idx.size > limit),
        cities=_city_distances(d, o, idx[:limit], dist),
    )


def _city_distances(d: GeoData, o, indices: np.ndarray, dist: np.ndarray) -> list[CityDistance]:
    """The cities at `indices`, in that order, with their distance (from `dist`) and bearing from the origin."""
    if not indices.size:
        return []
    bearings = initial_bearing(o.latitude, o.longitude, d.city_lat[indices], d.city_lon[indices])
    return [CityDistance(**_city(d, int(i)), distance_km=round(float(dist[i]), 2), bearing_deg=round(float(b), 2))
            for i, b in zip(indices, bearings, strict=True)]


class NearbyAirport(BaseModel):
    entity_id: str
    iata: str
    icao: str
    name: str
    city: str
    country_code: str
    elevation_ft: int | None
    distance_km: float
    bearing_deg: float


class AirportsNear(BaseModel):
    origin: PlaceRef
    radius_km: float
    count: int = Field(description="Airports within the radius")
    airports: list[NearbyAirport] = Field(description="Nearest first")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"place": Takes("city", "name")},
        facts=(Fact("count", "the number of airports within 100 km of {place}"),),
        items=(
            Items("airports", type="airport", phrase="the airports within 100 km of {place}", total="count",
                  attributes={"distance_km": "distance"}, units={"distance_km": "kilometres"}),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"place": "London, GB", "radius_km": 60},
            lambda r: (
                {"LHR", "LGW", "LCY"} <= {a["iata"] for a in r["airports"]} and r["airports"][0]["distance_km"] < 15
            ),
        ),
        Example(
            {"place": "Paris, FR", "radius_km": 40, "limit": 3},
            lambda r: "CDG" in {a["iata"] for a in r["airports"]} or "ORY" in {a["iata"] for a in r["airports"]},
        ),
    ],
)
def airports_near(
    s: GeoState,
    place: PlaceArg,
    radius_km: Annotated[float, Field(gt=0, le=2000, description="Search radius in km")] = 100.0,
    limit: Annotated[int, Field(ge=1, le=100, description="Most airports to list")] = 10,
) -> AirportsNear:
    """Airports (with IATA codes) within a radius of a place, nearest first, with codes, elevation,
    distance and bearing. Use it to find the airports serving a city."""
    d = s.data
    o = d.place(place)
    dist = haversine_km(o.latitude, o.longitude, d.airport_lat, d.airport_lon)
    idx = np.flatnonzero(dist <= radius_km)
    idx = idx[np.argsort(dist[idx], kind="stable")]
    out = []
    for j in idx[:limit]:
        a = d.airports[int(j)]
        out.append(
            NearbyAirport(
                entity_id=f"airport:{a.iata}",
                iata=a.iata,
                icao=a.icao,
                name=a.name,
                city=a.city,
                country_code=a.country_code,
                elevation_ft=a.elevation_ft,
                distance_km=round(float(dist[j]), 2),
                bearing_deg=round(float(initial_bearing(o.latitude, o.longitude, a.latitude, a.longitude)), 2),
            )
        )
    return AirportsNear(origin=_place_ref(o), radius_km=radius_km, count=int(idx.size), airports=out)


class PointResult(BaseModel):
    latitude: float
    longitude: float
    nearest_city: CityDistance = Field(description="The world city nearest to the computed point")


class MidpointResult(PointResult):
    a: PlaceRef
    b: PlaceRef
    distance_from_each_km: float = Field(description="Half the great-circle distance between a and b")


def _nearest(d: GeoData, lat: float, lon: float) -> CityDistance:
    i, km = d.nearest_city(lat, lon)
    b = float(initial_bearing(lat, lon, d.city_lat[i], d.city_lon[i]))
    return CityDistance(**_city(d, i), distance_km=round(km, 2), bearing_deg=round(b, 2))


@DOMAIN.tool(
    meaning=Meaning(
        takes={"a": Takes("city", "name"), "b": Takes("city", "name")},
        facts=(
            Fact("latitude", "the latitude of the great-circle midpoint between {a} and {b}", unit="degrees"),
            Fact("longitude", "the longitude of the great-circle midpoint between {a} and {b}", unit="degrees"),
            Fact("nearest_city.name", "the city nearest to the great-circle midpoint between {a} and {b}",
                 refers_to="city", by="name"),
        ),
    ),
    kind="processing",
    examples=[
        Example(
            {"a": "London, GB", "b": "Paris, FR"},
            lambda r: (
                49.5 < r["latitude"] < 50.5
                and 0.0 < r["longitude"] < 1.5
                and abs(r["distance_from_each_km"] - 171.9) < 2
            ),
        ),
        Example({"a": "0, 0", "b": "0, 90"}, lambda r: abs(r["latitude"]) < 1e-6 and abs(r["longitude"] - 45) < 1e-6),
    ],
)
def geographic_midpoint(s: GeoState, a: PlaceArg, b: PlaceArg) -> MidpointResult:
    """The halfway point along the great circle between two places (not the naive average of
    coordinates), its distance from each, and the world city nearest to it: 'where to meet halfway'."""
    d = s.data
    pa, pb = d.place(a), d.place(b)
    lat, lon = midpoint(pa.latitude, pa.longitude, pb.latitude, pb.longitude)
    half = float(haversine_km(pa.latitude, pa.longitude, pb.latitude, pb.longitude)) / 2
    return MidpointResult(
        a=_place_ref(pa),
        b=_place_ref(pb),
        latitude=round(lat, 6),
        longitude=round(lon, 6),
        distance_from_each_km=round(half, 2),
        nearest_city=_nearest(d, lat, lon),
    )


class DestinationResult(PointResult):
    start: PlaceRef
    bearing_deg: float
    distance_km: float


@DOMAIN.tool(
    meaning=Meaning(
        takes={"start": Takes("city", "name")},
        facts=(
            Fact("latitude", "the latitude of the point reached by travelling {distance_km} km from {start} on an "
                 "initial bearing of {bearing_deg} degrees", unit="degrees"),
            Fact("longitude", "the longitude of the point reached by travelling {distance_km} km from {start} on an "
                 "initial bearing of {bearing_deg} degrees", unit="degrees"),
            Fact("nearest_city.name", "the city nearest to the point reached by travelling {distance_km} km from "
                 "{start} on an initial bearing of {bearing_deg} degrees", refers_to="city", by="name"),
        ),
    ),
    kind="processing",
    examples=[
        Example(
            {"start": "0, 0", "bearing_deg": 90, "distance_km": 111.195},
            lambda r: abs(r["latitude"]) < 1e-6 and abs(r["longitude"] - 1.0) < 1e-3,
        ),
        Example(
            {"start": "Paris, FR", "bearing_deg": 0, "distance_km": 0.1}, lambda r: r["nearest_city"]["name"] == "Paris"
        ),
    ],
)
def destination_point(
    s: GeoState,
    start: PlaceArg,
    bearing_deg: Annotated[
        float, Field(ge=0, lt=360, description="Initial bearing, degrees clockwise from true north")
    ],
    distance_km: Annotated[float, Field(ge=0, le=20038, description="Distance to travel along the great circle, km")],
) -> DestinationResult:
    """Where you arrive travelling a given distance from a place on a given initial bearing along a great
    circle, with the world city nearest to the arrival point."""
    d = s.data
    p = d.place(start)
    lat, lon = destination(p.latitude, p.longitude, bearing_deg, distance_km)
    return DestinationResult(
        start=_place_ref(p),
        bearing_deg=bearing_deg,
        distance_km=distance_km,
        latitude=round(lat, 6),
        longitude=round(lon, 6),
        nearest_city=_nearest(d, lat, lon),
    )


class AntipodeResult(PointResult):
    place: PlaceRef


@DOMAIN.tool(
    meaning=Meaning(
        takes={"place": Takes("city", "name")},
        facts=(
            Fact("latitude", "the latitude of the antipode of {place}", unit="degrees"),
            Fact("longitude", "the longitude of the antipode of {place}", unit="degrees"),
            Fact("nearest_city.name", "the city nearest to the antipode of {place}", refers_to="city", by="name"),
            Fact("nearest_city.distance_km", "the distance from the antipode of {place} to the nearest city",
                 unit="kilometres"),
        ),
    ),
    kind="processing",
    examples=[
        Example(
            {"place": "Madrid, ES"},
            lambda r: r["nearest_city"]["country_code"] == "NZ" and abs(r["latitude"] + 40.4) < 0.1,
        ),
        Example({"place": "10, -170"}, lambda r: r["latitude"] == -10 and r["longitude"] == 10),
    ],
)
def antipode(s: GeoState, place: PlaceArg) -> AntipodeResult:
    """The antipode of a place (the point on the exact opposite side of the Earth) and the world city
    nearest to it with its distance: a large distance means the antipode is in open ocean."""
    d = s.data
    p = d.place(place)
    lat, lon = -p.latitude, normalise_lon(p.longitude + 180.0)
    return AntipodeResult(
        place=_place_ref(p), latitude=round(lat, 6), longitude=round(lon, 6), nearest_city=_nearest(d, lat, lon)
    )


# -- country extent and time zones ------------------------------------------------------------


class ExtremeCity(BaseModel):
    name: str
    entity_id: str
    latitude: float
    longitude: float


class CountryExtent(BaseModel):
    country_code: str
    country_name: str
    city_count: int
    north: float
    south: float
    west: float = Field(description="Western edge; greater than east when the box crosses the 180° meridian")
    east: float
    crosses_antimeridian: bool
    northernmost: ExtremeCity
    southernmost: ExtremeCity
    westernmost: ExtremeCity
    easternmost: ExtremeCity
    north_south_km: float = Field(description="Distance between the northernmost and southernmost cities")
    east_west_km: float = Field(description="Distance between the westernmost and easternmost cities")
    population_centre_latitude: float = Field(description="Population-weighted centre of its cities")
    population_centre_longitude: float


@DOMAIN.tool(
    meaning=Meaning(
        takes={"country": Takes("country", "code")},
        facts=(
            Fact("northernmost.name", "the northernmost city with 15,000 or more people in {country}",
                 refers_to="city", by="name"),
            Fact("southernmost.name", "the southernmost city with 15,000 or more people in {country}",
                 refers_to="city", by="name"),
            Fact("westernmost.name", "the westernmost city with 15,000 or more people in {country}",
                 refers_to="city", by="name"),
            Fact("easternmost.name", "the easternmost city with 15,000 or more people in {country}",
                 refers_to="city", by="name"),
            Fact("north", "the latitude of the northernmost city with 15,000 or more people in {country}",
                 unit="degrees"),
            Fact("south", "the latitude of the southernmost city with 15,000 or more people in {country}",
                 unit="degrees"),
            Fact("west", "the longitude of the westernmost city with 15,000 or more people in {country}",
                 unit="degrees"),
            Fact("east", "the longitude of the easternmost city with 15,000 or more people in {country}",
                 unit="degrees"),
            Fact("north_south_km", "the distance between the northernmost and southernmost cities with 15,000 or more "
                 "people in {country}", unit="kilometres"),
            Fact("east_west_km", "the distance between the westernmost and easternmost cities with 15,000 or more "
                 "people in {country}", unit="kilometres"),
            Fact("population_centre_latitude", "the latitude of the population-weighted centre of the cities with "
                 "15,000 or more people in {country}", unit="degrees"),
            Fact("population_centre_longitude", "the longitude of the population-weighted centre of the cities with "
                 "15,000 or more people in {country}", unit="degrees"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"country": "IT"},
            lambda r: 44 < r["north"] < 47.5 and 35 < r["south"] < 38.5 and not r["crosses_antimeridian"],
        ),
        Example({"country": "RU"}, lambda r: r["crosses_antimeridian"] or r["east"] > 170),
    ],
)
def country_extent(s: GeoState, country: CountryArg) -> CountryExtent:
    """The bounding box of a country's cities (15,000+ people): north/south/west/east edges, the
    extreme cities in each direction, the north-south and east-west spans in km, and the
    population-weighted centre. Handles countries that straddle the 180° meridian."""
    d = s.data
    c = d.country(country)
    idx = np.flatnonzero(d.city_cc_arr == c.code)
    if idx.size == 0:
        raise ToolFailure(f"{c.name} has no cities of 15,000+ people in the world, so no extent")
    lat, lon = d.city_lat[idx], d.city_lon[idx]
    # The smallest longitude arc holding every city: cut the circle at the widest gap between cities.
    order = np.argsort(lon)
    sorted_lon = lon[order]
    gaps = np.diff(np.concatenate([sorted_lon, [sorted_lon[0] + 360.0]]))
    k = int(np.argmax(gaps))
    west_pos = order[(k + 1) % idx.size]
    east_pos = order[k]
    crosses = bool(idx.size > 1 and k != idx.size - 1)

    def extreme(pos: int) -> ExtremeCity:
        i = int(idx[pos])
        return ExtremeCity(
            name=d.city_names[i],
            entity_id=f"city:{int(d.city_ids[i])}",
            latitude=float(d.city_lat[i]),
            longitude=float(d.city_lon[i]),
        )

    n_pos, s_pos = int(np.argmax(lat)), int(np.argmin(lat))
    weights = d.city_pop[idx].astype(float)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    # Weighted centre as a mean of unit vectors (correct across the 180° meridian).
    p, lam = np.radians(lat), np.radians(lon)
    x, y, z = (np.average(v, weights=weights) for v in (np.cos(p) * np.cos(lam), np.cos(p) * np.sin(lam), np.sin(p)))
    centre_lat, centre_lon = math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))
    return CountryExtent(
        country_code=c.code,
        country_name=c.name,
        city_count=int(idx.size),
        north=float(lat.max()),
        south=float(lat.min()),
        west=float(lon[west_pos]),
        east=float(lon[east_pos]),
        crosses_antimeridian=crosses,
        northernmost=extreme(n_pos),
        southernmost=extreme(s_pos),
        westernmost=extreme(int(west_pos)),
        easternmost=extreme(int(east_pos)),
        north_south_km=round(float(haversine_km(lat[n_pos], lon[n_pos], lat[s_pos], lon[s_pos])), 2),
        east_west_km=round(float(haversine_km(lat[west_pos], lon[west_pos], lat[east_pos], lon[east_pos])), 2),
        population_centre_latitude=round(centre_lat, 5),
        population_centre_longitude=round(centre_lon, 5),
    )


class PlaceTimezone(BaseModel):
    place: PlaceRef
    timezone: str = Field(description="IANA time zone name")
    year: int
    january_utc_offset: str = Field(description="UTC offset on 1 January of the year, e.g. '+01:00'")
    july_utc_offset: str = Field(description="UTC offset on 1 July of the year")
    standard_utc_offset_hours: float = Field(description="The smaller of the two offsets (standard time), in hours")
    observes_dst: bool = Field(description="True when the offset differs between January and July")


def _fmt_offset(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h:02d}:{m:02d}"


@DOMAIN.tool(
    meaning=Meaning(
        takes={"place": Takes("city", "name")},
        facts=(
            Fact("timezone", "the time zone of {place}"),
            Fact("january_utc_offset", "the UTC offset of {place} on 1 January 2024"),
            Fact("july_utc_offset", "the UTC offset of {place} on 1 July 2024"),
            Fact("standard_utc_offset_hours", "the standard-time UTC offset of {place} in 2024", unit="hours"),
            Fact("observes_dst", "whether {place} observes daylight saving time in 2024"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"place": "Sydney, AU", "year": 2024},
            lambda r: (
                r["timezone"] == "Australia/Sydney"
                and r["observes_dst"]
                and r["january_utc_offset"] == "+11:00"
                and r["july_utc_offset"] == "+10:00"
            ),
        ),
        Example(
            {"place": "DEL"},
            lambda r: (
                r["timezone"] == "Asia/Kolkata" and not r["observes_dst"] and r["standard_utc_offset_hours"] == 5.5
            ),
        ),
    ],
)
def place_timezone(
    s: GeoState,
    place: PlaceArg,
    year: Annotated[int, Field(ge=1970, le=2100, description="Year whose January and July offsets to report")] = 2024,
) -> PlaceTimezone:
    """The IANA time zone of a city or airport (for coordinates: that of the nearest city), with its UTC
    offsets in January and July of a year and whether it observes daylight saving time."""
    d = s.data
    p = d.place(place)
    if p.kind == "city":
        tz_name = d.city_tz[p.city_index]
    elif p.kind == "airport":
        tz_name = d.airport(p.entity_id).timezone
    else:
        tz_name = d.city_tz[d.nearest_city(p.latitude, p.longitude)[0]]
    zone = ZoneInfo(tz_name)
    jan = dt.datetime(year, 1, 1, 12, tzinfo=zone).utcoffset()
    jul = dt.datetime(year, 7, 1, 12, tzinfo=zone).utcoffset()
    assert jan is not None and jul is not None
    return PlaceTimezone(
        place=_place_ref(p),
        timezone=tz_name,
        year=year,
        january_utc_offset=_fmt_offset(jan),
        july_utc_offset=_fmt_offset(jul),
        standard_utc_offset_hours=min(jan, jul).total_seconds() / 3600,
        observes_dst=jan != jul,
    )
