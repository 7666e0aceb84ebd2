"""`dive experiment scaling` end to end on a tiny configuration: a tiny random model, a handful of tasks per set,
one SFT step each; then resuming, the two axes' diversity figures, and the leakage audit against the held-out split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from dive.eval.audit import LeakageError
from dive.eval.scaling import PLOT_FILE, REPORT_FILE, RESULTS_FILE, STAGE_FILE, ScalingOptions, _Run
from dive.synth import load_tasks
from dive.train.testing import save_tiny_model, tiny_causal_lm, train_tokenizer
from typer.testing import CliRunner

from dive.cli import app

N = 4
TEXTS = ['<tool_call>{"name": "run_query", "arguments": {"sql": "SELECT name FROM countries"}}</tool_call>',
         "<tool_response>{\"rows\": [[\"Chile\", 19116209]]}</tool_response> <answer>42</answer>",
         "What is the population of the most populous city of Chile? You are an assistant with tools."]


@pytest.fixture(scope="module")
def tiny_base(world, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer Llama with a tokenizer trained on a few lines and on the world's own tables
    (nothing downloaded): tool results, which are mostly such rows and numbers, take a few characters a token
    as with a real tokenizer, so a conversation of two or three calls fits the experiment's max_length."""
    tables = [(world.files_root / "data" / name).read_text()[:20_000] for name in ("airports.csv", "companies.csv")]
    tokenizer = train_tokenizer(TEXTS * 20 + tables, vocab_size=1000)
    model = tiny_causal_lm(tokenizer, max_positions=8192)
    return save_tiny_model(tmp_path_factory.mktemp("base") / "model", model, tokenizer)


def scaling_args(out: Path, model: Path, world, *extra: str) -> list[str]:
    return ["experiment", "scaling", "--out", str(out), "--model", str(model), "--world", str(world.root),
            "--tasks", str(N), "--quantity", "1,2", "--diversity-domain", "files", "--diversity-domain", "database",
            "--quantity-domain", "database", "--quantity-toolset-size", "2-3", "--id-domain", "database",
            "--heldout-domain", "geo", "--eval-size", "3", "--max-steps", "1", "--max-length", "8192",
            "--max-new-tokens", "8", "--max-turns", "1", "--no-embedding-metrics", "--bench", "bfcl-simple",
            "--bench-n", "2", *extra]


def run_cli(args: list[str]):
    return CliRunner().invoke(app, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def experiment(world, tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One whole experiment through the CLI: 3 training sets, 4 models evaluated, the report."""
    out = tmp_path_factory.mktemp("scaling") / "exp"
    result = run_cli(scaling_args(out, tiny_base, world))
    assert result.exit_code == 0, result.output
    return out


def results(out: Path) -> dict:
    return json.loads((out / RESULTS_FILE).read_text())


def test_the_experiment_reports_every_model_on_both_splits_with_its_provenance(experiment: Path) -> None:
    data = results(experiment)
    assert [s["name"] for s in data["sets"]] == ["diversity-1x", "quantity-1x", "quantity-2x"]
    assert [s["requested"] for s in data["sets"]] == [N, N, 2 * N]
    assert [m["name"] for m in data["models"]] == ["base", "diversity-1x", "quantity-1x", "quantity-2x"]
    for model in data["models"]:
        assert model["id_tasks"] > 0 and model["heldout_tasks"] == 3
        assert model["id_success"] is not None and model["heldout_success"] is not None
        assert set(model["bench"]) == {"bfcl-simple"}
    for model in data["models"][1:]:
        assert model["train"]["steps"] == 1
        assert (Path(model["checkpoint"]) / "config.json").is_file()
    assert all(stage["status"] == "ran" for stage in data["stages"])
    report = (experiment / REPORT_FILE).read_text()
    for name in ("diversity-1x", "quantity-1x", "quantity-2x", "## Training sets", "Calls, in order",
                 "dive.train.sft.train_sft(", "dive.synth.synthesize(", "evaluation splits' seed 7919", "torch ",
                 "dive experiment scaling --out"):
        assert name in report
    assert data["versions"]["dive_gym"] and data["versions"]["transformers"]
    assert (experiment / PLOT_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for s in data["sets"]:  # each set's diversity metrics are synthesis' own stats.json
        assert s["stats"] == json.loads((Path(s["folder"]) / "stats.json").read_text())


def test_a_second_run_redoes_nothing_and_an_interrupted_stage_is_redone_alone(
        experiment: Path, tiny_base: Path, world) -> None:
    before = {p: p.read_text() for p in experiment.rglob(STAGE_FILE)}
    result = run_cli(scaling_args(experiment, tiny_base, world))
    assert result.exit_code == 0, result.output
    assert {s["status"] for s in results(experiment)["stages"]} == {"reused"}
    assert {p: p.read_text() for p in experiment.rglob(STAGE_FILE)} == before

    # An evaluation killed before it finished left no stage record: only it runs again.
    (experiment / "eval" / "quantity-2x" / STAGE_FILE).unlink()
    result = run_cli(scaling_args(experiment, tiny_base, world))
    assert result.exit_code == 0, result.output
    ran = [s["stage"] for s in results(experiment)["stages"] if s["status"] != "reused"]
    assert ran == ["eval quantity-2x"]

    # A training run interrupted before it finished continues, and its checkpoint is evaluated again.
    (experiment / "train" / "quantity-1x" / STAGE_FILE).unlink()
    result = run_cli(scaling_args(experiment, tiny_base, world))
    assert result.exit_code == 0, result.output
    stages = {s["stage"]: s["status"] for s in results(experiment)["stages"]}
    assert stages["train quantity-1x"] == "resumed" and stages["eval quantity-1x"] == "ran"
    assert [name for name, status in stages.items() if status != "reused"] == ["train quantity-1x",
                                                                                "eval quantity-1x"]


def test_a_folder_made_with_other_settings_is_refused(experiment: Path, tiny_base: Path, world,
                                                     tmp_path: Path) -> None:
    copy = tmp_path / "exp"
    shutil.copytree(experiment, copy)
    result = CliRunner().invoke(app, scaling_args(copy, tiny_base, world, "--lr", "1e-3"))
    assert result.exit_code == 1
    assert "other settings" in result.output


def test_the_diversity_set_covers_more_tools_and_structures_per_task_than_the_quantity_sets(
        experiment: Path) -> None:
    sets = {s["name"]: s for s in results(experiment)["sets"]}
    diverse = sets["diversity-1x"]["stats"]
    for name in ("quantity-1x", "quantity-2x"):
        narrow = sets[name]["stats"]
        assert diverse["tools_covered"] / diverse["tasks"] > narrow["tools_covered"] / narrow["tasks"]
        assert diverse["unique_call_graphs"] / diverse["tasks"] > narrow["unique_call_graphs"] / narrow["tasks"]
        assert diverse["tools_available"] > narrow["tools_available"]  # the pool it draws from is wider


def test_no_training_set_shares_a_tool_or_a_question_with_the_heldout_split(experiment: Path) -> None:
    data = results(experiment)
    heldout = load_tasks(Path(data["splits"]["heldout"]["folder"]))
    heldout_tools = {tool for t in heldout for tool in t.toolset}
    for s in data["sets"]:
        assert s["audit_passed"] and not s["audit"]["tool_leaks"]
        tasks = load_tasks(Path(s["folder"]))
        assert not heldout_tools & {tool for t in tasks for tool in t.toolset}
        assert not {t.question for t in heldout} & {t.question for t in tasks}


def test_a_training_set_that_leaks_into_the_heldout_split_stops_the_experiment(experiment: Path) -> None:
    heldout = Path(results(experiment)["splits"]["heldout"]["folder"])
    run = _Run(ScalingOptions(), experiment, lambda line: None)
    with pytest.raises(LeakageError):
        run.audit("leaky", heldout, heldout)
