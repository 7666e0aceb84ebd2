"""`dive train` through the CLI, on the session's synthesized data and the tiny model: a short SFT run, and the
one-line refusals (a used output folder, an unknown model, a folder without sft.jsonl, tasks whose tools the
servers do not offer) that come before any model is loaded or trained."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from dive.cli import app
from tests.train.conftest import TINY_MAX_LENGTH


def test_dive_train_sft_command(short_sft_data, tiny_model_dir, tmp_path):
    out = tmp_path / "sft"
    args = ["train", "sft", "--data", str(short_sft_data), "--out", str(out), "--model", str(tiny_model_dir),
            "--max-steps", "2", "--max-length", str(TINY_MAX_LENGTH), "--tools", "compact"]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "SFT (compact tools): 2 steps on 16 conversations" in done.output
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "--resume" in again.output
    result = json.loads((out / "sft_result.json").read_text())
    assert result["steps"] == 2 and result["tools_format"] == "compact"
    card = (out / "README.md").read_text()
    assert "dive train sft --data" in card and "--tools compact" in card and "Tools: `compact`" in card


def one_line_error(done) -> str:
    """The error message of a failed command, checked to be one sentence (which the console may wrap)."""
    assert done.exit_code == 1, done.output
    assert "Traceback" not in done.output and done.exception is None or isinstance(done.exception, SystemExit)
    message = " ".join(done.output.split())
    assert message.startswith("error:") and message.count("error:") == 1, done.output
    return message


def test_an_unknown_model_fails_at_once_offline_in_one_line(short_sft_data, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    args = ["train", "sft", "--data", str(short_sft_data), "--out", str(tmp_path / "out"), "--max-steps", "1"]
    line = one_line_error(CliRunner().invoke(app, [*args, "--model", "nope-model"]))
    assert "'nope-model'" in line and "offline" in line
    line = one_line_error(CliRunner().invoke(app, [*args, "--model", str(tmp_path)]))
    assert "without a config.json" in line
    assert not (tmp_path / "out").exists()


def test_a_data_folder_without_sft_jsonl_fails_in_one_line(tmp_path, tiny_model_dir):
    args = ["train", "sft", "--data", str(tmp_path), "--out", str(tmp_path / "out"), "--model", str(tiny_model_dir)]
    line = one_line_error(CliRunner().invoke(app, args))
    assert "no SFT data" in line and "sft.jsonl" in line


def test_dive_train_ppo_command_refuses_a_used_folder(synth_tasks, tmp_path):
    """The ppo command reaches train_ppo with the CLI's arguments (a used OUT is refused before any model loads)."""
    out = tmp_path / "ppo"
    out.mkdir()
    (out / "metrics.jsonl").write_text("{}\n")
    done = CliRunner().invoke(app, ["train", "ppo", "--tasks", str(synth_tasks), "--out", str(out), "--max-steps", "1"])
    assert done.exit_code == 1 and "resume" in done.output


@pytest.mark.parametrize("method", ["grpo", "ppo"])
def test_rl_commands_refuse_an_unknown_model_in_one_line(method, synth_tasks, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    args = ["train", method, "--tasks", str(synth_tasks), "--out", str(tmp_path / "out"), "--model", "nope-model"]
    line = one_line_error(CliRunner().invoke(app, args))
    assert "'nope-model'" in line and "offline" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("method", ["grpo", "ppo"])
def test_tasks_whose_tools_the_servers_do_not_offer_are_refused_in_one_line(method, synth_tasks, tiny_model_dir,
                                                                             tmp_path):
    """The session's tasks call files and database tools; a config that serves only the media domain offers none."""
    config = tmp_path / "servers.json"
    config.write_text(json.dumps({"mcpServers": {"media": {"command": sys.executable,
                                                           "args": ["-m", "dive", "serve", "media"]}}}))
    args = ["train", method, "--tasks", str(synth_tasks), "--out", str(tmp_path / "out"), "--model",
            str(tiny_model_dir), "--servers", str(config), "--max-steps", "1"]
    line = one_line_error(CliRunner().invoke(app, args))
    assert "the tasks use tools that no server offers" in line
    assert not (tmp_path / "out").exists()
