"""sft.jsonl follows the transformers/TRL chat conventions: `datasets` reads it back unchanged, and every chat
template TRL ships that renders tool calls writes each call's arguments exactly once, as an object (never
JSON text inside a JSON string)."""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from transformers import AutoTokenizer

TRL_TEMPLATES = Path(pytest.importorskip("trl").__file__).parent / "chat_templates"

NOT_FOR_OBJECT_ARGUMENTS = {
    # TRL's README: "tool_calls are silently dropped whenever content is set, so the template does not support
    # tool calling"; where content is None it concatenates the arguments as a string.
    "deepseek_r1_distill": "does not support tool calling",
    "deepseek_r1_distill_training": "does not support tool calling",
    # TRL's README: "The original template uses raw string concatenation, which crashes on dict inputs"; TRL's
    # deepseekv3_training.jinja, which takes objects, is tested.
    "deepseekv3": "takes arguments only as a string",
}


def tool_call_templates() -> dict[str, str]:
    """TRL's chat templates that render assistant tool calls."""
    found = {path.stem: path.read_text() for path in sorted(TRL_TEMPLATES.glob("*.jinja"))}
    return {name: text for name, text in found.items() if "tool_calls" in text and name not in NOT_FOR_OBJECT_ARGUMENTS}


def keys(value) -> list[str]:
    """Every object key in a JSON value, nested ones included."""
    if isinstance(value, dict):
        return [k for key, item in value.items() for k in (key, *keys(item))]
    if isinstance(value, list):
        return [k for item in value for k in keys(item)]
    return []


def word_count(text: str, word: str) -> int:
    return len(re.findall(rf"(?<![\w$]){re.escape(word)}(?![\w])", text))


@pytest.fixture(scope="module")
def rows(sft_data):
    datasets = pytest.importorskip("datasets")
    return list(datasets.load_dataset("json", data_files=str(sft_data / "sft.jsonl"), split="train"))


def test_datasets_reads_sft_jsonl_back_unchanged(rows, sft_data):
    written = [json.loads(line) for line in (sft_data / "sft.jsonl").read_text().splitlines()]
    assert rows == written
    for row in rows:
        assert row["tools"] and all(t["type"] == "function" and isinstance(t["function"]["parameters"], dict)
                                    for t in row["tools"])
        calls = [c for m in row["messages"] for c in m.get("tool_calls") or []]
        assert calls and all(isinstance(c["function"]["arguments"], dict) for c in calls)
        assert {m["role"] for m in row["messages"]} == {"user", "assistant", "tool"}


def test_every_trl_template_with_tool_calls_renders_each_call_s_arguments_once_as_an_object(rows, tiny_model_dir):
    templates = tool_call_templates()
    assert {"qwen2_5", "qwen3", "llama3_1"} <= set(templates)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    problems = []
    for name, template in templates.items():
        for row in rows:
            # The same conversation with every call's arguments emptied: what a call adds to the text is then
            # exactly its arguments, so each of their keys must appear once more per call.
            emptied = copy.deepcopy(row["messages"])
            for message in emptied:
                for call in message.get("tool_calls") or []:
                    call["function"]["arguments"] = {}
            texts = [tokenizer.apply_chat_template(messages, tools=row["tools"], chat_template=template,
                                                   tokenize=False) for messages in (row["messages"], emptied)]
            calls = [c["function"]["arguments"] for m in row["messages"] for c in m.get("tool_calls") or []]
            expected = Counter(k for arguments in calls for k in keys(arguments))
            for key, count in expected.items():
                added = word_count(texts[0], key) - word_count(texts[1], key)
                if added != count:
                    problems.append(f"{name}: {row['id']}: {key!r} written {added} times, {count} expected")
            for arguments in calls:
                as_json_text = json.dumps(json.dumps(arguments))[1:-1]  # the arguments double-encoded
                if arguments and as_json_text in texts[0]:
                    problems.append(f"{name}: {row['id']}: arguments written as JSON text")
    assert not problems, "\n".join(problems[:20])
