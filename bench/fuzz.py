"""Fuzz every tool of every domain through the client pool, and the stdio wire with malformed messages.

Each call takes a tool's self-test arguments (or none) and swaps one or more of them for hostile values picked from
the tool's input schema: wrong types, huge and non-finite numbers, integers past 2^63, long, empty, binary-looking
and Unicode-edge text, path escapes, SQL and URL tricks, deeply nested and very long lists, unknown arguments. A
session is ended and a new one opened every few calls. Each answer is sorted into:

- ok / tool error: a result on its schema, or a tool error that says what is wrong (both are fine);
- crash: the server died (stdio) or the pool lost it;
- hang: no answer within the tool's own timeout plus a margin;
- unstructured: an error that shows an internal error, a traceback, a raw exception or a path of this machine.

Then, over stdio, malformed JSON-RPC lines (every truncation of a request, broken ids, batches, huge numbers,
lone surrogates, deep nesting) are sent to one server per domain; an "unanswered" request is one that got no
answer (the goal for crashes, hangs, unstructured errors and unanswered requests: 0 each).

    .venv/bin/python bench/fuzz.py [--calls 10000] [--seed 0] [--domain files ...] [--transport inprocess|stdio]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import select
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dive.env import ClientPool
from dive.env.config import dive_config
from dive.servers import domains, get_domain

from dive.world import World, ensure_world


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


STRINGS = [
    "", " ", "\n", "x" * 5000, "a/" * 300, "../../../../etc/passwd", "/etc/passwd", "..", ".", "~/.ssh/id_rsa",
    "C:\\Windows\\system.ini", "\\\\server\\share\\x", "a\x00b", "%2e%2e%2fetc%2fpasswd", "ü漢字🙂\u202e\ufeff",
    "\udcff-not-utf8", "'; DROP TABLE countries; --", "\" OR 1=1 --", "SELECT zeroblob(31000000)", "${HOME}",
    "$(id)", "`id`", "%s%n%x", "{}", "[1, 2]", "null", "NaN", "-1", "1e309", "0x7fffffffffffffff",
    "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd", "javascript:alert(1)", "data:text/html,x",
    "http://[::1", "http://127.0.0.1:1/", "gopher://x", "(a+)+$", "(?:(?:a*)*)*b" + "a" * 30, "*" * 200, "**/*",
    "[", "\\", "|", "<script>alert(1)</script>", "A" * 300 + ".txt", "name with spaces.txt", "-rf", "--help",
    "9999-99-99", "2024-02-30", "1970-01-01T00:00:00Z", "+99:99", "Europe/Nowhere", "XYZ", "ZZZZZZ",
]
INTEGERS = [0, -1, 1, 2, 7, 255, 10**6, 2**31, 2**31 - 1, -2**31, 2**53 + 1, 2**63 - 1, 2**63, -2**63 - 1, 2**64,
            10**30, -10**30]
NUMBERS = [0.0, -0.0, 0.5, -1.5, 1e308, -1e308, 1.7976931348623157e308, 5e-324, 1e-308, float("nan"), float("inf"),
           float("-inf"), 123456789.123456789]
OTHERS: list[Any] = [None, True, False, [], {}, [None], {"": None}, _nested(40),
                     list(range(2000)), ["x"] * 300, {"a": {"b": {"c": {"d": [1, {"e": "f"}]}}}}]
#: Texts of this machine that no error may show.
HOST_MARKERS = [tempfile.gettempdir() + "/", sys.prefix + "/", str(Path.home()) + "/", "/work/", "/usr/lib/python"]
RAW_EXCEPTION = re.compile(r"(?:^|: )(?:[A-Z]\w*(?:Error|Exception)|KeyError|StopIteration)(?:\(|: |$)")
# A program the caller sent failed on its own (a SyntaxError in it is the answer, not a leak).
PROGRAM_FAILED = "the code could not be run to the end: "
PREFIX = re.compile(r"^Error executing tool \w+: ")


@dataclass
class FuzzReport:
    """What a fuzz run found."""

    calls: int = 0
    ok: int = 0
    tool_errors: int = 0
    timeouts: int = 0
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    unstructured: list[str] = field(default_factory=list)
    raw_sent: int = 0
    unanswered: list[str] = field(default_factory=list)
    by_domain: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{self.calls} calls ({self.ok} ok, {self.tool_errors} tool errors, {self.timeouts} tool timeouts) "
                f"and {self.raw_sent} malformed messages in {self.seconds:.0f} s: {len(self.crashes)} crashes, "
                f"{len(self.hangs)} hangs, {len(self.unstructured)} unstructured errors, "
                f"{len(self.unanswered)} unanswered requests")


def hostile_value(schema: dict[str, Any], rng: random.Random) -> Any:
    """A value for a parameter with this JSON schema: mostly of a type it admits, sometimes of any type."""
    types = _types(schema)
    if rng.random() < 0.15 or not types:
        return rng.choice(STRINGS + INTEGERS + NUMBERS + OTHERS)
    kind = rng.choice(sorted(types))
    if kind == "string":
        enum = _enum(schema)
        return rng.choice(enum) if enum and rng.random() < 0.3 else rng.choice(STRINGS)
    if kind == "integer":
        return rng.choice(INTEGERS)
    if kind == "number":
        return rng.choice(NUMBERS + INTEGERS)
    if kind == "boolean":
        return rng.choice([True, False, "yes", 1, None])
    if kind == "array":
        items = _items(schema)
        n = rng.choice([0, 1, 2, 5, 300])
        return [hostile_value(items, rng) for _ in range(n)] if rng.random() < 0.7 else rng.choice(OTHERS)
    if kind == "object":
        props = _properties(schema)
        if props and rng.random() < 0.7:
            return {k: hostile_value(v, rng) for k, v in props.items() if rng.random() < 0.7}
        return rng.choice([{}, {"x": rng.choice(STRINGS)}, {"column": "name", "op": "=", "value": rng.choice(STRINGS)}])
    return None


def _walk(schema: dict[str, Any]) -> list[dict[str, Any]]:
    found = [schema]
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []) or []:
            if isinstance(sub, dict):
                found += _walk(sub)
    return found


def _types(schema: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for part in _walk(schema):
        t = part.get("type")
        if isinstance(t, str):
            out.add(t)
        elif isinstance(t, list):
            out.update(x for x in t if isinstance(x, str))
        if "enum" in part or "const" in part:
            out.add("string")
        if "properties" in part:
            out.add("object")
    out.discard("null")
    return out


def _enum(schema: dict[str, Any]) -> list[Any]:
    return [v for part in _walk(schema) for v in part.get("enum", []) + ([part["const"]] if "const" in part else [])]


def _items(schema: dict[str, Any]) -> dict[str, Any]:
    for part in _walk(schema):
        if isinstance(part.get("items"), dict):
            return part["items"]
    return {}


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    for part in _walk(schema):
        if isinstance(part.get("properties"), dict):
            return part["properties"]
    return {}


def _resolve(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> Any:
    """The schema with local `$ref`s replaced by what they name (a few levels deep)."""
    if depth > 6:
        return {}
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _resolve(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs, depth + 1)
        return {k: _resolve(v, defs, depth + 1) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_resolve(v, defs, depth + 1) for v in schema]
    return schema


def arguments_for(tool, rng: random.Random) -> dict[str, Any]:
    """Hostile arguments for one listed tool: its self-test arguments with some values swapped."""
    schema = tool.input_schema or {}
    props = _resolve(schema.get("properties", {}), schema.get("$defs", {}))
    examples = (tool.meta.get("dive/tool") or {}).get("examples") or [{}]
    args = dict(rng.choice(examples))
    names = list(props)
    for name in rng.sample(names, k=min(len(names), rng.choice([1, 1, 1, 2, 3]))) if names else []:
        args[name] = hostile_value(props[name], rng)
    roll = rng.random()
    if roll < 0.05:
        args["unexpected_argument"] = rng.choice(STRINGS)
    elif roll < 0.10 and args:
        args.pop(rng.choice(list(args)))
    return args


def classify(report: FuzzReport, domain: str, tool: str, args: dict[str, Any], rec: Any) -> None:
    """Sort one call's record into the report."""
    report.calls += 1
    report.by_domain[domain] += 1
    where = f"{domain}.{tool}({_short(args)})"
    if not rec.is_error:
        report.ok += 1
        return
    text = PREFIX.sub("", rec.error or "")
    if "did not answer within" in text:
        report.hangs.append(f"{where}: {text[:200]}")
    elif "is not available" in text or "died during the call" in text or "closed the connection" in text:
        report.crashes.append(f"{where}: {text[:200]}")
    elif ("internal error" in text or "the tool failed (" in text or "Traceback" in text
          or any(m in text for m in HOST_MARKERS)
          or RAW_EXCEPTION.search(text.split("\n", 1)[0]) and "validation error" not in text
          and not text.startswith(PROGRAM_FAILED)):
        report.unstructured.append(f"{where}: {text[:300]}")
    else:
        report.tool_errors += 1
        if "timed out after" in text:
            report.timeouts += 1


def _short(args: dict[str, Any]) -> str:
    text = json.dumps(args, default=str, ensure_ascii=True)
    return text if len(text) < 160 else text[:157] + "..."


async def fuzz_calls(world: World, calls: int, *, seed: int = 0, only: list[str] | None = None,
                     transport: str = "inprocess", per_session: int = 25, skip: set[str] | None = None,
                     report: FuzzReport | None = None) -> FuzzReport:
    """Make `calls` hostile tool calls spread evenly over the tools of every domain (or `only` those)."""
    report = report or FuzzReport()
    rng = random.Random(seed)
    names = only or list(domains())
    servers = {}
    if transport == "inprocess":
        servers = {d: get_domain(d).create_server(world) for d in names}
        pool = ClientPool(servers={d: s.mcp for d, s in servers.items()}, timeout=150)
    else:
        pool = ClientPool(dive_config(names, world=world.root), timeout=150)
    started = time.perf_counter()
    try:
        async with pool:
            tools = [t for t in pool.tools() if not skip or f"{t.server}.{t.name}" not in skip]
            session = pool.open_session()
            for i in range(calls):
                tool = tools[i % len(tools)] if i < len(tools) else rng.choice(tools)
                args = arguments_for(tool, rng)
                if i and i % per_session == 0:
                    pool.end_session(session.trace)
                    session = pool.open_session()
                rec = await session.call(tool.name, args, server=tool.server)
                classify(report, tool.server, tool.name, args, rec)
                if pool.is_dead(tool.server):
                    await pool.restart(tool.server)
    finally:
        for server in servers.values():
            server.close()
    report.seconds += time.perf_counter() - started
    return report


META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}}


def malformed_lines(rng: random.Random, n: int) -> list[tuple[str, bool]]:
    """(line, whether it must be answered): requests broken every way the wire can break them."""
    out: list[tuple[str, bool]] = []
    for i in range(n):
        rid = 1000 + i
        valid = json.dumps({"jsonrpc": "2.0", "id": rid, "method": "tools/list", "params": {"_meta": META}})
        kind = rng.randrange(9)
        if kind == 0:
            out.append((valid[:rng.randrange(1, len(valid) - 1)], True))
        elif kind == 1:
            out.append((valid.replace(f'"id": {rid}', rng.choice(['"id": null', '"id": {}', '"id": [1]', '"id": 1.5',
                                                                   '"id": true'])), True))
        elif kind == 2:
            out.append((f"[{valid}]", True))
        elif kind == 3:
            out.append((valid.replace('"jsonrpc": "2.0", ', ""), True))
        elif kind == 4:
            out.append((valid.replace('"_meta"', '"deep": ' + "[" * 400 + "]" * 400 + ', "_meta"'), True))
        elif kind == 5:
            out.append((valid.replace('"_meta"', '"big": ' + "7" * rng.choice([5000, 100_000]) + ', "_meta"'), True))
        elif kind == 6:
            out.append((valid.replace('"_meta"', '"text": "\\ud800", "_meta"'), True))
        elif kind == 7:
            out.append((rng.choice(["{", "}", "nul", "42", '"s"', "[]", "{}", "\x00", "\ufeff{}"]), True))
        else:
            out.append((json.dumps({"jsonrpc": "2.0", "method": "notifications/whatever"}), False))
    return out


def fuzz_wire(world: World, domain: str, lines: list[tuple[str, bool]], report: FuzzReport,
              patience: float = 60.0) -> None:
    """Send `lines` to a stdio server of `domain`; every line that must be answered and is not is recorded."""
    proc = subprocess.Popen([sys.executable, "-m", "dive", "serve", domain, "--world", str(world.root)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        expected = sum(1 for _line, answered in lines if answered)
        for line, _answered in lines:
            proc.stdin.write(line.encode("utf-8", "surrogatepass").replace(b"\n", b" ") + b"\n")
        proc.stdin.flush()
        report.raw_sent += len(lines)
        got, buffer = 0, b""
        deadline = time.monotonic() + patience
        while got < expected and time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    break
                buffer += chunk
                got += buffer.count(b"\n")
                buffer = buffer.rsplit(b"\n", 1)[-1]
        if proc.poll() is not None:
            report.crashes.append(f"{domain}: the stdio server exited on malformed input")
        if got < expected:
            report.unanswered += [f"{domain}: {expected - got} of {expected} malformed requests got no answer"]
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--domain", action="append", help="fuzz only these domains (default: all)")
    parser.add_argument("--transport", choices=["inprocess", "stdio"], default="inprocess")
    parser.add_argument("--raw", type=int, default=200, help="malformed stdio messages per domain")
    parser.add_argument("--world", type=Path, default=None)
    parser.add_argument("--show", type=int, default=20, help="findings to print per kind")
    opts = parser.parse_args()
    world = ensure_world(opts.world)
    report = anyio.run(lambda: fuzz_calls(world, opts.calls, seed=opts.seed, only=opts.domain, transport=opts.transport))
    rng = random.Random(opts.seed)
    started = time.perf_counter()
    for domain in opts.domain or list(domains()):
        if opts.raw:
            fuzz_wire(world, domain, malformed_lines(rng, opts.raw), report)
    report.seconds += time.perf_counter() - started
    print(report.summary())
    print("calls by domain: " + ", ".join(f"{d} {n}" for d, n in sorted(report.by_domain.items())))
    for kind in ("crashes", "hangs", "unstructured", "unanswered"):
        found = getattr(report, kind)
        print(f"{kind}: {len(found)}")
        for line in found[:opts.show]:
            print(f"  {line}")


if __name__ == "__main__":
    main()
