"""Declaring a domain's tools once, and building an MCP server from them.

A domain is a `Domain` object plus a state class. Each tool is a plain function whose first
parameter receives the calling session's state; the rest of its parameters (typed, with
`Annotated[..., Field(description=...)]`) become the tool's input schema, its return type (a
pydantic model) its output schema, and its docstring the description a model reads.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp.types import ToolAnnotations
from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticSerializationError

from dive import __version__
from dive.world import World, dive_home
from dive.world.ontology import ontology_json

from .errors import HostPaths, ToolFailure, describe_exception, public_message
from .limits import MAX_RESULT_BYTES
from .meaning import Meaning
from .sessions import (DEFAULT_SESSION, ENDED_META_KEY, FRESH_META_KEY, MAX_ENDED_NAMES, OWNER_META_KEY,
                       SESSION_META_KEY, SessionContext, SessionRefused, SessionStore)

ToolKind = Literal["retrieval", "processing"]
#: The key under a tool's MCP `_meta` that carries its DIVE metadata.
TOOL_META_KEY = "dive/tool"
DEFAULT_TOOL_TIMEOUT = 30.0


@dataclass(frozen=True)
class Example:
    """A tool's self-test: arguments to call it with, and a check on its structured result.

    `check` receives the structured result (a dict) and returns True when it is right; it may
    also take the session state's world as a second argument for checks against world facts.
    """

    arguments: dict[str, Any]
    check: Callable[..., bool]
    note: str = ""


@dataclass
class ToolSpec:
    """One tool as declared by a domain."""

    fn: Callable[..., Any]
    name: str
    kind: ToolKind
    writes: bool
    examples: list[Example]
    timeout: float | None
    meaning: Meaning | None = None

    @property
    def description(self) -> str:
        return inspect.cleandoc(self.fn.__doc__ or "")


@dataclass
class Domain:
    """A tool domain: its name, its per-session state class and its tools."""

    name: str
    description: str
    state: Callable[[SessionContext], Any]
    held_out: bool = False
    tools: dict[str, ToolSpec] = field(default_factory=dict)
    on_close: Callable[[], None] | None = None
    """Called when a server of this domain closes, after its sessions: stops what they shared and left
    running for the next session (the web domain's browser and site server)."""

    def tool(
        self,
        *,
        kind: ToolKind,
        examples: Sequence[Example],
        writes: bool = False,
        timeout: float | None = None,
        name: str | None = None,
        meaning: Meaning | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a tool. `kind`: 'retrieval' gets information from a source, 'processing'
        transforms what it is given. Every tool needs at least one self-test example. `meaning` says what
        its results mean (`dive.servers.kit.meaning`); synthesis derives questions only from declared facts."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            tool_name = name or fn.__name__
            if not examples:
                raise ValueError(f"tool {self.name}.{tool_name} has no self-test example")
            if not (fn.__doc__ or "").strip():
                raise ValueError(f"tool {self.name}.{tool_name} has no docstring (it is what a model reads)")
            if tool_name in self.tools:
                raise ValueError(f"tool {self.name}.{tool_name} is declared twice")
            hints = get_type_hints(fn, include_extras=True)
            ret = hints.get("return")
            if not (inspect.isclass(ret) and issubclass(ret, BaseModel)):
                raise ValueError(f"tool {self.name}.{tool_name} must return a pydantic model (its output schema)")
            if meaning is not None:
                arguments = set(list(inspect.signature(fn).parameters)[1:])
                meaning.check(f"{self.name}.{tool_name}", arguments, set(ret.model_fields))
            self.tools[tool_name] = ToolSpec(fn, tool_name, kind, writes, list(examples), timeout, meaning)
            return fn

        return register

    def metadata(self, spec: ToolSpec) -> dict[str, Any]:
        """The DIVE metadata published in a tool's MCP `_meta`."""
        return {
            TOOL_META_KEY: {
                "domain": self.name,
                "kind": spec.kind,
                "held_out": self.held_out,
                "writes": spec.writes,
                "examples": [ex.arguments for ex in spec.examples],
                **({"meaning": spec.meaning.to_json()} if spec.meaning is not None else {}),
                # What a record's fields mean comes from the world's ontology, published with the tools that return
                # records so that any client can phrase them.
                **({"ontology": ontology_json()} if spec.meaning is not None and (spec.meaning.records or any(
                    i.type for i in spec.meaning.items)) else {}),
            }
        }

    def create_server(
        self,
        world: World | Callable[[], World],
        *,
        tool_timeout: float = DEFAULT_TOOL_TIMEOUT,
        options: dict[str, Any] | None = None,
        scratch: Path | None = None,
    ) -> DomainServer:
        """A fresh MCP server for this domain; each client session gets its own state.

        `world` may be a callable that loads it: it is then called on the first tool call only. `scratch`: where
        sessions keep their folders (default: the temporary directory); servers that share sessions share it.
        """
        return DomainServer(self, world, tool_timeout=tool_timeout, options=options, scratch=scratch)


def _meta_value(ctx: Context, name: str) -> Any:
    """A value of the request's `_meta`, or None."""
    meta = ctx.request_context.meta or {}
    return meta.get(name) if hasattr(meta, "get") else None


class _TextKeepingMetadata(FuncMetadata):
    """The SDK decodes a JSON-looking string argument ('[1, 2]') into a list unless the parameter is
    exactly `str`; for parameters that accept text (`str | None`, `Literal[...] | str`) that turns valid
    text into a validation error. Here only parameters that cannot take text are decoded."""

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        text_fields = {name for name, info in self.arg_model.model_fields.items() if _admits_text(info.annotation)}
        kept = {k: v for k, v in data.items() if k in text_fields}
        parsed = super().pre_parse_json({k: v for k, v in data.items() if k not in text_fields})
        return {k: kept[k] if k in kept else parsed[k] for k in data}


def _admits_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    return any(_admits_text(arg) for arg in get_args(annotation))


class DomainServer:
    """An `MCPServer` for one domain, with its session store. `.mcp` is what transports run."""

    def __init__(self, domain: Domain, world: World | Callable[[], World], *, tool_timeout: float,
                 options: dict[str, Any] | None, scratch: Path | None = None) -> None:
        self.domain = domain
        self.tool_timeout = tool_timeout
        self.sessions: SessionStore[Any] = SessionStore(domain.state, world, options=options, scratch=scratch)
        self.host_paths = HostPaths(_host_folders(self.sessions.root.parent))
        self.mcp = MCPServer(
            name=f"dive-{domain.name}",
            title=f"DIVE {domain.name} tools",
            description=domain.description,
            instructions=domain.description,
            version=__version__,
            log_level="WARNING",
        )
        for spec in domain.tools.values():
            self.mcp.add_tool(
                self._bind(spec),
                name=spec.name,
                description=spec.description,
                annotations=ToolAnnotations(
                    read_only_hint=not spec.writes,
                    destructive_hint=spec.writes,
                    open_world_hint=False,
                ),
                meta=domain.metadata(spec),
                structured_output=True,
            )
        self._forbid_unknown_arguments()

    def _forbid_unknown_arguments(self) -> None:
        """Refuse arguments a tool does not declare (the SDK would drop them silently, so a misspelled
        `max_line` would quietly do something other than what was asked), and keep text arguments text."""
        for tool in self.mcp._tool_manager.list_tools():  # the SDK offers no public hook for this
            base = tool.fn_metadata.arg_model
            strict = type(base.__name__, (base,), {"model_config": ConfigDict(extra="forbid"),
                                                   "__module__": base.__module__})
            tool.fn_metadata.arg_model = strict
            tool.fn_metadata.__class__ = _TextKeepingMetadata
            tool.parameters["additionalProperties"] = False

    def close(self) -> None:
        """End every session (closing browsers, sandboxes, database handles)."""
        try:
            self.sessions.close()
        finally:
            if self.domain.on_close is not None:
                self.domain.on_close()

    def _failure(self, message: str) -> ToolFailure:
        """The tool error a caller sees: the server's own paths hidden (the world, session folders, caches, the
        installation), and clipped to a readable length."""
        if self.sessions.world_root is not None:
            self.host_paths.add([self.sessions.world_root])
        return ToolFailure(public_message(message, self.host_paths))

    def session_key(self, ctx: Context) -> str:
        """Name the calling session (see `dive.servers.kit.sessions`)."""
        rc = ctx.request_context
        key = _meta_value(ctx, SESSION_META_KEY)
        if isinstance(key, str) and key:
            return f"meta:{key}"
        connection = getattr(rc.session, "_connection", None)
        if connection is not None and not str(rc.protocol_version).startswith("2026"):
            conn_key = f"conn:{connection.session_id or id(connection)}"
            if not connection.state.get("dive_cleanup"):
                connection.state["dive_cleanup"] = True
                connection.exit_stack.callback(self.sessions.end, conn_key)
            return conn_key
        return DEFAULT_SESSION

    def _bind(self, spec: ToolSpec) -> Callable[..., Any]:
        """Wrap a domain function as an MCP tool: session state in, timeout and error mapping around."""
        fn = spec.fn
        timeout = spec.timeout or self.tool_timeout
        is_async = inspect.iscoroutinefunction(fn)
        signature = inspect.signature(fn, eval_str=True)
        params = list(signature.parameters.values())[1:]  # the first parameter receives the state
        hints = get_type_hints(fn, include_extras=True)

        async def call(ctx: Context, **arguments: Any) -> Any:
            try:
                key = self.session_key(ctx)
                owner = _meta_value(ctx, OWNER_META_KEY)
                owner = owner if isinstance(owner, str) and owner else None
                fresh = _meta_value(ctx, FRESH_META_KEY)
                if fresh in ("server", "session") and key.startswith("meta:") and self.sessions.owned_by(key, owner) is not False:
                    self.sessions.end(key, shared=fresh == "session")
                entry = self.sessions.get(key, owner)
                ended = _meta_value(ctx, ENDED_META_KEY)
                if isinstance(ended, list):  # after this session's state exists, so a shared browser stays up
                    for name in ended[:MAX_ENDED_NAMES]:  # only this client's own sessions that this server holds
                        if isinstance(name, str) and f"meta:{name}" != key and self.sessions.owned_by(f"meta:{name}", owner):
                            await anyio.to_thread.run_sync(self.sessions.end, f"meta:{name}")
            except SessionRefused as exc:
                raise self._failure(str(exc)) from None
            except Exception as exc:  # a session that cannot start is the caller's error to see, not a crash
                raise self._failure(f"could not start a session: {describe_exception(exc)}") from exc
            async with entry.lock:
                try:
                    with anyio.fail_after(timeout):
                        if is_async:
                            result = await fn(entry.state, **arguments)
                        else:
                            result = await anyio.to_thread.run_sync(
                                functools.partial(fn, entry.state, **arguments), abandon_on_cancel=True
                            )
                except TimeoutError:
                    raise ToolFailure(
                        f"{spec.name} timed out after {timeout:g} s; ask for less work or try a narrower request"
                    ) from None
                except Exception as exc:  # every failure becomes a tool error, never a crashed server
                    raise self._failure(describe_exception(exc)) from exc
            try:
                return _sendable(spec.name, result)
            except ToolFailure as exc:
                raise self._failure(str(exc)) from None

        ctx_param = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)
        call.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[ctx_param] + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
        )
        call.__annotations__ = {"ctx": Context, **{p.name: hints[p.name] for p in params}, "return": hints["return"]}
        call.__name__ = spec.name
        call.__doc__ = spec.description
        return call


def _host_folders(scratch: Path) -> list[Path]:
    """Folders of this machine whose paths a caller never needs to see."""
    return [scratch, Path(tempfile.gettempdir()), dive_home(), Path(sys.prefix), Path(sys.base_prefix),
            Path(__file__).resolve().parents[2], Path.home()]


def _sendable(name: str, result: Any) -> Any:
    """`result` as it can go on the wire, or the tool error that says why it cannot: text that is not Unicode
    (an undecodable file name) is sent with the odd characters escaped; a number JSON cannot carry (infinite,
    NaN) and a result over `MAX_RESULT_BYTES` are refused, so no client receives a result off its schema."""
    if not isinstance(result, BaseModel):
        try:
            text = json.dumps(result, allow_nan=False)
        except ValueError:
            raise ToolFailure(_NOT_FINITE.format(name=name)) from None
    else:
        try:
            text = result.model_dump_json()
        except PydanticSerializationError:
            try:
                result = type(result).model_validate(_escape_surrogates(result.model_dump()))
                text = result.model_dump_json()
            except Exception:
                raise ToolFailure(f"{name} produced text that is not valid Unicode and cannot be sent") from None
        if "null" in text and _has_non_finite(result.model_dump()):
            raise ToolFailure(_NOT_FINITE.format(name=name))
    if len(text) > MAX_RESULT_BYTES:
        raise ToolFailure(
            f"{name} produced {len(text)} bytes, over the {MAX_RESULT_BYTES}-byte limit; "
            "ask for a smaller range (limit/offset) or a narrower query"
        )
    return result


_NOT_FINITE = ("{name} computed a number that is not finite (infinite or NaN, e.g. from an overflow), which its "
               "result cannot carry; use inputs of a smaller magnitude")


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_non_finite(v) for v in value)
    return False


def _escape_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_escape_surrogates(k): _escape_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_surrogates(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_escape_surrogates(v) for v in value)
    return value
