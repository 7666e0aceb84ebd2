"""Conversations as model input: the one place training renders chats, in the format DIVE-v0 parses.

Training renders every conversation through a chat template of its own: DIVE's tool layer in front of the
model's template (ChatML where it has none). The layer turns structured messages (OpenAI-form tool calls with
object arguments, `tool` results) and `tools=` (JSON schemas, the form `apply_chat_template` takes) into plain
messages: tools offered in the system message, `<tool_call>` blocks in the assistant's text, `<tool_response>`
blocks in a user turn, `<answer>` at the end, which is `dive.env.chat_format.to_plain_messages` (what DIVE-v0
shows a model) written in Jinja; the model's template then renders those. That holds even for templates with
native tool support: the env parses exactly this format, so training and rollouts agree.

Checkpoints are saved with this template, so `tokenizer.apply_chat_template(messages, tools=...)` on a trained
model gives the text it was trained on, in any server that runs the model's own template.

Two tool renderings: `full` (each tool's JSON schema, the default and what DIVE-v0 shows) and `compact` (one
line a tool: name, typed parameters and the first sentence of its description), for small-context models.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dive.env.chat_format import (
    SYSTEM_INSTRUCTIONS,
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    TOOL_RESPONSE_CLOSE,
    TOOL_RESPONSE_OPEN,
    to_plain_messages,
)

IM_START, IM_END = "<|im_start|>", "<|im_end|>"

ToolFormat = Literal["full", "compact"]
TOOL_FORMATS: tuple[str, ...] = ("full", "compact")

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

COMPACT_INSTRUCTIONS = (
    "You are an agent that answers the user's question by calling tools. The tools you may call are listed "
    "between <tools> and </tools>, one a line: the tool's name, its parameters with their JSON types (a ? marks "
    "an optional one) and what it does:\n<tools>\n{tools}\n</tools>\n\n"
    + SYSTEM_INSTRUCTIONS.split("</tools>\n\n", 1)[1]
)
"""The system message of the compact rendering: the same instructions as DIVE-v0's, tools one a line."""

_MARKER = "{#- dive-gym tool layer: %s -#}\n"
_MARKER_RE = re.compile(r"\A\{#- dive-gym tool layer: (full|compact) -#\}\n")
_BASE_START = "{#- the model's own template -#}\n"


def _literal(text: str) -> str:
    """A Jinja string literal for `text`."""
    return json.dumps(text, ensure_ascii=True)


def _instructions(template: str) -> tuple[str, str]:
    """The text before and after the tool list of a system-message template (`{tools}` in str.format form)."""
    head, tail = template.split("{tools}")
    return head.replace("{{", "{").replace("}}", "}"), tail.replace("{{", "{").replace("}}", "}")


_FULL_TOOLS = """
  {%- for tool in tools %}
    {%- set dive.tools = dive.tools + [tool | tojson(sort_keys=True)] %}
  {%- endfor %}"""

# One line a tool: `name(a: string, b?: integer[], c: "x"|"y") - What it does.` Types come from the JSON schema:
# enums as their values, anyOf/oneOf as alternatives (null left out), arrays as `T[]`, objects with properties
# (and `$defs` references, expanded) as `{k: T}`.
_COMPACT_TOOLS = """
  {%- macro dive_type(s, defs, depth) %}
    {%- if s is not mapping %}any
    {%- elif s['$ref'] is defined %}
      {%- set name = s['$ref'].split('/')[-1] %}
      {%- if defs[name] is defined and depth < 4 %}{{- dive_type(defs[name], defs, depth + 1) }}{%- else %}{{- name }}{%- endif %}
    {%- elif s.enum is defined %}{{- s.enum | map('tojson') | join('|') }}
    {%- elif s.const is defined %}{{- s.const | tojson }}
    {%- elif s.anyOf is defined or s.oneOf is defined %}
      {%- set options = namespace(items=[]) %}
      {%- for option in (s.anyOf if s.anyOf is defined else s.oneOf) %}
        {%- if not (option is mapping and option.type is defined and option.type == 'null') %}
          {%- set options.items = options.items + [dive_type(option, defs, depth + 1)] %}
        {%- endif %}
      {%- endfor %}
      {{- options.items | join('|') if options.items else 'null' }}
    {%- elif s.type is defined and s.type is not string %}{{- s.type | reject('equalto', 'null') | join('|') }}
    {%- elif s.type is defined and s.type == 'array' %}
      {%- set item = dive_type(s['items'], defs, depth + 1) if s['items'] is defined else 'any' %}
      {{- ('(' + item + ')' if '|' in item and not item.startswith('{') else item) + '[]' }}
    {%- elif s.properties is defined and s.properties and depth < 4 %}
      {{- '{' + dive_fields(s, defs, depth + 1) + '}' }}
    {%- elif s.type is defined %}{{- s.type }}
    {%- else %}any
    {%- endif %}
  {%- endmacro %}
  {%- macro dive_fields(s, defs, depth) %}
    {%- set fields = namespace(items=[]) %}
    {%- set required = s.required if s.required is defined and s.required else [] %}
    {%- for key, value in s.properties | items %}
      {%- set fields.items = fields.items + [key + ('' if key in required else '?') + ': ' + dive_type(value, defs, depth)] %}
    {%- endfor %}
    {{- fields.items | join(', ') }}
  {%- endmacro %}
  {%- for tool in tools %}
    {%- set f = tool.function if tool.function is defined else tool %}
    {%- set p = f.parameters if f.parameters is defined and f.parameters is mapping else {} %}
    {%- set defs = p['$defs'] if p['$defs'] is defined else {} %}
    {%- set words = namespace(text='', done=false) %}
    {%- for piece in ((f.description if f.description is defined and f.description else '') | replace('\\n', ' ')).split('. ') %}
      {%- if not words.done %}
        {%- set words.text = words.text + ('. ' if words.text else '') + piece %}
        {%- set words.done = not (piece.endswith('e.g') or piece.endswith('i.e') or piece.endswith('etc')) %}
      {%- endif %}
    {%- endfor %}
    {%- set purpose = words.text | trim %}
    {%- if purpose and not purpose.endswith('.') %}{%- set purpose = purpose + '.' %}{%- endif %}
    {%- set line = f.name + '(' + (dive_fields(p, defs, 0) if p.properties is defined else '') + ')' %}
    {%- set dive.tools = dive.tools + [line + (' - ' + purpose if purpose else '')] %}
  {%- endfor %}"""

_LAYER = """
{%- set dive = namespace(plain=[], tools=[]) %}
{%- if tools is defined and tools is not none %}
@TOOLS@
  {%- set dive.plain = [{'role': 'system', 'content': @HEAD@ + dive.tools | join('\\n') + @TAIL@}] %}
{%- endif %}
{%- for message in messages %}
  {%- set content = (message.content if message.content is defined and message.content else '') | string %}
  {%- if message.role == 'tool' %}
    {%- set block = @RESPONSE_OPEN@ + '\\n' + content + '\\n' + @RESPONSE_CLOSE@ %}
    {%- if dive.plain and dive.plain[-1].role == 'user' and dive.plain[-1].content.startswith(@RESPONSE_OPEN@) %}
      {%- set dive.plain = dive.plain[:-1] + [{'role': 'user', 'content': dive.plain[-1].content + '\\n' + block}] %}
    {%- else %}
      {%- set dive.plain = dive.plain + [{'role': 'user', 'content': block}] %}
    {%- endif %}
  {%- elif message.role == 'assistant' %}
    {%- set parts = namespace(items=[content | trim] if content | trim else []) %}
    {%- for call in (message.tool_calls if message.tool_calls is defined and message.tool_calls else []) %}
      {%- set f = call.function if call.function is defined else call %}
      {%- set arguments = f.arguments if f.arguments is defined else {} %}
      {%- if arguments is string %}
        {%- set body = '{"name": ' + f.name | tojson + ', "arguments": ' + (arguments if arguments else '{}') + '}' %}
      {%- else %}
        {%- set body = {'name': f.name, 'arguments': arguments} | tojson %}
      {%- endif %}
      {%- set parts.items = parts.items + [@CALL_OPEN@ + '\\n' + body + '\\n' + @CALL_CLOSE@] %}
    {%- endfor %}
    {%- set dive.plain = dive.plain + [{'role': 'assistant', 'content': parts.items | join('\\n')}] %}
  {%- elif message.role == 'system' and dive.plain and dive.plain[0].role == 'system' %}
    {%- set dive.plain = [{'role': 'system', 'content': content + '\\n\\n' + dive.plain[0].content}] + dive.plain[1:] %}
  {%- else %}
    {%- set dive.plain = dive.plain + [{'role': message.role, 'content': content}] %}
  {%- endif %}
{%- endfor %}
{%- set messages = dive.plain %}
{%- set tools = none %}
"""


def dive_chat_template(base: str, tools_format: ToolFormat = "full") -> str:
    """A chat template that renders tools, tool calls and tool results in DIVE's format, then hands the plain
    messages to `base` (the model's own template; a template made here is unwrapped first).

    `tools_format`: `full` offers each tool's JSON schema (exactly DIVE-v0's system message); `compact` one line
    a tool. String (JSON text) arguments are inserted as written; object arguments are written as JSON.
    """
    if tools_format not in TOOL_FORMATS:
        raise ValueError(f"unknown tool format {tools_format!r}: use one of {', '.join(TOOL_FORMATS)}")
    base = base_template(base)
    head, tail = _instructions(SYSTEM_INSTRUCTIONS if tools_format == "full" else COMPACT_INSTRUCTIONS)
    layer = (_LAYER.replace("@TOOLS@", _FULL_TOOLS if tools_format == "full" else _COMPACT_TOOLS)
             .replace("@HEAD@", _literal(head)).replace("@TAIL@", _literal(tail))
             .replace("@RESPONSE_OPEN@", _literal(TOOL_RESPONSE_OPEN))
             .replace("@RESPONSE_CLOSE@", _literal(TOOL_RESPONSE_CLOSE))
             .replace("@CALL_OPEN@", _literal(TOOL_CALL_OPEN)).replace("@CALL_CLOSE@", _literal(TOOL_CALL_CLOSE)))
    return _MARKER % tools_format + layer.strip("\n") + "\n" + _BASE_START + base


def template_tools_format(template: str | None) -> ToolFormat | None:
    """The tool format of a template made by `dive_chat_template`, None for any other."""
    match = _MARKER_RE.match(template or "")
    return match.group(1) if match else None  # type: ignore[return-value]


def base_template(template: str) -> str:
    """The model's own template inside one made by `dive_chat_template` (any other is returned unchanged)."""
    if template_tools_format(template) is None:
        return template
    return template.split(_BASE_START, 1)[1]


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


def install_dive_template(tokenizer: Any, tools_format: ToolFormat | None = None) -> ToolFormat:
    """Make the tokenizer's chat template DIVE's tool layer over its own (ChatML where it has none), in
    `tools_format` (default: the one it already has, else `full`); returns the format. A checkpoint saved with
    this tokenizer carries the template, so serving it renders tools, calls and results as in training."""
    ensure_chat_template(tokenizer)
    current = template_tools_format(tokenizer.chat_template)
    chosen = tools_format or current or "full"
    if current != chosen:
        tokenizer.chat_template = dive_chat_template(tokenizer.chat_template, chosen)
    return chosen


def parse_tools(tools: str | Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Tool schemas as given in sft.jsonl (a list; JSON text in rows written before the format changed) or
    already parsed; None stays None."""
    if tools is None:
        return None
    if isinstance(tools, str):
        tools = json.loads(tools) if tools.strip() else []
    if not isinstance(tools, list):
        raise TypeError(f"tools must be a list of OpenAI function schemas, got {type(tools).__name__}")
    return [dict(t) for t in tools]


def plain_conversation(messages: Sequence[Mapping[str, Any]], tools: str | Sequence[Mapping[str, Any]] | None = None
                       ) -> list[dict[str, str]]:
    """OpenAI-form messages (tool calls, tool results) as plain role/content messages in DIVE-v0's format
    (tools as full JSON schemas), computed in Python by `dive.env.chat_format`.

    Pass `tools` when the messages do not already start with DIVE's system prompt (sft.jsonl rows); leave it out
    for DIVE-v0's `info["messages"]`, which already carry it.
    """
    return to_plain_messages(messages, parse_tools(tools))


def render_prompt(tokenizer: Any, messages: Sequence[Mapping[str, Any]],
                  tools: str | Sequence[Mapping[str, Any]] | None = None) -> str:
    """The text a model continues to write its next turn (the generation prompt included)."""
    return _render(tokenizer, messages, tools, add_generation_prompt=True)


def render_conversation(tokenizer: Any, messages: Sequence[Mapping[str, Any]],
                        tools: str | Sequence[Mapping[str, Any]] | None = None) -> str:
    """A whole conversation as text, the way training sees it."""
    return _render(tokenizer, messages, tools, add_generation_prompt=False)


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
    text = _render(tokenizer, messages, tools, add_generation_prompt=False)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        if i == 0:
            raise ValueError("a conversation cannot open with an assistant turn: it needs a prompt before it")
        before = _render(tokenizer, messages[:i], tools, add_generation_prompt=True)
        through = _render(tokenizer, messages[: i + 1], tools, add_generation_prompt=False).rstrip()
        if not (through.startswith(before) and text.startswith(through)):
            raise ValueError("the tokenizer's chat template renders earlier turns differently once later turns "
                             "follow, so assistant turns cannot be located: use a prefix-preserving template")
        spans.append((len(before), len(through)))
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(start <= begin < end for start, end in spans)) for begin, _ in encoding["offset_mapping"]]
    return TokenizedConversation(input_ids=list(encoding["input_ids"]), assistant_mask=mask, text=text)


def _render(tokenizer: Any, messages: Sequence[Mapping[str, Any]], tools: str | Sequence[Mapping[str, Any]] | None,
            *, add_generation_prompt: bool) -> str:
    """Through the tokenizer's DIVE template, or DIVE's layer (full schemas) over its own template."""
    if not tokenizer.chat_template:
        raise ValueError("the tokenizer has no chat template: call dive.train.chat.ensure_chat_template first")
    template = tokenizer.chat_template
    if template_tools_format(template) is None:
        template = dive_chat_template(template, "full")
    return tokenizer.apply_chat_template(list(messages), tools=parse_tools(tools), chat_template=template,
                                         tokenize=False, add_generation_prompt=add_generation_prompt)
