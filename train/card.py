"""The model card (README.md) of a GRPO or PPO run: what it started from, what it played, how it was started.

Hugging Face's front matter on top names the base model, so the hub links it; the SFT card is `sft.write_model_card`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dive import __version__

from .chat import template_tools_format
from .models import base_model_name

MODEL_CARD = "README.md"


def tasks_file(tasks: str | os.PathLike[str]) -> Path:
    """The tasks.jsonl of a `dive synth` folder, or the file itself."""
    path = Path(tasks)
    return path / "tasks.jsonl" if path.is_dir() else path


def write_rl_model_card(out: Path, *, method: str, model: str | os.PathLike[str] | None,
                        tasks: str | os.PathLike[str] | None, command: str, steps: int, episodes: int,
                        mean_reward: list[float]) -> Path:
    """Write OUT/README.md for a `method` ("GRPO" or "PPO") run on DIVE-v0 episodes of `tasks` (None: tasks given
    as objects), once OUT holds the saved tokenizer (its chat template says the tool rendering)."""
    base = base_model_name(model)
    data = tasks_file(tasks) if tasks is not None else None
    digest = f" (sha256 `{hashlib.sha256(data.read_bytes()).hexdigest()}`)" if data and data.is_file() else ""
    template = out / "chat_template.jinja"
    chat_template = template.read_text() if template.is_file() else None
    link = base if Path(base).exists() else f"https://huggingface.co/{base}"
    rewards = ", ".join(f"{r:+.3f}" for r in mean_reward[:3])
    if len(mean_reward) > 3:
        rewards += f", ..., {mean_reward[-1]:+.3f}"
    lines = [
        "---", f"base_model: {base}", "library_name: transformers", "pipeline_tag: text-generation", "tags:",
        "- dive-gym", f"- {method.lower()}", "- tool-use", "---", "",
        f"# {out.name}", "",
        (f"Trained from [{base}]({link}) with {method} on multi-turn tool-use episodes played in DIVE-v0 against "
        f"the real MCP servers (DIVE Gym {__version__}); the reward is the environment's, and tool results were "
        "never trained on."), "",
        "## Data", "",
        (f"Tasks: {f'`{data}`' if data else 'given as `Task` objects'}{digest}; every episode is in `rollouts.jsonl` (the model's turns, its tool calls, the "
        "tool results and the reward)."), "",
        "## Command", "", "```", command, "```", "",
        "## Chat format", "",
        (f"Tools: `{template_tools_format(chat_template) or 'full'}`. The tokenizer's chat template is the one the "
        "episodes were rendered with: `tokenizer.apply_chat_template(messages, tools=tools)` gives the text the "
        "model saw."), "",
        "## Training", "",
        f"- steps: {steps}; episodes played: {episodes}",
        f"- mean episode reward by step: {rewards or 'none'}",
    ]
    path = out / MODEL_CARD
    path.write_text("\n".join(lines) + "\n")
    return path
