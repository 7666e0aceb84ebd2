"""An MCP server written with the SDK alone whose tools return images, audio and resources beside text, as
third-party servers do: what DIVE-v0 shows of them is tested against it.

Run: python media_server.py stdio (or import `server` and hand it to the pool in-process).
"""

import base64
import sys

from mcp.server.mcpserver import MCPServer
from mcp.types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)

server = MCPServer("media", log_level="WARNING")
READ_ONLY = ToolAnnotations(read_only_hint=True)

#: Fixed bytes, so sizes and hashes are known to the tests.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4 + b"\x00" * 202  # 1,234 bytes
WAV = b"RIFF" + b"\x01" * 796  # 800 bytes
XLSX = b"PK\x03\x04" + b"\x02" * 60  # 64 bytes
CSV = "month,sales\njan,10\nfeb,12\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@server.tool(annotations=READ_ONLY)
def sales_report() -> CallToolResult:
    """The sales report: a chart, its data as CSV and as a spreadsheet, and a link to the full report."""
    return CallToolResult(content=[
        TextContent(text="Sales by month:"),
        ImageContent(data=b64(PNG), mime_type="image/png"),
        TextContent(text="The data:"),
        EmbeddedResource(resource=TextResourceContents(uri="file:///reports/sales.csv", mime_type="text/csv",
                                                       text=CSV)),
        EmbeddedResource(resource=BlobResourceContents(
            uri="file:///reports/sales.xlsx", blob=b64(XLSX),
            mime_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
        ResourceLink(uri="file:///reports/full.pdf", name="full.pdf", mime_type="application/pdf"),
        TextContent(text="End of report."),
    ])


@server.tool(annotations=READ_ONLY)
def recording() -> CallToolResult:
    """The meeting's recording, and nothing else."""
    return CallToolResult(content=[AudioContent(data=b64(WAV), mime_type="audio/wav")])


@server.tool(annotations=READ_ONLY)
def log_file(lines: int) -> CallToolResult:
    """The log file, `lines` lines long, as an embedded resource after a note."""
    text = "".join(f"line {n:04d}\n" for n in range(lines))
    return CallToolResult(content=[
        TextContent(text="The log:"),
        EmbeddedResource(resource=TextResourceContents(uri="file:///var/app.log", mime_type="text/plain", text=text)),
    ])


@server.tool(annotations=READ_ONLY)
def thumbnail() -> CallToolResult:
    """A structured answer with an image beside it."""
    return CallToolResult(content=[TextContent(text='{"width": 32, "height": 32}'),
                                   ImageContent(data=b64(PNG), mime_type="image/png")],
                          structured_content={"width": 32, "height": 32})


@server.tool(annotations=READ_ONLY)
def greeting(name: str) -> str:
    """A plain text answer."""
    return f"Hello, {name}!"


if __name__ == "__main__":
    if sys.argv[1:] == ["stdio"]:
        server.run("stdio")
