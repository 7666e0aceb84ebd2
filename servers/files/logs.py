"""Log files: entries filtered by level, time, event, fields and text, and summaries counted by level or any key.

A log line is `<ISO timestamp> <LEVEL> <message>`; `key=value` pairs in the message become fields and
its first word (`booking.confirmed`) the event. Lines that do not start with a timestamp continue the
entry above them (stack traces) and are otherwise counted as unparsed.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from dive.servers.kit import Example, Fact, Items, Meaning, Memo, Takes, ToolFailure, content_key
from pydantic import BaseModel, Field

from .browse import compile_pattern
from .tables import typed
from .workspace import DOMAIN, FilesState, read_text, walk_files

_LINE = re.compile(
    r"^\[?(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)\]?"
    r"\s+(?:\[?(?P<level>TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|CRIT|FATAL|SEVERE)\]?:?(?:\s+|$))?"
    r"(?P<msg>.*)$",
    re.IGNORECASE,
)
_FIELD = re.compile(r"(?<![\w.])([A-Za-z_][\w.-]*)=(\"[^\"]*\"|'[^']*'|[^\s,;]+)")
_CANONICAL = {"WARN": "WARNING", "ERR": "ERROR", "CRIT": "CRITICAL", "FATAL": "CRITICAL", "SEVERE": "CRITICAL"}

LogPathArg = Annotated[str, Field(description="A log file, or a directory whose log files are all read, e.g. 'logs' or "
                                  "'logs/bookings-2024-03.log'")]
IncludeArg = Annotated[str, Field(description="With a directory: which files to read (name glob)")]
LevelsArg = Annotated[list[str] | None, Field(description="Only these levels, e.g. ['ERROR', 'WARN'] (WARN and WARNING "
                                              "are the same level, as are ERR/ERROR and FATAL/CRITICAL)")]
SinceArg = Annotated[str | None, Field(description="Only entries at or after this ISO time or prefix, e.g. '2024-03-05' or '2024-03-05T12:00'")]
UntilArg = Annotated[str | None, Field(description="Only entries up to this ISO time or prefix, inclusive: '2024-03-05' "
                                       "includes the whole day")]


def canonical_level(level: str) -> str:
    level = level.upper()
    return _CANONICAL.get(level, level)


@dataclass
class Entry:
    path: str
    line_number: int
    timestamp: str
    level: str | None
    message: str
    event: str | None
    fields: dict[str, Any] = field(default_factory=dict)


def parse_log(text: str, path: str) -> tuple[list[Entry], int]:
    """The entries of a log text, and how many lines were neither an entry nor a continuation of one."""
    entries: list[Entry] = []
    unparsed = 0
    for i, line in enumerate(text.splitlines()):
        m = _LINE.match(line)
        if not m:
            if entries and line.strip() and line[:1].isspace():
                entries[-1].message += "\n" + line
            elif line.strip():
                unparsed += 1
            continue
        msg = m.group("msg").strip()
        level = m.group("level")
        fields: dict[str, Any] = {}
        for key, raw in _FIELD.findall(msg):
            fields[key] = typed(raw.strip("\"'"))
        first = msg.split(" ", 1)[0] if msg else ""
        event = first if first and "=" not in first and re.fullmatch(r"[\w.:/-]+", first) else None
        entries.append(Entry(path, i + 1, m.group("ts").replace(" ", "T", 1), level.upper() if level else None, msg, event, fields))
    return entries, unparsed


#: Parsed logs by content and path, shared by every session (the same world logs are read again and again);
#: callers only read the entries.
_parsed: Memo[tuple[list[Entry], int]] = Memo(64)


def read_logs(s: FilesState, path: str, include: str) -> Iterator[tuple[str, list[Entry], int]]:
    root = s.read_root
    start = s.existing(path)
    files = [start] if start.is_file() else list(walk_files(root, start, include))
    if not files:
        raise ToolFailure(f"no files matching {include!r} under {path!r}")
    for f in files:
        rel = s.rel(f)
        text = read_text(f, rel)[0]
        entries, unparsed = _parsed.get(content_key(text, rel), functools.partial(parse_log, text, rel))
        yield rel, entries, unparsed


def _time_ok(ts: str, since: str | None, until: str | None) -> bool:
    if since and ts < since.replace(" ", "T"):
        return False
    return not (until and ts[:len(until)] > until.replace(" ", "T"))


def entry_filter(levels: list[str] | None, since: str | None, until: str | None, event: str | None,
                 fields: dict[str, str] | None, pattern: str | None, ignore_case: bool):
    wanted = {canonical_level(x) for x in levels} if levels else None
    rx = compile_pattern(pattern, regex=True, ignore_case=ignore_case) if pattern else None

    def keep(e: Entry) -> bool:
        if wanted is not None and (e.level is None or canonical_level(e.level) not in wanted):
            return False
        if not _time_ok(e.timestamp, since, until):
            return False
        if event is not None and (e.event is None or not (e.event == event or e.event.startswith(event.rstrip(".") + "."))):
            return False
        if fields:
            for key, value in fields.items():
                if key not in e.fields or str(e.fields[key]) != str(value) and e.fields[key] != typed(str(value)):
                    return False
        return not (rx is not None and not rx.search(e.message))

    return keep


# -- filter_log -------------------------------------------------------------------------------


class LogEntry(BaseModel):
    path: str
    line_number: int
    timestamp: str
    level: str | None
    event: str | None = Field(description="The message's first word when it names an event, e.g. 'payment.declined'")
    message: str
    fields: dict[str, Any] = Field(description="key=value pairs of the message (numbers as numbers)")


class LogEntries(BaseModel):
    entries: list[LogEntry]
    matched: int = Field(description="Entries that satisfied the filters (before offset/limit)")
    files: list[str] = Field(description="Files read")
    has_more: bool


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("log_file", "path")}, facts=(Fact("matched", "the number of {event} events logged in {path}"),)), kind="retrieval", examples=[
    Example({"path": "logs/bookings-2024-01.log", "levels": ["ERROR"], "limit": 5},
            lambda r: r["matched"] >= 1 and all(e["level"] == "ERROR" for e in r["entries"])),
    Example({"path": "logs", "event": "payment.declined", "fields": {"reason": "fraud_suspected"}, "since": "2024-06", "until": "2024-06"},
            lambda r: all(e["timestamp"].startswith("2024-06") and e["fields"]["reason"] == "fraud_suspected" for e in r["entries"])
            and r["files"][0] == "logs/bookings-2024-01.log"),
    Example({"path": "logs/bookings-2024-02.log", "pattern": "route=LHR-", "limit": 500},
            lambda r: all(e["fields"]["route"].startswith("LHR-") for e in r["entries"])),
])
def filter_log(
    s: FilesState,
    path: LogPathArg,
    include: IncludeArg = "*.log",
    levels: LevelsArg = None,
    since: SinceArg = None,
    until: UntilArg = None,
    event: Annotated[str | None, Field(description="Only this event, e.g. 'booking.confirmed', or a prefix like 'booking'")] = None,
    fields: Annotated[dict[str, str] | None, Field(description="Only entries whose key=value fields equal these, e.g. {\"route\": \"NBO-LYP\"}")] = None,
    pattern: Annotated[str | None, Field(description="Only entries whose message matches this regular expression")] = None,
    ignore_case: Annotated[bool, Field(description="Match `pattern` case-insensitively")] = False,
    limit: Annotated[int, Field(ge=1, le=500, description="Most entries to return")] = 100,
    offset: Annotated[int, Field(ge=0, description="Skip this many matching entries (for paging)")] = 0,
) -> LogEntries:
    """Filter log entries by level, time range, event, key=value fields and message pattern; each entry comes
    back parsed (timestamp, level, event, fields). For counts and totals use log_summary."""
    keep = entry_filter(levels, since, until, event, fields, pattern, ignore_case)
    matched: list[Entry] = []
    files: list[str] = []
    for rel, entries, _unparsed in read_logs(s, path, include):
        files.append(rel)
        matched.extend(e for e in entries if keep(e))
    page = matched[offset:offset + limit]
    return LogEntries(entries=[LogEntry(**e.__dict__) for e in page], matched=len(matched), files=files,
                      has_more=offset + len(page) < len(matched))


# -- log_summary ------------------------------------------------------------------------------


class LogGroup(BaseModel):
    key: str | None = Field(description="The group (a level, event, period or field value); null for entries without one")
    count: int
    by_level: dict[str, int]
    sum: float | None = Field(description="Sum of sum_field over the group's entries that have it")


class LogSummary(BaseModel):
    files: list[str]
    entries: int
    unparsed_lines: int
    first_timestamp: str | None
    last_timestamp: str | None
    by_level: dict[str, int] = Field(description="Entries per level, as written in the log")
    group_by: str
    groups: list[LogGroup] = Field(description="Largest first (periods: in time order)")
    total_groups: int


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("log_file", "path")}, facts=(Fact("entries", "the number of entries in log {path}"), Fact("first_timestamp", "the time of the first entry in log {path}"), Fact("last_timestamp", "the time of the last entry in log {path}")), items=(Items("groups", phrase="the entries of log {path} grouped by {group_by}", total="total_groups", name="key", attributes={"count": "number of entries", "sum": "total {sum_field}"}),)), kind="processing", examples=[
    Example({"path": "logs/bookings-2024-01.log"},
            lambda r: r["entries"] == sum(r["by_level"].values()) and r["unparsed_lines"] == 0 and r["first_timestamp"].startswith("2024-01")),
    Example({"path": "logs", "group_by": "month"},
            lambda r: [g["key"] for g in r["groups"]] == [f"2024-{m:02d}" for m in range(1, 13)] and len(r["files"]) == 12),
    Example({"path": "logs", "group_by": "field", "field": "reason", "levels": ["ERROR"]},
            lambda r: {g["key"] for g in r["groups"]} >= {"card_expired", "insufficient_funds", "fraud_suspected"}),
    Example({"path": "logs/bookings-2024-03.log", "group_by": "event", "sum_field": "fare_usd"},
            lambda r: r["groups"][0]["key"] == "booking.confirmed" and r["groups"][0]["sum"] > 0),
])
def log_summary(
    s: FilesState,
    path: LogPathArg,
    include: IncludeArg = "*.log",
    group_by: Annotated[Literal["level", "event", "field", "day", "hour", "month"],
                        Field(description="Count entries per level, per event, per value of a field, or per period")] = "level",
    field: Annotated[str | None, Field(description="With group_by='field': the key=value field to group by, e.g. 'route'")] = None,
    sum_field: Annotated[str | None, Field(description="Also total this numeric field per group, e.g. 'fare_usd'")] = None,
    levels: LevelsArg = None,
    since: SinceArg = None,
    until: UntilArg = None,
    event: Annotated[str | None, Field(description="Only this event (or event prefix)")] = None,
    top: Annotated[int, Field(ge=1, le=500, description="Most groups to return")] = 50,
) -> LogSummary:
    """Summarise log files: entry counts by level, the time span, and counts (with per-level breakdown and an
    optional numeric total) per level, event, field value, day, hour or month, after optional filters."""
    if group_by == "field" and not field:
        raise ToolFailure("group_by='field' needs `field`, the key=value name to group by (e.g. 'route' or 'reason')")
    keep = entry_filter(levels, since, until, event, None, None, False)
    files: list[str] = []
    kept: list[Entry] = []
    unparsed = 0
    for rel, entries, bad in read_logs(s, path, include):
        files.append(rel)
        unparsed += bad
        kept.extend(e for e in entries if keep(e))
    by_level = Counter(e.level or "(none)" for e in kept)

    def key_of(e: Entry) -> str | None:
        if group_by == "level":
            return e.level
        if group_by == "event":
            return e.event
        if group_by == "field":
            value = e.fields.get(field or "")
            return None if value is None else str(value)
        return e.timestamp[:{"day": 10, "hour": 13, "month": 7}[group_by]]

    groups: dict[str | None, LogGroup] = {}
    for e in kept:
        k = key_of(e)
        g = groups.setdefault(k, LogGroup(key=k, count=0, by_level={}, sum=None))
        g.count += 1
        lvl = e.level or "(none)"
        g.by_level[lvl] = g.by_level.get(lvl, 0) + 1
        if sum_field is not None:
            v = e.fields.get(sum_field)
            if isinstance(v, (int, float)):
                g.sum = (g.sum or 0.0) + v
    for g in groups.values():
        if g.sum is not None:
            g.sum = round(g.sum, 6) if not math.isnan(g.sum) else None
    ordered = list(groups.values())
    if group_by in ("day", "hour", "month"):
        ordered.sort(key=lambda g: g.key or "")
    else:
        ordered.sort(key=lambda g: (-g.count, g.key is None, g.key or ""))
    stamps = [e.timestamp for e in kept]
    return LogSummary(files=files, entries=len(kept), unparsed_lines=unparsed, first_timestamp=min(stamps) if stamps else None,
                      last_timestamp=max(stamps) if stamps else None, by_level=dict(sorted(by_level.items())),
                      group_by=group_by if group_by != "field" else f"field:{field}", groups=ordered[:top],
                      total_groups=len(ordered))

