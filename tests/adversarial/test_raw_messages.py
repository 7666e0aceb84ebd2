"""Malformed JSON-RPC on stdio: every request gets an answer, whatever its shape (issue: the SDK dropped bad JSON,
deep nesting, huge numbers, lone surrogates, batches, a missing "jsonrpc" and null or object ids, and the caller
waited for its own timeout). Notifications and responses get none, as JSON-RPC says."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

from dive.servers.kit.wire import INVALID_REQUEST, PARSE_ERROR, screen_line

META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "adversary", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}}


def request(rid, method="tools/call", **params) -> dict:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": {**params, "_meta": META}}


def call(rid, arguments_json: str) -> str:
    head = json.dumps(request(rid, name="list_directory", arguments={}))
    return head.replace('"arguments": {}', f'"arguments": {arguments_json}')


def raw_cases() -> list[tuple[str, object]]:
    """(line, the id its answer must carry: an int, or None for an answer with a null id, or "none" for no answer)."""
    cases: list[tuple[str, object]] = [
        ("{not json", None), ("{}", None), ('"hello"', None), ("42", None), ("null", None), ("[]", None),
        (json.dumps([request(1, "tools/list")]), None),
        (json.dumps({"id": 2, "method": "tools/list", "params": {"_meta": META}}), 2),
        (json.dumps({**request(3, "tools/list"), "jsonrpc": "1.0"}), 3),
        (json.dumps({**request(0, "tools/list"), "id": None}), None),
        (json.dumps({**request(0, "tools/list"), "id": {"a": 1}}), None),
        (json.dumps({**request(0, "tools/list"), "id": [1]}), None),
        (json.dumps({**request(0, "tools/list"), "id": 1.5}), None),
        (json.dumps({**request(0, "tools/list"), "id": True}), None),
        (json.dumps({"jsonrpc": "2.0", "id": 4, "method": 5}), 4),
        (json.dumps({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": [1, 2]}), 5),
        (call(6, "[" * 300 + "]" * 300), 6),
        (call(7, "{\"path\": " + "[" * 5000 + "]" * 5000 + "}"), 7),
        (call(8, '{"path": "x", "max_entries": ' + "9" * 100_000 + "}"), 8),
        ('{"jsonrpc":"2.0","id":' + "9" * 100_000 + ',"method":"tools/list"}', None),
        (call(9, '{"path": "\\ud800"}'), 9),
        (call(10, '{"path": "a\\udfff"}'), 10),
        (call(11, '{"path": NaN}'), 11),
        (json.dumps(request(12, "no/such-method")), 12),
        (call(13, "[1]"), 13),
        (json.dumps(request(14, name="list_directory", arguments={"path": "a" * 100_000})), 14),
        (json.dumps({"jsonrpc": "2.0", "id": 15, "result": {}}), "none"),
        (json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}), "none"),
    ]
    valid = json.dumps(request(100, name="list_directory", arguments={"path": "."}))
    for cut in range(1, len(valid) - 1, 7):  # every truncation of a valid request is answered
        cases.append((valid[:cut], 100 if valid[:cut].find('"id": 100,') >= 0 else None))
    return cases


def test_every_malformed_line_is_answered_by_the_screen():
    answered = 0
    for line, want in raw_cases():
        answer = screen_line(line)
        if answer is None:  # the SDK answers it itself, or nothing must
            continue
        answered += 1
        assert answer.error.code in (PARSE_ERROR, INVALID_REQUEST)
        assert want != "none", f"{line[:80]!r} must not be answered"
        assert answer.id == want, f"{line[:80]!r}: answered with id {answer.id!r}, expected {want!r}"
    assert answered >= 40


def test_a_stdio_server_answers_every_request(world):
    cases = raw_cases()
    proc = subprocess.Popen([sys.executable, "-m", "dive", "serve", "files", "--world", str(world.root)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        expected_ids: dict[object, int] = {}
        expected_null = 0
        for line, want in cases:
            proc.stdin.write(line.encode("utf-8", "surrogatepass") + b"\n")
            if want is None:
                expected_null += 1
            elif want != "none":
                expected_ids[want] = expected_ids.get(want, 0) + 1
        sentinel = json.dumps(request(999, "tools/list"))
        proc.stdin.write(sentinel.encode() + b"\n")
        proc.stdin.flush()
        expected_ids[999] = 1
        got_ids: dict[object, int] = {}
        got_null = 0
        buffer = b""
        deadline = time.monotonic() + 120  # a guard against hanging, not a measure
        while (got_ids != expected_ids or got_null < expected_null) and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 1 << 20)
            assert chunk, "the server closed its output"
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                message = json.loads(line)
                if message.get("id") is None:
                    got_null += 1
                else:
                    got_ids[message["id"]] = got_ids.get(message["id"], 0) + 1
        missing = {k: v - got_ids.get(k, 0) for k, v in expected_ids.items() if got_ids.get(k, 0) < v}
        assert not missing, f"requests left unanswered: {missing}"
        assert got_null == expected_null, f"{expected_null - got_null} malformed messages left unanswered"
        assert 15 not in got_ids, "a response from the client was answered"
        assert proc.poll() is None, "the server stayed up"
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
