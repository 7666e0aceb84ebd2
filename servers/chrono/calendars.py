"""Calendar tools: date arithmetic, business days, public holidays, ISO weeks and month grids."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Annotated, Literal

from dateutil.relativedelta import relativedelta
from dive.servers.kit import Example, Fact, Items, Meaning, Takes, ToolFailure, no_facts
from pydantic import BaseModel, Field

from .domain import (
    DOMAIN,
    WEEKDAYS,
    ChronoState,
    CountryArg,
    DateArg,
    SubdivisionArg,
    holiday_calendar,
    localize,
    parse_date,
    parse_naive_or_aware,
    resolve_zone,
    weekday_number,
    weekend_days,
)


class Holiday(BaseModel):
    date: str
    name: str
    weekday: str


def _holidays_between(cal, start: dt.date, end: dt.date) -> list[Holiday]:
    return [
        Holiday(date=d.isoformat(), name=name, weekday=WEEKDAYS[d.weekday()])
        for d, name in sorted(cal.items())
        if start <= d <= end
    ]


def _calendar_for(country: str | None, subdivision: str | None, first: dt.date, last: dt.date):
    if country is None:
        if subdivision:
            raise ToolFailure("subdivision needs a country")
        return None
    return holiday_calendar(country, range(first.year, last.year + 1), subdivision)


# -- date arithmetic --------------------------------------------------------------------------


class DateShift(BaseModel):
    start: str
    result: str = Field(description="ISO date, or date-time when the start had a time or time units were added")
    result_date: str
    weekday: str
    calendar_days_between: int = Field(description="Result date minus start date, in days")
    clamped_to_month_end: bool = Field(
        description="True when adding months/years landed past a month's end "
        "(e.g. Jan 31 + 1 month -> Feb 29) and was clamped"
    )


@DOMAIN.tool(
    meaning=no_facts("shifts a date by amounts the caller chooses (years, months, days, hours...); a question would "
                     "have to spell the whole shift out, a recipe rather than a fact"),
    kind="processing",
    examples=[
        Example(
            {"start": "2024-01-31", "months": 1}, lambda r: r["result"] == "2024-02-29" and r["clamped_to_month_end"]
        ),
        Example(
            {"start": "2024-03-30T12:00:00", "hours": 24, "zone": "Europe/Paris"},
            lambda r: r["result"] == "2024-03-31T13:00:00+02:00",
        ),
        Example(
            {"start": "2023-03-15", "years": -1, "days": 100},
            lambda r: r["result"] == "2022-06-23" and r["weekday"] == "Thursday",
        ),
    ],
)
def add_to_date(
    s: ChronoState,
    start: Annotated[
        str,
        Field(description="ISO date ('2024-01-31') or date-time ('2024-01-31T09:00:00')", min_length=8, max_length=40),
    ],
    years: Annotated[int, Field(ge=-1000, le=1000)] = 0,
    months: Annotated[int, Field(ge=-12000, le=12000)] = 0,
    weeks: Annotated[int, Field(ge=-52000, le=52000)] = 0,
    days: Annotated[int, Field(ge=-365000, le=365000)] = 0,
    hours: Annotated[int, Field(ge=-8760000, le=8760000)] = 0,
    minutes: Annotated[int, Field(ge=-525600000, le=525600000)] = 0,
    seconds: Annotated[int, Field(ge=-31536000000, le=31536000000)] = 0,
    zone: Annotated[
        str | None,
        Field(
            description="Zone of a wall-clock start (IANA name, offset or city): hours/minutes/"
            "seconds then count real elapsed time across DST changes",
            max_length=100,
        ),
    ] = None,
) -> DateShift:
    """Add (or, with negative numbers, subtract) years, months, weeks, days, hours, minutes and seconds to
    a date or date-time. Years and months move on the calendar and clamp to the month's last day
    (Jan 31 + 1 month = Feb 29 in a leap year); days and weeks move on the calendar; with a `zone`,
    hours/minutes/seconds are real elapsed time, so adding 24 hours across a DST change moves the
    wall clock by 23 or 25 hours."""
    has_time = "T" in start or ":" in start
    base = (
        parse_naive_or_aware(start, "start") if has_time else dt.datetime.combine(parse_date(start, "start"), dt.time())
    )
    calendar_part = relativedelta(years=years, months=months)
    try:
        shifted = base + calendar_part
        clamped = (years or months) and shifted.day != base.day
        shifted = shifted + dt.timedelta(weeks=weeks, days=days)
        elapsed = dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)
        if zone is not None and elapsed:
            resolved = resolve_zone(s, zone)
            aware = shifted if shifted.tzinfo else localize(shifted, resolved)[0]
            shifted = (aware.astimezone(dt.UTC) + elapsed).astimezone(resolved.tz)
        else:
            shifted = shifted + elapsed
    except (OverflowError, ValueError):
        raise ToolFailure("the result falls outside the years 1-9999; use smaller amounts") from None
    show_time = has_time or bool(hours or minutes or seconds)
    return DateShift(
        start=start,
        result=shifted.isoformat() if show_time else shifted.date().isoformat(),
        result_date=shifted.date().isoformat(),
        weekday=WEEKDAYS[shifted.weekday()],
        calendar_days_between=(shifted.date() - base.date()).days,
        clamped_to_month_end=bool(clamped),
    )


class BusinessDayShift(BaseModel):
    start: str
    business_days: int
    result: str
    weekday: str
    calendar_days_between: int
    weekend_days: list[str] = Field(description="The weekday names treated as weekend")
    weekend_days_skipped: int
    holidays_skipped: list[Holiday] = Field(description="Public holidays on working days that were skipped")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"start": Takes("date", "iso"), "country": Takes("country", "code")},
        facts=(
            Fact("result", "the date {business_days} business days after {start} in {country}", refers_to="date",
                 by="iso"),
        ),
    ),
    kind="processing",
    examples=[
        Example(
            {"start": "2024-12-23", "business_days": 3, "country": "GB"},
            lambda r: (
                r["result"] == "2024-12-30"
                and {h["name"] for h in r["holidays_skipped"]} == {"Christmas Day", "Boxing Day"}
            ),
        ),
        Example({"start": "2024-07-05", "business_days": -2, "country": "US"}, lambda r: r["result"] == "2024-07-02"),
        Example(
            {"start": "2024-03-01", "business_days": 10},
            lambda r: r["result"] == "2024-03-15" and r["weekend_days_skipped"] == 4,
        ),
    ],
)
def add_business_days(
    s: ChronoState,
    start: DateArg,
    business_days: Annotated[int, Field(ge=-10000, le=10000, description="Working days to move; negative goes back")],
    country: Annotated[
        str | None,
        Field(
            description="Skip this country's public holidays (ISO code or name); "
            "also uses its weekend (e.g. Fri-Sat in Saudi Arabia)",
            max_length=60,
        ),
    ] = None,
    subdivision: SubdivisionArg = None,
) -> BusinessDayShift:
    """Move a date forward or back by a number of working days, skipping weekends and (with a country)
    that country's public holidays; lists the holidays skipped. With 0 days a non-working start rolls
    forward to the next working day. Answers 'what is the date 10 business days after D in Germany'."""
    begin = parse_date(start, "start")
    span_end = begin + dt.timedelta(days=int(abs(business_days) * 1.6) + 30)
    span_start = begin - dt.timedelta(days=int(abs(business_days) * 1.6) + 30)
    cal = _calendar_for(country, subdivision, span_start, span_end)
    weekend = weekend_days(cal)
    if len(weekend) >= 7:
        raise ToolFailure("every day is a weekend day; nothing to count")
    step = dt.timedelta(days=1 if business_days >= 0 else -1)
    skipped_weekend = 0
    skipped_holidays: list[Holiday] = []

    def working(day: dt.date) -> bool:
        return day.weekday() not in weekend and not (cal is not None and day in cal)

    def note_skip(day: dt.date) -> None:
        nonlocal skipped_weekend
        if day.weekday() in weekend:
            skipped_weekend += 1
        elif cal is not None and day in cal:
            skipped_holidays.append(Holiday(date=day.isoformat(), name=cal.get(day), weekday=WEEKDAYS[day.weekday()]))

    day = begin
    if business_days == 0:
        while not working(day):
            note_skip(day)
            day += dt.timedelta(days=1)
    remaining = abs(business_days)
    while remaining:
        day += step
        if working(day):
            remaining -= 1
        else:
            note_skip(day)
    return BusinessDayShift(
        start=begin.isoformat(),
        business_days=business_days,
        result=day.isoformat(),
        weekday=WEEKDAYS[day.weekday()],
        calendar_days_between=(day - begin).days,
        weekend_days=[WEEKDAYS[d] for d in sorted(weekend)],
        weekend_days_skipped=skipped_weekend,
        holidays_skipped=skipped_holidays,
    )


class DayCount(BaseModel):
    start: str
    end: str
    calendar_days: int = Field(description="End minus start (plus one when include_end); negative when end is earlier")
    weeks: int = Field(description="Whole weeks in the counted span")
    remaining_days: int = Field(description="Days beyond the whole weeks")
    counted_span: str = Field(description="The days counted, e.g. '2024-01-01 to 2024-01-31 inclusive'")
    working_days: int = Field(description="Non-weekend days in the counted span")
    weekend_days: int
    holidays_on_working_days: list[Holiday]
    business_days: int = Field(description="Working days minus public holidays (equals working_days without a country)")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"start": Takes("date", "iso"), "end": Takes("date", "iso"), "country": Takes("country", "code")},
        facts=(
            Fact("business_days", "the number of business days in {country} from {start} up to, but not including, "
                 "{end}"),
        ),
    ),
    kind="processing",
    examples=[
        Example(
            {"start": "2024-01-01", "end": "2024-12-31", "include_end": True},
            lambda r: r["calendar_days"] == 366 and r["working_days"] == 262 and r["weeks"] == 52,
        ),
        Example(
            {"start": "2024-05-01", "end": "2024-06-01", "country": "DE"},
            lambda r: (
                r["business_days"] == r["working_days"] - len(r["holidays_on_working_days"])
                and {"Labor Day", "Ascension Day", "Pentecost Monday"}
                <= {h["name"] for h in r["holidays_on_working_days"]}
            ),
        ),
    ],
)
def count_days(
    s: ChronoState,
    start: DateArg,
    end: DateArg,
    include_end: Annotated[
        bool, Field(description="Count the end date too (default: end is excluded, as in 'days until')")
    ] = False,
    country: Annotated[
        str | None, Field(description="Count business days net of this country's public holidays", max_length=60)
    ] = None,
    subdivision: SubdivisionArg = None,
) -> DayCount:
    """Count the days between two dates: calendar days, whole weeks plus days, working (non-weekend) days,
    and business days net of a country's public holidays, listing those holidays. By default the end
    date is excluded; set include_end to count it."""
    a, b = parse_date(start, "start"), parse_date(end, "end")
    sign = 1 if b >= a else -1
    lo, hi = (a, b) if b >= a else (b, a)
    last = hi if include_end else hi - dt.timedelta(days=1)
    total = (last - lo).days + 1 if last >= lo else 0
    cal = _calendar_for(country, subdivision, lo, max(last, lo))
    weekend = weekend_days(cal)
    working = weekend_count = 0
    hols: list[Holiday] = []
    day = lo
    while day <= last:
        if day.weekday() in weekend:
            weekend_count += 1
        else:
            working += 1
            if cal is not None and day in cal:
                hols.append(Holiday(date=day.isoformat(), name=cal.get(day), weekday=WEEKDAYS[day.weekday()]))
        day += dt.timedelta(days=1)
    span = f"{lo.isoformat()} to {last.isoformat()} inclusive" if total else "no days"
    return DayCount(
        start=a.isoformat(),
        end=b.isoformat(),
        calendar_days=sign * total,
        weeks=total // 7,
        remaining_days=total % 7,
        counted_span=span,
        working_days=working,
        weekend_days=weekend_count,
        holidays_on_working_days=hols,
        business_days=working - len(hols),
    )


class Elapsed(BaseModel):
    start: str
    end: str
    negative: bool = Field(description="True when end is before start (the parts below are then magnitudes)")
    years: int
    months: int
    days: int
    hours: int
    minutes: int
    seconds: int
    total_days: float
    total_weeks: float
    total_hours: float
    total_seconds: float
    text: str = Field(description="'33 years, 2 months, 5 days'")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"start": Takes("date", "iso"), "end": Takes("date", "iso")},
        facts=(
            Fact("years", "the number of whole years from {start} to {end}"),
            Fact("total_days", "the number of days from {start} to {end}", unit="days"),
        ),
    ),
    kind="processing",
    examples=[
        Example(
            {"start": "1990-08-15", "end": "2024-03-01"},
            lambda r: (r["years"], r["months"], r["days"]) == (33, 6, 15) and r["total_days"] == 12252,
        ),
        Example(
            {"start": "2024-03-30T12:00:00+01:00", "end": "2024-03-31T12:00:00+02:00"}, lambda r: r["total_hours"] == 23
        ),
        Example(
            {"start": "2000-02-29", "end": "2001-02-28"},
            lambda r: (r["years"], r["months"], r["days"]) == (1, 0, 0) and r["total_days"] == 365,
        ),
    ],
)
def elapsed_time(
    s: ChronoState,
    start: Annotated[str, Field(description="ISO date or date-time (e.g. a birth date)", min_length=8, max_length=40)],
    end: Annotated[
        str,
        Field(
            description="ISO date or date-time to measure to (give it explicitly: nothing reads the clock)",
            min_length=8,
            max_length=40,
        ),
    ],
) -> Elapsed:
    """The time between two dates or date-times as years, months, days, hours, minutes and seconds (as a
    person counts an age), plus totals in days, weeks, hours and seconds. Months and years count from
    the start's day of month, clamped to shorter months (a 29 February start completes a year on
    28 February). Date-times with offsets are compared as real instants, so DST changes count."""
    a, b = parse_naive_or_aware(start, "start"), parse_naive_or_aware(end, "end")
    if (a.tzinfo is None) != (b.tzinfo is None):
        raise ToolFailure("start and end must both have a UTC offset or both have none")
    negative = b < a
    lo, hi = (b, a) if negative else (a, b)
    total = hi - lo
    if lo.tzinfo is not None:
        lo_cal, hi_cal = lo.replace(tzinfo=None), (lo + total).astimezone(lo.tzinfo).replace(tzinfo=None)
    else:
        lo_cal, hi_cal = lo, hi
    rd = relativedelta(hi_cal, lo_cal)
    parts = [
        (rd.years, "year"),
        (rd.months, "month"),
        (rd.days, "day"),
        (rd.hours, "hour"),
        (rd.minutes, "minute"),
        (rd.seconds, "second"),
    ]
    text = ", ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n) or "0 days"
    secs = total.total_seconds()
    return Elapsed(
        start=start,
        end=end,
        negative=negative,
        years=rd.years,
        months=rd.months,
        days=rd.days,
        hours=rd.hours,
        minutes=rd.minutes,
        seconds=rd.seconds,
        total_days=round(secs / 86400, 6),
        total_weeks=round(secs / 604800, 6),
        total_hours=round(secs / 3600, 6),
        total_seconds=secs,
        text=("minus " if negative else "") + text,
    )


# -- facts about a date -----------------------------------------------------------------------


class DateInfo(BaseModel):
    date: str
    weekday: str
    weekday_number: int = Field(description="ISO weekday: 1 = Monday ... 7 = Sunday")
    iso_year: int = Field(description="ISO week-numbering year (differs from the calendar year near New Year)")
    iso_week: int
    iso_week_date: str = Field(description="'2025-W01-1'")
    day_of_year: int
    days_remaining_in_year: int
    quarter: int
    is_leap_year: bool
    days_in_month: int
    week_of_month: int = Field(description="1 for days 1-7, 2 for days 8-14, ...")
    days_since_unix_epoch: int


@DOMAIN.tool(
    meaning=Meaning(
        takes={"date": Takes("date", "iso")},
        facts=(
            Fact("weekday", "the day of the week of {date}"),
            Fact("iso_week", "the ISO week number of {date}"),
            Fact("day_of_year", "the day of the year of {date}"),
            Fact("quarter", "the quarter of the year in which {date} falls"),
            Fact("days_remaining_in_year", "the number of days left in the year after {date}", unit="days"),
        ),
    ),
    kind="processing",
    examples=[
        Example(
            {"date": "2024-12-30"}, lambda r: r["weekday"] == "Monday" and r["iso_year"] == 2025 and r["iso_week"] == 1
        ),
        Example(
            {"date": "2024-02-29"},
            lambda r: (
                r["day_of_year"] == 60
                and r["is_leap_year"]
                and r["quarter"] == 1
                and r["days_remaining_in_year"] == 306
            ),
        ),
    ],
)
def date_info(s: ChronoState, date: DateArg) -> DateInfo:
    """Facts about a calendar date: weekday, ISO week number and ISO week-numbering year, day of year,
    days left in the year, quarter, leap year, days in its month, week of month, and days since
    1970-01-01."""
    d = parse_date(date)
    iso = d.isocalendar()
    year_len = 366 if calendar.isleap(d.year) else 365
    doy = d.timetuple().tm_yday
    return DateInfo(
        date=d.isoformat(),
        weekday=WEEKDAYS[d.weekday()],
        weekday_number=iso.weekday,
        iso_year=iso.year,
        iso_week=iso.week,
        iso_week_date=f"{iso.year}-W{iso.week:02d}-{iso.weekday}",
        day_of_year=doy,
        days_remaining_in_year=year_len - doy,
        quarter=(d.month - 1) // 3 + 1,
        is_leap_year=calendar.isleap(d.year),
        days_in_month=calendar.monthrange(d.year, d.month)[1],
        week_of_month=(d.day - 1) // 7 + 1,
        days_since_unix_epoch=(d - dt.date(1970, 1, 1)).days,
    )


class IsoWeek(BaseModel):
    iso_year: int
    week: int
    weeks_in_year: int = Field(description="52 or 53")
    monday: str
    sunday: str
    dates: list[str] = Field(description="Monday to Sunday")


@DOMAIN.tool(
    meaning=no_facts("lays out a week the caller names by year and number: calendar arithmetic on given numbers"),
    kind="processing",
    examples=[
        Example({"iso_year": 2026, "week": 53}, lambda r: r["monday"] == "2026-12-28" and r["sunday"] == "2027-01-03"),
        Example({"iso_year": 2025, "week": 1}, lambda r: r["monday"] == "2024-12-30" and r["weeks_in_year"] == 52),
    ],
)
def iso_week_dates(
    s: ChronoState,
    iso_year: Annotated[int, Field(ge=1, le=9998, description="ISO week-numbering year")],
    week: Annotated[int, Field(ge=1, le=53, description="ISO week number")],
) -> IsoWeek:
    """The seven dates (Monday to Sunday) of an ISO 8601 week, and whether the year has 52 or 53 weeks.
    Answers 'which dates are in week 27 of 2024'."""
    weeks = dt.date(iso_year, 12, 28).isocalendar().week
    if week > weeks:
        raise ToolFailure(f"ISO year {iso_year} has only {weeks} weeks; week {week} does not exist")
    monday = dt.date.fromisocalendar(iso_year, week, 1)
    dates = [(monday + dt.timedelta(days=i)).isoformat() for i in range(7)]
    return IsoWeek(iso_year=iso_year, week=week, weeks_in_year=weeks, monday=dates[0], sunday=dates[-1], dates=dates)


WeekdayArg = Annotated[
    str, Field(description="Weekday name or abbreviation: 'Monday', 'Fri'", min_length=3, max_length=12)
]


class WeekdayOccurrence(BaseModel):
    date: str
    weekday: str
    days_from_start: int


@DOMAIN.tool(
    meaning=no_facts("steps through the calendar by a rule the caller spells out (weekday, occurrence, direction); "
                     "a question would have to restate the rule"),
    kind="processing",
    examples=[
        Example(
            {"date": "2024-02-27", "weekday": "Friday"},
            lambda r: r["date"] == "2024-03-01" and r["days_from_start"] == 3,
        ),
        Example(
            {"date": "2024-03-15", "weekday": "Fri", "direction": "previous", "include_start": True},
            lambda r: r["date"] == "2024-03-15",
        ),
        Example({"date": "2024-01-01", "weekday": "Monday", "occurrence": 3}, lambda r: r["date"] == "2024-01-22"),
    ],
)
def next_weekday(
    s: ChronoState,
    date: DateArg,
    weekday: WeekdayArg,
    occurrence: Annotated[int, Field(ge=1, le=520, description="1 = the first such weekday, 2 = the second, ...")] = 1,
    direction: Annotated[Literal["next", "previous"], Field(description="Search forward or backward")] = "next",
    include_start: Annotated[bool, Field(description="Let the start date itself count if it is that weekday")] = False,
) -> WeekdayOccurrence:
    """The next (or previous) occurrence of a weekday from a date, or the n-th one: 'the first Friday after
    2024-02-27', 'the third Monday from 2024-01-01'."""
    d = parse_date(date)
    target = weekday_number(weekday)
    step = 1 if direction == "next" else -1
    if direction == "next":
        gap = (target - d.weekday()) % 7
    else:
        gap = (d.weekday() - target) % 7
    if gap == 0 and not include_start:
        gap = 7
    result = d + dt.timedelta(days=step * (gap + 7 * (occurrence - 1)))
    return WeekdayOccurrence(
        date=result.isoformat(), weekday=WEEKDAYS[result.weekday()], days_from_start=(result - d).days
    )


class NthWeekday(BaseModel):
    date: str
    weekday: str
    count_in_month: int = Field(description="How many times that weekday occurs in the month (4 or 5)")


@DOMAIN.tool(
    meaning=no_facts("pure calendar arithmetic on a year, month, weekday and position the caller supplies"),
    kind="processing",
    examples=[
        Example({"year": 2024, "month": 11, "weekday": "Thursday", "n": 4}, lambda r: r["date"] == "2024-11-28"),
        Example(
            {"year": 2024, "month": 5, "weekday": "Monday", "n": -1},
            lambda r: r["date"] == "2024-05-27" and r["count_in_month"] == 4,
        ),
    ],
)
def nth_weekday_of_month(
    s: ChronoState,
    year: Annotated[int, Field(ge=1, le=9999)],
    month: Annotated[int, Field(ge=1, le=12)],
    weekday: WeekdayArg,
    n: Annotated[int, Field(ge=-5, le=5, description="1..5 = first..fifth; -1 = last, -2 = second to last")],
) -> NthWeekday:
    """The date of the n-th (or n-th from last) given weekday of a month: 'the fourth Thursday of November
    2024', 'the last Monday of May 2024'."""
    if n == 0:
        raise ToolFailure("n must be 1..5 (first to fifth) or -1..-5 (last to fifth from last), not 0")
    target = weekday_number(weekday)
    days = [
        dt.date(year, month, day)
        for day in range(1, calendar.monthrange(year, month)[1] + 1)
        if dt.date(year, month, day).weekday() == target
    ]
    index = n - 1 if n > 0 else n
    if not -len(days) <= index < len(days):
        raise ToolFailure(f"{calendar.month_name[month]} {year} has only {len(days)} {WEEKDAYS[target]}s")
    return NthWeekday(date=days[index].isoformat(), weekday=WEEKDAYS[target], count_in_month=len(days))


class MonthCalendar(BaseModel):
    year: int
    month: int
    month_name: str
    first_weekday: str
    days_in_month: int
    weeks: list[list[int | None]] = Field(description="Rows of 7 day numbers, null outside the month")
    column_headers: list[str]
    text: str = Field(description="The grid as plain text, like the `cal` command")
    holidays: list[Holiday] = Field(description="Public holidays in the month (with a country)")
    working_days: int = Field(description="Non-weekend days that are not public holidays")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"country": Takes("country", "code")},
        facts=(Fact("working_days", "the number of working days in {country} in month {month} of {year}"),),
    ),
    kind="processing",
    examples=[
        Example(
            {"year": 2024, "month": 2},
            lambda r: (
                r["weeks"][0][:4] == [None, None, None, 1] and r["days_in_month"] == 29 and r["working_days"] == 21
            ),
        ),
        Example(
            {"year": 2024, "month": 12, "country": "GB", "week_starts_on": "Sunday"},
            lambda r: (
                r["column_headers"][0] == "Su"
                and r["weeks"][0][0] == 1
                and len(r["holidays"]) == 2
                and r["working_days"] == 20
            ),
        ),
    ],
)
def month_calendar(
    s: ChronoState,
    year: Annotated[int, Field(ge=1, le=9999)],
    month: Annotated[int, Field(ge=1, le=12)],
    week_starts_on: Annotated[Literal["Monday", "Sunday"], Field(description="First column of the grid")] = "Monday",
    country: Annotated[
        str | None, Field(description="Mark this country's public holidays and count its working days", max_length=60)
    ] = None,
    subdivision: SubdivisionArg = None,
) -> MonthCalendar:
    """A month laid out as a calendar grid (weeks as rows), as data and as text, with the month's public
    holidays and working-day count when a country is given."""
    first = 0 if week_starts_on == "Monday" else 6
    cal = calendar.Calendar(firstweekday=first)
    weeks = [[d or None for d in week] for week in cal.monthdayscalendar(year, month)]
    headers = [WEEKDAYS[(first + i) % 7][:2] for i in range(7)]
    text = calendar.TextCalendar(firstweekday=first).formatmonth(year, month).rstrip("\n")
    days_in = calendar.monthrange(year, month)[1]
    start, last = dt.date(year, month, 1), dt.date(year, month, days_in)
    hcal = _calendar_for(country, subdivision, start, last)
    weekend = weekend_days(hcal)
    hols = _holidays_between(hcal, start, last) if hcal is not None else []
    holiday_dates = {h.date for h in hols}
    working = sum(
        1
        for day in range(1, days_in + 1)
        if dt.date(year, month, day).weekday() not in weekend
        and dt.date(year, month, day).isoformat() not in holiday_dates
    )
    return MonthCalendar(
        year=year,
        month=month,
        month_name=calendar.month_name[month],
        first_weekday=WEEKDAYS[start.weekday()],
        days_in_month=days_in,
        weeks=weeks,
        column_headers=headers,
        text=text,
        holidays=hols,
        working_days=working,
    )


# -- public holidays --------------------------------------------------------------------------


class HolidayList(BaseModel):
    country: str
    subdivision: str | None
    year: int
    count: int
    on_weekends: int = Field(description="How many fall on a weekend day")
    holidays: list[Holiday] = Field(description="In date order")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"country": Takes("country", "code")},
        facts=(
            Fact("count", "the number of public holidays in {country} in {year}"),
            Fact("on_weekends", "the number of public holidays in {country} in {year} that fall on a weekend"),
        ),
        items=(
            Items("holidays", phrase="the public holidays of {country} in {year}", total="count", name="name",
                  attributes={"date": "date", "weekday": "day of the week"}),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"country": "US", "year": 2024},
            lambda r: (
                r["count"] == 11
                and {"date": "2024-11-28", "name": "Thanksgiving Day", "weekday": "Thursday"} in r["holidays"]
            ),
        ),
        Example(
            {"country": "Germany", "year": 2024, "subdivision": "BY"},
            lambda r: any(h["name"] == "Epiphany" for h in r["holidays"]) and r["country"] == "DE",
        ),
    ],
)
def public_holidays(
    s: ChronoState,
    country: CountryArg,
    year: Annotated[int, Field(ge=1900, le=2100)],
    subdivision: SubdivisionArg = None,
    month: Annotated[int | None, Field(ge=1, le=12, description="Only this month")] = None,
) -> HolidayList:
    """A country's public holidays in a year (optionally one region's, or one month's), with dates,
    English names and weekdays, from the `holidays` package's official calendars."""
    cal = holiday_calendar(country, [year], subdivision)
    start = dt.date(year, month or 1, 1)
    end = dt.date(year, month or 12, calendar.monthrange(year, month or 12)[1])
    hols = _holidays_between(cal, start, end)
    weekend = weekend_days(cal)
    return HolidayList(
        country=cal.country,
        subdivision=cal.subdiv,
        year=year,
        count=len(hols),
        on_weekends=sum(1 for h in hols if dt.date.fromisoformat(h.date).weekday() in weekend),
        holidays=hols,
    )


class BusinessDayStatus(BaseModel):
    date: str
    weekday: str
    is_weekend: bool
    holidays: list[str] = Field(description="Names of public holidays on this date")
    is_business_day: bool
    previous_business_day: str
    next_business_day: str
    next_holiday: Holiday | None = Field(description="The first public holiday after this date (within a year)")
    days_until_next_holiday: int | None


@DOMAIN.tool(
    meaning=Meaning(
        takes={"date": Takes("date", "iso"), "country": Takes("country", "code")},
        facts=(
            Fact("is_business_day", "whether {date} is a business day in {country}"),
            Fact("previous_business_day", "the last business day in {country} before {date}", refers_to="date",
                 by="iso"),
            Fact("next_business_day", "the first business day in {country} after {date}", refers_to="date", by="iso"),
            Fact("next_holiday.name", "the first public holiday in {country} after {date}"),
            Fact("next_holiday.date", "the date of the first public holiday in {country} after {date}",
                 refers_to="date", by="iso"),
            Fact("days_until_next_holiday", "the number of days from {date} to the next public holiday in {country}",
                 unit="days"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"date": "2024-07-04", "country": "US"},
            lambda r: (
                not r["is_business_day"]
                and r["holidays"] == ["Independence Day"]
                and r["next_business_day"] == "2024-07-05"
                and r["previous_business_day"] == "2024-07-03"
            ),
        ),
        Example(
            {"date": "2024-12-20", "country": "GB", "subdivision": "ENG"},
            lambda r: (
                r["is_business_day"]
                and r["next_holiday"]["date"] == "2024-12-25"
                and r["days_until_next_holiday"] == 5
                and r["next_business_day"] == "2024-12-23"
            ),
        ),
    ],
)
def business_day_status(
    s: ChronoState, date: DateArg, country: CountryArg, subdivision: SubdivisionArg = None
) -> BusinessDayStatus:
    """Whether a date is a business day in a country (weekend? public holiday? which?), the previous and
    next business days, and the next public holiday with how many days away it is."""
    d = parse_date(date)
    cal = holiday_calendar(country, range(d.year - 1, d.year + 2), subdivision)
    weekend = weekend_days(cal)

    def working(day: dt.date) -> bool:
        return day.weekday() not in weekend and day not in cal

    prev_day, next_day = d - dt.timedelta(days=1), d + dt.timedelta(days=1)
    while not working(prev_day):
        prev_day -= dt.timedelta(days=1)
    while not working(next_day):
        next_day += dt.timedelta(days=1)
    upcoming = [(h, n) for h, n in sorted(cal.items()) if d < h <= d + dt.timedelta(days=366)]
    nxt = (
        Holiday(date=upcoming[0][0].isoformat(), name=upcoming[0][1], weekday=WEEKDAYS[upcoming[0][0].weekday()])
        if upcoming
        else None
    )
    names = cal.get_list(d)
    return BusinessDayStatus(
        date=d.isoformat(),
        weekday=WEEKDAYS[d.weekday()],
        is_weekend=d.weekday() in weekend,
        holidays=names,
        is_business_day=working(d),
        previous_business_day=prev_day.isoformat(),
        next_business_day=next_day.isoformat(),
        next_holiday=nxt,
        days_until_next_holiday=(upcoming[0][0] - d).days if upcoming else None,
    )
