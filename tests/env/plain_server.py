"""A plain MCP server written with the SDK alone (not our kit): the pool must work with anyone's servers.

Run: python plain_server.py stdio | python plain_server.py http PORT
"""

import os
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import BaseModel

# The tools change nothing: they say so, as a well-behaved server does (a tool without annotations counts as
# writing, and the pool would refuse to call it without the user's opt-in).
READ_ONLY = ToolAnnotations(read_only_hint=True)

server = MCPServer("plain", log_level="WARNING")


class Echo(BaseModel):
    text: str


@server.tool(annotations=READ_ONLY)
def echo(text: str) -> Echo:
    """Return the text unchanged."""
    return Echo(text=text)


@server.tool(annotations=READ_ONLY)
def slow(seconds: float) -> Echo:
    """Sleep for the given number of seconds, then answer."""
    time.sleep(seconds)
    return Echo(text="done")


@server.tool(annotations=READ_ONLY)
def crash() -> Echo:
    """Exit the server process in the middle of the call."""
    time.sleep(0.2)
    os._exit(3)


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
