"""Time-zone tools: converting instants between zones and cities, DST status and the transitions around it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from dive.servers.kit import Example, Fact, Meaning, Takes, ToolFailure
from pydantic import BaseModel, Field

from .domain import (
    DOMAIN,
    ChronoState,
    ResolvedZone,
    ZoneArg,
    ZonedTime,
    format_offset,
    parse_instant,
    resolve_zone,
    utc_iso,
    zoned,
)

TimeArg = Annotated[
    str,
    Field(
        description="ISO 8601 date-time, e.g. '2024-03-31T01:30:00'. With an offset or 'Z' it is an exact instant; "
        "without one it is a wall-clock time in from_zone.",
        min_length=10,
        max_length=40,
    ),
]
AmbiguousArg = Annotated[
    Literal["earlier", "later", "error"],
    Field(
        description="For a wall-clock time that happens twice (clocks went back): take the earlier or later "
        "occurrence, or refuse"
    ),
]


class ConvertedTime(BaseModel):
    utc: str = Field(description="The instant in UTC, ISO 8601 with 'Z'")
    source: ZonedTime
    target: ZonedTime
    hours_ahead: float = Field(description="Target UTC offset minus source UTC offset at this instant, in hours")
    day_shift: int = Field(description="Target local date minus source local date, in days (-1, 0 or +1)")
    was_ambiguous: bool = Field(description="True when the source wall time happened twice and `ambiguous` chose one")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"to_zone": Takes("city", "name"), "from_zone": Takes("city", "name")},
        facts=(
            Fact("target.local_time", "the local date and time in {to_zone} when it is {time} in {from_zone}"),
            Fact("target.weekday", "the day of the week in {to_zone} when it is {time} in {from_zone}"),
            Fact("target.utc_offset", "the UTC offset of {to_zone} when it is {time} in {from_zone}"),
            Fact("hours_ahead", "the number of hours {to_zone} is ahead of {from_zone} when it is {time} in "
                 "{from_zone}", unit="hours"),
            Fact("utc", "the UTC date and time when it is {time} in {from_zone}"),
        ),
    ),
    kind="processing",
    examples=[
        Example(
            {"time": "2024-03-31T00:30:00", "from_zone": "Europe/London", "to_zone": "America/New_York"},
            lambda r: r["target"]["local_time"] == "2024-03-30T20:30:00-04:00" and r["hours_ahead"] == -4,
        ),
        Example(
            {"time": "2024-03-31T02:30:00", "from_zone": "UTC", "to_zone": "Europe/London"},
            lambda r: (
                r["target"]["local_time"] == "2024-03-31T03:30:00+01:00"
                and r["target"]["is_dst"]
                and r["target"]["abbreviation"] == "BST"
            ),
        ),
        Example(
            {"time": "2024-11-03T01:30:00", "from_zone": "America/New_York", "to_zone": "UTC", "ambiguous": "later"},
            lambda r: r["utc"] == "2024-11-03T06:30:00Z" and r["was_ambiguous"],
        ),
        Example(
            {"time": "2024-12-31T23:00:00Z", "to_zone": "Tokyo"},
            lambda r: (
                r["target"]["date"] == "2025-01-01" and r["day_shift"] == 1 and r["target"]["zone"] == "Asia/Tokyo"
            ),
        ),
    ],
)
def convert_time(
    s: ChronoState,
    time: TimeArg,
    to_zone: ZoneArg,
    from_zone: Annotated[
        str | None,
        Field(description="Zone of a wall-clock `time` (IANA name, offset or city); UTC when omitted", max_length=100),
    ] = None,
    ambiguous: AmbiguousArg = "earlier",
) -> ConvertedTime:
    """Convert a date-time from one time zone to another (IANA names, fixed offsets, or world cities such
    as 'Tokyo'), honouring daylight saving rules on that date. Reports both local times, offsets, DST
    flags, how many hours the target is ahead, and the day shift. A wall time skipped by a DST jump is
    refused; one that happens twice is resolved by `ambiguous`."""
    moment, source, was_ambiguous = parse_instant(s, time, from_zone, "time", ambiguous)
    target = resolve_zone(s, to_zone)
    src, tgt = zoned(moment, source), zoned(moment, target)
    src_local, tgt_local = moment.astimezone(source.tz), moment.astimezone(target.tz)
    hours = (
        (tgt_local.utcoffset() or dt.timedelta()) - (src_local.utcoffset() or dt.timedelta())
    ).total_seconds() / 3600
    return ConvertedTime(
        utc=utc_iso(moment),
        source=src,
        target=tgt,
        hours_ahead=hours,
        day_shift=(tgt_local.date() - src_local.date()).days,
        was_ambiguous=was_ambiguous,
    )


class Transition(BaseModel):
    utc: str = Field(description="Instant of the change, UTC")
    local_before: str = Field(
        description="What local clocks read at the change, before it (e.g. 02:00 when springing forward)"
    )
    local_after: str = Field(description="What local clocks read right after the change (e.g. 03:00)")
    offset_before: str
    offset_after: str
    kind: Literal["dst_start", "dst_end", "offset_change"]


class ZoneStatus(BaseModel):
    instant_utc: str
    local: ZonedTime
    standard_offset: str = Field(description="UTC offset without daylight saving at this instant")
    dst_amount_minutes: int = Field(description="Minutes added by daylight saving at this instant (0 outside DST)")
    previous_transition: Transition | None = Field(description="Last offset change within 2 years before the instant")
    next_transition: Transition | None = Field(description="Next offset change within 2 years after the instant")


def _offset_at(zone: ResolvedZone, moment: dt.datetime) -> dt.timedelta:
    return moment.astimezone(zone.tz).utcoffset() or dt.timedelta()


def _find_transition(zone: ResolvedZone, start: dt.datetime, forward: bool) -> Transition | None:
    """The first change of UTC offset after (or before) `start`, found by day steps then bisection."""
    step = dt.timedelta(days=1 if forward else -1)
    here = start
    base = _offset_at(zone, here)
    for _ in range(731):
        there = here + step
        if _offset_at(zone, there) != base:
            lo, hi = (here, there) if forward else (there, here)
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if _offset_at(zone, mid) == _offset_at(zone, lo):
                    lo = mid
                else:
                    hi = mid
            change = hi.replace(microsecond=0)
            if _offset_at(zone, change) == _offset_at(zone, lo):
                change += dt.timedelta(seconds=1)
            before, after = _offset_at(zone, change - dt.timedelta(seconds=1)), _offset_at(zone, change)
            dst_before = bool((change - dt.timedelta(seconds=1)).astimezone(zone.tz).dst())
            dst_after = bool(change.astimezone(zone.tz).dst())
            kind = (
                "dst_start"
                if dst_after and not dst_before
                else "dst_end"
                if dst_before and not dst_after
                else "offset_change"
            )
            naive_utc = change.astimezone(dt.UTC).replace(tzinfo=None)
            return Transition(
                utc=utc_iso(change),
                local_before=(naive_utc + before).isoformat(),
                local_after=(naive_utc + after).isoformat(),
                offset_before=format_offset(before),
                offset_after=format_offset(after),
                kind=kind,
            )
        here = there
    return None


@DOMAIN.tool(
    meaning=Meaning(
        takes={"zone": Takes("city", "name")},
        facts=(
            Fact("local.local_time", "the local date and time in {zone} at {instant} (UTC)"),
            Fact("local.utc_offset", "the UTC offset of {zone} at {instant} (UTC)"),
            Fact("local.is_dst", "whether daylight saving time is in effect in {zone} at {instant} (UTC)"),
            Fact("standard_offset", "the standard-time UTC offset of {zone} at {instant} (UTC)"),
            Fact("dst_amount_minutes", "the daylight saving shift in effect in {zone} at {instant} (UTC)",
                 unit="minutes"),
            Fact("previous_transition.utc", "the UTC date and time of the last clock change in {zone} before {instant} "
                 "(UTC)"),
            Fact("next_transition.utc", "the UTC date and time of the next clock change in {zone} after {instant} "
                 "(UTC)"),
            Fact("next_transition.offset_after", "the UTC offset of {zone} after its first clock change following "
                 "{instant} (UTC)"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"zone": "Europe/Berlin", "instant": "2024-07-01T12:00:00Z"},
            lambda r: (
                r["local"]["utc_offset"] == "+02:00"
                and r["local"]["is_dst"]
                and r["dst_amount_minutes"] == 60
                and r["next_transition"]["utc"] == "2024-10-27T01:00:00Z"
                and r["next_transition"]["kind"] == "dst_end"
                and r["previous_transition"]["utc"] == "2024-03-31T01:00:00Z"
            ),
        ),
        Example(
            {"zone": "Asia/Kolkata", "instant": "2024-01-15T00:00:00Z"},
            lambda r: (
                r["local"]["utc_offset"] == "+05:30" and r["next_transition"] is None and not r["local"]["is_dst"]
            ),
        ),
        Example(
            {"zone": "Sydney", "instant": "2024-06-01T00:00:00Z"},
            lambda r: (
                r["local"]["utc_offset"] == "+10:00"
                and r["next_transition"]["kind"] == "dst_start"
                and r["next_transition"]["local_after"] == "2024-10-06T03:00:00"
            ),
        ),
    ],
)
def zone_status(
    s: ChronoState,
    zone: ZoneArg,
    instant: Annotated[
        str,
        Field(
            description="The instant to inspect, ISO 8601; without an offset it is read as UTC",
            min_length=10,
            max_length=40,
        ),
    ],
) -> ZoneStatus:
    """The state of a time zone at a given instant: local time, UTC offset, abbreviation, whether daylight
    saving is in effect and by how much, and the previous and next clock changes (when, offsets before
    and after, DST start or end). Answers 'when do clocks change next in X after date D'."""
    zone_r = resolve_zone(s, zone)
    moment, _, _ = parse_instant(s, instant, "UTC", "instant")
    local = moment.astimezone(zone_r.tz)
    dst = local.dst() or dt.timedelta()
    return ZoneStatus(
        instant_utc=utc_iso(moment),
        local=zoned(moment, zone_r),
        standard_offset=format_offset((local.utcoffset() or dt.timedelta()) - dst),
        dst_amount_minutes=int(dst.total_seconds() // 60),
        previous_transition=_find_transition(zone_r, moment, forward=False),
        next_transition=_find_transition(zone_r, moment, forward=True),
    )


class CityLocalTime(BaseModel):
    city: str = Field(description="The city's (or airport's) name")
    entity_id: str = Field(description="'city:<geonameid>' or 'airport:<IATA>'")
    country_code: str
    timezone: str
    utc: str
    local: ZonedTime


@DOMAIN.tool(
    meaning=Meaning(
        takes={"city": Takes("city", "name")},
        facts=(
            Fact("timezone", "the time zone of {city}"),
            Fact("local.local_time", "the local date and time in {city} at {utc_instant} (UTC)"),
            Fact("local.weekday", "the day of the week in {city} at {utc_instant} (UTC)"),
            Fact("local.utc_offset", "the UTC offset of {city} at {utc_instant} (UTC)"),
            Fact("local.is_dst", "whether daylight saving time is in effect in {city} at {utc_instant} (UTC)"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"city": "New York City", "utc_instant": "2024-07-04T16:00:00Z"},
            lambda r, w: (
                r["local"]["time"] == "12:00:00"
                and r["local"]["abbreviation"] == "EDT"
                and r["timezone"] == w.entity("city:5128581").attrs["timezone"]
            ),
        ),
        Example(
            {"city": "Kathmandu", "utc_instant": "2024-01-01T00:00:00"},
            lambda r: r["local"]["utc_offset"] == "+05:45" and r["local"]["time"] == "05:45:00",
        ),
        Example(
            {"city": "airport:SYD", "utc_instant": "2024-12-24T14:00:00Z"},
            lambda r: r["entity_id"] == "airport:SYD" and r["local"]["local_time"] == "2024-12-25T01:00:00+11:00",
        ),
    ],
)
def city_local_time(
    s: ChronoState,
    city: Annotated[
        str,
        Field(
            description="A world city ('Tokyo', 'Paris, FR', 'city:2988507') or airport code ('LHR', 'airport:LHR')",
            min_length=1,
            max_length=100,
        ),
    ],
    utc_instant: Annotated[
        str,
        Field(
            description="The instant, ISO 8601 in UTC ('2024-07-04T16:00:00Z'); a value "
            "without an offset is read as UTC",
            min_length=10,
            max_length=40,
        ),
    ],
) -> CityLocalTime:
    """The local date and time in a world city (or at an airport) at a given UTC instant, using its own time
    zone from the world: local time, weekday, UTC offset, abbreviation and DST flag. Always pass the
    instant; nothing reads the current clock."""
    found = s.cities.place(city)
    if found is None:
        raise ToolFailure(f"no world city called {city!r}; check the spelling or add a country code ('Name, CC')")
    moment, _, _ = parse_instant(s, utc_instant, "UTC", "utc_instant")
    zone = resolve_zone(s, found.timezone)
    return CityLocalTime(
        city=found.name,
        entity_id=found.entity_id,
        country_code=found.country_code,
        timezone=found.timezone,
        utc=utc_iso(moment),
        local=zoned(moment, zone),
    )
