"""Conversations as model input: the one place training renders chats, in the format DIVE-v0 parses.

Tools, tool calls and tool results are always rendered with `dive.env.chat_format.to_plain_messages` (tools in
the system message, `<tool_call>` blocks in the assistant's text, `<tool_response>` blocks in a user turn,
`<answer>` at the end), and the plain messages then go through the tokenizer's own chat template. That holds
even for templates with native tool support: the env parses exactly this format, so training on it keeps
training and rollouts in agreement. A tokenizer without a chat template gets ChatML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dive.env.chat_format import to_plain_messages

IM_START, IM_END = "<|im_start|>", "<|im_end|>"

# ChatML, with `{% generation %}` markers around what the assistant writes (its end-of-turn token included),
# so TRL's and transformers' own assistant masks work with it too.
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}"
    "{%- else %}{{- message['content'] + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def ensure_chat_template(tokenizer: Any) -> bool:
    """Give a tokenizer without a chat template the ChatML one (adding its two special tokens if missing, and
    making `<|im_end|>` the end-of-sequence token so generation stops at the end of a turn).

    Returns True when tokens were added: the model's embeddings must then be resized to `len(tokenizer)`.
    """
    if tokenizer.chat_template:
        return False
    missing = [t for t in (IM_START, IM_END) if tokenizer.convert_tokens_to_ids(t) in (None, tokenizer.unk_token_id)]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.eos_token = IM_END
    if tokenizer.pad_token is None:
        tokenizer.pad_token = IM_END
    return bool(missing)


def parse_tools(tools: str | Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Tool schemas as given in sft.jsonl (JSON text) or already parsed; None stays None."""
    if tools is None:
        return None
    if isinstance(tools, str):
        tools = json.loads(tools) if tools.strip() else []
    if not isinstance(tools, list):
        raise TypeError(f"tools must be a list of OpenAI function schemas, got {type(tools).__name__}")
    return [dict(t) for t in tools]


def plain_conversation(messages: Sequence[Mapping[str, Any]], tools: str | Sequence[Mapping[str, Any]] | None = None
                       ) -> list[dict[str, str]]:
    """OpenAI-form messages (tool calls, tool results) as plain role/content messages in DIVE's format.

    Pass `tools` when the messages do not already start with DIVE's system prompt (sft.jsonl rows); leave it out
    for DIVE-v0's `info["messages"]`, which already carry it.
    """
    return to_plain_messages(messages, parse_tools(tools))


def render_prompt(tokenizer: Any, messages: Sequence[Mapping[str, Any]],
                  tools: str | Sequence[Mapping[str, Any]] | None = None) -> str:
    """The text a model continues to write its next turn (the generation prompt included)."""
    return _render(tokenizer, plain_conversation(messages, tools), add_generation_prompt=True)


def render_conversation(tokenizer: Any, messages: Sequence[Mapping[str, Any]],
                        tools: str | Sequence[Mapping[str, Any]] | None = None) -> str:
    """A whole conversation as text, the way training sees it."""
    return _render(tokenizer, plain_conversation(messages, tools), add_generation_prompt=False)


@dataclass(frozen=True)
class TokenizedConversation:
    """A conversation's tokens and which of them the assistant wrote (1) rather than read (0)."""

    input_ids: list[int]
    assistant_mask: list[int]
    text: str


def tokenize_conversation(tokenizer: Any, messages: Sequence[Mapping[str, Any]],
                          tools: str | Sequence[Mapping[str, Any]] | None = None) -> TokenizedConversation:
    """Tokens of a conversation with a mask that is 1 exactly on what the assistant wrote: each assistant turn's
    text and its end-of-turn token. The system prompt, the user's turns, the tool results and each turn's
    header (`<|im_start|>assistant\\n`, which the generation prompt supplies) are 0.

    Spans are found on the rendered text: the text up to an assistant turn, rendered with the generation prompt,
    must be a prefix of the text through that turn, which must be a prefix of the whole (true of ChatML and of
    templates that render earlier turns independently of later ones).
    """
    plain = plain_conversation(messages, tools)
    text = _render(tokenizer, plain, add_generation_prompt=False)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(plain):
        if message["role"] != "assistant":
            continue
        if i == 0:
            raise ValueError("a conversation cannot open with an assistant turn: it needs a prompt before it")
        before = _render(tokenizer, plain[:i], add_generation_prompt=True)
        through = _render(tokenizer, plain[: i + 1], add_generation_prompt=False).rstrip()
        if not (through.startswith(before) and text.startswith(through)):
            raise ValueError("the tokenizer's chat template renders earlier turns differently once later turns "
                             "follow, so assistant turns cannot be located: use a prefix-preserving template")
        spans.append((len(before), len(through)))
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(start <= begin < end for start, end in spans)) for begin, _ in encoding["offset_mapping"]]
    return TokenizedConversation(input_ids=list(encoding["input_ids"]), assistant_mask=mask, text=text)


def _render(tokenizer: Any, plain: list[dict[str, str]], *, add_generation_prompt: bool) -> str:
    if not tokenizer.chat_template:
        raise ValueError("the tokenizer has no chat template: call dive.train.chat.ensure_chat_template first")
    return tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=add_generation_prompt)
