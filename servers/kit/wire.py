"""Serving MCP over stdio so that every request gets an answer.

The SDK's stdio transport drops a line it cannot parse (bad JSON, arguments nested past the parser's depth, a
100,000-digit number, a lone surrogate, a batch, a message without `"jsonrpc"`) and takes a message whose `id` is
null or an object for a notification, so its sender waits for its own timeout. Here each line is screened before
the SDK reads it: a message the SDK would drop is answered with the JSON-RPC error that says what is wrong (with the
request's id when one can be read from it), and everything else goes to the SDK unchanged. Streamable HTTP needs no
screen: the SDK answers every malformed body there with a 400 and a JSON-RPC error.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from io import TextIOWrapper
from typing import Any, BinaryIO

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
_ID_FIELD = re.compile(r'"id"\s*:\s*(-?\d{1,18}|"(?:[^"\\]|\\.){0,512}")\s*[,}]')


def screen_line(line: str) -> types.JSONRPCError | None:
    """The error answer to one stdio line the SDK would leave unanswered, or None when the SDK answers it (or
    when nothing should: a notification, a response, a blank line)."""
    if not line.strip():
        return None
    try:
        message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValidationError as exc:
        return _answer_to_invalid(line, exc)
    if isinstance(message, types.JSONRPCNotification) and '"id"' in line:
        parsed = _loads(line)
        if isinstance(parsed, dict) and "id" in parsed:
            return _error(None, INVALID_REQUEST, "Invalid Request: 'id' must be a string or an integer (not null, a "
                          "fraction, a boolean, an object or a list); a notification has no 'id' at all")
    return None


def _answer_to_invalid(line: str, exc: ValidationError) -> types.JSONRPCError | None:
    errors = exc.errors(include_url=False)
    parsed = _loads(line)
    if isinstance(parsed, dict) and "method" not in parsed and ("result" in parsed or "error" in parsed):
        return None  # a malformed response to one of our requests: answering it would only confuse its sender
    request_id = _request_id(line, parsed)
    json_error = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if json_error is not None:
        detail = str(json_error.get("msg", "invalid JSON"))
        return _error(request_id, PARSE_ERROR, f"Parse error: {detail}{_hint(detail)}")
    if isinstance(parsed, list):
        return _error(None, INVALID_REQUEST, "Invalid Request: batches are not supported; send one JSON-RPC object a line")
    return _error(request_id, INVALID_REQUEST,
                  "Invalid Request: send one JSON-RPC 2.0 object a line, with \"jsonrpc\": \"2.0\", a string "
                  "\"method\", an object \"params\" and, for a request, an integer or string \"id\"")


def _hint(detail: str) -> str:
    if "recursion limit" in detail:
        return "; nest values less deeply (the parser stops at 200 levels)"
    if "number out of range" in detail or "number too large" in detail:
        return "; send very large numbers as strings"
    if "escape" in detail or "surrogate" in detail or "unicode" in detail.lower():
        return "; text must be valid Unicode (a lone surrogate such as \\ud800 is not)"
    return ""


def _loads(line: str) -> Any:
    """`line` parsed leniently (Python's parser), or None; only to find an id or a message's shape."""
    try:
        return json.loads(line, parse_int=lambda digits: int(digits) if len(digits) <= 18 else None)
    except (ValueError, RecursionError):
        return None


def _request_id(line: str, parsed: Any) -> int | str | None:
    if isinstance(parsed, dict):
        value = parsed.get("id")
        return value if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)) else None
    if parsed is None and (m := _ID_FIELD.search(line[:4096])) is not None:
        found = _loads(m.group(1))
        return found if isinstance(found, (int, str)) and not isinstance(found, bool) else None
    return None


def _error(request_id: int | str | None, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message))


class _ScreenedLines:
    """The wire's lines for the SDK to read, less those answered here (their answers go to `answers`)."""

    def __init__(self, wire: BinaryIO, answers: MemoryObjectSendStream[types.JSONRPCError]) -> None:
        self._lines = anyio.wrap_file(TextIOWrapper(wire, encoding="utf-8", errors="replace"))
        self._answers = answers

    def __aiter__(self) -> AsyncIterator[str]:
        return self._screen()

    async def _screen(self) -> AsyncIterator[str]:
        async with self._answers:
            async for line in self._lines:
                answer = screen_line(line)
                if answer is not None:
                    await self._answers.send(answer)
                elif line.strip():
                    yield line


@contextmanager
def _claimed_stdin() -> Iterator[BinaryIO]:
    """The wire's stdin, with fd 0 pointed at the null device while serving (as the SDK does), so a tool's child
    process never reads the protocol's input."""
    wire = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        # closefd=False: a worker thread may still block on the descriptor after serving ends.
        yield os.fdopen(wire, "rb", closefd=False)
    finally:
        os.dup2(wire, 0)


async def serve_stdio(mcp: MCPServer) -> None:
    """Serve `mcp` over this process's stdin and stdout until stdin closes, answering every request."""
    lowlevel = mcp._lowlevel_server  # the SDK runs stdio only on its own streams; this is what it runs on them
    send_answers, answers = anyio.create_memory_object_stream[types.JSONRPCError](64)
    with _claimed_stdin() as wire:
        async with stdio_server(stdin=_ScreenedLines(wire, send_answers)) as (read_stream, write_stream):  # type: ignore[arg-type]
            async with anyio.create_task_group() as tg:
                tg.start_soon(_forward, answers, write_stream.clone())
                await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
                tg.cancel_scope.cancel()


async def _forward(answers: Any, write_stream: Any) -> None:
    async with answers, write_stream:
        async for answer in answers:
            await write_stream.send(SessionMessage(answer))
