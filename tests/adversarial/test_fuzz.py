"""bench/fuzz.py inside the suite, smaller: 2,000 hostile tool calls spread over every tool of every domain, and
malformed JSON-RPC lines to a stdio server of each domain. Every call is answered with a result on its schema or a
tool error that says what is wrong: no crash, no hang, no internal error, traceback, raw exception or host path, and
no request left unanswered. `bench/fuzz.py` runs the same at 10,000 calls (and prints what it found)."""

from __future__ import annotations

import random

import pytest
from dive.servers import domains

from bench.fuzz import FuzzReport, fuzz_calls, fuzz_wire, malformed_lines

pytestmark = pytest.mark.anyio

CALLS = 2_000


@pytest.mark.timeout(900)
async def test_hostile_calls_to_every_tool_get_structured_answers(world):
    report = await fuzz_calls(world, CALLS, seed=19)
    assert report.calls == CALLS and set(report.by_domain) == set(domains()), report.by_domain
    assert report.ok > 0 and report.tool_errors > 0
    findings = {kind: getattr(report, kind)[:10] for kind in ("crashes", "hangs", "unstructured")}
    assert not any(findings.values()), f"{report.summary()}\n{findings}"


@pytest.mark.timeout(600)
def test_malformed_messages_to_every_domain_are_answered(world):
    report = FuzzReport()
    rng = random.Random(19)
    for domain in domains():
        fuzz_wire(world, domain, malformed_lines(rng, 40), report)
    assert report.raw_sent == 40 * len(list(domains()))
    assert report.crashes == [] and report.unanswered == [], report.summary()
