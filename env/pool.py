"""The client pool: the one way the project talks to MCP servers, ours or anyone's.

It connects to every server of a standard client config concurrently, lists their tools, calls
them with timeouts, and records every call into a `Trace`. A server that dies is reported as a
failed call (never a hang) and named in every later call to it; so is one that stops answering
altogether (a call times out and it does not even list its tools): the pool kills a process it
started then, so that it can be restarted like a crashed one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.from_thread
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

from .config import ConfigError, MCPConfig, ServerConfig, scrub_secrets
from .trace import ListedTool, ResultContent, ToolCallRecord, Trace

#: The request `_meta` key that names the session on the server (see dive.servers.kit.sessions).
SESSION_META_KEY = "dive/session"
#: Sent (on request) with a trace's first call to each server: the session starts afresh there (see the kit).
FRESH_META_KEY = "dive/fresh"
#: Sent with the next call to a server: sessions the client has finished with, for the server to dispose of.
ENDED_META_KEY = "dive/ended"
#: Sent with every call: the pool's secret, which makes the sessions it creates its own (see the kit's sessions).
OWNER_META_KEY = "dive/owner"
#: Most ended sessions one call carries; the rest go with the next calls.
MAX_ENDED_PER_CALL = 256
DEFAULT_CALL_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 60.0
#: After a call times out, how long the server has to list its tools before it counts as hung.
HANG_PROBE_TIMEOUT = 5.0
#: The environment variable that marks the processes the pool starts, so it can find one it must kill.
_MARK = "DIVE_POOL_SERVER"


class PoolError(RuntimeError):
    """The pool could not start or use a server; the message names the server and the cause."""


@dataclass
class _Connection:
    name: str
    target: Any
    client: Client | None = None
    tools: dict[str, ListedTool] = field(default_factory=dict)
    ready: anyio.Event = field(default_factory=anyio.Event)
    stop: anyio.Event = field(default_factory=anyio.Event)
    dead: str | None = None
    # The calls in flight, by their cancel scope (deadline: the call's timeout); True once the server's death
    # cut the call short (before its timeout did).
    pending: dict[anyio.CancelScope, bool] = field(default_factory=dict)

    def cut_calls(self) -> None:
        """End the calls in flight: the server is gone, so none of them will be answered."""
        for scope in list(self.pending):
            if not scope.cancel_called:
                self.pending[scope] = True
                scope.cancel()


@dataclass(frozen=True)
class _HttpTarget:
    """A streamable-HTTP server that wants headers on every request (an API key)."""

    url: str
    headers: dict[str, str]


def _target(config: ServerConfig) -> Any:
    if config.url:
        return _HttpTarget(config.url, dict(config.headers)) if config.headers else config.url
    assert config.command is not None
    env = {**(config.env or {}), _MARK: uuid.uuid4().hex}
    return StdioServerParameters(command=config.command, args=config.args, env=env, cwd=config.cwd)


def _processes_of(target: Any) -> list[int]:
    """The processes this process started for `target` (a stdio server), found by the mark in their environment."""
    if not isinstance(target, StdioServerParameters) or not (target.env or {}).get(_MARK):
        return []
    mark = f"{_MARK}={target.env[_MARK]}".encode()  # type: ignore[index]
    found = []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                parent = int(f.read().rsplit(b")", 1)[1].split()[1])
            if parent != os.getpid():
                continue
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if mark in f.read().split(b"\0"):
                    found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _resume_group(pid: int) -> None:
    """Let a stopped server run again, so it can see its input close and exit."""
    try:
        os.killpg(pid, signal.SIGCONT)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(pid: int) -> None:
    """Kill a server and everything it started (the SDK starts each server as the leader of its own group)."""
    for sig in (signal.SIGKILL, signal.SIGCONT):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


class ClientPool:
    """Connections to a set of MCP servers, used as `async with ClientPool(config) as pool:`.

    `servers` may also map names to in-process server objects (an `MCPServer`), which the SDK
    connects through its in-memory transport.
    """

    def __init__(
        self,
        config: MCPConfig | Mapping[str, Any] | str | None = None,
        *,
        servers: Mapping[str, Any] | None = None,
        timeout: float = DEFAULT_CALL_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        session: str | None = None,
        allow_writes: bool = False,
    ) -> None:
        targets: dict[str, Any] = {}
        # Tools the user vouched for as read-only, by server; with `allow_writes`, tools that change the user's
        # data (servers not built on our kit) may be called too.
        self.vouched: dict[str, set[str]] = {}
        self.allow_writes = allow_writes
        # The config's credentials, scrubbed out of everything the pool reports: errors (an HTTP error names
        # the URL, token and all), tool listings and results (a server may echo its own key).
        self._secrets: set[str] = set()
        if config is not None:
            for name, server in MCPConfig.load(config).servers.items():
                targets[name] = _target(server)
                self._secrets |= server.secrets()
                self.vouched[name] = set(server.read_only_tools)
        targets.update(servers or {})
        if not targets:
            raise ConfigError("the client pool needs at least one server")
        self._connections = {name: _Connection(name, target) for name, target in targets.items()}
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.trace = Trace(session=session or uuid.uuid4().hex)
        self._exposed: dict[str, tuple[str, str]] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self._restart_lock = anyio.Lock()
        self._ended: dict[str, set[str]] = {}
        self._owner = uuid.uuid4().hex

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> ClientPool:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        for conn in self._connections.values():
            self._task_group.start_soon(self._hold, conn)
        failed: list[str] = []
        try:
            with anyio.fail_after(self.connect_timeout):
                for conn in self._connections.values():
                    await conn.ready.wait()
        except TimeoutError:
            failed = [f"{c.name}: no answer within {self.connect_timeout:g} s" for c in self._connections.values()
                      if not c.ready.is_set()]
        failed += [f"{c.name}: {c.dead}" for c in self._connections.values() if c.dead]
        if failed:
            await self.__aexit__(None, None, None)
            raise PoolError("could not connect to MCP server(s): " + "; ".join(failed))
        self._index_tools()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        for conn in self._connections.values():
            conn.stop.set()
            for pid in _processes_of(conn.target):  # a stopped server would otherwise wait out every grace period
                _resume_group(pid)
        if self._task_group is not None:
            self._task_group.cancel_scope.deadline = anyio.current_time() + 10
            await self._task_group.__aexit__(None, None, None)
            self._task_group = None

    async def _hold(self, conn: _Connection) -> None:
        """Own one connection for the pool's lifetime (the SDK client must be entered and left in one task)."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                target = conn.target
                if isinstance(target, _HttpTarget):  # the config's headers go with every request; the timeouts
                    http = await stack.enter_async_context(httpx2.AsyncClient(  # are the SDK's own client's
                        headers=target.headers, timeout=httpx2.Timeout(30.0, read=300.0)))
                    target = streamable_http_client(target.url, http_client=http)
                client = await stack.enter_async_context(Client(target, read_timeout_seconds=None))
                conn.client = client
                conn.tools = {t.name: self._vouch(conn.name, t) for t in await self._list(conn.name, client)}
                conn.ready.set()
                await conn.stop.wait()
        except Exception as exc:  # a server that fails to start or dies: record why, fail its calls
            conn.dead = self._scrub(_describe(exc))
        finally:
            conn.client = None
            if not conn.stop.is_set() and conn.dead is None:
                conn.dead = "the server closed the connection"
            conn.cut_calls()
            conn.ready.set()

    async def _list(self, server: str, client: Client) -> list[ListedTool]:
        tools: list[ListedTool] = []
        cursor: str | None = None
        while True:
            page = await client.list_tools(cursor=cursor)
            for t in page.tools:
                tools.append(
                    ListedTool(
                        server=server,
                        name=t.name,
                        description=t.description or "",
                        input_schema=dict(t.input_schema or {}),
                        output_schema=dict(t.output_schema) if t.output_schema else None,
                        meta=dict(t.meta or {}),
                        annotations=t.annotations.model_dump(by_alias=True, exclude_none=True) if t.annotations else {},
                    )
                )
            cursor = page.next_cursor
            if not cursor:
                return [self._scrub(t) for t in tools]

    def _scrub(self, value: Any) -> Any:
        """`value` (text, JSON, a record) with the config's credentials replaced by `<redacted>` wherever they occur."""
        if not self._secrets:
            return value
        if isinstance(value, str):
            return scrub_secrets(value, self._secrets)
        if isinstance(value, BaseModel):
            return value.model_copy(update={k: self._scrub(v) for k, v in value})
        if isinstance(value, dict):
            return {self._scrub(k): self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value

    def _index_tools(self) -> None:
        counts: dict[str, int] = {}
        for conn in self._connections.values():
            for name in conn.tools:
                counts[name] = counts.get(name, 0) + 1
        self._exposed = {}
        for conn in self._connections.values():
            for name in conn.tools:
                exposed = name if counts[name] == 1 else f"{conn.name}__{name}"
                self._exposed[exposed] = (conn.name, name)

    # -- use ---------------------------------------------------------------------------------

    @property
    def servers(self) -> list[str]:
        return list(self._connections)

    def tools(self) -> list[ListedTool]:
        """Every tool of every server, as listed at connection time."""
        return [tool for conn in self._connections.values() for tool in conn.tools.values()]

    async def list_resources(self, limit: int = 500) -> list[tuple[str, str, str]]:
        """(server, uri, name) of the resources the servers list, up to `limit` each; a server without resources,
        or one that fails to list them, gives none (resources are a bonus, not a requirement)."""
        found: list[tuple[str, str, str]] = []
        for name, conn in self._connections.items():
            if conn.client is None:
                continue
            listed: list[tuple[str, str, str]] = []
            cursor: str | None = None
            with contextlib.suppress(Exception):
                while len(listed) < limit:
                    page = await conn.client.list_resources(cursor=cursor)
                    listed += [(name, self._scrub(str(r.uri)), self._scrub(r.name or str(r.uri))) for r in page.resources]
                    cursor = page.next_cursor
                    if not cursor:
                        break
            found += listed[:limit]
        return found

    def exposed_names(self) -> dict[str, ListedTool]:
        """Tools by the name a model calls them: their own name, or `server__name` where two servers share it."""
        return {exposed: self._connections[s].tools[n] for exposed, (s, n) in self._exposed.items()}

    def _vouch(self, server: str, tool: ListedTool) -> ListedTool:
        """A tool the config lists under "readOnlyTools" is read-only, whatever its annotations say."""
        if tool.name not in self.vouched.get(server, ()):
            return tool
        return tool.model_copy(update={"annotations": {**tool.annotations, "readOnlyHint": True,
                                                       "destructiveHint": False, "vouched": True}})

    def resolve(self, tool: str, server: str | None = None) -> tuple[str, str]:
        """(server, tool name) for an exposed name, or a tool of a named server."""
        if server is not None:
            conn = self._connections.get(server)
            if conn is None:
                raise PoolError(f"unknown server {server!r}; servers: {', '.join(self._connections)}")
            if tool not in conn.tools and conn.dead is None:
                raise PoolError(f"server {server!r} has no tool {tool!r}")
            return server, tool
        if tool not in self._exposed:
            raise PoolError(f"unknown tool {tool!r}")
        return self._exposed[tool]

    def is_dead(self, server: str) -> bool:
        """Whether a server has exited or dropped its connection (its calls fail until `restart`)."""
        return self._connections[server].dead is not None

    async def restart(self, server: str) -> None:
        """Start a server that died again, on a fresh connection; a live server is left alone.

        Its sessions' state is gone with the old process (the new one starts from the world)."""
        async with self._restart_lock:
            old = self._connections[server]
            if old.dead is None:
                return
            if self._task_group is None:
                raise PoolError("the pool is closed")
            conn = _Connection(server, old.target)
            self._connections[server] = conn
            self._task_group.start_soon(self._hold, conn)
            with anyio.move_on_after(self.connect_timeout):
                await conn.ready.wait()
            if conn.dead is not None or not conn.ready.is_set():
                conn.dead = conn.dead or f"no answer within {self.connect_timeout:g} s"
                raise PoolError(f"could not restart MCP server {server!r}: {conn.dead}")
            self._index_tools()

    async def _hung(self, conn: _Connection) -> bool:
        """Whether a server whose call timed out has stopped answering altogether (it cannot even list its tools,
        as a stopped or deadlocked process cannot); such a server is marked dead, and a process the pool started
        is killed, so that `restart` brings it back as it would a crashed one."""
        client = conn.client
        if client is None or conn.dead is not None or not isinstance(conn.target, (str, StdioServerParameters)):
            return False
        with anyio.move_on_after(HANG_PROBE_TIMEOUT):
            try:
                await client.list_tools()
            except Exception:
                pass
            return False
        if conn.dead is None:
            conn.dead = (f"the server stopped answering (a call timed out and it did not list its tools within "
                         f"{HANG_PROBE_TIMEOUT:g} s); it was stopped")
        for pid in _processes_of(conn.target):
            _kill_group(pid)
        conn.stop.set()
        conn.cut_calls()
        return True

    def end_session(self, trace: Trace) -> None:
        """Tell the servers `trace` called that its session is over, so they free its state (browser contexts,
        database copies, sandboxes); the word travels with the next call to each server, at no extra round trip."""
        for server in {c.server for c in trace.calls}:
            if server in self._connections:
                self._ended.setdefault(server, set()).add(trace.session)

    def new_session(self, session: str | None = None) -> Trace:
        """Start a fresh server-side session (fresh world state) with an empty trace; returns the old trace."""
        old = self.trace
        self.trace = Trace(session=session or uuid.uuid4().hex)
        return old

    def open_session(self, session: str | None = None) -> PoolSession:
        """An independent session on every server (own world state, own trace), usable concurrently."""
        return PoolSession(self, Trace(session=session or uuid.uuid4().hex))

    async def call(
        self, tool: str, arguments: Mapping[str, Any] | None = None, *, server: str | None = None,
        timeout: float | None = None, trace: Trace | None = None, fresh: bool = False,
    ) -> ToolCallRecord:
        """Call a tool and record the call. Tool errors, timeouts and dead servers come back as a
        record with `is_error=True` and an `error` that says why; only an unknown tool raises.

        The call belongs to `trace`'s session (default: the pool's own `trace`). With `fresh`, a trace's
        first call to each server starts the session afresh there (for reused session names: DIVE-v0's
        episodes); without it, a new trace may continue an earlier session of the same name.
        """
        trace = self.trace if trace is None else trace
        server_name, name = self.resolve(tool, server)
        conn = self._connections[server_name]
        args = dict(arguments or {})
        listed = conn.tools.get(name)
        index = len(trace.calls)
        limit = self.timeout if timeout is None else timeout
        meta: dict[str, Any] = {SESSION_META_KEY: trace.session, OWNER_META_KEY: self._owner}
        if fresh and not any(c.server == server_name for c in trace.calls):
            meta[FRESH_META_KEY] = "server" if trace.calls else "session"
        ended = sorted(self._ended.pop(server_name, set()) - {trace.session}) if self._ended else None
        if ended:
            meta[ENDED_META_KEY], rest = ended[:MAX_ENDED_PER_CALL], ended[MAX_ENDED_PER_CALL:]
            if rest:
                self._ended.setdefault(server_name, set()).update(rest)
        # What the record will hold, set as the call goes and made into the record once at its end.
        outcome: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            if listed is not None and not self.allow_writes and listed.changes_user_data:
                raise PoolError(refusal_to_write(server_name, listed))
            if conn.dead is not None or conn.client is None:
                raise PoolError(f"server {server_name!r} is not available: {conn.dead or 'not connected'}")
            # One cancel scope is both the timeout and the way a server's death ends the call (see cut_calls).
            scope = anyio.CancelScope(deadline=anyio.current_time() + limit)
            conn.pending[scope] = False
            try:
                with scope:
                    result = await conn.client.call_tool(name, args, meta=meta)
            finally:
                died = conn.pending.pop(scope)
            if scope.cancelled_caught:
                if died:
                    raise PoolError(f"server {server_name!r} died during the call: {conn.dead}")
                raise TimeoutError
            outcome["result"] = result.structured_content if isinstance(result.structured_content, dict) else None
            outcome["text"] = text = "\n".join(getattr(block, "text", "") for block in result.content or []
                                               if getattr(block, "text", None))
            outcome["content"] = _result_content(result.content or [])
            outcome["is_error"] = bool(result.is_error)
            if outcome["is_error"]:
                outcome["error"] = text or "the tool reported an error"
        except TimeoutError:
            outcome["is_error"] = True
            outcome["error"] = f"{name} on {server_name!r} did not answer within {limit:g} s (timeout)"
            if await self._hung(conn):
                outcome["error"] = f"server {server_name!r} is not available: {conn.dead}"
        except PoolError as exc:
            outcome["is_error"] = True
            outcome["error"] = str(exc)
        except MCPError as exc:
            outcome["is_error"] = True
            if "connection closed" in str(exc).lower():
                conn.dead = conn.dead or "the server closed the connection (it exited or crashed)"
                outcome["error"] = f"server {server_name!r} is not available: {conn.dead}"
            else:
                outcome["error"] = f"protocol error from {server_name!r}: {exc}"
        except Exception as exc:  # a broken transport mid-call: an error record, never a hang
            outcome["is_error"] = True
            outcome["error"] = f"call to {server_name!r} failed: {_describe(exc)}"
        # Every field is of its type already: the record is built without validating it again (validation made
        # a copy of the arguments, as this does).
        record = ToolCallRecord.model_construct(
            index=index, server=server_name, tool=name, arguments=dict(args),
            schema_hash=listed.schema_hash if listed else None, **outcome,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        record = self._scrub(record)
        trace.append(record)
        return record


def refusal_to_write(server: str, tool: ListedTool) -> str:
    """Why a tool that may change the user's data is not called, and how to allow it."""
    if not tool.annotations:
        how = "has no MCP annotations (a tool without them counts as writing)"
    elif tool.annotations.get("destructiveHint") is True:
        how = "is annotated destructive"
    else:
        how = "is not annotated read-only (readOnlyHint)"
    return (f"refused: {tool.name} on {server!r} {how} and may change your data; if it only reads, list it under "
            f"the server's \"readOnlyTools\" in the MCP config, or allow writes explicitly (--allow-writes)")


class PoolSession:
    """One server-side session of a pool with its own trace (see `ClientPool.open_session`)."""

    def __init__(self, pool: ClientPool, trace: Trace) -> None:
        self.pool = pool
        self.trace = trace

    async def call(self, tool: str, arguments: Mapping[str, Any] | None = None, **kwargs: Any) -> ToolCallRecord:
        return await self.pool.call(tool, arguments, trace=self.trace, **kwargs)


def _result_content(blocks: list[Any]) -> list[ResultContent]:
    """A result's content items where it holds more than text (else none: `text` says it all), in order."""
    if all(block.type == "text" for block in blocks):
        return []
    items = []
    for block in blocks:
        if block.type == "text":
            items.append(ResultContent(type="text", text=block.text))
        elif block.type in ("image", "audio"):
            items.append(_binary(block.type, block.data, block.mime_type))
        elif block.type == "resource":
            resource = block.resource
            if getattr(resource, "text", None) is not None:
                items.append(ResultContent(type="resource", uri=str(resource.uri), mime_type=resource.mime_type,
                                           text=resource.text))
            else:
                items.append(_binary("resource", resource.blob, resource.mime_type, uri=str(resource.uri)))
        elif block.type == "resource_link":
            items.append(ResultContent(type="resource_link", uri=str(block.uri), name=block.name,
                                       mime_type=block.mime_type, description=block.description, size=block.size))
    return items


def _binary(kind: str, data: str, mime_type: str | None, **fields: Any) -> ResultContent:
    """An image, audio or blob resource: its size and hash for the trace, its base64 data for the chat message."""
    try:
        decoded: bytes | None = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        decoded = None
    return ResultContent(type=kind, mime_type=mime_type, data=data, size=None if decoded is None else len(decoded),
                         sha256=None if decoded is None else hashlib.sha256(decoded).hexdigest(), **fields)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


class SyncClientPool:
    """The same pool for synchronous code (the gym, the CLI): an event loop runs in a helper thread.

    `pool` takes a ready-made (not yet entered) `ClientPool` instead of a config; `on_close` runs after
    the pool is closed (for example to close in-process servers).
    """

    def __init__(self, config: MCPConfig | Mapping[str, Any] | str | None = None, *, pool: ClientPool | None = None,
                 on_close: tuple[Any, ...] = (), **kwargs: Any) -> None:
        self._on_close = on_close
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._loop, self._loop_thread = self._portal.call(lambda: (asyncio.get_running_loop(), threading.get_ident()))
        try:
            self.pool = pool if pool is not None else ClientPool(config, **kwargs)
            self._pool_cm = self._portal.wrap_async_context_manager(self.pool)
            self._pool_cm.__enter__()
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            self._run_on_close()
            raise
        self._closed = False

    def tools(self) -> list[ListedTool]:
        return self.pool.tools()

    def call(self, tool: str, arguments: Mapping[str, Any] | None = None, **kwargs: Any) -> ToolCallRecord:
        return self._on_loop(self.pool.call(tool, arguments, **kwargs))

    def _on_loop(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run `coroutine` on the pool's event loop and wait for its result, with one wake-up each way: the
        portal's `call` also waits for its task to be spawned, a round trip more per call, which cost about half
        as much as a cheap tool's whole call."""
        if self._closed or threading.get_ident() == self._loop_thread:
            coroutine.close()
            raise RuntimeError("the pool is closed" if self._closed else
                               "a SyncClientPool cannot be called from its own event loop's thread")
        done = threading.Lock()
        done.acquire()
        outcome: list[Any] = []  # [result] or [None, exception]

        async def run() -> None:
            # The waiting thread is woken from here, as the call ends (a done callback would take another turn of
            # the loop).
            try:
                outcome.append(await coroutine)
            except Exception as exc:  # the caller's to handle, not the task's
                outcome[:] = [None, exc]
            except BaseException as exc:  # cancelled (the pool is closing) or the process is stopping
                outcome[:] = [None, exc]
                raise
            finally:
                done.release()

        runner = run()
        self._loop.call_soon_threadsafe(self._loop.create_task, runner)
        while not done.acquire(timeout=1.0):
            if self._loop.is_closed():  # closed by another thread before the call started
                runner.close()
                coroutine.close()
                raise RuntimeError("the pool was closed during the call")
        if len(outcome) == 2:
            raise outcome[1]
        return outcome[0]

    @property
    def trace(self) -> Trace:
        return self.pool.trace

    def new_session(self, session: str | None = None) -> Trace:
        return self.pool.new_session(session)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._pool_cm.__exit__(None, None, None)
        finally:
            self._portal_cm.__exit__(None, None, None)
            self._run_on_close()

    def _run_on_close(self) -> None:
        for close in self._on_close:
            close()

    def __enter__(self) -> SyncClientPool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
