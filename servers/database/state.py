"""One session's view of the world database: guarded connections to the shared file until the session's
first write, to its private copy from then on, and the schema every identifier is checked against."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from dive.servers.kit import CopyOnWrite, Domain, Memo, SessionContext

from .guard import GuardedConnection, QueryOutcome
from .schema import Schema, quote_ident

#: Seconds one statement may run unless the caller or the server's options say otherwise.
DEFAULT_TIME_LIMIT_S = 10.0
#: The most a caller may ask for: below the kit's per-call timeout, so the database answers first.
MAX_TIME_LIMIT_S = 20.0

T = TypeVar("T")
#: Answers of costly look-ups on the shared world file kept per server process (see `DatabaseState.remembered`).
_memo: Memo[Any] = Memo(1024)


@dataclass
class Writer:
    """The writable connection of a session inside one write transaction, and sqlite-utils on top of it."""

    guarded: GuardedConnection
    db: sqlite_utils.Database

    @property
    def conn(self) -> sqlite3.Connection:
        return self.guarded.conn


class DatabaseState:
    """Per-session database state: reads go to the shared, read-only world file until the first write;
    writes (and every read after them) go to the session's private copy."""

    def __init__(self, ctx: SessionContext) -> None:
        self.base_path: Path = ctx.world.db_path
        self.database = CopyOnWrite(self.base_path, ctx.directory / "world.sqlite")
        limit = float(ctx.options.get("db_time_limit_s", DEFAULT_TIME_LIMIT_S))
        self.time_limit = min(max(limit, 0.1), MAX_TIME_LIMIT_S)
        self.lock = threading.RLock()
        self._reader: GuardedConnection | None = None
        self._base_reader: GuardedConnection | None = None
        self._writer: GuardedConnection | None = None
        self._schema: Schema | None = None
        self._closed = False
        self.written_tables: set[str] = set()
        """Lower-cased names of everything this session's writes touched (tables, views, indexes)."""

    # -- connections -------------------------------------------------------------------------------

    def reader(self) -> GuardedConnection:
        """The read-only connection to where this session reads now (reopened once the copy exists)."""
        with self.lock:
            if self._closed:
                raise RuntimeError("this database session is closed")
            path = self.database.path
            if self._reader is None or self._reader.path != path:
                if self._reader is not None:
                    self._reader.close()
                self._reader = GuardedConnection(path, writable=False, immutable=not self.database.copied)
                self._schema = None
            return self._reader

    def base_reader(self) -> GuardedConnection:
        """A read-only connection to the shared world file, whatever this session has changed."""
        with self.lock:
            if not self.database.copied:
                return self.reader()
            if self._base_reader is None:
                self._base_reader = GuardedConnection(self.base_path, writable=False, immutable=True)
            return self._base_reader

    def schema(self) -> Schema:
        """The schema as this session sees it (cached until the session writes)."""
        with self.lock:
            reader = self.reader()
            if self._schema is None:
                with reader.deadline(self.time_limit):
                    try:
                        self._schema = Schema.load(reader.conn)
                    except sqlite3.Error as exc:
                        raise reader.failure(exc) from None
            return self._schema

    def read(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] = (),
        *,
        limit: int | None = None,
        time_limit: float | None = None,
    ) -> QueryOutcome:
        """Run one read-only statement on this session's database."""
        with self.lock:
            return self.reader().run(sql, params, limit=limit, time_limit=time_limit or self.time_limit)

    def remembered(self, key: tuple, compute: Callable[[], T]) -> T:
        """`compute()`, answered from a per-process memo while this session reads the shared world file: that
        file never changes, so a look-up a session asked before has the same answer (scanning every text column
        of every table costs tens of milliseconds; synthesis and rollouts ask the same ones again and again).
        A session that has written reads its own copy and always computes. `compute` must be a pure look-up
        whose result the caller does not change."""
        with self.lock:
            if self.database.copied:
                return compute()
            return _memo.get((str(self.base_path), *key), compute)

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        rows = self.read(sql, params, limit=1).rows
        return rows[0][0] if rows else None

    def count(self, table: str) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {quote_ident(table)}"))

    @contextmanager
    def writing(self, time_limit: float | None = None) -> Iterator[Writer]:
        """One write transaction on the session's private copy (made on first use); rolled back on error.

        Full-text indexes whose content table was changed are rebuilt before the commit, so searches
        stay consistent with the rows.
        """
        with self.lock:
            if self._closed:
                raise RuntimeError("this database session is closed")
            if self._writer is None:
                self._writer = GuardedConnection(self.database.writable(), writable=True)
            guarded = self._writer
            db = sqlite_utils.Database(guarded.conn, recursive_triggers=False, execute_plugins=False)
            guarded.touched.clear()
            guarded.altered.clear()
            try:
                with guarded.deadline(time_limit or self.time_limit):
                    try:
                        with db.atomic():
                            yield Writer(guarded, db)
                            self._rebuild_stale_fts(guarded)
                    except sqlite3.Error as exc:
                        raise guarded.failure(exc) from None
            finally:
                self.written_tables.update(t.lower() for t in guarded.touched | guarded.altered)
                self._schema = None

    def _rebuild_stale_fts(self, guarded: GuardedConnection) -> None:
        touched = {t.lower() for t in guarded.touched}
        if not touched:
            return
        schema = Schema.load(guarded.conn)
        for index in schema.fts.values():
            if index.content_table and index.content_table.lower() in touched and index.name.lower() not in touched:
                name = quote_ident(index.name)
                guarded.conn.execute(f"INSERT INTO {name}({name}) VALUES ('rebuild')")

    def close(self) -> None:
        """Stop any running statement and close every connection of the session."""
        self._closed = True
        for conn in (self._reader, self._base_reader, self._writer):
            if conn is not None:
                conn.interrupt()
        with self.lock:
            for conn in (self._reader, self._base_reader, self._writer):
                if conn is not None:
                    conn.close()
            self._reader = self._base_reader = self._writer = None


DOMAIN = Domain(
    "database",
    "SQL and structured queries over the world's SQLite database (countries, cities, airports, elements, "
    "companies, stock prices, Seattle weather, customers, products, orders, and documents with full-text "
    "search): schema discovery, read-only SQL with row and time limits, lookups, aggregates, statistics, "
    "joins along foreign keys, and write tools that change only the calling session's private copy.",
    DatabaseState,
)
