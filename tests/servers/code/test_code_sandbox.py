"""User code runs confined (bubblewrap backend): normal runs report their output, and hostile programs
(fork bombs, memory bombs, endless loops, sleepers, output floods, network access, writes outside the
workspace, reads of host files) are contained and reported, while the host and the server carry on.

Every call goes through a real MCP client: the in-process transport for the hostile programs (so the test
can look at the session's workspace), stdio and HTTP for the protocol end to end.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from dive.servers.code.sandbox import sandbox_uid

from tests.servers.code.code_support import (
    CPU_LOOP,
    FORK_BOMB,
    NETWORK,
    STOPPED,
    assert_no_process_outlives_its_run,
    assert_stopped_and_host_fine,
    code_pool,
    new_token,
    processes_with,
    workspace_of,
    write_outside_attempt,
)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install -y bubblewrap)"),
]


@pytest.mark.parametrize(("tool", "args", "reasons"), [c[1:] for c in STOPPED], ids=[c[0] for c in STOPPED])
async def test_hostile_program_is_stopped_and_reported(world, tool, args, reasons):
    async with code_pool(world) as (pool, _server):
        await assert_stopped_and_host_fine(pool, tool, args, reasons)


async def test_detached_children_end_with_the_run(world):
    async with code_pool(world) as (pool, _server):
        await assert_no_process_outlives_its_run(pool)


async def test_network_is_unreachable(world):
    async with code_pool(world) as (pool, _server):
        rec = await pool.call("run_python", {"code": NETWORK})
        out = rec.result["stdout"]
        assert "CONNECTED" not in out and "RESOLVED" not in out, out
        assert out.count("refused") == 3 and "no dns" in out
        shell = await pool.call("run_shell", {"command": "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '"})
        assert shell.result["stdout"].split() == ["lo"], "the sandbox sees a network interface besides loopback"


async def test_writes_outside_the_workspace_fail_and_leave_the_host_alone(world):
    async with code_pool(world) as (pool, _server):
        await write_outside_attempt(pool, world)


async def test_host_files_are_invisible(world):
    """Only /usr (and the links into it), a private /tmp, /proc, /dev, the workspace and /shared exist inside."""
    secrets = ["/etc/shadow", "/etc/passwd", "/root", str(Path(__file__).resolve()), "/work/main/pyproject.toml",
               str(world.db_path), str(world.files_root / "data" / "elements.csv"), "/home", "/var/log"]
    code = ("import os, sys\n"
            "for path in sys.argv[1:]:\n"
            "    print('VISIBLE' if os.path.exists(path) else 'absent', path)\n"
            "print('ROOT', sorted(os.listdir('/')))\n"
            "print('ENV', sorted(os.environ))\n")
    os.environ["DIVE_TEST_SECRET_TOKEN"] = "s3cret"
    try:
        async with code_pool(world) as (pool, _server):
            rec = await pool.call("run_python", {"code": code, "args": secrets})
    finally:
        del os.environ["DIVE_TEST_SECRET_TOKEN"]
    out = rec.result["stdout"]
    assert "VISIBLE" not in out, out
    root_line = next(line for line in out.splitlines() if line.startswith("ROOT"))
    allowed = {"bin", "dev", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "shared", "tmp", "usr", "workspace"}
    assert set(eval(root_line[5:])) <= allowed
    assert "DIVE_TEST_SECRET_TOKEN" not in out and "DIVE_WORLD" not in out


async def test_program_runs_unprivileged_and_cannot_regain_privileges(world):
    code = ("import os\n"
            "print('uid', os.getuid(), 'gid', os.getgid(), 'groups', os.getgroups())\n"
            "status = open('/proc/self/status').read()\n"
            "print([l for l in status.splitlines() if l.startswith(('CapEff', 'NoNewPrivs'))])\n"
            "try:\n"
            "    os.setuid(0)\n"
            "    print('BECAME ROOT')\n"
            "except OSError as exc:\n"
            "    print('setuid refused', exc.errno)\n")
    async with code_pool(world) as (pool, server):
        rec = await pool.call("run_python", {"code": code})
        workspace = workspace_of(server, pool)
    out = rec.result["stdout"]
    assert "setuid refused" in out and "BECAME ROOT" not in out
    assert "CapEff:\\t0000000000000000" in out and "NoNewPrivs:\\t1" in out
    if os.geteuid() == 0:  # the workspace's own uid and gid, and none of the server's groups
        uid = sandbox_uid(workspace)
        assert f"uid {uid} gid {uid} groups []" in out


async def test_files_written_by_code_are_in_the_session_workspace_only(world):
    async with code_pool(world) as (pool, server):
        rec = await pool.call("run_python", {"code": "open('out/result.txt', 'w').write('from the sandbox')"})
        assert not rec.result["ok"] and "FileNotFoundError" in rec.result["stderr"]
        await pool.call("run_shell", {"command": "mkdir -p out && echo -n 'from the sandbox' > out/result.txt"})
        read = await pool.call("read_file", {"path": "out/result.txt"})
        assert read.result["text"] == "from the sandbox"
        workspace = workspace_of(server, pool)
        assert (workspace / "out" / "result.txt").read_text() == "from the sandbox"
        pool.new_session()
        other = await pool.call("read_file", {"path": "out/result.txt"})
        assert other.is_error and "no such file" in other.error


async def test_other_domains_files_are_readable_under_shared(world):
    """The session's cross-domain folder (screenshots, media outputs) is mounted read-only at /shared."""
    async with code_pool(world) as (pool, server):
        await pool.call("list_files", {})
        shared = server.sessions.get(f"meta:{pool.trace.session}").state.shared
        (shared / "screenshots").mkdir(parents=True, exist_ok=True)
        (shared / "screenshots" / "note.txt").write_text("made by another domain")
        command = "cat /shared/screenshots/note.txt; echo; touch /shared/new || echo read-only"
        rec = await pool.call("run_shell", {"command": command})
    assert rec.result["stdout"].splitlines() == ["made by another domain", "read-only"]
    assert not (shared / "new").exists()


async def test_normal_runs_report_stdout_stderr_and_exit_code(world):
    async with code_pool(world) as (pool, _server):
        rec = await pool.call("run_python", {"code": "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)"})
        assert not rec.is_error
        result = rec.result
        assert (result["stdout"], result["stderr"], result["exit_code"], result["ok"]) == ("out\n", "err\n", 3, False)
        rec = await pool.call("run_shell", {"command": "kill -TERM $$"})
        assert rec.result["exit_code"] == 143 and rec.result["signal"] == "SIGTERM"
        rec = await pool.call("run_python_file", {"path": "examples/wordfreq.py", "args": ["1"], "stdin": "b a b"})
        assert rec.result["stdout"] == "b 2\n" and rec.result["backend"] == "bubblewrap"


async def test_stdio_end_to_end(pool_factory):
    """Over stdio (a real `dive serve code` process): a normal run and a contained fork bomb."""
    token = new_token()
    async with pool_factory(["code"], "stdio", timeout=90) as pool:
        rec = await pool.call("run_python", {"code": "print(sum(range(10)))"})
        assert not rec.is_error and rec.result["stdout"] == "45\n"
        bomb = await pool.call("run_python", {"code": FORK_BOMB, "args": [token], "timeout_seconds": 2})
        assert bomb.is_error and ("timeout" in bomb.error or "limit" in bomb.error)
        assert processes_with(token) == []
        again = await pool.call("run_tests", {"path": "tests/test_textkit.py"})
        assert not again.is_error and again.result["passed"] == 8


async def test_http_end_to_end(world, http_server):
    from dive.env import ClientPool

    url = http_server("code")
    async with ClientPool({"mcpServers": {"code": {"url": url}}}, timeout=90) as pool:
        rec = await pool.call("run_shell", {"command": "echo $((6 * 7))"})
        assert not rec.is_error and rec.result["stdout"] == "42\n"
        loop = await pool.call("run_python", {"code": CPU_LOOP, "timeout_seconds": 1})
        assert loop.is_error and ("cpu_limit" in loop.error or "timeout" in loop.error)
