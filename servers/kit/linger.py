"""A shared resource's grace period: what sessions keep running for each other outlives its last user for a
while, waiting for the next one."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Linger:
    """`start(seconds)` calls `then` after `seconds` unless `cancel()` comes first; starting again while
    waiting changes nothing. Not locked itself: its owner calls it under the lock that guards its users."""

    def __init__(self, then: Callable[[], None]) -> None:
        self._then = then
        self._timer: threading.Timer | None = None

    def start(self, seconds: float) -> None:
        if self._timer is None:
            self._timer = threading.Timer(seconds, self._then)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
