"""BFCL's multi-turn classes as MCP servers (in-process and over stdio) and the state/response scorer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from jsonschema.validators import validator_for
from mcp import Client, StdioServerParameters

from dive.eval.bfcl import (
    BFCLDataError,
    FunctionCall,
    check_turn,
    create_class_server,
    ground_truth_calls,
    load_category,
    load_entry,
    parse_call_text,
    score_multi_turn,
    server_config,
    state_uri,
)

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "multi_turn_base_0"  # GorillaFileSystem + TwitterAPI; turn 0: cd, mkdir temp, mv final_report.pdf
WRONG_TURN_0 = [FunctionCall(name="cd", arguments={"folder": "document"}),
                FunctionCall(name="mkdir", arguments={"dir_name": "tmp"}),
                FunctionCall(name="mv", arguments={"source": "final_report.pdf", "destination": "tmp"})]


async def _replay(client: Client, calls: list[FunctionCall], session: str) -> None:
    for call in calls:
        result = await client.call_tool(call.name, call.arguments, meta={"dive/session": session})
        assert not result.is_error, result.content


async def _read_state(client: Client, session: str) -> tuple[dict, list[str]]:
    read = await client.read_resource(state_uri(session))
    payload = json.loads(read.contents[0].text)
    return {payload["class"]: payload["state"]}, payload["results"]


@pytest.mark.anyio
async def test_in_process_servers_replay_the_ground_truth_and_score_right_then_wrong():
    entry = load_entry(ENTRY)
    servers = {cls: create_class_server(entry, cls) for cls in entry.involved_classes}
    turn_0 = ground_truth_calls(entry)[0]
    async with Client(servers["GorillaFileSystem"].mcp) as files, Client(servers["TwitterAPI"].mcp) as twitter:
        listed = {t.name: t for t in (await files.list_tools()).tools}
        assert {"cd", "mkdir", "mv", "grep"} <= set(listed) and "cp" not in listed  # cp is excluded here
        for tool in listed.values():
            validator_for(tool.input_schema).check_schema(tool.input_schema)
        assert (await twitter.list_tools()).tools

        await _replay(files, turn_0, "right")
        states, results = await _read_state(files, "right")
        twitter_states, twitter_results = await _read_state(twitter, "right")
        verdict = check_turn(entry, 0, {**states, **twitter_states}, results + twitter_results)
        assert verdict.correct, verdict.detail
        live = servers["GorillaFileSystem"].session("right")  # the same state, read in-process
        assert check_turn(entry, 0, live.snapshot(), live.results).correct

        await _replay(files, WRONG_TURN_0, "wrong")
        states, results = await _read_state(files, "wrong")
        verdict = check_turn(entry, 0, states, results)
        assert not verdict.correct and verdict.error == "state_mismatch" and verdict.turn == 0
        assert "root" in verdict.differences["GorillaFileSystem"]

        untouched, _ = await _read_state(files, "never-called")  # sessions do not share instances
        assert check_turn(entry, 0, untouched, []).error == "state_mismatch"


@pytest.mark.anyio
async def test_bad_tool_calls_are_errors_the_model_can_read():
    entry = load_entry(ENTRY)
    server = create_class_server(entry, "GorillaFileSystem")
    async with Client(server.mcp) as client:
        unknown_arg = await client.call_tool("cd", {"folder": "document", "recursive": True})
        missing_arg = await client.call_tool("cd", {})
        no_such_dir = await client.call_tool("cd", {"folder": "nowhere"})
    assert unknown_arg.is_error and "recursive" in unknown_arg.content[0].text
    assert missing_arg.is_error and "folder" in missing_arg.content[0].text
    assert no_such_dir.is_error and "error" in no_such_dir.content[0].text.lower()
    assert server.session().results == [no_such_dir.content[0].text]  # only calls that ran are results


@pytest.mark.anyio
async def test_a_stdio_server_started_from_the_standard_config_scores_right_then_wrong():
    entry = load_entry(ENTRY)
    config = server_config(entry)  # this interpreter (.venv/bin/python under `make test`)
    spec = config["mcpServers"]["GorillaFileSystem"]
    assert spec["command"] == sys.executable and spec["args"][:2] == ["-m", "dive.eval.bfcl"]
    params = StdioServerParameters(command=spec["command"], args=spec["args"], cwd=str(ROOT))
    async with Client(params) as client:
        await _replay(client, ground_truth_calls(entry)[0], "right")
        states, results = await _read_state(client, "right")
        assert check_turn(entry, 0, states, results).correct
        await _replay(client, WRONG_TURN_0, "wrong")
        states, results = await _read_state(client, "wrong")
        assert check_turn(entry, 0, states, results).error == "state_mismatch"


def test_replaying_every_entrys_ground_truth_scores_correct():
    wrong = {e.id: v.detail for e in load_category("multi_turn_base")
             if not (v := score_multi_turn(e, ground_truth_calls(e))).correct}
    assert wrong == {}


def test_the_replay_scorer_finds_wrong_state_missing_results_and_empty_turns():
    entry = load_entry(ENTRY)
    truth = ground_truth_calls(entry)
    assert score_multi_turn(entry, truth[:1], turns=1).correct
    assert score_multi_turn(entry, [WRONG_TURN_0], turns=1).error == "state_mismatch"

    # Turn 1 is cd temp + grep: leaving out the grep keeps the state right but loses its result.
    assert [c.name for c in truth[1]] == ["cd", "grep"]
    verdict = score_multi_turn(entry, [truth[0], truth[1][:1]], turns=2)
    assert verdict.error == "response_mismatch" and verdict.turn == 1 and len(verdict.missing_results) == 1

    verdict = score_multi_turn(entry, [truth[0]])  # stopped after turn 0
    assert verdict.error == "empty_turn" and verdict.turn == 1
    as_dicts = [[c.model_dump() for c in turn] for turn in truth]
    assert score_multi_turn(entry, as_dicts).correct


def test_call_text_is_parsed_never_evaluated():
    assert parse_call_text("mv(source='a.pdf', destination='temp')") == (
        "mv", [], {"source": "a.pdf", "destination": "temp"})
    assert parse_call_text("sort('final_report.pdf')") == ("sort", ["final_report.pdf"], {})
    with pytest.raises(ValueError, match="not literals"):
        parse_call_text("cd(folder=__import__('os').getcwd())")
    with pytest.raises(ValueError, match="not a function call"):
        parse_call_text("import os")
    entry = load_entry(ENTRY)
    sort_call = ground_truth_calls(entry)[2][0]  # "sort('final_report.pdf')": the positional argument is named
    assert sort_call == FunctionCall(name="sort", arguments={"file_name": "final_report.pdf"})


def test_a_class_not_involved_in_the_entry_is_refused():
    with pytest.raises(BFCLDataError, match="not involved"):
        create_class_server(load_entry(ENTRY), "MathAPI")
