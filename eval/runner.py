"""Running an agent on evaluation tasks in DIVE-v0 and recording every episode.

    results = evaluate(agent, split.tasks, split.env_kwargs(), samples=4, split="heldout")
    results.metrics().splits["heldout"].pass_at_k["pass@4"]

`run_eval` does a whole evaluation: the leakage audit first (when a training set is given), then every
split, then the report folder (`dive eval run` is a thin layer over it).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dive.env.actions import parse_action
from dive.env.rollouts import Episode, run_episode
from dive.synth.records import Task
from pydantic import BaseModel, Field

from dive import __version__

from .agents import Agent
from .audit import AuditReport, LeakageError, audit
from .metrics import EvalMetrics, compute_metrics
from .records import EpisodeResult
from .splits import EvalSplit

Progress = Callable[[str, int, int], None]
"""`progress(split, episodes done, episodes in all)`, called after each episode."""


class EvalResults(BaseModel):
    """The episodes of an evaluation (any number of splits), with their metrics on demand."""

    episodes: list[EpisodeResult] = Field(default_factory=list)

    def metrics(self) -> EvalMetrics:
        """Metrics per split and the OOD - ID gap (see `dive.eval.metrics`)."""
        return compute_metrics(self.episodes)

    def __add__(self, other: EvalResults) -> EvalResults:
        return EvalResults(episodes=[*self.episodes, *other.episodes])


def episode_result(episode: Episode, task: Task, *, split: str, sample: int) -> EpisodeResult:
    """Classify an episode's turns and calls (see `dive.eval.records.ErrorClass`) into its result record.

    Calls are read back from the agent's turns with the env's own parser; whether a readable call to an
    offered tool reached the tool is known from the trace (the env refuses arguments off the schema before
    calling, and records every call it makes)."""
    errors: Counter[str] = Counter()
    attempted = 0
    offered_calls: list[str] = []
    predicted: str | None = None
    for turn in episode.turns:
        action = parse_action(turn.action)
        if action.kind == "answer":
            predicted = action.answer
            continue
        unreadable = action.kind == "malformed" or bool(action.errors)
        errors["malformed_action"] += int(unreadable)
        attempted += len(action.calls) + int(unreadable)
        for call in action.calls:
            if call.name in task.toolset:
                offered_calls.append(call.name)
            else:
                errors["unknown_tool"] += 1
    reached = episode.trace.calls
    errors["bad_arguments"] += max(0, len(offered_calls) - len(reached))
    for record in reached:
        if record.is_error:
            errors["timeout" if "(timeout)" in (record.error or "") else "tool_error"] += 1
    success = episode.terminated and episode.correctness >= 1.0
    if episode.truncated:
        errors["no_answer"] += 1
    elif not success:
        errors["wrong_answer"] += 1
    return EpisodeResult(
        split=split, task_id=task.id, sample=sample, seed=episode.seed, domains=list(task.domains),
        tools_offered=list(task.toolset), solution_tools=list(dict.fromkeys(task.diversity.call_sequence)),
        tools_called=offered_calls, success=success, correctness=episode.correctness,
        reward=round(episode.total_reward, 6), turns=len(episode.turns), tool_calls=attempted,
        valid_tool_calls=len(reached), malformed_turns=episode.malformed_turns,
        errors={k: v for k, v in errors.items() if v}, terminated=episode.terminated, truncated=episode.truncated,
        predicted_answer=predicted if episode.terminated else None, reference_answer=task.answer,
        matcher=task.matcher, actions=[turn.action for turn in episode.turns], trace=episode.trace,
        messages=episode.messages,
    )


def evaluate(agent: Agent, tasks: Sequence[Task], env_kwargs: Mapping[str, Any] | None = None, *, samples: int = 1,
             n: int | None = None, split: str = "id", seed: int = 0, progress: Progress | None = None) -> EvalResults:
    """Play each of the first `n` tasks (all by default) `samples` times in one DIVE-v0 env.

    `env_kwargs` are `gym.make("DIVE-v0", ...)`'s (servers, transport, max_turns, ...); their `tasks` default
    to `tasks`. Episode seeds run `seed, seed+1, ...` in task-then-sample order, so a run is repeatable.
    """
    import gymnasium

    import dive  # noqa: F401  (registers DIVE-v0)

    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    chosen = list(tasks)[:n] if n is not None else list(tasks)
    if not chosen:
        raise ValueError(f"no tasks to evaluate on the {split} split")
    kwargs = dict(env_kwargs or {})
    kwargs.setdefault("tasks", list(tasks))
    env = gymnasium.make("DIVE-v0", **kwargs)
    results = EvalResults()
    total = len(chosen) * samples
    try:
        for number, task in enumerate(chosen):
            for sample in range(samples):
                episode = run_episode(env, agent, seed=seed + number * samples + sample, options={"task_id": task.id})
                results.episodes.append(episode_result(episode, task, split=split, sample=sample))
                if progress is not None:
                    progress(split, len(results.episodes), total)
    finally:
        env.close()
    return results


class RunInfo(BaseModel):
    """What was evaluated and how (the header of metrics.json)."""

    agent: str
    splits: dict[str, str]
    """split -> where its tasks came from."""
    samples: int
    n: int | None = None
    max_turns: int
    transport: str
    train: str | None = None
    removed_seed_overlap: int = 0
    allow_leakage: bool = False
    dive_gym: str = __version__
    created: str = Field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))


class EvalReport(BaseModel):
    """metrics.json: the run, the leakage audit (when a training set was given), and the metrics."""

    run: RunInfo
    audit: AuditReport | None = None
    metrics: EvalMetrics


def check_leakage(splits: Iterable[EvalSplit], train: str | Path | None, *, allow_leakage: bool = False
                  ) -> AuditReport | None:
    """Audit the held-out split against the training set; raises `LeakageError` when it fails, unless
    `allow_leakage` (the report then carries the failed audit). None without a training set or held-out split."""
    held_out = next((s for s in splits if s.name == "heldout"), None)
    if train is None or held_out is None:
        return None
    report = audit(train, held_out.source)
    if not report.passed and not allow_leakage:
        raise LeakageError(report)
    return report


def run_eval(agent: Agent, splits: Sequence[EvalSplit], out: str | Path, *, agent_name: str, samples: int = 1,
             n: int | None = None, max_turns: int = 10, transport: str = "inprocess", world: str | Path | None = None,
             train: str | Path | None = None, allow_leakage: bool = False, audit_report: AuditReport | None = None,
             seed: int = 0, progress: Progress | None = None) -> EvalReport:
    """Audit (with `train`), evaluate every split, and write the report folder `out` (see `dive.eval.report`).

    A held-out split that fails the leakage audit is refused (`LeakageError`) before anything runs, unless
    `allow_leakage`. `audit_report`: an audit already made by `check_leakage` (it is not repeated)."""
    from .report import write_report

    if audit_report is None:
        audit_report = check_leakage(splits, train, allow_leakage=allow_leakage)
    elif not audit_report.passed and not allow_leakage:
        raise LeakageError(audit_report)
    results = EvalResults()
    for split in splits:
        kwargs = split.env_kwargs(transport=transport, max_turns=max_turns, world=world)  # type: ignore[arg-type]
        results += evaluate(agent, split.tasks, kwargs, samples=samples, n=n, split=split.name, seed=seed,
                            progress=progress)
    run = RunInfo(agent=agent_name, splits={s.name: str(s.source) for s in splits}, samples=samples, n=n,
                  max_turns=max_turns, transport=transport, train=str(train) if train else None,
                  removed_seed_overlap=sum(len(s.removed_seed_overlap) for s in splits), allow_leakage=allow_leakage)
    report = EvalReport(run=run, audit=audit_report, metrics=results.metrics())
    write_report(Path(out), results, report)
    return report
