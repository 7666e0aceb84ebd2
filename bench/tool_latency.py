"""Median latency of every domain's cheapest and costliest tool, through the client pool.

Each tool's first self-test example is called `--repeat` times in fresh sessions over the in-memory
transport (the tools' own cost, not process start-up); the baseline, measured in the same run, is the
same round trip on a tool that does nothing, so each figure is also printed as a multiple of it.

    .venv/bin/python bench/tool_latency.py [--domain files ...] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import anyio
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dive.env import ClientPool  # noqa: E402
from dive.servers import domains, get_domain  # noqa: E402
from dive.servers.kit import Domain, Example  # noqa: E402
from dive.world import ensure_world  # noqa: E402


class Nothing(BaseModel):
    ok: bool


def noop_domain() -> Domain:
    domain = Domain("noop", "Does nothing: the baseline.", lambda ctx: None)

    @domain.tool(kind="retrieval", examples=[Example({}, lambda r: r["ok"])])
    def nothing(s: None) -> Nothing:
        """Do nothing."""
        return Nothing(ok=True)

    return domain


async def median_ms(pool: ClientPool, server: str, tool: str, args: dict, repeat: int) -> tuple[float, bool]:
    samples, ok = [], True
    for _ in range(repeat):
        session = pool.open_session()
        start = time.perf_counter()
        record = await session.call(tool, args, server=server)
        samples.append((time.perf_counter() - start) * 1000)
        ok = ok and not record.is_error
    return statistics.median(samples), ok


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", action="append", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    world = ensure_world()
    names = opts.domain or list(domains())
    servers = {"noop": noop_domain().create_server(world)}
    servers.update({n: get_domain(n).create_server(world) for n in names})
    async with ClientPool(servers={n: s.mcp for n, s in servers.items()}, timeout=120) as pool:
        baseline, _ = await median_ms(pool, "noop", "nothing", {}, max(opts.repeat, 20))
        print(f"baseline (no-op tool through the pool, in-memory transport): {baseline:.2f} ms")
        print(f"{'domain':<10} {'cheapest tool':<26} {'ms':>8} {'x base':>8}   {'costliest tool':<26} {'ms':>9} {'x base':>8}")
        for name in names:
            timings = []
            for spec in get_domain(name).tools.values():
                ms, ok = await median_ms(pool, name, spec.name, spec.examples[0].arguments, opts.repeat)
                if ok:
                    timings.append((ms, spec.name))
            timings.sort()
            (lo, lo_name), (hi, hi_name) = timings[0], timings[-1]
            print(f"{name:<10} {lo_name:<26} {lo:>8.2f} {lo / baseline:>8.1f}   {hi_name:<26} {hi:>9.2f} {hi / baseline:>8.1f}")
    for server in servers.values():
        server.close()


if __name__ == "__main__":
    anyio.run(main)
