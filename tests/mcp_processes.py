"""Starting MCP servers for tests: free ports, waiting for a listener, pools on our domains."""

from __future__ import annotations

import socket
import subprocess
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")



@asynccontextmanager
async def open_pool(world, domains: list[str], transport: str = "stdio", *, options: dict | None = None,
                    **kwargs) -> AsyncIterator:
    """A ClientPool on our domains: 'stdio' (a server process each) or 'inprocess' (in-memory transport).

    `options`: server options (as `dive serve` flags give them); in-process only."""
    from dive.env import ClientPool, dive_config
    from dive.servers import get_domain

    servers = {}
    if transport == "stdio":
        pool = ClientPool(dive_config(domains, world=world.root), **kwargs)
    else:
        servers = {d: get_domain(d).create_server(world, options=options) for d in domains}
        pool = ClientPool(servers={d: s.mcp for d, s in servers.items()}, **kwargs)
    try:
        async with pool:
            yield pool
    finally:
        for server in servers.values():
            server.close()
