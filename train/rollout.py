"""Multi-turn DIVE-v0 rollouts of a local causal LM, token by token, with the mask RL needs.

One episode is one token sequence: the prompt (system message offering the tools, the question, the
generation prompt), then the completion: the model's turns interleaved with the env's turns (tool results
rendered as the chat template renders a user turn). `env_mask` is 1 on tokens the model generated and 0 on
tokens the env inserted, so tool results are never trained on; `logprobs` are the sampling log-probabilities
of the generated tokens (0 for inserted ones). GRPO (`train/grpo.py`) and PPO (`train/ppo.py`) share this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from dive.env.chat_format import to_plain_messages

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


@torch.no_grad()
def play_episode(model: Any, tokenizer: Any, env: Any, task_id: str, settings: GenerationSettings,
                 seed: int | None = None) -> RolloutSample:
    """Play one DIVE-v0 episode on `task_id` with the model sampling each turn."""
    _, info = env.reset(seed=seed, options={"task_id": task_id})
    device = next(model.parameters()).device
    prompt_ids = tokenizer(prompt_text(tokenizer, info), add_special_tokens=False)["input_ids"]
    sample = RolloutSample(task_id=task_id, prompt_ids=list(prompt_ids))
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
        if terminated or truncated:
            sample.terminated = bool(terminated)
            sample.correctness = float(info["reward_parts"].get("correctness", 0.0))
            break
        inserted = env_turn_text(tokenizer, observation)
        if generated and generated[-1] in end_ids:  # the model already closed its turn
            closing = tokenizer.decode([generated[-1]])
            inserted = inserted[len(closing):] if inserted.startswith(closing) else inserted
        inserted_ids = tokenizer(inserted, add_special_tokens=False)["input_ids"]
        room = settings.max_completion_tokens - len(sample.completion_ids)
        sample.completion_ids += inserted_ids[:room]
        sample.env_mask += [0] * len(inserted_ids[:room])
        sample.logprobs += [0.0] * len(inserted_ids[:room])
    sample.tool_calls = len(info["trace"].calls)
    return sample


def _end_token_ids(tokenizer: Any) -> list[int]:
    """Tokens that end a model turn: EOS and the chat template's end-of-turn token where it has one."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for token in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id not in ids:
            ids.append(token_id)
    return ids
