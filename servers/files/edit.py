"""Changing the workspace: writing, appending, editing, creating directories, copying, moving and deleting.

Every change lands in the session's private copy of the tree. Files are replaced by writing a
temporary file and renaming it (never opened for writing in place), because the private copy starts
as hard links to the shared world: an in-place write would reach the world's own bytes.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from dive.servers.kit import (
    Example,
    ToolFailure,
    atomic_write,
    clip_text,
    no_facts,
    resolve_in_root,
)
from pydantic import BaseModel, Field

from .browse import compile_pattern
from .workspace import DOMAIN, FilesState, decode, read_text, walk

PathArg = Annotated[str, Field(description="Workspace-relative path, e.g. 'notes/todo.md'")]


def copy_file_atomically(source: Path, dest: Path) -> int:
    """Copy a file's bytes to `dest` by way of a temporary file and a rename; returns the byte count."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest.stat().st_size


def _not_root(s: FilesState, path: Path, root: Path, user_path: str, action: str) -> None:
    if path == root:
        raise ToolFailure(f"cannot {action} the workspace root ({user_path!r}); name a file or directory inside it")


# -- write_file -------------------------------------------------------------------------------


class WriteResult(BaseModel):
    path: str
    bytes_written: int
    lines: int = Field(description="Lines in the file now (0 for binary content)")
    created: bool = Field(description="True if the file did not exist before")


@DOMAIN.tool(meaning=no_facts("changes the workspace; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"path": "notes/todo.md", "content": "# Todo\n- pack\n- book hotel\n"},
            lambda r: r["created"] and r["bytes_written"] == 27 and r["lines"] == 3),
    Example({"path": "data/elements.csv", "content": "replaced\n", "overwrite": True}, lambda r: not r["created"] and r["lines"] == 1),
    Example({"path": "bin/hello.bin", "content": "AAEC/w==", "encoding": "base64"}, lambda r: r["bytes_written"] == 4),
])
def write_file(
    s: FilesState,
    path: PathArg,
    content: Annotated[str, Field(description="The full new content of the file")],
    encoding: Annotated[Literal["text", "base64"], Field(description="'text' writes `content` as UTF-8; 'base64' "
                        "decodes it first, for binary files")] = "text",
    overwrite: Annotated[bool, Field(description="Replace the file if it already exists")] = False,
) -> WriteResult:
    """Create a file with the given content (parent directories are created as needed), or replace an
    existing one when `overwrite` is true. To add to the end of a file, use append_file."""
    root = s.write_root(path)
    dest = resolve_in_root(root, path)
    _not_root(s, dest, root, path, "write over")
    if dest.is_dir():
        raise ToolFailure(f"{path!r} is a directory; give a file path inside it")
    existed = dest.exists()
    if existed and not overwrite:
        raise ToolFailure(f"{path!r} already exists; pass overwrite=true to replace it, or use append_file to add to it")
    if encoding == "base64":
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ToolFailure(f"content is not valid base64 ({exc}); use encoding='text' for plain text") from None
    else:
        data = content.encode("utf-8")
    atomic_write(dest, data)
    lines = 0 if b"\x00" in data[:8192] else len(decode(data)[0].splitlines())
    return WriteResult(path=s.rel(dest, root), bytes_written=len(data), lines=lines, created=not existed)


# -- append_file ------------------------------------------------------------------------------


class AppendResult(BaseModel):
    path: str
    bytes_appended: int
    size_bytes: int = Field(description="Size of the file after appending")
    lines: int = Field(description="Lines in the file after appending")
    created: bool


@DOMAIN.tool(meaning=no_facts("changes the workspace; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"path": "data/elements.csv", "content": "119,Uue,Ununennium,315,\n"},
            lambda r: not r["created"] and r["bytes_appended"] == 24 and r["lines"] > 119),
    Example({"path": "notes/journal.txt", "content": "day one"}, lambda r: r["created"] and r["lines"] == 1),
])
def append_file(
    s: FilesState,
    path: PathArg,
    content: Annotated[str, Field(description="Text to add at the end of the file")],
    ensure_newline: Annotated[bool, Field(description="If the file does not end with a newline, add one before the new text")] = True,
    create: Annotated[bool, Field(description="Create the file if it does not exist")] = True,
) -> AppendResult:
    """Append text to the end of a file (creating it if needed), e.g. a new CSV row or a log line."""
    root = s.write_root(path)
    dest = resolve_in_root(root, path)
    _not_root(s, dest, root, path, "append to")
    if dest.is_dir():
        raise ToolFailure(f"{path!r} is a directory; give a file path")
    existed = dest.exists()
    if not existed and not create:
        raise ToolFailure(f"no such file: {path!r}; pass create=true to create it")
    old = dest.read_bytes() if existed else b""
    added = content.encode("utf-8")
    if ensure_newline and old and not old.endswith(b"\n"):
        added = b"\n" + added
    data = old + added
    atomic_write(dest, data)
    return AppendResult(path=s.rel(dest, root), bytes_appended=len(added), size_bytes=len(data),
                        lines=len(decode(data)[0].splitlines()), created=not existed)


# -- replace_in_file --------------------------------------------------------------------------


class ReplaceResult(BaseModel):
    path: str
    replacements: int
    lines_changed: list[int] = Field(description="Line numbers (in the original file) that changed")
    diff: str = Field(description="Unified diff of the change")
    written: bool = Field(description="False for a dry run or when nothing matched")


@DOMAIN.tool(meaning=no_facts("changes the workspace; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"path": "data/elements.csv", "find": "Hydrogen", "replace": "HYDROGEN"},
            lambda r: r["replacements"] == 1 and r["lines_changed"] == [2] and r["written"] and "+1,H,HYDROGEN," in r["diff"]),
    Example({"path": "data/elements.csv", "find": r"^(\d+),", "replace": r"#\1,", "regex": True, "dry_run": True},
            lambda r: r["replacements"] > 100 and not r["written"]),
])
def replace_in_file(
    s: FilesState,
    path: PathArg,
    find: Annotated[str, Field(description="Text to find (a regular expression when regex=true)")],
    replace: Annotated[str, Field(description="Replacement text; with regex=true, \\1 or \\g<name> insert groups")],
    regex: Annotated[bool, Field(description="Treat `find` as a regular expression (Python syntax)")] = False,
    ignore_case: Annotated[bool, Field(description="Match letters case-insensitively")] = False,
    max_replacements: Annotated[int, Field(ge=0, description="Most replacements to make (0: all)")] = 0,
    dry_run: Annotated[bool, Field(description="Report what would change without writing")] = False,
) -> ReplaceResult:
    """Find and replace text in a file (literal or regex, line by line), returning the number of
    replacements, the changed line numbers and a unified diff. Use dry_run to preview."""
    root = s.read_root if dry_run else s.write_root(path)
    f = s.file(path, root=root)
    text, _encoding = read_text(f, path)
    rx = compile_pattern(find, regex=regex, ignore_case=ignore_case)
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    changed: list[int] = []
    remaining = max_replacements or -1
    total = 0
    for i, line in enumerate(lines):
        if remaining == 0:
            out.append(line)
            continue
        try:
            if regex:
                new, n = rx.subn(replace, line, count=max(remaining, 0))
            else:
                new, n = rx.subn(lambda _m: replace, line, count=max(remaining, 0))
        except (re.error, IndexError) as exc:
            raise ToolFailure(f"invalid replacement {replace!r}: {exc}") from None
        if n:
            total += n
            changed.append(i + 1)
            if remaining > 0:
                remaining -= n
        out.append(new)
    diff = "".join(difflib.unified_diff(lines, out, fromfile=f"a/{path}", tofile=f"b/{path}", n=1))
    diff, _ = clip_text(diff)
    written = bool(total) and not dry_run
    if written:
        atomic_write(f, "".join(out).encode("utf-8"))
    return ReplaceResult(path=s.rel(f, root), replacements=total, lines_changed=changed, diff=diff, written=written)


# -- create_directory -------------------------------------------------------------------------


class DirectoryResult(BaseModel):
    path: str
    created: bool = Field(description="False if the directory already existed")


@DOMAIN.tool(meaning=no_facts("changes the workspace; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"path": "projects/2025/q1"}, lambda r: r["created"] and r["path"] == "projects/2025/q1"),
    Example({"path": "data"}, lambda r: not r["created"]),
])
def create_directory(s: FilesState, path: PathArg) -> DirectoryResult:
    """Create a directory, including any missing parent directories. Succeeds (created=false) if it exists."""
    root = s.write_root(path)
    dest = resolve_in_root(root, path)
    if dest.exists() and not dest.is_dir():
        raise ToolFailure(f"{path!r} exists and is a file")
    existed = dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    return DirectoryResult(path=s.rel(dest, root), created=not existed)


# -- copy_path / move_path --------------------------------------------------------------------


def _destination(s: FilesState, root: Path, source: Path, destination: str, into_directory: bool) -> Path:
    if into_directory:
        return s.directory(destination, root=root) / source.name
    return s.target(destination, root=root)


def _check_destination(source: Path, dest: Path, destination: str, overwrite: bool, action: str) -> None:
    if dest == source:
        raise ToolFailure(f"source and destination are the same path ({destination!r})")
    if source.is_dir() and not source.is_symlink() and (dest == source or source in dest.parents):
        raise ToolFailure(f"cannot {action} a directory into itself ({destination!r} is inside the source)")
    if dest.exists() or dest.is_symlink():
        if not overwrite:
            raise ToolFailure(f"{destination!r} already exists; pass overwrite=true to replace it, "
                              "or into_directory=true to place the source inside that directory")
        if dest.is_dir() and not source.is_dir():
            raise ToolFailure(f"{destination!r} is a directory and the source is a file; pass into_directory=true "
                              "to put the file inside it")
        if source.is_dir() and dest.exists() and not dest.is_dir():
            raise ToolFailure(f"{destination!r} is a file and the source is a directory")


class CopyResult(BaseModel):
    source: str
    destination: str
    kind: Literal["file", "directory"]
    files_copied: int
    bytes_copied: int
    skipped: list[str] = Field(description="Entries not copied (symlinked directories, special files)")


@DOMAIN.tool(meaning=no_facts("changes the workspace; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"source": "data/elements.csv", "destination": "backup/elements.csv"},
            lambda r: r["kind"] == "file" and r["files_copied"] == 1 and r["bytes_copied"] > 1000),
    Example({"source": "data/stocks", "destination": "backup/stocks"},
            lambda r: r["kind"] == "directory" and r["files_copied"] >= 2),
    Example({"source": "data/elements.csv", "destination": "config", "into_directory": True},
            lambda r: r["destination"] == "config/elements.csv"),
])
def copy_path(
    s: FilesState,
    source: Annotated[str, Field(description="File or directory to copy")],
    destination: Annotated[str, Field(description="The new path (or, with into_directory, an existing directory to copy into)")],
    overwrite: Annotated[bool, Field(description="Replace the destination if it exists")] = False,
    into_directory: Annotated[bool, Field(description="Treat `destination` as an existing directory and keep the source's name")] = False,
) -> CopyResult:
    """Copy a file or a whole directory to a new path in the workspace."""
    root = s.write_root(source, destination)
    src = s.existing(source, root=root)
    _not_root(s, src, root, source, "copy")
    dest = _destination(s, root, src, destination, into_directory)
    _check_destination(src, dest, destination, overwrite, "copy")
    if src.is_file():
        n = copy_file_atomically(src, dest)
        return CopyResult(source=s.rel(src, root), destination=s.rel(dest, root), kind="file", files_copied=1,
                          bytes_copied=n, skipped=[])
    if dest.is_dir():
        shutil.rmtree(dest)
    elif dest.is_symlink():
        dest.unlink()
    dest.mkdir(parents=True)
    files = size = 0
    skipped: list[str] = []
    for p, is_dir, _depth in walk(root, src):
        target = dest / p.relative_to(src)
        if is_dir:
            target.mkdir(parents=True, exist_ok=True)
        elif p.is_file():
            size += copy_file_atomically(p, target)
            files += 1
        else:
            skipped.append(s.rel(p, root))
    return CopyResult(source=s.rel(src, root), destination=s.rel(dest, root), kind="directory", files_copied=files,
                      bytes_copied=size, skipped=skipped)


class MoveResult(BaseModel):
    source: str
    destination: str
    kind: Literal["file", "directory", "symlink"]


@DOMAIN.tool(meaning=no_facts("changes the workspace; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"source": "data/elements.csv", "destination": "data/periodic_table.csv"},
            lambda r: r["destination"] == "data/periodic_table.csv" and r["kind"] == "file"),
    Example({"source": "inbox", "destination": "archive/inbox-2024"}, lambda r: r["kind"] == "directory"),
])
def move_path(
    s: FilesState,
    source: Annotated[str, Field(description="File or directory to move or rename")],
    destination: Annotated[str, Field(description="The new path (or, with into_directory, an existing directory to move into)")],
    overwrite: Annotated[bool, Field(description="Replace an existing destination file (or empty directory)")] = False,
    into_directory: Annotated[bool, Field(description="Treat `destination` as an existing directory and keep the source's name")] = False,
) -> MoveResult:
    """Move or rename a file or directory within the workspace (missing parent directories are created)."""
    root = s.write_root(source, destination)
    src = s.target(source, root=root)
    if not (src.exists() or src.is_symlink()):
        raise ToolFailure(f"no such file or directory: {source!r}")
    _not_root(s, src, root, source, "move")
    dest = _destination(s, root, src, destination, into_directory)
    _check_destination(src, dest, destination, overwrite, "move")
    if dest.is_dir() and not dest.is_symlink() and any(dest.iterdir()):
        raise ToolFailure(f"{destination!r} is a directory that is not empty; delete it first or pick another name")
    kind: Literal["file", "directory", "symlink"] = "symlink" if src.is_symlink() else ("directory" if src.is_dir() else "file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
    return MoveResult(source=s.rel(src, root), destination=s.rel(dest, root), kind=kind)


# -- delete_file / delete_directory -----------------------------------------------------------


class DeleteResult(BaseModel):
    path: str
    files_deleted: int
    directories_deleted: int
    bytes_freed: int


@DOMAIN.tool(meaning=no_facts("changes the workspace; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"path": "data/elements.csv"}, lambda r: r["files_deleted"] == 1 and r["bytes_freed"] > 1000),
])
def delete_file(s: FilesState, path: PathArg) -> DeleteResult:
    """Delete one file (or symlink). Directories are refused: use delete_directory for them."""
    root = s.write_root(path)
    target = s.target(path, root=root)
    if not (target.exists() or target.is_symlink()):
        raise ToolFailure(f"no such file: {path!r}")
    _not_root(s, target, root, path, "delete")
    if target.is_dir() and not target.is_symlink():
        raise ToolFailure(f"{path!r} is a directory; use delete_directory (with recursive=true if it is not empty)")
    size = 0 if target.is_symlink() else target.stat().st_size
    rel = s.rel(target, root)
    target.unlink()
    return DeleteResult(path=rel, files_deleted=1, directories_deleted=0, bytes_freed=size)


@DOMAIN.tool(meaning=no_facts("changes the workspace; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"path": "data/stocks", "recursive": True}, lambda r: r["files_deleted"] == 6 and r["directories_deleted"] == 2),
])
def delete_directory(
    s: FilesState,
    path: PathArg,
    recursive: Annotated[bool, Field(description="Also delete everything inside; without it only an empty directory is deleted")] = False,
) -> DeleteResult:
    """Delete a directory: an empty one by default, or with everything inside when `recursive` is true."""
    root = s.write_root(path)
    target = s.target(path, root=root)
    if not target.exists():
        raise ToolFailure(f"no such directory: {path!r}")
    _not_root(s, target, root, path, "delete")
    if target.is_symlink() or not target.is_dir():
        raise ToolFailure(f"{path!r} is not a directory; use delete_file")
    entries = list(walk(root, target))
    files = [p for p, is_dir, _ in entries if not is_dir]
    dirs = sum(1 for _, is_dir, _ in entries if is_dir)
    if entries and not recursive:
        raise ToolFailure(f"directory {path!r} is not empty ({len(files)} files, {dirs} subdirectories); "
                          "pass recursive=true to delete it with its contents")
    size = sum(p.stat().st_size for p in files if p.is_file() and not p.is_symlink())
    rel = s.rel(target, root)
    shutil.rmtree(target)
    return DeleteResult(path=rel, files_deleted=len(files), directories_deleted=dirs + 1, bytes_freed=size)
