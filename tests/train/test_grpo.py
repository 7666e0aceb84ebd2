"""GRPO on DIVE-v0: multi-turn rollouts through MCP with tool results masked out, and a short TRL run."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
import torch
from dive.env.chat_format import render_answer, render_tool_call
from dive.eval.records import EpisodeResult
from dive.eval.report import rescore_episode
from dive.synth import format_answer, load_tasks
from dive.train.chat import ensure_chat_template, template_tools_format
from dive.train.grpo import train_grpo
from dive.train.rollout import GenerationSettings, env_turn_text, play_episode, read_rollouts, rollout_records
from transformers import AutoModelForCausalLM, AutoTokenizer

import dive  # noqa: F401


class ScriptedPolicy(torch.nn.Module):
    """Stands in for the LM's sampling only: `generate` returns fixed replies (as tokens, ending the turn)."""

    def __init__(self, tokenizer, replies: list[str]) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.tokenizer, self.replies, self.vocab = tokenizer, list(replies), len(tokenizer)

    def generate(self, context, **kwargs):
        ids = self.tokenizer(self.replies.pop(0), add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        scores = tuple(torch.zeros(1, self.vocab) for _ in ids)
        sequences = torch.cat([context, torch.tensor([ids])], dim=1)
        return type("Out", (), {"sequences": sequences, "scores": scores})()


def test_a_rollout_masks_exactly_the_env_turns_and_runs_the_tools(synth_tasks, tiny_model_dir):
    tasks = [t for t in load_tasks(synth_tasks) if t.solution]
    task = tasks[0]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ensure_chat_template(tokenizer)
    replies = [render_tool_call(task.diversity.call_sequence[n], task.evidence.calls[i].arguments)
               for n, i in enumerate(task.solution)] + [render_answer(format_answer(task.answer))]
    env = gym.make("DIVE-v0", tasks=tasks, transport="inprocess")
    try:
        sample = play_episode(ScriptedPolicy(tokenizer, replies), tokenizer, env, task.id, GenerationSettings(
            max_completion_tokens=100_000))
    finally:
        env.close()
    assert sample.terminated and sample.correctness == 1.0 and sample.reward == pytest.approx(1.1)
    assert sample.tool_calls == len(task.solution) and sample.turns == len(replies)
    assert len(sample.completion_ids) == len(sample.env_mask) == len(sample.logprobs)
    model_text = tokenizer.decode([t for t, m in zip(sample.completion_ids, sample.env_mask) if m])
    env_text = tokenizer.decode([t for t, m in zip(sample.completion_ids, sample.env_mask) if not m])
    assert all(reply in model_text for reply in replies)
    assert env_text.count("<tool_response>") == len(task.solution) and "<tool_call>" not in env_text
    assert env_turn_text(tokenizer, "X").endswith("X<|im_end|>\n<|im_start|>assistant\n")

    # What rollouts.jsonl records of it: the model's turns as written, its calls and their results, the reward,
    # in the form of an evaluation's results.jsonl line, which rescoring reproduces.
    record = rollout_records([sample], {task.id: task}, step=1)[0]
    assert record.actions == replies and record.reward == pytest.approx(1.1) and record.success
    calls = [c for m in record.messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    results = [m for m in record.messages if m["role"] == "tool"]
    assert len(calls) == len(results) == len(task.solution) == len(record.trace.calls)
    assert all(isinstance(c["function"]["arguments"], (dict, str)) for c in calls) and all(r["content"] for r in results)
    assert record.model_tokens == sum(sample.env_mask) and record.prompt_tokens == len(sample.prompt_ids)
    line = EpisodeResult.model_validate_json(record.model_dump_json())
    assert rescore_episode(line)[1] == []


def test_grpo_trains_on_dive_v0_episodes_and_resumes(synth_tasks, tiny_model_dir, tmp_path):
    settings = GenerationSettings(max_new_tokens=12, max_completion_tokens=64)
    out = tmp_path / "grpo"
    lines: list[str] = []
    result = train_grpo(synth_tasks, out, model=str(tiny_model_dir), max_steps=2, batch_size=2, num_generations=2,
                        lr=1e-5, max_turns=2, settings=settings, save_steps=1, progress=lines.append)
    assert result.steps == 2 and result.episodes == 4 and len(result.mean_reward) == 2
    # A line as the run starts and one after each step: its episodes, their mean reward, tokens, loss.
    assert len(lines) == 3 and lines[0].startswith("GRPO: 2 episodes a step")
    for step, line in enumerate(lines[1:], start=1):
        assert line.startswith(f"step {step}/2: 2 episodes ({2 * step} in all), mean reward ")
        assert " tokens (" in line and "written by the model" in line and "loss " in line
    episodes = read_rollouts(out / "rollouts.jsonl")
    assert [e.step for e in episodes] == [1, 1, 2, 2] and all(e.reward <= 1.1 for e in episodes)
    assert all(e.actions and e.turns == len(e.actions) and e.model_tokens > 0 for e in episodes)
    assert all(rescore_episode(e)[1] == [] for e in episodes)
    assert [json.loads(line)["reward"] for line in (out / "metrics.jsonl").read_text().splitlines()
            if "reward" in json.loads(line)] == pytest.approx(result.mean_reward)
    assert (out / "reward.png").is_file() and AutoModelForCausalLM.from_pretrained(out) is not None
    card = (out / "README.md").read_text()
    assert f"base_model: {tiny_model_dir}" in card and str(synth_tasks / "tasks.jsonl") in card
    assert "dive.train.train_grpo(" in card and "max_steps=2" in card and "[None]" not in card
    assert template_tools_format(AutoTokenizer.from_pretrained(out).chat_template) == "full"
    again = train_grpo(synth_tasks, out, model=str(tiny_model_dir), max_steps=3, batch_size=2, num_generations=2,
                       lr=1e-5, max_turns=2, settings=settings, resume=True, save_steps=1)
    assert again.steps == 3 and again.episodes == 2
    assert [e.step for e in read_rollouts(out / "rollouts.jsonl")] == [1, 1, 2, 2, 3, 3]
    with pytest.raises(FileExistsError):
        train_grpo(synth_tasks, out, model=str(tiny_model_dir), max_steps=1)
