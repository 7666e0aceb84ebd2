"""Tool self-tests (the paper's Crawl-Validate step), run through a real MCP client."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from dive.env.config import dive_config
from dive.env.pool import ClientPool
from dive.world import World, ensure_world

from . import domains as all_domains
from .kit import Example, ToolSpec


class SelfTestResult(BaseModel):
    """The outcome of one self-test example of one tool."""

    domain: str
    tool: str
    example: int
    ok: bool
    latency_ms: float
    detail: str = ""


def _check(example: Example, result: dict | None, world: World) -> tuple[bool, str]:
    if result is None:
        return False, "no structured result"
    try:
        takes_world = len(inspect.signature(example.check).parameters) > 1
        ok = example.check(result, world) if takes_world else example.check(result)
    except Exception as exc:  # a failing check is a failed self-test, reported, not raised
        return False, f"check raised {type(exc).__name__}: {exc}"
    return bool(ok), "" if ok else f"check failed on {str(result)[:300]}"


async def run_self_tests(
    domain_names: Iterable[str] | None = None,
    *,
    world: Path | None = None,
    transport: Literal["stdio", "inprocess"] = "stdio",
) -> list[SelfTestResult]:
    """Call every example of every tool of the given domains over MCP and check each result.

    Each example runs in a fresh server-side session, so examples that write cannot disturb others.
    """
    known = all_domains()
    names = list(domain_names or known)
    loaded = ensure_world(world)
    servers = {} if transport == "stdio" else {n: known[n].create_server(loaded) for n in names}
    pool = (ClientPool(dive_config(names, world=loaded.root)) if transport == "stdio"
            else ClientPool(servers={n: s.mcp for n, s in servers.items()}))
    results: list[SelfTestResult] = []
    try:
        await _run(pool, names, known, loaded, results)
    finally:
        for server in servers.values():
            server.close()  # in-process servers own sessions, temp folders and browsers
    return results


async def _run(pool: ClientPool, names: list[str], known: dict, loaded: World, results: list[SelfTestResult]) -> None:
    async with pool:
        for name in names:
            spec: ToolSpec
            for spec in known[name].tools.values():
                for i, example in enumerate(spec.examples):
                    pool.new_session()
                    record = await pool.call(spec.name, example.arguments, server=name)
                    if record.is_error:
                        ok, detail = False, record.error or "error"
                    else:
                        ok, detail = _check(example, record.result, loaded)
                    results.append(SelfTestResult(domain=name, tool=spec.name, example=i, ok=ok,
                                                  latency_ms=record.latency_ms, detail=detail))
