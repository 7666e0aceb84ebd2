"""A Gymnasium text space that holds any string, for model text in and out of DIVE-v0.

Gymnasium's `spaces.Text` only admits its character set (alphanumerics by default); model output and
tool results are arbitrary Unicode. `AnyText` admits every `str` up to `max_length`.

`AsyncVectorEnv` works with its default `shared_memory=True` as well as with `False`. With shared memory,
Gymnasium reads the observation buffer once, when the vector env is made, and hands that same object back
after every step: a snapshot of a string would be the empty buffer forever. So the buffer is read through
`SharedTexts`, a live view that decodes each env's current text when it is read (and a plain tuple when
the vector env copies its observations, its default). Each env's slot holds its text's length, then the
text as Unicode code points, so a write and a read cost what the text is long, not the space's maximum.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import shared_memory as shm


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


class SharedTexts(Sequence[str]):
    """The texts of `n` envs in an `AsyncVectorEnv`'s shared memory, decoded when read (never a stale copy).

    Reads as a tuple of str; `copy.deepcopy` (what the vector env does unless `copy=False`) and pickling give
    a plain tuple of the texts as they are at that moment."""

    def __init__(self, space: AnyText, shared_memory: Any, n: int) -> None:
        self._rows = np.frombuffer(shared_memory.get_obj(), dtype=np.int32).reshape((n, space.max_length + 1))

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        row = self._rows[index]
        length = int(row[0])
        return row[1 : 1 + length].tobytes().decode("utf-32-le", "surrogatepass")

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __deepcopy__(self, memo: dict[int, Any]) -> tuple[str, ...]:
        return tuple(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return tuple, (tuple(self),)

    def __repr__(self) -> str:
        return f"SharedTexts({tuple(self)!r})"


@shm.create_shared_memory.register(AnyText)
def _create(space: AnyText, n: int = 1, ctx: Any = None) -> Any:
    import multiprocessing as mp

    # Each env's slot: the text's length, then up to max_length code points.
    return (ctx or mp).Array(np.dtype(np.int32).char, n * (space.max_length + 1))


@shm.write_to_shared_memory.register(AnyText)
def _write(space: AnyText, index: int, value: str, shared_memory: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(f"an AnyText observation must be a str, got {type(value).__name__}")
    size = space.max_length + 1
    codes = np.frombuffer(value[: space.max_length].encode("utf-32-le", "surrogatepass"), dtype=np.int32)
    row = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)[index * size : (index + 1) * size]
    row[0] = len(codes)
    row[1 : 1 + len(codes)] = codes


@shm.read_from_shared_memory.register(AnyText)
def _read(space: AnyText, shared_memory: Any, n: int = 1) -> SharedTexts:
    return SharedTexts(space, shared_memory, n)
