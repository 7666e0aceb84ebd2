"""The model agents in real DIVE-v0 episodes: a tiny local transformers model (trained tokenizer, random
weights, nothing downloaded), and an OpenAI-compatible endpoint played by a scripted local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dive.env.chat_format import SYSTEM_INSTRUCTIONS, render_answer, render_tool_call
from dive.eval import HFAgent, OpenAIAgent, evaluate
from dive.synth import format_answer
from dive.synth.openai_backend import EndpointError

from tests.mcp_processes import free_port


@pytest.fixture(scope="module")
def tiny_model_dir(id_split, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer Llama (hidden 32) with a byte-level BPE tokenizer trained here."""
    from dive.train.testing import save_tiny_model, tiny_causal_lm, train_tokenizer

    texts = [SYSTEM_INSTRUCTIONS, *(t.question for t in id_split.tasks), *(json.dumps(t.answer) for t in id_split.tasks)]
    tokenizer = train_tokenizer(texts, vocab_size=400)
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model", tiny_causal_lm(tokenizer), tokenizer)


def test_hf_agent_plays_a_real_episode(tiny_model_dir: Path, id_split):
    agent = HFAgent(tiny_model_dir, max_new_tokens=12)
    agent.max_prompt_tokens = 300  # as if the context were short: prompts are cut to fit
    task = id_split.tasks[0]
    seen: list[str] = []

    def policy(observation: str, info: dict[str, Any]) -> str:
        prompt = agent.prompt(info)
        assert prompt.count("<tools>\n") == 1  # the task's tools are offered exactly once
        assert prompt.count(f'"name": "{task.toolset[0]}"') == 1
        assert prompt.endswith("<|im_start|>assistant\n") and task.question in prompt
        seen.append(agent(observation, info))
        return seen[-1]

    results = evaluate(policy, [task], id_split.env_kwargs(max_turns=2))
    episode = results.episodes[0]
    assert 1 <= episode.turns <= 2 and len(seen) == episode.turns
    assert all(isinstance(text, str) and "<|im_start|>" not in text for text in seen)
    assert episode.actions == seen  # the env parsed exactly what the model wrote
    assert episode.terminated or episode.truncated
    assert agent.clipped_prompts == episode.turns


class ScriptedEndpoint:
    """An OpenAI-compatible server whose model replays the task's solution: the first call as a native
    `tool_calls` reply, later calls as `<tool_call>` text, then the answer."""

    def __init__(self, task) -> None:
        self.task = task
        self.requests: list[tuple[str | None, dict[str, Any]]] = []

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        turn = sum(m["role"] == "assistant" for m in body["messages"])
        task = self.task
        if turn < len(task.solution):
            name, arguments = task.diversity.call_sequence[turn], task.evidence.calls[task.solution[turn]].arguments
            if turn == 0:
                message = {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]}
            else:
                message = {"role": "assistant", "content": "Next: " + render_tool_call(name, arguments)}
        else:
            message = {"role": "assistant", "content": render_answer(format_answer(task.answer))}
        return {"id": "x", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}


@pytest.fixture
def endpoint(id_split) -> Iterator[tuple[str, ScriptedEndpoint]]:
    script = ScriptedEndpoint(id_split.tasks[0])

    class Handler(BaseHTTPRequestHandler):
        def _send(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send({"object": "list", "data": [{"id": "scripted"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.requests.append((self.headers.get("Authorization"), body))
            self._send(script.reply(body))

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", script
    server.shutdown()
    server.server_close()


def test_openai_agent_solves_a_task(endpoint, id_split):
    base_url, script = endpoint
    task = script.task
    agent = OpenAIAgent(base_url, "scripted", api_key="sk-test")
    results = evaluate(agent, [task], id_split.env_kwargs(max_turns=6))
    episode = results.episodes[0]
    assert episode.success and episode.errors == {}
    assert episode.valid_tool_calls == len(task.solution) == episode.turns - 1
    assert len(script.requests) == episode.turns
    auth, first = script.requests[0]
    assert auth == "Bearer sk-test" and first["model"] == "scripted" and "tools" not in first
    assert first["messages"][0]["role"] == "system" and first["messages"][0]["content"].count("<tools>\n") == 1
    assert first["messages"][1] == {"role": "user", "content": task.question}
    # The native call came back to the model as DIVE's text format, with its result as a tool response.
    _, second = script.requests[1]
    assert "<tool_call>" in second["messages"][2]["content"] and second["messages"][3]["content"].startswith(
        "<tool_response>")


def test_openai_agent_refuses_an_unreachable_endpoint():
    with pytest.raises(EndpointError, match="cannot reach"):
        OpenAIAgent(f"http://127.0.0.1:{free_port()}/v1", "nothing")
