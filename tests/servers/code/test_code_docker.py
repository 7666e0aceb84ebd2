"""The Docker sandbox backend contains the same hostile programs as bubblewrap (run with `-m docker`).

A private Docker daemon (`dockerd --iptables=false --bridge=none`, its own data root and socket) is
started for this module and stopped after; the sandbox image is imported from the cached root-filesystem
tarball (built by debootstrap on first use, which takes about a minute).
"""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from tests.servers.code.code_support import (
    NETWORK,
    STOPPED,
    assert_no_process_outlives_its_run,
    assert_stopped_and_host_fine,
    code_pool,
    new_token,
    processes_with,
    write_outside_attempt,
)

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


@pytest.fixture(scope="module")
def docker_url():
    """A private daemon with the sandbox image, reachable through DOCKER_HOST while the module runs."""
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("the docker sandbox tests need root and dockerd (apt-get install -y docker.io debootstrap)")
    from dive.servers.code.docker_backend import (
        docker_client,
        ensure_sandbox_image,
        private_docker_daemon,
    )

    previous = os.environ.get("DOCKER_HOST")
    with private_docker_daemon() as url:
        client = docker_client(url)
        ensure_sandbox_image(client)
        client.close()
        os.environ["DOCKER_HOST"] = url
        try:
            yield url
        finally:
            if previous is None:
                os.environ.pop("DOCKER_HOST", None)
            else:
                os.environ["DOCKER_HOST"] = previous


def _leftover_containers(url: str) -> list[str]:
    from dive.servers.code.docker_backend import docker_client

    client = docker_client(url)
    try:
        return [c.name for c in client.containers.list(all=True, filters={"label": "dive.sandbox=code"})]
    finally:
        client.close()


@pytest.mark.parametrize(("tool", "args", "reasons"), [c[1:] for c in STOPPED], ids=[c[0] for c in STOPPED])
async def test_hostile_program_is_stopped_and_reported(world, docker_url, tool, args, reasons):
    async with code_pool(world, options={"sandbox": "docker"}) as (pool, _server):
        await assert_stopped_and_host_fine(pool, tool, args, reasons)
    assert _leftover_containers(docker_url) == []


async def test_isolation(world, docker_url):
    """No network, no host files, no host environment, no privileges; writes outside the workspace fail."""
    probe = ("import os, sys\n"
             "for path in sys.argv[1:]:\n"
             "    print('VISIBLE' if os.path.exists(path) else 'absent', path)\n"
             "print('uid', os.getuid())\n"
             "print('ENV', sorted(os.environ))\n"
             "print([l for l in open('/proc/self/status').read().splitlines() if l.startswith(('CapEff', 'NoNewPrivs'))])\n")
    host_paths = ["/work/main/pyproject.toml", str(world.db_path), str(world.files_root), os.path.abspath(__file__),
                  "/root/.cache", "/var/lib/docker"]
    os.environ["DIVE_TEST_SECRET_TOKEN"] = "s3cret"
    try:
        async with code_pool(world, options={"sandbox": "docker"}) as (pool, _server):
            net = await pool.call("run_python", {"code": NETWORK})
            seen = await pool.call("run_python", {"code": probe, "args": host_paths})
            await write_outside_attempt(pool, world)
            await assert_no_process_outlives_its_run(pool)
            info = await pool.call("sandbox_info", {})
    finally:
        del os.environ["DIVE_TEST_SECRET_TOKEN"]
    assert "CONNECTED" not in net.result["stdout"] and "RESOLVED" not in net.result["stdout"]
    out = seen.result["stdout"]
    assert "VISIBLE" not in out, out
    assert "DIVE_TEST_SECRET_TOKEN" not in out and "DOCKER_HOST" not in out
    assert "CapEff:\\t0000000000000000" in out and "NoNewPrivs:\\t1" in out
    assert "uid 0" not in out
    assert info.result["backend"] == "docker" and info.result["network_interfaces"] in ([], ["lo"])


async def test_stdio_server_with_the_docker_backend(world, docker_url):
    """`dive serve code` with DIVE_CODE_SANDBOX=docker, end to end over stdio."""
    from dive.env import ClientPool

    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV") if k in os.environ}
    env.update(DIVE_CODE_SANDBOX="docker", DOCKER_HOST=docker_url, DIVE_WORLD=str(world.root))
    args = ["-m", "dive", "serve", "code", "--world", str(world.root)]
    config = {"mcpServers": {"code": {"command": sys.executable, "args": args, "env": env}}}
    token = new_token()
    async with ClientPool(config, timeout=120) as pool:
        rec = await pool.call("run_python", {"code": "import sys\nprint(sys.stdin.read()[::-1])", "stdin": "abc"})
        assert not rec.is_error and rec.result["stdout"] == "cba\n" and rec.result["backend"] == "docker"
        tests = await pool.call("run_tests", {"path": "tests/test_inventory.py", "runner": "unittest"})
        assert (tests.result["passed"], tests.result["failed"]) == (4, 1)
        bomb = await pool.call("run_shell", {"command": f"exec -a {token} bash -c ':(){{ :|:& }};:; wait'", "timeout_seconds": 2})
        assert bomb.is_error, bomb.result
        assert processes_with(token) == []
    assert _leftover_containers(docker_url) == []
