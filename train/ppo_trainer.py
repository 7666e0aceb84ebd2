"""`dive train ppo`: PPO over multi-turn DIVE-v0 episodes, on torch with a value head on the policy's trunk.

TRL 1.16 has no PPOTrainer, so the loop is written out here, from the pieces in `train/rollout.py` (episodes as
tokens with `env_mask`) and `train/ppo.py` (GAE, whitening, the clipped losses). Each step:

1. play `batch_size` episodes of tasks drawn from the task set, the policy sampling each turn;
2. score them without gradients: the policy's log-probabilities and values, the frozen reference policy's
   log-probabilities (a copy of the initial policy);
3. token rewards: the episode's return on the last token the policy wrote, minus `kl_coef * (logp - ref_logp)`
   on every token it wrote; GAE over the policy's own tokens (tool results and turn headers are not steps);
   advantages whitened;
4. `ppo_epochs` passes over minibatches of the clipped policy loss + `vf_coef` * clipped value loss -
   `ent_coef` * entropy, with AdamW and gradient clipping.

The output folder holds the final policy and tokenizer (a plain Hugging Face folder) with its model card
(README.md), `value_head.pt`, `metrics.jsonl` (one line per step), `rollouts.jsonl` (one `RolloutRecord` per
episode: the model's turns, tool calls, tool results and reward), `reward.png`, and `checkpoint-N` folders (policy, value head, optimizer,
step) from which `resume=True` continues. Every step draws its tasks, episode seeds, sampling and minibatch
order from `(seed, step)`, so a resumed run replays what the uninterrupted run would have done.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import random
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from dive.synth import Task, load_tasks
from pydantic import BaseModel, Field

from .card import write_rl_model_card
from .models import DEFAULT_MODEL, default_device, load_model_and_tokenizer, locate_model
from .ppo import (
    compute_gae,
    entropy_from_logits,
    masked_mean,
    masked_whiten,
    pad_rollouts,
    policy_loss,
    token_logprobs,
    value_loss,
)
from .rollout import (
    GenerationSettings,
    RolloutSample,
    append_rollouts,
    keep_rollouts_through,
    make_env,
    play_episode,
    rollout_records,
    step_line,
)
from .sft import plot_curve

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
REWARD_PLOT = "reward.png"
RESULT_FILE = "ppo_result.json"
ROLLOUTS_FILE = "rollouts.jsonl"
VALUE_HEAD_FILE = "value_head.pt"
OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "ppo_state.json"
CHECKPOINTS_KEPT = 2


class PPOStepMetrics(BaseModel):
    """One line of metrics.jsonl: what the step's episodes scored and what its updates did."""

    step: int
    reward: float
    """Mean DIVE-v0 episode return."""
    correctness: float
    tool_calls: float
    """Mean tool calls per episode."""
    turns: float
    model_tokens: float
    """Mean tokens the policy wrote per episode."""
    kl: float
    """Mean per-token log-ratio of the policy to the reference over the policy's tokens (what kl_coef weighs)."""
    policy_loss: float
    value_loss: float
    entropy: float
    approx_kl: float
    """Between the policy before and during the step's updates, averaged over minibatches."""
    clipfrac: float
    grad_norm: float
    seconds: float


class PPOResult(BaseModel):
    """What `train_ppo` produced."""

    out: str
    model: str
    steps: int
    episodes: int
    """Episodes played by this call (a resumed run counts only its own)."""
    mean_reward: list[float]
    """Mean episode return per step, step 1 first (steps before a resume included)."""
    mean_correctness: list[float]
    train_seconds: float
    metrics: list[PPOStepMetrics] = Field(default_factory=list, exclude=True)


class PPOState(BaseModel):
    """What a checkpoint needs besides weights and optimizer to continue the run."""

    step: int
    seed: int
    model: str
    """The initial policy, which is also the KL reference."""


@dataclass
class RolloutBatch:
    """A step's episodes as padded tensors, scored and with their advantages. Every `[B, T-1]` tensor lines up
    with `token_logprobs`: column t is about token t+1, predicted from the tokens up to t."""

    input_ids: torch.Tensor
    """[B, T], right-padded."""
    attention_mask: torch.Tensor
    """[B, T]: 1 on the tokens of the episode, 0 on padding."""
    action_mask: torch.Tensor
    """[B, T-1] float: 1 where the policy generated the token, 0 on the prompt, env-inserted turns and padding."""
    old_logprobs: torch.Tensor
    old_values: torch.Tensor
    ref_logprobs: torch.Tensor
    rewards: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor

    def select(self, rows: torch.Tensor) -> RolloutBatch:
        """The given rows, cut after the longest of them."""
        length = int(self.attention_mask[rows].sum(dim=1).max())
        picked = {}
        for f in fields(self):
            tensor = getattr(self, f.name)[rows]
            picked[f.name] = tensor[:, :length] if f.name in ("input_ids", "attention_mask") else tensor[:, :length - 1]
        return RolloutBatch(**picked)


def rollout_tensors(samples: Sequence[RolloutSample], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`input_ids`, `attention_mask` and `action_mask` (`[B, T]`) for episodes: prompt then completion, right-padded;
    the action mask is the episode's `env_mask` on its completion and 0 on the prompt and the padding."""
    rollouts = []
    for sample in samples:
        if len(sample.env_mask) != len(sample.completion_ids):
            raise ValueError(f"episode {sample.task_id}: env_mask and completion_ids differ in length")
        rollouts.append((sample.prompt_ids + sample.completion_ids, [0] * len(sample.prompt_ids) + sample.env_mask))
    return pad_rollouts(rollouts, pad_id)


def score_tokens(policy: Any, value_head: torch.nn.Module | None, input_ids: torch.Tensor, temperature: float = 1.0
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The policy's logits `[B, T-1, V]` and log-probabilities `[B, T-1]` of each next token (at the sampling
    temperature), and with a value head the value `[B, T-1]` of the state each token was chosen in."""
    # The batch is right-padded and the model causal, so no real token ever attends to padding: the plain causal
    # path (no attention mask) gives the same outputs on real tokens and is the fast one. Padding is masked later.
    output = policy(input_ids=input_ids, output_hidden_states=value_head is not None, use_cache=False)
    logits = output.logits[:, :-1] / temperature
    logprobs = token_logprobs(output.logits / temperature, input_ids)
    values = None
    if value_head is not None:
        values = value_head(output.hidden_states[-1][:, :-1]).squeeze(-1).float()
    return logits, logprobs, values


@torch.no_grad()
def make_batch(samples: Sequence[RolloutSample], policy: Any, value_head: torch.nn.Module, reference: Any | None,
               pad_id: int, *, kl_coef: float = 0.0, gamma: float = 1.0, lam: float = 0.95,
               temperature: float = 1.0) -> RolloutBatch:
    """Score `samples` with the policy, its value head and the reference (None: no KL penalty), and compute
    their token rewards, GAE advantages (whitened over the policy's tokens) and returns."""
    device = next(policy.parameters()).device
    input_ids, attention_mask, action_mask = (t.to(device) for t in rollout_tensors(samples, pad_id))
    mask = action_mask[:, 1:].float()
    if bool((mask.sum(dim=1) == 0).any()):
        raise ValueError("an episode has no token the policy generated: nothing to train on")
    with _autocast(device):
        _, old_logprobs, old_values = score_tokens(policy, value_head, input_ids, temperature)
        ref_logprobs = old_logprobs if reference is None else score_tokens(reference, None, input_ids, temperature)[1]
    kl = (old_logprobs - ref_logprobs) * mask
    rewards = -kl_coef * kl
    positions = torch.arange(mask.size(1), device=device)
    last = (positions * mask).argmax(dim=1)  # the last token the policy wrote: the episode's return lands there
    episode_return = torch.tensor([s.reward for s in samples], device=device, dtype=rewards.dtype)
    rewards[torch.arange(len(samples), device=device), last] += episode_return
    advantages, returns = compute_gae(rewards, old_values, mask, gamma=gamma, lam=lam)
    return RolloutBatch(input_ids=input_ids, attention_mask=attention_mask, action_mask=mask,
                        old_logprobs=old_logprobs, old_values=old_values, ref_logprobs=ref_logprobs, rewards=rewards,
                        advantages=masked_whiten(advantages, mask), returns=returns)


def ppo_update(policy: Any, value_head: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: RolloutBatch, *,
               epochs: int = 2, minibatch_size: int = 2, clip: float = 0.2, value_clip: float = 0.2,
               vf_coef: float = 0.1, ent_coef: float = 0.0, max_grad_norm: float = 1.0, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> dict[str, float]:
    """`epochs` passes over shuffled minibatches of `batch`, one optimizer step each; returns the losses and
    statistics averaged over the minibatches."""
    device = batch.input_ids.device
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    totals: dict[str, list[float]] = defaultdict(list)
    for _ in range(epochs):
        for rows in torch.randperm(batch.input_ids.size(0), generator=generator).split(minibatch_size):
            minibatch = batch.select(rows.to(device))
            mask = minibatch.action_mask
            with _autocast(device):
                logits, logprobs, values = score_tokens(policy, value_head, minibatch.input_ids, temperature)
            pg_loss, pg_stats = policy_loss(logprobs, minibatch.old_logprobs, minibatch.advantages, mask, clip)
            vf_loss, _ = value_loss(values, minibatch.old_values, minibatch.returns, mask, value_clip)
            with torch.set_grad_enabled(ent_coef > 0):  # the entropy over the policy's tokens only: [N, V], not [B, T, V]
                entropy = entropy_from_logits(logits[mask.bool()]).mean()
            loss = pg_loss + vf_coef * vf_loss - ent_coef * entropy
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
            optimizer.step()
            for name, value in (("policy_loss", pg_loss), ("value_loss", vf_loss), ("entropy", entropy),
                                ("approx_kl", pg_stats["approx_kl"]), ("clipfrac", pg_stats["clipfrac"]),
                                ("grad_norm", grad_norm)):
                totals[name].append(float(value.detach()))
    return {name: sum(values) / len(values) for name, values in totals.items()}


def train_ppo(
    tasks: str | Path | list[Task],
    out: str | Path,
    *,
    model: str | Path | None = None,
    max_steps: int = 100,
    batch_size: int = 8,
    minibatch_size: int = 2,
    lr: float = 1e-6,
    seed: int = 0,
    resume: bool = False,
    ppo_epochs: int = 2,
    gamma: float = 1.0,
    lam: float = 0.95,
    clip: float = 0.2,
    value_clip: float = 0.2,
    vf_coef: float = 0.1,
    ent_coef: float = 0.0,
    kl_coef: float = 0.05,
    max_grad_norm: float = 1.0,
    max_turns: int = 4,
    settings: GenerationSettings | None = None,
    transport: str = "inprocess",
    servers: str | Path | None = None,
    save_steps: int = 50,
    progress: Callable[[str], None] | None = None,
    command: str | None = None,
) -> PPOResult:
    """Train `model` (default SmolLM2-135M-Instruct; any Hugging Face id or folder) with PPO on DIVE-v0 episodes of
    `tasks` (a `dive synth` folder, a tasks.jsonl, or a list of `Task`); see the module docstring for a step.

    `batch_size` episodes per step, split into minibatches of `minibatch_size` (at most `batch_size`). On a GPU the
    forward passes run under bf16 autocast where the GPU has it (weights and optimizer stay float32); on CPU,
    float32. `resume` continues from the latest checkpoint in `out` (every `save_steps` steps and at the last) with
    the same settings; without it, a folder that already holds a run is refused.

    `servers`: an MCP client config (default: our domains). Tasks whose tools the servers do not offer, and an
    unknown model, are refused before anything is loaded. `progress` gets one line per step (default: the log);
    `command` is how the run was started, for the model card.
    """
    out = Path(out)
    settings = settings or GenerationSettings()
    _check_settings(max_steps=max_steps, batch_size=batch_size, minibatch_size=minibatch_size,
                    ppo_epochs=ppo_epochs, save_steps=save_steps, max_turns=max_turns)
    last_checkpoint = latest_checkpoint(out)
    if not resume and (last_checkpoint or (out / METRICS_FILE).exists()):
        raise FileExistsError(f"{out} already holds a training run: pass resume=True (--resume) to continue it, "
                              "or choose another output folder")
    task_list = list(tasks) if isinstance(tasks, list) else load_tasks(Path(tasks))
    if not task_list:
        raise ValueError(f"no tasks in {tasks}: synthesize some first (`dive synth`)")
    model_name = str(model or DEFAULT_MODEL)
    locate_model(model)
    # The env checks that the servers offer every tool of the tasks: before a model is loaded or a folder made.
    env = make_env(task_list, servers, transport, max_turns)
    try:
        result = _train(env, task_list, out, model=model, model_name=model_name, resume=resume,
                        last_checkpoint=last_checkpoint, max_steps=max_steps, batch_size=batch_size,
                        minibatch_size=minibatch_size, lr=lr, seed=seed, ppo_epochs=ppo_epochs, gamma=gamma,
                        lam=lam, clip=clip, value_clip=value_clip, vf_coef=vf_coef, ent_coef=ent_coef,
                        kl_coef=kl_coef, max_grad_norm=max_grad_norm, settings=settings, save_steps=save_steps,
                        say=progress or logger.info)
    finally:
        env.close()
    shown = "[...]" if isinstance(tasks, list) else str(tasks)
    write_rl_model_card(out, method="PPO", model=model, tasks=None if isinstance(tasks, list) else tasks,
                        steps=result.steps, episodes=result.episodes, mean_reward=result.mean_reward,
                        command=command or f"dive.train.train_ppo({shown!r}, {str(out)!r}, model={model_name!r}, "
                                           f"max_steps={max_steps}, batch_size={batch_size}, lr={lr}, seed={seed}, "
                                           f"max_turns={max_turns})")
    return result


def _train(env: Any, task_list: list[Task], out: Path, *, model: str | Path | None, model_name: str, resume: bool,
           last_checkpoint: Path | None, max_steps: int, batch_size: int, minibatch_size: int, lr: float, seed: int,
           ppo_epochs: int, gamma: float, lam: float, clip: float, value_clip: float, vf_coef: float,
           ent_coef: float, kl_coef: float, max_grad_norm: float, settings: GenerationSettings, save_steps: int,
           say: Callable[[str], None]) -> PPOResult:
    """`train_ppo` once its env is made and checked."""
    device = default_device()
    state = PPOState(step=0, seed=seed, model=model_name)
    if resume and last_checkpoint:
        state = PPOState.model_validate_json((last_checkpoint / STATE_FILE).read_text())
        if state.model != model_name or state.seed != seed:
            raise ValueError(f"{last_checkpoint} belongs to a run of model {state.model!r} with seed {state.seed}: "
                             "resume it with the same model and seed")
    policy, tokenizer = load_model_and_tokenizer(last_checkpoint if state.step else model, device=device,
                                                 dtype=torch.float32)
    policy.eval()  # dropout off: before the first update the new log-probabilities equal the old ones
    reference = None
    if kl_coef > 0:  # the initial policy, frozen
        reference = (load_model_and_tokenizer(model, device=device, dtype=torch.float32)[0] if state.step
                     else copy.deepcopy(policy))
        reference.requires_grad_(False)
    value_head = torch.nn.Linear(policy.get_input_embeddings().embedding_dim, 1).to(device)
    torch.nn.init.zeros_(value_head.weight)  # values start at 0; the head learns the return's scale
    torch.nn.init.zeros_(value_head.bias)
    optimizer = torch.optim.AdamW([*policy.parameters(), *value_head.parameters()], lr=lr)
    if state.step:
        value_head.load_state_dict(torch.load(last_checkpoint / VALUE_HEAD_FILE, map_location=device))
        optimizer.load_state_dict(torch.load(last_checkpoint / OPTIMIZER_FILE, map_location=device))

    out.mkdir(parents=True, exist_ok=True)
    if (out / METRICS_FILE).exists():  # steps logged after the checkpoint will be played, and logged, again
        kept = [m for m in read_ppo_metrics(out / METRICS_FILE) if m.step <= state.step]
        (out / METRICS_FILE).write_text("".join(m.model_dump_json() + "\n" for m in kept))
    keep_rollouts_through(out / ROLLOUTS_FILE, state.step)

    temperature = settings.temperature if settings.temperature > 0 else 1.0
    max_positions = getattr(policy.config, "max_position_embeddings", None)
    warned_length = False
    task_ids = [t.id for t in task_list]
    tasks_by_id = {t.id: t for t in task_list}
    say(f"PPO: {batch_size} episodes a step on {len(task_list)} tasks, {max_steps} steps; a line after each step")
    episodes, started = 0, time.perf_counter()
    for step in range(state.step + 1, max_steps + 1):
        step_started = time.perf_counter()
        rng = random.Random(f"ppo:{seed}:{step}")
        torch.manual_seed(rng.randrange(2**31))
        chosen = (rng.sample(task_ids, batch_size) if batch_size <= len(task_ids)
                  else rng.choices(task_ids, k=batch_size))
        with _autocast(device):
            samples = [play_episode(policy, tokenizer, env, task_id, settings, seed=rng.randrange(2**31))
                       for task_id in chosen]
        episodes += len(samples)
        longest = max(len(s.prompt_ids) + len(s.completion_ids) for s in samples)
        if max_positions and longest > max_positions and not warned_length:
            logger.warning("episodes of up to %d tokens are longer than the model's %d positions: the tool "
                           "schemas in the prompt are long; use tasks with smaller toolsets or a longer-context "
                           "model", longest, max_positions)
            warned_length = True
        batch = make_batch(samples, policy, value_head, reference, tokenizer.pad_token_id, kl_coef=kl_coef,
                           gamma=gamma, lam=lam, temperature=temperature)
        stats = ppo_update(policy, value_head, optimizer, batch, epochs=ppo_epochs,
                           minibatch_size=min(minibatch_size, batch_size), clip=clip, value_clip=value_clip,
                           vf_coef=vf_coef, ent_coef=ent_coef, max_grad_norm=max_grad_norm,
                           temperature=temperature, generator=torch.Generator().manual_seed(rng.randrange(2**31)))
        row = PPOStepMetrics(
            step=step, reward=_mean(s.reward for s in samples), correctness=_mean(s.correctness for s in samples),
            tool_calls=_mean(s.tool_calls for s in samples), turns=_mean(s.turns for s in samples),
            model_tokens=_mean(sum(s.env_mask) for s in samples),
            kl=float(masked_mean(batch.old_logprobs - batch.ref_logprobs, batch.action_mask)),
            seconds=round(time.perf_counter() - step_started, 3), **stats,
        )
        with (out / METRICS_FILE).open("a") as handle:
            handle.write(row.model_dump_json() + "\n")
        append_rollouts(out / ROLLOUTS_FILE, rollout_records(samples, tasks_by_id, step))
        say(step_line(step, max_steps, samples, episodes, row.seconds, policy_loss=row.policy_loss,
                      value_loss=row.value_loss))
        if step % save_steps == 0 or step == max_steps:
            _save_checkpoint(out / f"checkpoint-{step}", policy, tokenizer, value_head, optimizer,
                             PPOState(step=step, seed=seed, model=model_name))
    seconds = time.perf_counter() - started

    policy.save_pretrained(out)
    tokenizer.save_pretrained(out)
    torch.save(value_head.state_dict(), out / VALUE_HEAD_FILE)
    history = read_ppo_metrics(out / METRICS_FILE)
    plot_reward(history, out / REWARD_PLOT)
    result = PPOResult(out=str(out), model=model_name, steps=history[-1].step if history else 0, episodes=episodes,
                       mean_reward=[m.reward for m in history], mean_correctness=[m.correctness for m in history],
                       train_seconds=round(seconds, 2), metrics=history)
    (out / RESULT_FILE).write_text(result.model_dump_json(indent=2))
    return result


def read_ppo_metrics(path: Path) -> list[PPOStepMetrics]:
    """The lines of a PPO run's metrics.jsonl (empty when there is none)."""
    if not path.is_file():
        return []
    return [PPOStepMetrics.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


def plot_reward(history: list[PPOStepMetrics], png: Path) -> None:
    """Mean episode return and correctness against the step, as a PNG."""
    plot_curve([m.step for m in history], {"reward": [m.reward for m in history],
                                           "correctness": [m.correctness for m in history]},
               png, ylabel="mean per episode", title="PPO on DIVE-v0")


def _save_checkpoint(folder: Path, policy: Any, tokenizer: Any, value_head: torch.nn.Module,
                     optimizer: torch.optim.Optimizer, state: PPOState) -> None:
    """Write a checkpoint, then keep only the latest `CHECKPOINTS_KEPT`. The state file goes last: a folder
    without it was cut short and is not resumed from."""
    folder.mkdir(parents=True, exist_ok=True)
    policy.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    torch.save(value_head.state_dict(), folder / VALUE_HEAD_FILE)
    torch.save(optimizer.state_dict(), folder / OPTIMIZER_FILE)
    (folder / STATE_FILE).write_text(state.model_dump_json(indent=2))
    for old in _finished_checkpoints(folder.parent)[:-CHECKPOINTS_KEPT]:
        shutil.rmtree(old)


def latest_checkpoint(out: Path) -> Path | None:
    """The newest complete `checkpoint-N` folder in `out`, or None."""
    finished = _finished_checkpoints(out)
    return finished[-1] if finished else None


def _finished_checkpoints(out: Path) -> list[Path]:
    folders = [p for p in out.glob("checkpoint-*") if p.name.split("-")[-1].isdigit() and (p / STATE_FILE).is_file()]
    return sorted(folders, key=lambda p: int(p.name.split("-")[-1]))


def _check_settings(**counts: int) -> None:
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


def _autocast(device: torch.device | str) -> contextlib.AbstractContextManager:
    """bf16 autocast on a GPU that has bf16, else nothing (float32)."""
    if str(device).startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _mean(values: Any) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else math.nan
