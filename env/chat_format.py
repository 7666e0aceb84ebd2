"""The one tool-use chat format shared by DIVE-v0, training and evaluation.

Tools are offered in the system message as JSON schemas between `<tools>` tags; the model calls a tool
by writing `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (the Hermes/Qwen form, which many
chat templates already use), gets each result back between `<tool_response>` tags, and ends with
`<answer>...</answer>`. Chat templates that have their own tool support can render the same structured
messages (`info["messages"]`, `info["tools"]` in the env) their own way; for those that have none, the
renderings here are the format, so training data and the env's parser never disagree.

A tool result that holds more than text (an image, audio, an embedded resource, a resource link) is read as
text with a marker line for each such item, `[image: image/png, 12,345 bytes]`, in the server's order; its
tool message's content is then a list of content parts (OpenAI form): those same texts, each image, audio or
binary resource following its marker in full, for chat templates that take them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .trace import ResultContent

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
    parts = [content_text(message.get("content")).strip()]
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
            block = render_tool_response(content_text(message.get("content")))
            if plain and plain[-1]["role"] == "user" and plain[-1]["content"].startswith(TOOL_RESPONSE_OPEN):
                plain[-1]["content"] += "\n" + block
            else:
                plain.append({"role": "user", "content": block})
        elif role == "assistant":
            plain.append({"role": "assistant", "content": assistant_text(message)})
        elif role == "system" and plain and plain[0]["role"] == "system":
            plain[0]["content"] = f"{content_text(message.get('content'))}\n\n{plain[0]['content']}"
        else:
            plain.append({"role": role, "content": content_text(message.get("content"))})
    return plain


def render_transcript(messages: Iterable[Mapping[str, str]]) -> str:
    """Plain role/content messages as one readable text (the env's text observation)."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


def content_text(content: str | Sequence[Mapping[str, Any]] | None) -> str:
    """A message's content as text: itself, or its text parts (a list of content parts), one per line."""
    if content is None or isinstance(content, str):
        return content or ""
    return "\n".join(str(part.get("text") or "") for part in content if part.get("type") == "text")


def result_marker(item: ResultContent) -> str:
    """The line a model reads for a result item that is not text: its kind, what it is, and its size."""
    if item.type == "resource_link":
        return "[resource link: " + ", ".join(str(f) for f in (item.uri, item.name, item.mime_type) if f) + "]"
    if item.type == "resource" and item.text is not None:
        size = f"{len(item.text):,} chars"
    else:
        size = f"{item.size:,} bytes" if item.size is not None else "data that is not valid base64"
    kind = "resource" if item.type == "resource" else item.type
    return f"[{kind}: " + ", ".join(str(f) for f in (item.uri, item.mime_type, size) if f) + "]"


def result_parts(items: Sequence[ResultContent], clip: Callable[[str], str],
                 structured: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """A tool result that holds more than text as content parts, in the server's order: each run of text items
    (or, for a structured result, its JSON instead), each other item's marker (a text resource's followed by its
    text), and after the marker of an image, audio or binary resource its data, base64 in full.

    `clip` shortens the result's texts as the observation does; `content_text` of the parts is the observation.
    """
    parts: list[dict[str, Any]] = []
    run: list[str] = []

    def end_run() -> None:
        if run:
            parts.append({"type": "text", "text": clip("\n".join(run))})
            run.clear()

    if structured is not None:
        parts.append({"type": "text", "text": clip(json.dumps(structured, ensure_ascii=False))})
    for item in items:
        if item.type == "text":
            if structured is None and item.text:  # a structured result's text is its JSON again
                run.append(item.text)
            continue
        end_run()
        marker = result_marker(item)
        if item.type == "resource" and item.text is not None:
            parts.append({"type": "text", "text": f"{marker}\n{clip(item.text)}"})
            continue
        parts.append({"type": "text", "text": marker})
        media = _media_part(item)
        if media is not None:
            parts.append(media)
    end_run()
    return parts


#: MIME subtypes whose OpenAI `input_audio` format has another name.
_AUDIO_FORMATS = {"mpeg": "mp3", "x-wav": "wav", "wave": "wav", "vnd.wave": "wav", "x-flac": "flac"}


def _media_part(item: ResultContent) -> dict[str, Any] | None:
    """The content part that carries an item's binary data; None where the data is not at hand (a record read
    back from JSON keeps only its size and hash)."""
    if item.data is None:
        return None
    mime = item.mime_type or "application/octet-stream"
    if item.type == "image":
        return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{item.data}"}}
    if item.type == "audio":
        subtype = mime.split("/", 1)[-1].split(";", 1)[0]
        return {"type": "input_audio", "input_audio": {"data": item.data, "format": _AUDIO_FORMATS.get(subtype, subtype)}}
    name = (item.uri or "").rstrip("/").rsplit("/", 1)[-1] or "resource"
    return {"type": "file", "file": {"file_data": f"data:{mime};base64,{item.data}", "filename": name}}
