"""Helpers shared by the files-domain tests: an in-process server whose session state a test can reach."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from dive.env import ClientPool
from dive.servers import get_domain
from dive.servers.kit import DomainServer


def files_server(world) -> DomainServer:
    """An in-process files server; tests share one per module and each pool on it is a fresh session."""
    return get_domain("files").create_server(world)


@asynccontextmanager
async def files_pool(server: DomainServer, session: str | None = None) -> AsyncIterator[ClientPool]:
    """A client pool on `server` (real MCP over the SDK's in-memory transport): a new session, or the
    named one (tests that only make refused attempts share one, which spares copying the tree each time)."""
    async with ClientPool(servers={"files": server.mcp}, session=session) as pool:
        yield pool


def private_root(server: DomainServer, pool: ClientPool) -> Path:
    """The pool's current session's private copy of the tree (made now if needed)."""
    return server.sessions.get(f"meta:{pool.trace.session}").state.write_root()


def tree_digest(root: Path) -> str:
    """One hash over every path and file content under `root`: equal digests mean an unchanged tree."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(p.relative_to(root).as_posix().encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()


# (tool, arguments, a piece of the error text). Each is one distinct escape attempt.
PATH_ATTEMPTS = [
    ("read_file", {"path": "../etc/passwd"}, "'..' is not allowed"),
    ("read_file", {"path": "/etc/passwd"}, "absolute paths"),
    ("read_file", {"path": "a/../../x"}, "'..' is not allowed"),
    ("read_file", {"path": "data/elements.csv\x00.txt"}, "null byte"),
    ("list_directory", {"path": "~/.ssh"}, "home-relative"),
    ("list_directory", {"path": "notes/../../.."}, "'..' is not allowed"),
    ("read_file", {"path": "..\\..\\etc\\passwd"}, "'..' is not allowed"),
    ("read_file", {"path": "C:\\Windows\\win.ini"}, "absolute paths"),
    ("read_file", {"path": "data/./../../etc/passwd"}, "'..' is not allowed"),
    ("read_file", {"path": "////etc/passwd"}, "absolute paths"),
    ("file_checksum", {"path": "~root/.bashrc"}, "home-relative"),
    ("write_file", {"path": "../escape.txt", "content": "x"}, "'..' is not allowed"),
    ("write_file", {"path": "/tmp/escape.txt", "content": "x"}, "absolute paths"),
    ("append_file", {"path": "~/notes.txt", "content": "x"}, "home-relative"),
    ("copy_path", {"source": "data/elements.csv", "destination": "../../tmp/x.csv"}, "'..' is not allowed"),
    ("copy_path", {"source": "/etc/passwd", "destination": "passwd"}, "absolute paths"),
    ("move_path", {"source": "data/elements.csv", "destination": "../moved.csv"}, "'..' is not allowed"),
    ("move_path", {"source": "/etc/hosts", "destination": "hosts"}, "absolute paths"),
    ("delete_file", {"path": "../../etc/passwd"}, "'..' is not allowed"),
    ("delete_directory", {"path": ".", "recursive": True}, "workspace root"),
    ("delete_directory", {"path": "data/../..", "recursive": True}, "'..' is not allowed"),
    ("extract_archive", {"path": "archives/stocks.zip", "destination": "../out"}, "'..' is not allowed"),
    ("create_archive", {"paths": ["/etc"], "destination": "etc.zip"}, "absolute paths"),
    ("create_archive", {"paths": ["data"], "destination": "../data.zip"}, "'..' is not allowed"),
    ("find_files", {"pattern": "*", "path": "../"}, "'..' is not allowed"),
    ("search_content", {"pattern": "root", "path": "/etc"}, "absolute paths"),
    ("diff_files", {"a": "data/elements.csv", "b": "/etc/passwd"}, "absolute paths"),
    ("convert_file", {"source": "data/elements.csv", "destination": "../elements.json"}, "'..' is not allowed"),
    ("csv_query", {"path": "../../etc/passwd"}, "'..' is not allowed"),
    ("get_value", {"path": "./../config.json"}, "'..' is not allowed"),
]


def mentions_by_file(root: Path, name: str) -> dict[str, int]:
    """Per file under `root`: the lines that mention `name` as whole words (recomputed without the tools)."""
    found: dict[str, int] = {}
    for path in root.rglob("*"):
        if not path.is_file() or any(p.startswith(".") for p in path.relative_to(root).parts):
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            continue
        count = sum(1 for line in lines if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", line))
        if count:
            found[path.relative_to(root).as_posix()] = count
    return found
