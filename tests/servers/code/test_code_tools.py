"""The code tools on known inputs, through a real MCP client (in-process transport): ruff lint/fix/format,
JSON Schema, regexes, diffs and patches, analysis, safe evaluation, and the workspace's boundaries."""

from __future__ import annotations

import os
import re
import shutil
import uuid

import pytest

from dive.servers.code.domain import CodeState
from tests.servers.code.code_support import code_pool, workspace_of

pytestmark = pytest.mark.anyio
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


async def test_lint_reports_structured_diagnostics(world):
    async with code_pool(world) as (pool, _server):
        rec = await pool.call("lint_python", {"code": "import os\nimport sys\n\nx = sys.argv\nif x == None:\n    pass\n"})
    diags = rec.result["diagnostics"]
    assert [(d["code"], d["line"], d["column"]) for d in diags] == [("F401", 1, 8), ("E711", 5, 9)]
    assert diags[0]["name"] == "unused-import" and diags[0]["fixable"] and "os" in diags[0]["message"]
    assert rec.result["by_code"] == {"E711": 1, "F401": 1}


async def test_lint_rule_selection_and_syntax_errors(world):
    async with code_pool(world) as (pool, _server):
        only_long = await pool.call("lint_python", {"code": "x = '" + "a" * 100 + "'\nimport os\n", "select": "E501",
                                                    "line_length": 100})
        broken = await pool.call("lint_python", {"code": "def f(:\n    pass\n"})
        bad_rules = await pool.call("lint_python", {"code": "x = 1\n", "select": "rm -rf /"})
    assert [d["code"] for d in only_long.result["diagnostics"]] == ["E501"]
    assert broken.result["count"] >= 1 and broken.result["diagnostics"][0]["code"] in (None, "invalid-syntax")
    assert broken.result["diagnostics"][0]["line"] == 1
    assert bad_rules.is_error and "rule codes" in bad_rules.error


async def test_fix_and_format_can_write_back(world):
    async with code_pool(world) as (pool, server):
        fixed = await pool.call("fix_python", {"path": "examples/messy.py", "write": True})
        assert fixed.result["written"] and fixed.result["fixes_applied"] >= 4
        formatted = await pool.call("format_python", {"path": "examples/messy.py", "write": True})
        assert formatted.result["written"] and formatted.result["changed_lines"] > 0
        source = (workspace_of(server, pool) / "examples" / "messy.py").read_text()
        assert source.startswith("import json\n") and "data = json.load(f)" in source
        again = await pool.call("format_python", {"path": "examples/messy.py"})
        assert not again.result["changed"]
        lint = await pool.call("lint_python", {"path": "examples/messy.py"})
        assert set(lint.result["by_code"]) == {"E711", "F841"}, lint.result["by_code"]
        refused = await pool.call("format_python", {"code": "x=1", "write": True})
        assert refused.is_error and "needs `path`" in refused.error


async def test_json_schema_validation(world):
    schema = {"type": "object", "required": ["name", "tags"],
              "properties": {"name": {"type": "string"},
                             "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                             "email": {"type": "string", "format": "email"}}}
    async with code_pool(world) as (pool, _server):
        ok = await pool.call("validate_json_schema", {"instance": {"name": "a", "tags": ["x", "y"]}, "schema": schema})
        bad = await pool.call("validate_json_schema", {"instance": {"tags": ["x", "x", 3], "email": "nope"}, "schema": schema})
        as_text = await pool.call("validate_json_schema", {"instance": '{"name": 1, "tags": []}', "schema": schema})
        invalid_schema = await pool.call("validate_json_schema", {"instance": {}, "schema": {"type": "no-such-type"}})
        from_files = await pool.call("validate_json_schema", {"instance_path": "samples/order_invalid.json",
                                                              "schema_path": "schemas/order.schema.json"})
    assert ok.result["valid"] and ok.result["draft"] == "Draft202012"
    found = {(e["path"], e["validator"]) for e in bad.result["errors"]}
    assert found == {("/", "required"), ("/tags", "uniqueItems"), ("/tags/2", "type"), ("/email", "format")}
    assert [e["validator"] for e in as_text.result["errors"]] == ["type"] and as_text.result["errors"][0]["path"] == "/name"
    assert invalid_schema.is_error and "schema itself is invalid" in invalid_schema.error
    messages = {e["path"]: e["message"] for e in from_files.result["errors"]}
    assert messages["/currency"] == "'JPY' is not one of ['EUR', 'USD', 'GBP']"
    assert "'colour' was unexpected" in messages["/items/1"]


@needs_bwrap
async def test_regex_tools(world):
    async with code_pool(world) as (pool, _server):
        found = await pool.call("regex_search", {"pattern": r"(\w+)@(\w+)\.org",
                                                 "text": "ada@math.org, bob@x.com\ngrace@navy.org"})
        lines = await pool.call("regex_search", {"pattern": r"^\d+,(?P<symbol>[A-Z][a-z]?),", "path": "data/elements.csv",
                                                 "flags": ["MULTILINE"], "max_matches": 3})
        replaced = await pool.call("regex_replace", {"pattern": r"(?P<first>\w+) (?P<last>\w+)",
                                                     "replacement": r"\g<last>, \g<first>", "text": "Ada Lovelace"})
        invalid = await pool.call("regex_search", {"pattern": "(unclosed", "text": "x"})
        redos = await pool.call("regex_search", {"pattern": "(a+)+$", "text": "a" * 40 + "b"})
        after = await pool.call("regex_search", {"pattern": "b", "text": "abc"})
    assert found.result["count"] == 2
    second = found.result["matches"][1]
    assert second["groups"] == ["grace", "navy"] and second["line"] == 2 and second["start"] == 24
    assert second["group_spans"] == [[24, 29], [30, 34]]
    assert [m["named"]["symbol"] for m in lines.result["matches"]] == ["H", "He", "Li"]
    assert lines.result["truncated"] and lines.result["count"] > 100
    assert replaced.result["result"] == "Lovelace, Ada" and replaced.result["replacements"] == 1
    assert invalid.is_error and "invalid regular expression" in invalid.error
    assert redos.is_error and ("cpu_limit" in redos.error or "timeout" in redos.error)
    assert after.result["count"] == 1


@needs_bwrap
async def test_diff_then_patch_fixes_the_inventory_bug(world):
    async with code_pool(world) as (pool, server):
        before = await pool.call("run_tests", {"path": "tests/test_inventory.py", "runner": "unittest"})
        assert (before.result["passed"], before.result["failed"]) == (4, 1)
        workspace = workspace_of(server, pool)
        original = (workspace / "examples" / "inventory.py").read_text()
        fixed = original.replace("item.quantity + 1:", "item.quantity:")
        diff = await pool.call("diff_code", {"old_path": "examples/inventory.py", "new": fixed})
        assert (diff.result["added"], diff.result["removed"], diff.result["hunks"]) == (1, 1, 1)
        patched = await pool.call("apply_patch", {"path": "examples/inventory.py", "patch": diff.result["diff"]})
        assert patched.result["hunks_applied"] == 1
        assert (workspace / "examples" / "inventory.py").read_text() == fixed
        after = await pool.call("run_tests", {"path": "tests/test_inventory.py", "runner": "unittest"})
        assert after.result["success"] and after.result["passed"] == 5
        stale = await pool.call("apply_patch", {"path": "examples/inventory.py", "patch": diff.result["diff"]})
        assert stale.is_error and "does not apply" in stale.error
        assert (workspace / "examples" / "inventory.py").read_text() == fixed


async def test_metrics_of_a_file_without_functions_leave_the_averages_empty(world):
    """An average over no functions is not 0: an empty `__init__.py` has no complexity to report."""
    async with code_pool(world) as (pool, _server):
        metrics = await pool.call("python_metrics", {"path": "examples/__init__.py"})
    assert not metrics.is_error and metrics.result["functions"] == 0
    assert metrics.result["average_complexity"] is None and metrics.result["max_complexity"] is None
    assert metrics.result["most_complex"] is None


async def test_analysis_of_workspace_code(world):
    async with code_pool(world) as (pool, _server):
        metrics = await pool.call("python_metrics", {"path": "examples/textkit.py"})
        defs = await pool.call("list_definitions", {"path": "examples/geometry.py"})
        refs = await pool.call("find_references", {"name": "slugify"})
        source = await pool.call("get_source", {"path": "examples/textkit.py", "name": "caesar"})
        syntax = await pool.call("check_syntax", {"code": "x = (1,\n"})
    per = {f["name"]: f["complexity"] for f in metrics.result["per_function"]}
    assert per == {"slugify": 1, "word_count": 2, "is_palindrome": 3, "caesar": 4, "count_vowels": 3}
    assert metrics.result["average_complexity"] == 2.6 and metrics.result["max_complexity"] == 4
    circle = next(c for c in defs.result["classes"] if c["name"] == "Circle")
    assert circle["bases"] == ["Shape"] and circle["methods"] == ["__init__", "area", "perimeter"]
    shape = next(c for c in defs.result["classes"] if c["name"] == "Shape")
    assert shape["bases"] == ["ABC"]
    roles = sorted((r["path"], r["role"]) for r in refs.result["references"])
    assert roles == [("examples/textkit.py", "definition"), ("tests/test_textkit.py", "call"), ("tests/test_textkit.py", "call"),
                     ("tests/test_textkit.py", "import")]
    assert source.result["source"].startswith("def caesar(text: str, shift: int) -> str:")
    assert not syntax.result["valid"] and syntax.result["line"] == 1


async def test_safe_evaluation_refuses_escapes(world):
    attempts = {
        "__import__('os').system('id')": "unknown name",
        "().__class__.__bases__[0].__subclasses__()": "not allowed",
        "open('/etc/passwd').read()": "unknown name",
        "(lambda: 1)()": "not allowed",
        "9 ** 9 ** 9": "bits",
        "'x' * 10 ** 9": "limit",
        "[x for x in range(10 ** 9)]": "limit",
        "math.__dict__": "not among the allowed",
    }
    async with code_pool(world) as (pool, _server):
        for expression, message in attempts.items():
            rec = await pool.call("eval_expression", {"expression": expression})
            assert rec.is_error and message in rec.error, (expression, rec.error)
        ok = await pool.call("eval_expression", {"expression": "statistics.median(xs) + len(name.upper())",
                                                 "variables": {"xs": [3, 1, 2], "name": "ada"}})
    assert ok.result["value"] == 5 and ok.result["type"] == "int"


async def test_workspace_boundaries(world):
    attempts = [
        ("read_file", {"path": "../../../etc/passwd"}, "'..' is not allowed"),
        ("read_file", {"path": "/etc/shadow"}, "absolute paths"),
        ("write_file", {"path": "../escape.py", "content": "x"}, "'..' is not allowed"),
        ("run_python_file", {"path": "/usr/lib/python3/dist-packages/pytest/__main__.py"}, "absolute paths"),
        ("list_files", {"path": "~"}, "home-relative"),
        ("lint_python", {"path": "../../pyproject.toml"}, "'..' is not allowed"),
        ("diff_code", {"old_path": "/etc/hostname", "new": "x"}, "absolute paths"),
        ("validate_json_schema", {"instance_path": "../x.json", "schema": {}}, "'..' is not allowed"),
    ]
    async with code_pool(world) as (pool, server):
        for tool, args, message in attempts:
            rec = await pool.call(tool, args)
            assert rec.is_error and message in rec.error, (tool, args, rec.error)
        workspace = workspace_of(server, pool)
        os.symlink("/etc/hostname", workspace / "link_out")
        via_link = await pool.call("read_file", {"path": "link_out"})
        assert via_link.is_error and "leaves the workspace" in via_link.error
        if shutil.which("bwrap"):
            inside = await pool.call("run_shell", {"command": "cat link_out || echo unreadable"})
            assert "unreadable" in inside.result["stdout"]


@needs_bwrap
async def test_a_repeated_regex_job_is_answered_without_another_sandbox(world, monkeypatch):
    """Synthesis replays every call on a fresh session: the same pattern on the same text runs once per server."""
    launches = []
    drive = CodeState.drive
    monkeypatch.setattr(CodeState, "drive", lambda self, *a, **k: launches.append(a[0]) or drive(self, *a, **k))
    job = {"pattern": r"(\w+)-(\d+)", "text": f"ticket {uuid.uuid4().hex[:8]}-42 and ops-7"}
    async with code_pool(world) as (pool, _server):
        first = await pool.call("regex_search", job)
        pool.new_session()
        again = await pool.call("regex_search", job)
        other = await pool.call("regex_search", {**job, "flags": ["IGNORECASE"]})
    assert not first.is_error and first.result == again.result and first.result["count"] == 2
    assert other.result["count"] == 2 and len(launches) == 2  # the job, and the job with other flags


@needs_bwrap
async def test_search_code_in_the_server_and_in_the_sandbox_agree(world):
    """A plain-text search runs in the server, a regex search in the sandbox: one implementation, the same
    answers; a pipe or a link in the workspace is skipped, not opened (opening a pipe would block)."""
    async with code_pool(world) as (pool, server):
        workspace = workspace_of(server, pool)
        os.mkfifo(workspace / "examples" / "jam.py")
        os.symlink("/etc/hostname", workspace / "examples" / "host.py")
        for pattern, case in [("def ", True), ("RETURN", False), ("price", True)]:
            plain = await pool.call("search_code", {"pattern": pattern, "glob": "*.py", "case_sensitive": case})
            as_regex = await pool.call("search_code", {"pattern": re.escape(pattern), "glob": "*.py", "regex": True,
                                                       "case_sensitive": case})
            assert not plain.is_error and plain.result == {**as_regex.result, "pattern": pattern}, pattern
            assert plain.result["total"] > 0 and "examples/jam.py" not in plain.result["files"]
