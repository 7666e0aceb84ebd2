"""Reading and writing dates: free-form and strptime parsing, strftime formatting, Unix timestamps."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from typing import Annotated, Literal

from dive.servers.kit import Example, ToolFailure, no_facts
from pydantic import BaseModel, Field

from .domain import (
    DOMAIN,
    WEEKDAYS,
    ChronoState,
    ZonedTime,
    format_offset,
    parse_instant,
    resolve_zone,
    utc_iso,
    zoned,
)

_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y%m%d",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%d %B %Y",
    "%d %b %Y",
    "%B %d, %Y",
    "%b %d, %Y",
    "%B %d %Y",
    "%b %d %Y",
    "%d %B, %Y",
    "%A, %d %B %Y",
    "%A, %B %d, %Y",
    "%a, %d %b %Y",
    "%a %b %d %Y",
    "%A %d %B %Y",
    "%a, %b %d, %Y",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%m/%d/%y",
    "%d/%m/%y",
    "%B %Y",
    "%b %Y",
)
_TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%H:%M:%S.%f", "%I:%M %p", "%I:%M:%S %p", "%I %p")
# A trailing time of day (with a colon, or an hour with AM/PM) and an optional zone, split off before the date.
_TRAILING_TIME = re.compile(
    r"^(?P<date>.*?\S)(?:\s*,\s*|\s+at\s+|\s+|T)"
    r"(?P<time>\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[AaPp]\.?[Mm]\.?)?|\d{1,2}\s*[AaPp]\.?[Mm]\.?)"
    r"\s*(?P<zone>Z|[+-]\d{2}:?\d{2}|UTC|GMT)?$"
)
_RFC2822 = re.compile(r"^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}")


class ParsedDate(BaseModel):
    iso: str = Field(description="ISO 8601 form of what was read")
    date: str
    time: str | None = Field(description="HH:MM:SS when the text had a time of day")
    utc_offset: str | None = Field(description="Offset when the text carried one")
    weekday: str
    matched_format: str = Field(description="The strptime pattern (or 'ISO 8601' / 'RFC 2822') that read the text")


def _read_time(text: str) -> tuple[dt.time, str] | None:
    cleaned = re.sub(r"\s*([AaPp])\.?[Mm]\.?$", lambda m: f" {m.group(1).upper()}M", text.strip())
    for fmt in _TIME_FORMATS:
        try:
            return dt.datetime.strptime(cleaned, fmt).time(), fmt
        except ValueError:
            continue
    return None


def _read_zone(text: str | None) -> dt.tzinfo | None:
    if not text:
        return None
    if text.upper() in ("Z", "UTC", "GMT"):
        return dt.UTC
    digits = text.replace(":", "")
    delta = dt.timedelta(hours=int(digits[1:3]), minutes=int(digits[3:5]))
    return dt.timezone(delta if digits[0] == "+" else -delta)


def _readings(text: str) -> dict[dt.datetime, str]:
    """Every distinct way the known patterns read `text`, each with the first pattern giving it."""
    date_text, time_part, zone, time_fmt = text, None, None, ""
    m = _TRAILING_TIME.match(text)
    if m:
        read = _read_time(m.group("time"))
        if read is not None:
            date_text, (time_part, time_fmt), zone = m.group("date").rstrip(" ,"), read, _read_zone(m.group("zone"))
    found: dict[dt.datetime, str] = {}
    for fmt in _DATE_FORMATS:
        try:
            day = dt.datetime.strptime(date_text, fmt).date()
        except ValueError:
            continue
        moment = dt.datetime.combine(day, time_part or dt.time(), tzinfo=zone)
        found.setdefault(moment, f"{fmt} {time_fmt}".strip() + (" %z" if zone else ""))
    return found


@DOMAIN.tool(
    meaning=no_facts("reads text the caller supplies; a question would have to spell the text out"),
    kind="processing",
    examples=[
        Example(
            {"text": "March 5, 2024 3:30 PM"}, lambda r: r["iso"] == "2024-03-05T15:30:00" and r["weekday"] == "Tuesday"
        ),
        Example({"text": "03/04/2024", "day_first": True}, lambda r: r["date"] == "2024-04-03"),
        Example(
            {"text": "Tue, 05 Mar 2024 15:30:00 +0100"},
            lambda r: r["utc_offset"] == "+01:00" and r["time"] == "15:30:00",
        ),
        Example(
            {"text": "31.12.1999", "format": "%d.%m.%Y"},
            lambda r: r["date"] == "1999-12-31" and r["weekday"] == "Friday",
        ),
    ],
)
def parse_datetime(
    s: ChronoState,
    text: Annotated[
        str,
        Field(
            description="A written date or date-time: 'March 5, 2024 3:30 PM', '05.03.2024', "
            "'2024-03-05T15:30', 'Tue, 05 Mar 2024 15:30:00 +0100'",
            min_length=1,
            max_length=100,
        ),
    ],
    format: Annotated[
        str | None,
        Field(
            description="Exact strptime pattern (e.g. '%d/%m/%Y %H:%M'); when omitted, common formats are tried",
            max_length=100,
        ),
    ] = None,
    day_first: Annotated[
        bool | None,
        Field(
            description="For numeric dates like 03/04/2024: True = day/month, False = "
            "month/day. Required when both readings are valid."
        ),
    ] = None,
) -> ParsedDate:
    """Read a date or date-time written by a person or a log into ISO 8601, reporting the weekday and the
    pattern that matched. Understands ISO 8601, RFC 2822 (e-mail headers), month names, dotted and
    slashed numeric dates and 12/24-hour times; a numeric date readable both as day/month and
    month/day is refused unless `day_first` says which."""
    raw = " ".join(text.split())
    if format is not None:
        try:
            moment, pattern = dt.datetime.strptime(raw, format), format
        except ValueError as exc:
            raise ToolFailure(f"{text!r} does not match the format {format!r}: {exc}") from None
    else:
        moment = pattern = None
        try:
            moment, pattern = dt.datetime.fromisoformat(raw.replace("z", "Z")), "ISO 8601"
        except ValueError:
            if _RFC2822.match(raw):
                try:
                    moment, pattern = email.utils.parsedate_to_datetime(raw), "RFC 2822"
                except (TypeError, ValueError, IndexError):
                    moment = None
            if moment is None:
                distinct = _readings(raw)
                if len(distinct) > 1:
                    day_month = [(v, f) for v, f in distinct.items() if "%d/%m" in f or "%d-%m" in f or "%d.%m" in f]
                    month_day = [(v, f) for v, f in distinct.items() if (v, f) not in day_month]
                    if day_first is None or not day_month or not month_day:
                        shown = " or ".join(f"{v.date().isoformat()} ({f})" for v, f in distinct.items())
                        raise ToolFailure(
                            f"{text!r} is ambiguous: it reads as {shown}; pass day_first=true "
                            "(day/month) or day_first=false (month/day)"
                        ) from None
                    moment, pattern = (day_month if day_first else month_day)[0]
                elif distinct:
                    moment, pattern = next(iter(distinct.items()))
        if moment is None or pattern is None:
            raise ToolFailure(
                f"could not read {text!r} as a date; write it like '2024-03-05', '5 March 2024', "
                "'March 5, 2024 3:30 PM' or pass an explicit strptime `format`"
            )
    has_time = (
        any(code in pattern for code in ("%H", "%I", "%M"))
        or pattern in ("ISO 8601", "RFC 2822")
        and (moment.time() != dt.time(0) or "T" in raw or ":" in raw)
    )
    return ParsedDate(
        iso=moment.isoformat(),
        date=moment.date().isoformat(),
        time=moment.strftime("%H:%M:%S") if has_time else None,
        utc_offset=format_offset(moment.utcoffset()) if moment.tzinfo else None,
        weekday=WEEKDAYS[moment.weekday()],
        matched_format=pattern,
    )


_PRESETS = {
    "iso8601": "%Y-%m-%dT%H:%M:%S%z",
    "rfc2822": "%a, %d %b %Y %H:%M:%S %z",
    "us_long": "%A, %B %d, %Y",
    "eu_short": "%d.%m.%Y",
    "us_short": "%m/%d/%Y",
    "time_12h": "%I:%M %p",
    "time_24h": "%H:%M",
}


class FormattedDate(BaseModel):
    text: str
    pattern: str = Field(description="The strftime pattern used")
    zone: str | None = Field(description="Zone the instant was shown in, when one was asked for")


@DOMAIN.tool(
    meaning=no_facts("writes a date in a pattern the caller chooses: formatting, not a fact"),
    kind="processing",
    examples=[
        Example(
            {"time": "2024-03-05T15:30:00", "pattern": "%A %d %B %Y, %I:%M %p"},
            lambda r: r["text"] == "Tuesday 05 March 2024, 03:30 PM",
        ),
        Example(
            {"time": "2024-07-01T12:00:00Z", "pattern": "rfc2822", "zone": "Europe/Paris"},
            lambda r: r["text"] == "Mon, 01 Jul 2024 14:00:00 +0200",
        ),
        Example({"time": "2024-12-30", "pattern": "%G-W%V-%u"}, lambda r: r["text"] == "2025-W01-1"),
    ],
)
def format_datetime(
    s: ChronoState,
    time: Annotated[str, Field(description="ISO 8601 date or date-time to format", min_length=8, max_length=40)],
    pattern: Annotated[
        str,
        Field(
            description="strftime pattern ('%d %B %Y', '%A', '%j', '%G-W%V-%u') or a preset: " + ", ".join(_PRESETS),
            min_length=1,
            max_length=200,
        ),
    ],
    zone: Annotated[
        str | None,
        Field(
            description="Show the instant in this zone first (IANA name, offset or city); a "
            "time without offset is then read as UTC",
            max_length=100,
        ),
    ] = None,
) -> FormattedDate:
    """Write a date or date-time with a strftime pattern (%Y year, %m month, %d day, %B month name, %A
    weekday, %H/%I hours, %p AM/PM, %j day of year, %V ISO week, %z offset) or a named preset, optionally
    after converting it to another time zone."""
    fmt = _PRESETS.get(pattern.strip().lower(), pattern)
    if "%" not in fmt:
        raise ToolFailure(
            f"pattern {pattern!r} has no strftime directive such as %Y or %d; presets: {', '.join(_PRESETS)}"
        )
    if zone is not None:
        moment, _, _ = parse_instant(s, time, "UTC", "time")
        moment = moment.astimezone(resolve_zone(s, zone).tz)
    else:
        raw = time.strip()
        try:
            moment = dt.datetime.fromisoformat(raw.replace("z", "Z"))
        except ValueError:
            raise ToolFailure(
                f"time {time!r} is not ISO 8601; use e.g. '2024-03-05' or '2024-03-05T15:30:00'"
            ) from None
    if moment.tzinfo is None and any(code in fmt for code in ("%z", "%Z")):
        raise ToolFailure(
            "the pattern prints an offset (%z/%Z) but the time has none; add an offset to the time or pass `zone`"
        )
    try:
        out = moment.strftime(fmt)
    except ValueError as exc:
        raise ToolFailure(f"bad strftime pattern {pattern!r}: {exc}") from None
    return FormattedDate(text=out, pattern=fmt, zone=resolve_zone(s, zone).name if zone else None)


class UnixConversion(BaseModel):
    timestamp_seconds: float = Field(description="Seconds since 1970-01-01T00:00:00Z")
    timestamp_milliseconds: int
    utc: str
    local: ZonedTime = Field(description="The instant in the requested zone (UTC when none)")


_UNIT_SCALE = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


@DOMAIN.tool(
    meaning=no_facts("converts a timestamp the caller supplies; a question would have to spell the number out"),
    kind="processing",
    examples=[
        Example({"timestamp": 1700000000}, lambda r: r["utc"] == "2023-11-14T22:13:20Z"),
        Example(
            {"timestamp": 1719835200000, "unit": "ms", "zone": "Asia/Tokyo"},
            lambda r: r["utc"] == "2024-07-01T12:00:00Z" and r["local"]["time"] == "21:00:00",
        ),
    ],
)
def from_unix_timestamp(
    s: ChronoState,
    timestamp: Annotated[float, Field(description="Unix timestamp (may be negative for dates before 1970)")],
    unit: Annotated[
        Literal["s", "ms", "us", "ns"],
        Field(description="Unit of the timestamp: seconds, milli-, micro- or nanoseconds"),
    ] = "s",
    zone: Annotated[
        str | None, Field(description="Also show the instant in this zone (IANA name, offset or city)", max_length=100)
    ] = None,
) -> UnixConversion:
    """Turn a Unix timestamp (seconds, milliseconds, microseconds or nanoseconds since 1970-01-01 UTC) into a
    UTC date-time and, optionally, the local time in a zone or city."""
    seconds = timestamp / _UNIT_SCALE[unit]
    try:
        moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    except OverflowError:
        raise ToolFailure(f"timestamp {timestamp} {unit} is outside the years 1-9999; check the unit") from None
    target = resolve_zone(s, zone) if zone else resolve_zone(s, "UTC")
    return UnixConversion(
        timestamp_seconds=seconds,
        timestamp_milliseconds=round(seconds * 1000),
        utc=utc_iso(moment),
        local=zoned(moment, target),
    )


@DOMAIN.tool(
    meaning=no_facts("converts a date-time the caller supplies to a timestamp; a question would have to spell it out"),
    kind="processing",
    examples=[
        Example({"time": "2024-01-01T00:00:00Z"}, lambda r: r["timestamp_seconds"] == 1704067200),
        Example(
            {"time": "2024-07-01T09:00:00", "zone": "America/New_York"},
            lambda r: r["timestamp_seconds"] == 1719838800 and r["utc"] == "2024-07-01T13:00:00Z",
        ),
    ],
)
def to_unix_timestamp(
    s: ChronoState,
    time: Annotated[
        str,
        Field(
            description="ISO 8601 date-time; with an offset it is exact, without one it is a "
            "wall-clock time in `zone` (UTC when omitted)",
            min_length=10,
            max_length=40,
        ),
    ],
    zone: Annotated[
        str | None, Field(description="Zone of a wall-clock time (IANA name, offset or city)", max_length=100)
    ] = None,
) -> UnixConversion:
    """Turn a date-time into a Unix timestamp (seconds and milliseconds since 1970-01-01 UTC), reading a
    time without an offset as wall-clock time in the given zone or city."""
    moment, resolved, _ = parse_instant(s, time, zone, "time", "error")
    seconds = (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).total_seconds()
    return UnixConversion(
        timestamp_seconds=seconds,
        timestamp_milliseconds=round(seconds * 1000),
        utc=utc_iso(moment),
        local=zoned(moment, resolved),
    )
