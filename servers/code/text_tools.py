"""Structured-text tools: JSON Schema validation, regular-expression matching and substitution.

Patterns and schemas come from callers, and a pathological regular expression can backtrack for
hours; so matching runs in the sandbox, and schema validation (which needs the server's jsonschema)
in a separate, CPU- and memory-limited process rather than in the server itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from dive.servers.kit import (
    Example, Fact, Items, Meaning, Memo, Takes, ToolFailure, clip_items, clip_text, content_key, no_facts,
)

from . import harness
from .domain import DOMAIN, MAX_SOURCE_CHARS, RUN_TOOL_TIMEOUT, CodeState

RegexFlag = Literal["IGNORECASE", "MULTILINE", "DOTALL", "VERBOSE", "ASCII"]

_SCHEMA_WORKER = r'''
import json, sys
import jsonschema
from jsonschema.validators import validator_for
job = json.loads(sys.stdin.read())
schema, instance = job["schema"], job["instance"]
cls = validator_for(schema, default=jsonschema.Draft202012Validator)
try:
    cls.check_schema(schema)
except jsonschema.SchemaError as exc:
    print(json.dumps({"schema_error": f"{exc.message} (at schema path /{'/'.join(map(str, exc.absolute_path))})"}))
    sys.exit(0)
validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
errors = []
for err in validator.iter_errors(instance):
    errors.append({
        "path": "/" + "/".join(str(p) for p in err.absolute_path),
        "json_path": err.json_path,
        "message": err.message,
        "validator": str(err.validator),
        "schema_path": "/" + "/".join(str(p) for p in err.absolute_schema_path),
    })
errors.sort(key=lambda e: (e["path"], e["validator"], e["message"]))
print(json.dumps({"draft": cls.__name__, "errors": errors}))
'''


def _load_json(state: CodeState, value: Any, path: str, what: str) -> tuple[Any, str]:
    if (value is None) == (not path):
        raise ToolFailure(f"give exactly one of `{what}` (a JSON value) or `{what}_path` (a workspace .json file)")
    if not path:
        if len(json.dumps(value)) > MAX_SOURCE_CHARS * 5:
            raise ToolFailure(f"{what} is too large (over {MAX_SOURCE_CHARS * 5} characters as JSON)")
        return value, what
    file = state.path(path, must_exist=True)
    if not file.is_file():
        raise ToolFailure(f"not a file: {path}")
    text, label = file.read_text(encoding="utf-8"), state.rel(file)
    if len(text) > MAX_SOURCE_CHARS * 5:
        raise ToolFailure(f"{label} is too large (over {MAX_SOURCE_CHARS * 5} characters)")
    try:
        return json.loads(text), label
    except json.JSONDecodeError as exc:
        raise ToolFailure(f"{label} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None


class SchemaError(BaseModel):
    path: str = Field(description="JSON Pointer to the failing part of the instance, e.g. '/items/0/quantity' ('/' = root)")
    json_path: str = Field(description="The same location as a JSONPath, e.g. '$.items[0].quantity'")
    message: str
    validator: str = Field(description="The schema keyword that failed, e.g. 'minimum', 'required', 'enum'")
    schema_path: str


class SchemaValidation(BaseModel):
    valid: bool
    instance: str
    schema_source: str
    draft: str = Field(description="The JSON Schema draft used (from $schema, default 2020-12)")
    error_count: int
    errors: list[SchemaError]


@DOMAIN.tool(meaning=Meaning(
    takes={"instance_path": Takes("file", "path"), "schema_path": Takes("file", "path")},
    facts=(Fact("valid", "whether {instance_path} is valid against the JSON Schema in {schema_path}"),
           Fact("error_count", "the number of violations of the JSON Schema in {schema_path} in {instance_path}")),
    items=(Items("errors", phrase="the violations of the JSON Schema in {schema_path} in {instance_path}",
                 total="error_count", attributes={"validator": "schema keyword that fails"}),)), kind="processing", timeout=60, examples=[
    Example({"instance_path": "samples/order_valid.json", "schema_path": "schemas/order.schema.json"},
            lambda r: r["valid"] and r["error_count"] == 0),
    Example({"instance_path": "samples/order_invalid.json", "schema_path": "schemas/order.schema.json"},
            lambda r: not r["valid"] and r["error_count"] == 6
            and {(e["path"], e["validator"]) for e in r["errors"]} >= {("/id", "minimum"), ("/currency", "enum"),
                                                                     ("/items/1", "additionalProperties")}),
    Example({"instance": {"age": -3}, "schema": {"type": "object", "properties": {"age": {"type": "integer", "minimum": 0}}}},
            lambda r: r["errors"][0]["json_path"] == "$.age" and r["errors"][0]["validator"] == "minimum"),
])
def validate_json_schema(
    s: CodeState,
    instance: Annotated[Any, Field(
        description="The JSON document to check, as a JSON value (object, array, number, ...)")] = None,
    schema: Annotated[dict[str, Any] | bool | None, Field(description="The JSON Schema, as a JSON object")] = None,
    instance_path: Annotated[str, Field(
        description="Workspace path of the JSON document instead, e.g. 'samples/order_valid.json'")] = "",
    schema_path: Annotated[str, Field(description="Workspace path of the schema instead, e.g. 'schemas/order.schema.json'")] = "",
) -> SchemaValidation:
    """Validate a JSON document against a JSON Schema (drafts 4 to 2020-12, formats checked) and list
    every violation with its location (JSON Pointer and JSONPath), the failing keyword and a message."""
    doc, doc_label = _load_json(s, instance, instance_path, "instance")
    sch, sch_label = _load_json(s, schema, schema_path, "schema")
    if not isinstance(sch, (dict, bool)):
        raise ToolFailure("a JSON Schema must be an object (or true/false)")
    prlimit = shutil.which("prlimit")
    cmd = [sys.executable, "-I", "-c", _SCHEMA_WORKER]
    if prlimit:
        cmd = [prlimit, "--cpu=20", f"--as={2 * 1024 ** 3}", "--"] + cmd
    try:
        proc = subprocess.run(cmd, input=json.dumps({"schema": sch, "instance": doc}), capture_output=True, text=True,
                              timeout=45)
    except subprocess.TimeoutExpired:
        raise ToolFailure("schema validation took over 45 s (a pathological 'pattern'?); simplify the schema") from None
    if proc.returncode != 0:
        raise ToolFailure(f"schema validation failed: {(proc.stderr.strip().splitlines() or ['killed by a resource limit'])[-1]}")
    report = json.loads(proc.stdout)
    if "schema_error" in report:
        raise ToolFailure(f"the schema itself is invalid: {report['schema_error']}")
    errors = [SchemaError(**e) for e in report["errors"]]
    return SchemaValidation(valid=not errors, instance=doc_label, schema_source=sch_label,
                            draft=report["draft"].removesuffix("Validator"), error_count=len(errors),
                            errors=clip_items(errors)[0])


class RegexMatch(BaseModel):
    text: str = Field(description="The matched text")
    start: int = Field(description="0-based character offset where the match starts")
    end: int = Field(description="Offset just past the match")
    line: int = Field(description="1-based line of the match start")
    groups: list[str | None] = Field(description="Captured groups 1..n (None for groups that did not take part)")
    group_spans: list[list[int]] = Field(description="[start, end] of each group ([-1, -1] if it did not take part)")
    named: dict[str, str | None] = Field(description="Named groups")


class RegexSearchResult(BaseModel):
    pattern: str
    count: int = Field(description="Number of non-overlapping matches")
    groups: int = Field(description="Number of capturing groups in the pattern")
    group_names: list[str]
    matches: list[RegexMatch]
    truncated: bool


#: Regex reports by job: a job is a pure function of its pattern, flags and text, and each one run costs a
#: sandbox launch (a replayed or repeated search is answered without one). A job that timed out is not kept.
_reports: Memo[dict[str, Any]] = Memo(256)


def _regex_job(s: CodeState, job: dict[str, Any]) -> dict[str, Any]:
    if len(job["text"]) > MAX_SOURCE_CHARS * 5:
        raise ToolFailure(f"the text is over {MAX_SOURCE_CHARS * 5} characters")
    stdin = json.dumps(job)
    report = _reports.get(content_key(stdin), lambda: s.drive(harness.REGEX, [], stdin=stdin, timeout=5)[0])
    if "error" in report:
        raise ToolFailure(report["error"])
    return report


def _text_source(s: CodeState, text: str, path: str) -> str:
    if text and path:
        raise ToolFailure("give `text` or `path` (a workspace file), not both")
    if path:
        file = s.path(path, must_exist=True)
        if not file.is_file():
            raise ToolFailure(f"not a file: {path}")
        return file.read_text(encoding="utf-8", errors="replace")
    return text


Flags = Annotated[list[RegexFlag], Field(description="re flags, e.g. ['IGNORECASE', 'MULTILINE']")]


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("file", "path")},
    facts=(Fact("count", "the number of matches of the regular expression {pattern} in {path}"),),
    items=(Items("matches", phrase="the matches of the regular expression {pattern} in {path}", total="count",
                 complete_unless="truncated"),)), kind="processing", timeout=RUN_TOOL_TIMEOUT, examples=[
    Example({"pattern": r"(?P<year>\d{4})-(\d{2})-(\d{2})", "text": "from 2024-03-15 to 2024-04-01"},
            lambda r: r["count"] == 2 and r["matches"][0]["groups"] == ["2024", "03", "15"]
            and r["matches"][1]["start"] == 19 and r["matches"][0]["named"] == {"year": "2024"}
            and r["matches"][0]["group_spans"][1] == [10, 12]),
    Example({"pattern": "^def (\\w+)", "path": "examples/geometry.py", "flags": ["MULTILINE"]},
            lambda r: [m["groups"][0] for m in r["matches"]] == ["classify_triangle", "largest"]
            and r["matches"][0]["line"] == 50),
    Example({"pattern": "colou?r", "text": "Colour and COLOR", "flags": ["IGNORECASE"]}, lambda r: r["count"] == 2),
])
def regex_search(
    s: CodeState,
    pattern: Annotated[str, Field(max_length=5000, description="A Python `re` regular expression")],
    text: Annotated[str, Field(description="The text to search (or give path)")] = "",
    path: Annotated[str, Field(description="Workspace file to search instead of text")] = "",
    flags: Flags = [],
    max_matches: Annotated[int, Field(ge=1, le=1000, description="Most matches to return (count covers all)")] = 100,
) -> RegexSearchResult:
    """Test a regular expression (Python `re` syntax) against text or a workspace file: every match
    with its offsets, line, captured groups with their spans, and named groups."""
    report = _regex_job(s, {"mode": "search", "pattern": pattern, "flags": flags, "text": _text_source(s, text, path),
                            "max_matches": max_matches})
    return RegexSearchResult(pattern=pattern, count=report["count"], groups=report["groups"],
                             group_names=report["group_names"], matches=[RegexMatch(**m) for m in report["matches"]],
                             truncated=report["count"] > len(report["matches"]))


class RegexReplaceResult(BaseModel):
    result: str
    replacements: int
    truncated: bool


@DOMAIN.tool(meaning=no_facts("rewrites text with the caller's pattern and replacement; the new text is the tool's own output"), kind="processing", timeout=RUN_TOOL_TIMEOUT, examples=[
    Example({"pattern": r"(\d{4})-(\d{2})-(\d{2})", "replacement": r"\3/\2/\1", "text": "due 2024-03-15, paid 2024-04-01"},
            lambda r: r["result"] == "due 15/03/2024, paid 01/04/2024" and r["replacements"] == 2),
    Example({"pattern": r"\s+", "replacement": " ", "text": "a   b \t c", "count": 1},
            lambda r: r["result"] == "a b \t c" and r["replacements"] == 1),
])
def regex_replace(
    s: CodeState,
    pattern: Annotated[str, Field(max_length=5000, description="A Python `re` regular expression")],
    replacement: Annotated[str, Field(description="Replacement; \\1 or \\g<name> insert groups")],
    text: Annotated[str, Field(description="The text to transform (or give path)")] = "",
    path: Annotated[str, Field(description="Workspace file to read the text from (it is not changed)")] = "",
    flags: Flags = [],
    count: Annotated[int, Field(ge=0, description="Most replacements to make; 0 means all")] = 0,
) -> RegexReplaceResult:
    """Substitute regular-expression matches (Python `re.subn`) in text and return the new text and
    how many replacements were made."""
    report = _regex_job(s, {"mode": "replace", "pattern": pattern, "flags": flags, "text": _text_source(s, text, path),
                            "replacement": replacement, "count": count})
    result, cut = clip_text(report["result"])
    return RegexReplaceResult(result=result, replacements=report["replacements"], truncated=cut)
