"""The runner end to end in DIVE-v0: scripted agents score 100% and 0% on both splits; every error class is
recognised; the report folder is written and re-scores to the same numbers, and tampering is caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from dive.env.chat_format import render_answer, render_tool_call
from dive.eval import NoAnswerAgent, ReplayAgent, evaluate, rescore, run_eval
from dive.eval.report import METRICS, REPORT, RESULTS


@pytest.fixture(scope="module")
def replay_run(id_split, heldout_split, tmp_path_factory) -> Path:
    """The replay agent (answers every task correctly) on both tiny splits, written to a report folder."""
    out = tmp_path_factory.mktemp("eval") / "replay"
    agent = ReplayAgent([*id_split.tasks, *heldout_split.tasks])
    run_eval(agent, [id_split, heldout_split], out, agent_name="scripted:replay", transport="inprocess")
    return out


def test_replay_agent_scores_full_marks_on_both_splits(replay_run: Path, id_split, heldout_split):
    report = json.loads((replay_run / METRICS).read_text())
    splits = report["metrics"]["splits"]
    assert set(splits) == {"id", "heldout"}
    for name, split in (("id", id_split), ("heldout", heldout_split)):
        metrics = splits[name]
        assert metrics["tasks"] == len(split.tasks) and metrics["episodes"] == len(split.tasks)
        assert metrics["success_rate"] == 1.0 and metrics["pass_at_k"] == {"pass@1": 1.0}
        assert metrics["valid_tool_call_rate"] == 1.0
        assert sum(metrics["errors"].values()) == 0
        assert set(metrics["per_domain"]) <= {d for t in split.tasks for d in t.domains}
    assert report["metrics"]["gap"]["success_rate"] == 0.0
    assert report["audit"] is None  # no training set given
    lines = (replay_run / RESULTS).read_text().splitlines()
    assert len(lines) == len(id_split.tasks) + len(heldout_split.tasks)
    first = json.loads(lines[0])
    assert first["trace"]["calls"] and first["predicted_answer"] is not None and "matcher" in first
    text = (replay_run / REPORT).read_text()
    assert "gap (OOD - ID)" in text and "## Per domain" in text and "## Error classes" in text
    for plot in ("plot_success.png", "plot_gap.png", "plot_tool_calls.png"):
        assert (replay_run / plot).stat().st_size > 1000 and f"({plot})" in text


def test_an_agent_that_never_answers_scores_zero_on_both_splits(id_split, heldout_split):
    agent = NoAnswerAgent()
    for split in (id_split, heldout_split):
        results = evaluate(agent, split.tasks, split.env_kwargs(transport="inprocess", max_turns=2), split=split.name)
        metrics = results.metrics().splits[split.name]
        assert metrics.success_rate == 0.0 and metrics.pass_at_k == {"pass@1": 0.0}
        assert metrics.errors["no_answer"] == len(split.tasks)
        assert metrics.errors["malformed_action"] == 2 * len(split.tasks)
        assert metrics.valid_tool_call_rate == 0.0
        assert all(e.truncated and e.predicted_answer is None for e in results.episodes)


def test_samples_give_pass_at_k_and_repeatable_seeds(id_split):
    task = id_split.tasks[0]
    results = evaluate(ReplayAgent([task]), id_split.tasks, id_split.env_kwargs(), samples=2, n=1, seed=5)
    assert [(e.task_id, e.sample, e.seed) for e in results.episodes] == [(task.id, 0, 5), (task.id, 1, 6)]
    assert results.metrics().splits["id"].pass_at_k == {"pass@1": 1.0, "pass@2": 1.0}


def test_every_error_class_is_recognised(id_split):
    """Turns: an unknown tool, arguments off the schema, an unreadable turn, one good call, a wrong answer."""
    task = id_split.tasks[0]
    replay = ReplayAgent([task])
    script: list = []

    def agent(observation, info):
        if not script:
            strict = next(t["function"] for t in info["tools"] if t["function"]["parameters"].get("required"))
            script.extend([
                render_tool_call("no_such_tool", {}),
                render_tool_call(strict["name"], {}),
                "let me think about it",
                replay(observation, {**info, "turn": 0}),
                render_answer("certainly not the answer"),
            ])
        return script[info["turn"]]

    results = evaluate(agent, [task], id_split.env_kwargs(max_turns=6))
    episode = results.episodes[0]
    assert episode.errors == {"unknown_tool": 1, "bad_arguments": 1, "malformed_action": 1, "wrong_answer": 1}
    assert (episode.tool_calls, episode.valid_tool_calls, episode.malformed_turns) == (4, 1, 3)
    assert episode.tools_called == [script[1].split('"name": "')[1].split('"')[0], task.diversity.call_sequence[0]]
    assert not episode.success and episode.predicted_answer == "certainly not the answer"


def test_rescore_reproduces_the_scores(replay_run: Path):
    report = rescore(replay_run)
    assert report.reproduced, (report.episode_problems, report.metric_differences)
    assert report.episodes == len((replay_run / RESULTS).read_text().splitlines())


def _tampered(replay_run: Path, tmp_path: Path, change) -> Path:
    out = tmp_path / "tampered"
    shutil.copytree(replay_run, out)
    lines = (out / RESULTS).read_text().splitlines()
    record = json.loads(lines[0])
    change(record)
    lines[0] = json.dumps(record)
    (out / RESULTS).write_text("\n".join(lines) + "\n")
    return out


def test_rescore_detects_a_tampered_answer(replay_run: Path, tmp_path: Path):
    def swap_answer(record):  # a recorded answer that the episode's own messages do not contain
        record["predicted_answer"] = "something else"

    report = rescore(_tampered(replay_run, tmp_path, swap_answer))
    assert not report.reproduced
    assert any("is not the one in its messages" in p for p in report.episode_problems)


def test_rescore_detects_a_tampered_reference(replay_run: Path, tmp_path: Path):
    def move_reference(record):  # the metrics no longer follow: the answer stops matching
        record["reference_answer"] = "not what was answered"

    report = rescore(_tampered(replay_run, tmp_path, move_reference))
    assert not report.reproduced
    assert any("does not match" in p for p in report.episode_problems)
    assert any(d.startswith("splits.id.success_rate") for d in report.metric_differences)
