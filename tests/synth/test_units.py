"""Synthesis pieces with hand-computed expectations: answers, call graphs, metrics, selection."""

from __future__ import annotations

import pytest

from dive.env.trace import Trace
from dive.synth import answers_match, diversity_stats, matcher_for, select_diverse
from dive.synth.graph import call_graph_key, topology
from dive.synth.records import (
    AnswerRule, Derivation, DiversityKeys, Hop, Matcher, SeedEntity, Task, Verification,
)
from dive.synth.values import shape


@pytest.mark.parametrize(
    "predicted, reference, kind, expected",
    [
        ("Paris", "paris", "text", True),
        (" São Paulo. ", "Sao Paulo", "text", True),
        ("Lyon", "Paris", "text", False),
        ("1,234.5", 1234.5, "number", True),
        ("1234.49", 1234.5, "number", False),
        ("12%", 12, "number", True),
        ("a, b", ["a", "b"], "list", True),
        ("b, a", ["a", "b"], "list", False),
        ("b and a", ["a", "b"], "set", True),
        ("yes", True, "bool", True),
        (None, "x", "text", False),
        ("2024-01-03 10:00:00+0000", "2024-01-03T10:00:00+00:00", "text", True),  # git show and git log
        ("2024-01-03T10:00:00Z", "2024-01-03 10:00:00+00:00", "text", True),
        ("2024-01-03T11:00:00+01:00", "2024-01-03T10:00:00+00:00", "text", True),
        ("2024-01-03T10:00:00+01:00", "2024-01-03T10:00:00+00:00", "text", False),
        ("2024-01-04", "2024-01-03", "text", False),
    ],
)
def test_answers_match(predicted, reference, kind, expected):
    assert answers_match(predicted, reference, Matcher(kind=kind)) is expected


def test_number_matcher_tolerates_half_the_last_shown_decimal():
    m = matcher_for(3.14)
    assert m.kind == "number" and answers_match("3.144", 3.14, m) and not answers_match("3.16", 3.14, m)
    assert matcher_for(42).tolerance == 0.0


def test_value_shapes():
    assert [shape(v) for v in ("data/x.csv", "FR", "cities", "2024-01-02", "Lyon", 3, "SELECT 1", "*.csv",
                               "cu00001")] == ["path", "code", "ident", "date", "text", "number", "sql", "glob", "id"]


def hops(*edges: tuple[int, str, list[int]]) -> list[Hop]:
    return [Hop(call=c, tool=t, inputs={f"a{i}": f"call:{p}:x" for i, p in enumerate(ps)}) for c, t, ps in edges]


def test_call_graph_hash_is_canonical_and_topology_classes():
    chain = hops((0, "search", []), (1, "read", [0]), (2, "count", [1]))
    same = hops((4, "search", []), (7, "read", [4]), (9, "count", [7]))
    merge = hops((0, "search", []), (1, "read", []), (2, "count", [0, 1]))
    swapped = hops((0, "read", []), (1, "search", []), (2, "count", [0, 1]))
    assert call_graph_key(chain) == call_graph_key(same)
    assert call_graph_key(chain) != call_graph_key(merge)
    assert call_graph_key(merge) == call_graph_key(swapped)  # isomorphic: input order does not matter
    kinds = {"search": "retrieval", "read": "retrieval", "count": "processing"}.get
    assert topology(chain, kinds) == "R>R>P"
    assert topology(merge, kinds) == "(R,R)>P"


def make_task(i: int, tools: list[str], graph: str, toolset: str, topo: str = "R", domains=("files",)) -> Task:
    keys = DiversityKeys(tools=sorted(set(tools)), toolset_key=toolset, call_sequence=tools, call_graph=graph,
                         topology=topo, domains=list(domains), answer_type="text", hops=len(tools))
    return Task(id=f"t{i}", question=f"question {i}", answer="x", answer_type="text", matcher=Matcher(kind="text"),
                toolset=tools, domains=list(domains), seed=SeedEntity(id="s", type="t", name="n"),
                evidence=Trace(session="s"), solution=[], verification=Verification(accepted=True),
                derivation=[Derivation(round=0, question="q", answer="x", hops=[],
                                       rule=AnswerRule(kind="field", call=0, path="x"), structure="lookup")],
                diversity=keys)


FIXTURE = [
    make_task(0, ["a"], "g1", "s1"),
    make_task(1, ["a"], "g1", "s1"),
    make_task(2, ["a", "b"], "g2", "s2", "R>R"),
    make_task(3, ["c", "b"], "g3", "s2", "R>P", ("database", "files")),
    make_task(4, ["a"], "g1", "s3"),
    make_task(5, ["d"], "g4", "s3", "P"),
]


def test_diversity_stats_match_a_hand_count():
    stats = diversity_stats(FIXTURE, tools_available=10, embeddings=False)
    assert stats.tasks == 6 and stats.tools_covered == 4 and stats.tools_available == 10
    assert stats.unique_toolsets == 3 and stats.unique_call_graphs == 4
    assert stats.unique_call_sequences == 4  # a | a>b | c>b | d
    assert stats.topology_classes == {"R": 3, "R>R": 1, "R>P": 1, "P": 1}
    assert stats.tool_types_per_task == pytest.approx((1 + 1 + 2 + 2 + 1 + 1) / 6, abs=1e-3)
    assert stats.domain_mix == {"files": 5, "database+files": 1}
    assert stats.per_1000_tasks["unique_call_graphs"] == pytest.approx(666.7)


def test_submodular_selection_covers_more_tools_than_random_at_the_same_budget():
    pool = [make_task(100 + i, ["a"], "g1", "s1") for i in range(20)] + FIXTURE[2:]
    chosen = select_diverse(pool, 4, "submodular")
    tools = {t for task in chosen for t in task.diversity.tools}
    assert tools == {"a", "b", "c", "d"}
    for seed in range(5):
        random_tools = {t for task in select_diverse(pool, 4, "random", seed=seed) for t in task.diversity.tools}
        assert len(random_tools) < len(tools)


def test_of_tasks_that_cover_as_much_selection_prefers_the_one_that_needs_more_tools():
    """Once every tool is covered, tasks that add one new feature each would tie and the earliest would be kept:
    the one whose solution uses more tools is chosen."""
    pool = [make_task(0, ["a", "b", "c"], "g1", "s1"), make_task(1, ["a"], "g1", "s1"),
            make_task(2, ["a", "b"], "g1", "s1")]  # t1 and t2 each add only a call sequence
    assert [t.id for t in select_diverse(pool, 2, "submodular")] == ["t0", "t2"]


def test_a_run_stops_once_its_prefix_holds_enough_distinct_tasks():
    """A task found again from another seed (the same question) does not count towards what a run needs."""
    from dive.synth.pipeline import prefix_cutoff
    from dive.synth.records import CandidateLine, Rejection

    again = make_task(1, ["a"], "g1", "s1")
    again.id = "t1b"
    lines = [make_task(0, ["a"], "g1", "s1"), make_task(1, ["a"], "g1", "s1"), None, again,
             make_task(2, ["b"], "g2", "s2"), make_task(3, ["c"], "g3", "s3")]
    results = {i: CandidateLine(index=i, task=t) if t else CandidateLine(
        index=i, rejection=Rejection(index=i, reason="no_evidence")) for i, t in enumerate(lines)}
    keys: dict[int, set[str]] = {}
    assert prefix_cutoff(results, 2, keys) == 2
    assert prefix_cutoff(results, 3, keys) == 5  # index 3 asks question 1 again
    assert prefix_cutoff(results, 5, keys) is None and set(keys) == {0, 1, 3, 4, 5}


def test_selection_keeps_a_question_asked_twice_once():
    twice = [make_task(7, ["a"], "g1", "s1"), make_task(7, ["b"], "g2", "s2"), make_task(8, ["c"], "g3", "s3")]
    twice[1].question = "  Question 7 "
    chosen = select_diverse(twice, 3, "submodular")
    assert [t.id for t in chosen] == ["t7", "t8"]


def test_selection_keeps_one_solution_asked_twice_once():
    """The same calls read for the same answer, phrased two ways ('the largest file' and 'the longest file' are
    one file): one task. Another answer read off the same calls is another task."""
    from dive.env.trace import ToolCallRecord

    def asked(i: int, question: str, path: str, answer: object) -> Task:
        task = make_task(i, ["list_files", "lint_python"], f"g{i}", "s1")
        task.question, task.answer, task.solution = question, answer, [0, 1]
        task.evidence = Trace(session="s", calls=[
            ToolCallRecord(index=0, server="code", tool="list_files", arguments={"path": "examples"}),
            ToolCallRecord(index=1, server="code", tool="lint_python", arguments={"path": "examples/geometry.py"})])
        task.derivation[-1].rule = AnswerRule(kind="field", call=1, path=path)
        return task

    pool = [asked(1, "Lint problems in the largest file under `examples`?", "count", 2),
            asked(2, "Lint problems in the longest file under `examples`?", "count", 2),
            asked(3, "Fixable lint problems in the largest file under `examples`?", "fixable", 1)]
    assert [t.id for t in select_diverse(pool, 3, "submodular")] == ["t1", "t3"]


def test_a_bad_line_in_a_tasks_file_names_the_file_and_line(tmp_path):
    from dive.synth import load_tasks

    path = tmp_path / "tasks.jsonl"
    path.write_text("\n" + '{"id": "not a whole task"}\n')
    with pytest.raises(ValueError, match=r"tasks\.jsonl:2: not a task record"):
        load_tasks(path)
    with pytest.raises(FileNotFoundError):
        load_tasks(tmp_path / "missing.jsonl")


def test_text_results_with_a_plain_structure_are_results():
    from dive.env.trace import ToolCallRecord, parse_text_result

    log = "Commit history:\nCommit: 'abc'\nAuthor: Ada\nMessage: 'Add notes'\n\nCommit: 'def'\nAuthor: Bob\nMessage: Fix\n"
    assert parse_text_result(log) == {"items": [{"commit": "abc", "author": "Ada", "message": "Add notes"},
                                                {"commit": "def", "author": "Bob", "message": "Fix"}]}
    assert parse_text_result("| city | people |\n| --- | --- |\n| Lyon | 5 |") == {"items": [{"city": "Lyon", "people": "5"}]}
    assert parse_text_result('[1, 2]') == {"items": [1, 2]} and parse_text_result('{"a": 1}') == {"a": 1}
    assert parse_text_result("On branch main\nnothing to commit") is None  # free text is no result
    assert parse_text_result("Status: ok") is None  # one pair is a label, not a record
    record = ToolCallRecord(index=0, server="s", tool="t", arguments={}, text='{"a": 1}')
    assert record.structured() == {"a": 1}
    assert record.model_copy(update={"is_error": True}).structured() is None


def test_a_config_names_the_folders_its_servers_start_on_as_seeds(tmp_path):
    from dive.synth.sampling import config_seeds

    script = tmp_path / "server.py"
    script.write_text("")
    config = {"mcpServers": {"git": {"command": "mcp-server-git", "args": ["--repository", str(tmp_path)]},
                             "other": {"command": "python", "args": [str(script), "/no/such/dir"]}}}
    assert [(s.type, s.name) for s in config_seeds(config)] == [("path", str(tmp_path))]
