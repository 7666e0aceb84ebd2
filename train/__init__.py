"""Training on DIVE data: SFT with TRL, PPO arithmetic, model loading, and the one chat rendering they share.

    from dive.train import train_sft, resolve_model
    result = train_sft("out/run1", model=None, out="runs/sft", max_steps=200)   # SmolLM2-135M-Instruct

Names are imported on first use, so `import dive.train` does not load torch or transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "resolve_model": "models", "load_model_and_tokenizer": "models", "DEFAULT_MODEL": "models",
    "tokenize_conversation": "chat", "render_prompt": "chat", "render_conversation": "chat",
    "plain_conversation": "chat", "ensure_chat_template": "chat", "TokenizedConversation": "chat",
    "train_sft": "sft", "SFTResult": "sft", "SFTExample": "sft", "StepMetrics": "sft", "load_sft_examples": "sft",
    "assistant_loss": "sft",
    "compute_gae": "ppo", "policy_loss": "ppo", "value_loss": "ppo", "masked_whiten": "ppo",
    "train_grpo": "grpo", "GRPOResult": "grpo",
    "train_ppo": "ppo_trainer", "PPOResult": "ppo_trainer", "PPOStepMetrics": "ppo_trainer",
    "play_episode": "rollout", "GenerationSettings": "rollout", "RolloutSample": "rollout",
    "RolloutRecord": "rollout", "read_rollouts": "rollout",
}

__all__ = [
    "DEFAULT_MODEL",
    "GRPOResult",
    "GenerationSettings",
    "PPOResult",
    "PPOStepMetrics",
    "RolloutRecord",
    "RolloutSample",
    "SFTExample",
    "SFTResult",
    "StepMetrics",
    "TokenizedConversation",
    "assistant_loss",
    "compute_gae",
    "ensure_chat_template",
    "load_model_and_tokenizer",
    "load_sft_examples",
    "masked_whiten",
    "plain_conversation",
    "play_episode",
    "policy_loss",
    "read_rollouts",
    "render_conversation",
    "render_prompt",
    "resolve_model",
    "tokenize_conversation",
    "train_grpo",
    "train_ppo",
    "train_sft",
    "value_loss",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dive.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
