"""Guarded SQLite connections: read-only is enforced by SQLite itself, every statement runs under a
deadline, and the ways out of the session's database (ATTACH, VACUUM INTO, extensions, schema
surgery) are refused even on the writable connection.

Three layers make a read connection read-only, so no single mistake opens it: the file is opened
with `mode=ro`, `PRAGMA query_only` is on, and an authorizer allows only reads. The authorizer
also names what it refused, so the caller gets a sentence instead of SQLite's "not authorized".
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dive.servers.kit import ToolFailure

#: Pragmas that only describe the schema or the file; allowed (with any argument) everywhere.
INTROSPECTION_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "foreign_key_check", "collation_list", "function_list", "module_list",
    "pragma_list", "compile_options", "integrity_check", "quick_check",
})
#: Pragmas that may be read (no argument) everywhere.
READABLE_PRAGMAS = frozenset({
    "page_count", "page_size", "freelist_count", "user_version", "application_id", "schema_version",
    "data_version", "encoding", "foreign_keys", "recursive_triggers", "defer_foreign_keys", "journal_mode",
    "auto_vacuum", "legacy_alter_table",
})
#: Pragmas the writable connection may also set (they change behaviour, not the file's integrity).
SETTABLE_PRAGMAS = frozenset({"foreign_keys", "recursive_triggers", "defer_foreign_keys"})
#: SQL functions refused everywhere: they load code or register native pointers.
DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})

_READ_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE})
_WRITE_VERBS = {
    sqlite3.SQLITE_INSERT: "INSERT", sqlite3.SQLITE_UPDATE: "UPDATE", sqlite3.SQLITE_DELETE: "DELETE",
    sqlite3.SQLITE_CREATE_TABLE: "CREATE TABLE", sqlite3.SQLITE_CREATE_TEMP_TABLE: "CREATE TABLE",
    sqlite3.SQLITE_CREATE_VIEW: "CREATE VIEW", sqlite3.SQLITE_CREATE_TEMP_VIEW: "CREATE VIEW",
    sqlite3.SQLITE_CREATE_INDEX: "CREATE INDEX", sqlite3.SQLITE_CREATE_TEMP_INDEX: "CREATE INDEX",
    sqlite3.SQLITE_CREATE_TRIGGER: "CREATE TRIGGER", sqlite3.SQLITE_CREATE_TEMP_TRIGGER: "CREATE TRIGGER",
    sqlite3.SQLITE_CREATE_VTABLE: "CREATE VIRTUAL TABLE",
    sqlite3.SQLITE_DROP_TABLE: "DROP TABLE", sqlite3.SQLITE_DROP_TEMP_TABLE: "DROP TABLE",
    sqlite3.SQLITE_DROP_VIEW: "DROP VIEW", sqlite3.SQLITE_DROP_TEMP_VIEW: "DROP VIEW",
    sqlite3.SQLITE_DROP_INDEX: "DROP INDEX", sqlite3.SQLITE_DROP_TEMP_INDEX: "DROP INDEX",
    sqlite3.SQLITE_DROP_TRIGGER: "DROP TRIGGER", sqlite3.SQLITE_DROP_TEMP_TRIGGER: "DROP TRIGGER",
    sqlite3.SQLITE_DROP_VTABLE: "DROP VIRTUAL TABLE", sqlite3.SQLITE_ALTER_TABLE: "ALTER TABLE",
    sqlite3.SQLITE_ANALYZE: "ANALYZE", sqlite3.SQLITE_REINDEX: "REINDEX",
    sqlite3.SQLITE_TRANSACTION: "transaction control", sqlite3.SQLITE_SAVEPOINT: "SAVEPOINT",
}
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema"})
_TABLE_WRITES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
#: Largest string or blob a statement may build or read (SQLite's default is a gigabyte). Python holds every value
#: of a fetched row at once, so this times `MAX_COLUMNS` bounds what one row can cost the server.
MAX_VALUE_BYTES = 1_000_000
#: Most columns in a result set, a table or an index (SQLite's default is 2,000).
MAX_COLUMNS = 100
#: Most bytes of values one statement may fetch (however many rows were asked for): rows are counted as they are
#: fetched, so a query over large values stops here instead of holding them all in the server's memory.
MAX_FETCH_BYTES = 16_000_000
#: How many SQLite VM instructions run between two deadline checks.
_PROGRESS_STEPS = 2_000
#: Widest width or precision printf()/format() may be given. SQLite (3.40 at least) writes a '%c' once per unit of
#: precision inside one VM step, where no deadline reaches: '%.2000000000c' ran 14 s past a 0.25 s limit, only to be
#: discarded as too big.
MAX_PRINTF_WIDTH = MAX_VALUE_BYTES
#: Above this product of lengths, instr() searches in Python (linear time) instead of SQLite, which compares at every
#: offset in one VM step: a half-megabyte needle in a megabyte of text took 14 s past any deadline.
_SQLITE_SEARCH_BUDGET = 20_000_000
_PRINTF_SPEC = re.compile(r"%[-+ #!0,]*(\*|\d+)?(?:\.(\*|\d*))?(?:ll|l)?(.?)", re.DOTALL)
READ_ONLY_HINT = (
    "this tool only reads; change data with the write tools (insert_rows, update_rows, delete_rows, "
    "create_table, execute_sql, ...), which act on your session's private copy"
)


@dataclass
class QueryOutcome:
    """What one statement returned: column names, at most `limit` rows, and whether more existed."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    changes: int = 0


class GuardedConnection:
    """One SQLite connection with its policy: 'read' (everything read-only) or 'write' (the session copy).

    Not thread-safe by itself: the owning state serialises use with a lock (tools run in worker threads).
    """

    def __init__(self, path: Path, *, writable: bool, immutable: bool = False) -> None:
        self.path = path
        self.writable = writable
        mode = "rw" if writable else "ro"
        uri = f"file:{quote(str(path))}?mode={mode}" + ("&immutable=1" if immutable and not writable else "")
        # Read connections run in autocommit mode; the writable one keeps Python's default transaction
        # handling, which sqlite-utils requires.
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level="" if writable else None)
        try:
            if hasattr(conn, "enable_load_extension"):  # absent when Python's sqlite3 was built without it
                conn.enable_load_extension(False)
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)  # no ATTACH, no VACUUM INTO, whatever the SQL
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)  # no gigabyte strings from randomblob()
            conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, MAX_COLUMNS)
            self._builtins = _BoundedFunctions(self)
            self._builtins.install(conn)
            if not writable:
                conn.execute("PRAGMA query_only = ON")
            else:
                conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        self.caller_sql = False
        """True while caller-written SQL runs on the writable connection: transaction control is then refused."""
        self.refusal: str | None = None
        self.touched: set[str] = set()
        """Tables whose rows statements on this connection inserted, updated or deleted."""
        self.altered: set[str] = set()
        """Names of every table, view or index that statements on this connection created, dropped or changed."""
        self._deadline = math.inf
        self._limit_s = 0.0
        conn.set_authorizer(self._authorize)
        conn.set_progress_handler(self._past_deadline, _PROGRESS_STEPS)

    # -- policy ------------------------------------------------------------------------------------

    def _refuse(self, reason: str) -> int:
        if self.refusal is None:
            self.refusal = reason
        return sqlite3.SQLITE_DENY

    def _authorize(self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
        if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
            return self._refuse(
                "refused: ATTACH, DETACH and VACUUM (which attaches a copy) are not allowed; tools work on this session's database only")
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() in DENIED_FUNCTIONS:
                return self._refuse(f"refused: the SQL function {arg2}() is not allowed (it loads code into the server)")
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            return self._authorize_pragma((arg1 or "").lower(), arg2)
        if action in _READ_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_UPDATE and arg1 in _SCHEMA_TABLES:
            # SQLite asks this while it initialises a schema (e.g. on PRAGMA table_list). A real change to the
            # schema table is impossible: it needs writable_schema, which is refused, and reads are read-only.
            return sqlite3.SQLITE_OK
        verb = _WRITE_VERBS.get(action, f"operation #{action}")
        if not self.writable:
            if arg1 in _SCHEMA_TABLES:  # SQLite asks about its schema table before the verb (CREATE, DROP, ...)
                return self._refuse(f"refused: the statement changes the schema (CREATE, DROP or ALTER) and {READ_ONLY_HINT}")
            target = f" on {arg1!r}" if arg1 and action in _TABLE_WRITES else ""
            return self._refuse(f"refused: {verb}{target} is a write and {READ_ONLY_HINT}")
        if self.caller_sql and action in (sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT):
            return self._refuse(f"refused: {verb} is managed by the tool (each call is one transaction); "
                                "send the data-changing statement alone")
        if action in _TABLE_WRITES and arg1:
            self.touched.add(arg1)
        if action not in (sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT):
            self.altered.update(a for a in (arg1, arg2) if a)
        return sqlite3.SQLITE_OK

    def _authorize_pragma(self, name: str, argument: str | None) -> int:
        if name in INTROSPECTION_PRAGMAS:
            return sqlite3.SQLITE_OK
        if name in READABLE_PRAGMAS and argument is None:
            return sqlite3.SQLITE_OK
        if self.writable and name in SETTABLE_PRAGMAS:
            return sqlite3.SQLITE_OK
        if not self.writable and argument is not None:
            return self._refuse(f"refused: PRAGMA {name} = {argument} changes the database and {READ_ONLY_HINT}")
        allowed = sorted(INTROSPECTION_PRAGMAS | READABLE_PRAGMAS)
        return self._refuse(f"refused: PRAGMA {name} is not allowed here; allowed pragmas: {', '.join(allowed)}")

    def _past_deadline(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    # -- running statements ------------------------------------------------------------------------

    def run(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] = (),
        *,
        limit: int | None = None,
        time_limit: float,
    ) -> QueryOutcome:
        """Run one statement; fetch at most `limit` rows (fetching one more to know whether it truncated), and at
        most `MAX_FETCH_BYTES` of values."""
        with self.deadline(time_limit):
            try:
                before = self.conn.total_changes
                cursor = self.conn.execute(sql, params)
                try:
                    columns = [d[0] for d in cursor.description] if cursor.description else []
                    rows = _fetch_within_budget(cursor, None if limit is None else limit + 1)
                    truncated = limit is not None and len(rows) > limit
                    rows = rows[:limit] if limit is not None else rows
                finally:
                    cursor.close()
                return QueryOutcome(columns, rows, truncated, self.conn.total_changes - before)
            except sqlite3.Error as exc:
                raise self.failure(exc) from None

    def deadline(self, seconds: float) -> _Deadline:
        """A context in which every statement must finish within `seconds` (each statement counted alone)."""
        return _Deadline(self, seconds)

    def failure(self, exc: sqlite3.Error) -> ToolFailure:
        """Turn a SQLite error into a message that says what to change."""
        text = str(exc)
        if self.refusal is not None:
            return ToolFailure(self.refusal)
        if isinstance(exc, sqlite3.OperationalError) and text == "interrupted":
            return ToolFailure(
                f"query stopped: it ran past the {self._limit_s:g} s time limit; add filters or a LIMIT, "
                "avoid unbounded recursion, or allow more time with time_limit_s")
        if "one statement at a time" in text:
            return ToolFailure("refused: the SQL holds more than one statement; send exactly one statement "
                               "(no ';' followed by more SQL)")
        if "cannot VACUUM" in text:
            return ToolFailure("refused: VACUUM is not available here (each call is one transaction on the session's copy)")
        if "may not be modified" in text:
            return ToolFailure(f"refused: {text}; the schema tables cannot be written")
        if "readonly database" in text or "query_only" in text:
            return ToolFailure(f"refused: the statement tried to write and {READ_ONLY_HINT}")
        if "too big" in text:
            return ToolFailure(f"refused: the query builds or reads a value over {MAX_VALUE_BYTES:,} bytes, the limit "
                               "for one value; select part of it (substr, length) instead")
        if "too many columns" in text:
            return ToolFailure(f"refused: more than {MAX_COLUMNS} columns; name the columns you need")
        if "Incorrect number of bindings" in text or "binding" in text.lower():
            return ToolFailure(f"parameters do not match the SQL's placeholders: {text}")
        return ToolFailure(f"SQLite error: {text}")

    def interrupt(self) -> None:
        """Abort whatever statement is running (from another thread)."""
        try:
            self.conn.interrupt()
        except sqlite3.ProgrammingError:
            pass

    def close(self) -> None:
        self.conn.close()
        self._builtins.close()


class _BoundedFunctions:
    """printf(), format() and instr() in versions whose cost a statement's deadline bounds; what they compute is
    still SQLite's own, from a private in-memory connection, once the arguments are known to be cheap."""

    def __init__(self, guarded: GuardedConnection) -> None:
        self.guarded = guarded
        self.helper = sqlite3.connect(":memory:", check_same_thread=False)
        self.helper.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)

    def install(self, conn: sqlite3.Connection) -> None:
        conn.create_function("printf", -1, self.printf, deterministic=True)
        conn.create_function("format", -1, self.printf, deterministic=True)
        conn.create_function("instr", 2, self.instr, deterministic=True)

    def close(self) -> None:
        self.helper.close()

    def _refuse(self, reason: str) -> Exception:
        self.guarded._refuse(reason)
        return ValueError(reason)  # SQLite reports it as a failed function; failure() then gives `reason`

    def _integer(self, value: Any) -> int:
        return self.helper.execute("SELECT CAST(? AS INTEGER)", (value,)).fetchone()[0] or 0

    def printf(self, fmt: Any, *args: Any) -> Any:
        if isinstance(fmt, (str, bytes)):
            text = fmt if isinstance(fmt, str) else fmt.decode("utf-8", "replace")
            used = 0
            for width, precision, kind in _PRINTF_SPEC.findall(text):
                sizes = []
                for part in (width, precision):
                    if part == "*":
                        sizes.append(abs(self._integer(args[used])) if used < len(args) else 0)
                        used += 1
                    elif part:
                        sizes.append(int(part))
                if sizes and max(sizes) > MAX_PRINTF_WIDTH:
                    raise self._refuse(f"refused: a printf() width or precision over {MAX_PRINTF_WIDTH:,} (the limit "
                                       "for one value); pad or repeat less")
                used += kind not in ("%", "n", "")
        marks = ", ".join("?" * (1 + len(args)))
        return self.helper.execute(f"SELECT printf({marks})", (fmt, *args)).fetchone()[0]

    def instr(self, haystack: Any, needle: Any) -> Any:
        if haystack is None or needle is None:
            return None
        if type(haystack) is type(needle) and isinstance(haystack, (str, bytes)):
            return haystack.find(needle) + 1  # characters of text, bytes of blobs: SQLite's own counting
        if _length(haystack) * _length(needle) > _SQLITE_SEARCH_BUDGET:
            raise self._refuse("refused: instr() of a long text in a long blob (or the other way round); cast both "
                               "to the same type")
        return self.helper.execute("SELECT instr(?, ?)", (haystack, needle)).fetchone()[0]


def _length(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes)) else 32


def _fetch_within_budget(cursor: sqlite3.Cursor, most: int | None) -> list[tuple[Any, ...]]:
    """At most `most` rows of `cursor` (all when None), refused once their values pass `MAX_FETCH_BYTES`."""
    rows: list[tuple[Any, ...]] = []
    spent = 0
    if most == 0:
        return rows
    for row in cursor:  # one row at a time: Python materialises every value a fetch returns
        spent += sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in row)
        if spent > MAX_FETCH_BYTES:
            raise ToolFailure(
                f"refused: the result passed {MAX_FETCH_BYTES:,} bytes after {len(rows)} rows; ask for fewer rows "
                "or columns, or select part of large values (substr, length)")
        rows.append(row)
        if most is not None and len(rows) >= most:
            break
    return rows


class _Deadline:
    """Arms the connection's progress handler for one operation and clears the last refusal; an inner
    deadline never extends an outer one, and the outer one is restored afterwards."""

    def __init__(self, guarded: GuardedConnection, seconds: float) -> None:
        self.guarded = guarded
        self.seconds = seconds
        self._outer = (math.inf, 0.0)

    def __enter__(self) -> GuardedConnection:
        g = self.guarded
        self._outer = (g._deadline, g._limit_s)
        g.refusal = None
        mine = time.monotonic() + self.seconds
        if mine < g._deadline:
            g._deadline, g._limit_s = mine, self.seconds
        return g

    def __exit__(self, *exc_info: object) -> None:
        self.guarded._deadline, self.guarded._limit_s = self._outer


class CallerSQL:
    """Marks caller-written SQL on the writable connection, so its transaction control is refused.

    Changing the authorizer's policy must expire cached statements; re-installing the authorizer does.
    """

    def __init__(self, guarded: GuardedConnection) -> None:
        self.guarded = guarded

    def __enter__(self) -> GuardedConnection:
        self.guarded.caller_sql = True
        self.guarded.conn.set_authorizer(self.guarded._authorize)
        return self.guarded

    def __exit__(self, *exc_info: object) -> None:
        self.guarded.caller_sql = False
        self.guarded.conn.set_authorizer(self.guarded._authorize)

