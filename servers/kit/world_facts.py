"""Reading world facts the way every domain's self-test checks need them, and matching names."""

from __future__ import annotations

import sqlite3
import unicodedata
from typing import Any
from urllib.parse import quote

from dive.world import World


def world_rows(world: World, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """All rows of `sql` on the world's database, opened read-only."""
    conn = sqlite3.connect(f"file:{quote(str(world.db_path))}?mode=ro&immutable=1", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def world_value(world: World, sql: str, *params: Any) -> Any:
    """The first column of the first row of `sql` on the world's database (None when there is no row)."""
    rows = world_rows(world, sql, *params)
    return rows[0][0] if rows else None


_SPECIAL_LETTERS = str.maketrans(
    {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "đ": "d", "Đ": "D", "ı": "i",
     "œ": "oe", "-": " ", "'": "", "’": "", ".": " "}
)


def fold_name(text: str) -> str:
    """Lower-case ASCII form of a name, for matching ("São Paulo" -> "sao paulo", "Łódź" -> "lodz")."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPECIAL_LETTERS))
    return " ".join(decomposed.encode("ascii", "ignore").decode("ascii").lower().split())
