"""SFT with TRL on a synthesized dataset: the loss on assistant tokens falls, the checkpoint reloads as a plain
Hugging Face model whose chat template renders conversations exactly as training did and whose model card names
the base model, the data and the command, its replies go through DIVE-v0's action parser, over-long
conversations leave out whole tool schemas (never cut), runs resume, LoRA is merged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from dive.env.actions import parse_action
from dive.train.chat import install_dive_template, render_conversation, render_prompt, template_tools_format
from dive.train.sft import (
    assistant_loss,
    called_tools,
    fit_conversation,
    load_sft_examples,
    read_metrics,
    tokenize_examples,
    train_sft,
)
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.train.conftest import TINY_MAX_LENGTH

ACTION_KINDS = {"tool_calls", "answer", "malformed"}


def test_sft_lowers_the_loss_on_assistant_tokens(tiny_sft_run, tiny_model_dir, short_sft_data):
    examples = load_sft_examples(short_sft_data)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    before = assistant_loss(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tokenizer, examples,
                            max_length=TINY_MAX_LENGTH)
    after = assistant_loss(AutoModelForCausalLM.from_pretrained(tiny_sft_run.out), tokenizer, examples,
                           max_length=TINY_MAX_LENGTH)
    assert after < before - 1.0, (before, after)
    assert tiny_sft_run.last_loss < tiny_sft_run.first_loss
    assert tiny_sft_run.steps == 20 and tiny_sft_run.examples == 16 and tiny_sft_run.skipped == 0


def test_sft_writes_metrics_a_loss_plot_and_a_reloadable_checkpoint(tiny_sft_run):
    out = Path(tiny_sft_run.out)
    metrics = read_metrics(out / "metrics.jsonl")
    assert [m.step for m in metrics] == list(range(1, 21))
    assert all(m.loss > 0 and m.learning_rate > 0 and m.tokens_per_second > 0 for m in metrics)
    assert metrics[-1].num_tokens > metrics[0].num_tokens
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "sft_result.json").read_text())["steps"] == 20
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.num_hidden_layers == 2
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"


def test_the_checkpoint_renders_conversations_exactly_as_training_did(tiny_sft_run, tiny_model_dir, short_sft_data):
    """Serving the checkpoint with its own template (transformers' `apply_chat_template(messages, tools=...)`)
    gives the text training tokenized, for whole conversations and for prompts."""
    import datasets

    trained = AutoTokenizer.from_pretrained(tiny_sft_run.out)
    assert template_tools_format(trained.chat_template) == "full"
    base = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert template_tools_format(base.chat_template) is None  # the base model's template knows no tools
    rows = datasets.load_dataset("json", data_files=str(short_sft_data), split="train")
    for row in rows:
        text = trained.apply_chat_template(row["messages"], tools=row["tools"], tokenize=False)
        assert text == render_conversation(base, row["messages"], row["tools"])
        conversation = text.split("</tools>", 1)[1].split("<|im_start|>user", 1)[1]
        assert conversation.count("<tool_call>") == sum(len(m.get("tool_calls") or []) for m in row["messages"])
        prompt = trained.apply_chat_template(row["messages"][:1], tools=row["tools"], tokenize=False,
                                             add_generation_prompt=True)
        assert prompt == render_prompt(base, row["messages"][:1], row["tools"]) and text.startswith(prompt)


def test_the_checkpoint_has_a_model_card_with_base_model_data_and_command(tiny_sft_run, tiny_model_dir,
                                                                           short_sft_data):
    card = (Path(tiny_sft_run.out) / "README.md").read_text()
    assert card.startswith("---\n") and f"base_model: {tiny_model_dir}" in card
    assert "[None]" not in card
    assert str(short_sft_data) in card and "16 conversations" in card
    assert "dive.train.train_sft(" in card and "max_steps=20" in card
    assert "Tools: `full`" in card and "apply_chat_template(messages, tools=tools)" in card


def test_over_long_conversations_leave_out_whole_unused_tool_schemas(short_sft_data, tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    install_dive_template(tokenizer, "full")
    examples = load_sft_examples(short_sft_data)
    for example in examples[:4]:
        whole, _ = fit_conversation(tokenizer, example, None)
        tokens, left_out = fit_conversation(tokenizer, example, TINY_MAX_LENGTH)
        assert len(whole.input_ids) > TINY_MAX_LENGTH  # 15-50 tool schemas do not fit
        assert tokens is not None and len(tokens.input_ids) <= TINY_MAX_LENGTH and left_out > 0
        offered = [json.loads(line) for line in tokens.text.split("<tools>\n")[1].split("\n</tools>")[0].split("\n")]
        assert len(offered) == len(example.tools) - left_out  # whole schemas, each still valid JSON
        assert called_tools(example.messages) <= {t["function"]["name"] for t in offered}
        assert tokens.text.endswith(whole.text[whole.text.index("<|im_start|>user"):])  # the conversation is whole
    # A conversation too long even with only the tools it calls is left out, and the run says so:
    needed = sorted(len(tokenizer(render_conversation(tokenizer, e.messages, [
        t for t in e.tools if t["function"]["name"] in called_tools(e.messages)]), add_special_tokens=False).input_ids)
        for e in examples)
    limit = needed[len(needed) // 2]
    rows, fitting = tokenize_examples(tokenizer, examples, limit)
    assert len(fitting.skipped) == sum(n > limit for n in needed) > 0
    assert len(rows) == len(examples) - len(fitting.skipped)
    assert "left out" in fitting.summary(len(examples), limit)
    with pytest.raises(ValueError, match="--tools compact"):
        tokenize_examples(tokenizer, examples, needed[0] - 1)


def test_a_reply_generated_by_the_sft_model_goes_through_the_env_parser(tiny_sft_run, short_sft_data):
    model = AutoModelForCausalLM.from_pretrained(tiny_sft_run.out)
    tokenizer = AutoTokenizer.from_pretrained(tiny_sft_run.out)
    example = load_sft_examples(short_sft_data)[0]
    prompt = render_prompt(tokenizer, example.messages[:1], example.tools)
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids[:, -TINY_MAX_LENGTH:]
    with torch.no_grad():
        generated = model.generate(ids, max_new_tokens=24, do_sample=False)
    reply = tokenizer.decode(generated[0, ids.shape[1]:], skip_special_tokens=True)
    assert reply.strip()
    action = parse_action(reply)
    assert action.kind in ACTION_KINDS
    assert action.kind != "malformed" or action.errors  # a malformed turn says why


def test_an_interrupted_run_resumes_from_its_latest_checkpoint(short_sft_data, tiny_model_dir, tmp_path):
    sft_data = short_sft_data
    out = tmp_path / "run"
    settings = {"max_steps": 6, "batch_size": 2, "lr": 1e-2, "max_length": TINY_MAX_LENGTH, "save_steps": 2}
    train_sft(sft_data, str(tiny_model_dir), out, **settings)
    uninterrupted = read_metrics(out / "metrics.jsonl")
    with pytest.raises(FileExistsError, match="resume"):
        train_sft(sft_data, str(tiny_model_dir), out, **settings)
    # As if killed after logging step 6 and before its checkpoint was written:
    shutil.rmtree(out / "checkpoint-6")
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4"]

    resumed = train_sft(sft_data, str(tiny_model_dir), out, resume=True, **settings)
    metrics = read_metrics(out / "metrics.jsonl")
    assert resumed.steps == 6
    assert [m.step for m in metrics] == [1, 2, 3, 4, 5, 6]  # steps 5 and 6 logged once, by the resumed run
    # Same weights, optimizer state, schedule and data order as the run that was not interrupted:
    for again, before in zip(metrics[4:], uninterrupted[4:]):
        assert again.loss == pytest.approx(before.loss, rel=1e-4)
        assert again.learning_rate == pytest.approx(before.learning_rate)
    assert AutoModelForCausalLM.from_pretrained(out).config.num_hidden_layers == 2


def test_lora_adapters_are_merged_into_a_plain_checkpoint(short_sft_data, tiny_model_dir, tmp_path):
    out = tmp_path / "lora"
    result = train_sft(short_sft_data, str(tiny_model_dir), out, lora=True, lora_r=4, max_steps=3, batch_size=2,
                       lr=1e-2, max_length=TINY_MAX_LENGTH)
    assert result.lora and result.steps == 3
    assert not (out / "adapter_config.json").exists()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    tuned = AutoModelForCausalLM.from_pretrained(out).state_dict()
    assert set(tuned) == set(base)  # no lora_A/lora_B left: a plain model
    changed = [name for name in base if not torch.equal(base[name], tuned[name])]
    assert any("q_proj" in name for name in changed)
    assert not any("embed_tokens" in name for name in changed)  # only the adapted linear layers moved


def test_missing_data_is_refused_with_a_hint(tmp_path, tiny_model_dir):
    with pytest.raises(FileNotFoundError, match="dive synth"):
        train_sft(tmp_path / "nowhere", str(tiny_model_dir), tmp_path / "out", max_steps=1)
