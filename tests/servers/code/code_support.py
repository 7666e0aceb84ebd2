"""Helpers shared by the code-domain tests: pools on the code server, and checks that nothing escaped."""

from __future__ import annotations

import os
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import anyio

from dive.env import ClientPool
from dive.servers import get_domain
from dive.servers.kit import DomainServer


@asynccontextmanager
async def code_pool(world, options: dict[str, Any] | None = None) -> AsyncIterator[tuple[ClientPool, DomainServer]]:
    """A client pool on an in-process code server (real MCP over the SDK's in-memory transport)."""
    server = get_domain("code").create_server(world, options=options)
    try:
        async with ClientPool(servers={"code": server.mcp}, timeout=90) as pool:
            yield pool, server
    finally:
        server.close()


def workspace_of(server: DomainServer, pool: ClientPool) -> Path:
    """The current session's code workspace on the host."""
    return server.sessions.get(f"meta:{pool.trace.session}").state.workspace


def new_token() -> str:
    """A unique word to put on a hostile program's command line, to find its processes afterwards."""
    return f"dive-hostile-{uuid.uuid4().hex[:12]}"


def processes_with(token: str) -> list[int]:
    """Pids of live processes whose command line contains `token` (zombies included: they are not gone)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if token.encode() in cmdline:
            found.append(int(entry))
    return found


# Hostile programs: (id, run_python code or None, run_shell command or None, the limit expected in the error).
# A None limit means the program is not stopped: it fails on its own because the sandbox denies it.
FORK_BOMB = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
FORK_BOMB_CRASHING = "import os\nwhile True:\n    os.fork()\n"
# The launching shell sleeps on: with a bare `wait` it returns as soon as the first pipeline's shells have
# forked, the run ends with exit 0 and the sandbox kills the rest; that contains the bomb but never stops it.
SHELL_FORK_BOMB = ":(){ :|:& };:; sleep 30"
MEMORY_BOMB = "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 * 1024))\n"
CPU_LOOP = "while True:\n    pass\n"
SLEEPER = "import time\ntime.sleep(3600)\n"
DISK_FILLER = "i = 0\nwhile True:\n    open(f'fill{i}.bin', 'wb').write(b'x' * (8 * 1024 * 1024))\n    i += 1\n"
OUTPUT_FLOOD = "while True:\n    print('x' * 10000)\n"
DAEMON = ("import subprocess, sys\n"
          "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', sys.argv[1]], start_new_session=True,\n"
          "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
          "print('spawned')\n")
NETWORK = ("import socket\n"
           "for host, port in [('1.1.1.1', 53), ('8.8.8.8', 443), ('127.0.0.1', 22)]:\n"
           "    try:\n"
           "        socket.create_connection((host, port), timeout=2)\n"
           "        print('CONNECTED', host)\n"
           "    except OSError as exc:\n"
           "        print('refused', host, exc.errno)\n"
           "try:\n"
           "    socket.getaddrinfo('deb.debian.org', 80)\n"
           "    print('RESOLVED')\n"
           "except OSError:\n"
           "    print('no dns')\n")

# (id, tool, arguments, the limits the error may name). Each program is stopped by the sandbox.
STOPPED = [
    ("fork-bomb", "run_python", {"code": FORK_BOMB, "timeout_seconds": 2}, ("timeout", "cpu_limit", "process_limit")),
    ("fork-bomb-crashing", "run_python", {"code": FORK_BOMB_CRASHING, "timeout_seconds": 3}, ("process_limit",)),
    ("shell-fork-bomb", "run_shell", {"command": SHELL_FORK_BOMB, "timeout_seconds": 2},
     ("timeout", "process_limit", "cpu_limit")),
    ("memory-bomb", "run_python", {"code": MEMORY_BOMB, "timeout_seconds": 5}, ("memory_limit",)),
    ("cpu-loop", "run_python", {"code": CPU_LOOP, "timeout_seconds": 1}, ("cpu_limit", "timeout")),
    ("sleeper", "run_python", {"code": SLEEPER, "timeout_seconds": 1}, ("timeout",)),
    ("output-flood", "run_python", {"code": OUTPUT_FLOOD, "timeout_seconds": 5}, ("output_limit",)),
    ("disk-filler", "run_python", {"code": DISK_FILLER, "timeout_seconds": 20}, ("disk_limit",)),
    ("giant-file", "run_python", {"code": "open('big.bin', 'wb').write(b'x' * (64 * 1024 * 1024))"},
     ("file_size_limit", "memory_limit")),
]


async def assert_stopped_and_host_fine(pool: ClientPool, tool: str, args: dict[str, Any], reasons: tuple[str, ...]) -> None:
    """Run a hostile program: it must come back as a tool error naming one of `reasons`, leave no
    process behind, and the next run must work."""
    token = new_token()
    args = dict(args)
    if tool == "run_python":
        args["args"] = [token]
    else:
        args["command"] = f"exec -a {token} bash -c '{args['command']}'"
    rec = await pool.call(tool, args)
    assert rec.is_error, f"the hostile program was not reported as an error: {rec.result}"
    assert any(reason in rec.error for reason in reasons), rec.error
    assert "killed" in rec.error or "failed" in rec.error
    assert processes_with(token) == [], "processes of the hostile program are still running"
    after = await pool.call("run_python", {"code": "print(6 * 7)"})
    assert not after.is_error and after.result["stdout"] == "42\n", after.error


async def write_outside_attempt(pool: ClientPool, world) -> None:
    """Writes to every place outside the workspace fail inside, and nothing appears on the host."""
    marker = f"dive-escape-{uuid.uuid4().hex}"
    targets = ["/usr/" + marker, "/etc/" + marker, "/" + marker, str(Path.home() / marker), f"/dev/{marker}",
               f"{world.files_root}/{marker}", f"{Path(__file__).resolve().parent}/{marker}", "/workspace/../" + marker]
    code = ("import sys\n"
            "for target in sys.argv[1:]:\n"
            "    try:\n"
            "        open(target, 'w').write('x')\n"
            "        print('WROTE', target)\n"
            "    except OSError as exc:\n"
            "        print('denied', type(exc).__name__)\n"
            f"open('/tmp/{marker}', 'w').write('private tmp')\n"
            "print('tmp ok')\n")
    rec = await pool.call("run_python", {"code": code, "args": targets})
    assert not rec.is_error, rec.error
    assert "WROTE" not in rec.result["stdout"], rec.result["stdout"]
    assert rec.result["stdout"].count("denied") == len(targets)
    assert "tmp ok" in rec.result["stdout"]
    for target in targets + [f"/tmp/{marker}"]:
        assert not os.path.exists(target.replace("/workspace/..", "/")), f"{target} was written on the host"


async def assert_no_process_outlives_its_run(pool: ClientPool) -> None:
    """A program that leaves a detached child behind: the child ends with the run."""
    token = new_token()
    rec = await pool.call("run_python", {"code": DAEMON, "args": [token]})
    assert not rec.is_error and rec.result["stdout"] == "spawned\n", rec.error
    # The kernel kills what is left in the sandbox's pid namespace when the run ends; under load the
    # killed processes can stay visible for a moment before they are reaped.
    deadline = time.monotonic() + 5
    while processes_with(token) and time.monotonic() < deadline:
        await anyio.sleep(0.05)
    assert processes_with(token) == [], "a detached child of the program survived the run"
