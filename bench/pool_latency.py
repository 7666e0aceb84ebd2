"""Round-trip latency of a cheap tool call: the client pool vs the raw `mcp` SDK `Client.call_tool`.

Both call the same tool of the same server in the same run, over stdio, streamable HTTP and the
in-memory transport; the figure to read is the ratio pool/raw (the pool's own overhead).

    .venv/bin/python bench/pool_latency.py [--domain files] [--tool NAME] [--calls 200]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dive.env import ClientPool, dive_server_config  # noqa: E402
from dive.env.pool import SESSION_META_KEY  # noqa: E402
from dive.servers import get_domain  # noqa: E402
from dive.world import ensure_world  # noqa: E402
from tests.mcp_processes import free_port, wait_for_port  # noqa: E402


def cheapest_example(domain: str, tool: str | None) -> tuple[str, dict]:
    specs = get_domain(domain).tools
    spec = specs[tool] if tool else next(s for s in specs.values() if s.kind == "retrieval" and not s.writes)
    return spec.name, spec.examples[0].arguments


async def time_raw(target, tool: str, args: dict, calls: int) -> list[float]:
    async with Client(target) as client:
        await client.call_tool(tool, args, meta={SESSION_META_KEY: "bench"})  # warm-up
        samples = []
        for _ in range(calls):
            start = time.perf_counter()
            result = await client.call_tool(tool, args, meta={SESSION_META_KEY: "bench"})
            samples.append((time.perf_counter() - start) * 1000)
            assert not result.is_error, result
    return samples


async def time_pool(pool_kwargs: dict, tool: str, args: dict, calls: int) -> list[float]:
    async with ClientPool(**pool_kwargs) as pool:
        await pool.call(tool, args)  # warm-up
        samples = []
        for _ in range(calls):
            start = time.perf_counter()
            record = await pool.call(tool, args)
            samples.append((time.perf_counter() - start) * 1000)
            assert not record.is_error, record.error
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="files")
    parser.add_argument("--tool", default=None)
    parser.add_argument("--calls", type=int, default=200)
    opts = parser.parse_args()

    world = ensure_world()
    tool, args = cheapest_example(opts.domain, opts.tool)
    stdio = dive_server_config(opts.domain, world=world.root)
    params = StdioServerParameters(command=stdio.command, args=stdio.args, env=stdio.env)

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dive", "serve", opts.domain, "--transport", "http",
                             "--port", str(port), "--world", str(world.root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        url = f"http://127.0.0.1:{port}/mcp"
        server = get_domain(opts.domain).create_server(world)
        rows = [
            ("in-memory", await time_raw(server.mcp, tool, args, opts.calls),
             await time_pool({"servers": {opts.domain: server.mcp}}, tool, args, opts.calls)),
            ("stdio", await time_raw(params, tool, args, opts.calls),
             await time_pool({"config": {"mcpServers": {opts.domain: stdio.model_dump(exclude_none=True)}}},
                             tool, args, opts.calls)),
            ("http", await time_raw(url, tool, args, opts.calls),
             await time_pool({"config": {"mcpServers": {opts.domain: {"url": url}}}}, tool, args, opts.calls)),
        ]
        server.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    print(f"tool: {opts.domain}.{tool} {args}  calls per cell: {opts.calls}")
    print(f"{'transport':<10} {'raw SDK median ms':>18} {'pool median ms':>15} {'pool/raw':>9}")
    for name, raw, pooled in rows:
        raw_ms, pool_ms = statistics.median(raw), statistics.median(pooled)
        print(f"{name:<10} {raw_ms:>18.2f} {pool_ms:>15.2f} {pool_ms / raw_ms:>9.2f}")


if __name__ == "__main__":
    anyio.run(main)
