"""The files domain's session state and the path rules every tool goes through.

Each session reads the shared world file tree until its first write, then works on its own
private clone (`CopyOnWrite`), so sessions never see each other's changes and the world is never
modified. Every caller-supplied path is confined to the session's root by `resolve_in_root`;
recursive walks skip symlinks whose target lies outside the root, so nothing outside can be read
or copied in through a link.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from dive.servers.kit import (
    CopyOnWrite,
    Domain,
    SessionContext,
    ToolFailure,
    resolve_in_root,
)

#: Text tools refuse files larger than this (read_bytes pages through anything).
MAX_TEXT_FILE_BYTES = 20 * 1024 * 1024
#: How much of a file is inspected to decide whether it is text.
SNIFF_BYTES = 8192


class FilesState:
    """One session's view of the workspace: the world's `files/` tree, copied privately on first write."""

    def __init__(self, ctx: SessionContext) -> None:
        self.tree = CopyOnWrite(Path(ctx.world.files_root), ctx.directory / "files")

    # Where reads and writes happen -----------------------------------------------------------

    @property
    def read_root(self) -> Path:
        """The root reads go to: the shared world until this session first writes, then its copy."""
        return self.tree.path.resolve()

    def write_root(self, *user_paths: str | None) -> Path:
        """The root writes go to: this session's private copy (made now if it does not exist yet).

        `user_paths` are checked first, so a refused path costs no copy of the tree.
        """
        for user_path in user_paths:
            if user_path is not None:
                resolve_in_root(self.read_root, user_path)
        return self.tree.writable().resolve()

    # Resolving caller paths ------------------------------------------------------------------

    def existing(self, user_path: str, *, root: Path | None = None) -> Path:
        """A path that must exist, resolved inside the root (symlinks followed, but never out)."""
        root = root or self.read_root
        resolved = resolve_in_root(root, user_path)
        if not resolved.exists():
            raise ToolFailure(f"no such file or directory: {user_path!r} (list_directory or find_files shows what exists)")
        return resolved

    def file(self, user_path: str, *, root: Path | None = None) -> Path:
        """An existing regular file inside the root."""
        path = self.existing(user_path, root=root)
        if path.is_dir():
            raise ToolFailure(f"{user_path!r} is a directory, not a file; use list_directory to see what it holds")
        if not path.is_file():
            raise ToolFailure(f"{user_path!r} is not a regular file")
        return path

    def directory(self, user_path: str, *, root: Path | None = None) -> Path:
        """An existing directory inside the root."""
        path = self.existing(user_path, root=root)
        if not path.is_dir():
            raise ToolFailure(f"{user_path!r} is a file, not a directory")
        return path

    def target(self, user_path: str, *, root: Path) -> Path:
        """A path to create or replace: confined to the root; its last component is not followed.

        The parent is resolved (and must stay inside); the final name is kept as given, so
        deleting or moving a symlink acts on the link itself, never on what it points to.
        """
        resolve_in_root(root, user_path)  # refuses .., absolute, null bytes, home paths and links out
        parts = PurePosixPath(user_path.replace("\\", "/")).parts
        parts = tuple(p for p in parts if p not in ("", "."))
        if not parts:
            return root
        parent = resolve_in_root(root, "/".join(parts[:-1]) or ".")
        return parent / parts[-1]

    def rel(self, path: Path, root: Path | None = None) -> str:
        """The workspace-relative, forward-slash form of a path under the root ('.' for the root)."""
        root = root or self.read_root
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            rel = path.resolve().relative_to(root).as_posix()
        return rel if rel not in ("", ".") else "."

    def close(self) -> None:
        """Nothing to release: the session's folder (and its copy of the tree) is removed by the kit."""


def inside(root: Path, path: Path) -> bool:
    """Whether `path`, with symlinks followed, lies inside `root` (which must already be resolved)."""
    try:
        real = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return False
    return real == root or root in real.parents


def walk(root: Path, start: Path, *, max_depth: int | None = None) -> Iterator[tuple[Path, bool, int]]:
    """Every entry under `start` in sorted order as (path, is_dir, depth), depth 1 for direct children.

    Directories are descended into only when they are real directories (not symlinks); symlinks
    whose target lies outside `root` are skipped altogether.
    """
    stack: list[tuple[Path, int]] = [(start, 0)]
    while stack:
        directory, depth = stack.pop()
        try:
            children = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        subdirs: list[Path] = []
        for entry in children:
            path = Path(entry.path)
            if entry.is_symlink() and not inside(root, path):
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            yield path, is_dir, depth + 1
            if is_dir and (max_depth is None or depth + 1 < max_depth):
                subdirs.append(path)
        stack.extend((d, depth + 1) for d in reversed(subdirs))


def walk_files(root: Path, start: Path, include: str | None = None) -> Iterator[Path]:
    """Regular files under `start` (or `start` itself if it is a file), optionally matching a name glob."""
    if start.is_file():
        yield start
        return
    for path, is_dir, _depth in walk(root, start):
        if is_dir or not path.is_file():
            continue
        if include and not name_matches(path, include, root):
            continue
        yield path


def name_matches(path: Path, pattern: str, root: Path) -> bool:
    """A glob against the file name, or against the workspace-relative path when it contains '/'."""
    if "/" in pattern:
        return glob_regex(pattern).fullmatch(path.relative_to(root).as_posix()) is not None
    return glob_regex(pattern).fullmatch(path.name) is not None


@functools.lru_cache(maxsize=256)
def glob_regex(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """A shell glob as a regex: `*` and `?` stay within one path component, `**/` spans any number of them."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1:end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE if ignore_case else 0)


def looks_binary(head: bytes) -> bool:
    """Whether the first bytes of a file say it is binary (a NUL byte, or not decodable as UTF-8/Latin-1 text)."""
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
        return False
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        return exc.start < len(head) - 4


def decode(data: bytes) -> tuple[str, str]:
    """Bytes as text and the encoding used: UTF-8 (a BOM dropped), else Latin-1."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def read_text(path: Path, user_path: str) -> tuple[str, str]:
    """A text file's content and encoding; binary or huge files are refused with what to use instead."""
    size = path.stat().st_size
    if size > MAX_TEXT_FILE_BYTES:
        raise ToolFailure(f"{user_path!r} is {size} bytes, over the {MAX_TEXT_FILE_BYTES}-byte limit for text tools; "
                          "page through it with read_bytes")
    data = path.read_bytes()
    if looks_binary(data[:SNIFF_BYTES]):
        raise ToolFailure(f"{user_path!r} is a binary file, not text; use file_info to see its type or read_bytes to read it")
    return decode(data)


def iso_time(timestamp: float) -> str:
    """A modification time as ISO 8601 UTC to the second."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def human_size(size: int) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


DOMAIN = Domain(
    "files",
    "A file-management workspace: list, search, read, write, copy, move and delete files; diff, count and "
    "checksum them; open archives; and query CSV, JSON, YAML, TOML, INI, log and Markdown files. Paths are "
    "relative to the workspace root; each session works on its own copy, so writes never leak between sessions.",
    FilesState,
)
