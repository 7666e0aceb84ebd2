"""Our AST checker on BFCL's own simple / multiple / parallel entries: right calls pass, wrong ones say why."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dive.eval.bfcl import ASTResult, BFCLEntry, FunctionCall, check_ast, load_category, load_entry


def _value(allowed: Any) -> Any:
    """A concrete value from a possible answer's allowed value (dicts hold per-key alternatives)."""
    if isinstance(allowed, dict):
        return {k: _value(v[0] if v[0] != "" else v[1]) for k, v in allowed.items() if v != [""]}
    if isinstance(allowed, list):
        return [_value(v) for v in allowed]
    return allowed


def right_calls(entry: BFCLEntry, *, exposed_names: bool = True) -> list[dict[str, Any]]:
    """The calls the possible answer describes: the first allowed value of each parameter, optional ones
    (those allowing "") left out unless the function doc requires them."""
    docs = {f.name: f for f in entry.functions}
    calls = []
    for expected in entry.possible_answer:
        ((name, params),) = expected.items()
        required = docs[name].parameters.get("required", [])
        arguments = {p: _value(next(v for v in values if v != "")) for p, values in params.items()
                     if "" not in values or p in required}
        calls.append({"name": name.replace(".", "_") if exposed_names else name, "arguments": arguments})
    return calls


@pytest.mark.parametrize("entry_id", ["simple_python_0", "simple_python_1", "simple_python_89", "multiple_0",
                                      "multiple_8", "parallel_0", "parallel_2", "parallel_29"])
def test_the_possible_answers_own_calls_are_correct(entry_id):
    entry = load_entry(entry_id)
    assert check_ast(entry, right_calls(entry)) == ASTResult(correct=True)
    assert check_ast(entry, right_calls(entry, exposed_names=False)).correct  # BFCL's dotted names too


def test_every_simple_multiple_and_parallel_answer_checks_out():
    for category in ("simple", "multiple", "parallel"):
        wrong = [e.id for e in load_category(category) if not check_ast(e, right_calls(e)).correct]
        assert wrong == [], f"{category}: {wrong[:5]}"


def test_documented_leniencies():
    entry = load_entry("simple_python_0")  # calculate_triangle_area(base=10, height=5, unit in {"units", ""})
    ok = {"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}
    assert check_ast(entry, [ok]).correct
    with_optional = {"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5, "unit": " Units."}}
    assert check_ast(entry, [with_optional]).correct  # case, whitespace and punctuation do not count
    as_json_text = {"name": "calculate_triangle_area", "arguments": json.dumps({"base": 10, "height": 5})}
    assert check_ast(entry, [as_json_text]).correct
    assert check_ast(entry, [FunctionCall(name="calculate_triangle_area", arguments={"base": 10, "height": 5})]).correct

    emissions = load_entry("simple_python_200")  # fuel_efficiency is a "float" parameter, 25.0 expected
    calls = right_calls(emissions)
    calls[0]["arguments"]["fuel_efficiency"] = 25  # an int is accepted where a float is expected
    assert check_ast(emissions, calls).correct

    parallel = load_entry("parallel_2")  # calculate_resistance(length=5, area=0.01, resistivity=copper|aluminum)
    assert check_ast(parallel, list(reversed(right_calls(parallel)))).correct  # order is free


def test_types_are_checked_against_the_function_doc():
    entry = load_entry("simple_python_0")
    result = check_ast(entry, [{"name": "calculate_triangle_area", "arguments": {"base": "10", "height": 5}}])
    assert result.error == "wrong_type" and "base" in result.detail
    result = check_ast(entry, [{"name": "calculate_triangle_area", "arguments": {"base": 10.0, "height": 5}}])
    assert result.error == "wrong_type"  # a float is not accepted where an integer is expected
    parallel = load_entry("parallel_2")
    calls = right_calls(parallel)
    calls[0]["arguments"]["length"] = 5.5
    result = check_ast(parallel, calls)  # the unmatched call is the one reported
    assert result.error == "wrong_type" and "length" in result.detail


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda c: c[0].update(name="calculate_circle_area"), "wrong_function"),
        (lambda c: c[0]["arguments"].pop("base"), "missing_param"),
        (lambda c: c[0]["arguments"].update(base=11), "wrong_value"),
        (lambda c: c[0]["arguments"].update(color="red"), "unexpected_param"),
        (lambda c: c.append(dict(c[0])), "wrong_count"),
        (lambda c: c.clear(), "no_call"),
        (lambda c: c[0].update(arguments="{not json"), "malformed_call"),
    ],
    ids=["wrong-function", "missing-param", "wrong-value", "extra-param", "two-calls", "no-call", "malformed"],
)
def test_wrong_simple_calls_name_their_error(mutate, error):
    entry = load_entry("simple_python_0")
    calls = right_calls(entry)
    mutate(calls)
    result = check_ast(entry, calls)
    assert not result.correct and result.error == error and result.detail


def test_multiple_needs_the_one_right_function_among_those_offered():
    entry = load_entry("multiple_0")
    offered = {f.tool_name for f in entry.functions}
    assert len(offered) > 1
    calls = right_calls(entry)
    other = next(name for name in offered if name != calls[0]["name"])
    assert check_ast(entry, [{"name": other, "arguments": calls[0]["arguments"]}]).error == "wrong_function"
    assert check_ast(entry, calls + calls).error == "wrong_count"


def test_parallel_calls_are_matched_one_to_one():
    entry = load_entry("parallel_0")  # spotify.play: Taylor Swift for 20, Maroon 5 for 15
    calls = right_calls(entry)
    assert check_ast(entry, calls[:1]).error == "wrong_count"
    assert check_ast(entry, [calls[0], calls[0]]).error == "wrong_value"  # one expected call covered twice
    calls[0]["arguments"]["duration"], calls[1]["arguments"]["duration"] = 15, 20  # durations swapped
    result = check_ast(entry, calls)
    assert result.error == "wrong_value" and "duration" in result.detail
    nested = load_entry("parallel_29")  # a dict-valued parameter with per-key alternatives
    calls = right_calls(nested)
    first = calls[0]["arguments"]
    key = next(k for k, v in first.items() if isinstance(v, dict))
    first[key] = {**first[key], "unknown_key": 1}
    assert check_ast(nested, calls).error == "wrong_value"


def test_multi_turn_entries_are_refused():
    with pytest.raises(ValueError, match="multi-turn"):
        check_ast(load_entry("multi_turn_base_0"), [])
