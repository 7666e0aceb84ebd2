"""The shared server kit: every domain declares its tools with it and no domain re-implements it."""

from .domain import DEFAULT_TOOL_TIMEOUT, TOOL_META_KEY, Domain, DomainServer, Example, ToolKind, ToolSpec
from .errors import ToolFailure, describe_exception
from .limits import MAX_ITEMS, MAX_RESULT_BYTES, MAX_TEXT_CHARS, clip_items, clip_text, truncation_marker
from .linger import Linger
from .meaning import Aggregates, Fact, Items, Meaning, Record, Statistics, Takes, no_facts
from .memo import Memo, content_key
from .paths import atomic_write, clone_file, clone_tree, relative_to_root, resolve_in_root
from .sessions import (DEFAULT_SESSION, ENDED_META_KEY, FRESH_META_KEY, OWNER_META_KEY, SESSION_META_KEY, CopyOnWrite,
                       SessionContext, SessionStore, memory_scratch)
from .world_facts import fold_name, world_rows, world_value

__all__ = [
    "DEFAULT_SESSION",
    "DEFAULT_TOOL_TIMEOUT",
    "MAX_ITEMS",
    "MAX_RESULT_BYTES",
    "MAX_TEXT_CHARS",
    "ENDED_META_KEY",
    "FRESH_META_KEY",
    "OWNER_META_KEY",
    "SESSION_META_KEY",
    "TOOL_META_KEY",
    "CopyOnWrite",
    "Domain",
    "DomainServer",
    "Example",
    "Fact",
    "Aggregates",
    "Statistics",
    "Items",
    "Linger",
    "Meaning",
    "Memo",
    "Record",
    "SessionContext",
    "SessionStore",
    "Takes",
    "ToolFailure",
    "ToolKind",
    "ToolSpec",
    "atomic_write",
    "clip_items",
    "clip_text",
    "clone_file",
    "clone_tree",
    "content_key",
    "describe_exception",
    "fold_name",
    "memory_scratch",
    "no_facts",
    "relative_to_root",
    "resolve_in_root",
    "truncation_marker",
    "world_rows",
    "world_value",
]
