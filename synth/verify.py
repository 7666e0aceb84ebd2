"""Verification: a derived task is kept only if a fresh replay reproduces its answer, every hop is needed,
and it passes the checks that make it well-posed. Every rejection carries a reason."""

from __future__ import annotations

import random
import re
from typing import Any

from dive.env.pool import ClientPool

from .answers import answers_match, format_answer, matcher_for, normalise_text
from .builtin import Evidence, _set_path, compute_answer
from .meanings import ENTITY_ID_MARK
from .records import Derivation, Verification
from .values import get_path

MAX_ANSWER_CHARS = 200
#: Other values swapped into a hop's input before it is judged not needed (one small count can coincide).
SWAPS = 2
#: Values tried at most for those swaps: one for which the chain's descriptions pick nothing ('the only file that
#: mentions it' when several do) counts neither way; when only one is left, it decides alone.
SWAP_TRIES = 8


def _mentions(question: str, value: Any) -> bool:
    """Whether the question contains the value's words as a whole word sequence (token-wise: "3.5" is not in
    "35", "Paris" is in "Paris, France")."""
    want = re.findall(r"\w+", normalise_text(format_answer(value)))
    if not want:
        return False
    have = re.findall(r"\w+", re.sub(r"\bstep \d+\b", " ", normalise_text(question)))
    return any(have[i:i + len(want)] == want for i in range(len(have) - len(want) + 1))


def static_checks(derivation: Derivation, evidence: Evidence, *, fixtures: set[str] = frozenset(),
                  unique_name: Any = None, name_of: Any = None) -> str | None:
    """The reason a derivation is ill-posed, or None. `fixtures`: self-test values no question may contain;
    `unique_name(kind, name)`: whether a name picks one thing of its kind in the world; `name_of(kind, by, key)`:
    the world's name for a thing known by a key."""
    answer = derivation.answer
    if answer is None or (isinstance(answer, str) and not answer.strip()) or answer == []:
        return "empty_answer"
    if len(format_answer(answer)) > MAX_ANSWER_CHARS:
        return "answer_too_long"
    if isinstance(answer, str) and "\n" in answer.strip():
        return "answer_not_a_value"  # several lines of text (a page, an OCR read-out) are no single fact
    if _mentions(derivation.question, answer):
        return "answer_in_question"
    if any(value in derivation.question.lower() for value in fixtures):
        return "fixture_in_question"
    if evidence.seed.type == "directory" and len(derivation.hops) < 2:
        return "one_listing"  # what one look at a folder tells (how many files it holds) is no task of several tools
    chain = {hop.call for hop in derivation.hops}
    for thing in evidence.things:  # a thing the chain passes through, named outright by the question
        if thing.depth < 1 or not thing.calls <= chain:
            continue
        name = thing.keys.get("name")
        name = name.value if name is not None else None
        if name is None and name_of is not None:
            name = next((n for by, v in thing.keys.items() if (n := name_of(thing.type, by, v.value))), None)
        if name is not None and name != thing.phrase and len(str(name)) >= 3 and _mentions(derivation.question, name):
            return "hop_not_needed"
    for hop in derivation.hops:
        step = evidence.step(hop.call)
        for param, value in step.sources.items():
            kind, _, by = step.types.get(param, "/").partition("/")
            if by == "name" and unique_name is not None and not unique_name(kind, value.value):
                return "ambiguous_name"  # a name several things share picks none of them
            if value.call is None:
                continue
            if value.siblings > 1:
                return "ambiguous_lookup"  # the value was picked from a list of several candidates
            if _mentions(derivation.question, value.value):
                return "hop_not_needed"  # the question already gives what this hop would find
    return None


async def _run_chain(derivation: Derivation, evidence: Evidence, pool: ClientPool,
                     swap: tuple[int, str, Any] | None = None, compared: bool = False) -> tuple[Any, str | None]:
    """Run the solution's calls in a fresh session, values flowing from the new results by the paths (or the
    definite descriptions) they flowed by, with one argument swapped if asked; (answer, failure reason).
    `compared`: for a comparison, the two values compared rather than the answer."""
    fresh = pool.open_session()
    results: dict[int, dict[str, Any] | None] = {}
    try:
        for hop in derivation.hops:
            original = evidence.calls[hop.call]
            arguments = _copy(original.arguments)
            for param, source in hop.inputs.items():
                if not source.startswith("call:"):
                    continue
                producer, path = int(source.split(":", 2)[1]), source.split(":", 2)[2]
                if producer not in results:
                    continue
                try:
                    value = _flowed(results[producer], path, hop.picks.get(param))
                except (KeyError, IndexError, TypeError, ValueError):
                    return None, "chain_broken"
                _set_argument(arguments, param, value)
            if swap is not None and swap[0] == hop.call:
                _set_argument(arguments, swap[1], swap[2])
            record = await fresh.call(original.tool, arguments, server=original.server)
            if record.is_error:
                return None, "replay_failed"
            results[hop.call] = record.structured()
    finally:
        pool.end_session(fresh.trace)
    try:
        return _outcome(derivation, results, compared), None
    except (KeyError, IndexError, TypeError):
        return None, "not_reproducible"


def _outcome(derivation: Derivation, results: dict[int, Any], compared: bool = False) -> Any:
    """The answer the rule reads off the calls' results, or (`compared`) a comparison's two values."""
    rule = derivation.rule
    if compared and rule.kind == "compare":
        return [get_path(results.get(rule.call) or {}, rule.path),
                get_path(results.get(rule.other_call) or {}, rule.other_path)]
    return compute_answer(rule, results.get(rule.call), results.get(rule.other_call))


def _copy(arguments: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(arguments)


def _set_argument(arguments: dict[str, Any], param: str, value: Any) -> None:
    if "." in param or "[" in param:
        _set_path(arguments, param, value)
    else:
        arguments[param] = value


def _flowed(result: dict[str, Any] | None, path: str, pick: dict[str, Any] | None) -> Any:
    """The value at `path` of a result, or, for a value picked from a list, the same pick made again."""
    path, _, entity = path.partition(ENTITY_ID_MARK)
    if entity:  # a world entity id made from the field at the path
        return f"{entity}:{_flowed(result, path, pick)}"
    if not pick:
        return get_path(result, path)
    from .answers import parse_number

    items = get_path(result, pick["list"])
    field = path.rsplit(".", 1)[-1]
    if pick.get("only"):
        if len(items) != 1:
            raise ValueError("the list no longer holds exactly one")
        return items[0][field]
    if "sort" in pick:  # the one item of its sort (the one chart among them)
        of_sort = [i for i in items if i.get(pick["by"]) == pick["sort"]]
        if len(of_sort) != 1:
            raise ValueError("the list no longer holds exactly one of that sort")
        return of_sort[0][field]
    numbers = [parse_number(i.get(pick["by"])) for i in items]
    measured = [n for n in numbers if n is not None]  # an item without the attribute has none to compare
    if not measured:
        raise ValueError("no item of the list has the attribute")
    best = max(measured) if pick["largest"] else min(measured)
    if numbers.count(best) != 1:
        raise ValueError("the pick is tied")
    return items[numbers.index(best)][field]


async def replay(derivation: Derivation, evidence: Evidence, pool: ClientPool) -> tuple[bool, Any, str | None]:
    """Re-run the solution's calls in a fresh session; (reproduced, replayed answer, failure reason)."""
    replayed, reason = await _run_chain(derivation, evidence, pool)
    if reason:
        return False, None, reason
    same = answers_match(replayed, derivation.answer, matcher_for(derivation.answer))
    return same, replayed, None if same else "not_reproducible"


async def skippable_hop(derivation: Derivation, evidence: Evidence, pool: ClientPool, alternative: Any,
                        rng: random.Random) -> tuple[str | None, int]:
    """Swap each value that flowed into the chain (and the seed's) for another valid value of the same type;
    if the answer stays the same, that hop was not needed (for a comparison, whose yes or no survives many a
    swap: if neither value compared changes). (reason or None, swaps checked).
    `alternative(kind, by, value, rng)` gives the other value, or None when there is none to swap in."""
    checked = 0
    found = derivation.answer if derivation.rule.kind != "compare" else _outcome(
        derivation, {c: evidence.calls[c].structured() for c in (derivation.rule.call, derivation.rule.other_call)},
        compared=True)
    for hop in derivation.hops:
        step = evidence.step(hop.call)
        for param, typed in step.types.items():
            kind, _, by = typed.partition("/")
            current = step.sources[param].value
            same: list[bool] = []  # for each swap the chain could take: whether the answer stayed the same
            for _ in range(SWAP_TRIES):
                other = alternative(kind, by, current, rng)
                if other is None:
                    break
                answer, reason = await _run_chain(derivation, evidence, pool, swap=(hop.call, param, other),
                                                  compared=True)
                checked += 1
                if reason is not None:
                    continue  # the chain's descriptions pick nothing for that value: it tells nothing either way
                same.append(answers_match(answer, found, matcher_for(found)))
                if not same[-1] or len(same) == SWAPS:
                    break  # another value, another answer (this input matters); or enough values tried
            if same and all(same):  # every other value the chain could take gave the same answer
                return "hop_not_needed", checked
    return None, checked


async def verify_task(derivation: Derivation, evidence: Evidence, pool: ClientPool, *, alternative: Any = None,
                      rng: random.Random | None = None, checks: dict[str, Any] | None = None) -> Verification:
    """Check a derivation statically, replay it on a fresh session, then check that every hop matters."""
    reason = static_checks(derivation, evidence, **(checks or {}))
    if reason:
        return Verification(accepted=False, reason=reason)
    ok, replayed, reason = await replay(derivation, evidence, pool)
    if not ok:
        return Verification(replayed=True, replay_answer=replayed, accepted=False, reason=reason)
    if alternative is not None:
        skipped, _checked = await skippable_hop(derivation, evidence, pool, alternative, rng or random.Random(0))
        if skipped:
            return Verification(replayed=True, replay_answer=replayed, accepted=False, reason=skipped)
    return Verification(replayed=True, replay_answer=replayed, accepted=True)
