"""Server processes shared by every DIVE-v0 environment of a process.

Starting every server once per environment would multiply processes (and browser instances) by the
number of environments for no gain: per-session state on the servers already isolates episodes
(each episode is its own MCP session, `_meta["dive/session"]`). So envs in one process that ask for
the same servers, transport and timeout share one `ServerHub`: one client pool, one set of server
processes (or in-process servers), counted by reference and closed with the last env. Envs in other
processes (`AsyncVectorEnv` workers, Ray actors) each hold their own hub; to share processes across
them too, serve the domains over streamable HTTP once (`dive serve D --transport http`) and give
every env a `servers=` config of URLs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from .pool import ClientPool, PoolError, SyncClientPool
from .trace import ListedTool, ToolCallRecord, Trace


class ServerHub(SyncClientPool):
    """A synchronous client pool whose calls restart a server found dead, so an episode can go on."""

    def __init__(self, pool: ClientPool, on_close: tuple[Callable[[], None], ...] = ()) -> None:
        super().__init__(pool=pool, on_close=on_close)
        self.restarts = 0

    def exposed_tools(self) -> dict[str, ListedTool]:
        """Tools by the name a model calls them."""
        return self.pool.exposed_names()

    def call_in(self, trace: Trace, tool: str, arguments: Mapping[str, Any], timeout: float | None = None
                ) -> ToolCallRecord:
        """Call a tool in `trace`'s session, which starts afresh on each server at its first call there. A
        server found dead is restarted before this returns; the record says so."""
        record = self.call(tool, arguments, trace=trace, timeout=timeout, fresh=True)
        if record.is_error and self.pool.is_dead(record.server):
            try:
                self._portal.call(self.pool.restart, record.server)
                self.restarts += 1
                record.error = (f"{record.error}. The server was restarted: call again (its earlier state in "
                                "this episode is gone)")
            except PoolError as exc:
                record.error = f"{record.error}. {exc}"
        return record


_hubs: dict[str, tuple[ServerHub, int]] = {}
_hubs_lock = threading.Lock()


def acquire_hub(key: str, build: Callable[[], ServerHub]) -> ServerHub:
    """The process's hub for `key`, built on first use; every acquire needs a `release_hub(key)`."""
    with _hubs_lock:
        if key in _hubs:
            hub, count = _hubs[key]
            _hubs[key] = (hub, count + 1)
            return hub
        hub = build()
        _hubs[key] = (hub, 1)
        return hub


def release_hub(key: str) -> None:
    """Drop one reference; the last one closes the hub and its servers."""
    with _hubs_lock:
        hub, count = _hubs[key]
        if count > 1:
            _hubs[key] = (hub, count - 1)
            return
        del _hubs[key]
    hub.close()
