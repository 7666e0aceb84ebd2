"""`dive eval` through its Typer app, as a user runs it: both splits side by side, given tasks with K samples,
re-scoring, the benchmark hook, and options refused up front."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from dive.eval.cli import eval_app
from typer.testing import CliRunner

runner = CliRunner()


def test_run_both_splits_then_rescore(id_split, heldout_split, eval_home: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DIVE_HOME", str(eval_home))  # the splits the fixtures made are found in the cache
    out = tmp_path / "run"
    result = runner.invoke(eval_app, ["run", "--agent", "replay", "--id-domain", "files", "--id-domain", "database",
                                      "--heldout-domain", "geo", "--split-size", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "OOD-ID gap" in result.output and "+0.0 pt" in result.output
    report = json.loads((out / "metrics.json").read_text())
    assert report["run"]["splits"] == {"id": str(id_split.source), "heldout": str(heldout_split.source)}
    assert {s: m["success_rate"] for s, m in report["metrics"]["splits"].items()} == {"id": 1.0, "heldout": 1.0}

    rescored = runner.invoke(eval_app, ["rescore", str(out)])
    assert rescored.exit_code == 0, rescored.output
    assert "reproduced" in rescored.output

    metrics = json.loads((out / "metrics.json").read_text())
    metrics["metrics"]["splits"]["heldout"]["success_rate"] = 0.5
    (out / "metrics.json").write_text(json.dumps(metrics))
    tampered = runner.invoke(eval_app, ["rescore", str(out)])
    assert tampered.exit_code == 1
    assert "splits.heldout.success_rate" in tampered.output and "not reproduced" in tampered.output


def test_run_given_tasks_with_samples_and_a_training_set(id_split, tmp_path: Path):
    train = tmp_path / "train"
    train.mkdir()
    (train / "manifest.json").write_text(json.dumps({"seeds": [id_split.tasks[0].seed.id]}))
    out = tmp_path / "run"
    result = runner.invoke(eval_app, ["run", "--agent", "replay", "--tasks", str(id_split.source), "--train", str(train),
                                      "--n", "1", "--samples", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "dropped" in result.output
    report = json.loads((out / "metrics.json").read_text())
    split = report["metrics"]["splits"]["id"]  # labelled id: the tasks are on training-domain tools
    assert (split["tasks"], split["episodes"], split["pass_at_k"]) == (1, 2, {"pass@1": 1.0, "pass@2": 1.0})
    assert report["run"]["removed_seed_overlap"] >= 1
    assert id_split.tasks[0].id not in (out / "results.jsonl").read_text()


def test_bench_hook(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dive.eval.bfcl", None)  # as if the module were not there
    missing = runner.invoke(eval_app, ["run", "--agent", "none", "--bench", "bfcl-simple", "--out", str(tmp_path)])
    assert missing.exit_code == 1 and "not available yet" in missing.output
    unknown = runner.invoke(eval_app, ["run", "--agent", "none", "--bench", "other", "--out", str(tmp_path)])
    assert unknown.exit_code == 1 and "unknown benchmark" in unknown.output

    calls = []
    fake = types.ModuleType("dive.eval.bfcl")
    fake.run_bench = lambda name, agent, n, out: calls.append((name, type(agent).__name__, n, out))
    monkeypatch.setitem(sys.modules, "dive.eval.bfcl", fake)
    ran = runner.invoke(eval_app, ["run", "--agent", "none", "--bench", "bfcl-simple", "--n", "4", "--out", str(tmp_path)])
    assert ran.exit_code == 0, ran.output
    assert calls == [("bfcl-simple", "NoAnswerAgent", 4, tmp_path)]


@pytest.mark.parametrize(("args", "message"), [
    (["--agent", "replay", "--model", "m"], "either --agent or --model"),
    (["--backend", "openai", "--model", "m"], "--base-url"),
    (["--agent", "none", "--samples", "0"], "at least 1"),
    (["--agent", "replay", "--bench", "bfcl-simple"], "needs a model"),
])
def test_bad_options_are_refused_before_anything_runs(args, message, tmp_path: Path):
    result = runner.invoke(eval_app, ["run", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "out").exists()
