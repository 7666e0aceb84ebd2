"""Evaluation metrics: success, pass@k, valid tool calls, per domain and per tool, errors, and the ID/OOD gap.

Success is an exact match of the final answer under the task's matcher. With K samples per task, the
success rate is the mean over all K samples (mean success) and pass@k uses the unbiased estimator of
Chen et al. (2021): 1 - C(n - c, k) / C(n, k) per task, averaged over tasks.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from statistics import mean

from pydantic import BaseModel, Field

from .records import ERROR_CLASSES, EpisodeResult
from .splits import SPLITS

DIGITS = 6
"""Metrics are rounded to this many decimals (so a re-computation reproduces them exactly)."""


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of one task with `n` samples of which `c` succeeded: 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    # The product form avoids the huge binomials: C(n-c, k)/C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i).
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


class GroupMetrics(BaseModel):
    """Success within a group of episodes (a domain, a tool)."""

    episodes: int
    successes: int
    success_rate: float


class SplitMetrics(BaseModel):
    """The metrics of one split's episodes."""

    split: str
    tasks: int
    episodes: int
    samples: int
    """K: samples per task (the fewest any task got)."""
    success_rate: float
    """Mean success over every sample of every task."""
    pass_at_k: dict[str, float]
    """'pass@1' .. 'pass@K'."""
    tool_calls: int
    valid_tool_calls: int
    valid_tool_call_rate: float | None
    """Calls that reached a tool / calls attempted; None when no call was attempted."""
    avg_tool_calls: float
    avg_turns: float
    avg_reward: float
    per_domain: dict[str, GroupMetrics]
    per_tool: dict[str, GroupMetrics]
    """Success of the episodes whose task's reference solution uses the tool."""
    errors: dict[str, int]
    """Occurrences of each error class (see `dive.eval.records.ErrorClass`)."""


class EvalMetrics(BaseModel):
    """Every split's metrics, and held-out minus in-distribution where both were evaluated."""

    splits: dict[str, SplitMetrics] = Field(default_factory=dict)
    gap: dict[str, float] | None = None
    """OOD - ID (heldout - id) for success rate, pass@k and valid tool-call rate."""


def _round(value: float) -> float:
    return round(float(value), DIGITS)


def _groups(episodes: list[EpisodeResult], keys_of) -> dict[str, GroupMetrics]:
    members: dict[str, list[bool]] = defaultdict(list)
    for e in episodes:
        for key in dict.fromkeys(keys_of(e)):  # each key once per episode
            members[key].append(e.success)
    ordered = sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return {key: GroupMetrics(episodes=len(v), successes=sum(v), success_rate=_round(mean(v))) for key, v in ordered}


def split_metrics(split: str, episodes: list[EpisodeResult]) -> SplitMetrics:
    """The metrics of one split's episodes."""
    if not episodes:
        raise ValueError(f"no episodes for the {split} split")
    by_task: dict[str, list[bool]] = defaultdict(list)
    for e in episodes:
        by_task[e.task_id].append(e.success)
    samples = min(len(v) for v in by_task.values())
    passes = {f"pass@{k}": _round(mean(pass_at_k(len(v), sum(v), k) for v in by_task.values()))
              for k in range(1, samples + 1)}
    attempted = sum(e.tool_calls for e in episodes)
    valid = sum(e.valid_tool_calls for e in episodes)
    errors: Counter[str] = Counter()
    for e in episodes:
        errors.update(e.errors)
    return SplitMetrics(
        split=split, tasks=len(by_task), episodes=len(episodes), samples=samples,
        success_rate=_round(mean(e.success for e in episodes)), pass_at_k=passes,
        tool_calls=attempted, valid_tool_calls=valid,
        valid_tool_call_rate=_round(valid / attempted) if attempted else None,
        avg_tool_calls=_round(mean(e.tool_calls for e in episodes)),
        avg_turns=_round(mean(e.turns for e in episodes)),
        avg_reward=_round(mean(e.reward for e in episodes)),
        per_domain=_groups(episodes, lambda e: e.domains),
        per_tool=_groups(episodes, lambda e: e.solution_tools),
        errors={name: errors[name] for name in ERROR_CLASSES},
    )


def compute_metrics(episodes: Iterable[EpisodeResult]) -> EvalMetrics:
    """Metrics per split (id, heldout, then any other label), and the OOD - ID gap when both are there."""
    by_split: dict[str, list[EpisodeResult]] = defaultdict(list)
    for e in episodes:
        by_split[e.split].append(e)
    order = [s for s in SPLITS if s in by_split] + sorted(s for s in by_split if s not in SPLITS)
    metrics = EvalMetrics(splits={s: split_metrics(s, by_split[s]) for s in order})
    if "id" in metrics.splits and "heldout" in metrics.splits:
        metrics.gap = id_ood_gap(metrics.splits["id"], metrics.splits["heldout"])
    return metrics


def id_ood_gap(in_distribution: SplitMetrics, held_out: SplitMetrics) -> dict[str, float]:
    """Held-out minus in-distribution for the headline numbers both splits have."""
    gap = {"success_rate": _round(held_out.success_rate - in_distribution.success_rate)}
    for key in (k for k in in_distribution.pass_at_k if k in held_out.pass_at_k):
        gap[key] = _round(held_out.pass_at_k[key] - in_distribution.pass_at_k[key])
    if in_distribution.valid_tool_call_rate is not None and held_out.valid_tool_call_rate is not None:
        gap["valid_tool_call_rate"] = _round(held_out.valid_tool_call_rate - in_distribution.valid_tool_call_rate)
    return gap
