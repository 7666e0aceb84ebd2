"""An episode's growing lists (its messages, its trace's calls, its tool schemas), sent between processes by
what is new.

DIVE-v0's `info` carries the whole conversation and trace at every step, and an `AsyncVectorEnv` worker
sends each step's `info` to the main process through a pipe, pickled: pickling every earlier message and
call again made the 50th step of an episode cost far more than the first. So `info` holds each list as a
`LogSnapshot`: a plain `list` (any code reads it as one, and `pickle` writes it as one) that, when
`multiprocessing` sends it (its pipes and queues pickle with `ForkingPickler`), sends only the items the
receiving process has not had yet; the receiver keeps each live episode's items and hands back a plain list.

The receiving process is assumed to be the same one every time, as it is for a vector env's worker (its
parent); a process that is sent a later snapshot without the earlier ones gets an error that says so.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import OrderedDict
from multiprocessing.reduction import ForkingPickler
from typing import Any

#: Episodes whose items a receiving process keeps at most (the oldest are dropped first).
KEPT_EPISODES = 4096

_ids = itertools.count()


class EpisodeLog:
    """An append-only list of one episode, with what has already been sent of it."""

    def __init__(self, items: list[Any] | None = None) -> None:
        self.items: list[Any] = items if items is not None else []  # shared, not copied: a trace appends to it
        self.key = f"{os.getpid()}:{id(self)}:{next(_ids)}"
        self.sent = 0
        self.retired: list[str] = []

    def append(self, item: Any) -> None:
        self.items.append(item)

    def snapshot(self) -> LogSnapshot:
        """The items so far, as a list that later appends leave unchanged."""
        return LogSnapshot(self, self.items)

    def renewed(self, items: list[Any] | None = None) -> EpisodeLog:
        """The log of the next episode; receivers forget this one when they next hear from the new one."""
        log = EpisodeLog(items)
        log.retired = [*self.retired, self.key][-64:]
        return log


class LogSnapshot(list):
    """The first items of an `EpisodeLog`: a list; `multiprocessing` sends only what the receiver lacks."""

    __slots__ = ("_log",)

    def __init__(self, log: EpisodeLog, items: list[Any]) -> None:
        super().__init__(items)
        self._log = log

    def __reduce__(self) -> tuple[Any, ...]:
        return list, (list(self),)  # pickle, deepcopy, Ray: the whole list, as a plain list


def _send(snapshot: LogSnapshot) -> tuple[Any, ...]:
    log, count = snapshot._log, len(snapshot)
    start = log.sent if log.sent <= count else 0
    log.sent = count
    retired, log.retired = log.retired, []
    return _receive, (log.key, start, list.__getitem__(snapshot, slice(start, count)), count, retired)


ForkingPickler.register(LogSnapshot, _send)

_received: OrderedDict[str, list[Any]] = OrderedDict()
_received_lock = threading.Lock()


def _receive(key: str, start: int, new: list[Any], count: int, retired: list[str]) -> list[Any]:
    with _received_lock:
        for old in retired:
            _received.pop(old, None)
        items = _received.get(key)
        if items is None:
            items = _received[key] = []
        if len(items) < start:
            raise RuntimeError(
                f"this process was sent items {start}-{count} of a DIVE-v0 episode's info without the ones before "
                "(an env's info goes by what is new to one receiving process, such as a vector env's main process)")
        del items[start:]
        items.extend(new)
        _received.move_to_end(key)
        while len(_received) > KEPT_EPISODES:
            _received.popitem(last=False)
        return items[:count]
