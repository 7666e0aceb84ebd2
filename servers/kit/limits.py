"""Output size limits with an explicit truncation marker, so a model knows it saw only part of something."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

#: Largest text a single field of a tool result carries before it is clipped.
MAX_TEXT_CHARS = 20_000
#: Largest list a tool result carries before it is clipped.
MAX_ITEMS = 500
#: Largest serialized structured result; beyond it the call fails and asks for a narrower request.
MAX_RESULT_BYTES = 512_000


def truncation_marker(omitted: int, unit: str = "characters") -> str:
    """The marker appended to clipped text: it says how much is missing and how to get it."""
    return f"\n…[truncated: {omitted} more {unit}; request a smaller range to see them]"


def clip_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> tuple[str, bool]:
    """Return `text` cut to `max_chars` with a truncation marker, and whether it was cut."""
    if len(text) <= max_chars:
        return text, False
    return text[:max_chars] + truncation_marker(len(text) - max_chars), True


def clip_items(items: Sequence[T], max_items: int = MAX_ITEMS) -> tuple[list[T], bool]:
    """Return at most `max_items` items, and whether some were left out."""
    if len(items) <= max_items:
        return list(items), False
    return list(items[:max_items]), True
