"""`dive eval run --bench bfcl-simple|bfcl-multiple|bfcl-parallel|bfcl-multi-turn`: an agent on BFCL's entries.

Each entry is offered to the agent exactly as DIVE-v0 offers a task: the system prompt of `dive.env.chat_format`
with the entry's functions as tools, then the entry's user turn, and replies are read by the env's action
parser. Single-turn entries: the one reply's calls are scored by our AST checker against the possible answers.
Multi-turn entries: the entry's classes run as MCP servers (one stdio process per class, through the client
pool with per-episode sessions, as DIVE-v0 runs servers); each user turn lets the agent call tools until it
replies without a call, and the episode is scored on the final state and results against the ground truth.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from dive.env.actions import parse_action
from dive.env.chat_format import render_transcript, system_prompt, to_plain_messages

from .ast_match import check_ast
from .data import BFCLEntry, load_category

BENCHES = {"bfcl-simple": "simple", "bfcl-multiple": "multiple", "bfcl-parallel": "parallel",
           "bfcl-multi-turn": "multi_turn_base"}
#: Agent replies per user turn of a multi-turn entry before the turn is cut.
MULTI_TURN_STEPS = 8


class BenchEntryResult(BaseModel):
    """One entry: what the agent wrote, the calls read from it, and the checker's verdict."""

    id: str
    reply: str
    calls: list[dict[str, Any]]
    correct: bool
    error: str | None = None
    detail: str = ""


class BenchResult(BaseModel):
    """A benchmark run's score."""

    bench: str
    category: str
    entries: int
    accuracy: float
    errors: dict[str, int] = Field(default_factory=dict)
    source: str = "Berkeley Function Calling Leaderboard (Patil et al., ICML 2025), PyPI package bfcl-eval"


def entry_prompt(entry: BFCLEntry) -> tuple[str, dict[str, Any]]:
    """The observation text and info an agent gets for a single-turn entry (DIVE-v0's shapes)."""
    tools = entry.tool_schemas()
    messages = [{"role": "system", "content": system_prompt(tools)}] + [m.model_dump() for m in entry.turns[0]]
    info = {"task_id": entry.id, "turn": 0, "messages": messages, "tools": tools}
    return render_transcript(to_plain_messages(messages)), info


def score_entry(entry: BFCLEntry, reply: str) -> BenchEntryResult:
    """Read the agent's reply as DIVE-v0 does and score its calls."""
    action = parse_action(reply)
    calls = [c.model_dump() for c in action.calls]
    if action.kind != "tool_calls":
        error = "no_call" if action.kind == "answer" else "malformed_call"
        return BenchEntryResult(id=entry.id, reply=reply, calls=calls, correct=False, error=error,
                                detail="; ".join(action.errors))
    verdict = check_ast(entry, calls)
    return BenchEntryResult(id=entry.id, reply=reply, calls=calls, correct=verdict.correct,
                            error=None if verdict.correct else verdict.error, detail=verdict.detail)


def play_multi_turn(entry: BFCLEntry, agent: Callable[[str, dict[str, Any]], str], *, steps: int = MULTI_TURN_STEPS
                    ) -> BenchEntryResult:
    """Run a multi-turn entry against its classes served over MCP and score it."""
    import uuid

    from dive.env.chat_format import render_tool_response
    from dive.env.hub import ServerHub
    from dive.env.pool import ClientPool
    from dive.env.trace import Trace

    from .multi_turn import score_multi_turn, server_config

    tools = entry.tool_schemas()
    offered = {t["function"]["name"] for t in tools}
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt(tools)}]
    trace = Trace(session=f"bfcl-{uuid.uuid4().hex}")
    calls_per_turn: list[list[dict[str, Any]]] = []
    replies: list[str] = []
    hub = ServerHub(ClientPool(server_config(entry)))
    try:
        for number, turn in enumerate(entry.turns):
            messages += [m.model_dump() for m in turn]
            observation = render_transcript(to_plain_messages(messages))
            made: list[dict[str, Any]] = []
            for _ in range(steps):
                reply = agent(observation, {"task_id": entry.id, "turn": number, "messages": list(messages),
                                            "tools": tools})
                replies.append(reply)
                action = parse_action(reply)
                if action.kind != "tool_calls":
                    messages.append({"role": "assistant", "content": reply})
                    break
                ids = [f"call_{number}_{len(made) + n}" for n in range(len(action.calls))]
                messages.append({"role": "assistant", "content": "", "tool_calls": [
                    {"id": i, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                    for i, c in zip(ids, action.calls)]})
                blocks = []
                for call_id, call in zip(ids, action.calls):
                    if call.name in offered:
                        record = hub.call_in(trace, call.name, call.arguments)
                        content = ("Error: " + (record.error or "")) if record.is_error else record.text
                        made.append(call.model_dump())
                    else:
                        content = f"Error: unknown tool {call.name!r}"
                    messages.append({"role": "tool", "tool_call_id": call_id, "name": call.name, "content": content})
                    blocks.append(render_tool_response(content))
                observation = "\n".join(blocks)
            calls_per_turn.append(made)
    finally:
        hub.close()
    verdict = score_multi_turn(entry, calls_per_turn)
    return BenchEntryResult(id=entry.id, reply="\n---\n".join(replies), calls=[c for t in calls_per_turn for c in t],
                            correct=verdict.correct, error=None if verdict.correct else verdict.error,
                            detail=verdict.detail)


def run_bench(name: str, agent: Callable[[str, dict[str, Any]], str], *, n: int | None = None,
              out: Path | str) -> BenchResult:
    """Score `agent` on the first `n` entries of a BFCL category; writes OUT/<bench>.jsonl and OUT/<bench>.json."""
    if name not in BENCHES:
        raise ValueError(f"unknown benchmark {name!r}; BFCL benchmarks: {', '.join(BENCHES)}")
    category = BENCHES[name]
    entries = load_category(category)[: n or None]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    with (out / f"{name}.jsonl").open("w") as lines:
        for entry in entries:
            if entry.is_multi_turn:
                result = play_multi_turn(entry, agent)
            else:
                observation, info = entry_prompt(entry)
                result = score_entry(entry, agent(observation, info))
            results.append(result)
            lines.write(result.model_dump_json() + "\n")
    score = BenchResult(bench=name, category=category, entries=len(results),
                        accuracy=sum(r.correct for r in results) / max(1, len(results)),
                        errors=dict(Counter(r.error for r in results if r.error).most_common()))
    (out / f"{name}.json").write_text(json.dumps(score.model_dump(), indent=2))
    return score
