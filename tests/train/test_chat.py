"""Rendering conversations for training: DIVE's tool layer (full or compact tools) over the model's chat template,
in agreement with what DIVE-v0 shows, and a loss mask that is 1 on exactly what the assistant wrote (checked by
decoding the masked tokens)."""

from __future__ import annotations

import json

import pytest
from dive.env.actions import parse_action
from dive.env.chat_format import assistant_text, tool_schema
from dive.train.chat import (
    CHATML_TEMPLATE,
    IM_END,
    base_template,
    dive_chat_template,
    ensure_chat_template,
    install_dive_template,
    plain_conversation,
    render_conversation,
    render_prompt,
    template_tools_format,
    tokenize_conversation,
)
from dive.train.sft import load_sft_examples
from dive.train.testing import train_tokenizer

TOOLS = json.dumps([tool_schema("csv_describe", "Describe a CSV file: its columns and row count.",
                                {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})])
CONVERSATION = [
    {"role": "user", "content": "How many rows are in cities.csv?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_0", "type": "function", "function": {"name": "csv_describe", "arguments": '{"path": "cities.csv"}'}}]},
    {"role": "tool", "tool_call_id": "call_0", "name": "csv_describe", "content": '{"row_count": 42}'},
    {"role": "assistant", "content": "<answer>42</answer>"},
]
CALL_TEXT = '<tool_call>\n{"name": "csv_describe", "arguments": {"path": "cities.csv"}}\n</tool_call>'


@pytest.fixture(scope="module")
def tokenizer():
    corpus = [render_conversation_text() for _ in range(3)] + ["The answer is in the table of cities and airports."]
    return train_tokenizer(corpus, vocab_size=400)


def render_conversation_text() -> str:
    return json.dumps(CONVERSATION) + TOOLS


def copy_of(tokenizer, eos_token: str):
    """The same vocabulary in a tokenizer of its own, without a chat template."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=eos_token, pad_token=tokenizer.pad_token)


def masked_runs(tokens, tokenizer) -> list[str]:
    """The masked tokens, decoded run by run (a run: consecutive tokens with mask 1)."""
    runs, current = [], []
    for token, bit in zip(tokens.input_ids, tokens.assistant_mask):
        if bit:
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [tokenizer.decode(run) for run in runs]


def unmasked_text(tokens, tokenizer) -> str:
    return tokenizer.decode([t if bit == 0 else tokenizer.pad_token_id
                             for t, bit in zip(tokens.input_ids, tokens.assistant_mask)])


def test_the_mask_covers_the_assistant_turns_and_their_end_tokens_only(tokenizer):
    tokens = tokenize_conversation(tokenizer, CONVERSATION, TOOLS)
    assert len(tokens.input_ids) == len(tokens.assistant_mask)
    assert masked_runs(tokens, tokenizer) == [CALL_TEXT + IM_END, "<answer>42</answer>" + IM_END]
    rest = unmasked_text(tokens, tokenizer)
    for read_not_written in ('<tool_response>\n{"row_count": 42}\n</tool_response>', "How many rows are in cities.csv?",
                             "<tools>", "csv_describe", "<|im_start|>assistant\n"):
        assert read_not_written in rest
    assert "<answer>42" not in rest and CALL_TEXT not in rest
    assert tokenizer.decode(tokens.input_ids) == tokens.text == render_conversation(tokenizer, CONVERSATION, TOOLS)


def test_what_the_model_learns_to_write_is_what_the_env_parses(tokenizer):
    tokens = tokenize_conversation(tokenizer, CONVERSATION, TOOLS)
    call, answer = (run.removesuffix(IM_END) for run in masked_runs(tokens, tokenizer))
    parsed = parse_action(call)
    assert parsed.kind == "tool_calls" and parsed.calls[0].name == "csv_describe"
    assert parsed.calls[0].arguments == {"path": "cities.csv"}
    assert parse_action(answer).answer == "42"


def test_the_prompt_ends_where_the_assistant_starts_writing(tokenizer):
    prompt = render_prompt(tokenizer, CONVERSATION[:3], TOOLS)
    full = render_conversation(tokenizer, CONVERSATION, TOOLS)
    assert prompt.endswith("<|im_start|>assistant\n")
    assert full.startswith(prompt) and full[len(prompt):].startswith("<answer>42</answer>")


def test_masks_on_a_synthesized_dataset_match_every_assistant_message(sft_data, tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    for example in load_sft_examples(sft_data):
        tokens = tokenize_conversation(tok, example.messages, example.tools)
        expected = [assistant_text(m) + IM_END for m in example.messages if m["role"] == "assistant"]
        assert masked_runs(tokens, tok) == expected
        rest = unmasked_text(tokens, tok)
        for message in example.messages:
            if message["role"] in ("tool", "user"):
                assert message["content"] in rest


def test_other_prefix_preserving_templates_are_masked_the_same_way(tokenizer):
    headers = ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tokenizer = copy_of(tokenizer, eos_token="<|eot_id|>")
    tokenizer.add_special_tokens({"additional_special_tokens": headers})
    tokenizer.chat_template = (
        "{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content']"
        " + '<|eot_id|>' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")
    tokens = tokenize_conversation(tokenizer, CONVERSATION, TOOLS)
    assert masked_runs(tokens, tokenizer) == [CALL_TEXT + "<|eot_id|>", "<answer>42</answer><|eot_id|>"]


def test_a_template_that_rewrites_earlier_turns_is_refused(tokenizer):
    tokenizer = copy_of(tokenizer, eos_token=IM_END)
    tokenizer.chat_template = "{% if messages | length > 3 %}[long chat]{% endif %}" + CHATML_TEMPLATE
    with pytest.raises(ValueError, match="prefix-preserving"):
        tokenize_conversation(tokenizer, CONVERSATION, TOOLS)


def test_a_tokenizer_without_a_chat_template_gets_chatml():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(["plain text without any chat markup"], trainer=trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe)
    size = len(tokenizer)
    assert ensure_chat_template(tokenizer) is True  # tokens were added: embeddings need resizing
    assert len(tokenizer) == size + 2 and tokenizer.eos_token == IM_END
    assert tokenizer.chat_template == CHATML_TEMPLATE
    assert ensure_chat_template(tokenizer) is False  # idempotent


def test_the_full_tool_layer_renders_exactly_what_dive_v0_shows(sft_data, tiny_model_dir):
    """The Jinja layer and `dive.env.chat_format.to_plain_messages` (DIVE-v0's rendering) agree on every
    conversation of a synthesized set, whatever the base template."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    layered = dive_chat_template(tok.chat_template, "full")
    for example in load_sft_examples(sft_data):
        expected = tok.apply_chat_template(plain_conversation(example.messages, example.tools), tokenize=False)
        assert tok.apply_chat_template(example.messages, tools=example.tools, chat_template=layered,
                                       tokenize=False) == expected
    # JSON-text arguments (DIVE-v0's info["messages"], older sft.jsonl files) render the same as objects
    assert render_conversation(tok, CONVERSATION, TOOLS).count(CALL_TEXT) == 1


def test_the_compact_layer_offers_one_line_a_tool_with_typed_parameters(tokenizer):
    tools = json.loads(TOOLS) + [tool_schema(
        "aggregate", "Compute aggregates over the rows of a table, e.g. the total. NULLs are ignored.",
        {"type": "object", "required": ["table", "aggregates"], "$defs": {"Agg": {
            "type": "object", "required": ["function"], "properties": {
                "function": {"enum": ["count", "sum"]}, "column": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}},
         "properties": {"table": {"type": "string", "description": "Table name"},
                        "aggregates": {"type": "array", "items": {"$ref": "#/$defs/Agg"}},
                        "limit": {"type": "integer", "default": 10}}})]
    install_dive_template(tokenizer, "compact")
    try:
        text = render_conversation(tokenizer, CONVERSATION, tools)
        full = dive_chat_template(base_template(tokenizer.chat_template), "full")
        assert len(tokenizer.apply_chat_template(CONVERSATION, tools=tools, chat_template=full, tokenize=False)) > \
            len(text)
    finally:
        tokenizer.chat_template = base_template(tokenizer.chat_template)
    listed = text.split("<tools>\n")[1].split("\n</tools>")[0].splitlines()
    assert listed == [
        "csv_describe(path: string) - Describe a CSV file: its columns and row count.",
        ('aggregate(table: string, aggregates: {function: "count"|"sum", column?: string}[], limit?: integer) - '
        "Compute aggregates over the rows of a table, e.g. the total."),
    ]
    assert CALL_TEXT in text and "<tool_response>" in text  # calls and results as in the full rendering


def test_the_layer_is_installed_once_and_comes_off_again(tokenizer):
    own = tokenizer.chat_template
    tok = copy_of(tokenizer, eos_token=IM_END)
    tok.chat_template = own
    assert install_dive_template(tok) == "full" and template_tools_format(tok.chat_template) == "full"
    layered = tok.chat_template
    assert install_dive_template(tok) == "full" and tok.chat_template == layered  # kept as it is
    assert install_dive_template(tok, "compact") == "compact" and base_template(tok.chat_template) == own
    with pytest.raises(ValueError, match="unknown tool format"):
        dive_chat_template(own, "tiny")
