"""The world's places in memory (cities, countries, airports), how a caller names them, and spherical maths.

The tables are read once per world database (read-only) and shared by every session: they never change.
"""

from __future__ import annotations

import difflib
import math
import re
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from dive.servers.kit import fold_name as fold
from dive.servers.kit import ToolFailure

#: Mean Earth radius (IUGG), the one the world itself uses.
EARTH_RADIUS_KM = 6371.0088
KM_PER_MILE = 1.609344
KM_PER_NAUTICAL_MILE = 1.852
#: A bare city name picks its most populous match only when that match is this many times bigger than any other.
DOMINANCE_RATIO = 5.0

CONTINENT_NAMES = {
    "AF": "Africa",
    "AN": "Antarctica",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
}
_COMPASS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")
_COUNTRY_ALIASES = {
    "uk": "GB",
    "britain": "GB",
    "great britain": "GB",
    "england": "GB",
    "usa": "US",
    "america": "US",
    "united states of america": "US",
    "holland": "NL",
    "south korea": "KR",
    "north korea": "KP",
    "russia": "RU",
    "czechia": "CZ",
    "ivory coast": "CI",
    "uae": "AE",
}
_COORDS = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*[, ]\s*(-?\d+(?:\.\d+)?)\s*$")


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
    neighbours: tuple[str, ...]


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
    city_id: int | None
    """The geonameid of the city the airport serves (the world's own matching), if any."""


@dataclass(frozen=True)
class Place:
    """A resolved point: a city, an airport, or bare coordinates."""

    kind: str  # "city" | "airport" | "coordinates"
    entity_id: str | None
    name: str
    country_code: str | None
    latitude: float
    longitude: float
    city_index: int | None = None
    note: str | None = None


class GeoData:
    """Cities as parallel numpy arrays (for vectorised distance), countries and airports by code."""

    def __init__(self, db_path: Path) -> None:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = con.execute(
                "SELECT id, name, country_code, admin1, population, latitude, longitude, timezone FROM cities"
                " ORDER BY population DESC, id"
            ).fetchall()
            country_rows = con.execute(
                "SELECT code, iso3, name, continent, capital, population, area_km2, currency_code, currency_name,"
                " languages, tld, phone, neighbours FROM countries ORDER BY code"
            ).fetchall()
            airport_rows = con.execute(
                "SELECT icao, iata, name, city, region, country_code, elevation_ft, latitude, longitude, timezone,"
                " city_id FROM airports ORDER BY icao"
            ).fetchall()
            continent_rows = con.execute("SELECT code, name FROM continents").fetchall()
        finally:
            con.close()
        # Cities are kept most populous first, so every ranking and every candidate list is in that order.
        self.city_ids = np.array([r[0] for r in rows], dtype=np.int64)
        self.city_names = [r[1] for r in rows]
        self.city_cc = [r[2] for r in rows]
        self.city_admin1 = [str(r[3] or "") for r in rows]
        self.city_pop = np.array([int(r[4] or 0) for r in rows], dtype=np.int64)
        self.city_lat = np.array([float(r[5]) for r in rows])
        self.city_lon = np.array([float(r[6]) for r in rows])
        self.city_tz = [r[7] for r in rows]
        self.city_cc_arr = np.array(self.city_cc)
        self.index_by_id = {int(cid): i for i, cid in enumerate(self.city_ids)}
        self.city_folded = [fold(name) for name in self.city_names]
        self.index_by_name: dict[str, list[int]] = {}
        for i, key in enumerate(self.city_folded):
            self.index_by_name.setdefault(key, []).append(i)
        self.countries = {
            r[0]: Country(
                r[0],
                r[1],
                r[2],
                r[3],
                (r[4] or "").strip(),
                int(r[5] or 0),
                float(r[6] or 0.0),
                r[7] or "",
                r[8] or "",
                r[9] or "",
                r[10] or "",
                str(r[11] or ""),
                tuple(c for c in (r[12] or "").split(",") if c),
            )
            for r in country_rows
        }
        self.country_by_name = {fold(c.name): c.code for c in self.countries.values()}
        self.country_by_iso3 = {c.iso3.upper(): c.code for c in self.countries.values() if c.iso3}
        self.continents = {r[0]: r[1] for r in continent_rows} or dict(CONTINENT_NAMES)
        self.airports = [
            Airport(
                *r[:6],
                int(r[6]) if r[6] is not None else None,
                float(r[7]),
                float(r[8]),
                r[9],
                int(r[10]) if r[10] is not None else None,
            )
            for r in airport_rows
        ]
        self.airport_by_iata = {a.iata.upper(): a for a in self.airports if a.iata}
        self.airport_by_icao = {a.icao.upper(): a for a in self.airports if a.icao}
        self.airport_lat = np.array([a.latitude for a in self.airports])
        self.airport_lon = np.array([a.longitude for a in self.airports])

    # -- countries ---------------------------------------------------------------------------

    def country(self, text: str) -> Country:
        """A country named by ISO code (FR), ISO3 (FRA), entity id (country:FR) or English name."""
        raw = text.strip()
        if raw.lower().startswith("country:"):
            raw = raw.split(":", 1)[1]
        if not raw:
            raise ToolFailure("country must not be empty; give an ISO code such as 'FR' or a name such as 'France'")
        upper = raw.upper()
        if len(upper) == 2 and upper in self.countries:
            return self.countries[upper]
        if len(upper) == 3 and upper in self.country_by_iso3:
            return self.countries[self.country_by_iso3[upper]]
        key = fold(raw)
        code = self.country_by_name.get(key) or _COUNTRY_ALIASES.get(key)
        if code is None:
            try:
                import pycountry

                code = pycountry.countries.lookup(raw).alpha_2
            except LookupError:
                code = None
        if code is None or code not in self.countries:
            close = difflib.get_close_matches(key, list(self.country_by_name), n=3, cutoff=0.75)
            hint = (
                "; did you mean "
                + ", ".join(
                    f"{self.countries[self.country_by_name[c]].name} ({self.country_by_name[c]})" for c in close
                )
                if close
                else ""
            )
            raise ToolFailure(
                f"unknown country {text!r}{hint}; use a 2-letter ISO code such as 'FR' or an English name"
            )
        return self.countries[code]

    # -- cities ------------------------------------------------------------------------------

    def city_label(self, i: int) -> str:
        country = self.countries.get(self.city_cc[i])
        return f"{self.city_names[i]}, {country.name if country else self.city_cc[i]}"

    def candidates_text(self, indices: list[int], limit: int = 8) -> str:
        shown = [
            f"{self.city_names[i]}, {self.city_cc[i]} (admin1 {self.city_admin1[i] or '-'}, population "
            f"{int(self.city_pop[i]):,}) = city:{int(self.city_ids[i])}"
            for i in indices[:limit]
        ]
        more = f" and {len(indices) - limit} more" if len(indices) > limit else ""
        return "; ".join(shown) + more

    def search_cities(self, name: str, country_code: str | None = None) -> tuple[list[int], bool]:
        """Indices of cities called `name` (exact, accent- and case-insensitive), else those whose name
        starts with or contains it; the flag says whether the matches are exact."""
        key = fold(name)
        if not key:
            raise ToolFailure("city name must not be empty")
        exact = [i for i in self.index_by_name.get(key, []) if country_code is None or self.city_cc[i] == country_code]
        if exact:
            return exact, True
        pool = range(len(self.city_names)) if country_code is None else np.flatnonzero(self.city_cc_arr == country_code)
        folded = [(i, self.city_folded[i]) for i in pool]
        starts = [i for i, n in folded if n.startswith(key)]
        contains = [i for i, n in folded if key in n and not n.startswith(key)]
        return [int(i) for i in starts + contains], False

    def city(self, text: str) -> tuple[int, str | None]:
        """One city from 'Paris', 'Paris, FR', 'Paris, France', 'Springfield, MA, US', 'city:2988507' or '2988507'.

        A bare name matching several cities picks the most populous only when it dominates (see
        DOMINANCE_RATIO); otherwise the caller is asked to add a country code or use an id.
        Returns the city's index and a note about the choice (None when unambiguous).
        """
        raw = text.strip()
        if not raw:
            raise ToolFailure("city must not be empty; give a name such as 'Paris, FR' or an id such as 'city:2988507'")
        ident = raw.split(":", 1)[1] if raw.lower().startswith("city:") else raw
        if ident.isdigit():
            if int(ident) not in self.index_by_id:
                raise ToolFailure(f"no city with geonameid {ident} in the world; search by name with find_cities")
            return self.index_by_id[int(ident)], None
        if raw.lower().startswith("city:"):
            raise ToolFailure(f"city ids are numeric geonameids such as 'city:2988507', not {text!r}")
        name, country_code, region = raw, None, None
        if "," in raw:
            parts = [p.strip() for p in raw.split(",")]
            name, rest = ", ".join(parts[:-1]), parts[-1]
            try:
                country_code = self.country(rest).code
            except ToolFailure:
                raise ToolFailure(
                    f"{rest!r} after the comma is not a country; write 'Name, CC' (e.g. 'Paris, US'), "
                    "'Name, REGION, CC' (e.g. 'Springfield, MA, US') or use a city id from find_cities"
                ) from None
            if len(parts) >= 3:
                name, region = ", ".join(parts[:-2]), parts[-2].upper()
        matches, exact = self.search_cities(name, country_code)
        if region is not None:
            matches = [i for i in matches if self.city_admin1[i].upper() == region]
        where = f" in {self.countries[country_code].name}" if country_code else ""
        where += f" region {region}" if region else ""
        if not exact or not matches:
            if matches:
                raise ToolFailure(
                    f"no city named {name.strip()!r}{where}; similar names: {self.candidates_text(matches, 6)}"
                )
            raise ToolFailure(
                f"no city named {name.strip()!r}{where} in the world (cities of 15,000+ people); "
                "check the spelling or search with find_cities"
            )
        if len(matches) == 1:
            return matches[0], None
        first, second = matches[0], matches[1]
        if int(self.city_pop[first]) >= DOMINANCE_RATIO * max(int(self.city_pop[second]), 1):
            return first, (
                f"{len(matches)} cities are called {self.city_names[first]!r}{where}; took the most "
                f"populous, {self.city_label(first)} (city:{int(self.city_ids[first])})"
            )
        hint = (
            "add the region code, e.g. 'Name, REGION, CC', or use the city id"
            if country_code
            else "add a country code, e.g. 'Name, CC', or use the city id"
        )
        raise ToolFailure(
            f"{name.strip()!r}{where} is ambiguous: {len(matches)} cities match ({hint}): "
            f"{self.candidates_text(matches)}"
        )

    # -- airports and points -----------------------------------------------------------------

    def airport(self, text: str) -> Airport:
        """An airport by IATA (LHR), ICAO (EGLL) or entity id (airport:LHR)."""
        raw = text.strip()
        code = raw.split(":", 1)[1] if raw.lower().startswith("airport:") else raw
        code = code.strip().upper()
        found = self.airport_by_iata.get(code) if len(code) == 3 else self.airport_by_icao.get(code)
        if found is None:
            raise ToolFailure(
                f"no airport with code {text!r}; give a 3-letter IATA code such as 'LHR' "
                "or a 4-letter ICAO code such as 'EGLL' (airports_near finds codes)"
            )
        return found

    def place(self, text: str) -> Place:
        """A point named as a city (see `city`), an airport code, 'airport:XXX', or 'lat, lon' coordinates."""
        raw = (text or "").strip()
        if not raw:
            raise ToolFailure("place must not be empty; give a city ('Paris, FR'), an airport ('CDG') or 'lat, lon'")
        m = _COORDS.match(raw)
        if m:
            lat, lon = float(m.group(1)), float(m.group(2))
            check_coordinates(lat, lon)
            return Place("coordinates", None, f"{lat:.5f}, {lon:.5f}", None, lat, lon)
        if raw.lower().startswith("country:"):
            raise ToolFailure(f"{text!r} is a country, not a point; use one of its cities, e.g. its capital")
        is_code = (len(raw) == 3 and raw.isalpha() and raw.isupper() and raw in self.airport_by_iata) or (
            len(raw) == 4 and raw.isalnum() and raw.isupper() and raw in self.airport_by_icao
        )
        if raw.lower().startswith("airport:") or is_code:
            a = self.airport(raw)
            return Place("airport", f"airport:{a.iata}", a.name, a.country_code, a.latitude, a.longitude)
        i, note = self.city(raw)
        return Place(
            "city",
            f"city:{int(self.city_ids[i])}",
            self.city_names[i],
            self.city_cc[i],
            float(self.city_lat[i]),
            float(self.city_lon[i]),
            city_index=i,
            note=note,
        )

    def nearest_city(self, lat: float, lon: float) -> tuple[int, float]:
        dist = haversine_km(lat, lon, self.city_lat, self.city_lon)
        i = int(np.argmin(dist))
        return i, float(dist[i])


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> GeoData:
    return GeoData(Path(path))


def geo_data(db_path: Path) -> GeoData:
    """The place tables of a world database, loaded once per version of the file."""
    stat = Path(db_path).stat()
    return _load(str(db_path), stat.st_mtime_ns, stat.st_size)


# -- spherical maths (a sphere of EARTH_RADIUS_KM) --------------------------------------------


def check_coordinates(lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise ToolFailure(f"latitude must be between -90 and 90 degrees, got {lat}")
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise ToolFailure(f"longitude must be between -180 and 180 degrees, got {lon}")


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance in km; floats or numpy arrays."""
    p1, l1, p2, l2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def initial_bearing(lat1, lon1, lat2, lon2):
    """Initial great-circle bearing from point 1 to point 2, degrees clockwise from true north in [0, 360)."""
    p1, l1, p2, l2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lat1, lon1, lat2, lon2))
    dl = l2 - l1
    y = np.sin(dl) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    return (np.degrees(np.arctan2(y, x)) + 360.0) % 360.0


def midpoint(lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float]:
    p1, l1, p2, l2 = map(math.radians, (lat1, lon1, lat2, lon2))
    bx = math.cos(p2) * math.cos(l2 - l1)
    by = math.cos(p2) * math.sin(l2 - l1)
    pm = math.atan2(math.sin(p1) + math.sin(p2), math.hypot(math.cos(p1) + bx, by))
    lm = l1 + math.atan2(by, math.cos(p1) + bx)
    return math.degrees(pm), normalise_lon(math.degrees(lm))


def destination(lat: float, lon: float, bearing_deg: float, distance_km: float) -> tuple[float, float]:
    p1, l1, theta = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    delta = distance_km / EARTH_RADIUS_KM
    p2 = math.asin(math.sin(p1) * math.cos(delta) + math.cos(p1) * math.sin(delta) * math.cos(theta))
    l2 = l1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(p1), math.cos(delta) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), normalise_lon(math.degrees(l2))


def normalise_lon(lon: float) -> float:
    """Longitude in [-180, 180)."""
    return (lon + 180.0) % 360.0 - 180.0


def compass_point(bearing_deg: float) -> str:
    """The 16-point compass direction of a bearing ("NNE")."""
    return _COMPASS[int((bearing_deg % 360.0) / 22.5 + 0.5) % 16]
