"""Listing tools through MCP: of our own domains (in-process, no world needed) or of any configured servers."""

from __future__ import annotations

from pathlib import Path

from .config import MCPConfig
from .pool import ClientPool
from .trace import ListedTool


async def list_server_tools(servers: MCPConfig | Path | str | None = None, *, domain: str | None = None) -> list[ListedTool]:
    """Every tool the servers list, through a real MCP client.

    With no config, lists our own domains through the SDK's in-memory transport.
    """
    if servers is not None:
        pool = ClientPool(servers)
    else:
        from dive.servers import domains
        from dive.world import ensure_world

        names = [d for d in domains() if domain is None or d == domain]
        if not names:
            raise ValueError(f"unknown domain {domain!r}; known: {', '.join(domains())}")
        pool = ClientPool(servers={n: domains()[n].create_server(ensure_world).mcp for n in names})
    async with pool:
        tools = pool.tools()
    return [t for t in tools if domain is None or t.domain == domain]
