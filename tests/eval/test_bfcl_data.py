"""Loading BFCL's data from the installed bfcl-eval package into typed records with valid tool schemas."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
from jsonschema.validators import validator_for

from dive.eval.bfcl import (
    BFCLDataError,
    BFCLEntry,
    FunctionDoc,
    class_function_docs,
    data_dir,
    load_category,
    load_entry,
    to_json_schema,
)

FOUR = ["simple", "multiple", "parallel", "multi_turn_base"]
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@pytest.mark.parametrize("category", FOUR)
def test_each_category_loads_with_answers_and_valid_tool_schemas(category):
    entries = load_category(category)
    assert len(entries) > 0
    assert len({e.id for e in entries}) == len(entries)
    checked: set[str] = set()
    for entry in entries:
        assert isinstance(entry, BFCLEntry) and entry.category == category
        assert entry.turns and all(m.content for turn in entry.turns for m in turn)
        assert entry.functions
        if category == "multi_turn_base":
            assert entry.is_multi_turn and len(entry.ground_truth) == len(entry.turns)
            assert entry.involved_classes and not any(f.name in entry.excluded_functions for f in entry.functions)
        else:
            assert not entry.is_multi_turn and len(entry.turns) == 1 and entry.possible_answer
        for tool in entry.tool_schemas():
            assert tool["type"] == "function"
            function = tool["function"]
            assert TOOL_NAME.match(function["name"]) and isinstance(function["description"], str)
            schema = function["parameters"]
            assert schema["type"] == "object"
            key = json.dumps(schema, sort_keys=True)
            if key not in checked:  # many schemas repeat (the multi-turn classes' docs); check each once
                validator_for(schema).check_schema(schema)
                checked.add(key)


def test_the_categories_have_the_leaderboards_sizes():
    counts = {c: len(load_category(c)) for c in FOUR}
    # BFCL's documented sizes; a package release that changes them changes comparability.
    assert counts == {"simple": 400, "multiple": 200, "parallel": 200, "multi_turn_base": 200}


def test_bfcl_types_become_json_schema_types():
    spec = {"type": "dict", "properties": {
        "x": {"type": "float", "description": "a number"},
        "pair": {"type": "tuple", "items": {"type": "float"}},
        "anything": {"type": "any", "description": "no constraint"},
        "opts": {"type": "dict", "properties": {"n": {"type": "integer"}}, "optional": True},
    }, "required": ["x"]}
    schema = to_json_schema(spec)
    assert schema["type"] == "object"
    assert schema["properties"]["x"] == {"type": "number", "description": "a number"}
    assert schema["properties"]["pair"] == {"type": "array", "items": {"type": "number"}}
    assert "type" not in schema["properties"]["anything"]
    assert schema["properties"]["opts"] == {"type": "object", "properties": {"n": {"type": "integer"}}}
    validator_for(schema).check_schema(schema)
    with pytest.raises(BFCLDataError, match="unknown BFCL parameter type"):
        to_json_schema({"type": "HashMap"})


def test_dotted_names_are_exposed_with_underscores():
    entry = load_entry("simple_python_1")
    (doc,) = entry.functions
    assert doc.name == "math.factorial"
    assert entry.tool_schemas()[0]["function"]["name"] == "math_factorial"


def test_multi_turn_entries_carry_their_classes_docs_and_initial_state():
    entry = load_entry("multi_turn_base_0")
    assert set(entry.involved_classes) == {"GorillaFileSystem", "TwitterAPI"}
    assert "GorillaFileSystem" in entry.initial_config
    assert {f.class_name for f in entry.functions} == {"GorillaFileSystem", "TwitterAPI"}
    assert entry.ground_truth[0][0] == "cd(folder='document')"
    names = {d.name for d in class_function_docs("GorillaFileSystem")}
    assert {"cd", "mkdir", "mv", "grep"} <= names
    assert isinstance(class_function_docs("MathAPI")[0], FunctionDoc)


def test_a_missing_category_or_package_says_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(BFCLDataError, match="unknown BFCL category"):
        load_category("simple_cobol")
    with pytest.raises(BFCLDataError, match="no BFCL file for category"):
        load_category("simple", data_folder=tmp_path)
    with pytest.raises(BFCLDataError, match="no BFCL entry"):
        load_entry("simple_python_99999")
    assert (data_dir() / "possible_answer").is_dir()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bfcl_eval" else real(name, *a))
    with pytest.raises(BFCLDataError, match="pip install --no-deps bfcl-eval"):
        load_category("simple")
