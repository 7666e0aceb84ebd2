"""`dive train sft` through the CLI, on the session's synthesized data and the tiny model."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from dive.cli import app


def test_dive_train_sft_command(synth_tasks, tiny_model_dir, tmp_path):
    out = tmp_path / "sft"
    args = ["train", "sft", "--data", str(synth_tasks), "--out", str(out), "--model", str(tiny_model_dir),
            "--max-steps", "2", "--max-length", "256"]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "SFT: 2 steps on 16 conversations" in done.output
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "--resume" in again.output
    assert json.loads((out / "sft_result.json").read_text())["steps"] == 2


def test_dive_train_ppo_command_refuses_a_used_folder(synth_tasks, tmp_path):
    """The ppo command reaches train_ppo with the CLI's arguments (a used OUT is refused before any model loads)."""
    out = tmp_path / "ppo"
    out.mkdir()
    (out / "metrics.jsonl").write_text("{}\n")
    done = CliRunner().invoke(app, ["train", "ppo", "--tasks", str(synth_tasks), "--out", str(out), "--max-steps", "1"])
    assert done.exit_code == 1 and "resume" in done.output
