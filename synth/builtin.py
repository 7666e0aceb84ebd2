"""The built-in backend: a programmatic explorer and deriver that need no model (deterministic, fast).

Exploration calls tools from the sampled toolset, filling their arguments from the seed and from
values earlier calls produced, so data really flows between calls. Each round goes deeper (it must
consume an output of the previous round) or broader (a new branch from anything found so far).
Derivation asks about the value the chain of calls leads to, in the words the servers publish (tool
descriptions, output-schema field descriptions; see `phrasing`), never naming a tool, a step or a result.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dive.env.pool import PoolSession
from dive.env.trace import ListedTool, ToolCallRecord

from . import phrasing
from .answers import normalise_text, parse_number
from .catalog import ToolCatalog
from .records import AnswerRule, Derivation, Hop, SeedEntity
from .values import CONTROL, Value, fill_arguments, flatten, get_path, seed_values, shape, tokens

#: Words of result fields that tally matches: a zero there means the look-up found nothing.
_TALLY_WORDS = {"match", "matches", "matched", "total", "count", "found", "hits", "results", "rows", "returned",
                "replacements", "replaced", "changed", "deleted", "updated", "inserted", "lines", "files"}

#: Words of result fields that tally what a look-up or change found: zero means it found nothing.
_FOUND_WORDS = {"match", "matches", "matched", "total", "count", "hits", "results", "replacements", "replaced",
                "changed", "deleted", "updated", "inserted"}

#: Result fields that describe the call itself rather than facts about the world.
_NOT_ANSWERS = {"truncated", "offset", "limit", "page", "ok", "success", "error", "is_error", "returned", "total_pages",
                "elapsed_ms", "duration_ms", "session", "workspace", "next_offset", "has_more", "index", "columns_searched",
                "fts_query", "query", "mode", "sql", "encoding", "algorithm", "format", "files_searched",
                "searched", "pattern", "include", "path_searched"}


@dataclass
class Step:
    """One explored call and where its arguments came from."""

    call: int
    round: int
    sources: dict[str, Value]
    ok: bool
    types: dict[str, str] = field(default_factory=dict)
    """argument -> 'type/by' of the thing its value stands for (a value of the same type can replace it)."""
    picks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """argument -> how its value was picked from a list (the list, the attribute, largest or smallest)."""


@dataclass
class Evidence:
    """What exploration found: the session's trace plus, per call, the provenance of its arguments."""

    session: PoolSession
    seed: SeedEntity
    steps: list[Step] = field(default_factory=list)
    values: list[Value] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    """Why derived questions were refused (the static checks' reasons), in the order they were met."""
    things: list[Any] = field(default_factory=list)
    """What the evidence names (`dive.synth.meanings.Known`), the seed first."""
    facts: list[Any] = field(default_factory=list)
    """What the evidence states (`dive.synth.meanings.Fact`), in call order."""
    given: dict[int, dict[str, Any]] = field(default_factory=dict)
    """call -> argument -> the known thing it was given."""
    tools: dict[int, ListedTool] = field(default_factory=dict)
    """call -> the tool as listed (its descriptions and schemas are what questions are phrased from)."""
    picks: dict[str, list[tuple[tuple[str, ...], str]]] = field(default_factory=dict)
    """'call:<i>:<list>[<k>]' -> the ways to name that list item by values no other item of the list shares
    (the keys used, and the phrase)."""

    @property
    def calls(self) -> list[ToolCallRecord]:
        return self.session.trace.calls

    def step(self, call: int) -> Step:
        return next(s for s in self.steps if s.call == call)


class BuiltinExplorer:
    """Explores a toolset from a seed, round by round."""

    def __init__(self, catalog: ToolCatalog, toolset: list[str], rng: random.Random, *, max_steps: int = 3,
                 misses: int = 2, barren: set[str] | None = None) -> None:
        self.catalog = catalog
        self.barren = barren if barren is not None else set()
        """Calls (tool and arguments) that answered with nothing to derive from, shared by a worker's explorers:
        asked again, they are counted as the miss they would be without being made (a demo tool may take ten
        seconds to say nothing)."""
        self.toolset = toolset
        self.rng = rng
        self.max_steps = max_steps
        self.misses = misses

    async def explore_round(self, evidence: Evidence, round_no: int) -> list[Step]:
        """Run one round: the first starts from the seed, later ones go deeper or broader."""
        if not evidence.values:
            evidence.values = seed_values(evidence.seed)
        previous = [s.call for s in evidence.steps if s.ok and s.round == round_no - 1]
        deeper = round_no > 0 and previous and self.rng.random() < 0.75
        frontier = self.rng.choice(previous) if deeper else None
        budget = self.rng.randint(1, self.max_steps)
        made: list[Step] = []
        seen = {(c.tool, _freeze(c.arguments)) for c in evidence.calls}
        order = list(self.toolset)
        self.rng.shuffle(order)
        # Retrieval tools first when starting from the seed: that is where evidence comes from.
        if round_no == 0:
            order.sort(key=lambda name: self.catalog.kind_of(name) != "retrieval")
        # A value picked from a list of several is an ambiguous look-up: no chain through it is well-posed.
        pool_values = [v for v in evidence.values if v.siblings == 1 and (round_no > 0 or v.call is None)]
        missed = 0
        for name in order:  # every tool is considered (filling is cheap); calls that fail or find nothing are capped
            if len(made) >= budget or missed >= self.misses:
                break
            if self.catalog.tools[name].writes and self.rng.random() < 0.85:
                continue  # state-changing tools are explored, but rarely: their results describe the change
            listed = self.catalog.tools[name]
            filled = fill_arguments(listed, name, pool_values, self.rng, must_use_call=frontier)
            # A tool that needs nothing (a whole graph, a listing) is a look-up of its own; any other call must
            # take something that was found or given.
            needs = bool((listed.input_schema or {}).get("required"))
            if filled is None or (not filled.sources and (needs or frontier is not None)):
                continue
            key = (filled.tool.name, _freeze(filled.arguments))
            if key in seen:
                continue
            seen.add(key)
            if repr(key) in self.barren:
                missed += 1
                continue
            record = await evidence.session.call(name, filled.arguments)
            evidence.tools[record.index] = listed
            # A look-up that found nothing is no evidence; a processing tool's empty result is a fact ("no lint").
            lookup = self.catalog.kind_of(name) == "retrieval"
            data = record.structured()  # a text result with a plain structure (JSON, key: value lines) counts too
            if data is None and not record.is_error:
                self.barren.add(repr(key))
            ok = data is not None and not (lookup and found_nothing(data))
            step = Step(record.index, round_no, filled.sources, ok=ok)
            evidence.steps.append(step)
            if not step.ok:  # a look-up that found nothing spends a miss, not the round's budget
                missed += 1
            else:
                found = describe_items(evidence, data, record.index, flatten(data, record.index,
                                                                             _leaves(filled.arguments)))
                found += described_as(found, listed)
                evidence.values.extend(found)
                if round_no > 0:
                    pool_values.extend(v for v in found if v.siblings == 1)
                made.append(step)
                if frontier is not None:
                    frontier = record.index if self.rng.random() < 0.5 else frontier
        return made


def found_nothing(result: dict[str, Any]) -> bool:
    """Whether a result reports a look-up that found nothing: `found: false`, a zero tally of what it
    matched ("matched": 0, "total_matches": 0), or, with no tally, every list in it empty. Such a call is
    no evidence (a tally of what was searched, like "files_searched", says nothing of what was found)."""
    if result.get("found") is False:
        return True
    tallies = [v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
               and tokens(k) & _FOUND_WORDS and "searched" not in tokens(k)]
    if tallies:
        return not all(tallies)
    lists = [v for v in result.values() if isinstance(v, list)]
    return bool(lists) and not any(lists)


def _item_paths(result: Any, path: str = "") -> list[tuple[str, list[Any]]]:
    """(path, list) of every list of records in a result, top level and inside a record."""
    found = []
    if isinstance(result, dict):
        for key, value in result.items():
            found += _item_paths(value, f"{path}.{key}" if path else key)
    elif isinstance(result, list) and result and all(isinstance(i, dict) for i in result):
        found.append((path, result))
        if len(result) == 1:
            found += _item_paths(result[0], f"{path}[0]")
    return found


def _pickable(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) and 0 < len(str(value)) <= 60 \
        and "\n" not in str(value) and phrasing.REDACTED not in str(value)


def describe_items(evidence: Evidence, result: dict[str, Any], call: int, values: list[Value]) -> list[Value]:
    """Name each item of a result's lists by values no other item shares (the entity "Ada", the commit whose
    message is "Fix typo"), record those names in `evidence.picks`, and return `values` with the values of
    such items made unambiguous: a definite description picks one item, so what it holds may flow on."""
    tool = evidence.tools.get(call)
    described: dict[str, set[str]] = {}
    if tool is None or not is_listing(evidence.calls[call].arguments):
        return values  # unique within a search's hits is no description of one thing: the search scopes it
    for path, items in _item_paths(result):
        if len(items) == 1:
            continue
        keys = list(dict.fromkeys(k for item in items for k in item))
        unique = [k for k in keys if all(_pickable(i.get(k)) for i in items)
                  and len({str(i[k]) for i in items}) == len(items)]
        # a name first, then words (a message), then anything else (a date, a number)
        unique.sort(key=lambda k: (k.lower() not in phrasing.NAME_KEYS, shape(items[0][k]) != "text", keys.index(k)))
        shared = [k for k in keys if all(_pickable(i.get(k)) for i in items)]
        pairs = [(a, b) for a in shared for b in shared if a < b and len({(str(i[a]), str(i[b])) for i in items})
                 == len(items) and a not in unique and b not in unique]
        first = next(iter(items[0]), "")
        # the latest and the earliest by a date no two items share ("the most recent commit")
        dated = next((k for k in unique if all(isinstance(i[k], str) and shape(i[k]) == "date"
                                               and len(i[k]) == len(items[0][k]) for i in items)), None)
        order = sorted(range(len(items)), key=lambda n: items[n][dated]) if dated else []
        for number, item in enumerate(items):
            noun = phrasing.item_noun(path, item)
            ways: list[tuple[tuple[str, ...], str]] = []
            if order and number in (order[0], order[-1]):
                ways.append(((dated,), f"the {'most recent' if number == order[-1] else 'earliest'} {noun}"))
            for chosen in [(k,) for k in unique if k != first or len(unique) == 1][:3] + pairs[:2]:
                phrase = phrasing.pick_phrase(noun, item, list(chosen), tool, path)
                if phrase:
                    ways.append((chosen, phrase))
            if ways:
                evidence.picks[f"call:{call}:{path}[{number}]"] = ways
                # a field of the item is unambiguous where a description not using it picks the item
                described[f"{path}[{number}]"] = ({k for k in item if any(k not in keys for keys, _ in ways)},
                                                  len(items))
    if not described:
        return values
    out = []
    for v in values:
        keys, count = described.get(_parent(v.path), ((), 1))
        # one of several observations of a described entity is still one of several
        out.append(dataclasses.replace(v, siblings=max(1, v.siblings // count)) if _leaf(v.path) in keys else v)
    return out


def described_as(values: list[Value], tool: ListedTool) -> list[Value]:
    """Values under a field whose key is no noun (`from`, `to`) once more, keyed by the first noun of the field's
    output-schema description ("The name of the entity where the relation ends" -> `name`), so they can flow
    into what takes such a thing (a list of entity `names`)."""
    aliases = []
    for value in values:
        if phrasing.humanize(_leaf(value.path)) not in phrasing.BARE:
            continue
        described = phrasing.schema_at(tool.output_schema, value.path) or {}
        words = [w for w in re.findall(r"[a-z]+", str(described.get("description", "")).lower())
                 if w not in ("the", "a", "an")]
        if words:
            aliases.append(dataclasses.replace(value, key=words[0]))
    return aliases


def is_listing(arguments: dict[str, Any]) -> bool:
    """Whether a call lists what there is (it was given nothing, or only places and page sizes) rather than
    searching or filtering: only a listing's items can be told apart by what no other item shares."""
    return all(name.lower() in CONTROL or isinstance(v, bool) or (isinstance(v, str) and v.startswith("/"))
               for name, v in arguments.items())


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [leaf for value in node.values() for leaf in _leaves(value)]
    if isinstance(node, list):
        return [leaf for value in node for leaf in _leaves(value)]
    return [node]


def _freeze(arguments: dict[str, Any]) -> str:
    return repr(sorted((k, repr(v)) for k, v in arguments.items()))


# -- derivation ----------------------------------------------------------------------------------

def solution_hops(evidence: Evidence, final_call: int) -> list[Hop]:
    """The calls a question about `final_call` needs: it and, transitively, every call that fed it."""
    needed: dict[int, Hop] = {}

    def visit(call: int, output_path: str | None) -> None:
        step = evidence.step(call)
        if call in needed:
            return
        inputs = {param: value.source for param, value in sorted(step.sources.items())}
        needed[call] = Hop(call=call, tool=evidence.calls[call].tool, inputs=inputs, output_path=output_path,
                           types=dict(step.types), picks=dict(step.picks))
        for value in step.sources.values():
            if value.call is not None:
                visit(value.call, value.path)

    visit(final_call, None)
    return [needed[c] for c in sorted(needed)]


def compute_answer(rule: AnswerRule, result: dict[str, Any] | None, other: dict[str, Any] | None = None) -> Any:
    """Read the answer off a structured result by the rule (also how replay recomputes it); `other`: the result
    of the rule's `other_call`, for a comparison."""
    if result is None:
        raise KeyError("no structured result")
    if rule.kind == "field":
        return get_path(result, rule.path)
    if rule.kind == "compare":
        first, second = parse_number(get_path(result, rule.path)), parse_number(get_path(other or {}, rule.other_path))
        if first is None or second is None or first == second:
            raise KeyError("no comparison: a value is missing or the two are equal")
        return (rule.names[0] if first > second else rule.names[1]) if rule.names else first > second
    items = get_path(result, rule.path) if rule.path else result
    if not isinstance(items, list):
        raise KeyError(f"{rule.path} is not a list")
    if rule.kind == "count":
        return len(items)
    numbers = [parse_number(item.get(rule.field)) if isinstance(item, dict) else None for item in items]
    if not numbers or any(n is None for n in numbers):
        raise KeyError(f"{rule.field} is not numeric in every item")
    value = {"max": max, "min": min, "sum": sum}[rule.kind](numbers)  # type: ignore[type-var]
    return round(value, 6) if isinstance(value, float) else value


def _leaf(path: str) -> str:
    return re.sub(r"\[\d+\]", "", path.rsplit(".", 1)[-1])


def _set_path(node: Any, path: str, value: Any) -> None:
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value


def _parent(path: str) -> str:
    """The record a path's field belongs to ('entities[0].name' -> 'entities[0]', 'author' -> '')."""
    return path.rsplit(".", 1)[0] if "." in path else ""


class _Phraser:
    """Phrases for the values and records of one evidence trace, in the servers' own words (see `phrasing`)."""

    def __init__(self, evidence: Evidence, hops: list[Hop]) -> None:
        self.evidence = evidence
        self.hops = {hop.call: hop for hop in hops}

    def arguments(self, call: int) -> list[phrasing.Argument]:
        """The call's arguments, each with the phrase of the value that flowed into it (if one did)."""
        record, tool = self.evidence.calls[call], self.evidence.tools.get(call)
        props = ((tool.input_schema if tool else {}) or {}).get("properties") or {}
        hop = self.hops.get(call)
        shown = []
        for name, value in sorted(record.arguments.items()):
            flowed = None
            sources = {k: v for k, v in (hop.inputs if hop else {}).items()
                       if (k == name or k.startswith((f"{name}[", f"{name}."))) and v.startswith("call:")}
            if sources:
                if len(sources) > 1 or isinstance(value, dict):
                    raise phrasing.Unphrasable(f"{name} holds a structure with values from elsewhere")
                producer, path = next(iter(sources.values())).split(":", 2)[1:]
                flowed = self.value(int(producer), path)
                if flowed is None:
                    raise phrasing.Unphrasable(f"no words for what flowed into {name}")
            description = str((props.get(name) or {}).get("description") or "")
            shown.append(phrasing.Argument(name, value, description, flowed))
        return shown

    def record(self, call: int, path: str, field: str | None) -> tuple[str | None, str | None]:
        """(where, what) of the record at `path` of a call's result: the place the call looked in, and the
        record itself ('the commit whose message is "x"', 'the entity "Ada"', 'the city "Chicago"'), without
        using `field` (the value asked about) to name it."""
        arguments = self.arguments(call)
        where, what = phrasing.subject_phrase(arguments)
        if path:
            ways = self.evidence.picks.get(f"call:{call}:{path}")
            if ways:
                phrase = next((p for keys, p in ways if field not in keys), None)
                return where, phrase
            if not path.endswith("[0]"):
                return where, None
            # the only item of its list: named by the input it matches ('the entity "Ada"' for names=["Ada"])
            item = get_path(self.evidence.calls[call].structured(), path)
            noun = phrasing.item_noun(path[:-3], item if isinstance(item, dict) else None)
            for argument in arguments:
                given = argument.value[0] if isinstance(argument.value, list) and len(argument.value) == 1 \
                    else argument.value
                # the item is that thing when the input is its name (not when it is only the far end of a relation)
                naming = [k for k in item if k.lower() in phrasing.NAME_KEYS or (
                    k == next(iter(item)) and phrasing.humanize(k) not in phrasing.BARE)] if isinstance(item, dict) else []
                if any(k != field and item[k] == given for k in naming):
                    if argument.flowed:
                        return where, argument.flowed
                    return where, f"the {noun} {phrasing.quote(given)}"
            return where, None
        return where, what

    def owner(self, call: int, parent: str) -> str | None:
        """The noun of the record at `parent` ("entity" for an item of `entities`), or None at the top level."""
        if not parent or not parent.endswith("]"):
            return None
        item = get_path(self.evidence.calls[call].structured(), parent)
        return phrasing.item_noun(re.sub(r"\[\d+\]$", "", parent), item if isinstance(item, dict) else None)

    def value(self, call: int, path: str, depth: int = 0) -> str | None:
        """A value that flowed from a call, as a noun phrase: 'the commit whose message is "x"' (an item named
        by its first field is that item), or 'the entity type of the entity "Ada"'."""
        tool = self.evidence.tools.get(call)
        if tool is None or depth > 3:
            return None
        parent, key = _parent(path), _leaf(path)
        _where, what = self.record(call, parent, key)
        if what is None:
            return None
        item = get_path(self.evidence.calls[call].structured(), parent) if parent else None
        if isinstance(item, dict) and phrasing.humanize(key) == phrasing.item_noun(re.sub(r"\[\d+\]$", "", parent),
                                                                                item):
            phrase = what  # the commit of the commit whose message is "x" is that commit
        else:
            noun = phrasing.field_noun(tool, path, self.owner(call, parent))
            if noun is None:
                return None
            if noun.startswith("the name of ") and " ".join(noun.split()[3:]).split()[:2]:
                noun = "the " + " ".join(noun.split()[3:]).removeprefix("the ")
                phrase = f"{noun}, for {what}"
            else:
                phrase = f"{noun} of {what}"
        return phrase


def phrase_question(evidence: Evidence, hops: list[Hop], rule: AnswerRule) -> str | None:
    """The question a person would ask for the answer `rule` reads off the last hop, phrased from the tools'
    descriptions and output schemas; None when the servers publish too little to put it into words."""
    try:
        return _phrase(_Phraser(evidence, hops), evidence, rule)
    except phrasing.Unphrasable:
        return None


def _phrase(phraser: _Phraser, evidence: Evidence, rule: AnswerRule) -> str | None:
    tool = evidence.tools.get(rule.call)
    result = evidence.calls[rule.call].structured()
    if tool is None or result is None:
        return None
    if rule.kind == "field":
        parent, key = _parent(rule.path), _leaf(rule.path)
        where, what = phraser.record(rule.call, parent, key)
        noun = phrasing.field_noun(tool, rule.path, phraser.owner(rule.call, parent) if what else None)
        if noun is None:
            return None
        if what is None:
            if parent:
                return None
            about = phrasing.tool_noun(tool)
            if about is None:
                return None
            body = f"{noun} {'among' if about.startswith('all ') else 'in'} {about}"
        else:
            body = f"{noun} {what}" if what.startswith("matching ") else f"{noun} of {what}"
        ask = "who is" if phrasing.is_person(rule.path) else "what is"
    else:
        items = get_path(result, rule.path) if rule.path else result
        parent = _parent(rule.path) if "[" in rule.path else ""
        where, what = phraser.record(rule.call, parent, None)
        plural = phrasing.plural_noun(rule.path, items[0] if isinstance(items, list) and items else None)
        if what is None:
            about = phrasing.tool_noun(tool)
            if about is None or parent:
                return None
            scope = f"in {about}"
        elif what.startswith("matching "):
            scope = what
        else:
            scope = f"{'of' if parent else 'for'} {what}"
        if rule.kind == "count":
            ask, body = "how many", f"{plural} are there {scope}"
        else:
            fnoun = phrasing.field_noun(tool, f"{rule.path}[0].{rule.field}")
            if fnoun is None:
                return None
            word = {"max": "the largest", "min": "the smallest", "sum": "the total"}[rule.kind]
            ask, body = "what is", f"{word} {fnoun.removeprefix('the ')} among the {plural} {scope}"
    if where:
        question = f"In {where}, {ask} {body}?"
    else:
        question = f"{ask[0].upper()}{ask[1:]} {body}?"
    return " ".join(question.split())


_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.IGNORECASE)


def _page_sizes(call: ToolCallRecord, tool: ListedTool | None) -> set[int]:
    """Numbers a list's length could equal because the call asked for (or defaulted to) that many."""
    sizes = {v for v in call.arguments.values() if isinstance(v, int) and not isinstance(v, bool)}
    sizes |= {len(v) for v in call.arguments.values() if isinstance(v, list)}  # one found per name asked for
    props = ((tool.input_schema if tool else {}) or {}).get("properties") or {}
    for schema in props.values():
        if isinstance(schema, dict) and isinstance(schema.get("default"), int):
            sizes.add(schema["default"])
    return sizes


def _answer_rules(call: ToolCallRecord, inputs: set[str], prefer: set[str], rng: random.Random,
                  tool: ListedTool | None = None) -> list[AnswerRule]:
    """Candidate answers from a call's result: unambiguous scalar fields, list counts, numeric aggregates.
    Never an echo of the question's inputs, an id the tool made up, a redacted secret, or a count that a page
    size could have cut short."""
    rules: list[tuple[float, AnswerRule]] = []
    result = call.structured() or {}
    if result.get("truncated") is True:
        return []
    for value in flatten(result, call.index, _leaves(call.arguments)):
        key = _leaf(value.path).lower()
        if value.siblings > 1 or key in _NOT_ANSWERS or isinstance(value.value, bool):
            continue
        if value.value == 0 and tokens(key) & _TALLY_WORDS:
            continue  # "0 matches": the look-up found nothing, which is no fact about the world
        if normalise_text(value.value) in inputs or len(normalise_text(value.value)) < 1:
            continue
        text = str(value.value)
        if phrasing.REDACTED in text or _UUID.match(text) or (tokens(key) & {"id", "uuid"} and shape(text) != "text"):
            continue  # a secret the pool hid, or an identifier the tool made up: no fact to ask for
        weight = 1.0 if isinstance(value.value, (int, float)) else 1.3
        rules.append((weight, AnswerRule(kind="field", call=call.index, path=value.path)))
    sizes = _page_sizes(call, tool)
    for key, items in _lists(result):
        if not (1 <= len(items) <= 200) or len(items) in sizes or len(items) == call.arguments.get("limit"):
            continue  # a count equal to the page asked for counts the page
        weight = 1.2 if prefer & {"aggregation", "filtering", "ranking"} else 0.8
        rules.append((weight, AnswerRule(kind="count", call=call.index, path=key)))
        if len(items) >= 2 and all(isinstance(i, dict) for i in items):
            numeric = sorted({k for k in items[0] if all(parse_number(i.get(k)) is not None for i in items)})
            for fld in numeric:
                for kind in ("max", "min", "sum"):
                    rules.append((weight * 0.6, AnswerRule(kind=kind, call=call.index, path=key, field=fld)))
    # Weighted, but drawn: the same result asked about twice in a run gives two questions, not one twice.
    keyed = [(weight * (0.4 + rng.random()), rule) for weight, rule in rules]
    keyed.sort(key=lambda item: -item[0])
    return [rule for _, rule in keyed]


def _lists(result: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """The lists of a result whose items can be counted: top-level ones, and those of its only record."""
    found = [(k, v) for k, v in result.items() if isinstance(v, list)]
    for key, items in list(found):
        if len(items) == 1 and isinstance(items[0], dict):
            found += [(f"{key}[0].{k}", v) for k, v in items[0].items() if isinstance(v, list)]
    return found


def _spelled_in(question: str, answer: Any) -> bool:
    """Whether the answer's letters and digits run through the question's (a date or a hash written with other
    separators is still given away)."""
    want = re.sub(r"[\W_]+", "", str(answer)).lower()
    return len(want) >= 6 and want in re.sub(r"[\W_]+", "", question).lower()


def derive_task(evidence: Evidence, round_no: int, rng: random.Random, prefer: set[str],
                check: Callable[[Derivation], str | None] | None = None) -> Derivation | None:
    """Derive the hardest question this round's evidence supports (deepest chain) that passes `check`
    (the static checks of verification), or None. Each refused question's reason goes to `evidence.refusals`;
    when none reached the checks, the reason none could be asked (`cannot_phrase`: the servers publish too little
    to put it into words)."""
    ok_calls = [s.call for s in evidence.steps if s.ok]
    if not ok_calls:
        return None
    chains = {c: solution_hops(evidence, c) for c in ok_calls}
    this_round = [c for c in ok_calls if evidence.step(c).round == round_no] or ok_calls
    # The deepest chain first; mostly one that starts from the seed (the look-ups that need nothing are
    # everyone's, and asked about from every seed they would crowd out what only this seed leads to).
    from_seed = {c for c in ok_calls if any(src.startswith("seed:") for h in chains[c] for src in h.inputs.values())}
    favour_seed = rng.random() < 0.75
    unsaid: list[str] = []  # why questions were not even put to the checks: said only when nothing else is
    checked = False
    this_round.sort(key=lambda c: (len(chains[c]), favour_seed and c in from_seed, c), reverse=True)
    for final in this_round[:4]:
        hops = chains[final]
        arguments = {h.call: evidence.calls[h.call].arguments for h in hops}
        shown = {normalise_text(v) for h in hops for v in arguments[h.call].values() if not isinstance(v, (dict, list))}
        shown.add(normalise_text(evidence.seed.name))
        for rule in _answer_rules(evidence.calls[final], shown, prefer, rng, evidence.tools.get(final))[:8]:
            try:
                answer = compute_answer(rule, evidence.calls[final].structured())
            except (KeyError, IndexError, TypeError):
                continue
            question = phrase_question(evidence, hops, rule)
            if question is None:
                unsaid.append("cannot_phrase")  # the servers publish too little to put it into words
                continue
            if _spelled_in(question, answer):
                unsaid.append("answer_in_question")  # "2024-03-15 10:00:00 +0000" in another spelling
                continue
            structure = {"field": "multi_hop" if len(hops) > 1 else "lookup"}.get(rule.kind, "aggregation")
            if rule.kind == "count":
                structure = "count"
            derivation = Derivation(round=round_no, question=question, answer=answer, hops=hops, rule=rule,
                                    structure=structure)
            refused = check(derivation) if check else None
            if refused is None:
                return derivation
            evidence.refusals.append(refused)
            checked = True
    if unsaid and not checked:
        evidence.refusals.append(Counter(unsaid).most_common(1)[0][0])
    return None
