"""Browser CPU per web session and per page load, for each installed Chromium build, in the same run.

Each build serves the same sequence through the web server and the client pool: `--pages` loads of world
pages in one session (the cost of a navigation), then `--pages` sessions of one load each, every session
ended before the next (the cost of a session's new tab, which synthesis pays twice per web task). CPU is
read from /proc for Chromium and Playwright's driver (live and reaped processes); the figure to read is
each build's CPU per session as a ratio of the first build's, the headless shell being what the server
uses when installed.

    .venv/bin/python bench/browser_session.py [--pages 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dive.env import ClientPool  # noqa: E402
from dive.servers import get_domain  # noqa: E402
from dive.servers.web import browser  # noqa: E402
from dive.world import ensure_world  # noqa: E402

PAGES = ["/cities/2643743.html", "/countries/FR.html", "/elements/Fe.html", "/airports/LHR.html", "/index.html"]


def browser_cpu_seconds() -> float:
    """User and system CPU of every Chromium and Playwright driver process, with their reaped children."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        if name.startswith(("chrom", "headless", "node")):
            fields = stat[stat.rindex(")") + 2:].split()
            ticks += sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


async def measure(pages: int) -> tuple[float, float, float]:
    """(CPU per page load in one session, CPU per one-load session, wall seconds per session)."""
    world = ensure_world()
    server = get_domain("web").create_server(world)
    try:
        async with ClientPool(servers={"web": server.mcp}) as pool:
            session = pool.open_session()
            await session.call("browser_open", {"url": PAGES[0]})  # launch, outside the measurement
            before = browser_cpu_seconds()
            for i in range(pages):
                record = await session.call("browser_open", {"url": PAGES[i % len(PAGES)]})
                assert not record.is_error, record.error
            per_load = (browser_cpu_seconds() - before) / pages
            before, start = browser_cpu_seconds(), time.perf_counter()
            for i in range(pages):
                pool.end_session(session.trace)
                session = pool.open_session()
                record = await session.call("browser_open", {"url": PAGES[i % len(PAGES)]})
                assert not record.is_error, record.error
            per_session = (browser_cpu_seconds() - before) / pages
            wall = (time.perf_counter() - start) / pages
    finally:
        server.close()
    return per_load, per_session, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10)
    opts = parser.parse_args()
    builds = [path for path in browser.CHROMIUM_BUILDS if Path(path).is_file()]
    if not builds:
        sys.exit("no Chromium build is installed: run `make install`")
    print(f"{'build':45} {'CPU ms/load':>12} {'CPU ms/session':>15} {'wall ms/session':>16} {'session ratio':>14}")
    first = None
    for build in builds:
        browser.CHROMIUM_BUILDS = (build,)
        per_load, per_session, wall = anyio.run(measure, opts.pages)
        first = first or per_session
        print(f"{build:45} {per_load * 1000:12.0f} {per_session * 1000:15.0f} {wall * 1000:16.0f} "
              f"{per_session / first:14.2f}")


if __name__ == "__main__":
    main()
