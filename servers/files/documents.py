"""Structured documents (JSON, JSON Lines, YAML, TOML, INI): values by key path, outlines, search, semantic
comparison, and conversion between these formats and CSV."""

from __future__ import annotations

import configparser
import csv
import datetime as dt
import io
import json
import math
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from dive.servers.kit import (
    Example,
    Fact,
    Meaning,
    Takes,
    ToolFailure,
    atomic_write,
    clip_items,
    no_facts,
    resolve_in_root,
)
from pydantic import BaseModel, Field

from .tables import parse_csv
from .workspace import DOMAIN, FilesState, read_text

DataFormat = Literal["json", "jsonl", "yaml", "toml", "ini", "csv", "tsv"]
DocArg = Annotated[str, Field(description="Workspace-relative path of a .json, .jsonl, .yaml/.yml, .toml or .ini file, "
                              "e.g. 'profiles/countries/FR.json'")]
KeyPathArg = Annotated[str, Field(description="Dotted key path: 'currency.code', 'largest_cities[0].name', "
                                  "'largest_cities[*].name' (all items), 'hubs.*' (all keys), '[\"key.with.dots\"]'; "
                                  "'' (or '$') is the whole document. INI files are {section: {key: value}}")]
_EXTENSIONS: dict[str, DataFormat] = {
    ".json": "json", ".geojson": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".yaml": "yaml", ".yml": "yaml",
    ".toml": "toml", ".ini": "ini", ".cfg": "ini", ".conf": "ini", ".csv": "csv", ".tsv": "tsv",
}
MAX_VALUE_CHARS = 200_000


def format_of(name: str) -> DataFormat | None:
    return _EXTENSIONS.get(Path(name).suffix.lower())


def jsonable(value: Any) -> Any:
    """YAML/TOML values as JSON values: dates and times become ISO strings, keys become strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.time, dt.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def parse_document(text: str, fmt: DataFormat, name: str) -> Any:
    """Parse text in a given format, with an error that names the file and the problem."""
    try:
        if fmt == "json":
            return json.loads(text)
        if fmt == "jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        if fmt == "yaml":
            docs = [d for d in yaml.safe_load_all(text)]
            return jsonable(docs[0] if len(docs) == 1 else docs)
        if fmt == "toml":
            return jsonable(tomllib.loads(text))
        if fmt == "ini":
            # No default section: a [DEFAULT] section is kept as written instead of leaking into every other one.
            parser = configparser.ConfigParser(interpolation=None, strict=False, default_section="\x00none")
            parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep keys' case
            parser.read_string(text)
            return {section: dict(parser.items(section, raw=True)) for section in parser.sections()}
        table = parse_csv(text, name)
        return [table.record(r) for r in table.rows]
    except (json.JSONDecodeError, yaml.YAMLError, tomllib.TOMLDecodeError, configparser.Error) as exc:
        raise ToolFailure(f"{name!r} is not valid {fmt.upper()}: {exc}".replace("\n", " ")) from None


def load_document(s: FilesState, path: str, *, root: Path | None = None) -> tuple[DataFormat, Any]:
    f = s.file(path, root=root)
    text = read_text(f, path)[0]
    fmt = format_of(f.name)
    if fmt is None:
        for guess in ("json", "yaml"):
            try:
                return guess, parse_document(text, guess, path)  # type: ignore[arg-type]
            except ToolFailure:
                continue
        raise ToolFailure(f"{path!r} has an unknown extension; supported: {', '.join(sorted(_EXTENSIONS))}")
    return fmt, parse_document(text, fmt, path)


# -- key paths --------------------------------------------------------------------------------

WILDCARD = object()


def parse_key_path(expr: str) -> list[Any]:
    """'a.b[0]["x.y"].*' -> ['a', 'b', 0, 'x.y', WILDCARD]."""
    expr = expr.strip()
    expr = expr.removeprefix("$")
    tokens: list[Any] = []
    i, n = 0, len(expr)
    name = ""

    def flush() -> None:
        nonlocal name
        if name:
            tokens.append(WILDCARD if name == "*" else name)
        name = ""

    while i < n:
        ch = expr[i]
        if ch == ".":
            flush()
            i += 1
        elif ch == "[":
            flush()
            end = expr.find("]", i)
            if expr[i + 1:i + 2] in ("'", '"'):
                quote = expr[i + 1]
                close = expr.find(quote + "]", i + 2)
                if close == -1:
                    raise ToolFailure(f"unclosed quoted key in key path {expr!r}")
                tokens.append(expr[i + 2:close])
                i = close + 2
                continue
            if end == -1:
                raise ToolFailure(f"unclosed '[' in key path {expr!r}")
            inner = expr[i + 1:end].strip()
            if inner == "*":
                tokens.append(WILDCARD)
            else:
                try:
                    tokens.append(int(inner))
                except ValueError:
                    raise ToolFailure(f"'[{inner}]' in key path {expr!r} must be an index like [0] or [-1], [*], or a quoted key "
                                      "like [\"name\"]") from None
            i = end + 1
        else:
            name += ch
            i += 1
    flush()
    return tokens


def format_key_path(parts: list[Any]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p and all(c.isalnum() or c in "_-" for c in p):
            out += f".{p}" if out else p
        else:
            out += f"[{json.dumps(p)}]"
    return out


def _child(node: Any, token: Any, here: list[Any]) -> tuple[Any, Any]:
    """(key used, child) of one step, or a ToolFailure saying what is there instead."""
    where = format_key_path(here) or "the document root"
    if isinstance(node, list):
        if isinstance(token, str) and token.lstrip("-").isdigit():
            token = int(token)
        if not isinstance(token, int):
            raise ToolFailure(f"{where} is a list of {len(node)} items; index it like [0], not .{token}")
        if not -len(node) <= token < len(node):
            raise ToolFailure(f"index [{token}] is out of range: {where} has {len(node)} items")
        return token % len(node), node[token]
    if isinstance(node, dict):
        key = str(token)
        if key in node:
            return key, node[key]
        folded = {k.lower(): k for k in node}
        if key.lower() in folded:
            real = folded[key.lower()]
            return real, node[real]
        keys = ", ".join(list(node)[:40])
        raise ToolFailure(f"no key {key!r} at {where}; its keys are: {keys}{' ...' if len(node) > 40 else ''}")
    raise ToolFailure(f"{where} is a {type_name(node)} value ({json.dumps(node)[:80]}), so it has no key {token!r}")


def select(data: Any, expr: str) -> tuple[list[tuple[str, Any]], bool]:
    """Every (key path, value) the expression selects, and whether it had a wildcard."""
    tokens = parse_key_path(expr)
    current: list[tuple[list[Any], Any]] = [([], data)]
    wildcard = False
    for token in tokens:
        nxt: list[tuple[list[Any], Any]] = []
        if token is WILDCARD:
            wildcard = True
            for here, node in current:
                if isinstance(node, dict):
                    nxt.extend((here + [k], v) for k, v in node.items())
                elif isinstance(node, list):
                    nxt.extend((here + [i], v) for i, v in enumerate(node))
                elif len(current) == 1:
                    raise ToolFailure(f"{format_key_path(here) or 'the document root'} is a {type_name(node)}; '*' needs a list or mapping")
        else:
            for here, node in current:
                if wildcard:
                    try:
                        key, child = _child(node, token, here)
                    except ToolFailure:
                        continue  # after a wildcard, items without the key are skipped
                else:
                    key, child = _child(node, token, here)
                nxt.append((here + [key], child))
        current = nxt
    return [(format_key_path(h), v) for h, v in current], wildcard


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "mapping"


# -- get_value --------------------------------------------------------------------------------


class ValueResult(BaseModel):
    path: str
    format: str
    key_path: str
    value: Any = Field(description="The value; with a wildcard, the list of every selected value")
    type: str = Field(description="null, boolean, integer, number, string, list or mapping (of `value`)")
    length: int | None = Field(description="Items of a list, or keys of a mapping")
    matched_paths: list[str] = Field(description="The concrete key path of each selected value")


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("data_file", "path")}, facts=(Fact("value", "the value at {key_path} in {path}"), Fact("length", "the number of entries at {key_path} in {path}"))), kind="retrieval", examples=[
    Example({"path": "profiles/countries/FR.json", "key_path": "currency.code"}, lambda r: r["value"] == "EUR" and r["type"] == "string"),
    Example({"path": "profiles/countries/JP.json", "key_path": "largest_cities[*].name"},
            lambda r: r["value"][0] == "Tokyo" and r["matched_paths"][0] == "largest_cities[0].name"),
    Example({"path": "config/app.yaml", "key_path": "service.port"}, lambda r: r["value"] == 8080 and r["format"] == "yaml"),
    Example({"path": "config/pipeline.toml", "key_path": "pipeline.outputs.compress"}, lambda r: r["value"] is True),
    Example({"path": "config/logging.ini", "key_path": "logger_bookings.level"}, lambda r: r["value"] == "INFO"),
])
def get_value(s: FilesState, path: DocArg, key_path: KeyPathArg = "") -> ValueResult:
    """Read a value from a JSON, JSON Lines, YAML, TOML or INI file by a dotted key path (JSONPath-like, with
    [index] and * wildcards)."""
    fmt, data = load_document(s, path)
    selected, wildcard = select(data, key_path)
    value = [v for _, v in selected] if wildcard else selected[0][1]
    if len(json.dumps(value, default=str)) > MAX_VALUE_CHARS:
        raise ToolFailure(f"the value at {key_path or 'the root'!r} is too large to return; use describe_structure to see "
                          "its parts and ask for a deeper key path")
    length = len(value) if isinstance(value, (list, dict)) else None
    return ValueResult(path=path, format=fmt, key_path=key_path, value=value, type=type_name(value), length=length,
                       matched_paths=[p for p, _ in selected])


# -- describe_structure -----------------------------------------------------------------------


class StructureEntry(BaseModel):
    key_path: str
    type: str
    length: int | None = Field(description="Items of a list or keys of a mapping")
    preview: str = Field(description="The value for scalars (cut at 80 characters), the first keys for mappings")


class Structure(BaseModel):
    path: str
    format: str
    key_path: str
    type: str
    keys: list[str] = Field(description="Keys of the node if it is a mapping (in document order)")
    entries: list[StructureEntry] = Field(description="The node's descendants down to max_depth; lists show their first item")
    truncated: bool


def _preview(value: Any) -> str:
    if isinstance(value, dict):
        keys = list(value)
        return "{" + ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "") + "}"
    if isinstance(value, list):
        return f"[{len(value)} items]"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:79] + "…"


@DOMAIN.tool(meaning=no_facts("outlines a document's layout (key paths, types, previews of the first list item); the values themselves are read with get_value", path=Takes("data_file", "path")), kind="retrieval", examples=[
    Example({"path": "profiles/countries/FR.json"},
            lambda r: r["type"] == "mapping" and r["keys"][:3] == ["code", "iso3", "name"]
            and any(e["key_path"] == "largest_cities[0].population" for e in r["entries"])),
    Example({"path": "config/hubs.yaml", "key_path": "hubs", "max_depth": 1}, lambda r: "europe" in r["keys"]),
])
def describe_structure(
    s: FilesState,
    path: DocArg,
    key_path: KeyPathArg = "",
    max_depth: Annotated[int, Field(ge=1, le=6, description="How many levels below the node to describe")] = 3,
) -> Structure:
    """Outline a JSON, YAML, TOML or INI document (or a part of it): its keys, each value's type, sizes of lists
    and mappings, and previews of scalars. Use it before get_value to learn the key paths."""
    fmt, data = load_document(s, path)
    selected, wildcard = select(data, key_path)
    if wildcard:
        raise ToolFailure("describe_structure takes a key path without '*'; describe one item, e.g. 'items[0]'")
    node = selected[0][1]
    entries: list[StructureEntry] = []
    limit = 400

    def visit(value: Any, here: list[Any], depth: int) -> None:
        if depth > max_depth or len(entries) >= limit:
            return
        if isinstance(value, dict):
            children: Iterator[tuple[Any, Any]] = iter(value.items())
        elif isinstance(value, list):
            children = iter(list(enumerate(value))[:1])
        else:
            return
        for key, child in children:
            p = here + [key]
            length = len(child) if isinstance(child, (dict, list)) else None
            entries.append(StructureEntry(key_path=format_key_path(p), type=type_name(child), length=length, preview=_preview(child)))
            if len(entries) >= limit:
                return
            visit(child, p, depth + 1)

    visit(node, parse_key_path(selected[0][0]), 1)
    return Structure(path=path, format=fmt, key_path=key_path, type=type_name(node),
                     keys=[str(k) for k in node] if isinstance(node, dict) else [], entries=entries, truncated=len(entries) >= limit)


# -- find_in_data -----------------------------------------------------------------------------


class DataMatch(BaseModel):
    key_path: str
    key: str
    value: Any = Field(description="The value at that path (a preview string for lists and mappings)")


class DataSearchResult(BaseModel):
    path: str
    matches: list[DataMatch]
    total: int
    truncated: bool


def leaves(value: Any, here: list[Any] | None = None) -> Iterator[tuple[list[Any], Any]]:
    """Every (path, node) in document order: mappings and lists as well as scalars."""
    here = here or []
    if isinstance(value, dict):
        for k, v in value.items():
            yield here + [k], v
            yield from leaves(v, here + [k])
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield here + [i], v
            yield from leaves(v, here + [i])


@DOMAIN.tool(meaning=no_facts("says where a text occurs in a document; the values at those key paths are read with get_value", path=Takes("data_file", "path")), kind="retrieval", examples=[
    Example({"path": "config/currencies.json", "text": "FR", "search_in": "values", "exact": True},
            lambda r: any(m["key_path"].startswith("EUR.countries") for m in r["matches"])),
    Example({"path": "config/app.yaml", "text": "port", "search_in": "keys"}, lambda r: r["matches"][0]["key_path"] == "service.port"),
])
def find_in_data(
    s: FilesState,
    path: DocArg,
    text: Annotated[str, Field(description="Text to look for")],
    search_in: Annotated[Literal["keys", "values", "both"], Field(description="Look in key names, scalar values, or both")] = "both",
    exact: Annotated[bool, Field(description="Require the whole key or value to equal the text (default: contains)")] = False,
    ignore_case: Annotated[bool, Field(description="Match letters case-insensitively")] = True,
    limit: Annotated[int, Field(ge=1, le=500, description="Most matches to return")] = 100,
) -> DataSearchResult:
    """Find where a text occurs in a JSON, YAML, TOML or INI document: the key paths whose key or value matches,
    so you can read them with get_value."""
    _fmt, data = load_document(s, path)
    needle = text.lower() if ignore_case else text

    def hit(candidate: str) -> bool:
        c = candidate.lower() if ignore_case else candidate
        return c == needle if exact else needle in c

    matches: list[DataMatch] = []
    for here, value in leaves(data):
        key = here[-1]
        scalar = not isinstance(value, (dict, list))
        key_hit = search_in in ("keys", "both") and isinstance(key, str) and hit(key)
        value_hit = search_in in ("values", "both") and scalar and value is not None and hit(
            str(value).lower() if isinstance(value, bool) else str(value))
        if key_hit or value_hit:
            matches.append(DataMatch(key_path=format_key_path(here), key=str(key), value=value if scalar else _preview(value)))
    shown, _ = clip_items(matches, limit)
    return DataSearchResult(path=path, matches=shown, total=len(matches), truncated=len(matches) > limit)


# -- compare_configs --------------------------------------------------------------------------


class KeyValue(BaseModel):
    key_path: str
    value: Any


class ChangedValue(BaseModel):
    key_path: str
    a: Any
    b: Any


class ConfigDiff(BaseModel):
    a: str
    b: str
    identical: bool
    added: list[KeyValue] = Field(description="Keys only in b")
    removed: list[KeyValue] = Field(description="Keys only in a")
    changed: list[ChangedValue] = Field(description="Keys in both with different values")
    unchanged: int


def flatten(data: Any) -> dict[str, Any]:
    """Leaf key path -> scalar value (empty lists and mappings count as leaves)."""
    out: dict[str, Any] = {}
    for here, value in leaves(data):
        if not isinstance(value, (dict, list)) or not value:
            out[format_key_path(here)] = value
    if not isinstance(data, (dict, list)):
        out[""] = data
    return out


def _same(a: Any, b: Any) -> bool:
    if type(a) is type(b) or {type(a), type(b)} <= {int, float}:
        return a == b
    if isinstance(a, str) != isinstance(b, str):  # INI strings against typed values: compare the text
        def text(v: Any) -> str:
            return str(v).lower() if isinstance(v, bool) else str(v)
        return text(a).strip() == text(b).strip()
    return a == b


@DOMAIN.tool(meaning=Meaning(takes={"a": Takes("data_file", "path"), "b": Takes("data_file", "path")}, facts=(Fact("identical", "whether {a} and {b} hold the same keys and values"), Fact("unchanged", "the number of keys with the same value in {a} and {b}"))), kind="processing", examples=[
    Example({"a": "config/env/staging.ini", "b": "config/env/production.ini"},
            lambda r: {c["key_path"] for c in r["changed"]} == {"server.workers", "log.level"} and r["unchanged"] == 2),
    Example({"a": "profiles/countries/FR.json", "b": "backup/profiles/FR.json"}, lambda r: r["identical"]),
])
def compare_configs(
    s: FilesState,
    a: Annotated[str, Field(description="First JSON/YAML/TOML/INI file")],
    b: Annotated[str, Field(description="Second file (may be another format)")],
) -> ConfigDiff:
    """Compare two structured documents key by key (not line by line): keys added, removed and changed, even
    across formats (a YAML file against a JSON one). INI strings equal typed values with the same text."""
    _fa, da = load_document(s, a)
    _fb, db = load_document(s, b)
    fa, fb = flatten(da), flatten(db)
    added = [KeyValue(key_path=k, value=fb[k]) for k in fb if k not in fa]
    removed = [KeyValue(key_path=k, value=fa[k]) for k in fa if k not in fb]
    changed = [ChangedValue(key_path=k, a=fa[k], b=fb[k]) for k in fa if k in fb and not _same(fa[k], fb[k])]
    unchanged = sum(1 for k in fa if k in fb) - len(changed)
    added, _ = clip_items(added)
    removed, _ = clip_items(removed)
    changed, _ = clip_items(changed)
    return ConfigDiff(a=a, b=b, identical=not (added or removed or changed), added=added, removed=removed, changed=changed,
                      unchanged=unchanged)


# -- convert_file -----------------------------------------------------------------------------


class ConversionResult(BaseModel):
    source: str
    destination: str
    from_format: str
    to_format: str
    records: int | None = Field(description="Rows or items written, for tabular and list outputs")
    columns: list[str] | None = Field(description="Columns written, for CSV/TSV outputs")
    bytes_written: int


def _records(data: Any) -> list[dict[str, Any]]:
    """Data as rows for a table: a list of mappings, a mapping of mappings (key column first), or key/value pairs."""
    if isinstance(data, list):
        if all(isinstance(x, dict) for x in data):
            return data
        return [{"value": x} for x in data]
    if isinstance(data, dict):
        if data and all(isinstance(v, dict) for v in data.values()):
            return [{"key": k, **v} for k, v in data.items()]
        return [{"key": k, "value": v} for k, v in data.items()]
    return [{"value": data}]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@DOMAIN.tool(meaning=no_facts("changes the workspace; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"source": "data/elements.csv", "destination": "out/elements.json"},
            lambda r: r["records"] == 118 and r["to_format"] == "json"),
    Example({"source": "config/currencies.json", "destination": "out/currencies.csv"},
            lambda r: r["columns"][:3] == ["key", "name", "countries"] and r["records"] > 100),
    Example({"source": "config/app.yaml", "destination": "out/app.json"}, lambda r: r["from_format"] == "yaml" and r["bytes_written"] > 50),
])
def convert_file(
    s: FilesState,
    source: Annotated[str, Field(description="File to convert: .csv, .tsv, .json, .jsonl, .yaml/.yml, .toml or .ini")],
    destination: Annotated[str, Field(description="File to write; its extension picks the format: .csv, .tsv, .json, .jsonl or .yaml/.yml")],
    overwrite: Annotated[bool, Field(description="Replace the destination if it exists")] = False,
) -> ConversionResult:
    """Convert a data file to another format: CSV <-> JSON/JSON Lines/YAML, YAML <-> JSON, TOML/INI -> JSON/YAML.
    CSV output takes a list of objects (nested values JSON-encoded) or a mapping of objects (keys in a 'key' column);
    CSV input gives numbers as numbers and empty cells as null."""
    root = s.write_root(source, destination)
    from_fmt, data = load_document(s, source, root=root)
    to_fmt = format_of(destination)
    if to_fmt not in ("csv", "tsv", "json", "jsonl", "yaml"):
        raise ToolFailure(f"cannot write {destination!r}: the destination must end with .csv, .tsv, .json, .jsonl, .yaml or .yml")
    dest = resolve_in_root(root, destination)
    if dest.exists() and (dest.is_dir() or not overwrite):
        raise ToolFailure(f"{destination!r} already exists; pass overwrite=true to replace it")
    records: int | None = None
    columns: list[str] | None = None
    if to_fmt in ("csv", "tsv"):
        rows = _records(data)
        columns = []
        for row in rows:
            for key in row:
                if key not in columns:
                    columns.append(key)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="," if to_fmt == "csv" else "\t", lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
        text = buffer.getvalue()
        records = len(rows)
    elif to_fmt == "json":
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        records = len(data) if isinstance(data, list) else None
    elif to_fmt == "jsonl":
        items = data if isinstance(data, list) else _records(data)
        text = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in items)
        records = len(items)
    else:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
        records = len(data) if isinstance(data, list) else None
    payload = text.encode("utf-8")
    atomic_write(dest, payload)
    return ConversionResult(source=source, destination=s.rel(dest, root), from_format=from_fmt, to_format=to_fmt,
                            records=records, columns=columns, bytes_written=len(payload))
