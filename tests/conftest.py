"""Fixtures shared by the whole suite: one small deterministic world per test session, MCP pools, servers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.mcp_processes import free_port, open_pool, wait_for_port

__all__ = ["free_port", "open_pool", "wait_for_port"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory):
    """The default world (seed 0), built once per test session; subprocess servers find it via DIVE_WORLD."""
    from dive.world import build_world

    root = tmp_path_factory.mktemp("world") / "seed-0"
    built = build_world(root, seed=0)
    os.environ["DIVE_WORLD"] = str(built.root)
    return built


@pytest.fixture
def http_server(world) -> Iterator:
    """Start `dive serve DOMAIN --transport http` as a separate process; yields a starter returning its URL."""
    procs: list[subprocess.Popen] = []

    def start(domain: str, *extra: str) -> str:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "dive", "serve", domain, "--transport", "http", "--port", str(port),
             "--world", str(world.root), *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        procs.append(proc)
        wait_for_port(port, proc)
        return f"http://127.0.0.1:{port}/mcp"

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def pool_factory(world):
    """`async with pool_factory(["files"], "stdio") as pool:` — a pool on our servers over a real transport."""

    def make(domains: list[str], transport: str = "stdio", **kwargs):
        return open_pool(world, domains, transport, **kwargs)

    return make


@pytest.fixture(scope="session")
def synth_tasks(world, tmp_path_factory):
    """A small task set synthesized once per session from the files and database domains (a `dive synth` folder)."""
    from dive.synth import SynthOptions, synthesize

    out = tmp_path_factory.mktemp("synth") / "files-database"
    synthesize(SynthOptions(n=16, domains=["files", "database"], embedding_metrics=False), out)
    return out
