"""Reading a call's result through its tool's published meaning: the things it names and the facts it states.

A *thing* is a world entity or a workspace thing (a file, a page) that values stand for; a *known* thing
carries how a question describes it ("the capital of Chile") and where each of its keys came from, so a
later call can take it by any key it has. A *fact* is a value worth asking about, with the noun phrase that
says what it is ("the population of the capital of Chile"). Nothing a meaning does not declare is read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dive.env.trace import ListedTool, ToolCallRecord
from dive.world.ontology import BY_TABLE, TYPES, Attribute, EntityType, Relation, relation, type_of_columns

from .answers import format_answer, parse_number
from .values import Value

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Ends a value's source path when the value is the world entity id made from the field there ('CN' ->
#: 'country:CN'): 'call:3:rows[0].code@entity:country'.
ENTITY_ID_MARK = "@entity:"
#: Words after which a placeholder may take a whole noun phrase ('the size of {path}').
_LEADS_NOUN_PHRASE = {"of", "in", "to", "from", "at", "by", "and", "for", "with", "under", "on", "about", "between",
                      "serving", "within", "than", "as", "is", "whether", "near", "around"}
_VIA = re.compile(r"^(\w+)\((\w+)\) -> (\w+)\((\w+)\)$")


_NOUNS = {"csv_column": "column", "python_file": "Python file", "csv_file": "CSV file", "archive_member": "archive member",
          "media": "media file"}


def _noun_of(kind: str) -> str:
    """How a question names one thing of a type: 'city', 'chemical element', 'column'."""
    entity = TYPES.get(kind)
    return entity.noun if entity is not None else _NOUNS.get(kind, kind.replace("_", " "))


def _frame(template: str, taken: dict[str, Known]) -> tuple[str | None, dict[str, str]]:
    """When a phrase speaks of two things given to the call, one found in the other (a column of a file, a
    function defined in it), nesting one description in the other would say the outer one twice. The question
    then sets both up first ('the largest file under `data`, and the column of it with the fewest empty values')
    and the phrase names each 'that column', 'that file'. Returns (the set-up, argument -> name), or (None, {})."""
    placeholders = set(_PLACEHOLDER.findall(template))
    given = [(a, k) for a, k in taken.items() if a in placeholders]
    for inner_arg, inner in given:
        for outer_arg, outer in given:
            if inner is outer or inner.phrase == outer.phrase or not inner.phrase.endswith(f" {outer.phrase}"):
                continue
            inner_noun, outer_noun = _noun_of(inner.type), _noun_of(outer.type)
            if inner_noun == outer_noun:
                return None, {}
            return (f"{outer.phrase}, and {inner.phrase[:-len(outer.phrase)]}it",
                    {inner_arg: f"that {inner_noun}", outer_arg: f"that {outer_noun}"})
    return None, {}


def _label_key(label: str) -> str:
    """'Elevation (ft)' and 'elevation' alike: a label without its unit, in lower case."""
    return re.sub(r"\s*\(.*?\)\s*", " ", label).strip().lower()


def meaning_of(tool: ListedTool) -> dict[str, Any] | None:
    """A listed tool's published meaning, or None when its server publishes none."""
    meaning = tool.dive.get("meaning")
    return meaning if isinstance(meaning, dict) else None


@dataclass
class Known:
    """A thing found so far: its type, its keys (with where each came from) and how a question describes it."""

    type: str
    keys: dict[str, Value]
    """by ('id', 'name', 'entity_id', 'path', ...) -> the value, as found (its source says where)."""
    phrase: str
    """How a question names it: 'Santiago, Chile', 'the capital of Chile', '`logs/app.log`'."""
    depth: int
    """How many calls it takes to reach it (0: named by the question)."""
    calls: frozenset[int] = frozenset()
    """The calls whose results it was read from."""
    picked: dict[str, Any] | None = None
    """How it was chosen from a list, when it was (the list's path, the attribute, largest or smallest)."""
    about: Known | None = None
    """The world entity this thing is about, for a page or a file about one (the atlas page about Chile)."""
    workspace: str | None = None
    """For a workspace thing known by its path, the domain whose server's folder the path is in: another
    server's tools see another folder."""

    @property
    def identity(self) -> str:
        entity = TYPES.get(self.type)
        if entity is not None and entity.key in self.keys:
            return f"{self.type}:{self.keys[entity.key].value}"
        by, value = sorted(self.keys.items())[0]
        return f"{self.type}:{by}={value.value}"

    def key(self, by: str) -> Value | None:
        """The value of this thing's key `by` ('key' is the type's primary key), or None if not known."""
        entity = TYPES.get(self.type)
        if by == "key" and entity is not None:
            by = entity.key
        return self.keys.get(by)


@dataclass
class Fact:
    """A value worth asking about, read off one call's result."""

    call: int
    path: str
    value: Any
    phrase: str
    unit: str | None
    about: Known | None
    """The thing the fact is about (its phrase is inside this fact's), or None."""
    names: Known | None = None
    """The thing the value names, when it names one (the capital's city)."""
    kind: str = "field"
    """'field' (a value at `path`) or 'count' (the length of the complete list at `path`)."""
    plural: str | None = None
    """For counts: the plural noun phrase of what is counted ('airports serving Santiago, Chile')."""
    frame: str | None = None
    """What the question sets up first when the fact speaks of a thing and the thing it was found in, each then
    named 'that ...': 'the largest file under `data`, and the column of it with the fewest empty values'."""
    measured: bool = False
    """A tool's measurement of a workspace thing (a file's size, a tone's silence), not a world entity's attribute:
    zero then means the tool found nothing to measure."""


@dataclass
class Reading:
    """What one call's result says, through its tool's meaning."""

    things: list[Known] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)


def searched_as_text(takes: dict[str, Any]) -> bool:
    """Whether a published `takes` hands its thing's name to a text search (it sets `regex` false)."""
    return (takes.get("sets") or {}).get("regex") is False


def _figure(function: str, attribute: Attribute | None, plural: str) -> tuple[str, str | None] | None:
    """The phrase and unit of a figure over an attribute of the rows `plural` names ('the average elevation of the
    airports in Chile'), or None: a figure over text or codes, a column the ontology does not know, or a sum of
    what does not add up."""
    if attribute is None or attribute.most is None:
        return None
    phrases = {"avg": f"the average {attribute.phrase} of the {plural}",
               "median": f"the median {attribute.phrase} of the {plural}",
               "stdev": f"the sample standard deviation of the {attribute.phrase} of the {plural}",
               "max": f"the highest {attribute.phrase} among the {plural}",
               "min": f"the lowest {attribute.phrase} among the {plural}"}
    if attribute.additive:
        phrases["sum"] = f"the combined {attribute.phrase} of the {plural}"
    return (phrases[function], attribute.unit) if function in phrases else None


def render_literal(value: Any, by: str | None) -> str:
    """How a question writes a value it gives itself: paths and URLs in backticks, text in quotes."""
    if by == "path" and value in (".", ""):
        return "the workspace"  # the root of the folder a tool sees
    if by in ("path", "url"):
        return f"`{value}`"
    if isinstance(value, str):
        return f'"{value}"'
    return format_answer(value)


def _expand(node: Any, path: str) -> Iterator[tuple[str, Any, dict[str, Any] | None]]:
    """Every (concrete path, value, enclosing list item) a meaning path ('children[].rows') reaches."""
    parts = [p for p in re.split(r"\.", path) if p] if path else []

    def walk(current: Any, i: int, concrete: str, parent: dict[str, Any] | None) -> Iterator[tuple[str, Any, Any]]:
        if i == len(parts):
            yield concrete, current, parent
            return
        part = parts[i]
        many = part.endswith("[]")
        index = re.fullmatch(r"(\w+)\[(\d+)\]", part)
        name = part[:-2] if many else index.group(1) if index else part
        if not isinstance(current, dict) or name not in current:
            return
        nxt = current[name]
        where = f"{concrete}.{name}" if concrete else name
        if index:
            position = int(index.group(2))
            if not isinstance(nxt, list) or position >= len(nxt):
                return
            yield from walk(nxt[position], i + 1, f"{where}[{position}]", parent)
        elif many:
            if not isinstance(nxt, list):
                return
            for j, item in enumerate(nxt):
                yield from walk(item, i + 1, f"{where}[{j}]", item if isinstance(item, dict) else parent)
        else:
            yield from walk(nxt, i + 1, where, parent)

    yield from walk(node, 0, "", None)


def _resolve_type(declared: str | None, arguments: dict[str, Any], parent: dict[str, Any] | None,
                  items: Any = None) -> str | None:
    """'city' -> 'city'; '@table' -> the type whose table the argument names; '^table' -> a sibling field's;
    '~' -> the type whose columns the items have (a table of airports read from a CSV file)."""
    if not declared:
        return None
    if declared == "~":
        first = items[0] if isinstance(items, list) and items else None
        entity = type_of_columns(first) if isinstance(first, dict) else None
        return entity.name if entity else None
    if declared.startswith("@"):
        entity = BY_TABLE.get(str(arguments.get(declared[1:], "")))
        return entity.name if entity else None
    if declared.startswith("^"):
        entity = BY_TABLE.get(str((parent or {}).get(declared[1:], "")))
        return entity.name if entity else None
    return declared


def _entity_keys(entity: EntityType, row: dict[str, Any], prefix: str, call: int) -> dict[str, Value]:
    """The keys a row of `entity` gives its thing (its key columns, world entity id and name), each with where it
    was read: `prefix` + the row's field (a file's alias of the column where the row has that)."""
    keys = {by: Value(row[col], by, f"{prefix}{col}", call) for by in entity.keys
            for col in [entity.column(by, row)] if row.get(col) not in (None, "")}
    entity_id = entity.entity_id(row)
    if entity_id:
        keys["entity_id"] = Value(entity_id, "entity_id", f"{prefix}{entity.column(entity.entity_key or '', row)}"
                                  f"{ENTITY_ID_MARK}{entity.name}", call)
    if row.get("name"):
        keys.setdefault("name", Value(row["name"], "name", f"{prefix}name", call))
    return keys


def _attribute_facts(call: int, prefix: str, row: dict[str, Any], entity: EntityType, subject: Known, depth: int,
                     calls: frozenset[int], reading: Reading, skip: str | None = None) -> None:
    """The facts a record states of its entity, one per attribute; a value naming another entity (a city's
    country code) is read as that entity, described through this one ('the country of ...')."""
    for column, attribute in entity.attributes.items():
        value = row.get(column)
        if column == skip or value in (None, "") or isinstance(value, (dict, list, bool)):
            continue
        phrase = attribute.of(subject.phrase)
        names = None
        if attribute.refers_to in TYPES and attribute.by:
            names = Known(attribute.refers_to, {attribute.by: Value(value, attribute.by, f"call:{call}:{prefix}{column}",
                                                                   call)}, phrase, depth, calls)
            reading.things.append(names)
        reading.facts.append(Fact(call, f"{prefix}{column}", value, phrase, attribute.unit, subject, names))


class ResultReader:
    """Reads calls' results through their tools' meanings, describing things by what the evidence says of them."""

    def __init__(self, describe_arg: Any) -> None:
        self.describe_arg = describe_arg
        """(call, argument name) -> (phrase, Known or None, depth): how the question names an argument's value."""

    def read(self, record: ToolCallRecord, meaning: dict[str, Any], taken: dict[str, Known]) -> Reading:
        """The things and facts a call's result states. `taken`: argument -> the known thing it was given."""
        reading = Reading()
        result = record.result or {}
        if meaning.get("volatile") or record.is_error:
            return reading
        depth = 1 + max([k.depth for k in taken.values()] + [0])
        calls = frozenset({record.index}.union(*[k.calls for k in taken.values()]))
        for declared in meaning.get("records") or []:
            if declared.get("labelled"):
                self._labelled(record, declared, taken, depth, calls, reading)
                continue
            for path, row, parent in _expand(result, declared.get("path", "")):
                kind = _resolve_type(declared.get("type"), record.arguments, parent)
                if kind in TYPES and isinstance(row, dict):
                    self._record(record, path, row, TYPES[kind], taken, depth, calls, reading, parent)
        for declared in meaning.get("facts") or []:
            self._fact(record, declared, taken, depth, calls, reading)
        for declared in meaning.get("items") or []:
            self._items(record, declared, taken, depth, calls, reading)
        for declared in meaning.get("aggregates") or []:
            self._aggregates(record, declared, reading)
        for declared in meaning.get("statistics") or []:
            self._statistics(record, declared, reading)
        return reading

    # -- records -----------------------------------------------------------------------------------

    def _subject(self, record: ToolCallRecord, row: dict[str, Any], entity: EntityType, taken: dict[str, Known],
                 parent: dict[str, Any] | None, reading: Reading) -> tuple[str | None, Known | None]:
        """How to describe the entity a record is about: the thing the call was given, when it is that entity; the
        entity a foreign key of an earlier record named ('the country of ...'); else None."""
        for known in taken.values():  # the thing the call was given, known by any of its keys (a name, a code)
            if known.type == entity.name and any(by in row and row[by] == v.value for by, v in known.keys.items()):
                return known.phrase, known
        key = row.get(entity.key)
        if parent is not None and isinstance(parent.get("via"), str):
            match = _VIA.match(parent["via"])
            if match:  # a parent row: the row we were given names it through its foreign key
                child_table, column = match.group(1), match.group(2)
                child = BY_TABLE.get(child_table)
                for known in taken.values():
                    if child is not None and known.type == child.name:
                        attribute = child.attributes.get(column)
                        if attribute is not None:
                            return attribute.of(known.phrase), known
        for thing in reading.things:  # named by a fact of this very result
            mine = thing.key("key")
            if thing.type == entity.name and mine is not None and key is not None and mine.value == key:
                return thing.phrase, thing
        return None, None

    def _record(self, record: ToolCallRecord, path: str, row: dict[str, Any], entity: EntityType,
                taken: dict[str, Known], depth: int, calls: frozenset[int], reading: Reading,
                parent: dict[str, Any] | None) -> Known | None:
        phrase, basis = self._subject(record, row, entity, taken, parent, reading)
        if phrase is None:
            return None
        here = f"{path}." if path else ""
        keys = _entity_keys(entity, row, f"call:{record.index}:{here}", record.index)
        subject_depth = depth if basis is None or basis.depth < depth else basis.depth
        known = Known(entity.name, keys, phrase, subject_depth, calls)
        reading.things.append(known)
        _attribute_facts(record.index, here, row, entity, known, depth, calls, reading)
        return known

    def _labelled(self, record: ToolCallRecord, declared: dict[str, Any], taken: dict[str, Known], depth: int,
                  calls: frozenset[int], reading: Reading) -> None:
        """Facts of a table of [label, value] rows about one entity (a page's 'Facts'), labels as the ontology's."""
        kind = declared.get("type", "")
        given = taken.get(kind[1:]) if kind.startswith("=") else None
        subject = given.about if given is not None and given.about is not None else given
        if subject is None or subject.type not in TYPES:
            return
        entity = TYPES[subject.type]
        by_label = {_label_key(a.label or a.phrase): (column, a) for column, a in entity.attributes.items()}
        for path, rows, _parent in _expand(record.result or {}, declared.get("path", "")):
            if not isinstance(rows, list):
                continue
            for i, row in enumerate(rows):
                if not (isinstance(row, list) and len(row) == 2 and isinstance(row[0], str)):
                    continue
                found = by_label.get(_label_key(row[0]))
                value = row[1]
                if found is None or value in (None, "", "-"):
                    continue
                column, attribute = found
                if attribute.refers_to and attribute.by != "name" and not isinstance(value, str):
                    continue
                if attribute.unit and parse_number(value) is None:
                    continue
                phrase = attribute.of(subject.phrase)
                names = None
                if attribute.refers_to in TYPES:  # pages show the entity a value refers to by its name
                    names = Known(attribute.refers_to, {"name": Value(value, "name", f"call:{record.index}:{path}[{i}][1]",
                                                                      record.index)}, phrase, depth, calls)
                    reading.things.append(names)
                reading.facts.append(Fact(record.index, f"{path}[{i}][1]", value, phrase, attribute.unit, subject, names))

    # -- facts declared with a phrase --------------------------------------------------------------

    def _fact(self, record: ToolCallRecord, declared: dict[str, Any], taken: dict[str, Known], depth: int,
              calls: frozenset[int], reading: Reading) -> None:
        frame, named = _frame(declared.get("phrase", ""), taken)
        phrase = self._phrase(record, declared.get("phrase", ""), named)
        if phrase is None:
            return
        found = list(_expand(record.result or {}, declared.get("path", "")))
        if "[]" in declared.get("path", "") and len({repr(v) for _, v, _ in found}) > 1:
            return  # several values answer to one phrase ("the atlas page about X"): no definite description
        last = re.search(r" (?:of|in) \{(\w+)\}$", declared.get("phrase", ""))
        about = taken.get(last.group(1)) if last else None  # 'the number of lines in {path}': of the file given
        for path, value, _parent in found:
            if value in (None, "") or isinstance(value, (dict, list)):
                continue
            if isinstance(value, bool) and not phrase.startswith("whether "):
                continue  # a yes/no value is asked only as "whether ..."
            names = None
            if declared.get("refers_to"):
                by = declared.get("by") or "name"
                entity = next((k for k in taken.values() if k.type in TYPES), None)
                names = Known(declared["refers_to"], {by: Value(value, by, f"call:{record.index}:{path}", record.index)},
                              phrase, depth, calls, about=entity)
                reading.things.append(names)
            reading.facts.append(Fact(record.index, path, value, phrase, declared.get("unit"), about, names,
                                      frame=frame, measured=True))

    def _phrase(self, record: ToolCallRecord, template: str, named: dict[str, str] | None = None) -> str | None:
        """A phrase template with each {argument} replaced by how the question names its value (or as `named`
        says). A description ('the largest file under `logs`', 'that file') goes only where a noun phrase can
        ('the size of {path}'), not where a bare word is expected ('the average {column}')."""
        missing = False

        def fill(match: re.Match[str]) -> str:
            nonlocal missing
            described = (named or {}).get(match.group(1)) or self.describe_arg(record.index, match.group(1))
            before = re.findall(r"(\w+)\s*$", template[:match.start()])
            if described is None or (described.startswith(("the ", "that ")) and before
                                     and before[0] not in _LEADS_NOUN_PHRASE):
                missing = True
                return ""
            return described

        text = _PLACEHOLDER.sub(fill, template)
        return None if missing or not text.strip() else text

    # -- figures over rows ---------------------------------------------------------------------------

    def _rows(self, record: ToolCallRecord, table: str, filters: str) -> tuple[EntityType, str] | None:
        """The entity type of the rows a call's filters chose, and their plural phrase, where one equality on a
        foreign key chose them ('airports in Chile'); else None."""
        entity = BY_TABLE.get(str(record.arguments.get(table, "")))
        chosen = record.arguments.get(filters) or []
        if entity is None or len(chosen) != 1 or not isinstance(chosen[0], dict) or chosen[0].get("op", "=") != "=":
            return None
        rel = relation(entity.table, str(chosen[0].get("column", "")))
        parent = self.describe_arg(record.index, f"{filters}[0].value") if rel is not None else None
        return (entity, rel.plural.format(parent)) if rel is not None and parent is not None else None

    def _aggregates(self, record: ToolCallRecord, declared: dict[str, Any], reading: Reading) -> None:
        """Figures over the rows a relation picks ('the highest elevation among the airports in Chile'): a sum
        only of what adds up, and only values a person can write down (no float noise of a long sum)."""
        rows = self._rows(record, declared.get("table", ""), declared.get("filters", ""))
        if rows is None:
            return
        entity, plural = rows
        path = declared.get("path", "")
        for i, entry in enumerate((record.result or {}).get(path) or []):
            if not isinstance(entry, dict):
                continue
            function, column = entry.get(declared.get("function", "function")), entry.get(declared.get("column", "column"))
            value = entry.get(declared.get("value", "value"))
            if isinstance(value, bool) or not isinstance(value, (int, float)) or round(value, 2) != value:
                continue
            if function == "count" and column is None:
                if value < 2:
                    continue  # that one thing or none is related says little, and coincides often
                figure: tuple[str, str | None] | None = (f"the number of {plural}", None)
            else:
                figure = _figure(str(function), entity.attributes.get(column) if isinstance(column, str) else None,
                                 plural)
            if figure is not None:
                reading.facts.append(Fact(record.index, f"{path}[{i}].{declared.get('value', 'value')}", value,
                                          figure[0], figure[1], None))

    def _statistics(self, record: ToolCallRecord, declared: dict[str, Any], reading: Reading) -> None:
        """Figures over one column of the rows a relation picks, each at a field of its own ('the median population
        of the cities of Chile'); a figure inside a list only where the list holds one entry (not grouped)."""
        rows = self._rows(record, declared.get("table", "table"), declared.get("filters", "filters"))
        column = record.arguments.get(declared.get("column", "column"))
        if rows is None or not isinstance(column, str):
            return
        entity, plural = rows
        for path, function in (declared.get("figures") or {}).items():
            found = list(_expand(record.result or {}, re.sub(r"\[0\]", "[]", path)))
            figure = _figure(function, entity.attributes.get(column), plural)
            if len(found) != 1 or figure is None:
                continue
            value = found[0][1]
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                reading.facts.append(Fact(record.index, found[0][0], value, figure[0], figure[1], None))

    # -- lists ---------------------------------------------------------------------------------------

    def _items(self, record: ToolCallRecord, declared: dict[str, Any], taken: dict[str, Known], depth: int,
               calls: frozenset[int], reading: Reading) -> None:
        result = record.result or {}
        for path, items, parent in _expand(result, declared.get("path", "")):
            if not isinstance(items, list):
                continue
            holder = parent if declared.get("path", "").count("[]") else result
            total, flag = declared.get("total"), declared.get("complete_unless")
            if total:
                count = (holder or {}).get(total[1:]) if total.startswith("^") else result.get(total)
                complete = isinstance(count, int) and count == len(items) and (not flag or result.get(flag) is False)
            elif flag:
                complete = result.get(flag) is False
            else:
                complete = bool(declared.get("complete"))
            kind = _resolve_type(declared.get("type"), record.arguments, parent, items)
            if kind in TYPES and self._looked_up(record, declared, TYPES[kind]):
                if complete and len(items) == 1 and isinstance(items[0], dict):  # one thing by its name: its record
                    self._record(record, f"{path}[0]", items[0], TYPES[kind], taken, depth, calls, reading, None)
                continue
            plural, singular = self._list_phrase(record, declared, kind, holder, taken)
            if plural is None or not complete or not items:
                continue
            reading.facts.append(Fact(record.index, path, len(items), f"the number of {plural}", None, None,
                                      kind="count", plural=plural))
            if kind in TYPES:
                self._pick_entities(record, path, items, TYPES[kind], singular, plural, depth, calls, reading)
            elif declared.get("name") and (declared.get("attributes") or declared.get("categories")):
                self._pick_items(record, path, items, declared, singular, plural, depth, calls, reading)

    @staticmethod
    def _looked_up(record: ToolCallRecord, declared: dict[str, Any], entity: EntityType) -> bool:
        """Whether the list's filter looks one thing up by a name or key of its own (not a relation)."""
        filters = record.arguments.get(declared.get("filters") or "") or []
        return (len(filters) == 1 and isinstance(filters[0], dict) and filters[0].get("op", "=") == "="
                and filters[0].get("column") in ("name", *entity.keys))

    def _list_phrase(self, record: ToolCallRecord, declared: dict[str, Any], kind: str | None,
                     holder: dict[str, Any] | None, taken: dict[str, Known]) -> tuple[str | None, str | None]:
        """The list's plural noun phrase ('cities of Chile in the atlas') and one member's ('city of Chile')."""
        rel: Relation | None = None
        parent_phrase = None
        if declared.get("via"):
            via = (holder or {}).get(declared["via"][1:]) if declared["via"].startswith("^") else None
            match = _VIA.match(via) if isinstance(via, str) else None
            if match:
                rel = relation(match.group(1), match.group(2))
                parent_thing = next((k for k in taken.values() if rel is not None and k.type == rel.parent), None)
                parent_phrase = parent_thing.phrase if parent_thing else None
        elif declared.get("filters") and record.arguments.get(declared["filters"]):
            filters = record.arguments.get(declared["filters"]) or []
            table = str(record.arguments.get("table", ""))
            if len(filters) == 1 and isinstance(filters[0], dict) and filters[0].get("op", "=") == "=":
                rel = relation(table, str(filters[0].get("column", "")))
                if rel is not None:
                    parent_phrase = self.describe_arg(record.index, f"{declared['filters']}[0].value")
        elif declared.get("phrase"):
            if _frame(declared["phrase"], taken)[0] is not None:
                return None, None  # a list of a thing and the thing it is in: no description of a member reads well
            plural = self._phrase(record, declared["phrase"])
            if plural is None:
                return None, None
            plural = re.sub(r"^the\s+", "", plural)
            noun = TYPES[kind].noun if kind in TYPES else _noun_of(declared.get("name_type") or "item")
            return plural, f"{noun} among the {plural}"
        if rel is None or parent_phrase is None:
            return None, None
        return rel.plural.format(parent_phrase), rel.singular.format(parent_phrase)

    def _pick_entities(self, record: ToolCallRecord, path: str, items: list[Any], entity: EntityType, singular: str,
                       plural: str, depth: int, calls: frozenset[int], reading: Reading) -> None:
        """Entities a definite description picks out of a complete list: the only one ('the only airport serving
        Kumasi'), or a superlative ('the most populous city of Chile'); ties refused."""
        picks: list[tuple[int, str, dict[str, Any], str | None]] = []
        if len(items) == 1:
            picks.append((0, f"the only {singular}", {"list": path, "only": True}, None))
        for column, attribute in entity.attributes.items():
            numbers = [parse_number(i.get(column)) if isinstance(i, dict) else None for i in items]
            if not attribute.most or len(items) < 2 or any(n is None for n in numbers):
                continue
            for largest, adjective in ((True, attribute.most), (False, attribute.least)):
                best = max(numbers) if largest else min(numbers)  # type: ignore[type-var]
                if numbers.count(best) != 1 or not adjective:
                    continue
                phrase = (f"the {entity.noun} {adjective} among the {plural}" if adjective.startswith("with ")
                          else f"the {adjective} {singular}")
                picks.append((numbers.index(best), phrase, {"list": path, "by": column, "largest": largest}, column))
        for index, phrase, pick, column in picks:
            row = items[index]
            if not isinstance(row, dict):
                continue
            keys = _entity_keys(entity, row, f"call:{record.index}:{path}[{index}].", record.index)
            known = Known(entity.name, keys, phrase, depth, calls, pick)
            reading.things.append(known)
            if row.get("name"):
                reading.facts.append(Fact(record.index, f"{path}[{index}].name", row["name"], phrase, None, None, known))
            _attribute_facts(record.index, f"{path}[{index}].", row, entity, known, depth, calls, reading, skip=column)

    def _pick_items(self, record: ToolCallRecord, path: str, items: list[Any], declared: dict[str, Any],
                    singular: str, plural: str, depth: int, calls: frozenset[int], reading: Reading) -> None:
        """Plain items a definite description picks: the only one, or a superlative ('the file under `logs/` with
        the largest size'); ties refused."""
        name = declared["name"]
        units = declared.get("units") or {}
        attributes = declared.get("attributes") or {}
        picks: list[tuple[int, str, dict[str, Any], str | None]] = []
        # The one item of a list is a find, unless it is what the call was given (the text files 'under' a file).
        given = [v for v in record.arguments.values() if isinstance(v, str)]
        if len(items) == 1 and not (isinstance(items[0], dict) and items[0].get(name) in given):
            only = f"the only one of the {plural}" if " among the " in singular else f"the only {singular}"
            picks.append((0, only, {"list": path, "only": True}, None))
        for field_name, nouns in (declared.get("categories") or {}).items():
            sorts = [i.get(field_name) if isinstance(i, dict) else None for i in items]
            for index, sort in enumerate(sorts):
                if len(items) > 1 and sort in nouns and sorts.count(sort) == 1:  # the one chart among them
                    picks.append((index, f"the {nouns[sort]} among the {plural}",
                                  {"list": path, "by": field_name, "sort": sort}, None))
        for field_name, noun in attributes.items():
            # An item without the attribute has none to compare (a folder among files has no size of its own).
            numbers = [parse_number(i.get(field_name)) if isinstance(i, dict) else None for i in items]
            if len(items) < 2 or sum(n is not None for n in numbers) < 2:
                continue
            for largest in (True, False):
                measured = [n for n in numbers if n is not None]
                best = max(measured) if largest else min(measured)
                # 'the file with the largest size among the files under `logs`'; not the one of size 0 (an empty
                # file says nothing to the tools after it)
                if numbers.count(best) == 1 and (largest or best != 0):
                    head, among, rest = singular.partition(" among the ")
                    phrase = f"the {head} with the {'largest' if largest else 'smallest'} {noun}{among}{rest}"
                    picks.append((numbers.index(best), phrase, {"list": path, "by": field_name, "largest": largest},
                                  field_name))
        for index, phrase, pick, field_name in picks:
            item = items[index]
            if not isinstance(item, dict) or item.get(name) in (None, ""):
                continue
            value_path = f"{path}[{index}].{name}"
            names = None
            if declared.get("name_type"):
                by = declared.get("name_by") or "name"
                names = Known(declared["name_type"], {by: Value(item[name], by, f"call:{record.index}:{value_path}",
                                                                record.index)}, phrase, depth, calls, pick)
                reading.things.append(names)
            reading.facts.append(Fact(record.index, value_path, item[name], phrase, None, None, names))
            for other, other_noun in attributes.items():
                if other != field_name and item.get(other) is not None:
                    reading.facts.append(Fact(record.index, f"{path}[{index}].{other}", item[other],
                                              f"the {other_noun} of {phrase}", units.get(other), names,
                                              measured=True))
