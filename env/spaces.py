"""A Gymnasium text space that holds any string, for model text in and out of DIVE-v0.

Gymnasium's `spaces.Text` only admits its character set (alphanumerics by default); model output and
tool results are arbitrary Unicode. `AnyText` admits every `str` up to `max_length` and, so that
`AsyncVectorEnv` works with its default `shared_memory=True` as well as with `False`, stores text in
shared memory as Unicode code points.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import shared_memory as shm

_PAD = -1


class AnyText(spaces.Text):
    """Any string of at most `max_length` characters; `sample()` draws printable text."""

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | np.random.Generator | None = None) -> None:
        printable = "".join(chr(c) for c in range(32, 127)) + "\n\t"
        super().__init__(max_length, min_length=min_length, charset=printable, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"AnyText({self.min_length}, {self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, AnyText) and (self.min_length, self.max_length) == (other.min_length, other.max_length)


@shm.create_shared_memory.register(AnyText)
def _create(space: AnyText, n: int = 1, ctx: Any = None) -> Any:
    import multiprocessing as mp

    return (ctx or mp).Array(np.dtype(np.int32).char, n * space.max_length)


@shm.write_to_shared_memory.register(AnyText)
def _write(space: AnyText, index: int, value: str, shared_memory: Any) -> None:
    size = space.max_length
    codes = np.full(size, _PAD, dtype=np.int32)
    text = value[:size]
    codes[: len(text)] = np.frombuffer(text.encode("utf-32-le"), dtype=np.int32)
    destination = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)
    np.copyto(destination[index * size : (index + 1) * size], codes)


@shm.read_from_shared_memory.register(AnyText)
def _read(space: AnyText, shared_memory: Any, n: int = 1) -> tuple[str, ...]:
    data = np.frombuffer(shared_memory.get_obj(), dtype=np.int32).reshape((n, space.max_length))
    texts = []
    for row in data:
        end = int(np.argmax(row == _PAD)) if (row == _PAD).any() else len(row)
        texts.append(row[:end].astype("<i4").tobytes().decode("utf-32-le"))
    return tuple(texts)
