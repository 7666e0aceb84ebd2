"""Start cost of the code domain's sandboxes: a trivial program run through each backend vs run bare.

For `python3 -c pass` and `true`, it times N runs unsandboxed (the baseline: a plain subprocess) and N
runs through each sandbox backend's `run()` (bubblewrap; Docker when a daemon is reachable, or a
private one this script starts when run as root), all in the same run, and prints the medians and the
ratio backend/baseline. The figure to read is the ratio: what the sandbox adds to every code tool call.
Run as root, bubblewrap is timed twice: dropping to the sandbox uid with setpriv (what the server does)
and with Popen's own user/group switch, which forks instead of vforks: what that costs grows with the
calling process's memory, so the script holds `--ballast-mb` of it, as a long-running server does.

    .venv/bin/python bench/sandbox_start.py [--runs 30] [--backends bubblewrap,docker] [--no-private-daemon]
                                            [--ballast-mb 300]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dive.servers.code.sandbox import BubblewrapSandbox, Limits  # noqa: E402

PROGRAMS = {"python3 -c pass": ["python3", "-c", "pass"], "true": ["true"]}


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 2) -> tuple[float, float]:
    """(median, 90th percentile) wall time of `fn` in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.9 * len(samples)))]


def baseline_runner(argv: list[str]) -> Callable[[], object]:
    exe = shutil.which(argv[0], path="/usr/bin:/bin") or argv[0]
    full = [exe, *argv[1:]]
    return lambda: subprocess.run(full, stdin=subprocess.DEVNULL, capture_output=True, check=True)


def sandbox_runner(sandbox, argv: list[str], workspace: Path) -> Callable[[], object]:
    python = getattr(sandbox, "python", "python3")
    full = [python if argv[0] == "python3" else argv[0], *argv[1:]]
    limits = Limits()

    def run() -> None:
        outcome = sandbox.run(full, workspace=workspace, limits=limits)
        if outcome.exit_code != 0:
            raise RuntimeError(f"{sandbox.name}: {full} failed: {outcome.reason} {outcome.stderr[-300:]!r}")

    return run


@contextlib.contextmanager
def docker_backend(allow_private: bool) -> Iterator[object | None]:
    """A DockerSandbox on $DOCKER_HOST, else on a private daemon started here (root only), else None."""
    try:
        from dive.servers.code.docker_backend import DockerSandbox, docker_client, ensure_sandbox_image, private_docker_daemon
        from dive.servers.kit import ToolFailure
    except ImportError as exc:
        print(f"docker: skipped ({exc})")
        yield None
        return
    try:
        docker_client().close()
        url = None
    except ToolFailure:
        url = "private"
    if url is None:
        sandbox = DockerSandbox()
        try:
            yield sandbox
        finally:
            sandbox.close()
        return
    if not allow_private or os.geteuid() != 0 or shutil.which("dockerd") is None:
        print("docker: skipped (no daemon reachable; run as root with dockerd installed to start a private one)")
        yield None
        return
    with private_docker_daemon() as daemon_url:
        started = time.perf_counter()
        client = docker_client(daemon_url)
        ensure_sandbox_image(client)
        client.close()
        print(f"docker: private daemon at {daemon_url}; image ready in {time.perf_counter() - started:.1f} s")
        sandbox = DockerSandbox(daemon_url)
        try:
            yield sandbox
        finally:
            sandbox.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per program and backend")
    parser.add_argument("--backends", default="bubblewrap,docker", help="comma-separated: bubblewrap, docker")
    parser.add_argument("--no-private-daemon", action="store_true", help="do not start a private dockerd")
    parser.add_argument("--ballast-mb", type=int, default=300, help="memory this process holds while timing")
    opts = parser.parse_args()
    ballast = [bytearray(1 << 20) for _ in range(opts.ballast_mb)]  # touched pages: a fork copies their tables
    wanted = {b.strip() for b in opts.backends.split(",") if b.strip()}

    rows: list[tuple[str, str, float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="dive-bench-ws-") as tmp, contextlib.ExitStack() as stack:
        workspace = Path(tmp)
        backends = []
        if "bubblewrap" in wanted:
            if shutil.which("bwrap"):
                backends.append(BubblewrapSandbox())
                if os.geteuid() == 0:
                    forking = BubblewrapSandbox()
                    forking.setpriv, forking.name = None, "bubblewrap, uid via fork"
                    backends.append(forking)
            else:
                print("bubblewrap: skipped (bwrap not installed)")
        if "docker" in wanted:
            sandbox = stack.enter_context(docker_backend(not opts.no_private_daemon))
            if sandbox is not None:
                backends.append(sandbox)
        for label, argv in PROGRAMS.items():
            base, base_p90 = median_ms(baseline_runner(argv), opts.runs)
            rows.append(("baseline (bare subprocess)", label, base, base_p90, 1.0))
            for sandbox in backends:
                med, p90 = median_ms(sandbox_runner(sandbox, argv, workspace), opts.runs)
                rows.append((sandbox.name, label, med, p90, med / base))

    print(f"\nstart cost, {opts.runs} runs each (median and p90 wall-clock, ms; ratio = backend median / baseline median)")
    print(f"{'backend':<28} {'program':<16} {'median':>9} {'p90':>9} {'ratio':>8}")
    for backend, label, med, p90, ratio in rows:
        print(f"{backend:<28} {label:<16} {med:>9.1f} {p90:>9.1f} {ratio:>7.1f}x")
    del ballast


if __name__ == "__main__":
    main()
