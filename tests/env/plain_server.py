"""A plain MCP server written with the SDK alone (not our kit): the pool must work with anyone's servers.

Run: python plain_server.py stdio | python plain_server.py http PORT [TOKEN]
(with TOKEN, every HTTP request must carry `Authorization: Bearer TOKEN`, as a hosted server's API key would)
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
    elif len(sys.argv) > 3:
        import uvicorn
        from starlette.responses import PlainTextResponse

        app, token = server.streamable_http_app(), sys.argv[3]

        async def guarded(scope, receive, send):
            headers = dict(scope.get("headers") or [])
            if scope["type"] == "http" and headers.get(b"authorization") != f"Bearer {token}".encode():
                await PlainTextResponse("missing or wrong API key", status_code=401)(scope, receive, send)
                return
            await app(scope, receive, send)

        uvicorn.run(guarded, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    else:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
