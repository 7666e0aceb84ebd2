"""The one error type a tool raises, and how other exceptions become tool errors a model can act on."""

from __future__ import annotations

import errno
import sqlite3

from mcp.server.mcpserver.exceptions import ToolError


class ToolFailure(ToolError):
    """A tool could not do what was asked; the message tells the caller what to change.

    The kit turns it into an MCP tool result with `isError: true`, never a crashed server.
    """


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
    if isinstance(exc, OSError) and exc.errno == errno.ENOTEMPTY:
        return f"directory not empty: {_path_of(exc)}"
    if isinstance(exc, sqlite3.Error):
        return f"SQLite error: {exc}"
    if isinstance(exc, (ValueError, KeyError, LookupError, UnicodeError)):
        return f"{type(exc).__name__}: {exc}"
    return f"internal error ({type(exc).__name__}): {exc}"


def _path_of(exc: OSError) -> str:
    return str(exc.filename) if exc.filename is not None else str(exc)
