"""Training fixtures: a real synthesized dataset, and a tiny model with a tokenizer trained on it (no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dive.train.chat import plain_conversation
from dive.train.sft import SFTResult, load_sft_examples, train_sft
from dive.train.testing import save_tiny_model, tiny_causal_lm, train_tokenizer

TINY_MAX_LENGTH = 4096
"""Conversations offer 15-50 tools (18k tokens of schemas with the tiny tokenizer): they fit by leaving out
schemas of tools they do not call."""
SHORT_RESULT_CHARS = 200


@pytest.fixture(scope="session")
def sft_data(synth_tasks: Path) -> Path:
    """The session's `dive synth` run (16 tasks on the files and database domains; sft.jsonl among its files)."""
    return synth_tasks


@pytest.fixture(scope="session")
def short_sft_data(sft_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's sft.jsonl with each tool result cut to 200 characters, so that the tiny model trains in
    seconds (a real result is up to 4,000 characters)."""
    rows = [json.loads(line) for line in (sft_data / "sft.jsonl").read_text().splitlines()]
    for row in rows:
        for message in row["messages"]:
            if message["role"] == "tool":
                message["content"] = message["content"][:SHORT_RESULT_CHARS]
    out = tmp_path_factory.mktemp("short") / "sft.jsonl"
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(sft_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer Llama (hidden 64) and a byte-level BPE tokenizer trained on the dataset."""
    texts = [m["content"] for e in load_sft_examples(sft_data) for m in plain_conversation(e.messages, e.tools)]
    tokenizer = train_tokenizer(texts, vocab_size=2000)
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model", tiny_causal_lm(tokenizer, hidden_size=64),
                           tokenizer)


@pytest.fixture(scope="session")
def tiny_sft_run(short_sft_data: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> SFTResult:
    """20 steps of full fine-tuning of the tiny model on the dataset with short tool results."""
    out = tmp_path_factory.mktemp("sft") / "out"
    return train_sft(short_sft_data, str(tiny_model_dir), out, max_steps=20, batch_size=2, lr=1e-2,
                     max_length=TINY_MAX_LENGTH, save_steps=10, seed=0)
