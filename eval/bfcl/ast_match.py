"""Our AST-style checker for BFCL's single-turn categories (simple, multiple, parallel, ...).

It follows the matching rules the leaderboard documents for its AST evaluation (Patil et al., "The
Berkeley Function Calling Leaderboard (BFCL)", ICML 2025; data from the `bfcl-eval` package): the
function name must match; every required parameter must be present and no parameter may be unknown;
each value must be among the possible answer's allowed values, where "" means the parameter may be
left out; an int is accepted where a float is expected; strings are compared case-insensitively
after removing whitespace and the punctuation `, . / - _ * ^`; lists and dicts are compared element by
element; several expected calls (parallel) are matched to the model's calls one-to-one, in any order.
This is our own implementation, not the package's code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from .data import BFCLEntry, FunctionCall, FunctionDoc, tool_name

ASTError = Literal[
    "no_call",
    "malformed_call",
    "wrong_count",
    "wrong_function",
    "missing_param",
    "unexpected_param",
    "wrong_type",
    "wrong_value",
]
# When no one-to-one assignment exists, the reported mismatch is the least severe one found.
_SEVERITY: dict[str, int] = {"wrong_value": 0, "wrong_type": 1, "missing_param": 2, "unexpected_param": 2,
                             "wrong_function": 3}
_OPTIONAL = ""
_STRIPPED = re.compile(r"[\s,./\-_*^]")


class ASTResult(BaseModel):
    """The verdict on one entry: correct or not, and if not, the class of error and what it was."""

    correct: bool
    error: ASTError | None = None
    detail: str = ""


def check_ast(entry: BFCLEntry, calls: Sequence[FunctionCall | Mapping[str, Any]]) -> ASTResult:
    """Score a model's parsed calls on a single-turn entry against its possible answer.

    `calls`: the model's calls, each a `FunctionCall` or a mapping `{"name", "arguments"}` (arguments
    as a dict or as JSON text). A name matches the BFCL name or its exposed form (dots as `_`)."""
    if entry.is_multi_turn:
        raise ValueError(f"{entry.id} is a multi-turn entry; score it with dive.eval.bfcl.score_multi_turn")
    return match_calls(calls, entry.possible_answer, entry.functions)


def match_calls(
    calls: Sequence[FunctionCall | Mapping[str, Any]],
    possible_answer: Sequence[Mapping[str, Mapping[str, Sequence[Any]]]],
    functions: Sequence[FunctionDoc],
) -> ASTResult:
    """Match calls to a BFCL possible answer (one `{name: {param: [allowed...]}}` per expected call),
    one-to-one and in any order, using the offered `functions` for names, required params and types."""
    parsed: list[FunctionCall] = []
    for i, call in enumerate(calls):
        try:
            parsed.append(call if isinstance(call, FunctionCall) else FunctionCall.model_validate(call))
        except (ValidationError, ValueError) as exc:
            return ASTResult(correct=False, error="malformed_call", detail=f"call #{i} could not be read: {exc}")
    if not parsed:
        return ASTResult(correct=False, error="no_call", detail="the model made no function call")
    if len(parsed) != len(possible_answer):
        return ASTResult(correct=False, error="wrong_count",
                         detail=f"expected {len(possible_answer)} call(s), got {len(parsed)}")
    docs = {f.name: f for f in functions}
    verdicts = [[_check_call(call, expected, docs) for expected in possible_answer] for call in parsed]
    owner = _max_assignment([[v.correct for v in row] for row in verdicts])
    if all(c is not None for c in owner):
        return ASTResult(correct=True)
    return _closest_mismatch(verdicts, owner)


def _max_assignment(ok: list[list[bool]]) -> list[int | None]:
    """A maximum one-to-one assignment of calls (rows) to expected calls (columns): for each expected
    call, the call assigned to it or None (Kuhn's augmenting paths; a few calls at most)."""
    n = len(ok)
    owner: list[int | None] = [None] * n

    def augment(call: int, seen: list[bool]) -> bool:
        for expected in range(n):
            if ok[call][expected] and not seen[expected]:
                seen[expected] = True
                previous = owner[expected]
                if previous is None or augment(previous, seen):
                    owner[expected] = call
                    return True
        return False

    for call in range(n):
        augment(call, [False] * n)
    return owner


def _closest_mismatch(verdicts: list[list[ASTResult]], owner: list[int | None]) -> ASTResult:
    """Why an expected call is unmatched: the least severe error among the calls left unassigned."""
    n = len(owner)
    expected = owner.index(None)
    free = [c for c in range(n) if c not in owner]
    call = min(free, key=lambda c: _SEVERITY.get(verdicts[c][expected].error or "", 9))
    verdict = verdicts[call][expected]
    if verdict.correct:  # it matches, but only at the cost of another expected call
        return ASTResult(correct=False, error="wrong_value",
                         detail="the calls do not match the expected calls one-to-one")
    where = f"expected call #{expected} vs call #{call}: " if n > 1 else ""
    return ASTResult(correct=False, error=verdict.error, detail=where + verdict.detail)


def _check_call(call: FunctionCall, expected: Mapping[str, Mapping[str, Sequence[Any]]],
                docs: Mapping[str, FunctionDoc]) -> ASTResult:
    ((name, allowed_params),) = expected.items()
    if call.name not in (name, tool_name(name)):
        return ASTResult(correct=False, error="wrong_function", detail=f"called {call.name!r}, expected {name!r}")
    doc = docs.get(name)
    properties: Mapping[str, Any] = (doc.parameters.get("properties") or {}) if doc else {}
    required = list((doc.parameters.get("required") or []) if doc else [])
    required += [p for p, values in allowed_params.items() if _OPTIONAL not in _alternatives(values)]
    for param in dict.fromkeys(required):
        if param not in call.arguments:
            return ASTResult(correct=False, error="missing_param", detail=f"{name}: required parameter {param!r} missing")
    for param in call.arguments:
        if param not in allowed_params or (doc is not None and param not in properties):
            return ASTResult(correct=False, error="unexpected_param", detail=f"{name}: unexpected parameter {param!r}")
    for param, value in call.arguments.items():
        schema = properties.get(param) if isinstance(properties.get(param), Mapping) else {}
        problem = _check_value(value, allowed_params[param], schema, f"{name}.{param}")
        if problem is not None:
            return problem
    return ASTResult(correct=True)


def _alternatives(allowed: Any) -> list[Any]:
    return list(allowed) if isinstance(allowed, list) else [allowed]


def _check_value(value: Any, allowed: Any, schema: Mapping[str, Any], where: str) -> ASTResult | None:
    """None when `value` has the schema's type and equals one of the allowed alternatives."""
    candidates = [a for a in _alternatives(allowed) if not (isinstance(a, str) and a == _OPTIONAL)]
    # A value identical to an allowed one (same type) is right even where the doc's declared type
    # disagrees with the possible answer (a few BFCL entries do: a bool for a "string" parameter);
    # this also accepts an explicit null where the answer allows the default None.
    if any(_identical(value, candidate) for candidate in candidates):
        return None
    type_problem = _type_problem(value, schema)
    if type_problem is not None:
        return ASTResult(correct=False, error="wrong_type", detail=f"{where}: {type_problem}")
    if any(_matches(value, candidate, schema) for candidate in candidates):
        return None
    shown = ", ".join(repr(c) for c in candidates[:5])
    return ASTResult(correct=False, error="wrong_value", detail=f"{where}: got {value!r}, allowed: {shown}")


def _type_problem(value: Any, schema: Mapping[str, Any]) -> str | None:
    """What is wrong with the value's type under a BFCL parameter spec (None: nothing)."""
    kind = str(schema.get("type", "any")).lower()
    if kind == "integer" and not (isinstance(value, int) and not isinstance(value, bool)):
        return f"expected an integer, got {type(value).__name__}"
    if kind == "float" and not (isinstance(value, int | float) and not isinstance(value, bool)):
        return f"expected a number, got {type(value).__name__}"
    if kind == "string" and not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if kind == "boolean" and not isinstance(value, bool):
        return f"expected a boolean, got {type(value).__name__}"
    if kind in ("array", "tuple"):
        if not isinstance(value, list | tuple):
            return f"expected a list, got {type(value).__name__}"
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                problem = _type_problem(item, items)
                if problem is not None:
                    return f"item {i}: {problem}"
    if kind == "dict":
        if not isinstance(value, Mapping):
            return f"expected an object, got {type(value).__name__}"
        properties = schema.get("properties") or {}
        for key, item in value.items():
            if isinstance(properties.get(key), Mapping):
                problem = _type_problem(item, properties[key])
                if problem is not None:
                    return f"key {key!r}: {problem}"
    return None


def _identical(value: Any, candidate: Any) -> bool:
    if isinstance(candidate, list | tuple):
        return isinstance(value, list | tuple) and len(value) == len(candidate) and all(
            _identical(v, c) for v, c in zip(value, candidate, strict=True))
    if isinstance(candidate, Mapping):
        return False  # an expected dict holds per-key alternatives, never a literal value
    return type(value) is type(candidate) and value == candidate


def _standard(text: str) -> str:
    return _STRIPPED.sub("", text).lower().replace("'", '"')


def _matches(value: Any, candidate: Any, schema: Mapping[str, Any]) -> bool:
    """Whether a value equals one allowed alternative (recursively, type-aware)."""
    if isinstance(value, bool) or isinstance(candidate, bool):
        return isinstance(value, bool) and isinstance(candidate, bool) and value == candidate
    if isinstance(value, int | float) and isinstance(candidate, int | float):
        return float(value) == float(candidate)
    if isinstance(value, str) and isinstance(candidate, str):
        return _standard(value) == _standard(candidate)
    if isinstance(value, list | tuple) and isinstance(candidate, list | tuple):
        items = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
        return len(value) == len(candidate) and all(
            _element_matches(v, c, items) for v, c in zip(value, candidate, strict=True))
    if isinstance(value, Mapping) and isinstance(candidate, Mapping):
        return _dict_matches(value, candidate, schema)
    return value == candidate


def _element_matches(value: Any, candidate: Any, schema: Mapping[str, Any]) -> bool:
    # A dict inside an expected list is itself a set of per-key alternatives (as for parameters).
    if isinstance(candidate, Mapping) and isinstance(value, Mapping):
        return _dict_matches(value, candidate, schema)
    return _matches(value, candidate, schema)


def _dict_matches(value: Mapping[str, Any], candidate: Mapping[str, Any], schema: Mapping[str, Any]) -> bool:
    """An expected dict maps each key to its allowed alternatives ("" = the key may be absent)."""
    properties = schema.get("properties") or {}
    if any(key not in candidate for key in value):
        return False
    for key, allowed in candidate.items():
        alternatives = _alternatives(allowed)
        if key not in value:
            if _OPTIONAL not in alternatives:
                return False
            continue
        sub = properties.get(key) if isinstance(properties.get(key), Mapping) else {}
        if not any(_matches(value[key], a, sub) for a in alternatives if not (isinstance(a, str) and a == _OPTIONAL)):
            return False
    return True
