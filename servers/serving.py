"""Running a domain's MCP server over stdio or streamable HTTP (`dive serve`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import anyio

from dive.world import World, ensure_world

from . import get_domain
from .kit import DEFAULT_TOOL_TIMEOUT, DomainServer
from .kit.wire import serve_stdio


def open_server(
    domain: str,
    world: World | Path | None = None,
    *,
    tool_timeout: float = DEFAULT_TOOL_TIMEOUT,
    options: dict[str, Any] | None = None,
) -> DomainServer:
    """A ready server for `domain` on `world` (the default world, built on first use, when None)."""
    if not isinstance(world, World):
        world = ensure_world(world)
    return get_domain(domain).create_server(world, tool_timeout=tool_timeout, options=options)


def serve(
    domain: str,
    *,
    transport: Literal["stdio", "http"] = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
    world: Path | None = None,
    tool_timeout: float = DEFAULT_TOOL_TIMEOUT,
    options: dict[str, Any] | None = None,
) -> None:
    """Serve one domain until the client goes away (stdio) or the process is stopped (HTTP, at /mcp)."""
    server = open_server(domain, world, tool_timeout=tool_timeout, options=options)
    # stdout belongs to the protocol on stdio: logs go to stderr only, and quietly.
    logging.getLogger("mcp").setLevel(logging.WARNING)
    try:
        if transport == "stdio":
            anyio.run(serve_stdio, server.mcp)
        elif transport == "http":
            server.mcp.run("streamable-http", host=host, port=port)
        else:
            raise ValueError(f"unknown transport {transport!r}: use 'stdio' or 'http'")
    finally:
        server.close()
