"""The leakage audit: clean splits pass; a copied question, a held-out tool name in a training toolset and a
held-out schema hash in the training catalog are each caught; the eval refuses leaky OOD numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from dive.eval import LeakageError, NoAnswerAgent, run_eval
from dive.eval.audit import audit
from dive.eval.cli import eval_app
from typer.testing import CliRunner


def copy_training_set(train: Path, tmp_path: Path) -> Path:
    target = tmp_path / "train"
    shutil.copytree(train, target)
    return target


def rewrite_tasks(folder: Path, change) -> None:
    path = folder / "tasks.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    change(records)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_clean_splits_pass(synth_tasks: Path, heldout_split):
    report = audit(synth_tasks, heldout_split.source)
    assert report.passed, report.reasons
    assert report.tool_leaks == [] and report.near_duplicates == 0 and report.near_duplicate_rate == 0
    assert report.heldout_tasks == len(heldout_split.tasks) and report.train_tasks == 16
    assert report.embedding_model and report.top_pairs and report.top_pairs[0].cosine < report.near_duplicate_threshold


def test_a_copied_question_is_caught(synth_tasks: Path, heldout_split, tmp_path: Path):
    leaky = copy_training_set(synth_tasks, tmp_path)
    question = heldout_split.tasks[0].question

    def plant(records):
        records.append({**records[0], "id": "planted", "question": question})

    rewrite_tasks(leaky, plant)
    report = audit(leaky, heldout_split.source)
    assert not report.passed
    assert report.tool_leaks == []
    assert report.near_duplicates == 1 and report.near_duplicate_rate == pytest.approx(1 / len(heldout_split.tasks))
    top = report.top_pairs[0]
    assert (top.train_task, top.heldout_task, top.cosine) == ("planted", heldout_split.tasks[0].id, 1.0)
    assert report.reasons == [(f"1 of {len(heldout_split.tasks)} held-out questions ({1 / len(heldout_split.tasks):.1%}) "
                              "have a training question at cosine >= 0.9 (limit 2.0%)")]


def test_a_held_out_tool_name_in_a_training_toolset_is_caught(synth_tasks: Path, heldout_split, tmp_path: Path):
    leaky = copy_training_set(synth_tasks, tmp_path)
    tool = heldout_split.tasks[0].toolset[0]
    rewrite_tasks(leaky, lambda records: records[3]["toolset"].append(tool))
    report = audit(leaky, heldout_split.source)
    assert not report.passed
    assert [(leak.tool, leak.by) for leak in report.tool_leaks] == [(tool, "name")]
    assert tool in report.reasons[0]


def test_a_held_out_schema_hash_in_the_training_catalog_is_caught(synth_tasks: Path, heldout_split, tmp_path: Path):
    leaky = copy_training_set(synth_tasks, tmp_path)
    tool = heldout_split.tasks[0].toolset[0]
    held_out_catalog = json.loads((heldout_split.source / "manifest.json").read_text())["tools"]
    manifest = json.loads((leaky / "manifest.json").read_text())
    manifest["tools"]["renamed_lookup"] = {**held_out_catalog[tool], "domain": "files"}
    (leaky / "manifest.json").write_text(json.dumps(manifest))
    report = audit(leaky, heldout_split.source)
    assert [(leak.tool, leak.by, leak.training_tool) for leak in report.tool_leaks] == [
        (tool, "schema_hash", "renamed_lookup")]
    assert not report.passed


def test_audit_command_exit_codes(synth_tasks: Path, heldout_split, tmp_path: Path):
    runner = CliRunner()
    clean = runner.invoke(eval_app, ["audit", "--train", str(synth_tasks), "--heldout", str(heldout_split.source)])
    assert clean.exit_code == 0, clean.output
    assert "passed" in clean.output
    leaky = copy_training_set(synth_tasks, tmp_path)
    rewrite_tasks(leaky, lambda records: records[0]["toolset"].append(heldout_split.tasks[0].toolset[0]))
    failed = runner.invoke(eval_app, ["audit", "--train", str(leaky), "--heldout", str(heldout_split.source), "--json"])
    assert failed.exit_code == 1
    assert json.loads(failed.output)["passed"] is False


def test_the_eval_refuses_ood_numbers_on_a_leaky_split(synth_tasks: Path, heldout_split, tmp_path: Path):
    leaky = copy_training_set(synth_tasks, tmp_path)
    rewrite_tasks(leaky, lambda records: records.append({**records[0], "id": "planted",
                                                         "question": heldout_split.tasks[1].question}))
    with pytest.raises(LeakageError, match="allow-leakage"):
        run_eval(NoAnswerAgent(), [heldout_split], tmp_path / "refused", agent_name="none", train=leaky)
    assert not (tmp_path / "refused").exists()

    runner = CliRunner()
    args = ["run", "--agent", "none", "--tasks", str(heldout_split.source), "--split", "heldout",
            "--train", str(leaky), "--n", "1", "--max-turns", "1"]
    refused = runner.invoke(eval_app, [*args, "--out", str(tmp_path / "cli-refused")])
    assert refused.exit_code == 1 and "leakage audit" in refused.output and "--allow-leakage" in refused.output
    allowed = runner.invoke(eval_app, [*args, "--out", str(tmp_path / "allowed"), "--allow-leakage"])
    assert allowed.exit_code == 0, allowed.output
    report = json.loads((tmp_path / "allowed" / "metrics.json").read_text())
    assert report["audit"]["passed"] is False and report["run"]["allow_leakage"] is True
    assert "not a clean OOD measure" in (tmp_path / "allowed" / "report.md").read_text()
