"""Answers: their type, how they are written, and how a prediction is matched against them.

Used by synthesis (to type answers and check them), by DIVE-v0 (reward) and by evaluation.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from datetime import datetime
from typing import Any

from .records import AnswerType, Matcher

_NUMBER = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][-+]?\d+)?$")


def normalise_text(value: Any) -> str:
    """Case-folded, accent-stripped, punctuation-light, whitespace-collapsed text of a value."""
    text = unicodedata.normalize("NFKD", str(value))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"[\s_]+", " ", text)
    text = re.sub(r"[^\w\s.%:/@+-]", "", text)
    return text.strip().strip(".").strip()


def parse_number(value: Any) -> float | None:
    """The number a value spells (int, float, '1,234.5', '12%' as 12, '3e5'), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(float(value)) else None
    if not isinstance(value, str):
        return None
    text = value.strip().rstrip("%").strip()
    if not text or not _NUMBER.match(text):
        return None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def answer_type(value: Any) -> AnswerType:
    """The type of an answer value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, (set, frozenset)):
        return "set"
    return "number" if parse_number(value) is not None else "text"


def matcher_for(value: Any, kind: AnswerType | None = None) -> Matcher:
    """The matcher that fits an answer: numbers get a tolerance of half their last shown decimal."""
    kind = kind or answer_type(value)
    if kind == "number":
        text = repr(value) if isinstance(value, float) else str(value)
        decimals = len(text.split(".")[1]) if "." in text and "e" not in text.lower() else 0
        return Matcher(kind="number", tolerance=0.5 * 10 ** (-min(decimals, 6)) if decimals else 0.0)
    return Matcher(kind=kind)


def format_answer(value: Any) -> str:
    """How an answer is written in a final-answer message."""
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        return ", ".join(format_answer(v) for v in items)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _as_items(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                parsed = json.loads(stripped)
                if isinstance(parsed, list):
                    return parsed
            except json.JSONDecodeError:
                pass
        return [part for part in re.split(r"\s*[,;\n]\s*|\s+and\s+", stripped) if part]
    return [value]


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = normalise_text(value)
    if text in ("yes", "true", "y", "1"):
        return True
    if text in ("no", "false", "n", "0"):
        return False
    return None


def numbers_match(predicted: Any, reference: Any, tolerance: float = 0.0) -> bool:
    a, b = parse_number(predicted), parse_number(reference)
    if a is None or b is None:
        return False
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=max(tolerance, 1e-9))


def answers_match(predicted: Any, reference: Any, matcher: Matcher) -> bool:
    """Whether a predicted answer matches the reference under the task's matcher."""
    if predicted is None:
        return False
    if matcher.kind == "number":
        return numbers_match(predicted, reference, matcher.tolerance)
    if matcher.kind == "bool":
        return _as_bool(predicted) is not None and _as_bool(predicted) == _as_bool(reference)
    if matcher.kind in ("list", "set"):
        got, want = _as_items(predicted), _as_items(reference)
        if len(got) != len(want):
            return False
        if matcher.kind == "set":
            got, want = sorted(map(normalise_text, got)), sorted(map(normalise_text, want))
            return got == want
        return all(_item_match(g, w) for g, w in zip(got, want))
    return _item_match(predicted, reference)


def _item_match(predicted: Any, reference: Any) -> bool:
    if parse_number(reference) is not None and parse_number(predicted) is not None:
        return numbers_match(predicted, reference)
    moments = _moment(reference), _moment(predicted)
    if None not in moments:  # one instant however it is written ('+0000' or '+00:00', 'T' or a space, 'Z')
        return moments[0] == moments[1]
    return normalise_text(predicted) == normalise_text(reference)


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")


def _moment(value: Any) -> datetime | None:
    """The instant an ISO 8601 timestamp with a time of day names, or None (a plain date is no instant)."""
    text = str(value).strip()
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
