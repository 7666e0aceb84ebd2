"""Confining caller-supplied paths to a sandbox root, and cloning trees cheaply for per-session copies."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from .errors import ToolFailure

#: Longest file name and path the filesystem accepts (Linux's NAME_MAX and PATH_MAX).
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096


def resolve_in_root(root: Path, user_path: str, *, must_exist: bool = False) -> Path:
    """Map a workspace-relative path to a real path inside `root`, or refuse it.

    Refused: empty or null-byte paths, absolute paths, home-relative paths, any `..` component,
    and paths whose real location (after following symlinks) lies outside `root`.
    """
    if not isinstance(user_path, str) or user_path.strip() == "":
        raise ToolFailure("path must be a non-empty workspace-relative path such as 'notes/todo.md' or '.'")
    if "\x00" in user_path:
        raise ToolFailure("path contains a null byte; refused")
    try:
        encoded = user_path.encode("utf-8")
    except UnicodeEncodeError:
        raise ToolFailure("path is not valid Unicode text (it holds a lone surrogate such as \\ud800)") from None
    if len(encoded) > MAX_PATH_BYTES or any(len(part.encode()) > MAX_NAME_BYTES for part in user_path.split("/")):
        raise ToolFailure(f"path is too long: at most {MAX_NAME_BYTES} bytes a name and {MAX_PATH_BYTES} bytes in all")
    normalised = user_path.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        raise ToolFailure(f"absolute paths are outside the workspace; use a relative path instead of {user_path!r}")
    if normalised.startswith("~"):
        raise ToolFailure(f"home-relative paths are outside the workspace: {user_path!r}")
    parts = PurePosixPath(normalised).parts
    if ".." in parts:
        raise ToolFailure(f"'..' is not allowed in paths (the workspace root is the top): {user_path!r}")
    real_root = root.resolve()
    candidate = real_root.joinpath(*[p for p in parts if p not in ("", ".")])
    resolved = candidate.resolve()
    if resolved != real_root and real_root not in resolved.parents:
        raise ToolFailure(f"path leaves the workspace (through a symlink): {user_path!r}")
    if must_exist and not resolved.exists():
        raise ToolFailure(f"no such file or directory: {user_path}")
    return resolved


def relative_to_root(root: Path, path: Path) -> str:
    """The workspace-relative, forward-slash form of a path inside `root` ('.' for the root itself)."""
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    return rel or "."


def clone_tree(source: Path, dest: Path) -> None:
    """Make `dest` a private copy of the tree `source`, as cheaply as the filesystem allows.

    Files are hard-linked where possible: every writer in the kit replaces files atomically
    (`atomic_write`), which breaks the link, so the shared base is never modified; the base
    is also read-only, so an in-place write fails loudly instead of leaking between sessions.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.stat().st_dev != dest.parent.stat().st_dev:  # no links across filesystems (a session on tmpfs)
        shutil.copytree(source, dest, symlinks=True)
    else:
        try:
            shutil.copytree(source, dest, copy_function=os.link, symlinks=True)
        except OSError:
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(source, dest, symlinks=True)
    _make_writable(dest)


def clone_file(source: Path, dest: Path) -> None:
    """Make `dest` a private, writable copy of the file `source`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    dest.chmod(0o644)


def _make_writable(root: Path) -> None:
    # Directories must be writable so files can be created; linked files keep the base's read-only
    # mode, which is what forces writers to replace rather than modify in place.
    for dirpath, _dirnames, _files in os.walk(root):
        os.chmod(dirpath, 0o755)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` by writing a temporary file beside it and renaming it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
