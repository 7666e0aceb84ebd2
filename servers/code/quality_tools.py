"""Code-quality tools: lint, auto-fix and format with ruff; unified diffs; applying patches."""

from __future__ import annotations

import difflib
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from typing import Annotated

from pydantic import BaseModel, Field

from dive.servers.kit import (
    Example, Fact, Items, Meaning, Takes, ToolFailure, atomic_write, clip_items, clip_text, no_facts,
)

from .domain import DOMAIN, MAX_SOURCE_CHARS, CodeState, load_source

Code = Annotated[str, Field(description="Python source text (give this or `path`)")]
SourcePath = Annotated[str, Field(description="Workspace path of a Python file, e.g. 'examples/messy.py' (give this or `code`)")]
DEFAULT_RULES = "E,F,W,I"


@cache
def _ruff() -> str:
    try:
        from ruff.__main__ import find_ruff_bin

        return str(find_ruff_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("ruff")
        if found is None:
            raise ToolFailure("ruff is not installed on the server (pip install ruff)") from None
        return found


def _ruff_run(args: list[str], source: str, filename: str) -> subprocess.CompletedProcess[str]:
    """Run ruff on `source` fed through stdin; ruff only reads text, it never executes it."""
    with tempfile.TemporaryDirectory(prefix="dive-ruff-") as cwd:
        return subprocess.run(
            [_ruff(), *args, "--isolated", "--no-cache", "--stdin-filename", filename, "-"],
            input=source, capture_output=True, text=True, cwd=cwd, timeout=30,
        )


def _rules(select: str) -> str:
    rules = select.replace(" ", "")
    if not re.fullmatch(r"[A-Z]{1,4}[0-9]{0,4}(,[A-Z]{1,4}[0-9]{0,4})*", rules):
        raise ToolFailure("select must be comma-separated ruff rule codes or prefixes such as 'E,F,W,I' or 'F401', "
                          f"not {select!r}")
    return rules


class Diagnostic(BaseModel):
    code: str | None = Field(description="Rule code, e.g. 'F401'; 'invalid-syntax' (or None) for syntax errors")
    name: str | None = Field(description="Rule name, e.g. 'unused-import'")
    message: str
    line: int
    column: int
    end_line: int
    end_column: int
    fixable: bool = Field(description="ruff can fix it automatically (safe fix)")
    fix: str | None = Field(description="What the fix does, e.g. 'Remove unused import: `os`'")


class LintResult(BaseModel):
    source: str
    rules: str
    count: int
    fixable: int
    by_code: dict[str, int] = Field(description="Number of diagnostics per rule code")
    diagnostics: list[Diagnostic]


def _lint(source: str, label: str, rules: str, line_length: int) -> list[Diagnostic]:
    proc = _ruff_run(["check", "--output-format", "json", "--select", rules, "--line-length", str(line_length),
                      "--target-version", "py311", "--exit-zero"], source, "snippet.py" if label == "<code>" else label)
    if proc.returncode != 0:
        raise ToolFailure(f"ruff failed: {proc.stderr.strip()[:500]}")
    out = []
    for d in json.loads(proc.stdout or "[]"):
        fix = d.get("fix") or None
        out.append(Diagnostic(
            code=d.get("code"), name=d.get("name"), message=d["message"],
            line=d["location"]["row"], column=d["location"]["column"],
            end_line=d["end_location"]["row"], end_column=d["end_location"]["column"],
            fixable=bool(fix and fix.get("applicability") == "safe"), fix=fix.get("message") if fix else None,
        ))
    return sorted(out, key=lambda d: (d.line, d.column, d.code or ""))


LineLength = Annotated[int, Field(ge=40, le=200, description="Maximum line length")]


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("python_file", "path")},
    facts=(Fact("count", "the number of lint problems in {path}"),
           Fact("fixable", "the number of lint problems in {path} that ruff can fix automatically")),
    items=(Items("diagnostics", phrase="the lint problems in {path}", total="count",
                 attributes={"code": "rule code"}),)), kind="processing", examples=[
    Example({"path": "examples/messy.py"},
            lambda r: {"E401", "F401", "E711", "F841", "F541", "I001"} <= set(r["by_code"]) and r["by_code"]["F401"] == 2),
    Example({"code": "import os\n"}, lambda r: r["count"] == 1 and r["diagnostics"][0]["code"] == "F401"
            and r["diagnostics"][0]["fixable"]),
    Example({"path": "examples/fizzbuzz.py"}, lambda r: r["count"] == 0),
])
def lint_python(
    s: CodeState,
    code: Code = "",
    path: SourcePath = "",
    select: Annotated[str, Field(description="ruff rule codes/prefixes to check, e.g. 'E,F,W,I' or 'F401,B'")] = DEFAULT_RULES,
    line_length: LineLength = 88,
) -> LintResult:
    """Lint Python source with ruff and return structured diagnostics: rule code and name, message,
    line/column span, and whether ruff can fix it. Default rules: pycodestyle errors and warnings
    (E, W), pyflakes (F: unused imports/variables, undefined names) and import sorting (I)."""
    text, label = load_source(s, code, path)
    rules = _rules(select)
    diags = _lint(text, label, rules, line_length)
    by_code: dict[str, int] = {}
    for d in diags:
        key = d.code or "syntax-error"
        by_code[key] = by_code.get(key, 0) + 1
    return LintResult(source=label, rules=rules, count=len(diags), fixable=sum(d.fixable for d in diags),
                      by_code=dict(sorted(by_code.items())), diagnostics=clip_items(diags)[0])


class FixResult(BaseModel):
    source: str
    fixed_code: str
    fixes_applied: int
    remaining: list[Diagnostic] = Field(description="Diagnostics ruff could not fix")
    written: bool = Field(description="True when the fixed code was saved back to `path`")


@DOMAIN.tool(meaning=no_facts("rewrites source; its result is the tool's own output (the fixed code, what it wrote)", path=Takes("python_file", "path")), kind="processing", writes=True, examples=[
    Example({"code": "import os, sys\nprint(sys.argv)\n"},
            lambda r: r["fixed_code"] == "import sys\n\nprint(sys.argv)\n" and r["fixes_applied"] >= 1 and r["remaining"] == []),
    Example({"path": "examples/messy.py"},
            lambda r: "import os" not in r["fixed_code"] and {d["code"] for d in r["remaining"]} >= {"F841"}
            and not r["written"]),
])
def fix_python(
    s: CodeState,
    code: Code = "",
    path: SourcePath = "",
    select: Annotated[str, Field(description="ruff rule codes/prefixes to fix")] = DEFAULT_RULES,
    unsafe: Annotated[bool, Field(description="Also apply fixes ruff marks unsafe (they may change behaviour)")] = False,
    write: Annotated[bool, Field(description="Save the fixed code back to `path`")] = False,
) -> FixResult:
    """Apply ruff's automatic lint fixes (remove unused imports, split and sort imports, ...) and return
    the fixed code with the diagnostics that remain; optionally save it back to the workspace file."""
    text, label = load_source(s, code, path)
    if write and not path:
        raise ToolFailure("write=true needs `path` (the workspace file to save to)")
    rules = _rules(select)
    args = ["check", "--fix-only", "--select", rules, "--target-version", "py311", "--exit-zero"]
    if unsafe:
        args.append("--unsafe-fixes")
    proc = _ruff_run(args, text, "snippet.py" if label == "<code>" else label)
    if proc.returncode != 0:
        raise ToolFailure(f"ruff failed: {proc.stderr.strip()[:500]}")
    fixed = proc.stdout
    match = re.search(r"Fixed (\d+) error", proc.stderr)
    remaining = _lint(fixed, label, rules, 88)
    if write and fixed != text:
        atomic_write(s.path(path), fixed.encode("utf-8"))
    return FixResult(source=label, fixed_code=clip_text(fixed, MAX_SOURCE_CHARS)[0],
                     fixes_applied=int(match.group(1)) if match else 0, remaining=clip_items(remaining)[0],
                     written=bool(write and fixed != text))


class FormatResult(BaseModel):
    source: str
    formatted_code: str
    changed: bool
    changed_lines: int = Field(description="Lines added plus lines removed between the original and formatted code")
    diff: str = Field(description="Unified diff from the original to the formatted code")
    written: bool


@DOMAIN.tool(meaning=no_facts("rewrites source; its result is the tool's own output (the formatted code, its diff, what it wrote)",
    path=Takes("python_file", "path")), kind="processing", writes=True, examples=[
    Example({"code": "x=[1,2 ,3]\ndef f( a ):\n  return a*2\n"},
            lambda r: r["formatted_code"] == "x = [1, 2, 3]\n\n\ndef f(a):\n    return a * 2\n" and r["changed"]),
    Example({"path": "examples/fizzbuzz.py"}, lambda r: not r["changed"] and r["diff"] == ""),
])
def format_python(
    s: CodeState,
    code: Code = "",
    path: SourcePath = "",
    line_length: LineLength = 88,
    write: Annotated[bool, Field(description="Save the formatted code back to `path`")] = False,
) -> FormatResult:
    """Format Python source with ruff format (Black-compatible style) and return the formatted code,
    whether anything changed, and a unified diff; optionally save it back to the workspace file."""
    text, label = load_source(s, code, path)
    if write and not path:
        raise ToolFailure("write=true needs `path` (the workspace file to save to)")
    proc = _ruff_run(["format", "--line-length", str(line_length), "--target-version", "py311"], text,
                     "snippet.py" if label == "<code>" else label)
    if proc.returncode != 0:
        raise ToolFailure(f"ruff could not format the code: {proc.stderr.strip()[:500]}")
    formatted = proc.stdout
    diff_lines = list(difflib.unified_diff(text.splitlines(keepends=True), formatted.splitlines(keepends=True),
                                           fromfile=f"a/{label}", tofile=f"b/{label}"))
    changed_lines = sum(1 for ln in diff_lines if ln[:1] in "+-" and not ln.startswith(("+++", "---")))
    if write and formatted != text:
        atomic_write(s.path(path), formatted.encode("utf-8"))
    return FormatResult(source=label, formatted_code=clip_text(formatted, MAX_SOURCE_CHARS)[0], changed=formatted != text,
                        changed_lines=changed_lines, diff=clip_text("".join(diff_lines))[0],
                        written=bool(write and formatted != text))


class DiffResult(BaseModel):
    diff: str = Field(description="Unified diff (empty when identical)")
    identical: bool
    added: int = Field(description="Lines added")
    removed: int = Field(description="Lines removed")
    hunks: int
    similarity: float = Field(description="0..1 ratio of matching lines (difflib)")


def _text_or_file(state: CodeState, text: str, path: str, which: str) -> tuple[str, str]:
    if text and path:
        raise ToolFailure(f"give `{which}` (text) or `{which}_path` (a workspace file), not both")
    if path:
        file = state.path(path, must_exist=True)
        if not file.is_file():
            raise ToolFailure(f"not a file: {path}")
        content = file.read_text(encoding="utf-8", errors="replace")
        label = state.rel(file)
    else:
        content, label = text, which
    if len(content) > MAX_SOURCE_CHARS:
        raise ToolFailure(f"{label} is {len(content)} characters, over the {MAX_SOURCE_CHARS} limit")
    return content, label


@DOMAIN.tool(meaning=Meaning(
    takes={"old_path": Takes("file", "path"), "new_path": Takes("file", "path")},
    facts=(Fact("identical", "whether {old_path} and {new_path} have the same content"),)), kind="processing", examples=[
    Example({"old": "a\nb\nc\n", "new": "a\nB\nc\nd\n"},
            lambda r: (r["added"], r["removed"], r["hunks"]) == (2, 1, 1) and "-b\n+B\n" in r["diff"]),
    Example({"old_path": "data/stocks/MSFT.csv", "new_path": "data/stocks/archive/MSFT_2010.csv"},
            lambda r: r["identical"] and r["diff"] == ""),
    Example({"old_path": "examples/textkit.py", "new": "x = 1\n"}, lambda r: r["added"] == 1 and r["removed"] > 50),
])
def diff_code(
    s: CodeState,
    old: Annotated[str, Field(description="Original text (or give old_path)")] = "",
    new: Annotated[str, Field(description="Changed text (or give new_path)")] = "",
    old_path: Annotated[str, Field(description="Workspace file holding the original")] = "",
    new_path: Annotated[str, Field(description="Workspace file holding the changed version")] = "",
    context: Annotated[int, Field(ge=0, le=20, description="Unchanged lines shown around each change")] = 3,
) -> DiffResult:
    """Compare two versions of code or text (inline or workspace files) and return a unified diff with
    counts of added and removed lines, hunks, and a similarity ratio. apply_patch applies such a diff."""
    a, a_label = _text_or_file(s, old, old_path, "old")
    b, b_label = _text_or_file(s, new, new_path, "new")
    a_lines, b_lines = a.splitlines(keepends=True), b.splitlines(keepends=True)
    lines = list(difflib.unified_diff(a_lines, b_lines, fromfile=f"a/{a_label}", tofile=f"b/{b_label}", n=context))
    lines = [ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n" for ln in lines]
    added = sum(1 for ln in lines if ln.startswith("+") and not ln.startswith("+++"))
    removed = sum(1 for ln in lines if ln.startswith("-") and not ln.startswith("---"))
    ratio = difflib.SequenceMatcher(None, a_lines, b_lines, autojunk=False).ratio() if (a_lines or b_lines) else 1.0
    return DiffResult(diff=clip_text("".join(lines))[0], identical=a == b, added=added, removed=removed,
                      hunks=sum(1 for ln in lines if ln.startswith("@@")), similarity=round(ratio, 4))


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class Hunk:
    start: int
    old: list[str]
    new: list[str]
    added: int
    removed: int


def parse_hunks(patch: str) -> list[Hunk]:
    """Every hunk (old start line, old lines, new lines, counts) of a single-file unified diff."""
    hunks: list[Hunk] = []
    lines = patch.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        m = _HUNK.match(lines[i])
        if not m:
            i += 1  # file headers, 'diff'/'index' lines, blank lines between hunks
            continue
        old_start = int(m.group(1))
        old_len = int(m.group(2)) if m.group(2) is not None else 1
        new_len = int(m.group(4)) if m.group(4) is not None else 1
        old: list[str] = []
        new: list[str] = []
        last: tuple[list[str], ...] = ()
        added = removed = 0
        i += 1
        while i < len(lines) and (len(old) < old_len or len(new) < new_len or lines[i].startswith("\\")):
            line = lines[i]
            tag = line[:1]
            if tag == "\\":  # "\ No newline at end of file" applies to the line before it
                for target in last:
                    target[-1] = target[-1].rstrip("\r\n")
            elif tag == " " or line in ("\n", "\r\n"):
                body = line[1:] if tag == " " else line
                old.append(body)
                new.append(body)
                last = (old, new)
            elif tag == "-":
                old.append(line[1:])
                last = (old,)
                removed += 1
            elif tag == "+":
                new.append(line[1:])
                last = (new,)
                added += 1
            else:
                raise ToolFailure(f"malformed hunk line {i + 1}: {line.rstrip()!r}")
            i += 1
        if len(old) != old_len or len(new) != new_len:
            raise ToolFailure(f"hunk at line {old_start} is cut short: its header promises {old_len} old and "
                              f"{new_len} new lines, the body has {len(old)} and {len(new)}")
        hunks.append(Hunk(old_start, old, new, added, removed))
    if not hunks:
        raise ToolFailure("no hunks found: give a unified diff with '@@ -a,b +c,d @@' headers (diff_code makes one)")
    return hunks


class PatchResult(BaseModel):
    path: str
    hunks_applied: int
    added: int
    removed: int
    offsets: list[int] = Field(description="How far each hunk had to move from its stated line (0: exact)")
    lines: int = Field(description="Line count of the patched file")


@DOMAIN.tool(meaning=no_facts("changes a file with the caller's patch; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"path": "examples/inventory.py",
             "patch": "@@ -36,3 +36,3 @@\n         item = self.items[sku]\n-        if quantity > item.quantity + 1:\n"
                      "+        if quantity > item.quantity:\n             raise OutOfStock(sku)\n"},
            lambda r: r["hunks_applied"] == 1 and (r["added"], r["removed"]) == (1, 1) and r["offsets"] == [0]),
])
def apply_patch(
    s: CodeState,
    path: Annotated[str, Field(description="Workspace file to patch")],
    patch: Annotated[str, Field(max_length=MAX_SOURCE_CHARS,
                                description="A unified diff for this one file (as diff_code makes)")],
) -> PatchResult:
    """Apply a unified diff to a workspace file, checking every context and removed line; hunks may
    sit a few lines away from their stated position. Nothing is written unless every hunk applies."""
    file = s.path(path, must_exist=True)
    if not file.is_file():
        raise ToolFailure(f"not a file: {path}")
    original = file.read_text(encoding="utf-8").splitlines(keepends=True)
    result = list(original)
    shift = 0
    offsets: list[int] = []
    hunks = parse_hunks(patch)
    for n, hunk in enumerate(hunks, 1):
        start, old, new = hunk.start, hunk.old, hunk.new
        expected = max(start - 1, 0) + shift if old else start + shift
        pos = _locate(result, old, expected)
        if pos is None:
            preview = "".join(old[:4]).rstrip()
            raise ToolFailure(f"hunk {n} does not apply to {path}: its lines were not found near line {start}:\n{preview}")
        result[pos:pos + len(old)] = new
        offsets.append(pos - expected)
        shift += len(new) - len(old)
    added, removed = sum(h.added for h in hunks), sum(h.removed for h in hunks)
    atomic_write(file, "".join(result).encode("utf-8"))
    return PatchResult(path=s.rel(file), hunks_applied=len(offsets), added=added, removed=removed, offsets=offsets,
                       lines=len(result))


def _locate(lines: list[str], old: list[str], expected: int, fuzz: int = 50) -> int | None:
    if not old:
        return min(max(expected, 0), len(lines))

    def fits(at: int) -> bool:
        if at < 0 or at + len(old) > len(lines):
            return False
        return all(lines[at + k].rstrip("\r\n") == old[k].rstrip("\r\n") for k in range(len(old)))

    for delta in range(fuzz + 1):
        for at in (expected - delta, expected + delta) if delta else (expected,):
            if fits(at):
                return at
    return None
