"""Verified tasks per minute of `dive synth`'s built-in backend, against the raw tool-call rate as baseline.

The baseline, measured in the same run on the same in-process servers, is how many tool calls per
minute the client pool makes on its own; the figure of merit is verified tasks per minute (goal on
2 cores for domains without a browser: 1,000), with the calls and the CPU time each task cost. The rate
is given three ways: at steady state (from the first finished batch to the last: the workers' start-up
left out), while synthesizing (from the start to the last batch), and end to end (start-up and the
export's report included, a fixed cost of some seconds that a small run feels most).

The defaults are the goal's setting: two worker processes (one per core) and 1,000 tasks, a run long enough
that the workers' start-up (about 4 s) is a small part of it.

    .venv/bin/python bench/synth_throughput.py [--n 1000] [--workers 2] [--domain files --domain database ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dive.env import ClientPool  # noqa: E402
from dive.servers import get_domain  # noqa: E402
from dive.synth import SynthOptions, load_tasks, synthesize  # noqa: E402
from dive.world import ensure_world  # noqa: E402

NO_BROWSER = ["files", "database", "code", "media"]


async def raw_calls_per_minute(domains: list[str], seconds: float = 5.0) -> float:
    """Calls per minute of each domain's first example, round-robin, through the pool (no synthesis)."""
    world = ensure_world()
    servers = {d: get_domain(d).create_server(world) for d in domains}
    calls = [(d, spec.name, spec.examples[0].arguments) for d in domains
             for spec in get_domain(d).tools.values() if spec.kind == "retrieval" and not spec.writes][:40]
    async with ClientPool(servers={d: s.mcp for d, s in servers.items()}) as pool:
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            d, tool, args = calls[done % len(calls)]
            await pool.call(tool, args, server=d)
            done += 1
        rate = done / (time.perf_counter() - start) * 60
    for server in servers.values():
        server.close()
    return rate


def cpu_seconds() -> float:
    """User and system CPU time of this process and its ended children (the synthesis workers)."""
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--domain", action="append", default=None)
    opts = parser.parse_args()
    domains = opts.domain or NO_BROWSER

    baseline = anyio.run(raw_calls_per_minute, domains)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        finished: list[tuple[float, int]] = []  # (when a batch came back, candidates accepted so far)
        cpu_before = cpu_seconds()
        start = time.perf_counter()
        report = synthesize(SynthOptions(n=opts.n, domains=domains, pool_factor=1.0), out, workers=opts.workers,
                            progress=lambda results: finished.append(
                                (time.perf_counter(), sum(line.task is not None for line in results.values()))))
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds() - cpu_before
        tasks = load_tasks(out)
        calls = [len(t.evidence.calls) * 1.0 for t in tasks]
        stats = json.loads((out / "stats.json").read_text())
    per_minute = report.accepted / elapsed * 60
    synthesizing = report.accepted / (finished[-1][0] - start) * 60
    (first, accepted_first), (last, accepted_last) = finished[0], finished[-1]
    steady = (accepted_last - accepted_first) / (last - first) * 60 if last > first else float("nan")
    print(f"domains: {', '.join(domains)}; workers: {opts.workers}; n={opts.n}")
    print(f"{'baseline tool calls/min (pool, no synthesis)':<48} {baseline:>10.0f}")
    print(f"{'verified tasks/min at steady state':<48} {steady:>10.1f}")
    print(f"{'verified tasks/min while synthesizing':<48} {synthesizing:>10.1f}")
    print(f"{'verified tasks/min end to end':<48} {per_minute:>10.1f}")
    print(f"{'CPU seconds per verified task (all processes)':<48} {cpu / report.accepted:>10.3f}")
    print(f"{'candidates considered/min':<48} {report.considered / elapsed * 60:>10.1f}")
    print(f"{'acceptance rate':<48} {report.accepted / max(report.considered, 1):>10.1%}")
    print(f"{'evidence calls per task (median)':<48} {statistics.median(calls):>10.1f}")
    print(f"{'tasks/min as a share of the call baseline':<48} {per_minute / baseline:>10.4f}")
    print(f"rejections: {report.rejections}")
    print(f"diversity: tools {stats['tools_covered']}, call graphs {stats['unique_call_graphs']}, "
          f"topologies {len(stats['topology_classes'])}")


if __name__ == "__main__":
    main()
