"""Training fixtures: a real synthesized dataset, and a tiny model with a tokenizer trained on it (no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dive.train.chat import plain_conversation
from dive.train.sft import SFTResult, load_sft_examples, train_sft
from dive.train.testing import save_tiny_model, tiny_causal_lm, train_tokenizer

TINY_MAX_LENGTH = 512
"""Long enough for every example's final turns; the tool schemas before them are cut from the left."""


@pytest.fixture(scope="session")
def sft_data(synth_tasks: Path) -> Path:
    """The session's `dive synth` run (16 tasks on the files and database domains; sft.jsonl among its files)."""
    return synth_tasks


@pytest.fixture(scope="session")
def tiny_model_dir(sft_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer Llama (hidden 64) and a byte-level BPE tokenizer trained on the dataset."""
    texts = [m["content"] for e in load_sft_examples(sft_data) for m in plain_conversation(e.messages, e.tools)]
    tokenizer = train_tokenizer(texts, vocab_size=2000)
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model", tiny_causal_lm(tokenizer, hidden_size=64),
                           tokenizer)


@pytest.fixture(scope="session")
def tiny_sft_run(sft_data: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SFTResult:
    """40 steps of full fine-tuning of the tiny model on the dataset."""
    out = tmp_path_factory.mktemp("sft") / "out"
    return train_sft(sft_data, str(tiny_model_dir), out, max_steps=40, batch_size=2, lr=1e-2,
                     max_length=TINY_MAX_LENGTH, save_steps=20, seed=0)
