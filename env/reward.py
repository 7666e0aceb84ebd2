"""DIVE-v0's reward: alpha * format + correctness (the form DIVE trains with, arXiv 2603.11076).

Per step: a malformed turn (no readable call or answer, an unknown tool, bad arguments) costs
`format_penalty`. At the final answer: `alpha` if it was given in the answer tags, plus `correctness`
times the task's matcher (or a judge's score in [0, 1]). An episode that calls tools cleanly and
answers correctly in tags earns `alpha + correctness`; a wrong answer in tags earns `alpha`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dive.synth.answers import answers_match
from dive.synth.records import Task
from pydantic import BaseModel, ConfigDict

#: A judge scores a predicted answer for a task in [0, 1] (for example an LLM judge); it replaces the matcher.
Judge = Callable[[Task, str], float]


class RewardWeights(BaseModel):
    """The reward's weights (`gym.make("DIVE-v0", reward={...})` takes a dict of these)."""

    model_config = ConfigDict(extra="forbid")

    alpha: float = 0.1
    """Weight of the format term: an answer given in `<answer>` tags."""
    correctness: float = 1.0
    """Weight of the correctness term."""
    format_penalty: float = 0.1
    """Subtracted for each malformed turn (unreadable action, unknown tool, arguments the tool refuses)."""

    @classmethod
    def of(cls, value: RewardWeights | Mapping[str, Any] | None) -> RewardWeights:
        if value is None:
            return cls()
        return value if isinstance(value, cls) else cls.model_validate(dict(value))


def score_answer(task: Task, predicted: str, judge: Judge | None = None) -> float:
    """Correctness in [0, 1]: the judge's score when there is one, else the task's matcher (0 or 1)."""
    if judge is not None:
        return min(1.0, max(0.0, float(judge(task, predicted))))
    return 1.0 if answers_match(predicted, task.answer, task.matcher) else 0.0


def answer_reward(weights: RewardWeights, *, in_tags: bool, correctness: float) -> float:
    """The reward of the final turn."""
    return weights.alpha * (1.0 if in_tags else 0.0) + weights.correctness * correctness
