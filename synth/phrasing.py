"""Words for what a tool of a server we did not write returns, taken from what the server publishes.

A server not built on our kit says nothing of what its results mean beyond its tool descriptions and,
sometimes, its output schema's field descriptions. This module turns those into noun phrases ("the
temperature in celsius", "the commit whose message is "Fix typo"", "the entity type") and the phrases into a
question a person would ask ("In the repository at /tmp/x, who is the author of the commit whose message is
"Fix typo"?"). A tool's name is never used; what cannot be put into words is refused (None), and the deriver
records why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dive.env.config import REDACTED
from dive.env.trace import ListedTool

from .values import CONTROL, FREE_TEXT, tokens

__all__ = ["REDACTED", "field_noun", "pick_phrase", "subject_phrase", "tool_noun"]

#: Leading verbs of tool descriptions ("Shows the commit logs" -> "the commit logs").
_VERBS = {"show", "shows", "return", "returns", "list", "lists", "get", "gets", "read", "reads", "fetch", "fetches",
          "retrieve", "retrieves", "open", "opens", "find", "finds", "search", "searches", "look", "looks", "query",
          "queries", "display", "displays", "give", "gives", "provide", "provides", "report", "reports", "describe",
          "describes", "compute", "computes", "calculate", "calculates", "choose", "select", "pick", "demonstrates",
          "demonstrate"}
#: Where a description's first clause stops being about what the tool returns.
_CLAUSE_END = re.compile(r"[.,;:\n(]| - | based on | along with | by their | using | that can | which | so that ")
#: Words that make a poor field noun on their own (a field named `from` or `to`).
BARE = {"from", "to", "by", "in", "of", "at", "on", "value", "data", "result", "results", "item", "items", "text"}
#: Field keys whose values are people: "Who is ..." rather than "What is ...".
_PEOPLE = {"author", "committer", "owner", "creator", "assignee", "maintainer", "reviewer", "user", "sender"}
#: Field keys that name the record they belong to: a record is "the commit "abc"" by them.
NAME_KEYS = {"name", "title", "label"}
MAX_NOUN_WORDS = 10


def _clean(text: str) -> str:
    text = " ".join(str(text).split()).strip().rstrip(".")
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _with_article(phrase: str) -> str:
    first = phrase.split(" ", 1)[0].lower()
    return phrase if first in ("the", "a", "an", "all", "each", "every") else f"the {phrase}"


def humanize(name: str) -> str:
    """'country_code' -> 'country code', 'entityType' -> 'entity type'."""
    return re.sub(r"[_\-\s]+", " ", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)).strip().lower()


def tool_noun(tool: ListedTool) -> str | None:
    """What a tool returns, as a noun phrase from its description's first clause ("Read the entire knowledge
    graph" -> "the entire knowledge graph"); None when the description gives none short enough."""
    text = " ".join((tool.description or "").split())
    clause = _CLAUSE_END.split(text, maxsplit=1)[0].strip()
    words = clause.split()
    while words and words[0].lower() in _VERBS:
        words = words[1:]
    if words and words[0].lower() in ("for", "up"):  # "Search for nodes", "Look up ..."
        words = words[1:]
    if words and words[0].lower() == "to":  # "up to ten resource links": a page of something, no fact
        return None
    if not words or len(words) > MAX_NOUN_WORDS or tool.name.lower() in clause.lower():
        return None
    return _with_article(_clean(" ".join(words)))


def schema_at(schema: dict[str, Any] | None, path: str) -> dict[str, Any] | None:
    node = schema or {}
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if not isinstance(node, dict):
            return None
        if part.startswith("["):
            node = node.get("items") or {}
        else:
            node = (node.get("properties") or {}).get(part)
            if node is None:
                return None
    return node if isinstance(node, dict) else None


def leaf_key(path: str) -> str:
    return re.sub(r"\[\d+\]", "", path.rsplit(".", 1)[-1])


def field_noun(tool: ListedTool, path: str, owner: str | None = None) -> str | None:
    """The noun of a result field: its output-schema description where short ("Temperature in celsius" -> "the
    temperature in celsius"), else its key in words ("entityType" -> "the entity type"; one item of a list of
    `observations` is "the observation"); an upper-case variable name becomes "the value of HOME". None when
    neither serves (a field named `from` with no description). `owner`: the noun of the record the field
    belongs to, which the question names next, so "the type of the entity" becomes "the type"."""
    key = leaf_key(path)
    if not key:
        return None
    if path.endswith("]"):  # one item of a list of values
        words = humanize(key)
        return None if words in BARE else f"the {item_noun(key, None)}"
    described = schema_at(tool.output_schema, path)
    description = _clean(described.get("description", "")) if described else ""
    if description and len(description.split()) <= MAX_NOUN_WORDS and not description.lower().startswith(
            ("an array", "a list", "list of", "array of", "whether")):
        noun = _with_article(description)
        if owner:
            noun = re.sub(rf" of (the|a|an) {re.escape(owner)}$", "", noun)
        return noun
    if key.isupper() or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_ -]*", key):
        return f"the value of {key}"
    words = humanize(key)
    if words in BARE or words.endswith("ed"):
        return None  # "the from", "the modified": no noun a person would say
    return f"the {words}"


def is_person(path: str) -> bool:
    return bool(tokens(leaf_key(path)) & _PEOPLE)


def item_noun(list_key: str, item: dict[str, Any] | None) -> str:
    """What one item of a list is called: the list's key made singular ("entities" -> "entity"), or, for the
    anonymous `items` of a parsed text result, the item's first field ("Commit: ..." records -> "commit")."""
    key = leaf_key(list_key)
    if key in ("items", "") and item:
        first = next(iter(item))
        return humanize(first)
    words = humanize(key).split()
    if not words:
        return "item"
    last = words[-1]
    if last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith(("sses", "ches", "shes", "xes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return " ".join([*words[:-1], last])


def plural_noun(list_key: str, item: Any) -> str:
    """A list's items in the plural, for a count: "entities", "commits", "observations"."""
    key = leaf_key(list_key)
    if key in ("items", "") and isinstance(item, dict) and item:
        noun = humanize(next(iter(item)))
        return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")
    return humanize(key)


def quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def pick_phrase(noun: str, item: dict[str, Any], keys: list[str], tool: ListedTool, list_path: str) -> str | None:
    """A list item described by the values of `keys` that no other item shares: 'the entity "Ada"', 'the commit
    whose message is "Fix typo"', 'the relation from "Ada" whose relation type is "works at"'."""
    parts: list[str] = []
    for key in keys:
        value = item[key]
        words = humanize(key)
        if key.lower() in NAME_KEYS and not parts:
            parts.append(f"{noun} {quote(value)}")
        elif words in BARE:
            parts.append(f"{noun if not parts else ''} {words} {quote(value)}".strip())
        else:
            lead = noun if not parts else "and"
            parts.append(f"{lead} whose {words} is {quote(value)}")
    return "the " + " ".join(parts) if parts else None


@dataclass
class Argument:
    """One argument of a call as the question shows it: a literal, or a phrase for a value that flowed in."""

    name: str
    value: Any
    description: str
    flowed: str | None = None
    """The phrase of the value that flowed in from another call ('the commit whose message is "x"')."""


def argument_noun(argument: Argument) -> str:
    """What an argument takes, in words: its description where short ("Choose city" -> "city"), else its name."""
    text = _clean(argument.description) if argument.description else ""
    words = text.split()
    while words and words[0].lower() in _VERBS | {"the", "a", "an"}:
        words = words[1:]
    if words and len(words) <= 3:
        return " ".join(words).lower()
    return humanize(argument.name)


def place_phrase(argument: Argument) -> str | None:
    """A folder or file argument as a place: 'the repo at /tmp/x' (its name without "path")."""
    if not isinstance(argument.value, str) or not argument.value.startswith("/"):
        return None
    words = [w for w in humanize(argument.name).split() if w not in ("path", "dir", "directory", "folder", "file")]
    noun = " ".join(words) or "folder"
    return f"the {noun} at {argument.value}"


def subject_phrase(arguments: list[Argument]) -> tuple[str | None, str | None]:
    """(where, what): the place the call looks in ('the repo at /tmp/x') and what it is about ('the city
    "Chicago"', or the phrase of a value that flowed in), from the call's arguments. Control arguments (a
    page size, an offset) and switches are left out: they say how to ask, not what about."""
    where: list[str] = []
    what: list[str] = []
    for argument in arguments:
        if argument.name.lower() in CONTROL or isinstance(argument.value, bool) or argument.value is None:
            continue
        searched = argument.name.lower() in FREE_TEXT
        if argument.flowed:
            what.append(f"matching {argument.flowed}" if searched else argument.flowed)
            continue
        place = place_phrase(argument)
        if place:
            where.append(place)
            continue
        value = argument.value[0] if isinstance(argument.value, list) and len(argument.value) == 1 else argument.value
        if isinstance(value, (dict, list)):
            raise Unphrasable(f"{argument.name} takes a structure")
        what.append(f"matching {quote(value)}" if searched else f"the {argument_noun(argument)} {quote(value)}")
    what = list(dict.fromkeys(what))  # one value given to two arguments is one thing
    return (" and ".join(dict.fromkeys(where)) or None), (" and ".join(what) or None)


class Unphrasable(ValueError):
    """What a call was given or found cannot be put into words from what its server publishes."""
