"""What DIVE-v0 keeps of results that hold more than text (images, audio, embedded resources, resource links):
a marker line each in what the model reads, the items in full in `info["messages"]`, their sizes and hashes in
the trace. Against a real third-party MCP server (tests/env/media_server.py), over stdio and in-process."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from dive.env import ClientPool, ToolCallRecord
from dive.env.chat_format import render_tool_call, render_tool_response, to_plain_messages
from dive.env.dive_env import AsyncDiveEnv
from dive.env.trace import Trace
from dive.synth.records import DiversityKeys, Matcher, SeedEntity, Task, Verification

from tests.env.media_server import CSV, PNG, WAV, XLSX, b64, server

MEDIA = str(Path(__file__).with_name("media_server.py"))
MEDIA_CONFIG = {"mcpServers": {"media": {"command": sys.executable, "args": [MEDIA, "stdio"]}}}
TOOLS = ["sales_report", "recording", "log_file", "thumbnail", "greeting"]
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: What the model reads after calling sales_report: every item, in the server's order.
SALES_REPORT_TEXT = (
    "Sales by month:\n"
    "[image: image/png, 1,234 bytes]\n"
    "The data:\n"
    "[resource: file:///reports/sales.csv, text/csv, 26 chars]\n"
    "month,sales\njan,10\nfeb,12\n\n"
    f"[resource: file:///reports/sales.xlsx, {XLSX_MIME}, 64 bytes]\n"
    "[resource link: file:///reports/full.pdf, full.pdf, application/pdf]\n"
    "End of report."
)
#: The same result as the tool message's content parts: the same texts, each medium after its marker in full.
SALES_REPORT_PARTS = [
    {"type": "text", "text": "Sales by month:"},
    {"type": "text", "text": "[image: image/png, 1,234 bytes]"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64(PNG)}},
    {"type": "text", "text": "The data:"},
    {"type": "text", "text": "[resource: file:///reports/sales.csv, text/csv, 26 chars]\n" + CSV},
    {"type": "text", "text": f"[resource: file:///reports/sales.xlsx, {XLSX_MIME}, 64 bytes]"},
    {"type": "file", "file": {"file_data": f"data:{XLSX_MIME};base64," + b64(XLSX), "filename": "sales.xlsx"}},
    {"type": "text", "text": "[resource link: file:///reports/full.pdf, full.pdf, application/pdf]"},
    {"type": "text", "text": "End of report."},
]


def media_task() -> Task:
    return Task(
        id="media", question="What were February's sales?", answer="12", answer_type="text",
        matcher=Matcher(kind="text"), toolset=TOOLS, domains=["media"], seed=SeedEntity(id="s", type="test", name="t"),
        evidence=Trace(session="scaffold"), solution=[], derivation=[], verification=Verification(accepted=True),
        diversity=DiversityKeys(tools=TOOLS, toolset_key="", call_sequence=[], call_graph="", topology="",
                                domains=["media"], answer_type="text", hops=0),
    )


@pytest.fixture(params=["stdio", "inprocess"])
def media_env(request):
    servers = MEDIA_CONFIG if request.param == "stdio" else {"media": server}
    env = gym.make("DIVE-v0", tasks=[media_task()], servers=servers, max_result_chars=100)
    env.reset(seed=0)
    yield env
    env.close()


def test_the_model_reads_each_item_as_a_marker_in_order_and_messages_carry_them_in_full(media_env):
    observation, reward, terminated, _, info = media_env.step(render_tool_call("sales_report", {}))
    assert observation == render_tool_response(SALES_REPORT_TEXT)
    assert reward == 0.0 and not terminated
    message = info["messages"][-1]
    assert message["role"] == "tool" and message["name"] == "sales_report"
    assert message["content"] == SALES_REPORT_PARTS
    # A chat template without multimodal support renders exactly what the model read.
    assert to_plain_messages(info["messages"])[-1] == {"role": "user", "content": observation}


def test_audio_and_a_long_text_resource(media_env):
    observation, *_, info = media_env.step(render_tool_call("recording", {}))
    assert observation == render_tool_response("[audio: audio/wav, 800 bytes]")
    assert info["messages"][-1]["content"] == [
        {"type": "text", "text": "[audio: audio/wav, 800 bytes]"},
        {"type": "input_audio", "input_audio": {"data": b64(WAV), "format": "wav"}}]

    # The result's texts share max_result_chars (100): 8 for the note, 92 of the log's 500, the marker whole.
    observation, *_, info = media_env.step(render_tool_call("log_file", {"lines": 50}))
    log = "".join(f"line {n:04d}\n" for n in range(50))
    assert observation == render_tool_response(
        "The log:\n[resource: file:///var/app.log, text/plain, 500 chars]\n"
        + log[:92] + "\n[... truncated: 408 more characters]")
    assert to_plain_messages(info["messages"])[-1]["content"] == observation
    assert info["trace"].calls[-1].content[1].text == log  # the trace keeps it whole


def test_structured_results_read_as_before_with_media_markers_after(media_env):
    observation, *_, info = media_env.step(render_tool_call("greeting", {"name": "Ada"}))
    assert observation == render_tool_response('{"result": "Hello, Ada!"}')
    assert info["messages"][-1]["content"] == '{"result": "Hello, Ada!"}'  # text alone: a plain string, as before
    assert info["trace"].calls[-1].content == []

    observation, *_, info = media_env.step(render_tool_call("thumbnail", {}))
    assert observation == render_tool_response('{"width": 32, "height": 32}\n[image: image/png, 1,234 bytes]')
    assert info["messages"][-1]["content"][-1] == {"type": "image_url",
                                                   "image_url": {"url": "data:image/png;base64," + b64(PNG)}}


def test_the_trace_says_what_came_back_without_carrying_the_data():
    import anyio

    async def call() -> ToolCallRecord:
        async with ClientPool(MEDIA_CONFIG) as pool:
            return await pool.call("sales_report", {})

    record = anyio.run(call)
    assert record.text == "Sales by month:\nThe data:\nEnd of report." and not record.is_error
    assert [item.type for item in record.content] == [
        "text", "image", "text", "resource", "resource", "resource_link", "text"]
    image, csv, xlsx, link = record.content[1], record.content[3], record.content[4], record.content[5]
    assert (image.mime_type, image.size, image.sha256) == ("image/png", 1234, hashlib.sha256(PNG).hexdigest())
    assert (csv.uri, csv.mime_type, csv.text) == ("file:///reports/sales.csv", "text/csv", CSV)
    assert (xlsx.uri, xlsx.size, xlsx.sha256) == ("file:///reports/sales.xlsx", 64, hashlib.sha256(XLSX).hexdigest())
    assert (link.uri, link.name, link.mime_type) == ("file:///reports/full.pdf", "full.pdf", "application/pdf")
    assert image.data == b64(PNG)  # in memory, for the chat message

    written = json.loads(record.model_dump_json())
    assert all("data" not in item for item in written["content"]) and b64(XLSX) not in record.model_dump_json()
    assert written["content"][1] == {"type": "image", "text": None, "mime_type": "image/png", "uri": None,
                                     "name": None, "description": None, "size": 1234,
                                     "sha256": hashlib.sha256(PNG).hexdigest()}
    read = ToolCallRecord.model_validate_json(record.model_dump_json())
    assert read.content[1].data is None and read.content[1].size == 1234


def test_the_async_env_reads_the_same():
    import anyio

    async def play() -> tuple[str, list]:
        async with AsyncDiveEnv(tasks=[media_task()], servers={"media": server}, max_result_chars=100) as env:
            await env.reset(seed=0)
            observation, *_, info = await env.step(render_tool_call("sales_report", {}))
            return observation, info["messages"][-1]["content"]

    assert anyio.run(play) == (render_tool_response(SALES_REPORT_TEXT), SALES_REPORT_PARTS)
