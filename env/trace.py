"""Typed records of listed tools and of tool calls: the one trace format the project writes and reads."""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, Field

TOOL_META_KEY = "dive/tool"  # mirrors dive.servers.kit.TOOL_META_KEY without importing the servers


def canonical_json(value: Any) -> str:
    """One canonical JSON text for a value (sorted keys, no spaces): what hashes are taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class ListedTool(BaseModel):
    """A tool as a server lists it, with its DIVE metadata where the server provides some."""

    server: str
    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=dict)
    output_schema: dict[str, Any] | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    annotations: dict[str, Any] = Field(default_factory=dict)
    """The tool's MCP annotations as listed (readOnlyHint, destructiveHint, idempotentHint, openWorldHint)."""

    @cached_property
    def schema_hash(self) -> str:
        """A hash of what a model sees of the tool: name, description and both schemas (taken once: every
        call's record carries it)."""
        payload = canonical_json([self.name, self.description, self.input_schema, self.output_schema])
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def dive(self) -> dict[str, Any]:
        """The tool's DIVE metadata (domain, kind, held_out, ...); empty for servers not built on our kit."""
        value = self.meta.get(TOOL_META_KEY)
        return value if isinstance(value, dict) else {}

    @property
    def domain(self) -> str:
        return str(self.dive.get("domain", self.server))

    @property
    def kind(self) -> Literal["retrieval", "processing"] | None:
        kind = self.dive.get("kind")
        return kind if kind in ("retrieval", "processing") else None

    @property
    def held_out(self) -> bool:
        return bool(self.dive.get("held_out", False))

    @property
    def writes(self) -> bool:
        """Whether a call may change data. Our kit's tools say so in their metadata (and write only their
        session's private copy of the world); any other tool writes unless it is annotated readOnlyHint=true."""
        if self.dive:
            return bool(self.dive.get("writes", False))
        return self.annotations.get("readOnlyHint") is not True

    @property
    def changes_user_data(self) -> bool:
        """A tool that writes to what its server holds for the user (a server not built on our kit)."""
        return self.writes and not self.dive

    @property
    def destructive(self) -> bool:
        """A tool that may destroy the user's data: MCP's default for one that writes, unless annotated
        destructiveHint=false."""
        return self.changes_user_data and self.annotations.get("destructiveHint") is not False


class ResultContent(BaseModel):
    """One content item of a tool result that holds more than text (an image, audio, an embedded resource, a
    resource link), kept in the server's order with the result's text items.

    Binary data (an image, audio, a blob resource) is written as its size and sha256, so a trace says what came
    back without carrying it; the data itself, base64 as the server sent it, stays in memory (`data`) for the
    call's chat message (DIVE-v0's `info["messages"]`) and is not written."""

    type: Literal["text", "image", "audio", "resource", "resource_link"]
    text: str | None = None
    """A text item's text, or an embedded text resource's text (in full)."""
    mime_type: str | None = None
    uri: str | None = None
    """An embedded resource's or a resource link's URI."""
    name: str | None = None
    """A resource link's name."""
    description: str | None = None
    """A resource link's description."""
    size: int | None = None
    """Bytes of binary data once decoded (None where the base64 does not decode), or a resource link's
    declared size."""
    sha256: str | None = None
    """The sha256 of the decoded binary data."""
    data: str | None = Field(default=None, exclude=True, repr=False)
    """The binary data, base64 as the server sent it; in memory only."""


class ToolCallRecord(BaseModel):
    """One tool call: what was asked, what came back, and how long it took."""

    index: int
    server: str
    tool: str
    arguments: dict[str, Any]
    result: dict[str, Any] | None = None
    """The structured result (`structuredContent`), when the tool returned one."""
    text: str = ""
    """The result's text content, joined."""
    content: list[ResultContent] = Field(default_factory=list)
    """Every content item in order, where the result holds more than text (images, audio, resources); empty for
    a result of text alone, which `text` holds."""
    is_error: bool = False
    error: str | None = None
    """Why the call failed: the tool's own error text, a timeout, or a dead server."""
    latency_ms: float = 0.0
    schema_hash: str | None = None

    def structured(self) -> dict[str, Any] | None:
        """The structured result or, for a result of text alone, what its text states where it has a plain
        structure (see `parse_text_result`); None for an error or free text."""
        if self.is_error:
            return None
        return self.result if self.result is not None else parse_text_result(self.text)


_KEY = re.compile(r"[A-Za-z][\w ()/.-]{0,39}")
_RULE = re.compile(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?")


def parse_text_result(text: str) -> dict[str, Any] | None:
    """What a text result states, where its text has a plain structure (as many servers answer in text):
    a JSON object (a JSON list becomes {"items": [...]}), a Markdown table ({"items": [row, ...]}), or
    `key: value` lines (at least two; a key seen again starts the next record, so repeated blocks become
    {"items": [...]}; lines of other shapes, such as a heading, are skipped). None for anything else."""
    stripped = text.strip()
    if not stripped:
        return None
    if stripped[0] in "{[":
        try:
            value = json.loads(stripped)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
        if isinstance(value, list):
            return {"items": value}
    lines = [line.strip() for line in stripped.splitlines() if line.strip()]
    table = [line for line in lines if line.startswith("|") and line.endswith("|")]
    if len(table) >= 3 and _RULE.fullmatch(table[1]):
        header = [cell.strip() for cell in table[0].strip("|").split("|")]
        rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
        return {"items": [dict(zip(header, row)) for row in rows if len(row) == len(header)]}
    records: list[dict[str, str]] = [{}]
    pairs = 0
    for line in lines:
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip().strip("'\"")
        if not sep or not value or not _KEY.fullmatch(key):
            continue
        name = "_".join(key.lower().split())
        if name in records[-1]:
            records.append({})
        records[-1][name] = value
        pairs += 1
    if pairs < 2:
        return None
    return records[0] if len(records) == 1 else {"items": records}


class Trace(BaseModel):
    """The calls of one session, in order."""

    session: str
    calls: list[ToolCallRecord] = Field(default_factory=list)

    def append(self, record: ToolCallRecord) -> None:
        self.calls.append(record)
