"""The built-in explorer and deriver over tools that say what their results mean.

Exploration walks the world through tools: from the seed it calls a tool that takes such a thing, reads what
the result says (through the tool's published meaning), and goes on from a thing it found: a value that names
an entity (a country's capital), an entity picked from a complete list by a definite description (the most
populous city of a country), or a file a listing names. Values flow by type, so a city found in the database
can feed a tool of any domain that takes a city.

Derivation turns the deepest fact found into a question that says what the fact *is*, nesting the phrases of
the things it passed through ("the elevation, in feet, of the highest airport serving the most populous city of
Chile"), never a tool, a step or a result field.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections import Counter
from collections.abc import Callable
from typing import Any

from dive.env.trace import ListedTool
from dive.world import World
from dive.world.ontology import TYPES, relations_of

from .answers import normalise_text, parse_number
from .builtin import Evidence, Step, _freeze, compute_answer, solution_hops
from .catalog import ToolCatalog
from .meanings import Fact, Known, ResultReader, _noun_of, meaning_of, render_literal, searched_as_text
from .records import AnswerRule, Derivation, SeedEntity
from .sampling import yielded_kinds
from .values import CONTROL, Value

#: How many things of a list a tool is asked for, at most, so that lists come back complete.
_MAX_LIST = 200
#: Argument values a question may give in words (a column, an event name) or quoted (a key path).
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_ -]{0,39}")
_KEY_PATH = re.compile(r"[A-Za-z_][\w-]*(\.[\w-]+)+")


class WorldIndex:
    """What synthesis needs to know of the world to phrase and check questions: whether a name is unique
    among its type, how to name a seed, and other entities of a type to swap in."""

    def __init__(self, world: World | None) -> None:
        self.names: dict[str, Counter[str]] = {}
        self._in_other_names: set[tuple[str, ...]] = set()
        self.city_labels: Counter[tuple[str, str]] = Counter()
        self.country_names: dict[str, str] = {}
        self._values: dict[tuple[str, str], list[Any]] = {}
        self._named: dict[tuple[str, str, Any], str | None] = {}
        self._db = world.db_path if world is not None else None
        if self._db is None:
            return
        with sqlite3.connect(f"file:{self._db}?mode=ro", uri=True) as db:
            for entity in TYPES.values():
                columns = {row[1] for row in db.execute(f"PRAGMA table_info({entity.table})")}
                if "name" in columns:
                    self.names[entity.name] = Counter(normalise_text(n) for (n,) in db.execute(
                        f"SELECT name FROM {entity.table}"))
            self.city_labels = Counter(db.execute("SELECT name, country_code FROM cities"))
            self.country_names = dict(db.execute("SELECT code, name FROM countries"))
        # Names that text mentioning another thing contains too: part of a longer name ('Guinea' of 'Papua New
        # Guinea'), or the name of things of two types (the city and the country of Singapore).
        words = Counter(tuple(re.findall(r"\w+", name)) for counts in self.names.values() for name in counts)
        self._in_other_names = {name for name, n in words.items() if n > 1} | {
            name[i:j] for name in words for i in range(len(name)) for j in range(i + 1, len(name) + 1)
            if j - i < len(name)}

    def values(self, kind: str, by: str) -> list[Any]:
        """Up to 2,000 values of one key of a type ('city', 'id'), in key order (asked once each)."""
        entity = TYPES.get(kind)
        if entity is None or self._db is None:
            return []
        column = entity.key if by == "key" else entity.entity_key if by == "entity_id" else by
        if column not in {entity.key, *entity.keys, "name"} or column is None:
            return []
        if (kind, by) not in self._values:
            with sqlite3.connect(f"file:{self._db}?mode=ro", uri=True) as db:
                rows = [v for (v,) in db.execute(f"SELECT {column} FROM {entity.table} WHERE {column} IS NOT NULL "
                                                  f"ORDER BY {entity.key} LIMIT 2000")]
            self._values[(kind, by)] = [f"{kind}:{v}" for v in rows] if by == "entity_id" else rows
        return self._values[(kind, by)]

    def name_of(self, kind: str, by: str, value: Any) -> str | None:
        """The name of the entity of `kind` whose key `by` is `value`, or None."""
        entity = TYPES.get(kind)
        if entity is None or self._db is None or kind not in self.names:
            return None
        column = entity.key if by == "key" else by
        if column not in (entity.key, *entity.keys):
            return None
        if (kind, column, value) not in self._named:
            with sqlite3.connect(f"file:{self._db}?mode=ro", uri=True) as db:
                row = db.execute(f"SELECT name FROM {entity.table} WHERE {column} = ?", (value,)).fetchone()
            if len(self._named) > 100_000:
                self._named.clear()
            self._named[(kind, column, value)] = row[0] if row else None
        return self._named[(kind, column, value)]

    def unique_name(self, kind: str, name: Any) -> bool:
        """Whether exactly one entity of `kind` has this name (True for kinds without names in the world)."""
        counts = self.names.get(kind)
        return counts is None or counts.get(normalise_text(name), 0) == 1

    def mentioned_alone(self, name: Any) -> bool:
        """Whether text that mentions `name` (as whole words) can mention no other thing of the world."""
        return tuple(re.findall(r"\w+", normalise_text(name))) not in self._in_other_names

    def seed_label(self, seed: SeedEntity) -> str | None:
        """How a question names the seed, or None when no name of it is unique in the world."""
        if seed.type == "city":  # a city's name alone where it is unique, else with its country
            if self.unique_name("city", seed.name):
                return seed.name
            code = seed.attrs.get("country_code")
            if code and self.city_labels.get((seed.name, code), 0) == 1:
                return f"{seed.name}, {self.country_names.get(code, seed.attrs.get('country', code))}"
            return None
        if seed.type in ("customer", "order"):
            return None  # people's names repeat; orders have none
        if "path" in seed.attrs and seed.type not in TYPES:  # a workspace folder or file
            return render_literal(seed.attrs["path"], "path")
        if seed.type in self.names and not self.unique_name(seed.type, seed.name):
            return None
        return seed.name

    @staticmethod
    def descriptions(seed: SeedEntity) -> list[tuple[str, str]]:
        """The seed described by a key of its own that a tool must resolve rather than by its name ('the country
        whose three-letter ISO code is CHL'), with that key, one per such key it has."""
        entity = TYPES.get(seed.type)
        return [(f"the {entity.noun} whose {entity.attributes[by].phrase} is {seed.attrs[by]}", by)
                for by in _DESCRIBED_BY.get(seed.type, ())
                if entity is not None and seed.attrs.get(by) not in (None, "")]

    def alternative(self, kind: str, by: str, value: Any, rng: random.Random) -> Any:
        """Another valid value of the same type and key as `value` (for checking that a hop matters), or None."""
        values = self.values(kind, by)
        for _ in range(8 if len(values) > 1 else 0):
            other = rng.choice(values)
            if str(other) != str(value):
                return other
        return None


#: Keys that describe a seed instead of its name, for a share of tasks (DESCRIBED_SHARE): each identifies one
#: entity of its type, and only a tool tells which.
_DESCRIBED_BY = {"country": ("iso3",), "airport": ("iata", "icao"), "element": ("symbol", "number"),
                 "company": ("ticker",)}
DESCRIBED_SHARE = 0.5


def seed_known(seed: SeedEntity, label: str, described_by: str | None = None) -> Known:
    """The seed as a known thing: every key of it the question's naming makes available (only the describing
    key when the question describes the seed)."""
    if described_by is not None:
        return Known(seed.type, {described_by: Value(seed.attrs[described_by], described_by, f"seed:{described_by}",
                                                     None)}, label, 0)
    entity = TYPES.get(seed.type)
    if entity is None and seed.attrs.get("path"):  # a workspace thing, taken by its path
        return Known(seed.type, {"path": Value(seed.attrs["path"], "path", "seed:path", None)}, label, 0,
                     workspace=seed.domains[0] if seed.domains else None)
    keys: dict[str, Value] = {"name": Value(seed.name, "name", "seed:name", None),
                              "entity_id": Value(seed.id, "entity_id", "seed:id", None)}
    local = seed.id.split(":", 1)[-1]
    if entity is not None:
        for by in entity.keys:
            if by in seed.attrs and seed.attrs[by] not in (None, ""):
                keys[by] = Value(seed.attrs[by], by, f"seed:{by}", None)
        if entity.key not in keys and entity.entity_key == entity.key:
            keys[entity.key] = Value(int(local) if local.isdigit() else local, entity.key, f"seed:{entity.key}", None)
    return Known(seed.type, keys, label, 0)


_SUFFIXES = {"image": (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"), "audio": (".wav",),
             "python_file": (".py",), "csv_file": (".csv",), "markdown_file": (".md", ".markdown"),
             "log_file": (".log",), "archive": (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz"),
             "data_file": (".json", ".geojson", ".jsonl", ".ndjson", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf")}
#: Thing types that are kinds of workspace file: a file of the right suffix can go where one is taken.
FILE_KINDS = {"file", "media", *_SUFFIXES}


def _compatible(wanted: str, thing: Known) -> bool:
    """Whether an argument that takes a `wanted` thing accepts `thing` ('entity' takes any world entity by id; a
    file of the right suffix goes where an image, an audio file or a Python file is taken)."""
    if wanted == thing.type:
        return True
    if wanted == "entity":
        return thing.type in TYPES
    if wanted in FILE_KINDS and thing.type in FILE_KINDS:
        path = thing.keys.get("path")
        suffixes = _SUFFIXES.get(wanted)
        return path is not None and (suffixes is None or str(path.value).lower().endswith(suffixes))
    return False


def _takes_value(takes: dict[str, Any], thing: Known, domain: str | None) -> tuple[Value, dict[str, Any]] | None:
    """The key of `thing` an argument of a tool of `domain` declared as `takes` accepts, and arguments that go with
    it (a table). A path goes only to the tools of the server whose folder it is in."""
    kind, by = takes.get("type", ""), takes.get("by", "name")
    if by == "path" and thing.workspace is not None and domain != thing.workspace:
        return None
    extra: dict[str, Any] = {}
    if kind.startswith("@"):
        entity = TYPES.get(thing.type)
        if entity is None:
            return None
        extra[kind[1:]] = entity.table
    elif not _compatible(kind, thing):
        return None
    extra.update(takes.get("sets") or {})
    value = thing.key(by)
    return (value, extra) if value is not None else None


def _informative(tool: ListedTool) -> bool:
    meaning = meaning_of(tool)
    return (meaning is not None and not meaning.get("none") and not meaning.get("volatile")
            and not tool.dive.get("writes"))


#: A call to try: the thing it takes (None for a literal), the tool, arguments, their sources and their types.
Plan = tuple[Known | None, str, dict[str, Any], dict[str, Value], dict[str, str]]


class MeaningExplorer:
    """Explores a toolset from a seed by the tools' meanings, round by round (deeper or broader)."""

    def __init__(self, catalog: ToolCatalog, toolset: list[str], rng: random.Random, *, max_steps: int = 3,
                 misses: int = 3, index: WorldIndex | None = None, rounds: int | None = None,
                 avoid: frozenset[str] = frozenset()) -> None:
        self.catalog = catalog
        self.avoid = avoid
        """Tools a chain calls only where no other tool goes on (those of the chain a second walk's is compared
        with)."""
        self.rounds = rounds
        """How many rounds the walk will have (None: not known): before the last, tools that find things to go on
        from come first; in the last, tools that state facts."""
        self.index = index or WorldIndex(None)
        self.label = ""
        self.rng = rng
        self.max_steps = max_steps
        self.misses = misses
        # Tools whose results can say something: declared facts, not writing, not volatile.
        self.tools = {n: catalog.tools[n] for n in toolset if _informative(catalog.tools[n])}
        self.context: dict[str, list[Known]] = {}
        """A thing found -> the things given to the call that found it (a column -> its file)."""
        self.things: list[Known] = []
        """The things the walk has found (the evidence's), which a tool that takes two may take as the other."""

    def start(self, evidence: Evidence, label: str, described_by: str | None = None) -> None:
        evidence.things = self.things = [seed_known(evidence.seed, label, described_by)]
        self.label = label

    def takes(self, thing: Known) -> bool:
        """Whether a tool of the menu takes `thing` as it is known."""
        return bool(self._plans(thing))

    def _named_by_seed(self, thing: Known) -> bool:
        """Whether the seed's name, as the question gives it, names `thing` too ('Chile' in 'Santiago, Chile')."""
        if thing.depth < 1 or self.label == thing.phrase:
            return False
        name = thing.keys.get("name")
        name = name.value if name is not None else next(
            (n for by, v in thing.keys.items() if (n := self.index.name_of(thing.type, by, v.value))), None)
        words = re.findall(r"\w+", normalise_text(self.label))
        want = re.findall(r"\w+", normalise_text(name)) if name else []
        return bool(want) and any(words[i:i + len(want)] == want for i in range(len(words) - len(want) + 1))

    def _reader(self, evidence: Evidence) -> ResultReader:
        def describe(call: int, argument: str) -> str | None:
            given = evidence.given.get(call, {})
            if argument in given:
                return given[argument].phrase
            tool = self._listed(evidence, call)
            takes = (meaning_of(tool) or {}).get("takes", {}) if tool else {}
            value = evidence.calls[call].arguments.get(argument)
            by = (takes.get(argument) or {}).get("by")
            if by in ("path", "url") and isinstance(value, str):
                return render_literal(value, by)  # a workspace thing the question names itself
            if isinstance(value, str) and _PLAIN.fullmatch(value):
                return value.replace("_", " ")  # a column, an event, an algorithm: plain words
            if isinstance(value, str) and _KEY_PATH.fullmatch(value):
                return f'"{value}"'
            return None

        return ResultReader(describe)

    def _listed(self, evidence: Evidence, call: int) -> ListedTool | None:
        record = evidence.calls[call]
        return next((t for t in self.tools.values() if t.name == record.tool and t.server == record.server), None)

    def _owner(self, thing: Known, value: Value) -> Known:
        """The thing a plan's argument value is a key of: `thing`, a thing it was found in, or its sibling."""
        for known in [thing, *self.context.get(thing.identity, ()), *self.things]:
            if any(v is value for v in known.keys.values()):
                return known
        return thing

    def _plans(self, thing: Known) -> list[Plan]:
        """Calls that take `thing`: (the thing, tool, arguments set from it, their sources, their types)."""
        plans = []
        for tool_name, tool in self.tools.items():
            meaning = meaning_of(tool) or {}
            declared = meaning.get("takes") or {}
            domain = self.catalog.domain_of(tool_name)
            for argument, takes in declared.items():
                found = _takes_value(takes, thing, domain)
                if found is not None and searched_as_text(takes) and not self.index.mentioned_alone(found[0].value):
                    found = None  # a name searched for as text that also finds other things' mentions
                if found is not None:
                    value, extra = found
                    given, sources = {argument: value.value, **extra}, {argument: value}
                    types = {argument: f"{thing.type}/{takes.get('by', 'name')}"}
                    # The thing it was found in goes with it where the tool takes that too (the file of a column).
                    for other, other_takes in declared.items():
                        if other == argument:
                            continue
                        for outer in self.context.get(thing.identity, ()):
                            fit = _takes_value(other_takes, outer, domain)
                            if fit is not None and not fit[1]:
                                given[other], sources[other] = fit[0].value, fit[0]
                                types[other] = f"{outer.type}/{other_takes.get('by', 'name')}"
                                break
                    # A tool that takes two things of a kind (two files compared) takes a sibling as the other: a
                    # thing the same call picked out of the same list ('the largest and the smallest file under').
                    for other, other_takes in declared.items():
                        if other in given or other_takes.get("type") != takes.get("type"):
                            continue
                        for sibling in self.things:
                            fit = _takes_value(other_takes, sibling, domain)
                            if (sibling.calls == thing.calls and sibling.identity != thing.identity
                                    and fit is not None and not fit[1] and fit[0].value != value.value):
                                given[other], sources[other] = fit[0].value, fit[0]
                                types[other] = f"{sibling.type}/{other_takes.get('by', 'name')}"
                                break
                    plans.append((thing, tool_name, given, sources, types))
            for items in meaning.get("items") or []:
                if not items.get("filters"):
                    continue
                arg = f"{items['filters']}[0].value"
                entity = TYPES.get(thing.type)
                if entity is not None and thing.key("key") is None:  # known by its name or another key only
                    by, known = next(((b, v) for b, v in thing.keys.items() if b in ("name", *entity.keys)),
                                     ("", None))
                    if known is not None:
                        plans.append((thing, tool_name, {"table": entity.table, items["filters"]: [
                            {"column": by, "op": "=", "value": known.value}]}, {arg: known},
                                      {arg: f"{thing.type}/{by}"}))
                for rel in relations_of(thing.type):
                    value = thing.key(rel.by)
                    if value is None:
                        continue
                    plans.append((thing, tool_name, {"table": TYPES[rel.child].table,
                                         items["filters"]: [{"column": rel.column, "op": "=", "value": value.value}]},
                                  {arg: value}, {arg: f"{thing.type}/{rel.by}"}))
            for figures in meaning.get("aggregates") or []:
                plans.extend(self._figure_plans(thing, tool_name, figures))
            for figures in meaning.get("statistics") or []:
                plans.extend(self._figure_plans(thing, tool_name, figures, one_column=True))
        return plans

    def _figure_plans(self, thing: Known, tool_name: str, figures: dict[str, Any], *, one_column: bool = False
                      ) -> list[Plan]:
        """Figures over the entities related to `thing` (the airports in it, the cities of it): for `aggregates`,
        one or two of what their numbers add up to, average or reach at most and at least (`figures['request']`);
        for `statistics` (`one_column`), the figures of one of their amounts (`figures['column']`)."""
        plans: list[Plan] = []
        arg = f"{figures['filters']}[0].value"
        for rel in relations_of(thing.type):
            value, child = thing.key(rel.by), TYPES[rel.child]
            if value is None:
                continue
            amounts = [column for column, attribute in child.attributes.items() if attribute.most is not None]
            if one_column:
                if not amounts:
                    continue
                asked = {figures["column"]: self.rng.choice(amounts)}
            else:
                request = [{"function": "count"}]
                for column in amounts:
                    request += [{"function": f, "column": column} for f in ("avg", "max", "min")]
                    if child.attributes[column].additive:
                        request.append({"function": "sum", "column": column})
                asked = {figures["request"]: self.rng.sample(request, min(2, len(request)))}
            plans.append((thing, tool_name, {
                figures["table"]: child.table, **asked,
                figures["filters"]: [{"column": rel.column, "op": "=", "value": value.value}]},
                {arg: value}, {arg: f"{thing.type}/{rel.by}"}))
        return plans

    def _literal_plans(self) -> list[Plan]:
        """Calls on a workspace thing a tool's example names (a file, a folder, a page): where a walk can start
        when the seed leads nowhere."""
        plans = []
        for name, tool in self.tools.items():
            takes = (meaning_of(tool) or {}).get("takes") or {}
            for example in tool.dive.get("examples") or []:
                if not isinstance(example, dict):
                    continue
                given = {argument: example[argument] for argument, declared in takes.items()
                         if declared.get("by") in ("path", "url") and isinstance(example.get(argument), str)
                         and example[argument]}
                if given:  # every path of one example: two files compared are the example's pair
                    plans.append((None, name, given, {}, {}))
        return plans

    def _arguments(self, tool: ListedTool, given: dict[str, Any]) -> dict[str, Any] | None:
        """`given` completed from one of the tool's examples; lists asked for in full where the tool allows."""
        schema = tool.input_schema or {}
        props = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        takes = (meaning_of(tool) or {}).get("takes") or {}
        examples = [e for e in tool.dive.get("examples") or [] if isinstance(e, dict)]
        compatible = [e for e in examples if all(k in props for k in e)]
        example = self.rng.choice(compatible) if compatible else {}
        # An example made for another table or thing would mix its columns with ours: keep only what is generic.
        same_table = example.get("table") == given.get("table") if "table" in given else True
        if any(isinstance(v, str) and "pattern" in props.get(k, {}) and not re.search(props[k]["pattern"], v)
               for k, v in given.items()):
            return None  # a value the tool's schema refuses ('Class.method' where an identifier is asked)
        arguments = dict(given)
        # Only what the question can say is set: what the thing gives, what the tool requires (from its example),
        # and how much of a list to return. Everything else keeps its default, which the meaning's phrases assume.
        for param in props:
            if param in arguments:
                continue
            if param.lower() in CONTROL and "maximum" in props[param] and props[param].get("type") == "integer":
                if param.lower() in ("limit", "child_limit", "max_results", "max_items", "max_matches"):
                    arguments[param] = min(int(props[param]["maximum"]), _MAX_LIST)
                continue
            if param in required:
                if param not in example or not same_table or param in takes or _fixture(example[param]):
                    return None  # a thing the tool takes comes from the walk, never from a self-test example
                arguments[param] = example[param]
        return arguments

    async def explore_round(self, evidence: Evidence, round_no: int) -> list[Step]:
        """One round: from the things found last round (deeper) or from any found so far (broader)."""
        if not evidence.things:
            return []
        previous = [t for t in evidence.things if t.calls and max(t.calls) in
                    {s.call for s in evidence.steps if s.round == round_no - 1}]
        deeper = round_no > 0 and previous and self.rng.random() < 0.8
        pool = previous if deeper else list(evidence.things)
        # Prefer what lies deepest: the question grows by one described hop each time.
        pool.sort(key=lambda t: -t.depth)
        frontier = [t for t in pool if t.depth == pool[0].depth]
        self.rng.shuffle(frontier)
        seen = {(c.tool, _freeze(c.arguments)) for c in evidence.calls}
        made: list[Step] = []
        missed = 0
        budget = self.rng.randint(1, self.max_steps)
        others = [t for t in pool if t not in frontier[:4]] + [t for t in evidence.things if t not in pool]
        others.sort(key=lambda t: -t.depth)
        # The deepest things first; when none of them leads anywhere, anything found so far (broader).
        used = {c.tool for c in evidence.calls}
        last = self.rounds is not None and round_no >= self.rounds - 1

        def ordered(thing: Known) -> list[Plan]:
            # Tools the chain to the thing has not called first; of those, before the last round, tools that find
            # things to go on from (in the last, tools that state facts); then tools the walk has not called: a
            # chain of several tools, not one repeated.
            chain = self.avoid | {evidence.calls[h.call].tool for c in thing.calls for h in solution_hops(evidence, c)}
            plans = self._plans(thing)
            self.rng.shuffle(plans)
            plans.sort(key=lambda plan: (self.tools[plan[1]].name in chain,
                                         bool(yielded_kinds(self.tools[plan[1]].dive)) == last,
                                         self.tools[plan[1]].name in used))
            return plans

        deepest = [ordered(t) for t in frontier[:4]]
        # Of the deepest things, those a new tool can take first.
        deepest.sort(key=lambda plans: not plans or self.tools[plans[0][1]].name in used)
        starts: list[Any] = [*deepest, *(ordered(t) for t in others[:4])]
        if round_no == 0 and (not any(starts) or self.rng.random() < 0.15):
            literal = self._literal_plans()  # a workspace thing the question names itself (a file, a page)
            self.rng.shuffle(literal)
            starts.insert(0, literal)
        for plans in starts:
            for thing, name, given, sources, types in plans:
                if len(made) >= budget or missed >= self.misses:
                    return made
                tool = self.tools[name]
                arguments = self._arguments(tool, given)
                if arguments is None or (tool.name, _freeze(arguments)) in seen:
                    continue
                seen.add((tool.name, _freeze(arguments)))
                record = await evidence.session.call(name, arguments)
                taken = {a: self._owner(thing, v) for a, v in sources.items()} if thing is not None else {}
                evidence.given[record.index] = taken
                reading = self._reader(evidence).read(record, meaning_of(tool) or {}, taken)
                ok = not record.is_error and bool(reading.facts)
                picks = {a: k.picked for a, k in taken.items() if k.picked}
                inputs = list({id(k): k for k in taken.values()}.values())
                for found in reading.things:
                    self.context.setdefault(found.identity, inputs)
                    if "path" in found.keys and found.workspace is None:
                        found.workspace = self.catalog.domain_of(name)
                step = Step(record.index, round_no, sources, ok, types=types, picks=picks)
                evidence.steps.append(step)
                if not ok:
                    missed += 1
                    continue
                _keep_new(evidence, reading, self._named_by_seed)
                made.append(step)
            if made:
                break
        return made


def _keep_new(evidence: Evidence, reading: Any, named: Callable[[Known], bool]) -> None:
    """Add what a call found, less what loops back to a thing already known by a shorter description (the
    country of an airport of Chile is Chile) or that the seed's own name gives away (the country of
    "Santiago, Chile"): such a phrase only hides a thing the question already names."""
    shortest: dict[str, int] = {}
    for thing in evidence.things:
        shortest[thing.identity] = min(shortest.get(thing.identity, thing.depth), thing.depth)

    def loops(thing: Known | None) -> bool:
        return thing is not None and (shortest.get(thing.identity, thing.depth) < thing.depth or named(thing))

    for thing in reading.things:
        if thing.identity not in shortest and not named(thing):
            evidence.things.append(thing)
    for fact in reading.facts:
        if not loops(fact.about) and not loops(fact.names) and _answerable(fact):
            evidence.facts.append(fact)


def _answerable(fact: Fact) -> bool:
    """A value that names a thing is an answer only as the thing's name (a country code is a key, not an answer);
    a count is asked only of two or more (that a list holds one thing or none says little, and coincides often);
    text without a letter or digit (what OCR makes of a colour swatch: '>') says nothing."""
    if fact.kind == "count":
        return isinstance(fact.value, int) and fact.value >= 2
    if isinstance(fact.value, str) and not re.search(r"\w", fact.value):
        return False
    nothing = fact.measured or fact.phrase.startswith("the number of ")
    if fact.value == 0 and not isinstance(fact.value, bool) and nothing:
        return False  # "how many lines match" = 0, the size of an empty file: nothing found is no fact to ask about
    if fact.names is None:
        return True
    name = fact.names.keys.get("name")
    return name is not None and name.value == fact.value


# -- questions -----------------------------------------------------------------------------------

_WHAT = ["What is {np}?", "Find {np}.", "Tell me {np}.", "Could you look up {np}?", "I need to know {np}.",
         "Do you know {np}?"]
_WHAT_UNIT = ["What is {np}, in {unit}?", "In {unit}, what is {np}?", "How much is {np}, in {unit}?",
              "Give {np} in {unit}."]
_WHICH = ["Which {noun} is {np}?", "What is {np}?", "Name {np}.", "Which {noun} is {np}, by name?"]
_HOW_MANY = ["How many {plural} are there?", "Count the {plural}.", "What is the number of {plural}?",
             "How many {plural} are listed?"]
_CONTEXT = ["Take {inner}. {ask}", "Consider {inner}. {ask}", "Think of {inner}. {ask}", "First find {inner}. {ask}"]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]





def phrase_question(fact: Fact, things: list[Known], rng: random.Random) -> str:
    """A question asking for `fact`, in one of several forms; a long phrase becomes a context sentence."""
    np, unit = fact.phrase, fact.unit
    inner = fact.frame  # 'the largest file under `data`, and the column of it with the fewest empty values'
    deep = [t for t in things if t.depth >= 1 and len(t.phrase) > 12 and t.phrase != np and np.endswith(t.phrase)]
    if inner is None and deep and len(np) > 70:
        inner = max(deep, key=lambda t: len(t.phrase)).phrase
        np = np[: -len(inner)] + "it"
        # 'its population', but not 'its lowest area among the countries'
        np = re.sub(r"^the ((?:(?! of | among ).)+) of it$", r"its \1", np)
    if fact.kind == "count":
        plural = (fact.plural or "").removesuffix(" in the atlas")
        if inner and plural.endswith(inner):
            plural = plural[: -len(inner)] + "it"
        ask = rng.choice(_HOW_MANY).format(plural=plural)
    elif isinstance(fact.value, bool):
        ask = rng.choice(["Find out {np}.", "Tell me {np}.", "Can you check {np}?"]).format(np=np)
    elif fact.names is not None and fact.unit is None:
        noun = _noun_of(fact.names.type)
        if np.startswith(f"the {noun} with "):  # 'the company with the most employees among ...'
            ask = f"Which {noun} has {np[len(f'the {noun} with '):]}?"
        elif np.startswith("the ") and f" {noun}" in np:  # 'the lowest-lying airport in ...'
            ask = rng.choice(["Which is {np}?", "Name {np}.", "What is {np}?"]).format(np=np)
        else:
            ask = rng.choice(_WHICH).format(noun=noun, np=np)
    elif unit:
        ask = rng.choice(_WHAT_UNIT).format(np=np, unit=unit)
    else:
        ask = rng.choice(_WHAT).format(np=np)
    ask = _cap(ask)
    return rng.choice(_CONTEXT).format(inner=inner, ask=ask) if inner else ask


def derive_grounded(evidence: Evidence, round_no: int, rng: random.Random,
                    check: Callable[[Derivation], str | None] | None = None) -> Derivation | None:
    """The hardest question the evidence so far supports (the deepest fact, this round's first) that passes
    `check`, or None. Each refused question's reason goes to `evidence.refusals`."""
    this_round = {s.call for s in evidence.steps if s.ok and s.round == round_no}
    candidates, chains = _candidates(evidence)
    if not candidates:
        return None
    rng.shuffle(candidates)
    # This round's facts first; of those, the ones whose chain uses more distinct tools, then the deepest; facts
    # before counts (small counts say little).
    tools = {c: len({evidence.calls[h.call].tool for h in hops}) for c, hops in chains.items()}
    candidates.sort(key=lambda f: (f.call in this_round, tools[f.call], len(chains[f.call]), f.kind != "count"),
                    reverse=True)
    if rng.random() < COMPARE_SHARE:
        compared = _comparison(evidence, candidates, chains, round_no, rng, check)
        if compared is not None:
            return compared
    tried = 0
    for fact in candidates:
        if tried >= 8:
            break
        if _restates_pick(fact.phrase):
            continue
        hops = chains[fact.call]
        rule = AnswerRule(kind="count" if fact.kind == "count" else "field", call=fact.call, path=fact.path)
        try:
            answer = compute_answer(rule, evidence.calls[fact.call].result)
        except (KeyError, IndexError, TypeError):
            continue
        tried += 1
        question = phrase_question(fact, evidence.things, rng)
        structure = ("count" if fact.kind == "count" else "multi_hop" if len(hops) > 1 else "lookup")
        derivation = Derivation(round=round_no, question=question, answer=answer, hops=hops, rule=rule,
                                structure=structure)
        refused = check(derivation) if check else None
        if refused is None:
            return derivation
        evidence.refusals.append(refused)
    return None


def _candidates(evidence: Evidence) -> tuple[list[Fact], dict[int, list[Any]]]:
    """The facts of calls that succeeded, and each such call's solution chain."""
    ok_calls = {s.call for s in evidence.steps if s.ok}
    candidates = [f for f in evidence.facts if f.call in ok_calls]
    return candidates, {c: solution_hops(evidence, c) for c in {f.call for f in candidates}}


def derive_paired(evidence: Evidence, side: Evidence, round_no: int, rng: random.Random,
                  check: Callable[[Derivation], str | None] | None = None) -> Derivation | None:
    """A comparison of a thing the evidence found with one a second walk (`side`, in the same session) found from
    another seed: the two walks' findings join the evidence, and the question needs both chains."""
    evidence.steps += side.steps
    evidence.given.update(side.given)
    known = {t.identity for t in evidence.things}
    evidence.things += [t for t in side.things if t.identity not in known]
    evidence.facts += side.facts
    candidates, chains = _candidates(evidence)
    rng.shuffle(candidates)
    return _comparison(evidence, candidates, chains, round_no, rng, check, across={s.call for s in side.steps})


def _restates_pick(phrase: str) -> bool:
    """'The size of the file with the smallest size among the files under `logs`': the value the description
    compared, which the listing that picked the thing already gave; the hop after it adds nothing."""
    if not phrase.startswith("the "):
        return False
    return any(_picked_by(phrase, phrase[4:m.start()]) for m in re.finditer(r" (?:of|in) ", phrase))


def _picked_by(phrase: str, attribute: str) -> bool:
    """Whether a description picks its thing by `attribute` ('the file with the smallest size among ...')."""
    return re.search(rf" with the (?:largest|smallest) {re.escape(attribute)}(?: among |$)", phrase) is not None


#: Attributes of world entities that are amounts (they have superlatives), which comparisons may ask about.
_QUANTITIES = {a.phrase for t in TYPES.values() for a in t.attributes.values() if a.most}


def _comparative(most: str) -> str | None:
    """'farther north' of 'northernmost', 'more populous' of 'most populous', 'higher' of 'highest'; None where
    the superlative is a phrase ('with the most employees')."""
    if most.endswith("ernmost"):
        return f"farther {most[:-len('ernmost')]}"
    if most.startswith("most ") and " " not in most[5:]:
        return f"more {most[5:]}"
    if " " not in most and most.endswith("iest"):
        return most[:-4] + "ier"
    if " " not in most and most.endswith("est"):
        return most[:-3] + "er"
    return None


#: Attribute phrase -> how a question compares two things by it ('farther north' for latitude).
_COMPARATIVES = {a.phrase: c for t in TYPES.values() for a in t.attributes.values()
                 if a.most and (c := _comparative(a.most))}
#: The share of derivations that first try to compare two facts.
COMPARE_SHARE = 0.3


def _compared_attribute(fact: Fact) -> str | None:
    """What a comparison may ask of `fact`: the attribute it gives of its thing ('population' of 'the capital of
    Chile'), when that is an amount (not a code: 'calling code' 7 < 379) and not what picked the thing ('the most
    populous city' is more populous than the rest of its list by its description); else None."""
    about = fact.about
    if (fact.kind != "field" or about is None or isinstance(fact.value, bool) or parse_number(fact.value) is None
            or not fact.phrase.startswith("the ")
            or not fact.phrase.endswith((f" of {about.phrase}", f" in {about.phrase}"))
            or (about.picked or {}).get("by") == fact.path.rsplit(".", 1)[-1]):
        return None
    attribute = fact.phrase[len("the "):-len(f" of {about.phrase}")]  # ' in ' is as long as ' of '
    if _picked_by(about.phrase, attribute):
        return None  # picked by that very amount, as another tool measured it
    return attribute if fact.unit is not None or attribute.startswith("number of ") or attribute in _QUANTITIES \
        else None


def compared_thing(evidence: Evidence) -> Known | None:
    """The deepest thing the evidence gives an amount of (what a second thing of its type, found on another way,
    could be compared with): a world entity or a workspace file; or None."""
    about = [f.about for f in evidence.facts if f.about is not None and f.about.calls
             and (f.about.type in TYPES or f.about.type in FILE_KINDS) and _compared_attribute(f) is not None]
    return max(about, key=lambda thing: thing.depth) if about else None


def file_kind_of(kind: str, path: str) -> bool:
    """Whether a workspace file at `path` is a thing of `kind` (a '.py' file is a Python file)."""
    suffixes = _SUFFIXES.get(kind)
    return kind in FILE_KINDS and (suffixes is None or path.lower().endswith(suffixes))


def _siblings(a: Known, b: Known) -> bool:
    """Two workspace files one listing picked ('the largest and the smallest file under `logs`'): how their lines
    or words compare mostly follows from how they were picked (a file's measures grow with its size)."""
    return (a.type not in TYPES and a.picked is not None and b.picked is not None and a.calls == b.calls
            and a.picked.get("list") == b.picked.get("list"))


def _comparison(evidence: Evidence, facts: list[Fact], chains: dict[int, list[Any]], round_no: int,
                rng: random.Random, check: Callable[[Derivation], str | None] | None,
                across: set[int] | None = None) -> Derivation | None:
    """'Which has the greater population, the capital of Chile or the most populous city of Peru?': the same
    attribute of two different things, found by different calls, so the answer needs both chains. Things known
    by name are asked 'which'; others 'is it true that ... is greater than ...'. Ties are refused. With `across`,
    one of the two facts comes from those calls and the other does not (two walks compared)."""
    by_attribute: dict[tuple[str, str | None], list[tuple[Fact, Known]]] = {}
    for fact in facts:
        attribute = _compared_attribute(fact)
        if attribute is not None:
            by_attribute.setdefault((attribute, fact.unit), []).append((fact, fact.about))
    pairs = [(attribute, a, b) for (attribute, _), group in by_attribute.items() for a in group for b in group
             if a[0].call < b[0].call and a[1].type == b[1].type and a[1].identity != b[1].identity
             and (across is None or (a[0].call in across) != (b[0].call in across)) and not _siblings(a[1], b[1])]
    rng.shuffle(pairs)
    # The pairs whose chains use the most distinct tools first.
    pairs.sort(key=lambda pair: len({h.tool for h in [*chains[pair[1][0].call], *chains[pair[2][0].call]]}),
               reverse=True)
    for attribute, (a, first), (b, second) in pairs[:4]:
        if rng.random() < 0.5:  # either may be named first, so that a yes is no likelier than a no
            (a, first), (b, second) = (b, second), (a, first)
        hops = sorted({h.call: h for h in [*chains[a.call], *chains[b.call]]}.values(), key=lambda h: h.call)
        names = [first.keys.get("name"), second.keys.get("name")]
        named = [n.value for n in names if n is not None and isinstance(n.value, str)]
        named_both = len(named) == 2 and first.depth >= 1 and second.depth >= 1
        rule = AnswerRule(kind="compare", call=a.call, path=a.path, other_call=b.call, other_path=b.path,
                          names=named if named_both else None)
        try:
            answer = compute_answer(rule, evidence.calls[a.call].result, evidence.calls[b.call].result)
        except (KeyError, IndexError, TypeError):
            continue
        comparative = _COMPARATIVES.get(attribute)
        if named_both and comparative:
            question = rng.choice(["Which is {comparative}, {a} or {b}?", "Of {a} and {b}, which is {comparative}?"])
        elif named_both:
            question = rng.choice(["Which has the greater {attribute}, {a} or {b}?",
                                   "Of {a} and {b}, which has the greater {attribute}?"])
        elif comparative and rng.random() < 0.5:
            question = "Is {a} {comparative} than {b}?"
        elif attribute.startswith("number of "):  # 'Does `a.csv` have more lines than `b.csv`?'
            question = rng.choice(["Does {a} have more {counted} than {b}?",
                                   "Is it true that {pa} is greater than {pb}?"])
        else:
            question = rng.choice(["Is the {attribute} of {a} greater than that of {b}?",
                                   "Does {a} have a greater {attribute} than {b}?", "Is {pa} greater than {pb}?"])
        question = _cap(question.format(attribute=attribute, a=first.phrase, b=second.phrase, pa=a.phrase,
                                        pb=b.phrase, counted=attribute.removeprefix("number of "),
                                        comparative=comparative))
        derivation = Derivation(round=round_no, question=question, answer=answer, hops=hops, rule=rule,
                                structure="comparison")
        refused = check(derivation) if check else None
        if refused is None:
            return derivation
        evidence.refusals.append(refused)
    return None


def fixture_values(catalog: ToolCatalog) -> set[str]:
    """The self-test example values of every tool that are written for a test rather than found in the world (a
    pattern, a snippet of HTML, JSON or code): a question containing one was built from a fixture."""
    values: set[str] = set()
    for tool in catalog.tools.values():
        for example in tool.dive.get("examples") or []:
            if not isinstance(example, dict):
                continue
            values.update(value.strip().lower() for value in example.values() if _fixture(value))
    return values


_FIXTURE_SHAPE = re.compile(r"[?*\[\](){}<>\\|^$=;]")


def _fixture(value: Any) -> bool:
    """Whether an example's value was written for a test (a pattern, a snippet of HTML, JSON or code), not found
    in the world: no question may contain one, so no walk's call is made with one."""
    return isinstance(value, str) and len(value) >= 4 and _FIXTURE_SHAPE.search(value) is not None
