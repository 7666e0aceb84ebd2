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

    @classmethod
    def from_exposed(cls, exposed: dict[str, ListedTool], *, include_held_out: bool = False,
                     domains: set[str] | None = None) -> ToolCatalog:
        chosen = {name: tool for name, tool in sorted(exposed.items())
                  if (include_held_out or not tool.held_out) and (domains is None or tool.domain in domains)}
        return cls(chosen, {name: infer_kind(tool) for name, tool in chosen.items()})

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
