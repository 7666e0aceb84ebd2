"""Tools for the files of the code workspace: write, read, list, search."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import stat
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from dive.servers.kit import Example, Fact, Items, Meaning, Takes, ToolFailure, atomic_write, clip_items, no_facts

from . import harness
from .line_search import search_tree
from .domain import DOMAIN, MAX_SOURCE_CHARS, RUN_TOOL_TIMEOUT, CodeState

MAX_WRITE_CHARS = 1_000_000


class WriteResult(BaseModel):
    path: str
    bytes: int
    lines: int
    created: bool = Field(description="True when the file did not exist before")


@DOMAIN.tool(meaning=no_facts("writes the caller's content; its result describes the write"), kind="processing", writes=True, examples=[
    Example({"path": "scratch/hello.py", "content": "print('hello')\n"},
            lambda r: r["path"] == "scratch/hello.py" and r["created"] and r["lines"] == 1 and r["bytes"] == 15),
    Example({"path": "examples/fizzbuzz.py", "content": "print('replaced')\n"}, lambda r: not r["created"]),
])
def write_file(
    s: CodeState,
    path: Annotated[str, Field(description="Workspace-relative path, e.g. 'scratch/solution.py' (folders are created)")],
    content: Annotated[str, Field(max_length=MAX_WRITE_CHARS, description="The full text to write")],
    append: Annotated[bool, Field(description="Add to the end of the file instead of replacing it")] = False,
) -> WriteResult:
    """Create or overwrite a text file in the code workspace (or append to it), e.g. a program to run
    with run_python_file or a test file for run_tests."""
    file = s.path(path)
    if file == s.workspace.resolve() or file.is_dir():
        raise ToolFailure(f"{path} is a folder; give a file path such as '{path.rstrip('/')}/main.py'")
    created = not file.exists()
    if not created and not file.is_file():
        raise ToolFailure(f"{path} is not a regular file (a FIFO or socket); write to another path")
    data = content
    if append and not created:
        data = file.read_text(encoding="utf-8", errors="replace") + content
        if len(data) > MAX_WRITE_CHARS:
            raise ToolFailure(f"the file would grow past {MAX_WRITE_CHARS} characters")
    raw = data.encode("utf-8")
    s.check_room(len(raw) - (0 if created else file.stat().st_size))
    atomic_write(file, raw)
    return WriteResult(path=s.rel(file), bytes=len(raw), lines=len(data.splitlines()), created=created)


class ReadResult(BaseModel):
    path: str
    text: str = Field(description="The requested lines, joined with newlines")
    start_line: int
    end_line: int = Field(description="Last line included (0 for an empty file)")
    total_lines: int
    truncated: bool = Field(description="True when lines after end_line were left out")


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("file", "path")},
    facts=(Fact("total_lines", "the number of lines in {path}"),)), kind="retrieval", examples=[
    Example({"path": "examples/fizzbuzz.py"},
            lambda r: r["text"].startswith('"""Print FizzBuzz') and r["total_lines"] == 27 and not r["truncated"]),
    Example({"path": "data/elements.csv", "start_line": 2, "max_lines": 1},
            lambda r: r["text"].startswith("1,H,Hydrogen,") and r["truncated"] and r["end_line"] == 2),
])
def read_file(
    s: CodeState,
    path: Annotated[str, Field(description="Workspace-relative path, e.g. 'examples/textkit.py'")],
    start_line: Annotated[int, Field(ge=1, description="First line to return (1-based)")] = 1,
    max_lines: Annotated[int, Field(ge=1, le=5000, description="Most lines to return")] = 500,
) -> ReadResult:
    """Read a text file of the code workspace, a range of lines at a time."""
    file = s.path(path, must_exist=True)
    if not file.is_file():
        raise ToolFailure(f"not a file: {path} (use list_files for folders)")
    if file.stat().st_size > 20 * MAX_SOURCE_CHARS:
        raise ToolFailure(f"{path} is over {20 * MAX_SOURCE_CHARS} bytes; read it with run_shell (head/tail/sed)")
    lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
    chunk = lines[start_line - 1:start_line - 1 + max_lines]
    text = "\n".join(chunk)
    if len(text) > MAX_SOURCE_CHARS:
        raise ToolFailure(f"those lines hold over {MAX_SOURCE_CHARS} characters; ask for fewer (max_lines)")
    end = start_line - 1 + len(chunk)
    return ReadResult(path=s.rel(file), text=text, start_line=start_line, end_line=end, total_lines=len(lines),
                      truncated=end < len(lines))


class FileEntry(BaseModel):
    path: str
    type: Literal["file", "dir", "symlink"]
    size: int = Field(description="Bytes (0 for folders)")
    lines: int | None = Field(description="Line count of text files under 1 MB")


class FileListing(BaseModel):
    root: str
    count: int
    entries: list[FileEntry]
    truncated: bool


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("directory", "path")},
    items=(Items("entries", phrase="the files and folders under {path}", total="count", complete_unless="truncated",
                 name="path", name_type="file", name_by="path",
                 attributes={"size": "size", "lines": "number of lines"},
                 units={"size": "bytes", "lines": "lines"}),)), kind="retrieval", examples=[
    Example({"path": "tests"}, lambda r: {e["path"] for e in r["entries"]} == {"tests/__init__.py", "tests/test_textkit.py",
                                                                             "tests/test_inventory.py"}),
    Example({"path": ".", "pattern": "*.csv"},
            lambda r, world: {e["path"] for e in r["entries"]} == {f"data/{p.relative_to(world.files_root / 'data').as_posix()}"
                                                                  for p in (world.files_root / "data").rglob("*.csv")}),
])
def list_files(
    s: CodeState,
    path: Annotated[str, Field(description="Workspace folder to list, '.' for the whole workspace")] = ".",
    pattern: Annotated[str, Field(description="Only names matching this glob, e.g. '*.py' (folders are then left out)")] = "*",
    recursive: Annotated[bool, Field(description="Include everything below, not just direct children")] = True,
) -> FileListing:
    """List files and folders of the code workspace with their sizes and line counts."""
    root = s.path(path, must_exist=True)
    if not root.is_dir():
        raise ToolFailure(f"not a folder: {path}")
    entries: list[FileEntry] = []
    walker = os.walk(root) if recursive else [(str(root), [d.name for d in root.iterdir() if d.is_dir() and not d.is_symlink()],
                                               [f.name for f in root.iterdir() if not (f.is_dir() and not f.is_symlink())])]
    for dirpath, dirnames, filenames in walker:
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in dirnames:
            if pattern == "*":
                full = os.path.join(dirpath, name)
                if os.path.islink(full):  # os.walk lists a link to a folder as a folder; it may point anywhere
                    rel = os.path.relpath(full, s.workspace.resolve()).replace(os.sep, "/")
                    entries.append(FileEntry(path=rel, type="symlink", size=0, lines=None))
                    continue
                entries.append(FileEntry(path=s.rel(Path(full)), type="dir", size=0, lines=None))
        for name in sorted(filenames):
            if not fnmatch.fnmatch(name, pattern):
                continue
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                rel = os.path.relpath(full, s.workspace.resolve()).replace(os.sep, "/")
                entries.append(FileEntry(path=rel, type="symlink", size=0, lines=None))
                continue
            size = os.path.getsize(full)
            entries.append(FileEntry(path=s.rel(Path(full)), type="file", size=size, lines=_line_count(full, size)))
    entries.sort(key=lambda e: e.path)
    listed, truncated = clip_items(entries)
    return FileListing(root=s.rel(root), count=len(entries), entries=listed, truncated=truncated)


def _line_count(path: str, size: int) -> int | None:
    if size > 1_000_000:
        return None
    try:  # never blocks: a FIFO opens at once without O_NONBLOCK's wait for a writer, and is then skipped
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = f.read()
    if b"\x00" in data[:8192]:
        return None
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


class SearchHit(BaseModel):
    path: str
    line: int
    column: int = Field(description="1-based column where the match starts")
    text: str = Field(description="The matching line (first 300 characters)")


class SearchResult(BaseModel):
    pattern: str
    total: int = Field(description="Matching lines in all files")
    files: list[str] = Field(description="Files with at least one match")
    files_scanned: int
    hits: list[SearchHit]
    truncated: bool


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("directory", "path")},
    facts=(Fact("total", "the number of lines containing {pattern} in the files under {path}"),),
    items=(Items("hits", phrase="the lines containing {pattern} in the files under {path}", total="total",
                 complete_unless="truncated"),
           Items("files", phrase="the files under {path} that contain {pattern}", name_type="file", name_by="path"))), kind="retrieval", timeout=RUN_TOOL_TIMEOUT, examples=[
    Example({"pattern": "import unittest"},
            lambda r: r["files"] == ["tests/test_inventory.py"] and r["hits"][0]["line"] == 1),
    Example({"pattern": r"def \w+\(self", "regex": True, "glob": "examples/*.py"},
            lambda r: set(r["files"]) == {"examples/geometry.py", "examples/inventory.py"} and r["total"] >= 10),
])
def search_code(
    s: CodeState,
    pattern: Annotated[str, Field(max_length=1000, description="Text to find (or a Python regex with regex=true)")],
    path: Annotated[str, Field(description="Workspace folder to search, '.' for all")] = ".",
    glob: Annotated[str, Field(description="Only files whose name or workspace path matches, e.g. '*.py' or 'tests/*.py'")] = "*",
    regex: Annotated[bool, Field(description="Treat pattern as a regular expression")] = False,
    case_sensitive: bool = True,
    max_results: Annotated[int, Field(ge=1, le=1000)] = 200,
) -> SearchResult:
    """Search the text files of the code workspace line by line (like grep -rn): each matching line
    with its file, line number and column."""
    root = s.path(path, must_exist=True)
    if not root.is_dir():
        raise ToolFailure(f"not a folder: {path}")
    if regex:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ToolFailure(f"invalid regular expression: {exc}") from None
    job = {"pattern": pattern, "regex": regex, "case_sensitive": case_sensitive, "glob": glob,
           "root": s.rel(root), "max_results": max_results}
    if regex:  # a caller's regex may backtrack for ever: it runs in the sandbox, under its limits
        report, _run = s.drive(harness.SEARCH, [], stdin=json.dumps(job), timeout=15)
    else:
        report = search_tree(job, str(s.workspace))
    hits = [SearchHit(**h) for h in report["hits"]]
    return SearchResult(pattern=pattern, total=report["total"], files=report["files"], files_scanned=report["scanned"],
                        hits=hits, truncated=report["total"] > len(hits))
