"""Typed records of an evaluation: one `EpisodeResult` per played episode (a line of results.jsonl).

Each has one canonical JSON form (pydantic), the same one written to results.jsonl, read back by `rescore`
and summarised by the metrics.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from dive.env.trace import Trace
from dive.synth.records import Matcher
from pydantic import BaseModel, Field

ErrorClass = Literal["malformed_action", "unknown_tool", "bad_arguments", "tool_error", "timeout", "no_answer",
                     "wrong_answer"]
"""Why an episode went wrong, counted per occurrence:

- malformed_action: a turn with no readable call or answer, or with an unreadable call among readable ones;
- unknown_tool: a call to a tool the task does not offer;
- bad_arguments: a call whose arguments the tool's input schema refuses (it never reached the tool);
- tool_error: a call that reached the tool and failed there;
- timeout: a call that reached the tool and did not come back in time;
- no_answer: the episode ran out of turns (truncated) without a final answer;
- wrong_answer: the final answer did not match the reference.
"""
ERROR_CLASSES: tuple[str, ...] = get_args(ErrorClass)


class EpisodeResult(BaseModel):
    """One episode of one task: what the agent did, how it scored, and everything needed to re-score it."""

    split: str
    task_id: str
    sample: int
    """Which of the task's K samples this is (0-based)."""
    seed: int | None = None
    domains: list[str]
    tools_offered: list[str]
    solution_tools: list[str]
    """The tools the task's reference solution uses (what per-tool success is credited to)."""
    tools_called: list[str] = Field(default_factory=list)
    """Offered tools the agent called, in order (calls to tools not offered are errors, not listed here)."""
    success: bool
    correctness: float
    reward: float
    turns: int
    tool_calls: int
    """Calls attempted: every parsed call, plus one for each turn with an unreadable call or no readable action."""
    valid_tool_calls: int
    """Calls that reached a tool (whatever the tool then said): not refused for format, name or arguments."""
    malformed_turns: int
    errors: dict[ErrorClass, int] = Field(default_factory=dict)
    terminated: bool
    truncated: bool
    predicted_answer: str | None = None
    """The final answer as parsed from the agent's last turn (None when it never answered)."""
    reference_answer: Any = None
    matcher: Matcher
    actions: list[str] = Field(default_factory=list)
    """The agent's turns exactly as it wrote them."""
    trace: Trace
    messages: list[dict[str, Any]] = Field(default_factory=list)
    """The conversation as the env recorded it (structured tool calls and results)."""
