"""Parsing a model's turn into tool calls or a final answer, in the forms models actually emit.

Recognised, in order:
1. `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks (Hermes/Qwen), any number of them;
2. OpenAI-style JSON: `{"tool_calls": [{"function": {"name", "arguments"}}]}`, a single
   `{"name", "arguments"}` (or `"parameters"`) object, or a list of those, bare or in a ```json fence;
3. a final answer: `<answer>...</answer>`, or the plain forms `Final answer: ...`, `Answer: ...`,
   `The answer is ...` and `\\boxed{...}`.

Everything else is malformed, with a reason a model can act on; nothing here raises.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from .chat_format import ANSWER_CLOSE, ANSWER_OPEN, TOOL_CALL_CLOSE, TOOL_CALL_OPEN


class ParsedCall(BaseModel):
    """One tool call read from the model's text."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Action(BaseModel):
    """What a model's turn asks for: tool calls, a final answer, or nothing usable (`malformed`)."""

    kind: Literal["tool_calls", "answer", "malformed"]
    calls: list[ParsedCall] = Field(default_factory=list)
    answer: str | None = None
    errors: list[str] = Field(default_factory=list)
    """Why (part of) the turn could not be read; a turn with some good calls and some bad ones keeps both."""


_TOOL_CALL_RE = re.compile(re.escape(TOOL_CALL_OPEN) + r"(.*?)(?:" + re.escape(TOOL_CALL_CLOSE) + r"|$)", re.S)
_ANSWER_RE = re.compile(re.escape(ANSWER_OPEN) + r"(.*?)" + re.escape(ANSWER_CLOSE), re.S)
_FENCE_RE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_PLAIN_ANSWER_RES = (
    re.compile(r"(?:^|\n)\s*\**final answer\**\s*[:：]\s*(.+)", re.I | re.S),
    re.compile(r"(?:^|\n)\s*\**answer\**\s*[:：]\s*(.+)", re.I | re.S),
    re.compile(r"\\boxed\{(.+?)\}", re.S),
    re.compile(r"(?:^|\n|\. )\s*the (?:final )?answer is[:\s]+(.+)", re.I | re.S),
)


def parse_action(text: Any) -> Action:
    """Read one model turn. Never raises: unreadable input is an `Action(kind="malformed")`."""
    if not isinstance(text, str):
        return Action(kind="malformed", errors=[f"the action must be text, got {type(text).__name__}"])
    if not text.strip():
        return Action(kind="malformed", errors=["the turn is empty: call a tool or give the answer"])

    errors: list[str] = []
    blocks = [m.group(1) for m in _TOOL_CALL_RE.finditer(text)]
    if blocks:
        calls = []
        for n, block in enumerate(blocks, 1):
            call, error = _read_call(block.strip(), where=f"tool call {n}")
            if call is not None:
                calls.append(call)
            if error:
                errors.append(error)
        if TOOL_CALL_CLOSE not in text.split(TOOL_CALL_OPEN)[-1]:
            errors.append(f"tool call {len(blocks)} has no closing {TOOL_CALL_CLOSE}")
        # Built without validation: every field is already of its type here, and this runs at every step.
        return Action.model_construct(kind="tool_calls" if calls else "malformed", calls=calls, errors=errors)

    answer = _ANSWER_RE.search(text)
    if answer is not None:
        return Action(kind="answer", answer=answer.group(1).strip())

    calls, error = _read_json_calls(text)
    if calls:
        return Action(kind="tool_calls", calls=calls, errors=[error] if error else [])
    if error:
        return Action(kind="malformed", errors=[error])

    for pattern in _PLAIN_ANSWER_RES:
        match = pattern.search(text)
        if match and match.group(1).strip():
            return Action(kind="answer", answer=_first_line(match.group(1)))
    return Action(kind="malformed", errors=[
        f"no tool call and no answer found: call a tool as {TOOL_CALL_OPEN}"
        '{"name": ..., "arguments": {...}}' f"{TOOL_CALL_CLOSE} or answer as {ANSWER_OPEN}...{ANSWER_CLOSE}"])


def _first_line(text: str) -> str:
    """The answer of a plain form: its first line, without emphasis or a sentence's closing full stop."""
    line = text.strip().splitlines()[0].strip().strip("*").strip()
    return line[:-1].rstrip() if line.endswith(".") else line


def _read_json_calls(text: str) -> tuple[list[ParsedCall], str | None]:
    """OpenAI-style JSON calls anywhere in the turn (bare or fenced); ([], None) when it holds no JSON call."""
    candidates = [m.group(1) for m in _FENCE_RE.finditer(text)] or [text]
    for candidate in candidates:
        value = _load_json(candidate.strip())
        if value is None:
            continue
        items = value.get("tool_calls") if isinstance(value, dict) and "tool_calls" in value else value
        items = items if isinstance(items, list) else [items]
        if not all(isinstance(i, dict) and ("name" in i or "function" in i) for i in items) or not items:
            continue
        calls, errors = [], []
        for n, item in enumerate(items, 1):
            call, error = _call_from_object(item, where=f"tool call {n}")
            if call is not None:
                calls.append(call)
            if error:
                errors.append(error)
        return calls, "; ".join(errors) or None
    return [], None


def _load_json(text: str) -> Any:
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError:
        return None
    return value


def _read_call(block: str, *, where: str) -> tuple[ParsedCall | None, str | None]:
    fenced = _FENCE_RE.search(block)
    body = fenced.group(1).strip() if fenced else block
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, f"{where} is not valid JSON ({exc.msg} at character {exc.pos})"
    return _call_from_object(value, where=where)


def _call_from_object(value: Any, *, where: str) -> tuple[ParsedCall | None, str | None]:
    if not isinstance(value, dict):
        return None, f"{where} must be a JSON object with \"name\" and \"arguments\""
    function = value.get("function") if isinstance(value.get("function"), dict) else value
    name = function.get("name")
    if not isinstance(name, str) or not name.strip():
        return None, f"{where} has no tool name (a \"name\" string)"
    arguments = function.get("arguments", function.get("parameters", {}))
    if isinstance(arguments, str):  # OpenAI sends the arguments as JSON text
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            return None, f"{where} ({name}): the arguments text is not valid JSON ({exc.msg})"
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return None, f"{where} ({name}): \"arguments\" must be a JSON object, got {type(arguments).__name__}"
    return ParsedCall.model_construct(name=name.strip(), arguments=arguments), None  # checked above
