"""`dive train grpo`: TRL's GRPOTrainer with rollouts played in DIVE-v0 against the real MCP servers.

TRL's `environment_factory` needs a chat template with native tool support (it parses tool calls with the
template's response schema); SmolLM2's has none. So the rollouts go through TRL's `rollout_func`: each
prompt's episode is played in DIVE-v0 by `train.rollout.play_episode` (the model's turns sampled, the env's
turns inserted), and the trainer gets the token sequence with `env_mask` (tool results are never trained on)
and the env's reward, which is the only reward function.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from transformers import TrainerCallback

from dive.synth import load_tasks

from .rollout import GenerationSettings, RolloutSample, play_episode

METRICS_FILE = "metrics.jsonl"


def task_prompts(tasks) -> list[dict[str, Any]]:
    """GRPO dataset rows: the question as a conversational prompt that names its task."""
    return [{"prompt": [{"role": "user", "content": t.question, "task_id": t.id}]} for t in tasks]


class DiveRollouts:
    """The `rollout_func` for GRPOTrainer: plays one DIVE-v0 episode per prompt it is given."""

    def __init__(self, env: Any, settings: GenerationSettings, log: Path | None = None) -> None:
        self.env = env
        self.settings = settings
        self.log = log
        self.episodes = 0

    def __call__(self, prompts: list[list[dict[str, Any]]], trainer: Any) -> dict[str, list]:
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
        if self.log is None:
            return
        with self.log.open("a") as handle:
            for s in samples:
                handle.write(json.dumps({"step": trainer.state.global_step, "task_id": s.task_id, "reward": s.reward,
                                         "correctness": s.correctness, "tool_calls": s.tool_calls, "turns": s.turns,
                                         "completion_tokens": len(s.completion_ids),
                                         "model_tokens": sum(s.env_mask)}) + "\n")


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
    resume: bool = False,
    save_steps: int = 50,
) -> GRPOResult:
    """GRPO on DIVE-v0 episodes of `tasks` (a `dive synth` folder): `batch_size` episodes per step in groups of
    `num_generations` per task. OUT gets the policy (loads with `from_pretrained`), metrics.jsonl, reward.png,
    rollouts.jsonl (one line per episode) and checkpoints; `resume` continues from the latest checkpoint."""
    import gymnasium as gym
    import torch
    from datasets import Dataset
    from transformers.trainer_utils import get_last_checkpoint
    from trl import GRPOConfig, GRPOTrainer

    import dive  # noqa: F401  (registers DIVE-v0)

    from .models import load_model_and_tokenizer
    from .sft import plot_curve

    out = Path(out)
    last = get_last_checkpoint(str(out)) if out.is_dir() else None
    if not resume and (last or (out / METRICS_FILE).exists()):
        raise FileExistsError(f"{out} already holds a training run: pass --resume to continue it, or another folder")
    out.mkdir(parents=True, exist_ok=True)
    settings = settings or GenerationSettings()
    task_list = load_tasks(Path(tasks))
    policy, tokenizer = load_model_and_tokenizer(model, device="cpu" if not torch.cuda.is_available() else None)
    gpu = torch.cuda.is_available()
    config = GRPOConfig(
        output_dir=str(out), max_steps=max_steps, per_device_train_batch_size=batch_size,
        num_generations=num_generations, learning_rate=lr, seed=seed, logging_steps=1, save_steps=save_steps,
        report_to="none", bf16=gpu and torch.cuda.is_bf16_supported(), use_cpu=not gpu,
        max_completion_length=settings.max_completion_tokens, beta=0.0, disable_tqdm=True,
    )
    env = gym.make("DIVE-v0", tasks=task_list, transport=transport, max_turns=max_turns)
    rollouts = DiveRollouts(env, settings, log=out / "rollouts.jsonl")
    try:
        trainer = GRPOTrainer(
            model=policy, processing_class=tokenizer, args=config, reward_funcs=[env_reward],
            train_dataset=Dataset.from_list(task_prompts(task_list)), rollout_func=rollouts,
            callbacks=[LogLines(out / METRICS_FILE)],
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
    return GRPOResult(out=str(out), steps=trainer.state.global_step, episodes=rollouts.episodes, mean_reward=rewards)


class LogLines(TrainerCallback):
    """Appends each log of the trainer (loss, reward, tool calls, ...) as a JSON line with its step."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs) -> None:
        if logs:
            row = {"step": state.global_step} | {k: v for k, v in logs.items() if isinstance(v, (int, float))}
            with self.path.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
