"""`dive eval run --bench bfcl-*`: an agent that writes the possible answers' calls scores 100%, a silent one 0%."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dive.env.chat_format import render_answer, render_tool_call
from dive.eval.bfcl import load_entry, run_bench
from dive.eval.cli import eval_app
from tests.eval.test_bfcl_ast import right_calls


def answering_agent(observation, info):
    """Writes, in DIVE-v0's format, the calls the entry's possible answer allows (one block per call)."""
    entry = load_entry(info["task_id"])
    assert entry.turns[0][-1].content in observation and info["tools"] == entry.tool_schemas()
    return "\n".join(render_tool_call(c["name"], c["arguments"]) for c in right_calls(entry))


@pytest.mark.parametrize("bench", ["bfcl-simple", "bfcl-multiple", "bfcl-parallel"])
def test_right_calls_score_everything_and_no_calls_nothing(bench, tmp_path):
    right = run_bench(bench, answering_agent, n=15, out=tmp_path)
    assert right.entries == 15 and right.accuracy == 1.0
    silent = run_bench(bench, lambda obs, info: render_answer("I cannot help."), n=15, out=tmp_path / "silent")
    assert silent.accuracy == 0.0 and silent.errors == {"no_call": 15}
    lines = [json.loads(line) for line in (tmp_path / f"{bench}.jsonl").read_text().splitlines()]
    assert len(lines) == 15 and all(line["correct"] for line in lines)


def test_the_bench_through_dive_eval_run(tmp_path):
    done = CliRunner().invoke(eval_app, ["run", "--agent", "none", "--bench", "bfcl-simple", "--n", "3",
                                         "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert json.loads((tmp_path / "bfcl-simple.json").read_text())["accuracy"] == 0.0


def test_multi_turn_entries_run_over_mcp_and_are_scored(tmp_path):
    """An agent that makes the ground truth's calls in each user turn, then replies, is right; one that stops is not."""
    from dive.eval.bfcl import ground_truth_calls

    def ground_truth_agent(observation, info):
        entry = load_entry(info["task_id"])
        turn = info["turn"]
        made = [m for m in info["messages"] if m["role"] == "assistant"]
        answered_turns = sum(1 for m in made if not m.get("tool_calls"))
        if answered_turns > turn or made and made[-1].get("tool_calls"):
            return render_answer("done")
        return "\n".join(render_tool_call(c.name, c.arguments) for c in ground_truth_calls(entry)[turn])

    right = run_bench("bfcl-multi-turn", ground_truth_agent, n=2, out=tmp_path)
    assert right.entries == 2 and right.accuracy == 1.0, (tmp_path / "bfcl-multi-turn.jsonl").read_text()[-2000:]
    idle = run_bench("bfcl-multi-turn", lambda obs, info: render_answer("no"), n=2, out=tmp_path / "idle")
    assert idle.accuracy == 0.0
