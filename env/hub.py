"""Server processes shared by every DIVE-v0 environment of a process.

Starting every server once per environment would multiply processes (and browser instances) by the
number of environments for no gain: per-session state on the servers already isolates episodes
(each episode is its own MCP session, `_meta["dive/session"]`). So envs in one process that ask for
the same servers, transport and timeout share one `ServerHub`: one client pool, one set of server
processes (or in-process servers), counted by reference and closed with the last env. Envs in other
processes (`AsyncVectorEnv` workers, Ray actors) each hold their own hub; to share processes across
them too, serve the domains over streamable HTTP once (`dive serve D --transport http`) and give
every env a `servers=` config of URLs.

`AsyncDiveEnv`s share an `AsyncServerHub` the same way, one per event loop: its pool runs on that loop,
so their calls never cross a thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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

    def call_in(self, trace: Trace, tool: str, arguments: Mapping[str, Any], timeout: float | None = None,
                fresh: bool = True) -> ToolCallRecord:
        """Call a tool in `trace`'s session, which starts afresh on each server at its first call there (`fresh`:
        False when the caller knows this server has been called in the session, which spares the pool a look
        through the whole trace). A server found dead is restarted before this returns; the record says so."""
        record = self.call(tool, arguments, trace=trace, timeout=timeout, fresh=fresh)
        if record.is_error and self.pool.is_dead(record.server):
            try:
                self._portal.call(self.pool.restart, record.server)
                self.restarts += 1
                _note_restart(record, None)
            except PoolError as exc:
                _note_restart(record, exc)
        return record


class AsyncServerHub:
    """The same hub for asyncio code: the client pool runs in a task of the event loop that started it, and
    calls restart a server found dead, as `ServerHub.call_in` does."""

    def __init__(self, pool: ClientPool, on_close: tuple[Callable[[], None], ...] = ()) -> None:
        self.pool = pool
        self.restarts = 0
        self._on_close = on_close
        self._stop = asyncio.Event()
        self._owner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect to every server; raises what the pool raises (a `PoolError` naming the server and why)."""
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._owner = asyncio.create_task(self._own(ready), name="dive-async-server-hub")
        await ready

    async def _own(self, ready: asyncio.Future[None]) -> None:
        # The pool is entered and left in this one task (its task group requires it), whoever calls through it.
        try:
            async with self.pool:
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if ready.done():
                raise
            if isinstance(exc, asyncio.CancelledError):
                ready.cancel()
                raise
            ready.set_exception(exc)
        finally:
            for close in self._on_close:
                close()

    def exposed_tools(self) -> dict[str, ListedTool]:
        """Tools by the name a model calls them."""
        return self.pool.exposed_names()

    async def call_in(self, trace: Trace, tool: str, arguments: Mapping[str, Any], timeout: float | None = None,
                      fresh: bool = True) -> ToolCallRecord:
        """Call a tool in `trace`'s session (see `ServerHub.call_in`)."""
        record = await self.pool.call(tool, arguments, trace=trace, timeout=timeout, fresh=fresh)
        if record.is_error and self.pool.is_dead(record.server):
            try:
                await self.pool.restart(record.server)
                self.restarts += 1
                _note_restart(record, None)
            except PoolError as exc:
                _note_restart(record, exc)
        return record

    async def close(self) -> None:
        """Stop the pool and its servers, and wait until they have stopped."""
        self._stop.set()
        if self._owner is not None:
            owner, self._owner = self._owner, None
            await owner


def _note_restart(record: ToolCallRecord, failure: PoolError | None) -> None:
    if failure is None:
        record.error = f"{record.error}. The server was restarted: call again (its earlier state in this episode is gone)"
    else:
        record.error = f"{record.error}. {failure}"


_hubs: dict[str, tuple[ServerHub, int]] = {}
_hubs_lock = threading.Lock()


def _forget_hubs_in_child() -> None:
    """A forked process (an async vector env's worker) gets none of its parent's hubs: their threads and
    servers stay with the parent, so the child builds its own on first use."""
    global _hubs_lock
    _hubs.clear()
    _hubs_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_hubs_in_child)


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
        if key not in _hubs:  # acquired before this process was forked: the parent's to close
            return
        hub, count = _hubs[key]
        if count > 1:
            _hubs[key] = (hub, count - 1)
            return
        del _hubs[key]
    hub.close()


@dataclass
class _AsyncEntry:
    hub: AsyncServerHub
    started: asyncio.Task[None]
    count: int = 0


# Per event loop (weakly: a finished loop's entries go with it), per key.
_async_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _AsyncEntry]] = weakref.WeakKeyDictionary()


async def acquire_async_hub(key: str, build: Callable[[], AsyncServerHub]) -> AsyncServerHub:
    """This event loop's hub for `key`, started by the first caller (concurrent first callers wait for that one
    start); every acquire that returns needs a `release_async_hub(key)`."""
    hubs = _async_hubs.setdefault(asyncio.get_running_loop(), {})
    entry = hubs.get(key)
    if entry is None or _failed(entry.started):
        hub = build()
        entry = hubs[key] = _AsyncEntry(hub, asyncio.ensure_future(hub.start()))
    entry.count += 1
    try:
        await asyncio.shield(entry.started)
    except BaseException:
        entry.count -= 1
        if _failed(entry.started):
            if hubs.get(key) is entry:
                del hubs[key]
        elif entry.count == 0:  # this caller was cancelled while the hub started: stop it once started
            await _release_entry(hubs, key, entry)
        raise
    return entry.hub


async def release_async_hub(key: str) -> None:
    """Drop one reference; the last one stops the hub and its servers, and waits for them."""
    hubs = _async_hubs.get(asyncio.get_running_loop(), {})
    entry = hubs.get(key)
    if entry is None:
        return
    entry.count -= 1
    if entry.count <= 0:
        await _release_entry(hubs, key, entry)


async def _release_entry(hubs: dict[str, _AsyncEntry], key: str, entry: _AsyncEntry) -> None:
    if hubs.get(key) is entry:
        del hubs[key]
    if not entry.started.done():
        await asyncio.wait([entry.started])
    if not _failed(entry.started):  # one that never started has nothing to stop
        await entry.hub.close()


def _failed(start: asyncio.Future[None]) -> bool:
    return start.done() and (start.cancelled() or start.exception() is not None)
