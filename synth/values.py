"""Values that can flow between calls, and filling a tool's arguments from them.

Every value carries where it came from (the seed, or a path in a call's structured result), so
the call graph's data-flow edges and the derived question can name each hop. Arguments are
matched to values by name, type and schema; nothing here knows any particular tool.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dive.env.trace import ListedTool

from .records import SeedEntity

MAX_VALUE_CHARS = 120
MAX_LIST_ITEMS = 25

# Words that name the same thing in different schemas (argument names vs result field names).
SYNONYMS: list[set[str]] = [
    {"name", "title", "label"},
    {"city", "town", "place", "location"},
    {"country", "nation"},
    {"code", "iso", "cc", "country_code", "countrycode"},
    {"path", "file", "filename", "file_path", "filepath", "src", "source", "dest", "destination", "target"},
    {"dir", "directory", "folder"},
    {"table", "table_name", "tablename"},
    {"column", "field", "col", "attribute"},
    {"symbol", "ticker", "stock"},
    {"iata", "airport", "airport_code"},
    {"url", "link", "href", "page", "address"},
    {"query", "q", "text", "keyword", "keywords", "search", "term", "pattern"},
    {"id", "key", "pk", "identifier"},
    {"element", "chemical"},
    {"date", "day", "when"},
    {"year"},
    {"number", "count", "amount", "value", "quantity"},
    {"commit", "sha", "revision", "rev", "hash", "ref"},
    {"entity", "node", "item"},
]

#: Words of an argument's description that say nothing of what it takes.
_DESCRIPTION_STOPWORDS = {"the", "a", "an", "of", "to", "for", "in", "on", "at", "by", "with", "and", "or", "is", "be",
                          "that", "this", "which", "should", "not", "do", "does", "if", "no", "any", "anything",
                          "pass", "param", "parameter", "specified", "value", "given", "use", "used", "e", "g", "it",
                          "its", "as", "from", "into", "whether", "optional", "default", "number", "string"}

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def tokens(name: str) -> set[str]:
    """Lower-case word tokens of an identifier ('countryCode', 'country_code' -> {'country', 'code'})."""
    return {t for t in re.split(r"[^a-z0-9]+", _CAMEL.sub("_", name).lower()) if t}


def _synonym_groups(words: set[str]) -> set[int]:
    return {i for i, group in enumerate(SYNONYMS) for w in words if w in group}


@functools.lru_cache(maxsize=16384)
def _name_words(name: str) -> tuple[str, frozenset[str], frozenset[int]]:
    """A name's lower-case form, word tokens and synonym groups (each name is met over and over)."""
    lower, words = name.lower(), tokens(name)
    words = frozenset(words | {_singular(w) for w in words})  # `names` takes what a `name` field holds
    return lower, words, frozenset(_synonym_groups(words | {lower}))


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@functools.lru_cache(maxsize=16384)
def description_affinity(description: str, key: str) -> float:
    """How well a field named `key` fits an argument described as `description` (servers we did not write
    often name an argument vaguely and say what it takes in its description: "The commit sha that branch
    should contain"). 1.5 when the description names what the field holds, else 0: enough to fill an argument
    the tool needs, never enough to add an optional one (a filter the question would then have to state)."""
    if not description or not key:
        return 0.0
    words = {_singular(w) for w in tokens(description)} - _DESCRIPTION_STOPWORDS
    _, key_words, key_groups = _name_words(key)
    if words & set(key_words) or _synonym_groups(words) & key_groups:
        return 1.5
    return 0.0


# Filling arguments asks the same (argument, field) pairs again and again, some thousands of them in a run
# (fields of every tool's results): answered once each.
@functools.lru_cache(maxsize=65536)
def name_affinity(param: str, key: str) -> float:
    """How well a result field (or seed attribute) named `key` fits an argument named `param`."""
    if not key:
        return 0.0
    (p, pt, pg), (k, kt, kg) = _name_words(param), _name_words(key)
    if p == k:
        return 4.0
    score = 0.0
    if pt & kt:
        score += 2.0 * len(pt & kt) / len(pt | kt) + 1.0
    if pg & kg:
        score += 1.5
    return score


@dataclass(frozen=True)
class Value:
    """A candidate argument value and where it came from."""

    value: Any
    key: str
    """The field (or seed attribute) name it was found under."""
    source: str
    """'seed:<key>' or 'call:<index>:<path>'."""
    call: int | None
    """The producing call's index in the trace, or None for the seed."""
    siblings: int = 1
    """How many list elements the path crossed could have supplied it (1: unambiguous)."""

    @property
    def path(self) -> str:
        return self.source.split(":", 2)[2] if self.call is not None else self.key


def seed_values(seed: SeedEntity) -> list[Value]:
    """The seed entity's name, its id's own part (e.g. 'FR' of 'country:FR') and its attributes."""
    values = [Value(seed.name, "name", "seed:name", None), Value(seed.name, seed.type, f"seed:{seed.type}", None)]
    local = seed.id.split(":", 1)[-1]
    if local and local != seed.name:
        values.append(Value(local, "id", "seed:id", None))
        values.append(Value(local, f"{seed.type}_id", f"seed:{seed.type}_id", None))
    for key, value in sorted(seed.attrs.items()):
        if _is_scalar(value):
            values.append(Value(value, key, f"seed:{key}", None))
    return values


def _is_scalar(value: Any) -> bool:
    if isinstance(value, str):
        return 0 < len(value) <= MAX_VALUE_CHARS and "\n" not in value
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def flatten(result: dict[str, Any] | None, call: int, echoes: Iterable[Any] = ()) -> list[Value]:
    """Every short scalar in a structured result, with its path ('rows[0].name') and list ambiguity.

    `echoes`: the call's own argument values; a result field repeating one of them is not new information."""
    found: list[Value] = []
    repeated = {repr(v) for v in echoes}

    def walk(node: Any, path: str, key: str, siblings: int) -> None:
        if isinstance(node, dict):
            for k in sorted(node):
                walk(node[k], f"{path}.{k}" if path else k, k, siblings)
        elif isinstance(node, list):
            for i, item in enumerate(node[:MAX_LIST_ITEMS]):
                walk(item, f"{path}[{i}]", key, siblings * max(len(node), 1))
        elif _is_scalar(node) and repr(node) not in repeated:
            found.append(Value(node, key, f"call:{call}:{path}", call, siblings))

    walk(result or {}, "", "", 1)
    return found


def get_path(result: Any, path: str) -> Any:
    """The value at a flattened path ('rows[0].name') of a structured result; KeyError if absent."""
    node = result
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            node = node[int(part[1:-1])]
        else:
            node = node[part]
    return node


_SHAPES = [
    ("sql", re.compile(r"^\s*(select|with|insert|update|delete|create|drop|pragma)\b", re.I)),
    ("url", re.compile(r"^https?://")),
    ("date", re.compile(r"^\d{4}-\d{2}-\d{2}")),
    ("email", re.compile(r"^[^@\s]+@[^@\s]+\.\w+$")),
    ("path", re.compile(r"^[\w.~-]+(/[\w.-]+)+/?$|^[\w-]+\.[A-Za-z0-9]{1,5}$")),
    ("glob", re.compile(r"[*?]")),
    ("code", re.compile(r"^[A-Z0-9]{1,4}$")),
    ("sha", re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")),
    ("id", re.compile(r"^[a-z]{1,3}\d{3,}$|^\d{5,}$")),
    ("ident", re.compile(r"^[a-z][a-z0-9_]*$")),
]

#: Arguments that steer how much or which page a tool returns: they keep the example's value, never a flowed one.
CONTROL = {"limit", "offset", "max_lines", "n", "top", "page", "page_size", "length", "bins", "child_limit",
           "max_depth", "max_results", "k", "start_line", "end_line", "max_items", "timeout", "index", "mode",
           "format", "encoding", "order", "sort", "precision", "digits"}

#: Argument names that take free text, where a name or phrase from anywhere may go.
FREE_TEXT = {"query", "q", "text", "pattern", "search", "keyword", "keywords", "term", "name_contains", "contains",
             "needle", "find", "phrase", "prompt"}


def shape(value: Any) -> str:
    """A coarse kind of value (number, date, path, code, identifier, free text, ...) used to match examples."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if not isinstance(value, str):
        return "structure"
    return _text_shape(value)


@functools.lru_cache(maxsize=8192)
def _text_shape(value: str) -> str:
    for name, pattern in _SHAPES:
        if pattern.search(value):
            return name
    return "text"


def _type_fits(schema: dict[str, Any], value: Any) -> Any:
    """The value converted to what the schema accepts, or None if it does not fit."""
    kinds = schema.get("type")
    if kinds is None and "anyOf" in schema:
        kinds = [s.get("type") for s in schema["anyOf"] if isinstance(s, dict)]
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "enum" in schema:
        return value if value in schema["enum"] else None
    if kinds == ["array"] and isinstance(schema.get("items"), dict) and not isinstance(value, (dict, list)):
        item = _type_fits(schema["items"], value)  # a list of names takes one name
        return [item] if item is not None else None
    if kinds == [None]:  # no declared type (e.g. inside an example structure): keep the value's own type
        return value
    if "integer" in kinds:
        if isinstance(value, int) and not isinstance(value, bool):
            return _in_bounds(schema, value)
        if isinstance(value, float) and value.is_integer():
            return _in_bounds(schema, int(value))
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return _in_bounds(schema, int(value))
    if "number" in kinds and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _in_bounds(schema, value)
    if "string" in kinds and isinstance(value, (str, int)) and not isinstance(value, bool):
        text = str(value)
        if schema.get("maxLength") and len(text) > schema["maxLength"]:
            return None
        if schema.get("pattern") and not re.search(schema["pattern"], text):
            return None
        return text
    return None


def _in_bounds(schema: dict[str, Any], value: float) -> float | None:
    if "minimum" in schema and value < schema["minimum"]:
        return None
    if "maximum" in schema and value > schema["maximum"]:
        return None
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        return None
    return value


@dataclass
class FilledCall:
    """A tool call with arguments, and where each argument's value came from."""

    tool: ListedTool
    exposed: str
    arguments: dict[str, Any]
    sources: dict[str, Value]
    """argument (or 'argument.path' inside a structured argument) -> the value it was filled from."""


def _best(name: str, schema: dict[str, Any], example: Any, values: list[Value], rng: random.Random,
          must_use_call: int | None) -> tuple[float, Value, Any] | None:
    """The best value for one argument slot: it must fit the schema and look like the tool's own example."""
    if name.lower() in CONTROL:
        return None
    want = shape(example) if example is not None else None
    free = name.lower() in FREE_TEXT
    scored: list[tuple[float, int, Value, Any]] = []
    description = str(schema.get("description") or "")
    for i, value in enumerate(values):
        affinity = max(name_affinity(name, value.key), description_affinity(description, value.key))
        if affinity < 1.0 and not free:
            continue  # the cheapest test first: most values are named unlike the argument
        fitted = _type_fits(schema, value.value)
        if fitted is None:
            continue
        got = shape(fitted[0] if isinstance(fitted, list) and not isinstance(value.value, list) else fitted)
        if want == "path" == got and _suffix(example) != _suffix(fitted):
            continue  # a .csv where the example reads a .py: another kind of file than the tool takes
        if want is not None and got != want and not (want == "number" and got == "number"):
            if not (free and want in ("text", "code") and got in ("text", "code")):
                continue
        if affinity < 1.0 and got != "text":
            continue
        if got == "number" and affinity < 3.0:
            continue  # numbers flow only between arguments and fields of (nearly) the same name
        bonus = 1.0 if must_use_call is not None and value.call == must_use_call else 0.0
        scored.append((affinity + bonus - 0.3 * (value.siblings > 1), -i, value, fitted))
    if not scored:
        return None
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    top = [s for s in scored if s[0] >= scored[0][0] - 0.25][:3]
    score, _, value, fitted = rng.choice(top)
    return score, value, fitted


def _substitute(example: Any, values: list[Value], rng: random.Random, must_use_call: int | None,
                path: str, sources: dict[str, Value]) -> Any:
    """A copy of a structured example argument with leaves replaced by matching values.

    A leaf is named by its key, or, in {"column": C, "value": V}-like objects, by the column it filters."""
    if isinstance(example, list):
        return [_substitute(item, values, rng, must_use_call, f"{path}[{i}]", sources)
                for i, item in enumerate(example)]
    if isinstance(example, dict):
        label = next((example[k] for k in ("column", "field", "key", "name") if isinstance(example.get(k), str)), None)
        out = {}
        for key, leaf in example.items():
            if isinstance(leaf, (dict, list)):
                out[key] = _substitute(leaf, values, rng, must_use_call, f"{path}.{key}", sources)
                continue
            slot = label if key in ("value", "values", "equals", "match") and label else None
            found = _best(slot, {}, leaf, values, rng, must_use_call) if slot else None
            if found is not None and found[0] >= 2.0:
                out[key] = found[2]
                sources[f"{path}.{key}"] = found[1]
            else:
                out[key] = leaf
        return out
    return example


def fill_arguments(
    tool: ListedTool, exposed: str, values: list[Value], rng: random.Random, *, must_use_call: int | None = None,
) -> FilledCall | None:
    """Fill `tool`'s arguments from `values`, taking one of the tool's self-test examples as the template:
    a value replaces an example argument when it fits the schema, looks like the example (a path for a
    path, a code for a code) and its name matches; other arguments keep the example's. None when a
    required argument has neither.

    `must_use_call`: at least one argument must come from that call's output (a 'deeper' step).
    """
    schema = tool.input_schema or {}
    props: dict[str, dict[str, Any]] = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    examples = [e for e in tool.dive.get("examples") or [] if isinstance(e, dict)]
    example = rng.choice(examples) if examples else {}
    arguments: dict[str, Any] = {}
    sources: dict[str, Value] = {}
    for param in sorted(props):
        pschema = _resolve_schema(props[param], schema)
        sample = example.get(param)
        if isinstance(sample, (dict, list)):
            arguments[param] = _substitute(sample, values, rng, must_use_call, param, sources)
            continue
        found = _best(param, pschema, sample, values, rng, must_use_call)
        extra = param not in required and param not in example
        if extra and _alternative_to(param, example, examples):
            continue  # e.g. `path` beside the example's `code`: the tool takes one or the other
        if found is not None and (not extra or found[0] >= 3.0):
            arguments[param] = found[2]
            # one value given as a list of one: it flows into the list's first place
            wrapped = isinstance(found[2], list) and not isinstance(found[1].value, list)
            sources[f"{param}[0]" if wrapped else param] = found[1]
        elif param in example:
            arguments[param] = sample
        elif param in required:
            if "enum" in pschema:
                arguments[param] = rng.choice(pschema["enum"])
            else:
                return None
    _keep_identifiers_coherent(example, arguments, sources)
    if any(p in sources and tokens(p) & {"pattern", "regex", "regexp"} for p in example) and any(
            p not in sources and isinstance(v, str) and _GROUP_REFERENCE.search(v) for p, v in example.items()):
        return None  # the example's replacement refers to groups of its own pattern, which was replaced
    if must_use_call is not None and not any(v.call == must_use_call for v in sources.values()):
        return None
    return FilledCall(tool, exposed, arguments, sources)


_GROUP_REFERENCE = re.compile(r"\\[1-9]|\\g<")


def _suffix(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _alternative_to(param: str, example: dict[str, Any], examples: list[dict[str, Any]]) -> bool:
    """Whether the tool's examples show `param` as an alternative to an argument `example` already gives: the
    examples that use `param` never use that one (`code` or `path`, `old` or `old_path`)."""
    using = [e for e in examples if param in e]
    return bool(using) and any(all(given not in e for e in using) for given in example)


def _keep_identifiers_coherent(example: dict[str, Any], arguments: dict[str, Any], sources: dict[str, Value]) -> None:
    """Identifier arguments (a table and its columns) belong together: replace them all from one call's
    output, or keep all of the example's, never a mix (a column of one table with another table)."""
    idents = [p for p, v in example.items() if isinstance(v, str) and shape(v) == "ident"]
    replaced = [p for p in idents if p in sources]
    producers = {sources[p].call for p in replaced}
    if replaced and (len(replaced) < len(idents) or len(producers) > 1):
        for param in replaced:
            arguments[param] = example[param]
            del sources[param]


def _resolve_schema(prop: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return (root.get("$defs") or {}).get(ref.rsplit("/", 1)[1], prop)
    if "anyOf" in prop:
        non_null = [s for s in prop["anyOf"] if isinstance(s, dict) and s.get("type") != "null"]
        if len(non_null) == 1:
            merged = dict(non_null[0])
            merged.setdefault("description", prop.get("description", ""))
            return merged
    return prop
