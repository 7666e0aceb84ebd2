"""`dive train grpo`: TRL's GRPOTrainer with rollouts played in DIVE-v0 against the real MCP servers.

TRL's `environment_factory` needs a chat template with native tool support (it parses tool calls with the
template's response schema); SmolLM2's has none. So the rollouts go through TRL's `rollout_func`: each
prompt's episode is played in DIVE-v0 by `train.rollout.play_episode` (the model's turns sampled, the env's
turns inserted), and the trainer gets the token sequence with `env_mask` (tool results are never trained on)
and the env's reward, which is the only reward function.

After each step a progress line (episodes, mean reward, tokens, loss) goes to `progress`, and the step's episodes
to rollouts.jsonl (`train.rollout.RolloutRecord`: the model's turns, tool calls, tool results and reward).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dive.synth import Task, load_tasks
from pydantic import BaseModel
from transformers import TrainerCallback

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

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
ROLLOUTS_FILE = "rollouts.jsonl"


def task_prompts(tasks) -> list[dict[str, Any]]:
    """GRPO dataset rows: the question as a conversational prompt that names its task."""
    return [{"prompt": [{"role": "user", "content": t.question, "task_id": t.id}]} for t in tasks]


class DiveRollouts:
    """The `rollout_func` for GRPOTrainer: plays one DIVE-v0 episode per prompt it is given."""

    def __init__(self, env: Any, settings: GenerationSettings, tasks: list[Task], log: Path | None = None) -> None:
        self.env = env
        self.settings = settings
        self.tasks = {t.id: t for t in tasks}
        self.log = log
        self.episodes = 0
        self.last: list[RolloutSample] = []
        """The episodes of the step in progress (for its progress line)."""
        self.started = time.perf_counter()

    def __call__(self, prompts: list[list[dict[str, Any]]], trainer: Any) -> dict[str, list]:
        self.started = time.perf_counter()
        model = trainer.accelerator.unwrap_model(trainer.model)
        tokenizer = trainer.processing_class
        was_training = model.training
        model.eval()
        try:  # TRL's sampler already repeats each task once per member of its group: one episode per prompt
            samples = [play_episode(model, tokenizer, self.env, prompt[-1]["task_id"], self.settings)
                       for prompt in prompts]
        finally:
            model.train(was_training)
        self._record(samples, trainer)
        return {
            "prompt_ids": [s.prompt_ids for s in samples],
            "completion_ids": [s.completion_ids for s in samples],
            "logprobs": [s.logprobs for s in samples],
            "env_mask": [s.env_mask for s in samples],
            "env_reward": [s.reward for s in samples],
            "tool_calls": [s.tool_calls for s in samples],
        }

    def _record(self, samples: list[RolloutSample], trainer: Any) -> None:
        self.episodes += len(samples)
        self.last = samples
        if self.log is not None:  # the step these episodes train is the one after the last finished
            append_rollouts(self.log, rollout_records(samples, self.tasks, trainer.state.global_step + 1))


def env_reward(completions: list, env_reward: list[float], **_: Any) -> list[float]:
    """The reward DIVE-v0 gave each episode (alpha * format + correctness, minus format penalties)."""
    return [float(r) for r in env_reward]


class GRPOResult(BaseModel):
    """What a GRPO run produced."""

    out: str
    steps: int
    episodes: int
    mean_reward: list[float]
    """Mean episode reward per logged step."""


def train_grpo(
    tasks: str | Path,
    out: str | Path,
    *,
    model: str | None = None,
    max_steps: int = 100,
    batch_size: int = 4,
    num_generations: int = 4,
    lr: float = 1e-6,
    seed: int = 0,
    max_turns: int = 4,
    settings: GenerationSettings | None = None,
    transport: str = "inprocess",
    servers: str | Path | None = None,
    resume: bool = False,
    save_steps: int = 50,
    progress: Callable[[str], None] | None = None,
    command: str | None = None,
) -> GRPOResult:
    """GRPO on DIVE-v0 episodes of `tasks` (a `dive synth` folder): `batch_size` episodes per step in groups of
    `num_generations` per task. OUT gets the policy (loads with `from_pretrained`; README.md is its model card),
    metrics.jsonl, reward.png, rollouts.jsonl (one `RolloutRecord` per episode) and checkpoints; `resume` continues
    from the latest checkpoint.

    `servers`: an MCP client config (default: our domains). Tasks whose tools the servers do not offer, and an
    unknown model, are refused before anything is trained. `progress` gets one line per step (default: the log);
    `command` is how the run was started, for the model card."""
    import torch
    from datasets import Dataset
    from transformers.trainer_utils import get_last_checkpoint
    from trl import GRPOConfig, GRPOTrainer

    from .card import write_rl_model_card
    from .models import load_model_and_tokenizer, locate_model
    from .sft import plot_curve

    out = Path(out)
    last = get_last_checkpoint(str(out)) if out.is_dir() else None
    if not resume and (last or (out / METRICS_FILE).exists()):
        raise FileExistsError(f"{out} already holds a training run: pass --resume to continue it, or another folder")
    settings = settings or GenerationSettings()
    task_list = load_tasks(Path(tasks))
    locate_model(model)
    # The env checks that the servers offer every tool of the tasks: before a model is loaded or a folder made.
    env = make_env(task_list, servers, transport, max_turns)
    try:
        policy, tokenizer = load_model_and_tokenizer(model, device="cpu" if not torch.cuda.is_available() else None)
    except BaseException:
        env.close()
        raise
    out.mkdir(parents=True, exist_ok=True)
    if resume and last:
        keep_rollouts_through(out / ROLLOUTS_FILE, int(Path(last).name.split("-")[-1]))
    gpu = torch.cuda.is_available()
    config = GRPOConfig(
        output_dir=str(out), max_steps=max_steps, per_device_train_batch_size=batch_size,
        num_generations=num_generations, learning_rate=lr, seed=seed, logging_steps=1, save_steps=save_steps,
        report_to="none", bf16=gpu and torch.cuda.is_bf16_supported(), use_cpu=not gpu,
        max_completion_length=settings.max_completion_tokens, beta=0.0, disable_tqdm=True,
    )
    rollouts = DiveRollouts(env, settings, task_list, log=out / ROLLOUTS_FILE)
    say = progress or logger.info
    say(f"GRPO: {batch_size} episodes a step ({num_generations} per task) on {len(task_list)} tasks, "
        f"{max_steps} steps; a line after each step")
    try:
        trainer = GRPOTrainer(
            model=policy, processing_class=tokenizer, args=config, reward_funcs=[env_reward],
            train_dataset=Dataset.from_list(task_prompts(task_list)), rollout_func=rollouts,
            callbacks=[LogLines(out / METRICS_FILE), StepProgress(rollouts, max_steps, say)],
        )
        trainer.train(resume_from_checkpoint=last if resume else None)
        trainer.save_model(str(out))
        tokenizer.save_pretrained(str(out))
    finally:
        env.close()
    logged = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines() if line.strip()]
    rewards = [row["reward"] for row in logged if "reward" in row]
    plot_curve([row["step"] for row in logged if "reward" in row], {"reward": rewards}, out / "reward.png",
               ylabel="mean episode reward", title="GRPO on DIVE-v0")
    write_rl_model_card(out, method="GRPO", model=model, tasks=tasks, steps=trainer.state.global_step,
                        episodes=rollouts.episodes, mean_reward=rewards,
                        command=command or f"dive.train.train_grpo({str(tasks)!r}, {str(out)!r}, model={model!r}, "
                                           f"max_steps={max_steps}, batch_size={batch_size}, "
                                           f"num_generations={num_generations}, lr={lr}, seed={seed}, "
                                           f"max_turns={max_turns})")
    return GRPOResult(out=str(out), steps=trainer.state.global_step, episodes=rollouts.episodes, mean_reward=rewards)


class StepProgress(TrainerCallback):
    """Says after each step what its episodes did (`train.rollout.step_line`), with the step's loss."""

    def __init__(self, rollouts: DiveRollouts, max_steps: int, say: Callable[[str], None]) -> None:
        self.rollouts, self.max_steps, self.say = rollouts, max_steps, say

    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs) -> None:
        samples, self.rollouts.last = self.rollouts.last, []
        if not samples:  # the end-of-training summary, or a log without new episodes
            return
        figures = {"loss": float(logs["loss"])} if logs and isinstance(logs.get("loss"), (int, float)) else {}
        self.say(step_line(state.global_step, self.max_steps, samples, self.rollouts.episodes,
                           time.perf_counter() - self.rollouts.started, **figures))


class LogLines(TrainerCallback):
    """Appends each log of the trainer (loss, reward, tool calls, ...) as a JSON line with its step."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs) -> None:
        if logs:
            row = {"step": state.global_step} | {k: v for k, v in logs.items() if isinstance(v, (int, float))}
            with self.path.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
