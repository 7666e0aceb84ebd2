"""The built-in backend: a programmatic explorer and deriver that need no model (deterministic, fast).

Exploration calls tools from the sampled toolset, filling their arguments from the seed and from
values earlier calls produced, so data really flows between calls. Each round goes deeper (it must
consume an output of the previous round) or broader (a new branch from anything found so far).
Derivation composes a question from the chain of calls that leads to an answer value.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dive.env.pool import PoolSession
from dive.env.trace import ToolCallRecord

from .answers import normalise_text, parse_number
from .catalog import ToolCatalog
from .records import AnswerRule, Derivation, Hop, SeedEntity
from .values import Value, fill_arguments, flatten, get_path, seed_values, tokens

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

    @property
    def calls(self) -> list[ToolCallRecord]:
        return self.session.trace.calls

    def step(self, call: int) -> Step:
        return next(s for s in self.steps if s.call == call)


class BuiltinExplorer:
    """Explores a toolset from a seed, round by round."""

    def __init__(self, catalog: ToolCatalog, toolset: list[str], rng: random.Random, *, max_steps: int = 3,
                 misses: int = 2) -> None:
        self.catalog = catalog
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
            filled = fill_arguments(self.catalog.tools[name], name, pool_values, self.rng, must_use_call=frontier)
            if filled is None or not filled.sources:
                continue
            key = (filled.tool.name, _freeze(filled.arguments))
            if key in seen:
                continue
            seen.add(key)
            record = await evidence.session.call(name, filled.arguments)
            # A look-up that found nothing is no evidence; a processing tool's empty result is a fact ("no lint").
            lookup = self.catalog.kind_of(name) == "retrieval"
            data = record.structured()  # a text result with a plain structure (JSON, key: value lines) counts too
            ok = data is not None and not (lookup and found_nothing(data))
            step = Step(record.index, round_no, filled.sources, ok=ok)
            evidence.steps.append(step)
            if not step.ok:  # a look-up that found nothing spends a miss, not the round's budget
                missed += 1
            else:
                found = flatten(data, record.index, _leaves(filled.arguments))
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


def humanize(name: str) -> str:
    """'country_code' -> 'country code', 'listDirectory' -> 'list directory'."""
    return re.sub(r"[_\s]+", " ", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)).strip().lower()


def _leaf(path: str) -> str:
    return re.sub(r"\[\d+\]", "", path.rsplit(".", 1)[-1])


def _render_value(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _set_path(node: Any, path: str, value: Any) -> None:
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value


def render_question(seed: SeedEntity, hops: list[Hop], arguments: dict[int, dict[str, Any]], rule: AnswerRule,
                    rng: random.Random) -> str:
    """A question that names every hop by its action and where its inputs come from, never by their values
    when those came from another call (the solver must make that call)."""
    position = {hop.call: i + 1 for i, hop in enumerate(hops)}

    def reference(source: str) -> str:
        producer, path = int(source.split(":", 2)[1]), source.split(":", 2)[2]
        return f"the {humanize(_leaf(path))} found in step {position[producer]}"

    sentences = []
    for i, hop in enumerate(hops, start=1):
        parts = []
        for param, value in sorted(arguments[hop.call].items()):
            source = hop.inputs.get(param)
            nested = {k: v for k, v in hop.inputs.items() if k.startswith((f"{param}.", f"{param}[")) and
                      v.startswith("call:")}
            if source and source.startswith("call:"):
                parts.append(f"{humanize(param)} set to {reference(source)}")
            elif nested:
                shown = json.loads(json.dumps(value))
                for key, src in nested.items():
                    _set_path(shown, key[len(param):].lstrip("."), f"<{reference(src)}>")
                parts.append(f"{humanize(param)} {json.dumps(shown, ensure_ascii=False)}")
            else:
                parts.append(f"{humanize(param)} {_render_value(value)}")
        action = humanize(hop.tool)
        args = ", ".join(parts)
        sentences.append(f"Step {i}: {action}" + (f" with {args}." if args else "."))
    last = f"step {len(hops)}" if len(hops) > 1 else "that"
    item = humanize(_leaf(rule.path)) if rule.path else "results"
    ask = {
        "field": f"What is the {humanize(_leaf(rule.path))} in the result of {last}?",
        "count": f"How many {item} does {last} return?",
        "max": f"What is the largest {humanize(rule.field or '')} among the {item} of {last}?",
        "min": f"What is the smallest {humanize(rule.field or '')} among the {item} of {last}?",
        "sum": f"What is the total {humanize(rule.field or '')} over the {item} of {last}?",
    }[rule.kind]
    opening = rng.choice([f"About {seed.name} ({seed.type}).", f"Starting from the {seed.type} {seed.name}:",
                          f"This task concerns {seed.name}, a {seed.type}."])
    return " ".join([opening, *sentences, ask])


def _answer_rules(call: ToolCallRecord, inputs: set[str], prefer: set[str], rng: random.Random) -> list[AnswerRule]:
    """Candidate answers from a call's result: unambiguous scalar fields, list counts, numeric aggregates."""
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
        weight = 1.0 if isinstance(value.value, (int, float)) else 1.3
        rules.append((weight, AnswerRule(kind="field", call=call.index, path=value.path)))
    for key, items in result.items():
        if isinstance(items, list) and 2 <= len(items) <= 200 and all(isinstance(i, dict) for i in items) \
                and len(items) != call.arguments.get("limit"):  # a count equal to the limit counts the limit
            weight = 2.0 if prefer & {"aggregation", "filtering", "ranking"} else 0.8
            rules.append((weight, AnswerRule(kind="count", call=call.index, path=key)))
            numeric = sorted({k for k in items[0] if all(parse_number(i.get(k)) is not None for i in items)})
            for fld in numeric:
                for kind in ("max", "min", "sum"):
                    rules.append((weight * 0.6, AnswerRule(kind=kind, call=call.index, path=key, field=fld)))
    rng.shuffle(rules)
    rules.sort(key=lambda item: -item[0])
    return [rule for _, rule in rules]


def derive_task(evidence: Evidence, round_no: int, rng: random.Random, prefer: set[str],
                check: Callable[[Derivation], str | None] | None = None) -> Derivation | None:
    """Derive the hardest question this round's evidence supports (deepest chain) that passes `check`
    (the static checks of verification), or None. Each refused question's reason goes to `evidence.refusals`."""
    ok_calls = [s.call for s in evidence.steps if s.ok]
    if not ok_calls:
        return None
    chains = {c: solution_hops(evidence, c) for c in ok_calls}
    this_round = [c for c in ok_calls if evidence.step(c).round == round_no] or ok_calls
    this_round.sort(key=lambda c: (len(chains[c]), c), reverse=True)
    for final in this_round[:4]:
        hops = chains[final]
        arguments = {h.call: evidence.calls[h.call].arguments for h in hops}
        shown = {normalise_text(v) for h in hops for v in arguments[h.call].values() if not isinstance(v, (dict, list))}
        shown.add(normalise_text(evidence.seed.name))
        for rule in _answer_rules(evidence.calls[final], shown, prefer, rng)[:6]:
            try:
                answer = compute_answer(rule, evidence.calls[final].structured())
            except (KeyError, IndexError, TypeError):
                continue
            question = render_question(evidence.seed, hops, arguments, rule, rng)
            structure = {"field": "multi_hop" if len(hops) > 1 else "lookup"}.get(rule.kind, "aggregation")
            if rule.kind == "count":
                structure = "count"
            derivation = Derivation(round=round_no, question=question, answer=answer, hops=hops, rule=rule,
                                    structure=structure)
            refused = check(derivation) if check else None
            if refused is None:
                return derivation
            evidence.refusals.append(refused)
    return None
