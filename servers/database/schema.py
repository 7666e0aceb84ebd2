"""The live schema of a session's database, read from SQLite itself: every table, view and column a
caller may name is checked against it, and every identifier that reaches SQL is quoted from it."""

from __future__ import annotations

import difflib
import re
import sqlite3
from dataclasses import dataclass, field

from dive.servers.kit import ToolFailure

#: What a new table, column, view or index may be called.
NEW_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_FTS5_OPTION = re.compile(r"(\w+)\s*=\s*'((?:[^']|'')*)'")


def quote_ident(name: str) -> str:
    """An identifier as SQL text: always double-quoted, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def check_new_name(name: str, what: str) -> str:
    """Refuse names that are not plain identifiers, or that SQLite reserves."""
    if not NEW_NAME.match(name or ""):
        raise ToolFailure(f"invalid {what} name {name!r}: use letters, digits and underscores, "
                          "starting with a letter or underscore (at most 63 characters)")
    if name.lower().startswith("sqlite_"):
        raise ToolFailure(f"invalid {what} name {name!r}: names starting with 'sqlite_' are reserved by SQLite")
    return name


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    not_null: bool
    default: str | None
    pk: int
    """Position in the primary key (1-based), 0 when not part of it."""


@dataclass(frozen=True)
class ForeignKey:
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.table}({', '.join(self.columns)}) -> {self.ref_table}({', '.join(self.ref_columns)})"


@dataclass(frozen=True)
class FullTextIndex:
    """An FTS5 table: its indexed columns and, for external-content indexes, the table holding the rows."""

    name: str
    columns: tuple[str, ...]
    content_table: str | None
    content_rowid: str


@dataclass
class TableInfo:
    name: str
    kind: str
    """'table', 'view' or 'virtual'."""
    columns: list[ColumnInfo]
    sql: str
    without_rowid: bool = False
    foreign_keys: list[ForeignKey] = field(default_factory=list)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def primary_key(self) -> list[str]:
        """Primary-key columns in key order; empty for views and tables keyed only by rowid."""
        return [c.name for c in sorted((c for c in self.columns if c.pk), key=lambda c: c.pk)]

    def column(self, name: str) -> ColumnInfo:
        """The column called `name` (case-insensitive), or a failure listing the table's columns."""
        for col in self.columns:
            if col.name == name:
                return col
        for col in self.columns:
            if col.name.lower() == str(name).lower():
                return col
        names = self.column_names
        close = difflib.get_close_matches(str(name), names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ToolFailure(f"unknown column {name!r} in {self.kind} {self.name!r}{hint}; its columns: {', '.join(names)}")


class Schema:
    """Every user-visible table, view and FTS index of a database (SQLite's own and FTS shadow tables hidden)."""

    def __init__(self, tables: dict[str, TableInfo], fts: dict[str, FullTextIndex]) -> None:
        self.tables = tables
        self.fts = fts

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> Schema:
        listed = conn.execute("PRAGMA main.table_list").fetchall()
        sql_of = dict(conn.execute("SELECT name, sql FROM main.sqlite_master WHERE type IN ('table', 'view')").fetchall())
        tables: dict[str, TableInfo] = {}
        fts: dict[str, FullTextIndex] = {}
        for _schema, name, kind, _ncol, without_rowid, _strict in sorted(listed, key=lambda r: r[1]):
            if kind == "shadow" or name.startswith("sqlite_"):
                continue
            columns = [
                ColumnInfo(name=r[1], type=r[2] or "", not_null=bool(r[3]), default=r[4], pk=r[5])
                for r in conn.execute(f"PRAGMA main.table_xinfo({quote_ident(name)})")
                if r[6] in (0, 2, 3)  # 1 = hidden columns of virtual tables
            ]
            info = TableInfo(name=name, kind=kind, columns=columns, sql=sql_of.get(name) or "",
                             without_rowid=bool(without_rowid))
            if kind == "table":
                groups: dict[int, list[tuple[str, str | None]]] = {}
                ref_tables: dict[int, str] = {}
                for fk_id, _seq, ref, col, ref_col, *_ in conn.execute(f"PRAGMA main.foreign_key_list({quote_ident(name)})"):
                    groups.setdefault(fk_id, []).append((col, ref_col))
                    ref_tables[fk_id] = ref
                for fk_id in sorted(groups):
                    pairs = groups[fk_id]
                    info.foreign_keys.append(ForeignKey(name, tuple(c for c, _ in pairs), ref_tables[fk_id],
                                                        tuple(r or "" for _, r in pairs)))
            tables[name] = info
            if kind == "virtual" and re.search(r"\busing\s+fts5\b", info.sql, re.IGNORECASE):
                options = {k.lower(): v.replace("''", "'") for k, v in _FTS5_OPTION.findall(info.sql)}
                fts[name] = FullTextIndex(name=name, columns=tuple(info.column_names),
                                          content_table=options.get("content") or None,
                                          content_rowid=options.get("content_rowid") or "rowid")
        # Foreign keys that name the parent's primary key implicitly: resolve the columns now.
        for info in tables.values():
            resolved = []
            for fk in info.foreign_keys:
                parent = tables.get(fk.ref_table)
                if parent is not None and not any(fk.ref_columns):
                    fk = ForeignKey(fk.table, fk.columns, fk.ref_table, tuple(parent.primary_key))
                resolved.append(fk)
            info.foreign_keys = resolved
        return cls(tables, fts)

    def table(self, name: str, *, kinds: tuple[str, ...] = ("table", "view", "virtual")) -> TableInfo:
        """The table called `name` (case-insensitive), or a failure that lists what exists."""
        info = self.tables.get(name)
        if info is None:
            info = next((t for t in self.tables.values() if t.name.lower() == str(name).lower()), None)
        if info is None:
            names = sorted(self.tables)
            close = difflib.get_close_matches(str(name), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ToolFailure(f"unknown table {name!r}{hint}; tables and views: {', '.join(names)}")
        if info.kind not in kinds:
            wanted = " or ".join("virtual table" if k == "virtual" else k for k in kinds)
            raise ToolFailure(f"{info.name!r} is a {'virtual table' if info.kind == 'virtual' else info.kind}; "
                              f"this tool needs a {wanted}")
        return info

    def column(self, table: str, name: str) -> ColumnInfo:
        return self.table(table).column(name)

    @property
    def foreign_keys(self) -> list[ForeignKey]:
        return [fk for t in self.tables.values() for fk in t.foreign_keys]

    def references_to(self, table: str) -> list[ForeignKey]:
        """Foreign keys of other tables (or this one) that point at `table`."""
        return [fk for fk in self.foreign_keys if fk.ref_table.lower() == table.lower()]

    def relation_between(self, left: str, right: str) -> ForeignKey:
        """The single foreign key joining two tables (in either direction), or a failure saying why not."""
        found = [fk for fk in self.foreign_keys
                 if {fk.table.lower(), fk.ref_table.lower()} == {left.lower(), right.lower()}]
        if not found:
            edges = "; ".join(fk.describe() for fk in self.foreign_keys) or "none"
            raise ToolFailure(f"no foreign key links {left!r} and {right!r}; the foreign keys are: {edges}")
        if len(found) > 1:
            raise ToolFailure(f"several foreign keys link {left!r} and {right!r} "
                              f"({'; '.join(fk.describe() for fk in found)}); use run_query with an explicit JOIN")
        return found[0]
