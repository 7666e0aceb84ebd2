"""The chrono domain, its per-session state, and how callers name zones, cities, instants, dates and countries.

Nothing here reads the wall clock: every tool takes the instant or date it works on, so results are
deterministic for a given tzdata and `holidays` version.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import holidays
from dive.servers.kit import fold_name as fold
from dive.servers.kit import Domain, SessionContext, ToolFailure
from pydantic import BaseModel, Field

#: A bare city name picks its most populous match only when that match is this many times bigger than any other.
DOMINANCE_RATIO = 5.0
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
@dataclass(frozen=True)
class CityZone:
    id: int
    name: str
    country_code: str
    population: int
    timezone: str

    @property
    def entity_id(self) -> str:
        return f"city:{self.id}"


@dataclass(frozen=True)
class AirportZone:
    iata: str
    name: str
    country_code: str
    timezone: str

    @property
    def entity_id(self) -> str:
        return f"airport:{self.iata}"


class CityIndex:
    """The world's cities by folded name and id, with their IANA zones (read once per world database)."""

    def __init__(self, db_path: Path) -> None:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = con.execute(
                "SELECT id, name, country_code, population, timezone FROM cities ORDER BY population DESC, id"
            ).fetchall()
            countries = con.execute("SELECT code, name FROM countries").fetchall()
            airports = con.execute(
                "SELECT iata, name, country_code, timezone FROM airports WHERE iata != ''"
            ).fetchall()
        finally:
            con.close()
        self.airports = {r[0].upper(): AirportZone(r[0], r[1], r[2], r[3]) for r in airports if r[3]}
        self.by_id = {int(r[0]): CityZone(int(r[0]), r[1], r[2], int(r[3] or 0), r[4]) for r in rows}
        self.by_name: dict[str, list[CityZone]] = {}
        for r in rows:
            self.by_name.setdefault(fold(r[1]), []).append(self.by_id[int(r[0])])
        self.country_names = {code: name for code, name in countries}
        self.country_by_name = {fold(name): code for code, name in countries}

    def country_code(self, text: str) -> str:
        raw = text.strip()
        if len(raw) == 2 and raw.upper() in self.country_names:
            return raw.upper()
        code = self.country_by_name.get(fold(raw))
        if code is None:
            raise ToolFailure(f"unknown country {text!r} after the comma; use a 2-letter code such as 'Paris, FR'")
        return code

    def place(self, text: str) -> CityZone | AirportZone | None:
        """A city (see `city`) or an airport by IATA code ('LHR', 'airport:LHR'); None when nothing matches."""
        raw = text.strip()
        if raw.lower().startswith("airport:"):
            found = self.airports.get(raw.split(":", 1)[1].strip().upper())
            if found is None:
                raise ToolFailure(f"no airport {raw!r} in the world; use a 3-letter IATA code such as 'airport:LHR'")
            return found
        if len(raw) == 3 and raw.isalpha() and raw.isupper() and raw in self.airports:
            return self.airports[raw]
        return self.city(raw)

    def city(self, text: str) -> CityZone | None:
        """A city from 'Paris', 'Paris, FR', 'city:2988507'; None when nothing by that name exists."""
        raw = text.strip()
        ident = raw.split(":", 1)[1] if raw.lower().startswith("city:") else raw
        if ident.isdigit():
            found = self.by_id.get(int(ident))
            if found is None:
                raise ToolFailure(f"no city with geonameid {ident} in the world")
            return found
        name, cc = raw, None
        if "," in raw:
            name, _, rest = raw.rpartition(",")
            cc = self.country_code(rest)
        matches = [c for c in self.by_name.get(fold(name), []) if cc is None or c.country_code == cc]
        if not matches:
            return None
        if len(matches) == 1 or matches[0].population >= DOMINANCE_RATIO * max(matches[1].population, 1):
            return matches[0]
        zones = {c.timezone for c in matches}
        if len(zones) == 1:  # same-named cities in one zone: the zone is not in doubt
            return matches[0]
        shown = "; ".join(
            f"{c.name}, {c.country_code} ({c.timezone}, population {c.population:,}) = city:{c.id}" for c in matches[:8]
        )
        raise ToolFailure(
            f"{name.strip()!r} is ambiguous: {len(matches)} cities in different time zones match; "
            f"add a country code ('Name, CC') or use the city id: {shown}"
        )


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> CityIndex:
    return CityIndex(Path(path))


def city_index(db_path: Path) -> CityIndex:
    stat = Path(db_path).stat()
    return _load(str(db_path), stat.st_mtime_ns, stat.st_size)


class ChronoState:
    """A session's view of the world's city time zones (shared, read-only)."""

    def __init__(self, ctx: SessionContext) -> None:
        self.db_path = ctx.world.db_path
        self._cities: CityIndex | None = None

    @property
    def cities(self) -> CityIndex:
        if self._cities is None:
            self._cities = city_index(self.db_path)
        return self._cities

    def close(self) -> None:
        """Nothing to release: the city table is shared and read-only."""


DOMAIN = Domain(
    "chrono",
    "Calendar and time arithmetic: convert times between IANA time zones and world cities, DST status, "
    "date arithmetic with business days and public holidays, ISO weeks, parsing and formatting dates, "
    "Unix timestamps. Every tool takes an explicit instant or date; none reads the clock.",
    ChronoState,
    held_out=True,
)


# -- zones ------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


@dataclass(frozen=True)
class ResolvedZone:
    tz: dt.tzinfo
    name: str
    """IANA name, or a fixed offset such as 'UTC+05:30'."""
    place: CityZone | AirportZone | None = None


def resolve_zone(s: ChronoState, text: str) -> ResolvedZone:
    """A zone from an IANA name ('Europe/Paris'), 'UTC', a fixed offset ('+05:30', 'UTC-3'), a world city
    ('Tokyo', 'Paris, FR', 'city:2988507') or an airport code ('LHR', 'airport:LHR')."""
    raw = (text or "").strip()
    if not raw:
        raise ToolFailure(
            "time zone must not be empty; use an IANA name such as 'Europe/Paris', 'UTC', "
            "an offset such as '+05:30', or a city such as 'Tokyo'"
        )
    if raw.upper() in ("UTC", "Z", "GMT", "ZULU"):
        return ResolvedZone(dt.UTC, "UTC")
    iana = _zone_names().get(raw.lower())
    if iana is not None:
        return ResolvedZone(zoneinfo.ZoneInfo(iana), iana)
    m = _OFFSET.match(raw)
    if m:
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes >= 60 or (hours == 14 and minutes):
            raise ToolFailure(f"UTC offset {raw!r} is out of range; offsets run from -14:00 to +14:00")
        sign = 1 if m.group(1) == "+" else -1
        delta = sign * dt.timedelta(hours=hours, minutes=minutes)
        return ResolvedZone(dt.timezone(delta), f"UTC{format_offset(delta)}")
    place = s.cities.place(raw)
    if place is None:
        raise ToolFailure(
            f"unknown time zone or city {text!r}; use an IANA name such as 'America/New_York', 'UTC', "
            "an offset such as '-05:00', a world city such as 'New York City' or 'Paris, FR', or an airport code"
        )
    return ResolvedZone(zoneinfo.ZoneInfo(place.timezone), place.timezone, place)


def format_offset(delta: dt.timedelta | None) -> str:
    """'+05:30' / '-03:00' (seconds dropped)."""
    total = int((delta or dt.timedelta()).total_seconds())
    sign = "+" if total >= 0 else "-"
    h, rem = divmod(abs(total), 3600)
    return f"{sign}{h:02d}:{rem // 60:02d}"


def is_dst(moment: dt.datetime) -> bool:
    delta = moment.dst()
    return bool(delta) and delta != dt.timedelta(0)


# -- instants and dates -----------------------------------------------------------------------


def parse_naive_or_aware(text: str, what: str = "time") -> dt.datetime:
    """An ISO 8601 date-time ('2024-03-31T01:30', '2024-03-31 01:30:00+02:00', '...Z') or date ('2024-03-31')."""
    raw = (text or "").strip()
    if not raw:
        raise ToolFailure(f"{what} must not be empty; give an ISO 8601 value such as '2024-03-31T14:30:00'")
    try:
        return dt.datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise ToolFailure(
            f"{what} {text!r} is not an ISO 8601 date-time; use e.g. '2024-03-31T14:30:00', "
            "'2024-03-31T14:30:00Z' or '2024-03-31T14:30:00+02:00' (parse_datetime reads other formats)"
        ) from None


def localize(naive: dt.datetime, zone: ResolvedZone, ambiguous: str = "earlier") -> tuple[dt.datetime, bool]:
    """Attach `zone` to a wall-clock time; refuses times skipped by a DST jump.

    Returns the aware time and whether the wall time was ambiguous (repeated when clocks went back):
    `ambiguous` picks 'earlier' (first occurrence) or 'later', or 'error' refuses.
    """
    early = naive.replace(tzinfo=zone.tz, fold=0)
    late = naive.replace(tzinfo=zone.tz, fold=1)
    if early.utcoffset() == late.utcoffset():
        return early, False
    # zoneinfo gives a skipped wall time two different offsets too; round-tripping through UTC tells them apart.
    if early.astimezone(dt.UTC).astimezone(zone.tz).replace(tzinfo=None) != naive:
        before, after = early.utcoffset(), late.utcoffset()
        raise ToolFailure(
            f"{naive.isoformat()} does not exist in {zone.name}: clocks jumped from UTC"
            f"{format_offset(before)} to UTC{format_offset(after)} and skipped it; give a time after the jump"
        )
    if ambiguous == "error":
        raise ToolFailure(
            f"{naive.isoformat()} happens twice in {zone.name} (clocks went back); "
            "choose ambiguous='earlier' or 'later'"
        )
    return (early if ambiguous == "earlier" else late), True


def parse_instant(
    s: ChronoState, text: str, zone: str | None, what: str = "time", ambiguous: str = "earlier"
) -> tuple[dt.datetime, ResolvedZone, bool]:
    """An aware instant: its own offset if the text has one, else `zone` (UTC when not given) applied to it."""
    moment = parse_naive_or_aware(text, what)
    if moment.tzinfo is not None:
        resolved = resolve_zone(s, zone) if zone else ResolvedZone(moment.tzinfo, format_offset(moment.utcoffset()))
        return moment, resolved, False
    resolved = resolve_zone(s, zone) if zone else ResolvedZone(dt.UTC, "UTC")
    aware, was_ambiguous = localize(moment, resolved, ambiguous)
    return aware, resolved, was_ambiguous


def parse_date(text: str, what: str = "date") -> dt.date:
    raw = (text or "").strip()
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(raw).date()
    except ValueError:
        raise ToolFailure(f"{what} {text!r} is not an ISO date; use YYYY-MM-DD such as '2024-02-29'") from None


def weekday_number(text: str) -> int:
    """0 = Monday ... 6 = Sunday, from a name or 3-letter abbreviation."""
    key = text.strip().lower()
    for i, name in enumerate(WEEKDAYS):
        if key in (name.lower(), name[:3].lower()):
            return i
    raise ToolFailure(f"unknown weekday {text!r}; use a name such as 'Monday' or 'Mon'")


# -- public holidays --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _supported() -> dict[str, list[str]]:
    return holidays.list_supported_countries()


def holiday_calendar(country: str, years: range | list[int], subdivision: str | None = None) -> holidays.HolidayBase:
    """The public holidays of a country (ISO code or English name), optionally a subdivision, in English."""
    raw = (country or "").strip()
    code = raw.upper()
    if code not in _supported():
        try:
            import pycountry

            code = pycountry.countries.lookup(raw).alpha_2
        except LookupError:
            code = ""
    if code not in _supported():
        raise ToolFailure(
            f"no public-holiday calendar for country {country!r}; use a 2-letter ISO code such as "
            "'US', 'GB' or 'DE' (the `holidays` package covers about 200 countries)"
        )
    subdivs = _supported()[code]
    sub = subdivision.strip().upper() if subdivision else None
    if sub is not None and sub not in subdivs:
        raise ToolFailure(
            f"{code} has no subdivision {subdivision!r}; its subdivisions: {', '.join(subdivs) or 'none'}"
        )
    cls = holidays.country_holidays(code, years=list(years), subdiv=sub)
    if "en_US" in (getattr(cls, "supported_languages", ()) or ()):
        cls = holidays.country_holidays(code, years=list(years), subdiv=sub, language="en_US")
    return cls


def weekend_days(cal: holidays.HolidayBase | None) -> set[int]:
    """The country's weekend weekdays (0 = Monday), Saturday and Sunday without a country."""
    weekend = getattr(cal, "weekend", None) if cal is not None else None
    return set(weekend) if weekend else {5, 6}


# -- shared argument types and records ---------------------------------------------------------

ZoneArg = Annotated[
    str,
    Field(
        description="IANA zone ('Europe/Paris'), 'UTC', a fixed offset ('+05:30'), a world "
        "city ('Tokyo', 'Paris, FR', 'city:2988507') or an airport code ('LHR')",
        min_length=1,
        max_length=100,
    ),
]
DateArg = Annotated[str, Field(description="ISO date YYYY-MM-DD, e.g. '2024-02-29'", min_length=8, max_length=40)]
CountryArg = Annotated[
    str, Field(description="Country ISO code ('US', 'GB', 'DE') or English name", min_length=2, max_length=60)
]
SubdivisionArg = Annotated[
    str | None,
    Field(
        description="Optional subdivision code for regional holidays "
        "('CA' for California, 'ENG' for England, 'BY' for Bavaria)"
    ),
]


class ZonedTime(BaseModel):
    """One instant as seen in one zone."""

    zone: str = Field(description="IANA name or fixed offset")
    local_time: str = Field(description="ISO 8601 local date-time with offset")
    date: str
    time: str = Field(description="HH:MM:SS")
    weekday: str
    utc_offset: str = Field(description="'+02:00'")
    abbreviation: str | None = Field(description="Zone abbreviation such as 'CEST', when the zone defines one")
    is_dst: bool


def zoned(moment: dt.datetime, zone: ResolvedZone) -> ZonedTime:
    local = moment.astimezone(zone.tz)
    abbr = local.tzname()
    return ZonedTime(
        zone=zone.name,
        local_time=local.isoformat(),
        date=local.date().isoformat(),
        time=local.strftime("%H:%M:%S"),
        weekday=WEEKDAYS[local.weekday()],
        utc_offset=format_offset(local.utcoffset()),
        abbreviation=abbr if abbr and not abbr.startswith(("+", "-", "UTC+", "UTC-")) else None,
        is_dst=is_dst(local),
    )


def utc_iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
