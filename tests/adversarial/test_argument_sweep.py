"""Every integer and number argument of every tool set to values past what 64 bits hold, and every text argument
to a file name too long for the file system, one argument at a time on top of the tool's own self-test arguments.
The fuzz draws such values at random; this sweep leaves no argument out. Each answer is a result on its schema or a
tool error that says what to change: no internal error, raw exception (an OverflowError, 'file name too long') or
path of this machine."""

from __future__ import annotations

import pytest
from dive.env import ClientPool
from dive.servers import domains, get_domain

from bench.fuzz import FuzzReport, _resolve, _types, classify

pytestmark = pytest.mark.anyio

HUGE = [2**64, -(2**63) - 1]
LONG_NAME = "A" * 300 + ".txt"


@pytest.mark.timeout(900)
async def test_out_of_range_numbers_and_overlong_names_get_structured_answers(world):
    report = FuzzReport()
    servers = {d: get_domain(d).create_server(world) for d in domains()}
    try:
        async with ClientPool(servers={d: s.mcp for d, s in servers.items()}, timeout=150) as pool:
            session = pool.open_session()
            for n, tool in enumerate(pool.tools()):
                schema = tool.input_schema or {}
                props = _resolve(schema.get("properties", {}), schema.get("$defs", {}))
                examples = (tool.meta.get("dive/tool") or {}).get("examples") or [{}]
                for name, prop in props.items():
                    kinds = _types(prop)
                    values = (HUGE if kinds & {"integer", "number"} else []) + ([LONG_NAME] if "string" in kinds else [])
                    for value in values:
                        args = {**examples[0], name: value}
                        rec = await session.call(tool.name, args, server=tool.server)
                        classify(report, tool.server, tool.name, args, rec)
                if n % 20 == 19:  # a fresh session now and then, as an agent's episodes would
                    pool.end_session(session.trace)
                    session = pool.open_session()
    finally:
        for server in servers.values():
            server.close()
    assert report.calls >= 1000 and set(report.by_domain) == set(domains()), report.summary()
    findings = {kind: getattr(report, kind)[:10] for kind in ("crashes", "hangs", "unstructured")}
    assert not any(findings.values()), f"{report.summary()}\n{findings}"
