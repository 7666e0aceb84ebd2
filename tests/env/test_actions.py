"""Reading model turns: the tool-call and answer forms models emit, and every malformed class."""

from __future__ import annotations

import json

import pytest

from dive.env.actions import parse_action
from dive.env.chat_format import render_answer, render_tool_call, to_plain_messages


def test_hermes_tool_calls_one_or_several_per_turn():
    one = parse_action('I will look.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "a.txt"}}\n</tool_call>')
    assert one.kind == "tool_calls" and one.errors == []
    assert [(c.name, c.arguments) for c in one.calls] == [("read_file", {"path": "a.txt"})]
    two = parse_action(render_tool_call("a", {"x": 1}) + "\n" + render_tool_call("b", {}))
    assert [c.name for c in two.calls] == ["a", "b"]


@pytest.mark.parametrize("text", [
    '{"tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{\\"x\\": 1}"}}]}',
    '{"name": "f", "arguments": {"x": 1}}',
    '[{"name": "f", "parameters": {"x": 1}}]',
    'Calling it now:\n```json\n{"name": "f", "arguments": {"x": 1}}\n```',
])
def test_openai_style_json_calls(text):
    action = parse_action(text)
    assert action.kind == "tool_calls", action.errors
    assert [(c.name, c.arguments) for c in action.calls] == [("f", {"x": 1})]


@pytest.mark.parametrize(("text", "answer"), [
    ("<answer>Paris</answer>", "Paris"),
    ("Thinking done. <answer> 42 </answer>", "42"),
    ("Final answer: 1,234.5", "1,234.5"),
    ("**Answer:** Lisbon.", "Lisbon"),
    ("So the result is \\boxed{17}", "17"),
    ("I checked both tables. The answer is Tallinn.", "Tallinn"),
])
def test_final_answers_tagged_and_plain(text, answer):
    action = parse_action(text)
    assert action.kind == "answer" and action.answer == answer


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty"),
    ("   \n", "empty"),
    ("I am not sure what to do.", "no tool call and no answer"),
    ("<tool_call>{name: read_file}</tool_call>", "not valid JSON"),
    ('<tool_call>{"arguments": {}}</tool_call>', "no tool name"),
    ('<tool_call>{"name": "f", "arguments": [1, 2]}</tool_call>', "must be a JSON object"),
    ('<tool_call>{"name": "f", "arguments": "{broken"}</tool_call>', "arguments text is not valid JSON"),
    ('<tool_call>["f"]</tool_call>', "must be a JSON object"),
])
def test_malformed_turns_say_why(text, reason):
    action = parse_action(text)
    assert action.kind == "malformed"
    assert reason in " ".join(action.errors)


def test_non_text_and_unclosed_calls_never_raise():
    assert parse_action(None).kind == "malformed"  # type: ignore[arg-type]
    assert parse_action(12).kind == "malformed"  # type: ignore[arg-type]
    unclosed = parse_action('<tool_call>{"name": "f", "arguments": {}}')
    assert [c.name for c in unclosed.calls] == ["f"] and "no closing" in unclosed.errors[0]


def test_a_turn_with_one_good_and_one_bad_call_keeps_the_good_one():
    action = parse_action(render_tool_call("f", {"x": 1}) + "<tool_call>nope</tool_call>")
    assert action.kind == "tool_calls" and [c.name for c in action.calls] == ["f"]
    assert "tool call 2 is not valid JSON" in action.errors[0]


def test_rendered_training_conversations_parse_back():
    """What training renders (structured OpenAI-form messages -> plain text) is what the env parses."""
    messages = [
        {"role": "user", "content": "How many rows?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c0", "type": "function", "function": {"name": "count_rows", "arguments": json.dumps({"table": "t"})}}]},
        {"role": "tool", "tool_call_id": "c0", "name": "count_rows", "content": '{"count": 3}'},
        {"role": "assistant", "content": render_answer("3")},
    ]
    plain = to_plain_messages(messages, tools=[])
    assert [m["role"] for m in plain] == ["system", "user", "assistant", "user", "assistant"]
    call = parse_action(plain[2]["content"])
    assert [(c.name, c.arguments) for c in call.calls] == [("count_rows", {"table": "t"})]
    assert plain[3]["content"].startswith("<tool_response>")
    assert parse_action(plain[4]["content"]).answer == "3"
