"""The one error type a tool raises, and the one mapping by which every other exception becomes a tool error a
model can act on: a sentence that says what to change, without the server's own paths."""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from mcp.server.mcpserver.exceptions import ToolError

#: Longest error message a tool returns; longer ones (a caller's 5 MB path echoed back) are clipped.
MAX_ERROR_CHARS = 2_000


class ToolFailure(ToolError):
    """A tool could not do what was asked; the message tells the caller what to change.

    The kit turns it into an MCP tool result with `isError: true`, never a crashed server.
    """


_OS_ERRORS = {
    errno.ENAMETOOLONG: "a file name or path is too long (at most 255 bytes a name); use a shorter name",
    errno.ELOOP: "too many levels of symbolic links",
    errno.ENOSPC: "no space left for this session's files; delete some files or write less",
    errno.EDQUOT: "no space left for this session's files; delete some files or write less",
    errno.EFBIG: "the file would be larger than this session may write; write less",
    errno.ENXIO: "not a regular file (a FIFO, socket or device), which tools do not open",
    errno.EMFILE: "too many open files in the server; try again with fewer files at once",
    errno.ENOTEMPTY: "directory not empty",
    errno.EXDEV: "cannot move across filesystems",
    errno.EINVAL: "invalid argument",
}


def describe_exception(exc: BaseException) -> str:
    """A one-line, caller-facing description of an exception raised inside a tool."""
    if isinstance(exc, ToolError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"no such file or directory: {_path_of(exc)}"
    if isinstance(exc, IsADirectoryError):
        return f"is a directory, not a file: {_path_of(exc)}"
    if isinstance(exc, NotADirectoryError):
        return f"not a directory: {_path_of(exc)}"
    if isinstance(exc, FileExistsError):
        return f"already exists: {_path_of(exc)}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {_path_of(exc)}"
    if isinstance(exc, OSError) and exc.errno is not None:
        reason = _OS_ERRORS.get(exc.errno) or (os.strerror(exc.errno) or "operating system error").lower()
        return f"{reason}: {_path_of(exc)}" if exc.filename is not None else reason
    if isinstance(exc, sqlite3.Error):
        return f"SQLite error: {exc}"
    if isinstance(exc, OverflowError):
        return f"a number is out of range ({exc}); use a smaller value"
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to process; send a flatter value"
    if isinstance(exc, MemoryError):
        return "the request needs more memory than the server allows; ask for less (a smaller range or input)"
    if isinstance(exc, ZeroDivisionError):
        return f"division by zero ({exc}); check the inputs for zeros"
    if isinstance(exc, UnicodeError):
        return f"the text is not valid in its encoding ({exc}); send UTF-8 text or pick another encoding"
    if isinstance(exc, KeyError):
        return f"unknown name {exc}; check the arguments against the tool's description"
    if isinstance(exc, (ValueError, LookupError)):
        return f"invalid value: {_sentence(exc)}; check the arguments against the tool's description"
    if isinstance(exc, TypeError):
        return f"a value has the wrong type: {_sentence(exc)}; check the arguments against the tool's description"
    if isinstance(exc, ArithmeticError):
        return f"the computation failed: {_sentence(exc)}; use other values"
    if type(exc).__module__.startswith("playwright"):  # the browser's own account: a bad selector, a closed page
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].removeprefix("Error: ").rstrip(".")
        if "is not a valid selector" in reason or "while parsing css selector" in reason:
            return f"not a valid CSS selector ({reason.split(': ', 1)[-1]}); write one like 'h1', '#main' or 'table.facts td'"
        return f"the browser could not do it: {reason}; check the selector and arguments"
    return f"the tool failed ({type(exc).__name__}: {_sentence(exc)}); try other arguments"


def _sentence(exc: BaseException) -> str:
    return (str(exc).strip().rstrip(".") or type(exc).__name__).replace("\n", " ")


def _path_of(exc: OSError) -> str:
    if exc.filename is None:
        return os.strerror(exc.errno) if exc.errno else str(exc)
    name = os.fsdecode(exc.filename) if isinstance(exc.filename, (str, bytes)) else str(exc.filename)
    return name if len(name) <= 200 else name[:200] + "…"


class HostPaths:
    """Hides the server's own folders (sessions, the world, caches, the installation) in text meant for a
    caller: a path under one of them is shown by its last component only."""

    def __init__(self, roots: Iterable[str | Path]) -> None:
        self._roots: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self.add(roots)

    def add(self, roots: Iterable[str | Path]) -> None:
        """Hide these folders too."""
        before = len(self._roots)
        for root in roots:
            text = str(root).rstrip("/")
            if text.startswith("/") and len(text) > 1 and text not in self._roots:
                self._roots.append(text)
                resolved = os.path.realpath(text)
                if resolved != text and resolved not in self._roots:
                    self._roots.append(resolved)
        if len(self._roots) == before:
            return
        alternatives = "|".join(re.escape(r) for r in sorted(self._roots, key=len, reverse=True))
        self._pattern = re.compile(rf"(?:{alternatives})(?![\w.-])(?:/[^\s'\"`,;:)\]}}]*)?") if alternatives else None

    def hide(self, text: str) -> str:
        """`text` with every host path under a hidden folder cut to its last component."""
        if self._pattern is None or "/" not in text:
            return text
        return self._pattern.sub(_last_component, text)


def _last_component(match: re.Match[str]) -> str:
    name = match.group(0).rstrip("/").rsplit("/", 1)[-1]
    return name or "."


def public_message(text: str, paths: HostPaths | None = None) -> str:
    """An error message fit for a caller: host paths hidden, at most `MAX_ERROR_CHARS` long."""
    if paths is not None:
        text = paths.hide(text)
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS] + f"…[{len(text) - MAX_ERROR_CHARS} more characters]"
    return text
