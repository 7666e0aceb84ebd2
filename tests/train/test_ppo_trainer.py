"""PPO over DIVE-v0 episodes: the loss sees only the tokens the policy wrote, the first update starts at ratio 1,
and a short run over real MCP episodes trains, writes its metrics, reloads as a plain model and resumes."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch
from dive.eval.report import rescore_episode
from dive.synth import load_tasks
from dive.train.chat import plain_conversation
from dive.train.ppo import masked_mean
from dive.train.ppo_trainer import (
    VALUE_HEAD_FILE,
    make_batch,
    ppo_update,
    read_ppo_metrics,
    rollout_tensors,
    train_ppo,
)
from dive.train.rollout import GenerationSettings, RolloutSample, read_rollouts
from dive.train.sft import load_sft_examples
from dive.train.testing import save_tiny_model, tiny_causal_lm, train_tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer

PAD = 0


@pytest.fixture
def toy_policy():
    """A tiny random Llama over a byte-level vocabulary, and a value head on its trunk (fresh for each test)."""
    tokenizer = train_tokenizer(["tool calls and answers", "<tool_call>{}</tool_call>"], vocab_size=300)
    policy = tiny_causal_lm(tokenizer, hidden_size=16, seed=0).eval()
    value_head = torch.nn.Linear(16, 1)
    return policy, value_head


def hand_made_samples() -> list[RolloutSample]:
    """Two episodes: a prompt, a model turn, a tool result inserted by the env, a second model turn; and a shorter
    one that ends after one model turn (padding after it)."""
    return [
        RolloutSample(task_id="a", prompt_ids=[5, 6, 7], completion_ids=[20, 21, 30, 31, 32, 22, 23],
                      env_mask=[1, 1, 0, 0, 0, 1, 1], logprobs=[-1.0, -1.0, 0, 0, 0, -1.0, -1.0], reward=1.1),
        RolloutSample(task_id="b", prompt_ids=[5, 6], completion_ids=[24, 25, 26],
                      env_mask=[1, 1, 1], logprobs=[-1.0] * 3, reward=-0.2),
    ]


def test_the_loss_mask_is_the_env_mask_on_completion_tokens_only(toy_policy):
    policy, value_head = toy_policy
    samples = hand_made_samples()
    input_ids, attention, action = rollout_tensors(samples, PAD)
    assert input_ids.tolist() == [[5, 6, 7, 20, 21, 30, 31, 32, 22, 23], [5, 6, 24, 25, 26, 0, 0, 0, 0, 0]]
    assert attention.tolist() == [[1] * 10, [1] * 5 + [0] * 5]
    expected = [[0, 0, 0, 1, 1, 0, 0, 0, 1, 1],   # prompt 0, model turn 1, tool result 0, model turn 1
                [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]]   # prompt 0, model turn 1, padding 0
    assert action.tolist() == expected

    batch = make_batch(samples, policy, value_head, None, PAD, kl_coef=0.1)
    # The loss lines up with token_logprobs: column t scores token t+1, so its mask is the action mask shifted.
    assert batch.action_mask.tolist() == [row[1:] for row in expected]
    # The episode's return sits on the last token the policy wrote; nothing the policy did not write scores.
    assert batch.rewards[0, 8].item() == pytest.approx(1.1) and batch.rewards[1, 3].item() == pytest.approx(-0.2)
    off_mask = batch.action_mask == 0
    for tensor in (batch.rewards, batch.advantages, batch.returns):
        assert bool((tensor[off_mask] == 0).all())
    assert batch.advantages[~off_mask].abs().sum() > 0


def test_the_first_update_starts_at_ratio_one_so_the_policy_loss_is_minus_the_mean_advantage(toy_policy):
    policy, value_head = toy_policy
    batch = make_batch(hand_made_samples(), policy, value_head, None, PAD)
    # Advantages that are not whitened (mean far from 0), so the identity is not 0 == 0.
    batch.advantages = (torch.linspace(0.5, 3.0, batch.advantages.numel()).view_as(batch.advantages)
                        * batch.action_mask)
    optimizer = torch.optim.AdamW([*policy.parameters(), *value_head.parameters()], lr=1e-2)
    before = [p.detach().clone() for p in policy.parameters()]

    stats = ppo_update(policy, value_head, optimizer, batch, epochs=1, minibatch_size=2, clip=0.2)

    assert stats["clipfrac"] == 0.0
    assert stats["approx_kl"] == pytest.approx(0.0, abs=1e-6)
    assert stats["policy_loss"] == pytest.approx(-float(masked_mean(batch.advantages, batch.action_mask)), rel=1e-5)
    assert math.isfinite(stats["value_loss"]) and stats["entropy"] > 0
    assert any(not torch.equal(p, q) for p, q in zip(policy.parameters(), before))  # and the step was taken


@pytest.fixture(scope="module")
def tiny_policy_dir(synth_tasks: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer Llama (hidden 32) with a tokenizer trained on the synthesized conversations."""
    texts = [m["content"] for e in load_sft_examples(synth_tasks) for m in plain_conversation(e.messages, e.tools)]
    tokenizer = train_tokenizer(texts, vocab_size=2000)
    return save_tiny_model(tmp_path_factory.mktemp("ppo-tiny") / "model", tiny_causal_lm(tokenizer, hidden_size=32),
                           tokenizer)


@pytest.fixture(scope="module")
def small_toolset_tasks(synth_tasks: Path):
    """Four synthesized tasks, each offering only the tools its solution calls: real DIVE-v0 episodes with a
    prompt of about a thousand tokens instead of 8-20 thousand (every tool schema of a 15-50 tool toolset)."""
    tasks = [t for t in load_tasks(synth_tasks) if t.solution][:4]
    return [t.model_copy(update={"toolset": sorted({t.evidence.calls[i].tool for i in t.solution})}) for t in tasks]


def test_ppo_trains_on_dive_v0_episodes_and_resumes(small_toolset_tasks, tiny_policy_dir, tmp_path):
    out = tmp_path / "ppo"
    run = {"model": str(tiny_policy_dir), "batch_size": 2, "minibatch_size": 1, "lr": 1e-4, "max_turns": 2,
           "settings": GenerationSettings(max_new_tokens=16, max_completion_tokens=96), "save_steps": 1, "seed": 0}
    lines: list[str] = []
    result = train_ppo(small_toolset_tasks, out, max_steps=2, progress=lines.append, **run)

    assert result.steps == 2 and result.episodes == 4 and len(result.mean_reward) == 2
    # A line as the run starts and one after each step: its episodes, their mean reward, tokens, losses.
    assert len(lines) == 3 and lines[0].startswith("PPO: 2 episodes a step on 4 tasks")
    for step, line in enumerate(lines[1:], start=1):
        assert line.startswith(f"step {step}/2: 2 episodes ({2 * step} in all), mean reward "
                               f"{result.mean_reward[step - 1]:+.3f}")
        assert " tokens (" in line and "written by the model" in line and "policy loss " in line
    # Every episode, with the model's turns, its calls, the tool results and the reward, rescorable.
    episodes = read_rollouts(out / "rollouts.jsonl")
    assert [e.step for e in episodes] == [1, 1, 2, 2]
    assert [sum(e.reward for e in episodes[i:i + 2]) / 2 for i in (0, 2)] == pytest.approx(result.mean_reward)
    assert all(e.actions and e.turns == len(e.actions) and e.messages[0]["role"] == "system" for e in episodes)
    assert all(rescore_episode(e)[1] == [] for e in episodes)
    card = (out / "README.md").read_text()
    assert f"base_model: {tiny_policy_dir}" in card and "dive.train.train_ppo(" in card and "PPO" in card
    metrics = read_ppo_metrics(out / "metrics.jsonl")
    assert [m.step for m in metrics] == [1, 2]
    for m in metrics:
        assert all(math.isfinite(v) for v in (m.policy_loss, m.value_loss, m.entropy, m.approx_kl, m.kl, m.reward))
        assert m.turns >= 1 and m.model_tokens > 0 and 0 <= m.clipfrac <= 1
    assert (out / "reward.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    policy = AutoModelForCausalLM.from_pretrained(out)
    assert policy.config.num_hidden_layers == 2 and AutoTokenizer.from_pretrained(out).chat_template
    assert torch.load(out / VALUE_HEAD_FILE)["weight"].shape == (1, 32)
    with pytest.raises(FileExistsError, match="resume"):
        train_ppo(small_toolset_tasks, out, max_steps=1, **run)

    # As if killed after logging step 2 and before its checkpoint was written: step 2 is played again from
    # checkpoint 1 (same episodes, same sampling, same weights and optimizer), then step 3.
    shutil.rmtree(out / "checkpoint-2")
    again = train_ppo(small_toolset_tasks, out, max_steps=3, resume=True, **run)
    resumed = read_ppo_metrics(out / "metrics.jsonl")
    assert again.steps == 3 and again.episodes == 4 and [m.step for m in resumed] == [1, 2, 3]
    assert [e.step for e in read_rollouts(out / "rollouts.jsonl")] == [1, 1, 2, 2, 3, 3]
    assert resumed[1].reward == metrics[1].reward and resumed[1].model_tokens == metrics[1].model_tokens
    assert resumed[1].policy_loss == pytest.approx(metrics[1].policy_loss, rel=1e-4, abs=1e-6)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
