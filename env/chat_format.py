"""The one tool-use chat format shared by DIVE-v0, training and evaluation.

Tools are offered in the system message as JSON schemas between `<tools>` tags; the model calls a tool
by writing `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (the Hermes/Qwen form, which many
chat templates already use), gets each result back between `<tool_response>` tags, and ends with
`<answer>...</answer>`. Chat templates that have their own tool support can render the same structured
messages (`info["messages"]`, `info["tools"]` in the env) their own way; for those that have none, the
renderings here are the format, so training data and the env's parser never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
TOOL_RESPONSE_OPEN, TOOL_RESPONSE_CLOSE = "<tool_response>", "</tool_response>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"

SYSTEM_INSTRUCTIONS = (
    "You are an agent that answers the user's question by calling tools. The tools you may call are "
    "described, as JSON schemas, between <tools> and </tools>:\n<tools>\n{tools}\n</tools>\n\n"
    "To call a tool, write a JSON object with the tool's name and its arguments between tool-call tags:\n"
    '<tool_call>\n{{"name": "tool_name", "arguments": {{"arg": "value"}}}}\n</tool_call>\n'
    "You may make several calls in one turn. Each result comes back between <tool_response> and "
    "</tool_response>. Use only values that you were given or that a tool returned. When you know the "
    "answer, write it, and nothing else, between answer tags: <answer>the answer</answer>."
)


def tool_schema(name: str, description: str, input_schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """A tool in the OpenAI function-calling form that chat templates take (`tools=`)."""
    return {"type": "function", "function": {"name": name, "description": description,
                                             "parameters": dict(input_schema or {"type": "object"})}}


def system_prompt(tools: Sequence[Mapping[str, Any]]) -> str:
    """The system message that offers `tools` (OpenAI-form schemas) in this format."""
    listed = "\n".join(json.dumps(t, ensure_ascii=False, sort_keys=True) for t in tools)
    return SYSTEM_INSTRUCTIONS.format(tools=listed)


def render_tool_call(name: str, arguments: Mapping[str, Any] | str) -> str:
    """One tool call as the model writes it."""
    if isinstance(arguments, str):  # OpenAI-form messages carry the arguments as JSON text
        try:
            arguments = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            pass
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"{TOOL_CALL_OPEN}\n{body}\n{TOOL_CALL_CLOSE}"


def render_tool_response(content: str) -> str:
    """One tool result (or error) as the model reads it."""
    return f"{TOOL_RESPONSE_OPEN}\n{content}\n{TOOL_RESPONSE_CLOSE}"


def render_answer(answer: str) -> str:
    """The final answer as the model writes it."""
    return f"{ANSWER_OPEN}{answer}{ANSWER_CLOSE}"


def assistant_text(message: Mapping[str, Any]) -> str:
    """The text of an assistant message: its content, then its tool calls in this format."""
    parts = [str(message.get("content") or "").strip()]
    for call in message.get("tool_calls") or []:
        function = call.get("function", call)
        parts.append(render_tool_call(function["name"], function.get("arguments", {})))
    return "\n".join(p for p in parts if p)


def to_plain_messages(messages: Iterable[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None
                      ) -> list[dict[str, str]]:
    """Structured chat messages (OpenAI form, with tool calls and tool results) as plain role/content text
    in this format, for chat templates without tool support.

    Tool calls move into the assistant's text; consecutive tool results become one user turn of
    `<tool_response>` blocks; `tools`, when given, are offered in a system message first.
    """
    plain: list[dict[str, str]] = []
    if tools is not None:
        plain.append({"role": "system", "content": system_prompt(tools)})
    for message in messages:
        role = message["role"]
        if role == "tool":
            block = render_tool_response(str(message.get("content") or ""))
            if plain and plain[-1]["role"] == "user" and plain[-1]["content"].startswith(TOOL_RESPONSE_OPEN):
                plain[-1]["content"] += "\n" + block
            else:
                plain.append({"role": "user", "content": block})
        elif role == "assistant":
            plain.append({"role": "assistant", "content": assistant_text(message)})
        elif role == "system" and plain and plain[0]["role"] == "system":
            plain[0]["content"] = f"{message.get('content') or ''}\n\n{plain[0]['content']}"
        else:
            plain.append({"role": role, "content": str(message.get("content") or "")})
    return plain


def render_transcript(messages: Iterable[Mapping[str, str]]) -> str:
    """Plain role/content messages as one readable text (the env's text observation)."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
