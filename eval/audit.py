"""The leakage audit between a training set and a held-out evaluation set.

OOD numbers mean something only when the held-out tools were never trained on. The audit checks:

1. no tool the held-out tasks offer appears in the training set, by exposed name (the training tasks'
   toolsets and the training manifest's tool catalog) or by schema hash (the manifests' `schema_hash`, a
   hash of what a model sees of a tool: name, description, schemas);
2. few held-out questions are near-duplicates of a training question: cosine similarity of sentence
   embeddings (all-MiniLM-L6-v2, shipped offline) at or above a threshold; identical normalised text
   counts as a near-duplicate even without the embedding model.

`passed` is False on any tool leak, or when the near-duplicate rate is above the limit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from dive.synth.answers import normalise_text
from dive.synth.export import load_tasks
from dive.synth.metrics import EMBEDDING_MODEL, embed, embedding_available
from dive.synth.records import Task
from pydantic import BaseModel, Field

NEAR_DUPLICATE_THRESHOLD = 0.9
"""Cosine similarity at or above which two questions count as near-duplicates."""
NEAR_DUPLICATE_LIMIT = 0.02
"""The largest share of held-out questions that may have a near-duplicate in the training set."""
TOP_PAIRS = 10


class ToolLeak(BaseModel):
    """A held-out tool that the training set also has."""

    tool: str
    """The held-out tool (its exposed name)."""
    by: Literal["name", "schema_hash"]
    training_tool: str
    """The training tool it matches (the same name, or a tool with the same schema hash)."""


class NearDuplicate(BaseModel):
    """A held-out question and its most similar training question."""

    heldout_task: str
    heldout_question: str
    train_task: str
    train_question: str
    cosine: float


class AuditReport(BaseModel):
    """What the audit found; `passed` says whether OOD numbers on the held-out set can be reported."""

    train: str
    heldout: str
    train_tasks: int
    heldout_tasks: int
    heldout_tools: int
    """Distinct tools the held-out tasks offer."""
    tool_leaks: list[ToolLeak] = Field(default_factory=list)
    near_duplicate_threshold: float
    near_duplicate_limit: float
    near_duplicate_rate: float
    """Share of held-out questions whose nearest training question is at or above the threshold."""
    near_duplicates: int
    embedding_model: str | None = None
    """None when the embedding model is not installed (then only identical normalised questions are caught)."""
    top_pairs: list[NearDuplicate] = Field(default_factory=list)
    """The most similar held-out/training question pairs, most similar first."""
    passed: bool
    reasons: list[str] = Field(default_factory=list)
    """Why it failed (empty when it passed)."""


class LeakageError(RuntimeError):
    """A held-out set failed the leakage audit; its report says why."""

    def __init__(self, report: AuditReport) -> None:
        self.report = report
        super().__init__(f"the held-out set {report.heldout} failed the leakage audit against {report.train}: "
                         + "; ".join(report.reasons)
                         + ". OOD numbers on it would be misleading: fix the sets, or pass --allow-leakage "
                           "(allow_leakage=True) to report them anyway, marked as leaky")


def _manifest_tools(source: Path) -> dict[str, dict[str, Any]]:
    """The tool catalog of a `dive synth` folder's manifest.json (empty without one)."""
    manifest = source / "manifest.json" if source.is_dir() else source.with_name("manifest.json")
    if not manifest.is_file():
        return {}
    tools = json.loads(manifest.read_text()).get("tools")
    return tools if isinstance(tools, dict) else {}


def tool_leaks(train_tasks: list[Task], train_catalog: dict[str, dict[str, Any]], heldout_tasks: list[Task],
               heldout_catalog: dict[str, dict[str, Any]]) -> list[ToolLeak]:
    """Held-out tools (those the held-out tasks offer) found in the training set by name or schema hash."""
    train_names = {name for t in train_tasks for name in t.toolset} | set(train_catalog)
    train_hashes = {str(t["schema_hash"]): name for name, t in sorted(train_catalog.items()) if t.get("schema_hash")}
    leaks: list[ToolLeak] = []
    for name in sorted({name for t in heldout_tasks for name in t.toolset}):
        if name in train_names:
            leaks.append(ToolLeak(tool=name, by="name", training_tool=name))
            continue
        digest = str((heldout_catalog.get(name) or {}).get("schema_hash") or "")
        if digest and digest in train_hashes:
            leaks.append(ToolLeak(tool=name, by="schema_hash", training_tool=train_hashes[digest]))
    return leaks


def question_similarity(heldout: list[Task], train: list[Task]) -> tuple[list[NearDuplicate], str | None]:
    """For each held-out task, its most similar training question (cosine of sentence embeddings; 1.0 for
    identical normalised text), most similar first; and the embedding model used (None if not installed)."""
    if not heldout or not train:
        return [], None
    train_text = {normalise_text(t.question): i for i, t in enumerate(train)}
    best: list[tuple[float, int]] = []
    model = None
    if embedding_available():
        model = EMBEDDING_MODEL
        sims = embed([t.question for t in heldout]) @ embed([t.question for t in train]).T
        indices = sims.argmax(axis=1)
        best = [(float(sims[n, i]), int(i)) for n, i in enumerate(indices)]
    pairs = []
    for n, task in enumerate(heldout):
        cosine, index = best[n] if best else (0.0, 0)
        exact = train_text.get(normalise_text(task.question))
        if exact is not None:
            cosine, index = 1.0, exact
        pairs.append(NearDuplicate(heldout_task=task.id, heldout_question=task.question, train_task=train[index].id,
                                   train_question=train[index].question, cosine=round(min(cosine, 1.0), 4)))
    return sorted(pairs, key=lambda p: -p.cosine), model


def audit(train: str | Path, heldout: str | Path, *, threshold: float = NEAR_DUPLICATE_THRESHOLD,
          limit: float = NEAR_DUPLICATE_LIMIT, top: int = TOP_PAIRS) -> AuditReport:
    """Audit a held-out set against a training set (each a `dive synth` folder or a tasks.jsonl)."""
    train_path, heldout_path = Path(train), Path(heldout)
    train_tasks, heldout_tasks = load_tasks(train_path), load_tasks(heldout_path)
    leaks = tool_leaks(train_tasks, _manifest_tools(train_path), heldout_tasks, _manifest_tools(heldout_path))
    pairs, model = question_similarity(heldout_tasks, train_tasks)
    near = sum(p.cosine >= threshold for p in pairs)
    rate = near / len(heldout_tasks) if heldout_tasks else 0.0
    reasons = []
    if leaks:
        shown = ", ".join(f"{leak.tool} (by {leak.by.replace('_', ' ')})" for leak in leaks[:8])
        reasons.append(f"{len(leaks)} held-out tool(s) appear in the training set: {shown}"
                       + (f" and {len(leaks) - 8} more" if len(leaks) > 8 else ""))
    if rate > limit:
        reasons.append(f"{near} of {len(heldout_tasks)} held-out questions ({rate:.1%}) have a training question at "
                       f"cosine >= {threshold:g} (limit {limit:.1%})")
    return AuditReport(
        train=str(train_path), heldout=str(heldout_path), train_tasks=len(train_tasks),
        heldout_tasks=len(heldout_tasks), heldout_tools=len({n for t in heldout_tasks for n in t.toolset}),
        tool_leaks=leaks, near_duplicate_threshold=threshold, near_duplicate_limit=limit,
        near_duplicate_rate=round(rate, 6), near_duplicates=near, embedding_model=model, top_pairs=pairs[:top],
        passed=not reasons, reasons=reasons,
    )
