"""The built-in explorer and deriver on real in-process servers: calls that find nothing are no evidence,
no call is fed a value picked from a list of several, and a derivation the static checks refuse gives
way to the next one."""

from __future__ import annotations

import random

import pytest

from dive.synth.builtin import BuiltinExplorer, Evidence, derive_task, found_nothing
from dive.synth.pipeline import SynthOptions, SynthWorker
from dive.synth.verify import static_checks


@pytest.mark.parametrize("result, nothing", [
    ({"matches": [], "total": 0, "truncated": False}, True),
    ({"entries": [], "matched": 0, "files": ["logs/a.log"], "has_more": False}, True),  # the echoed file is no find
    ({"pattern": "x", "matches": [], "total_matches": 0, "files": [], "files_searched": 11}, True),
    ({"path": "a.png", "found": False, "matches": []}, True),
    ({"result": "abc", "replacements": 0}, True),
    ({"table": "t", "rows": [], "truncated": False}, True),
    ({"matches": [{"line": 3}], "total": 1}, False),
    ({"name": "Paris", "population": 2148000}, False),
    ({"rows": [{"id": 1}], "count": 1}, False),
    ({"files_searched": 11, "lines": [{"n": 1}]}, False),
])
def test_found_nothing(result, nothing):
    assert found_nothing(result) is nothing


@pytest.fixture(scope="module")
def explored(world):
    """Three rounds of exploration for a dozen configs on the database and files servers, and their catalog."""
    worker = SynthWorker(SynthOptions(domains=["database", "files"], world=str(world.root), embedding_metrics=False))

    async def explore(index: int) -> Evidence:
        config = worker.config(index)
        rng = random.Random(config.rng_seed)
        evidence = Evidence(session=worker.pool.open_session(f"explore-{index}"), seed=config.seed)
        explorer = BuiltinExplorer(worker.catalog, config.toolset, rng)
        for round_no in range(config.rounds):
            await explorer.explore_round(evidence, round_no)
        return evidence

    try:
        yield [worker._portal.call(explore, i) for i in range(12)], worker.catalog
    finally:
        worker.close()


def test_explorer_feeds_calls_only_unambiguous_values_and_skips_empty_finds(explored):
    explored, explorer_catalog = explored
    flowed = [v for e in explored for s in e.steps for v in s.sources.values() if v.call is not None]
    assert flowed, "no value flowed between calls: the check below would be empty"
    assert all(v.siblings == 1 for v in flowed)
    for evidence in explored:
        for step in evidence.steps:
            record = evidence.calls[step.call]
            retrieval = explorer_catalog.kind_of(record.tool) == "retrieval"
            if step.ok:  # only a look-up that found nothing is no evidence: a processing tool's empty result is
                assert not record.is_error and not (retrieval and found_nothing(record.result))
            elif not record.is_error and record.result is not None:
                assert retrieval and found_nothing(record.result)
            for value in step.sources.values():  # nothing found by a call that found nothing flows on
                assert value.call is None or evidence.step(value.call).ok


def test_a_refused_derivation_gives_way_to_the_next_and_is_recorded(explored):
    explored, _catalog = explored
    fallbacks = 0
    for evidence in explored:
        first = derive_task(evidence, 0, random.Random(0), set())
        if first is None:
            continue
        evidence.refusals.clear()
        second = derive_task(evidence, 0, random.Random(0), set(),
                             lambda d, q=first.question: "answer_in_question" if d.question == q else None)
        assert evidence.refusals == ["answer_in_question"]
        if second is not None:
            assert second.question != first.question
            fallbacks += 1
        evidence.refusals.clear()
        assert derive_task(evidence, 0, random.Random(0), set(), lambda d: "hop_not_needed") is None
        assert evidence.refusals and set(evidence.refusals) == {"hop_not_needed"}
        evidence.refusals.clear()
        kept = derive_task(evidence, 0, random.Random(0), set(), lambda d, e=evidence: static_checks(d, e))
        assert kept is None or static_checks(kept, evidence) is None
    assert fallbacks, "no evidence offered a second question: the fallback went untested"


def _tool(properties: dict, examples: list[dict], required: tuple = ()) -> "ListedTool":
    from dive.env.trace import TOOL_META_KEY, ListedTool

    return ListedTool(server="s", name="t", input_schema={"type": "object", "properties": properties,
                                                          "required": list(required)},
                      meta={TOOL_META_KEY: {"examples": examples}})


def _values(**named) -> list:
    from dive.synth.values import Value

    return [Value(v, k, f"call:0:{k}", 0) for k, v in named.items()]


@pytest.mark.parametrize("seed", range(12))
def test_filling_keeps_to_what_the_examples_show(seed):
    """An argument the examples give instead of another is not added beside it; a path flows only into a
    path of the same kind of file; a pattern is not replaced under a replacement that names its groups."""
    from dive.synth.values import fill_arguments

    rng = random.Random(seed)
    text = {"type": "string"}
    either = _tool({"code": text, "path": text}, [{"code": "x = 1\n"}, {"path": "examples/a.py"}])
    filled = fill_arguments(either, "t", _values(path="examples/b.py"), rng)
    assert filled is None or len(filled.arguments) == 1, filled.arguments  # never code and path together
    python_only = _tool({"path": text}, [{"path": "examples/a.py"}], required=("path",))
    assert not fill_arguments(python_only, "t", _values(path="data/airports.csv"), rng).sources  # the example's own
    assert fill_arguments(python_only, "t", _values(path="examples/b.py"), rng).arguments == {"path": "examples/b.py"}
    grouped = _tool({"pattern": text, "replacement": text, "text": text},
                    [{"pattern": r"(\d+)-(\d+)", "replacement": r"\2-\1", "text": "10-20"}])
    swapped = fill_arguments(grouped, "t", _values(pattern="Paris"), rng)
    assert swapped is None or swapped.arguments["pattern"] == r"(\d+)-(\d+)"
