"""The tool pool synthesis draws from: every listed tool, with its kind (declared or inferred)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from dive.env.trace import ListedTool

from .values import tokens

_RETRIEVAL_WORDS = {"get", "list", "search", "find", "read", "lookup", "look", "fetch", "query", "describe", "show",
                    "count", "browse", "open", "info", "stat", "stats", "head", "tail", "grep", "select", "load",
                    "inspect", "metadata", "schema", "sample", "locate", "nearest", "current"}
_PROCESSING_WORDS = {"convert", "compute", "calculate", "transform", "format", "parse", "render", "resize", "crop",
                     "rotate", "compare", "diff", "hash", "checksum", "encode", "decode", "sort", "filter", "merge",
                     "mix", "trim", "resample", "run", "evaluate", "eval", "lint", "validate", "check", "draw",
                     "generate", "create", "write", "make", "add", "subtract", "annotate", "extract", "summarize"}


def infer_kind(tool: ListedTool) -> str:
    """'retrieval' or 'processing' for a tool without DIVE metadata, from its name and description."""
    if tool.kind:
        return tool.kind
    name_words = tokens(tool.name)
    if name_words & _PROCESSING_WORDS and not name_words & _RETRIEVAL_WORDS:
        return "processing"
    if name_words & _RETRIEVAL_WORDS:
        return "retrieval"
    first = re.findall(r"[a-z]+", tool.description.lower())[:3]
    return "processing" if set(first) & _PROCESSING_WORDS else "retrieval"


@dataclass
class ToolCatalog:
    """Tools by the name a model calls them, with their kind and domain."""

    tools: dict[str, ListedTool]
    kinds: dict[str, str] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    """Tools left out for safety, with why (for the report)."""

    @classmethod
    def from_exposed(cls, exposed: dict[str, ListedTool], *, include_held_out: bool = False,
                     domains: set[str] | None = None, allow_writes: bool = False) -> ToolCatalog:
        """The tools to draw from. A tool that may change the user's data (a server not built on our kit, not
        annotated or vouched read-only) is left out unless `allow_writes`; a destructive one always is."""
        chosen: dict[str, ListedTool] = {}
        excluded: dict[str, str] = {}
        for name, tool in sorted(exposed.items()):
            if (tool.held_out and not include_held_out) or (domains is not None and tool.domain not in domains):
                continue
            if tool.destructive:
                excluded[name] = ("destructive (by its MCP annotations, or their default for a tool that writes): "
                                  "never called by synthesis")
            elif tool.changes_user_data and not allow_writes:
                excluded[name] = ("may change data: not annotated read-only (list it under \"readOnlyTools\" in "
                                  "the config if it only reads, or pass --allow-writes)")
            else:
                chosen[name] = tool
        return cls(chosen, {name: infer_kind(tool) for name, tool in chosen.items()}, excluded)

    def kind_of(self, name: str) -> str | None:
        return self.kinds.get(name)

    def domain_of(self, name: str) -> str:
        return self.tools[name].domain

    def domains(self) -> list[str]:
        return sorted({t.domain for t in self.tools.values()})

    def schema_hashes(self) -> dict[str, str]:
        return {name: tool.schema_hash for name, tool in self.tools.items()}


def toolset_key(toolset: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(toolset)).encode()).hexdigest()[:16]
