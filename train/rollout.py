"""Multi-turn DIVE-v0 rollouts of a local causal LM, token by token, with the mask RL needs.

One episode is one token sequence: the prompt (system message offering the tools, the question, the
generation prompt), then the completion: the model's turns interleaved with the env's turns (tool results
rendered as the chat template renders a user turn). `env_mask` is 1 on tokens the model generated and 0 on
tokens the env inserted, so tool results are never trained on; `logprobs` are the sampling log-probabilities
of the generated tokens (0 for inserted ones). GRPO (`train/grpo.py`) and PPO (`train/ppo.py`) share this.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from dive.env.chat_format import to_plain_messages
from dive.env.rollouts import Episode, Turn
from dive.eval.records import EpisodeResult
from dive.synth.records import Task

_SENTINEL = "\u2063DIVE-TURN-END\u2063"


@dataclass
class GenerationSettings:
    """How the policy samples each turn."""

    max_new_tokens: int = 128
    """Per model turn."""
    max_completion_tokens: int = 768
    """For the whole completion (model turns and env turns); the episode stops when it is reached."""
    temperature: float = 1.0
    top_p: float = 1.0


@dataclass
class RolloutSample:
    """One episode as tokens, with its reward and what happened."""

    task_id: str
    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    reward: float = 0.0
    correctness: float = 0.0
    tool_calls: int = 0
    turns: int = 0
    terminated: bool = False
    episode: Episode | None = None
    """The episode as text: the model's turns, the env's observations, the trace and the messages."""


def prompt_text(tokenizer: Any, info: dict[str, Any]) -> str:
    """The episode's prompt (system message with the tools, the question) through the tokenizer's template."""
    messages = to_plain_messages(info["messages"])
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def env_turn_text(tokenizer: Any, observation: str) -> str:
    """What follows a model turn when the env answers: the end of the assistant turn, the observation as a
    user turn, and the next generation prompt, exactly as the chat template writes them."""
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": _SENTINEL},
                {"role": "user", "content": observation}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text[text.index(_SENTINEL) + len(_SENTINEL):]


def make_env(tasks: list[Task], servers: str | Path | None, transport: str, max_turns: int) -> Any:
    """The DIVE-v0 env training plays in: our domains over `transport`, or the servers of an MCP client config
    (each over its own transport). Making it checks that the servers offer every tool of the tasks (else a
    `ConfigError`, a ValueError that says what to mend)."""
    import gymnasium as gym

    import dive  # noqa: F401  (registers DIVE-v0)

    return gym.make("DIVE-v0", tasks=tasks, servers=str(servers) if servers is not None else None,
                    transport=transport if servers is None else "stdio", max_turns=max_turns)


@torch.no_grad()
def play_episode(model: Any, tokenizer: Any, env: Any, task_id: str, settings: GenerationSettings,
                 seed: int | None = None) -> RolloutSample:
    """Play one DIVE-v0 episode on `task_id` with the model sampling each turn."""
    _, info = env.reset(seed=seed, options={"task_id": task_id})
    device = next(model.parameters()).device
    prompt_ids = tokenizer(prompt_text(tokenizer, info), add_special_tokens=False)["input_ids"]
    sample = RolloutSample(task_id=task_id, prompt_ids=list(prompt_ids))
    episode = Episode(task_id=task_id, seed=seed, trace=info["trace"], messages=info["messages"])
    end_ids = _end_token_ids(tokenizer)
    while True:
        budget = settings.max_completion_tokens - len(sample.completion_ids)
        if budget <= 0:
            break
        context = torch.tensor([sample.prompt_ids + sample.completion_ids], device=device)
        output = model.generate(
            context, attention_mask=torch.ones_like(context), max_new_tokens=min(settings.max_new_tokens, budget),
            do_sample=settings.temperature > 0, temperature=max(settings.temperature, 1e-5), top_p=settings.top_p,
            eos_token_id=end_ids, pad_token_id=tokenizer.pad_token_id or end_ids[0],
            return_dict_in_generate=True, output_scores=True,
        )
        generated = output.sequences[0, context.shape[1]:].tolist()
        scores = torch.stack(output.scores, dim=1)[0].float().log_softmax(-1) if output.scores else None
        sample.completion_ids += generated
        sample.env_mask += [1] * len(generated)
        sample.logprobs += [float(scores[i, t]) for i, t in enumerate(generated)] if scores is not None else []
        text = tokenizer.decode(generated, skip_special_tokens=True)
        observation, reward, terminated, truncated, info = env.step(text)
        sample.reward += float(reward)
        sample.turns += 1
        episode.turns.append(Turn(action=text, observation=observation, reward=float(reward)))
        episode.total_reward += float(reward)
        episode.malformed_turns += int(bool(info["reward_parts"].get("malformed")))
        episode.trace, episode.messages = info["trace"], info["messages"]
        if terminated or truncated:
            sample.terminated = bool(terminated)
            sample.correctness = float(info["reward_parts"].get("correctness", 0.0))
            episode.correctness = sample.correctness
            episode.terminated, episode.truncated = bool(terminated), bool(truncated)
            break
        inserted = env_turn_text(tokenizer, observation)
        if generated and generated[-1] in end_ids:  # the model already closed its turn
            closing = tokenizer.decode([generated[-1]])
            inserted = inserted.removeprefix(closing)
        inserted_ids = tokenizer(inserted, add_special_tokens=False)["input_ids"]
        room = settings.max_completion_tokens - len(sample.completion_ids)
        sample.completion_ids += inserted_ids[:room]
        sample.env_mask += [0] * len(inserted_ids[:room])
        sample.logprobs += [0.0] * len(inserted_ids[:room])
    sample.tool_calls = len(info["trace"].calls)
    sample.episode = episode
    return sample


class RolloutRecord(EpisodeResult):
    """One line of rollouts.jsonl: an episode played in training, in the form of an evaluation's results.jsonl
    line (`actions`: the model's turns as it wrote them; `messages`: its tool calls and the tool results;
    `reward`), with the step it was trained on and its token counts."""

    step: int
    prompt_tokens: int
    completion_tokens: int
    """Tokens after the prompt: the model's turns and the env's (tool results)."""
    model_tokens: int
    """Tokens the model wrote (the only ones trained on)."""


def rollout_records(samples: Sequence[RolloutSample], tasks: dict[str, Task], step: int) -> list[RolloutRecord]:
    """The records of a step's episodes; `sample` numbers the episodes of one task within the step."""
    from dive.eval.runner import episode_result

    seen: Counter[str] = Counter()
    records = []
    for s in samples:
        if s.episode is None:
            raise ValueError(f"episode {s.task_id} was not played by play_episode: it has no text to record")
        result = episode_result(s.episode, tasks[s.task_id], split="train", sample=seen[s.task_id])
        seen[s.task_id] += 1
        records.append(RolloutRecord(**dict(result), step=step, prompt_tokens=len(s.prompt_ids),
                                     completion_tokens=len(s.completion_ids), model_tokens=sum(s.env_mask)))
    return records


def append_rollouts(path: Path, records: Sequence[RolloutRecord]) -> None:
    """Append records to a rollouts.jsonl."""
    with path.open("a") as handle:
        handle.writelines(r.model_dump_json() + "\n" for r in records)


def read_rollouts(path: str | Path) -> list[RolloutRecord]:
    """The records of a rollouts.jsonl (empty when there is none)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [RolloutRecord.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


def keep_rollouts_through(path: Path, step: int) -> None:
    """Drop the records of steps after `step` (a resumed run plays them again)."""
    if path.is_file():
        kept = [r for r in read_rollouts(path) if r.step <= step]
        path.write_text("".join(r.model_dump_json() + "\n" for r in kept))


def step_line(step: int, max_steps: int, samples: Sequence[RolloutSample], episodes: int, seconds: float,
              **figures: float) -> str:
    """The progress line of a training step: its episodes, their mean reward and how many were solved, tool calls,
    tokens (all, and those the model wrote), the step's time and any other `figures` (loss, ...)."""
    count = max(len(samples), 1)
    tokens = sum(len(s.prompt_ids) + len(s.completion_ids) for s in samples)
    written = sum(sum(s.env_mask) for s in samples)
    parts = [f"step {step}/{max_steps}: {len(samples)} episodes ({episodes} in all)",
             f"mean reward {sum(s.reward for s in samples) / count:+.3f}",
             f"solved {sum(s.correctness >= 1.0 for s in samples)}/{len(samples)}",
             f"{sum(s.tool_calls for s in samples) / count:.1f} tool calls an episode",
             f"{tokens:,} tokens ({written:,} written by the model)"]
    parts += [f"{name.replace('_', ' ')} {value:.4g}" for name, value in figures.items()]
    return ", ".join(parts) + f"; {seconds:.1f} s"


def _end_token_ids(tokenizer: Any) -> list[int]:
    """Tokens that end a model turn: EOS and the chat template's end-of-turn token where it has one."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for token in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id not in ids:
            ids.append(token_id)
    return ids
