"""What sandboxed code leaves in its workspace cannot hurt the tools or the host: a FIFO does not hang them, a
link pointing out is listed as a link, and the disk limit holds for the workspace across runs, not per run."""

from __future__ import annotations

import shutil

import pytest

from dive.servers.code.sandbox import disk_usage

from tests.servers.code.code_support import code_pool, workspace_of

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install -y bubblewrap)"),
]


async def test_fifos_and_links_out_leave_the_tools_working(world):
    async with code_pool(world) as (pool, server):
        made = await pool.call("run_shell", {"command": "mkfifo pipe scratch_pipe && mkdir -p d && mkfifo d/p && "
                                                        "ln -s /etc out_dir && ln -s /etc/passwd out_file && ls"})
        assert not made.is_error and "pipe" in made.result["stdout"], made.error
        listing = await pool.call("list_files", {"path": "."})
        assert not listing.is_error, listing.error
        by_path = {e["path"]: e["type"] for e in listing.result["entries"]}
        assert "pipe" not in by_path and "d/p" not in by_path, "FIFOs are removed after the run"
        assert by_path["out_dir"] == "symlink" and by_path["out_file"] == "symlink"
        append = await pool.call("write_file", {"path": "pipe", "content": "x", "append": True})
        assert not append.is_error and append.result["created"] is True
        threads_before = len(__import__("threading").enumerate())
        for _ in range(5):
            await pool.call("run_shell", {"command": "mkfifo again"})
            assert not (await pool.call("list_files", {"path": "."})).is_error
        assert len(__import__("threading").enumerate()) <= threads_before + 2, "no thread stays stuck on a FIFO"
        escaped = await pool.call("read_file", {"path": "out_file"})
        assert escaped.is_error and "leaves the workspace" in escaped.error
        assert not any(p.is_fifo() for p in workspace_of(server, pool).rglob("*"))


async def test_the_disk_limit_is_the_workspace_s_across_runs(world):
    cap_mb = 8
    async with code_pool(world, options={"workspace_mb": cap_mb}) as (pool, server):
        first = await pool.call("run_python", {"code": "open('a.bin', 'wb').write(b'x' * 5_000_000)"})
        assert not first.is_error, first.error
        second = await pool.call("run_python", {"code": "open('b.bin', 'wb').write(b'x' * 5_000_000)"})
        assert second.is_error and "workspace limit of 8 MB" in second.error, second.error
        many = await pool.call("run_python", {"code": "for i in range(12):\n    open(f'c{i}.bin', 'wb').write(b'x' * 1_000_000)"})
        assert many.is_error and ("disk_limit" in many.error or "file_size_limit" in many.error), many.error
        workspace = workspace_of(server, pool)
        over = disk_usage(workspace)
        for _ in range(3):
            again = await pool.call("run_python", {"code": "open('d.bin', 'ab').write(b'x' * 1_000_000)"})
            assert again.is_error
        assert disk_usage(workspace) <= over, "a workspace at its limit cannot grow"
        assert disk_usage(workspace) < 3 * cap_mb * 1024 * 1024
        refused = await pool.call("write_file", {"path": "e.txt", "content": "y" * 900_000})
        assert refused.is_error and "limit of 8 MB" in refused.error
        freed = await pool.call("run_shell", {"command": "rm -f *.bin"})
        assert not freed.is_error, freed.error
        assert not (await pool.call("run_python", {"code": "open('f.bin', 'wb').write(b'x' * 1_000_000)"})).is_error


async def test_code_cannot_make_nested_user_namespaces(world):
    """`unshare -r` would make a program uid 0 inside a user namespace of its own (and reach kernel code that
    only root reaches): the sandbox forbids new user namespaces where bubblewrap can."""
    from dive.servers.code.sandbox import BubblewrapSandbox

    if not BubblewrapSandbox().no_nested_userns:
        pytest.skip("this bubblewrap (before 0.8) cannot forbid nested user namespaces")
    async with code_pool(world) as (pool, _server):
        rec = await pool.call("run_shell", {"command": "unshare -r id -u; echo status $?"})
        out = rec.result["stdout"]
        assert "status 0" not in out and not out.startswith("0"), out
        py = await pool.call("run_python", {"code": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                                                    "print('NESTED' if libc.unshare(0x10000000) == 0 else 'refused')"})
        assert py.result["stdout"].strip() == "refused", py.result
