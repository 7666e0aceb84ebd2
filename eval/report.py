"""The evaluation report folder, and re-scoring it from its own records.

    OUT/results.jsonl   one `EpisodeResult` per line: the episode's scores, errors, trace and messages, its
                        predicted answer, the reference answer and the matcher
    OUT/metrics.json    `EvalReport`: the run, the leakage audit, the metrics (per split, and the OOD - ID gap)
    OUT/report.md       tables: overall by split with the gap, per domain, per tool, error classes; and plots
    OUT/plot_*.png      success by split and domain, the ID-OOD gap, tool calls per episode

`rescore(OUT)` re-reads every episode's final answer from its messages, re-matches it against the reference
answer with the recorded matcher, recomputes the metrics and checks they reproduce metrics.json.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dive.env.actions import parse_action
from dive.synth.answers import answers_match
from dive.synth.export import read_records
from pydantic import BaseModel, Field, computed_field

from .metrics import EvalMetrics, compute_metrics
from .records import EpisodeResult
from .runner import EvalReport, EvalResults

RESULTS, METRICS, REPORT = "results.jsonl", "metrics.json", "report.md"
TOP_TOOLS = 20


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_report(out: Path, results: EvalResults, report: EvalReport) -> None:
    """Write results.jsonl, metrics.json, report.md and the plots into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / RESULTS, "".join(e.model_dump_json() + "\n" for e in results.episodes))
    _write_atomic(out / METRICS, report.model_dump_json(indent=2))
    plots = _plots(out, results, report.metrics)
    _write_atomic(out / REPORT, render_markdown(report, plots))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.1f} pt"


def render_markdown(report: EvalReport, plots: list[str]) -> str:
    """report.md's text."""
    metrics, run = report.metrics, report.run
    splits = list(metrics.splits.values())
    top_k = max((s.samples for s in splits), default=1)
    lines = ["# DIVE evaluation report", "",
             (f"- agent: **{run.agent}**; samples per task: {run.samples}; max turns: {run.max_turns}; "
             f"transport: {run.transport}; dive-gym {run.dive_gym}; {run.created}")]
    lines += [f"- {name} tasks: `{source}`" for name, source in run.splits.items()]
    if run.train:
        lines.append(f"- training set: `{run.train}` ({run.removed_seed_overlap} id task(s) dropped for sharing a "
                     "seed entity with it)")
    if report.audit is not None:
        verdict = "passed" if report.audit.passed else "**FAILED** (" + "; ".join(report.audit.reasons) + ")"
        lines.append(f"- leakage audit: {verdict}; near-duplicate rate {_pct(report.audit.near_duplicate_rate)} "
                     f"at cosine >= {report.audit.near_duplicate_threshold:g}")
        if not report.audit.passed:
            lines.append("- **held-out numbers are reported with --allow-leakage: they are not a clean OOD measure**")
    lines += ["", "## Overall", "",
              (f"| split | tasks | episodes | success | pass@{top_k} | valid tool calls | calls / episode | "
              "turns / episode | reward |"), "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in splits:
        lines.append(f"| {s.split} | {s.tasks} | {s.episodes} | {_pct(s.success_rate)} | "
                     f"{_pct(s.pass_at_k.get(f'pass@{top_k}'))} | {_pct(s.valid_tool_call_rate)} | "
                     f"{s.avg_tool_calls:.2f} | {s.avg_turns:.2f} | {s.avg_reward:+.3f} |")
    if metrics.gap is not None:
        gap = metrics.gap
        lines.append(f"| **gap (OOD - ID)** | | | {_signed(gap.get('success_rate'))} | "
                     f"{_signed(gap.get(f'pass@{top_k}'))} | {_signed(gap.get('valid_tool_call_rate'))} | | | |")
    lines += ["", "## Per domain", "", "| domain | split | episodes | success |", "| --- | --- | ---: | ---: |"]
    for s in splits:
        lines += [f"| {d} | {s.split} | {g.episodes} | {_pct(g.success_rate)} |" for d, g in s.per_domain.items()]
    lines += ["", f"## Per tool (the {TOP_TOOLS} most used by reference solutions, per split)", "",
              "| tool | split | episodes | success |", "| --- | --- | ---: | ---: |"]
    for s in splits:
        lines += [f"| {t} | {s.split} | {g.episodes} | {_pct(g.success_rate)} |"
                  for t, g in list(s.per_tool.items())[:TOP_TOOLS]]
    lines += ["", "## Error classes", "", "| error | " + " | ".join(s.split for s in splits) + " |",
              "| --- |" + " ---: |" * len(splits)]
    names = list(splits[0].errors) if splits else []
    lines += [f"| {name} | " + " | ".join(str(s.errors.get(name, 0)) for s in splits) + " |" for name in names]
    if report.audit is not None and report.audit.top_pairs:
        lines += ["", "## Most similar held-out / training questions", "", "| cosine | held-out | training |",
                  "| ---: | --- | --- |"]
        lines += [f"| {p.cosine:.3f} | {_cell(p.heldout_question)} | {_cell(p.train_question)} |"
                  for p in report.audit.top_pairs[:5]]
    lines += ["", "## Plots", ""] + [f"![{name}]({name})" for name in plots]
    return "\n".join(lines) + "\n"


def _cell(text: str, limit: int = 120) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plots(out: Path, results: EvalResults, metrics: EvalMetrics) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = list(metrics.splits.values())
    written: list[str] = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=90, metadata={"Software": None})
        plt.close(fig)
        written.append(name)

    # Success by split and domain: the split's overall bar, then one bar per domain.
    labels = [label for s in splits for label in [f"{s.split}: all", *(f"{s.split}: {d}" for d in s.per_domain)]]
    values = [v for s in splits for v in [s.success_rate, *(g.success_rate for g in s.per_domain.values())]]
    colours = ["#4c72b0" if label.startswith("id") else "#dd8452" for label in labels]
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(labels) + 2), 4))
    ax.bar(range(len(labels)), values, color=colours)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("success rate")
    ax.set_title("Success by split and domain")
    save(fig, "plot_success.png")

    if metrics.gap is not None:
        fig, ax = plt.subplots(figsize=(6, 4))
        names = list(metrics.gap)
        ax.bar(range(len(names)), [metrics.gap[k] for k in names],
               color=["#c44e52" if metrics.gap[k] < 0 else "#55a868" for k in names])
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("held-out minus in-distribution")
        ax.set_title("ID-OOD gap")
        save(fig, "plot_gap.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    calls = {s.split: [e.tool_calls for e in results.episodes if e.split == s.split] for s in splits}
    top = max((max(v) for v in calls.values() if v), default=0)
    bins = list(range(top + 2))
    for split, values_ in calls.items():
        ax.hist(values_, bins=bins, alpha=0.6, label=split, align="left")
    ax.set_xlabel("tool calls attempted per episode")
    ax.set_ylabel("episodes")
    ax.set_title("Tool calls per episode")
    ax.legend()
    save(fig, "plot_tool_calls.png")
    return written


# -- re-scoring -------------------------------------------------------------------------------------

class RescoreReport(BaseModel):
    """Whether an evaluation folder's metrics follow from its own episode records."""

    out: str
    episodes: int
    episode_problems: list[str] = Field(default_factory=list)
    """Episodes whose recorded answer or success does not follow from their messages and reference answer."""
    metric_differences: list[str] = Field(default_factory=list)
    """Metrics in metrics.json that the re-computation does not reproduce."""
    metrics: EvalMetrics
    """The re-computed metrics."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reproduced(self) -> bool:
        """True when every episode and every metric agrees."""
        return not self.episode_problems and not self.metric_differences


def read_results(out: Path) -> list[EpisodeResult]:
    """The episodes of an evaluation folder's results.jsonl."""
    path = out / RESULTS
    if not path.is_file():
        raise FileNotFoundError(f"no {RESULTS} in {out}: point at a `dive eval run --out` folder")
    return read_records(path, EpisodeResult, "an episode result")


def final_answer(episode: EpisodeResult) -> str | None:
    """The final answer read afresh from the episode's last assistant message (None if it never answered)."""
    if not episode.terminated:
        return None
    last = next((m for m in reversed(episode.messages) if m.get("role") == "assistant"), None)
    if last is None or last.get("tool_calls"):
        return None
    action = parse_action(last.get("content") or "")
    return action.answer if action.kind == "answer" else None


def rescore_episode(episode: EpisodeResult) -> tuple[EpisodeResult, list[str]]:
    """The episode with its answer re-read and re-matched, and what disagreed with its record."""
    where = f"{episode.split}/{episode.task_id}#{episode.sample}"
    problems = []
    predicted = final_answer(episode)
    if predicted != episode.predicted_answer:
        problems.append(f"{where}: the recorded answer {episode.predicted_answer!r} is not the one in its messages "
                        f"({predicted!r})")
    success = predicted is not None and answers_match(predicted, episode.reference_answer, episode.matcher)
    if success != episode.success:
        problems.append(f"{where}: recorded success {episode.success} but the answer {predicted!r} "
                        f"{'matches' if success else 'does not match'} the reference {episode.reference_answer!r}")
    errors = dict(episode.errors)
    if episode.terminated:
        errors.pop("wrong_answer", None)
        if not success:
            errors["wrong_answer"] = 1
    rescored = episode.model_copy(update={"predicted_answer": predicted, "success": success,
                                          "correctness": 1.0 if success else 0.0, "errors": errors})
    return rescored, problems


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _leaves(item, f"{path}[{n}]")
    else:
        yield path, value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=0.0, abs_tol=1e-6)
    return a == b


def rescore(out: str | Path) -> RescoreReport:
    """Recompute an evaluation folder's metrics from results.jsonl (answers re-matched) and compare them with
    metrics.json. `.reproduced` is True when every episode and every metric agrees."""
    folder = Path(out)
    metrics_file = folder / METRICS
    if not metrics_file.is_file():
        raise FileNotFoundError(f"no {METRICS} in {folder}: point at a `dive eval run --out` folder")
    recorded = EvalReport.model_validate_json(metrics_file.read_text()).metrics
    episodes, problems = [], []
    for episode in read_results(folder):
        rescored, found = rescore_episode(episode)
        episodes.append(rescored)
        problems += found
    metrics = compute_metrics(episodes)
    want = dict(_leaves(json.loads(recorded.model_dump_json())))
    got = dict(_leaves(json.loads(metrics.model_dump_json())))
    differences = [f"{key}: {want.get(key)!r} in {METRICS}, {got.get(key)!r} re-computed"
                   for key in dict.fromkeys([*want, *got]) if not _same(want.get(key), got.get(key))]
    return RescoreReport(out=str(folder), episodes=len(episodes), episode_problems=problems,
                         metric_differences=differences, metrics=metrics)
