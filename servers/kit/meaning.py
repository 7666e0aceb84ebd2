"""What a tool's results mean: declared once with the tool, published in its MCP `_meta`.

Synthesis turns traces into questions with it, so a question speaks of what results *mean* ("the population
of Lyon, France") and never of how a tool shows them. A tool declares:

- `takes`: arguments that stand for a world entity or a workspace thing (a city by name, a table's row by its
  key, a file by path), so values of that type found by any tool, in any domain, can flow into them;
- `facts`: output fields worth asking about, each a noun phrase over the tool's arguments
  ("the number of functions defined in {path}"), with its unit and, when the value names an entity, its type;
- `records`: objects in the output that describe one world entity column by column (a database row, a city's
  profile): their fields are that entity's attributes as the world's ontology names them;
- `items`: lists of things, with what makes them complete (a count over a truncated page is never an answer);
- `aggregates`: figures computed over the rows of a table that filters chose (the combined population of the
  cities of Chile), each result entry naming its function and column;
- `statistics`: figures over one column of such rows, each at an output field of its own (the median
  population of the cities of Chile);
- `volatile`: results change between two identical calls (clocks, randomness, live data): never an answer;
- `none`: why no field of the result is a fact worth asking about (it echoes its input, it reports the tool's
  own work, it made a file whose name it chose).

Anything not declared is not an answer. Paths are dotted ('row.population'); '[]' crosses a list
('children[].rows'), '[0]' picks one item ('colors[0].name'). A type is an entity type ('city'), '@arg' (the type whose table the argument names),
'^field' (the type whose table a sibling field of the enclosing list item names), '=arg' (the entity the thing
given as the argument is about: the city a page given by URL describes) or '~' (for items: the type whose
columns they have, as the ontology's `file_columns` say: a CSV file's rows that list airports).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Takes:
    """An argument that stands for a thing: its type and which of its keys it takes."""

    type: str
    by: str = "name"
    """'name', 'key' (the type's primary key), a key column ('code', 'iata', 'symbol'), 'entity_id'
    ('city:2643743'), 'path' (a workspace file) or 'url'."""
    sets: dict[str, Any] = field(default_factory=dict)
    """Other arguments a call that takes the thing this way sets (a name searched for as text is searched
    literally, as whole words: {"regex": False, "whole_word": True})."""


@dataclass(frozen=True)
class Fact:
    """One output field worth asking about."""

    path: str
    phrase: str
    """A noun phrase over the tool's arguments: 'the population of {city}'."""
    unit: str | None = None
    refers_to: str | None = None
    """The type of thing the value names (so it can flow on), or None."""
    by: str | None = None


@dataclass(frozen=True)
class Record:
    """An object of the output that describes one world entity, its fields named as the ontology names them."""

    path: str
    type: str
    labelled: bool = False
    """The record is a list of [label, value] rows labelled as the ontology labels attributes ('Population',
    'Elevation (ft)'), such as a web page's fact table, rather than an object keyed by attribute."""


@dataclass(frozen=True)
class Items:
    """A list of things in the output."""

    path: str
    type: str | None = None
    """The type of each item (items are then records of it), '~' for the type their columns identify, or None for
    plain values."""
    phrase: str | None = None
    """A plural noun phrase over the arguments for the whole list: 'the files under {path}'."""
    filters: str | None = None
    """The argument holding database-style filters ({column, op, value}) that chose the items; equality on a
    foreign key describes the list by its relation ('the cities of Chile')."""
    via: str | None = None
    """A field naming the foreign key that chose the items ('cities(country_code) -> countries(code)')."""
    total: str | None = None
    """A field counting every item that qualifies: the list is complete when it holds that many."""
    complete_unless: str | None = None
    """A boolean field that is true when the list was cut ('truncated', 'has_more')."""
    complete: bool = False
    """The list is never cut: it always holds every item that qualifies."""
    name: str | None = None
    """The field of an item that names it (for 'which ...' answers), when items are not entity records."""
    name_type: str | None = None
    """What the `name` field names, as a `Takes` type ('file' by 'path'), so an item picked from the list can
    flow into tools that take such things."""
    name_by: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    """For items that are not entity records: item field -> noun phrase ('size_bytes' -> 'size'), the fields a
    question may compare items by or ask about."""
    units: dict[str, str] = field(default_factory=dict)
    """item field -> unit ('size_bytes' -> 'bytes')."""
    categories: dict[str, dict[str, str]] = field(default_factory=dict)
    """item field -> {value: noun}: a field that says what sort of thing an item is, so the one item of a sort
    in a list is 'the tone among the media files about iron'. A category is a label, never an answer."""


@dataclass(frozen=True)
class Aggregates:
    """Figures over the rows of a world table that database-style filters chose: the list at `path` holds one
    entry per figure, naming its function ('count', 'sum', 'avg', 'min', 'max'), its column and its value.
    Equality on a foreign key describes the rows by their relation ('the airports in Chile'), so the figure
    reads 'the highest elevation among the airports in Chile'."""

    path: str
    table: str
    """The argument naming the table."""
    filters: str
    """The argument holding the filters ({column, op, value})."""
    request: str
    """The argument listing the figures asked for ([{function, column}])."""
    function: str = "function"
    column: str = "column"
    value: str = "value"


@dataclass(frozen=True)
class Statistics:
    """Figures over one numeric column of the rows of a world table that database-style filters chose, each at
    an output field of its own: {'groups[0].median': 'median'} reads 'the median population of the cities of
    Chile'. A figure is 'sum', 'avg', 'min', 'max', 'median' or 'stdev' (the sample standard deviation)."""

    figures: dict[str, str]
    """Output path -> the figure found there."""
    table: str = "table"
    """The argument naming the table."""
    column: str = "column"
    """The argument naming the column."""
    filters: str = "filters"
    """The argument holding the filters ({column, op, value})."""


@dataclass(frozen=True)
class Meaning:
    """What a tool's results mean (see the module's docstring)."""

    takes: dict[str, Takes] = field(default_factory=dict)
    facts: tuple[Fact, ...] = ()
    records: tuple[Record, ...] = ()
    items: tuple[Items, ...] = ()
    aggregates: tuple[Aggregates, ...] = ()
    statistics: tuple[Statistics, ...] = ()
    volatile: bool = False
    none: str | None = None

    def __post_init__(self) -> None:
        if self.none is None and not (self.facts or self.records or self.items or self.aggregates or self.statistics
                                      or self.volatile):
            raise ValueError("a meaning declares facts, records, items or aggregates, or says why there are none "
                             "(`none`)")

    def check(self, tool: str, arguments: set[str], outputs: set[str]) -> None:
        """Refuse at start-up a meaning that names arguments or output fields the tool does not have."""
        for name, takes in self.takes.items():
            for argument in (name, *takes.sets):
                if argument not in arguments:
                    raise ValueError(f"tool {tool}: meaning takes {argument!r}, which is not an argument")
        for fact in self.facts:
            for placeholder in _PLACEHOLDER.findall(fact.phrase):
                if placeholder not in arguments:
                    raise ValueError(f"tool {tool}: phrase {fact.phrase!r} names {{{placeholder}}}, not an argument")
        for item in (*self.facts, *self.records, *self.items, *self.aggregates):
            head = re.split(r"[.\[]", item.path, maxsplit=1)[0]
            if head and head not in outputs:
                raise ValueError(f"tool {tool}: meaning path {item.path!r} is not in the output schema")
        for items in self.items:
            if items.filters and items.filters not in arguments:
                raise ValueError(f"tool {tool}: items filter on {items.filters!r}, which is not an argument")
        for figures in self.aggregates:
            for argument in (figures.table, figures.filters, figures.request):
                if argument not in arguments:
                    raise ValueError(f"tool {tool}: aggregates name {argument!r}, which is not an argument")
        for stats in self.statistics:
            for argument in (stats.table, stats.column, stats.filters):
                if argument not in arguments:
                    raise ValueError(f"tool {tool}: statistics name {argument!r}, which is not an argument")
            for path in stats.figures:
                if re.split(r"[.\[]", path, maxsplit=1)[0] not in outputs:
                    raise ValueError(f"tool {tool}: statistics path {path!r} is not in the output schema")

    def to_json(self) -> dict[str, Any]:
        """The published form (what `_meta["dive/tool"]["meaning"]` carries)."""
        out: dict[str, Any] = {}
        if self.takes:
            out["takes"] = {k: {f: x for f, x in asdict(v).items() if x != {}} for k, v in self.takes.items()}
        for name in ("facts", "records", "items", "aggregates", "statistics"):
            values = getattr(self, name)
            if values:
                out[name] = [{k: v for k, v in asdict(x).items() if v not in (None, {}, False)} for x in values]
        if self.volatile:
            out["volatile"] = True
        if self.none:
            out["none"] = self.none
        return out


def no_facts(reason: str, **takes: Takes) -> Meaning:
    """The meaning of a tool whose results carry no fact worth asking about, and why."""
    return Meaning(takes=dict(takes), none=reason)
