"""Questions from what results mean: what a synthesized set reads like, answers recomputed from the world's
SQLite database without the tools, and every verification check failing a task planted to break it."""

from __future__ import annotations

import random
import re
import sqlite3

import pytest

from dive.env.trace import ToolCallRecord
from dive.servers import domains
from dive.synth.builtin import Evidence, Step
from dive.synth.meanings import Known, ResultReader
from dive.synth.pipeline import SynthOptions, SynthWorker
from dive.synth.records import AnswerRule, Derivation, Hop, SeedEntity
from dive.synth.values import Value
from dive.synth.verify import skippable_hop, static_checks, verify_task
from dive.synth.walk import MeaningExplorer, WorldIndex
from dive.world.ontology import TYPES, relation
from tests.servers.files.files_support import mentions_by_file

_RECIPE = re.compile(r"\bstep \d+\b|\bthe result of\b", re.I)


def _tool_identifiers() -> set[str]:
    return {name for d in domains().values() for name in d.tools if "_" in name}


@pytest.fixture(scope="module")
def worker(world):
    w = SynthWorker(SynthOptions(domains=["web", "files", "database", "code", "media"], world=str(world.root),
                                 embedding_metrics=False))
    try:
        yield w
    finally:
        w.close()


@pytest.fixture(scope="module")
def synthesized(worker):
    return [line.task for line in worker.run(range(60)) if line.task is not None]


def test_questions_name_no_tool_step_or_result_field(synthesized):
    assert len(synthesized) >= 20, "too few tasks to judge"
    identifiers = _tool_identifiers()
    for task in synthesized:
        q = task.question
        assert not _RECIPE.search(q), q
        outside_quotes = re.sub(r"`[^`]*`|\"[^\"]*\"", "", q)
        named = [n for n in identifiers if re.search(rf"\b{re.escape(n)}\b", outside_quotes)]
        assert not named, f"{q!r} names {named}"
        assert q[0].isupper() and q.rstrip()[-1] in "?.", q


def test_multi_hop_tasks_need_every_hop_and_read_as_nested_phrases(synthesized):
    multi = [t for t in synthesized if len(t.solution) >= 2]
    assert multi, "no multi-hop task in 60 configs"
    for task in multi:
        hops, rule = task.derivation[-1].hops, task.derivation[-1].rule
        chained = any(source.startswith("call:") for hop in hops for source in hop.inputs.values())
        assert chained or (rule.kind == "compare" and rule.call != rule.other_call), task.question
        assert task.verification.accepted and task.verification.replayed


# -- answers recomputed from the world's database, not from the tools -------------------------------------------

def _sql_pick(db: sqlite3.Connection, rel, parent_key, by: str, largest: bool, column: str):
    table = TYPES[rel.child].table
    order = "DESC" if largest else "ASC"
    rows = db.execute(f"SELECT {column}, {by} FROM {table} WHERE {rel.column} = ? AND {by} IS NOT NULL "
                      f"ORDER BY {by} {order} LIMIT 2", (parent_key,)).fetchall()
    if len(rows) == 2 and rows[0][1] == rows[1][1]:
        return None  # a tie: no definite description
    return rows[0][0] if rows else None


@pytest.mark.parametrize("code", ["CL", "FR", "JP", "KE", "NZ", "PE"])
def test_superlatives_and_attributes_match_the_world_database(worker, world, code):
    """Explore from a country with the database's list tools, then check every fact about the country and about
    the city or airport a superlative picks out of it against SQL over the world's database."""
    seed = next(s for s in worker.seeds if s.id == f"country:{code}") if any(
        s.id == f"country:{code}" for s in worker.seeds) else None
    if seed is None:
        with sqlite3.connect(world.db_path) as db:
            name = db.execute("SELECT name FROM countries WHERE code = ?", (code,)).fetchone()[0]
        seed = SeedEntity(id=f"country:{code}", type="country", name=name, attrs={"code": code})

    async def explore() -> Evidence:
        evidence = Evidence(session=worker.pool.open_session(f"sql-{code}"), seed=seed)
        walker = MeaningExplorer(worker.catalog, ["find_rows", "get_row"], random.Random(1), max_steps=3, misses=5,
                                 index=worker.index)
        walker.start(evidence, seed.name)
        await walker.explore_round(evidence, 0)
        return evidence

    evidence = worker._portal.call(explore)
    checked = 0
    with sqlite3.connect(world.db_path) as db:
        for fact in evidence.facts:
            about = fact.about
            if about is None or fact.kind != "field":
                continue
            column = fact.path.rsplit(".", 1)[-1]
            if about.depth == 0 or about.identity == f"country:{code}":
                want = db.execute(f"SELECT {column} FROM countries WHERE code = ?", (code,)).fetchone()[0]
            elif about.picked:  # picked from the list of the country's cities or airports
                rel = relation(str(evidence.calls[fact.call].arguments.get("table")), "country_code")
                assert rel is not None
                want = _sql_pick(db, rel, code, about.picked["by"], about.picked["largest"], column)
            else:
                continue
            assert fact.value == want, f"{fact.phrase}: tools said {fact.value!r}, the database {want!r}"
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("code", ["CL", "JP"])
def test_figures_over_related_entities_match_the_world_database(worker, world, code):
    """Sums, averages, highs and lows over the cities or airports of a country, read from the aggregate tool, equal
    the same figure computed by SQL; each is phrased over the relation ('... among the airports in Chile')."""
    with sqlite3.connect(world.db_path) as db:
        name = db.execute("SELECT name FROM countries WHERE code = ?", (code,)).fetchone()[0]
    seed = SeedEntity(id=f"country:{code}", type="country", name=name, attrs={"code": code})

    async def explore() -> Evidence:
        evidence = Evidence(session=worker.pool.open_session(f"figures-{code}"), seed=seed)
        walker = MeaningExplorer(worker.catalog, ["aggregate"], random.Random(3), max_steps=3, misses=5,
                                 index=worker.index)
        walker.start(evidence, seed.name)
        for round_no in range(3):
            await walker.explore_round(evidence, round_no)
        return evidence

    evidence = worker._portal.call(explore)
    sql = {"sum": "sum", "avg": "avg", "max": "max", "min": "min", "count": "count"}
    checked = 0
    with sqlite3.connect(world.db_path) as db:
        for fact in evidence.facts:
            arguments = evidence.calls[fact.call].arguments
            entry = evidence.calls[fact.call].result["results"][int(fact.path.split("[")[1].split("]")[0])]
            table, where = arguments["table"], arguments["filters"][0]
            assert where["column"] == "country_code" and where["value"] == code
            column = entry["column"] or "*"
            want = db.execute(f"SELECT {sql[entry['function']]}({column}) FROM {table} WHERE country_code = ?",
                              (code,)).fetchone()[0]
            assert fact.value == pytest.approx(want), f"{fact.phrase}: tools said {fact.value!r}, SQL {want!r}"
            assert name in fact.phrase and ("airports in" in fact.phrase or "cities of" in fact.phrase), fact.phrase
            if entry["function"] == "sum":
                assert TYPES[relation(table, "country_code").child].attributes[entry["column"]].additive, fact.phrase
            checked += 1
    assert checked >= 2


def test_comparisons_need_both_chains_and_match_the_world_database(worker, world, monkeypatch):
    """'Which has the greater population, A or B?': the answer is the name of the thing whose value SQL over the
    world's database finds greater; the solution holds both chains; nothing compared was picked by that value."""
    from dive.synth import walk

    monkeypatch.setattr(walk, "COMPARE_SHARE", 1.0)
    monkeypatch.setattr(worker, "pools", {"database": worker.pools["database"]})  # walks among world entities
    tasks = [line.task for line in worker.run(range(200, 240)) if line.task is not None]
    compared = [t for t in tasks if t.derivation[-1].rule.kind == "compare"]
    assert len(compared) >= 3, [t.question for t in tasks]
    checked = 0
    with sqlite3.connect(world.db_path) as db:
        for task in compared:
            rule = task.derivation[-1].rule
            assert rule.call != rule.other_call
            calls = {hop.call for hop in task.derivation[-1].hops}
            assert {rule.call, rule.other_call} <= calls, task.question
            assert not _RECIPE.search(task.question) and task.question.endswith("?"), task.question
            column = rule.path.rsplit(".", 1)[-1]
            kinds = [t.attributes[column] for t in TYPES.values() if column in t.attributes]
            assert all(a.most for a in kinds), f"{task.question}: {column} is a code, not an amount"
            if rule.names is None:
                assert isinstance(task.answer, bool), task.question
                continue
            values = []
            for name in rule.names:
                rows = [r for entity in TYPES.values() if column in entity.attributes for r in db.execute(
                    f"SELECT {column} FROM {entity.table} WHERE name = ?", (name,))]
                values.append(rows[0][0] if len(rows) == 1 else None)
            if None in values:
                continue  # a name several rows share: the tools told them apart by key
            assert task.answer == rule.names[0 if values[0] > values[1] else 1], task.question
            assert task.answer not in task.question
            checked += 1
    assert checked >= 1


def test_rows_of_a_csv_file_listing_the_worlds_cities_are_cities_that_flow_on(worker):
    """A CSV file whose columns are a world table's (a city report's geonameid and population) lists entities of
    that type: the most populous row is a city, keyed by its geonameid, which tools of any domain can take.
    A table of something else is no list of entities."""
    reader = ResultReader(lambda call, arg: "`reports/south-america/CL_cities.csv`")
    meaning = next(d for d in domains().values() if "csv_query" in d.tools).tools["csv_query"].meaning.to_json()
    rows = [{"geonameid": 3871336, "name": "Santiago", "admin1": "Santiago Metropolitan", "population": 4837295,
             "latitude": -33.45694, "longitude": -70.64827, "timezone": "America/Santiago"},
            {"geonameid": 3868626, "name": "Valparaíso", "admin1": "Valparaíso", "population": 282448,
             "latitude": -33.03932, "longitude": -71.62725, "timezone": "America/Santiago"}]
    result = {"path": "reports/south-america/CL_cities.csv", "columns": list(rows[0]), "rows": rows, "matched": 2,
              "offset": 0, "has_more": False}
    reading = reader.read(_record(1, "csv_query", {"path": result["path"], "limit": 200}, result), meaning, {})
    city = next(t for t in reading.things if t.phrase.startswith("the most populous city among the rows of"))
    assert city.type == "city" and city.keys["id"].value == 3871336
    assert city.keys["id"].source == "call:1:rows[0].geonameid" and city.keys["entity_id"].value == "city:3871336"
    assert not any(f.path == "rows[0].population" and f.about is city for f in reading.facts)  # picked by it
    walker = MeaningExplorer(worker.catalog, ["related_rows", "find_media"], random.Random(0))
    assert {plan[1] for plan in walker._plans(city)} == {"related_rows", "find_media"}
    weather = {"path": "data/weather_seattle.csv", "columns": ["date", "temp_max"], "matched": 2, "offset": 0,
               "has_more": False, "rows": [{"date": "2012-01-01", "temp_max": 12.8}, {"date": "2012-01-02", "temp_max": 10.6}]}
    plain = reader.read(_record(2, "csv_query", {"path": weather["path"]}, weather), meaning, {})
    assert not any(t.type in TYPES for t in plain.things)


def test_one_item_of_its_sort_is_picked_and_the_sort_is_no_answer():
    reader = ResultReader(lambda call, arg: "iron")
    record = _record(1, "find_media", {"entity_id": "element:Fe"}, {"matches": [
        {"path": "audio/tone_iron.wav", "kind": "tone", "entity_id": "element:Fe"},
        {"path": "text/element-iron.png", "kind": "text_image", "entity_id": "element:Fe"}], "total": 2,
        "truncated": False})
    meaning = next(d for d in domains().values() if "find_media" in d.tools).tools["find_media"].meaning.to_json()
    reading = reader.read(record, meaning, {})
    phrases = {t.phrase: t.keys["path"].value for t in reading.things}
    assert phrases == {"the tone among the media files about iron": "audio/tone_iron.wav",
                       "the image of text among the media files about iron": "text/element-iron.png"}
    assert not any(f.value in ("tone", "text_image") for f in reading.facts)


# -- each check fails a task planted to break it ----------------------------------------------------------------

def _record(index: int, tool: str, arguments: dict, result: dict) -> ToolCallRecord:
    return ToolCallRecord(index=index, server="database", tool=tool, arguments=arguments, result=result)


def test_a_page_limited_list_is_never_counted_and_ties_pick_nothing():
    reader = ResultReader(lambda call, arg: "Chile")
    country = Known("country", {"code": Value("CL", "code", "seed:code", None)}, "Chile", 0)
    meaning = {"items": [{"path": "rows", "type": "@table", "filters": "filters", "total": "total_matches"}]}
    rows = [{"id": i, "name": f"C{i}", "population": 100, "country_code": "CL"} for i in range(3)]
    arguments = {"table": "cities", "filters": [{"column": "country_code", "op": "=", "value": "CL"}]}
    cut = _record(0, "find_rows", arguments, {"rows": rows, "total_matches": 98, "truncated": True})
    assert ResultReader(lambda c, a: "Chile").read(cut, meaning, {"filters[0].value": country}).facts == []
    tied = _record(1, "find_rows", arguments, {"rows": rows, "total_matches": 3, "truncated": False})
    reading = reader.read(tied, meaning, {"filters[0].value": country})
    assert [f.kind for f in reading.facts] == ["count"] and reading.facts[0].value == 3
    assert not [t for t in reading.things if t.picked], "a tie picked a city"


def test_a_volatile_tool_gives_no_answer():
    record = _record(0, "clock", {}, {"now": "2026-12-07T06:44:00Z"})
    meaning = {"facts": [{"path": "now", "phrase": "the current time"}], "volatile": True}
    assert ResultReader(lambda c, a: None).read(record, meaning, {}).facts == []


def _planted(worker, question: str, sources: dict, types: dict, rule: AnswerRule,
             calls: list[tuple]) -> tuple[Evidence, Derivation]:
    """A derivation over calls made for real in a fresh session, with the given provenance (its answer unset)."""
    async def make():
        evidence = Evidence(session=worker.pool.open_session("planted"), seed=SeedEntity(
            id="country:CL", type="country", name="Chile"))
        for tool, arguments in calls:
            await evidence.session.call(tool, arguments)
        for i, _ in enumerate(calls):
            evidence.steps.append(Step(i, 0, sources.get(i, {}), True, types=types.get(i, {})))
        hops = [Hop(call=i, tool=calls[i][0], inputs={p: v.source for p, v in sources.get(i, {}).items()},
                    types=types.get(i, {})) for i in range(len(calls))]
        return evidence, Derivation(round=0, question=question, answer=None, hops=hops, rule=rule, structure="x")

    return worker._portal.call(make)


def test_a_skippable_hop_is_found(worker):
    """The second call's answer (the table it read) does not depend on the country code that flowed into it."""
    code = Value("CL", "code", "call:0:row.code", 0)
    evidence, derivation = _planted(
        worker, "Which table lists the cities of the country Chile?",
        {0: {"key": Value("CL", "code", "seed:code", None)}, 1: {"filters[0].value": code}},
        {0: {"key": "country/key"}, 1: {"filters[0].value": "country/code"}},
        AnswerRule(kind="field", call=1, path="table"),
        [("get_row", {"table": "countries", "key": "CL"}),
         ("find_rows", {"table": "cities", "filters": [{"column": "country_code", "op": "=", "value": "CL"}]})])
    derivation = derivation.model_copy(update={"answer": "cities"})
    reason, checked = worker._portal.call(skippable_hop, derivation, evidence, worker.pool, worker.index.alternative,
                                          random.Random(0))
    assert reason == "hop_not_needed" and checked >= 2
    # The same chain asking for the number of cities does depend on the country.
    counted = derivation.model_copy(update={"answer": evidence.calls[1].result["total_matches"],
                                            "rule": AnswerRule(kind="field", call=1, path="total_matches")})
    reason, _ = worker._portal.call(skippable_hop, counted, evidence, worker.pool, worker.index.alternative,
                                    random.Random(0))
    assert reason is None


def _offering(*values):
    """An `alternative` that offers these values in turn (then none)."""
    offered = iter(values)
    return lambda kind, by, value, rng: next(offered, None)


def test_a_swap_the_chain_cannot_take_proves_nothing(worker):
    """A key the table cannot take (two values for a one-column key) breaks the chain: that is no sign the hop
    matters. The codes that work all give the same answer (the table read), so the hop is skippable all the same."""
    evidence, derivation = _planted(
        worker, "Which table holds Chile's row?", {0: {"key": Value("CL", "code", "seed:code", None)}},
        {0: {"key": "country/key"}}, AnswerRule(kind="field", call=0, path="table"),
        [("get_row", {"table": "countries", "key": "CL"})])
    derivation = derivation.model_copy(update={"answer": "countries"})
    reason, checked = worker._portal.call(skippable_hop, derivation, evidence, worker.pool, _offering(["CL", "PE"], "AR", "PE"),
                                          random.Random(0))
    assert reason == "hop_not_needed" and checked == 3


def test_a_comparison_needs_a_hop_whose_swap_changes_a_value_compared(worker):
    """'Is Chile more populous than Peru?' stays 'no' with Ecuador or Bolivia in Chile's place, yet the first call
    matters: the population compared changes. A hop that changes neither value is skippable."""
    calls = [("get_row", {"table": "countries", "key": "CL"}), ("get_row", {"table": "countries", "key": "PE"})]
    sources = {0: {"key": Value("CL", "code", "seed:code", None)}, 1: {"key": Value("PE", "code", "seed:code", None)}}
    types = {0: {"key": "country/key"}, 1: {"key": "country/key"}}
    rule = AnswerRule(kind="compare", call=0, path="row.population", other_call=1, other_path="row.population")
    evidence, derivation = _planted(worker, "Is Chile more populous than Peru?", sources, types, rule, calls)
    populations = [evidence.calls[i].result["row"]["population"] for i in (0, 1)]
    derivation = derivation.model_copy(update={"answer": populations[0] > populations[1]})
    reason, _ = worker._portal.call(skippable_hop, derivation, evidence, worker.pool, _offering("EC", "BO"),
                                    random.Random(0))
    assert reason is None
    # Reading the compared values off the same call twice: the second call's input changes nothing compared.
    same = derivation.model_copy(update={"rule": rule.model_copy(update={"other_call": 0}), "answer": False})
    reason, _ = worker._portal.call(skippable_hop, same, evidence, worker.pool, _offering("EC", "BO", "AR", "UY"),
                                    random.Random(0))
    assert reason == "hop_not_needed"


def test_an_ambiguous_name_and_a_fixture_are_refused(worker):
    santiago = Value("Santiago", "name", "call:0:row.capital", 0)
    evidence, derivation = _planted(
        worker, "What is the population of the capital of Chile?", {0: {}, 1: {"filters[0].value": santiago}},
        {1: {"filters[0].value": "city/name"}}, AnswerRule(kind="field", call=1, path="total_matches"),
        [("get_row", {"table": "countries", "key": "CL"}),
         ("find_rows", {"table": "cities", "filters": [{"column": "name", "op": "=", "value": "Santiago"}]})])
    derivation = derivation.model_copy(update={"answer": 5})
    assert not worker.index.unique_name("city", "Santiago")
    assert static_checks(derivation, evidence, unique_name=worker.index.unique_name) == "ambiguous_name"
    fixture = derivation.model_copy(update={"question": "How many lines match colou?r in the notes?"})
    assert static_checks(fixture, evidence, fixtures={"colou?r"}) == "fixture_in_question"


def test_an_answer_in_the_question_is_refused_token_wise(worker):
    evidence, derivation = _planted(worker, "What is the code of Chile (CL)?", {}, {},
                                       AnswerRule(kind="field", call=0, path="row.code"),
                                       [("get_row", {"table": "countries", "key": "CL"})])
    assert static_checks(derivation.model_copy(update={"answer": "CL"}), evidence) == "answer_in_question"
    # "3.5" is not in "35", whatever punctuation is dropped.
    assert static_checks(derivation.model_copy(update={"question": "How much is 35?", "answer": 3.5}),
                         evidence) is None


def test_an_unreproducible_answer_is_rejected_on_replay(worker):
    evidence, derivation = _planted(worker, "What is the population of Chile?", {}, {},
                                       AnswerRule(kind="field", call=0, path="row.population"),
                                       [("get_row", {"table": "countries", "key": "CL"})])
    wrong = derivation.model_copy(update={"answer": 1})
    verification = worker._portal.call(verify_task, wrong, evidence, worker.pool)
    assert not verification.accepted and verification.reason == "not_reproducible"


def test_the_held_out_split_is_made_the_same_way(world):
    w = SynthWorker(SynthOptions(domains=["geo", "finance", "science"], include_held_out=True, world=str(world.root),
                                 embedding_metrics=False))
    try:
        tasks = [line.task for line in w.run(range(30)) if line.task is not None]
    finally:
        w.close()
    assert len(tasks) >= 8
    identifiers = _tool_identifiers()
    for task in tasks:
        assert set(task.domains) <= {"geo", "finance", "science"}
        assert not any(re.search(rf"\b{re.escape(n)}\b", task.question) for n in identifiers), task.question
        assert task.verification.accepted


def test_things_a_tool_takes_come_from_the_walk_and_fit_its_kind(worker):
    """A file found by the walk is compared with another found thing, never with a self-test example's file; a CSV
    tool takes only a CSV file."""
    from dive.synth.walk import _compatible

    walker = MeaningExplorer(worker.catalog, ["diff_files", "csv_describe"], random.Random(0), index=worker.index)
    assert walker._arguments(worker.catalog.tools["diff_files"], {"a": "notes/todo.md"}) is None
    assert walker._arguments(worker.catalog.tools["diff_files"], {"a": "x.md", "b": "y.md"}) is not None
    # A required pattern only a self-test example gives ('^def (\\w+)') is never filled in: no question may hold it.
    search = MeaningExplorer(worker.catalog, ["regex_search"], random.Random(0), index=worker.index)
    for seed in range(8):
        search.rng.seed(seed)
        assert search._arguments(worker.catalog.tools["regex_search"], {"path": "examples/geometry.py"}) is None
    note = Known("file", {"path": Value("notes/todo.md", "path", "call:1:entries[0].path", 1)}, "the largest file", 1)
    table = Known("file", {"path": Value("data/airports.csv", "path", "call:1:entries[1].path", 1)}, "the file", 1)
    assert not _compatible("csv_file", note) and _compatible("csv_file", table) and _compatible("file", note)


def test_a_path_goes_only_to_the_tools_of_the_server_whose_folder_it_is_in(worker, world, synthesized, tmp_path):
    """A media file found by the media server is never handed to the files server (whose folder is another), and
    every path any walk gave a tool names something that tool's server sees."""
    from dive.servers.code.seed_workspace import seed_workspace

    walker = MeaningExplorer(worker.catalog, ["file_info", "image_info"], random.Random(0), index=worker.index)
    path = {"path": Value("images/flag.png", "path", "call:1:files[0].path", 1)}
    for workspace, tool in (("media", "image_info"), ("files", "file_info")):
        image = Known("image", path, "the largest image", 1, frozenset({1}), workspace=workspace)
        assert {plan[1] for plan in walker._plans(image)} == {tool}
    seed_workspace(tmp_path, world)  # what the code server's session folder holds
    roots = {"files": world.files_root, "media": world.media_root, "code": tmp_path}
    checked = 0
    for task in synthesized:
        for call in task.evidence.calls:
            path = call.arguments.get("path")
            if call.server in roots and isinstance(path, str) and path != ".":
                checked += 1
                assert (roots[call.server] / path).exists(), (call.server, call.tool, path)
    assert checked >= 20


def test_a_function_found_in_a_file_is_looked_for_across_the_workspace(worker, world, monkeypatch, tmp_path):
    """'The number of Python files under the workspace with a mention of the function with the most parameters
    among those defined in ...': the function a file's metrics picked is looked for in every Python file, and
    the files that mention it are counted here from the files' syntax trees, without the tools."""
    import ast

    from dive.servers.code.seed_workspace import seed_workspace

    monkeypatch.setattr(worker, "pools", {"code": worker.pools["code"]})
    tasks = [line.task for line in worker.run(range(0, 240)) if line.task is not None]
    found = [t for t in tasks if t.evidence.calls[t.solution[-1]].tool == "find_references"]
    assert found, [t.question for t in tasks]
    seed_workspace(tmp_path, world)
    trees = [ast.parse(p.read_text()) for p in tmp_path.rglob("*.py")]

    def names(tree: ast.AST) -> set[str]:
        return {getattr(node, field) for node in ast.walk(tree)
                for field in ("id", "attr", "name", "arg") if isinstance(getattr(node, field, None), str)}

    for task in found:
        last = task.evidence.calls[task.solution[-1]]
        name, hop = last.arguments["name"], task.derivation[-1].hops[-1]
        assert last.arguments["path"] == "." and "the workspace" in task.question, task.question
        assert hop.inputs["name"].startswith("call:") and name not in task.question, task.question
        if task.derivation[-1].rule.path == "files":
            assert task.answer == sum(name in names(tree) for tree in trees), task.question


def test_a_tool_that_compares_two_files_takes_two_picked_from_one_listing(worker, world, monkeypatch):
    """'The number of lines added going from the smallest file under `reports/asia` to the largest': a tool that
    takes two files gets two different things the same listing picked, the question describes both, and the
    answer is what the two files say, recomputed here without the tools."""
    import difflib

    monkeypatch.setattr(worker, "pools", {"files": worker.pools["files"]})
    tasks = [line.task for line in worker.run(range(600, 760)) if line.task is not None]
    pairs = [t for t in tasks if t.evidence.calls[t.solution[-1]].tool == "diff_files"]
    assert pairs, [t.question for t in tasks]
    for task in pairs:
        last = task.evidence.calls[task.solution[-1]]
        a, b = last.arguments["a"], last.arguments["b"]
        hop = task.derivation[-1].hops[-1]
        sources = {hop.inputs["a"].split(":")[1], hop.inputs["b"].split(":")[1]}
        assert a != b and len(sources) == 1, hop.inputs  # two things of one listing
        assert a not in task.question and b not in task.question, task.question
        assert task.question.count(" the file with the ") >= 2, task.question
        old, new = ((world.files_root / p).read_text().splitlines() for p in (a, b))
        diff = [line for line in difflib.unified_diff(old, new, lineterm="", n=0)
                if not line.startswith(("---", "+++", "@@"))]
        want = {"identical": old == new, "lines_added": sum(line.startswith("+") for line in diff),
                "lines_removed": sum(line.startswith("-") for line in diff)}[task.derivation[-1].rule.path]
        assert task.answer == want, task.question


def test_each_domain_starts_a_share_of_walks_from_seeds_its_tools_take(worker):
    """Seeds are drawn domain first: the files and code domains start from their folders (their tools take no
    city), the media domain from the entities it holds media about and its folders, the database from any
    entity; each domain starts about an equal share of configs."""
    from collections import Counter

    from dive.synth.sampling import takes_type

    pools = worker.pools
    assert set(pools) == {"web", "files", "database", "code", "media"}
    assert set(pools["files"]) == {"directory"} and set(pools["code"]) == {"directory"}
    assert {"city", "airport", "country"} <= set(pools["database"])
    assert "element" in pools["media"] and all("media" in s.domains for ss in pools["media"].values() for s in ss)
    for domain, by_type in pools.items():
        tools = [t for n, t in worker.catalog.tools.items() if worker.catalog.domain_of(n) == domain]
        assert all(any(takes_type(t.dive, kind) for t in tools) for kind in by_type), domain
        assert all(s.type == kind for kind, seeds in by_type.items() for s in seeds)
    configs = [worker.config(i) for i in range(500)]
    folders = Counter(c.seed.domains[0] for c in configs if c.seed.type == "directory")
    # A domain of few seeds starts fewer walks: code's two folders, about a tenth of 500; files' 13, a fifth.
    assert folders["files"] >= 60 and 20 <= folders["code"] < folders["files"], folders
    assert sum(c.seed.type in ("element", "company", "country") for c in configs) >= 50
    for config in configs:  # the menu holds a way in from the seed
        assert any(takes_type(worker.catalog.tools[n].dive, config.seed.type) for n in config.toolset), config.seed


def test_a_menu_holds_ways_on_from_what_its_ways_in_find(worker):
    """A folder's menu holds a listing of the folder's own server (not only its total size) and two tools of that
    server that take any file the listing names; a world entity's menu holds two tools that take what its ways in
    find."""
    from dive.synth.sampling import _finds_from, takes_kind, takes_type, yielded_kinds

    for config in (worker.config(i) for i in range(300)):
        seed, tools = config.seed, {n: worker.catalog.tools[n] for n in config.toolset}
        if seed.type == "directory":
            own = {n: t for n, t in tools.items() if worker.catalog.domain_of(n) == seed.domains[0]}
            finders = [n for n, t in own.items() if _finds_from(t, "directory")]
            assert finders, (seed.id, sorted(own))
            if "file" in {k for n in finders for k in yielded_kinds(own[n].dive)}:
                assert sum(takes_kind(t.dive, "file") for t in own.values()) >= 2, (seed.id, sorted(own))
        else:
            ways_in = [t for t in tools.values() if takes_type(t.dive, seed.type)]
            if any("entity" in yielded_kinds(t.dive) for t in ways_in):
                assert sum(takes_kind(t.dive, "entity") for t in tools.values()) >= 2, (seed.id, sorted(tools))


def test_a_thing_and_the_thing_it_was_found_in_go_together(worker, world, monkeypatch):
    """A column found in a file, a function defined in one: a tool taking both gets both, the question sets them
    up first ('Take X, and the column of it ...') and names them 'that column in that file', and the answer is
    what the file says, recomputed here without the tools."""
    import ast
    import csv
    import statistics

    from dive.servers.code.seed_workspace import SEED_FILES

    monkeypatch.setattr(worker, "pools", {d: worker.pools[d] for d in ("files", "code")})
    tasks = [line.task for line in worker.run(range(400, 520)) if line.task is not None]
    both = [t for t in tasks if t.evidence.calls[t.solution[-1]].tool in ("csv_column_stats", "get_source")]
    assert both, [t.question for t in tasks]
    for task in both:
        last = task.evidence.calls[task.solution[-1]]
        hop = task.derivation[-1].hops[-1]
        assert len(set(task.diversity.tools)) == 3 and len(hop.inputs) == 2, task.question
        assert all(source.startswith("call:") for source in hop.inputs.values()), hop.inputs
        assert re.search(r", and the (column|function) .* it\. .*that (column|function) .*\bthat file", task.question), \
            task.question
        assert last.arguments["path"] not in task.question, task.question
        field = task.derivation[-1].rule.path
        if last.tool == "get_source":
            tree = ast.parse(SEED_FILES[last.arguments["path"]])
            *owners, name = last.arguments["name"].split(".")
            scope = tree
            for owner in owners:
                scope = next(n for n in scope.body if isinstance(n, ast.ClassDef) and n.name == owner)
            node = next(n for n in scope.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name)
            want = min([node.lineno, *(d.lineno for d in node.decorator_list)]) if field == "line" else node.end_lineno
        else:
            with open(world.files_root / last.arguments["path"], newline="") as f:
                cells = [row[last.arguments["column"]] for row in csv.DictReader(f)]
            def numbers() -> list[float]:  # a text column (time zones) has its counts only
                return [float(c) for c in cells if c != ""]

            want = {"distinct": lambda: len(set(c for c in cells if c != "")), "sum": lambda: sum(numbers()),
                    "mean": lambda: statistics.mean(numbers()), "min": lambda: min(numbers()),
                    "max": lambda: max(numbers()), "median": lambda: statistics.median(numbers()),
                    "stdev": lambda: statistics.stdev(numbers()),
                    "non_empty": lambda: len([c for c in cells if c != ""]),
                    "empty": lambda: len([c for c in cells if c == ""])}[field]()
        assert float(task.answer) == pytest.approx(want, rel=1e-6), task.question


def test_folders_start_workspace_tasks_of_several_calls(worker, world):
    """A share of tasks start from a workspace folder of three files or more; what one listing of it tells is
    refused, so each such task picks something in the folder and asks about it with another tool."""
    from dive.synth.sampling import folder_seeds

    seeds = folder_seeds(world, ["files", "media", "code"])
    assert {"files:reports/europe", "media:audio", "code:examples"} <= {s.id for s in seeds}
    for seed in seeds:
        root = {"files": world.files_root, "media": world.media_root}.get(seed.domains[0])
        if root is not None:
            assert sum(p.is_file() for p in (root / seed.name).iterdir()) >= 3, seed.id
    tasks = [line.task for line in worker.run(range(300, 360)) if line.task is not None]
    from_folders = [t for t in tasks if t.seed.type == "directory"]
    assert from_folders, [t.question for t in tasks]
    for task in from_folders:
        assert len(task.solution) >= 2 and f"`{task.seed.name}`" in task.question, task.question


def test_described_seeds_are_resolved_by_a_tool_and_never_named(worker, world, monkeypatch):
    """'The country whose three-letter ISO code is CHL': the question gives a key, never the seed's name, and the
    solution starts with the call that resolves it."""
    from dive.synth import pipeline

    monkeypatch.setattr(pipeline, "DESCRIBED_SHARE", 1.0)
    tasks = [line.task for line in worker.run(range(400, 500)) if line.task is not None]
    described = [t for t in tasks if t.seed.type in TYPES and f"the {TYPES[t.seed.type].noun} whose " in t.question]
    assert len(described) >= 3, [t.question for t in tasks]
    for task in described:
        assert task.seed.name not in task.question, task.question
        first = task.derivation[-1].hops[0]
        assert any(source.startswith("seed:") and source != "seed:name" for source in first.inputs.values()), task.question


def test_index_names_things_and_swaps_by_type(world):
    index = WorldIndex(world)
    assert index.name_of("country", "code", "CL") == "Chile"
    assert index.seed_label(SeedEntity(id="city:3871336", type="city", name="Santiago",
                                       attrs={"country_code": "CL"})) == "Santiago, Chile"
    other = index.alternative("city", "id", 3871336, random.Random(0))
    assert isinstance(other, int) and other != 3871336


def test_a_measurement_of_nothing_is_no_answer_but_a_world_zero_is():
    """The size of an empty file or the silence in a tone that has none is what a tool found nothing to measure;
    an airport 0 feet above the sea is a fact of the world; False is an answer to 'whether'."""
    from dive.synth.meanings import Fact
    from dive.synth.walk import _answerable

    airport = Known("airport", {}, "the lowest-lying airport in the Netherlands", 1)
    assert not _answerable(Fact(1, "files[0].size", 0, "the size of `a.txt`", "bytes", None, measured=True))
    assert not _answerable(Fact(1, "silence_s", 0.0, "the total length of silence in `t.wav`", "seconds", None,
                                measured=True))
    assert _answerable(Fact(1, "rows[0].elevation", 0, "the elevation of it", "feet", airport))
    assert _answerable(Fact(1, "valid", False, "whether `x.py` is syntactically valid Python", None, None,
                            measured=True))
    assert _answerable(Fact(1, "lines", 3, "the number of lines in `a.txt`", None, None, measured=True))
    # What OCR reads off a colour swatch is noise, not text; a word is text.
    assert not _answerable(Fact(1, "text", ">", "the text shown in `images/swatch.png`", None, None, measured=True))
    assert _answerable(Fact(1, "text", "Lyon 2024", "the text shown in `text/lyon.png`", None, None, measured=True))


def test_a_fact_restating_its_pick_is_not_asked():
    from dive.synth.walk import _restates_pick

    assert _restates_pick("the size of the file with the smallest size among the entries of directory `archives`")
    assert _restates_pick("the number of lines in the file with the largest number of lines among the files under `tests`")
    assert not _restates_pick("the number of lint problems in the file with the largest number of lines under `examples`")
    assert not _restates_pick("the size of the file with the largest number of lines among the files under `tests`")
    assert not _restates_pick("the population of the capital of Chile")


def test_backlinks_count_pages_only_when_each_page_links_once():
    """'How many atlas pages link to X' counts pages; a page linking twice (two link texts) or a cut list leaves
    the count unasked rather than counting links."""
    meaning = next(d for d in domains().values() if "find_backlinks" in d.tools).tools["find_backlinks"].meaning.to_json()
    reader = ResultReader(lambda call, arg: "the atlas page about Lyon")
    links = [{"url": "/countries/FR.html", "title": "France", "anchor_text": "Lyon"},
             {"url": "/airports/LYS.html", "title": "Lyon Airport", "anchor_text": "Lyon"}]
    once = reader.read(_record(1, "find_backlinks", {"url": "/cities/1.html"},
                               {"url": "/cities/1.html", "count": 2, "pages": 2, "links": links, "truncated": False}),
                       meaning, {})
    assert [(f.phrase, f.value) for f in once.facts if f.kind == "count"] == [
        ("the number of atlas pages whose text links to the atlas page about Lyon", 2)]
    twice = links + [{"url": "/countries/FR.html", "title": "France", "anchor_text": "Next: Lyon"}]
    again = reader.read(_record(1, "find_backlinks", {"url": "/cities/1.html"},
                                {"url": "/cities/1.html", "count": 3, "pages": 2, "links": twice, "truncated": False}),
                        meaning, {})
    assert not [f for f in again.facts if f.kind == "count"]


def test_a_list_holding_only_what_the_call_was_given_picks_nothing():
    """Counting the text files 'under' a file lists the file itself: 'the only one of the text files under
    `data/elements.csv`' would be the question's own file in other words."""
    meaning = next(d for d in domains().values() if "text_counts" in d.tools).tools["text_counts"].meaning.to_json()
    reader = ResultReader(lambda call, arg: "`data/elements.csv`")
    row = {"path": "data/elements.csv", "lines": 119, "words": 119, "characters": 3085, "bytes": 3204}
    reading = reader.read(_record(1, "text_counts", {"path": "data/elements.csv"},
                                  {"files": [row], "total": row, "skipped_binary": 0, "truncated": False}), meaning, {})
    assert not reading.things and not any("only" in f.phrase for f in reading.facts)
    assert ("the number of lines in `data/elements.csv`", 119) in [(f.phrase, f.value) for f in reading.facts]


def test_a_folder_among_the_files_of_a_listing_has_no_size_to_compare():
    """`config` holds files and the folder `env`, which has no size of its own: the largest and the smallest file
    are picked among the files, and a replay picks the same."""
    from dive.synth.verify import _flowed

    meaning = next(d for d in domains().values() if "list_directory" in d.tools).tools["list_directory"].meaning.to_json()
    entries = [{"path": "config/app.yaml", "kind": "file", "size_bytes": 900},
               {"path": "config/env", "kind": "directory", "size_bytes": None},
               {"path": "config/logging.ini", "kind": "file", "size_bytes": 300}]
    record = _record(1, "list_directory", {"path": "config"}, {"entries": entries, "total": 3, "truncated": False})
    reading = ResultReader(lambda call, arg: "`config`").read(record, meaning, {})
    picked = {t.phrase: t.keys["path"].value for t in reading.things}
    assert picked == {"the file with the largest size among the entries of directory `config`": "config/app.yaml",
                      "the file with the smallest size among the entries of directory `config`": "config/logging.ini"}
    for thing in reading.things:
        assert _flowed(record.result, thing.keys["path"].source.split(":", 2)[2], thing.picked) == \
            thing.keys["path"].value


def test_files_one_listing_picked_are_never_compared_with_each_other():
    """'Does the largest file under `logs` have more lines than the smallest?': how two files of one listing
    compare follows from how they were picked; two files of two listings may be compared."""
    from dive.synth.walk import _siblings

    def file(path: str, call: int, largest: bool, listing: str = "entries") -> Known:
        return Known("file", {"path": Value(path, "path", f"call:{call}:{listing}", call)}, f"file {path}", 1,
                     frozenset({call}), {"list": listing, "by": "size_bytes", "largest": largest})

    assert _siblings(file("logs/a.log", 1, True), file("logs/b.log", 1, False))
    assert not _siblings(file("logs/a.log", 1, True), file("data/b.csv", 2, False))
    cities = [Known("city", {"id": Value(i, "id", "call:1:rows", 1)}, f"city {i}", 1, frozenset({1}),
                    {"list": "rows", "by": "population", "largest": i == 1}) for i in (1, 2)]
    assert not _siblings(*cities)  # the most and least populous city of Chile: which lies farther north?


def test_things_found_in_the_database_are_searched_for_in_the_files(worker, world, monkeypatch):
    """A world entity's name flows into a search of the workspace's files, as whole words: 'the files in the
    workspace that mention the capital of Chile'. The files and lines that mention it, and the file a description
    picks among them, match a search done here without the tools; no other thing's name contains the name."""
    monkeypatch.setattr(worker, "pools", {"database": worker.pools["database"]})
    tasks = [line.task for line in worker.run(range(600, 760)) if line.task is not None]
    searched = [t for t in tasks if "search_content" in t.diversity.tools]
    assert len(searched) >= 3, [t.question for t in tasks]
    names = sqlite3.connect(world.db_path)
    tables = [e.table for e in TYPES.values() if "name" in {r[1] for r in names.execute(f"PRAGMA table_info({e.table})")}]
    for task in searched:
        assert "mention" in task.question, task.question
        hops = task.derivation[-1].hops
        at = next(i for i, hop in enumerate(hops) if hop.tool == "search_content")
        call = task.evidence.calls[hops[at].call]
        name = call.arguments["pattern"]
        assert call.arguments["regex"] is False and call.arguments["whole_word"] is True
        others = [n for t in tables for (n,) in names.execute(f"SELECT name FROM {t} WHERE name LIKE ?", (f"%{name}%",))
                  if n != name and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", n)]
        assert not others, f"{name!r} is part of {others[:3]}"
        want = mentions_by_file(world.files_root, name)
        assert call.result["files_total"] == len(want) and call.result["total_matches"] == sum(want.values())
        rule = task.derivation[-1].rule
        if rule.call == call.index and rule.kind == "field" and rule.path == "total_matches":
            assert task.answer == sum(want.values()), task.question
        elif rule.call == call.index and rule.kind == "count":
            assert task.answer == len(want), task.question
        for later in hops[at + 1:]:  # a file picked among those that mention it
            pick = later.picks.get("path")
            if not pick or not later.inputs.get("path", "").startswith(f"call:{call.index}:"):
                continue
            given = task.evidence.calls[later.call].arguments["path"]
            if pick.get("only"):
                assert list(want) == [given], task.question
            else:
                best = (max if pick["largest"] else min)(want.values())
                assert [p for p, n in want.items() if n == best] == [given], task.question


def test_two_walks_compared_need_both_and_match_the_world_database(worker, world, monkeypatch):
    """A second walk from another entity of the type the first gave an amount of: 'Is the population of the
    capital of Chile greater than that of Kumasi?'. Each of the two things compared comes by a chain of its own,
    from a seed of its own; the answer is what SQL over the world's database says of the two."""
    from dive.synth import pipeline

    monkeypatch.setattr(pipeline, "PAIR_SHARE", 1.0)
    monkeypatch.setattr(worker, "pools", {"database": worker.pools["database"]})
    tasks = [line.task for line in worker.run(range(760, 840)) if line.task is not None]
    paired = []
    for task in tasks:
        derivation = task.derivation[-1]
        if derivation.rule.kind != "compare":
            continue
        chains = [_chain_of(derivation, c) for c in (derivation.rule.call, derivation.rule.other_call)]
        if not set(chains[0]) & set(chains[1]):
            paired.append((task, chains))
    assert len(paired) >= 3, [t.question for t in tasks]
    checked = 0
    with sqlite3.connect(world.db_path) as db:
        for task, chains in paired:
            derivation = task.derivation[-1]
            # Each chain starts from a seed of its own, or from a file the question names itself.
            starts = [[s for c in chain for s in _inputs_of(derivation, c) if s.startswith("seed:")]
                      or [p for c in chain if not _inputs_of(derivation, c)
                          for p in [task.evidence.calls[c].arguments.get("path")] if f"`{p}`" in task.question]
                      for chain in chains]
            assert all(starts), f"{task.question}: each chain starts from a seed of its own"
            rule = derivation.rule
            if "." not in rule.path or "." not in rule.other_path:
                continue  # two files compared (a walk from a city may reach the files that mention it)
            values = []
            for call, path in ((rule.call, rule.path), (rule.other_call, rule.other_path)):
                holder, column = path.rsplit(".", 1)
                row = task.evidence.calls[call].result
                for part in re.findall(r"[^.\[\]]+|\[\d+\]", holder):
                    row = row[int(part[1:-1])] if part.startswith("[") else row[part]
                rows = [r for e in TYPES.values() if column in e.attributes and "name" in row
                        for r in db.execute(f"SELECT {column} FROM {e.table} WHERE name = ?", (row["name"],))]
                values.append(rows[0][0] if len(rows) == 1 else None)
            if None in values:
                continue  # a name several rows share: the tools told them apart by key
            bigger = values[0] > values[1]
            assert task.answer == (rule.names[0 if bigger else 1] if rule.names else bigger), task.question
            checked += 1
    assert checked >= 2


def _chain_of(derivation: Derivation, call: int) -> list[int]:
    """The calls of a derivation that lead to `call` (it and those whose outputs fed it)."""
    hops = {hop.call: hop for hop in derivation.hops}
    chain, todo = [], [call]
    while todo:
        current = todo.pop()
        if current in chain:
            continue
        chain.append(current)
        todo += [int(s.split(":")[1]) for s in hops[current].inputs.values() if s.startswith("call:")]
    return sorted(chain)


def _inputs_of(derivation: Derivation, call: int) -> list[str]:
    return list(next(hop for hop in derivation.hops if hop.call == call).inputs.values())


@pytest.mark.parametrize("code", ["CL", "JP"])
def test_statistics_of_one_column_of_related_entities_match_the_world(worker, world, code):
    """The median, average, sample standard deviation, highs and lows of one amount of the cities or airports of a
    country, read from the tools that profile a column, equal the same figure computed here from SQLite rows."""
    import statistics

    with sqlite3.connect(world.db_path) as db:
        name = db.execute("SELECT name FROM countries WHERE code = ?", (code,)).fetchone()[0]
    seed = SeedEntity(id=f"country:{code}", type="country", name=name, attrs={"code": code})

    async def explore() -> Evidence:
        evidence = Evidence(session=worker.pool.open_session(f"statistics-{code}"), seed=seed)
        walker = MeaningExplorer(worker.catalog, ["percentiles", "column_statistics"], random.Random(5), max_steps=3,
                                 misses=5, index=worker.index)
        walker.start(evidence, seed.name)
        for round_no in range(3):
            await walker.explore_round(evidence, round_no)
        return evidence

    evidence = worker._portal.call(explore)
    figures = {"median": statistics.median, "mean": statistics.mean, "stddev": statistics.stdev, "max": max,
               "min": min, "sum": sum}
    checked = set()
    with sqlite3.connect(world.db_path) as db:
        for fact in evidence.facts:
            arguments = evidence.calls[fact.call].arguments
            table, column, where = arguments["table"], arguments["column"], arguments["filters"][0]
            assert where["column"] == "country_code" and where["value"] == code and "group_by" not in arguments
            values = [v for (v,) in db.execute(f"SELECT {column} FROM {table} WHERE country_code = ? AND {column} "
                                               "IS NOT NULL", (code,))]
            figure = fact.path.rsplit(".", 1)[-1]
            assert fact.value == pytest.approx(figures[figure](values), rel=1e-9), fact.phrase
            assert name in fact.phrase and ("airports in" in fact.phrase or "cities of" in fact.phrase), fact.phrase
            assert figure != "sum" or TYPES[relation(table, "country_code").child].attributes[column].additive
            checked.add(evidence.calls[fact.call].tool)
    assert checked == {"percentiles", "column_statistics"}, [f.phrase for f in evidence.facts]
