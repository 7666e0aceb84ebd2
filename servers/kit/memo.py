"""A bounded, thread-safe memo for answers that depend only on their key (the same for every session)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Memo(Generic[T]):
    """The last `size` answers by key, least recently used first out. Two threads asking for the same new
    key may both compute it; the answer is the same either way."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The remembered answer for `key`, else `compute()` (remembered unless it raises)."""
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        answer = compute()
        with self._lock:
            self._answers[key] = answer
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)
        return answer


def content_key(*parts: bytes | str) -> bytes:
    """A short memo key for content too large to keep as a key (a file's text, an image's pixels, a job's
    input): the 128-bit BLAKE2b digest of the parts, each length-prefixed so that no two splits collide."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.digest()
