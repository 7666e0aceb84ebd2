"""Independent answers for the tools' self-tests: plain SQL run straight on the world's database file, so a
check compares what a tool computed with what the data says rather than with a number copied into code."""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import quote

from dive.world import World


def world_rows(world: World, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """All rows of `sql` run on the world's database (opened read-only)."""
    conn = sqlite3.connect(f"file:{quote(str(world.db_path))}?mode=ro&immutable=1", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def world_value(world: World, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the first row of `sql` on the world's database."""
    rows = world_rows(world, sql, params)
    return rows[0][0] if rows else None


def close(a: Any, b: Any, rel: float = 1e-9) -> bool:
    """Numbers equal up to rounding noise."""
    if a is None or b is None:
        return a is b
    return abs(float(a) - float(b)) <= rel * max(1.0, abs(float(a)), abs(float(b)))
