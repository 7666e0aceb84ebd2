"""A scripted OpenAI-compatible chat endpoint for tests: a real HTTP server on a loopback port.

`ScriptedModel` stands in for a model that knows the world's database: as an explorer it follows foreign
keys with `get_row` (the seed's row, then the row it references, ...), as a deriver it reads the trace it is
sent and asks for a field of the last row it reached, as a solver it makes the same look-ups afresh and
reads the answer off its own results, and as a judge it compares answers strictly. Its answers are a
function of the request (plus the questions it wrote, to solve them later), so runs are deterministic.

Faults are injected per request, in order, from `ScriptedModel.faults`: "500", "429", "400", "hang" (sleep
beyond the client's timeout), "not_json" (a 200 whose body is no chat completion). Behaviour switches:
`ungrounded` (ANSWER names a value no tool returned), `wrong_solver` (the solver answers wrongly),
`malformed_call` (the first explorer call has broken JSON arguments, the next names an unknown tool),
`text_tool_calls` (tool calls written as <tool_call> blocks instead of native ones).
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

SEED_TABLES = {  # seed type -> (table, the seed attribute or id part that is its primary key)
    "city": ("cities", "id"), "country": ("countries", "id"), "continent": ("continents", "id"),
    "airport": ("airports", "icao"), "company": ("companies", "id"), "element": ("elements", "number"),
    "product": ("products", "id"), "stock": ("companies", "company_id"),
}
REFERENCES = [("hq_city_id", "cities"), ("city_id", "cities"), ("country_code", "countries"), ("continent", "continents")]
ANSWER_FIELDS = {"cities": "population", "countries": "capital", "continents": "name", "airports": "elevation_ft",
                 "companies": "employees", "elements": "mass", "products": "unit_price"}
SINGULAR = {"cities": "city", "countries": "country", "continents": "continent", "airports": "airport",
            "companies": "company", "elements": "element", "products": "product"}
WRONG = "Atlantis"


class ScriptedModel:
    """Answers chat-completion requests from a script; see the module docstring."""

    def __init__(self) -> None:
        self.faults: deque[str] = deque()
        self.ungrounded = False
        self.wrong_solver = False
        self.malformed_call = False
        self.text_tool_calls = False
        self.requests: list[dict[str, Any]] = []
        self.queries: dict[str, dict[str, Any]] = {}
        """Every QUERY written -> its ANSWER and the calls that lead to it."""
        self.hang_seconds = 3.0
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._malformed_sent = 0

    # -- HTTP-level behaviour -----------------------------------------------------------------------

    def handle(self, request: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        """(status, headers, body) for one request; a body that is a str is sent as is."""
        with self._lock:
            self.requests.append(request)
            fault = self.faults.popleft() if self.faults else None
        if fault == "500":
            return 500, {}, {"error": {"message": "scripted internal error"}}
        if fault == "429":
            return 429, {"Retry-After": "0"}, {"error": {"message": "scripted rate limit"}}
        if fault == "400":
            return 400, {}, {"error": {"message": "scripted: this model does not support that"}}
        if fault == "not_json":
            return 200, {}, "<html>a proxy error page</html>"
        if fault == "hang":
            self.release.wait(self.hang_seconds)
        return 200, {}, self.complete(request)

    # -- the model ----------------------------------------------------------------------------------

    def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        messages = request["messages"]
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        if "YES or NO" in system:
            return _reply(self._judge(messages))
        if "QUERY:" in system:
            return _reply(self._derive(messages[-1]["content"]))
        offered = {t["function"]["name"] for t in request.get("tools") or []}
        if "<answer>" in system:
            return self._solve(messages, offered)
        return self._explore(messages, offered)

    def _call(self, name: str, arguments: dict[str, Any] | str, n: int) -> dict[str, Any]:
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        if self.text_tool_calls:
            return _reply(f'Let me look that up.\n<tool_call>{{"name": "{name}", "arguments": {raw}}}</tool_call>')
        return _reply("", [{"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": raw}}])

    def _explore(self, messages: list[dict[str, Any]], offered: set[str]) -> dict[str, Any]:
        last = messages[-1]
        if last["role"] == "tool" or "<tool_response>" in str(last.get("content")):
            return _reply("I found what this round can find.")
        if "get_row" not in offered:
            return _reply("I have no tool to look rows up with.")
        if self.malformed_call and self._malformed_sent < 2:
            self._malformed_sent += 1
            if self._malformed_sent == 1:
                return self._call("get_row", '{"table": "cities", "key": ', len(messages))
            return self._call("no_such_tool", {"x": 1}, len(messages))
        seed = _seed(messages)
        rows = [r for r in (_tool_result(m) for m in messages) if r and isinstance(r.get("row"), dict)]
        if not rows:
            table, key_attr = SEED_TABLES[seed["type"]]
            key = seed["id"].split(":", 1)[1] if key_attr == "id" else seed["attrs"][key_attr]
            return self._call("get_row", {"table": table, "key": key}, len(messages))
        row = rows[-1]["row"]
        for column, table in REFERENCES:
            if row.get(column) is not None:
                return self._call("get_row", {"table": table, "key": row[column]}, len(messages))
        return _reply("Nothing here references another row.")

    def _derive(self, prompt: str) -> str:
        seed = json.loads(re.search(r"Seed entity \(JSON\): (\{.*\})", prompt).group(1))
        chain: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        for line in prompt.splitlines():
            match = re.match(r"#(\d+) (\S+) (.*)$", line)
            if not match or match.group(2) != "get_row":
                continue
            arguments, end = json.JSONDecoder().raw_decode(match.group(3))
            result = json.loads(match.group(3)[end:].removeprefix(" -> "))
            chain.append(("get_row", arguments, result))
        if not chain:
            return "I cannot write a question from this."
        tables = [result["table"] for _, _, result in chain]
        field = ANSWER_FIELDS[tables[-1]]
        path = "".join(f"the {SINGULAR[t]} of " for t in reversed(tables[1:]))
        question = f"What is the {field.replace('_', ' ')} of {path}the {seed['type']} {seed['name']}?"
        answer = WRONG if self.ungrounded else chain[-1][2]["row"][field]
        self.queries[question] = {"answer": answer, "calls": [(t, a) for t, a, _ in chain], "field": field}
        return (f"QUERY: {question}\nANSWER: {answer}\n"
                f"REASONING: follow {' -> '.join(tables)} with get_row and read {field}.")

    def _solve(self, messages: list[dict[str, Any]], offered: set[str]) -> dict[str, Any]:
        question = messages[1]["content"]
        plan = self.queries.get(question)
        if plan is None:
            return _reply("<answer>I do not know</answer>")
        results = [r for r in (_tool_result(m) for m in messages[2:]) if r is not None]
        if len(results) < len(plan["calls"]):
            tool, arguments = plan["calls"][len(results)]
            return self._call(tool, arguments, len(messages))
        if self.wrong_solver:
            return _reply(f"<answer>{WRONG}</answer>")
        return _reply(f"The look-ups agree.\n<answer>{results[-1]['row'][plan['field']]}</answer>")

    @staticmethod
    def _judge(messages: list[dict[str, Any]]) -> str:
        text = messages[-1]["content"]
        reference = re.search(r"Reference answer: (.*)", text).group(1).strip().casefold()
        proposed = re.search(r"Proposed answer: (.*)", text).group(1).strip().casefold()
        return "YES" if reference == proposed or reference in proposed.split(", ") else "NO"


def _reply(content: str, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": "scripted", "object": "chat.completion", "model": "scripted",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}]}


def _seed(messages: list[dict[str, Any]]) -> dict[str, Any]:
    for message in messages:
        found = re.search(r"Seed entity \(JSON\): (\{.*\})", str(message.get("content")))
        if found:
            return json.loads(found.group(1))
    raise ValueError("no seed entity in the conversation")


def _tool_result(message: dict[str, Any]) -> dict[str, Any] | None:
    content = str(message.get("content") or "")
    if message["role"] == "user" and "<tool_response>" in content:
        content = content.split("<tool_response>", 1)[1].split("</tool_response>", 1)[0]
    elif message["role"] != "tool":
        return None
    try:
        parsed = json.loads(content)
    except json.JSONDecodeError:
        return {"error": content}
    return parsed if isinstance(parsed, dict) else None


class _Handler(BaseHTTPRequestHandler):
    model: ScriptedModel

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, {}, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})
        else:
            self._send(404, {}, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {}, {"error": {"message": "not found"}})
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        status, headers, payload = self.server.model.handle(body)  # type: ignore[attr-defined]
        self._send(status, headers, payload)

    def _send(self, status: int, headers: dict[str, str], payload: Any) -> None:
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a hang past its timeout)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ScriptedServer:
    """`with ScriptedServer() as server:` serves `server.model` at `server.base_url` (…/v1) on loopback."""

    def __init__(self, model: ScriptedModel | None = None) -> None:
        self.model = model or ScriptedModel()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.model = self.model  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="scripted-openai", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.model.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
