"""The Docker sandbox backend, and the local image it runs (nothing can be pulled from a registry).

`ensure_sandbox_image()` makes the image `dive-sandbox:bookworm` available to a daemon, as cheaply
as it can: the image already there, else imported from the cached root-filesystem tarball, else that
tarball is built first, with `debootstrap --variant=minbase` (Debian bookworm plus python3 and
pytest) or, when no Debian mirror answers, from a minimal copy of the host's own Python and shell.

Containers run with no network, a memory and a process cap, a CPU share, a read-only root, every
capability dropped, no-new-privileges, an unprivileged uid, and the workspace bind-mounted at
`/workspace`; rlimits cap CPU time, file size and open files as in the bubblewrap backend.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dive.servers.kit import ToolFailure

from .sandbox import (
    SANDBOX_ENV,
    SANDBOX_SHARED,
    SANDBOX_WORKSPACE,
    Limits,
    RunOutcome,
    WorkspaceQuota,
    classify_exit,
    hand_workspace_to,
    sandbox_uid,
)

SANDBOX_IMAGE = "dive-sandbox:bookworm"
DEBIAN_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
_IMAGE_PACKAGES = ("python3", "python3-pytest")
_build_lock = threading.Lock()


def sandbox_cache_dir() -> Path:
    """Where the root-filesystem tarball is cached: $DIVE_CODE_SANDBOX_CACHE, else ~/.cache/dive/code-sandbox."""
    env = os.environ.get("DIVE_CODE_SANDBOX_CACHE")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dive" / "code-sandbox"


def rootfs_tarball() -> Path:
    """The cached root filesystem of the sandbox image, built on first use (minutes; then reused)."""
    target = sandbox_cache_dir() / f"{DEBIAN_SUITE}-python.tar"
    if target.exists():
        return target
    with _build_lock:
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="dive-rootfs-", dir=target.parent) as tmp:
            rootfs = Path(tmp) / "rootfs"
            errors = []
            try:
                _debootstrap(rootfs)
            except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                errors.append(f"debootstrap: {exc}")
                shutil.rmtree(rootfs, ignore_errors=True)
                _copy_host_python(rootfs)
            (rootfs / SANDBOX_WORKSPACE.lstrip("/")).mkdir(exist_ok=True)
            partial = Path(tmp) / "rootfs.tar"
            with tarfile.open(partial, "w") as tar:
                for entry in sorted(rootfs.iterdir()):
                    tar.add(entry, arcname=entry.name)
            os.replace(partial, target)
    return target


def _debootstrap(rootfs: Path) -> None:
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise OSError("debootstrap is not installed (apt-get install -y debootstrap)")
    mirror = os.environ.get("DIVE_DEBIAN_MIRROR", DEFAULT_MIRROR)
    subprocess.run(
        [debootstrap, "--variant=minbase", f"--include={','.join(_IMAGE_PACKAGES)}", DEBIAN_SUITE, str(rootfs), mirror],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=1800,
    )
    # Slim the image: package caches and documentation are not needed to run programs.
    for rel in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"):
        path = rootfs / rel
        if path.is_dir():
            for child in path.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


def _copy_host_python(rootfs: Path) -> None:
    """A minimal root filesystem from the host: its Python, its standard library, a shell, coreutils."""
    programs = ["/usr/bin/python3", "/bin/sh", "/bin/bash", "/usr/bin/env", "/bin/cat", "/bin/ls", "/bin/echo",
                "/usr/bin/head", "/usr/bin/tail", "/usr/bin/wc", "/usr/bin/sort", "/bin/grep", "/usr/bin/prlimit"]
    wanted: set[Path] = set()
    for program in programs:
        real = Path(os.path.realpath(program))
        if not real.exists():
            continue
        wanted.add(Path(program))
        wanted.add(real)
        ldd = subprocess.run(["ldd", str(real)], capture_output=True, text=True)
        for line in ldd.stdout.splitlines():
            for token in line.split():
                if token.startswith("/"):
                    wanted.add(Path(token))
    for path in sorted(wanted):
        dest = rootfs / path.relative_to("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            dest.symlink_to(os.readlink(path))
        else:
            shutil.copy2(path, dest)
    python = Path(os.path.realpath("/usr/bin/python3"))
    stdlib = Path("/usr/lib") / python.name
    if stdlib.is_dir():
        shutil.copytree(stdlib, rootfs / stdlib.relative_to("/"), symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "test", "idlelib", "tkinter"))
    for name in ("tmp", "proc", "dev", "etc"):
        (rootfs / name).mkdir(exist_ok=True)


def docker_client(base_url: str | None = None):
    """A Docker SDK client for $DOCKER_HOST (or `base_url`), with a clear error when no daemon answers."""
    import docker

    try:
        client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
        client.ping()
    except Exception as exc:  # docker raises several unrelated types for "no daemon"
        raise ToolFailure(
            "the docker sandbox needs a running Docker daemon: start one with `sudo dockerd --iptables=false "
            f"--bridge=none &` or set DOCKER_HOST to a running one (dive doctor checks it); the SDK said: {exc}"
        ) from None
    return client


def ensure_sandbox_image(client=None) -> str:
    """Make `dive-sandbox:bookworm` present in the daemon (idempotent, cached); returns the image name."""
    client = client or docker_client()
    import docker.errors

    try:
        client.images.get(SANDBOX_IMAGE)
        return SANDBOX_IMAGE
    except docker.errors.ImageNotFound:
        pass
    tarball = rootfs_tarball()
    repository, tag = SANDBOX_IMAGE.split(":")
    client.api.import_image(src=str(tarball), repository=repository, tag=tag)
    client.images.get(SANDBOX_IMAGE)
    return SANDBOX_IMAGE


@contextmanager
def private_docker_daemon(start_timeout: float = 90.0) -> Iterator[str]:
    """Start a throwaway Docker daemon (root only) and yield its `unix://` URL; stopped and removed after.

    It has its own data root, exec root and socket under a temporary folder, no bridge network and no
    iptables rules, so it touches nothing on the host: for tests and benchmarks on machines without a
    daemon. Images imported into it are lost when it stops (the rootfs tarball cache is kept).
    """
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise ToolFailure("dockerd is not installed (apt-get install -y docker.io)")
    if os.geteuid() != 0:
        raise ToolFailure("starting a private Docker daemon needs root")
    tmp = Path(tempfile.mkdtemp(prefix="dive-dockerd-", dir="/tmp"))  # short: unix socket paths are limited
    url = f"unix://{tmp}/docker.sock"
    log = (tmp / "dockerd.log").open("wb")
    proc = subprocess.Popen(
        [dockerd, "--iptables=false", "--ip-masq=false", "--bridge=none", "--data-root", str(tmp / "data"),
         "--exec-root", str(tmp / "exec"), "--pidfile", str(tmp / "dockerd.pid"), "-H", url],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                raise ToolFailure(f"dockerd exited with code {proc.returncode}; see {tmp / 'dockerd.log'}")
            try:
                docker_client(url).close()
                break
            except ToolFailure:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        subprocess.run(["umount", "-R", "-l", str(tmp / "data")], capture_output=True)
        if not os.environ.get("DIVE_KEEP_DOCKERD_LOG"):
            shutil.rmtree(tmp, ignore_errors=True)


class DockerSandbox:
    """Programs run in a throwaway container of `dive-sandbox:bookworm` (see module docstring)."""

    name = "docker"
    python = "/usr/bin/python3"

    def __init__(self, base_url: str | None = None) -> None:
        self.client = docker_client(base_url)
        self.image = ensure_sandbox_image(self.client)

    def describe(self) -> dict[str, str]:
        return {
            "backend": self.name,
            "python": "/usr/bin/python3 (image dive-sandbox:bookworm)",
            "isolation": "docker: network none, read-only root, all capabilities dropped, no-new-privileges, "
            "memory/pids/cpu caps, workspace read-write at /workspace",
        }

    def run(self, argv: list[str], *, workspace: Path, stdin: bytes = b"", limits: Limits,
            shared: Path | None = None) -> RunOutcome:
        import docker.errors
        from docker.types import Ulimit

        workspace = workspace.resolve()
        uid = sandbox_uid(workspace) if os.geteuid() == 0 else os.geteuid()
        hand_workspace_to(workspace, uid)
        volumes = {str(workspace): {"bind": SANDBOX_WORKSPACE, "mode": "rw"}}
        if shared is not None:
            volumes[str(shared.resolve())] = {"bind": SANDBOX_SHARED, "mode": "ro"}
        mem = limits.memory_mb * 1024 * 1024
        fsize = limits.file_size_bytes
        started = time.monotonic()
        # `timeout` inside the container stops the program even if this server dies before killing it.
        deadline = ["timeout", "-s", "KILL", str(int(limits.wall_seconds) + 5)]
        container = self.client.containers.create(
            self.image, deadline + argv,
            user=f"{uid}:{uid}", working_dir=SANDBOX_WORKSPACE, environment=dict(SANDBOX_ENV),
            network_mode="none", network_disabled=True,
            mem_limit=mem, memswap_limit=mem, pids_limit=limits.max_processes, nano_cpus=1_000_000_000,
            read_only=True, cap_drop=["ALL"], security_opt=["no-new-privileges"],
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={limits.tmp_mb}m"},
            volumes=volumes,
            ulimits=[Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds + 1),
                     Ulimit(name="fsize", soft=fsize, hard=fsize),
                     Ulimit(name="nofile", soft=limits.max_open_files, hard=limits.max_open_files),
                     Ulimit(name="core", soft=0, hard=0)],
            stdin_open=True, tty=False, hostname="sandbox", labels={"dive.sandbox": "code"},
        )
        try:
            return self._attach_and_wait(container, stdin, limits, started, WorkspaceQuota(workspace, limits))
        finally:
            try:
                container.remove(force=True)
            except docker.errors.APIError:
                pass

    def _attach_and_wait(self, container, stdin: bytes, limits: Limits, started: float, quota: WorkspaceQuota) -> RunOutcome:
        import docker.errors

        sock = container.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        raw = getattr(sock, "_sock", sock)
        container.start()
        out, err = bytearray(), bytearray()
        state = {"total": 0, "flood": False}

        def reader() -> None:
            # Docker multiplexes stdout and stderr on one socket: 8-byte headers (stream, size) per frame.
            buf = b""
            while True:
                try:
                    chunk = raw.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 8:
                    size = int.from_bytes(buf[4:8], "big")
                    if len(buf) < 8 + size:
                        break
                    stream, payload, buf = buf[0], buf[8:8 + size], buf[8 + size:]
                    room = max(limits.max_output_bytes - state["total"], 0)
                    (err if stream == 2 else out).extend(payload[:room])
                    state["total"] += len(payload)
                    if state["total"] > limits.max_output_bytes:
                        # Keep draining (and discarding): the daemon cannot finish the container while
                        # its output stream is blocked.
                        state["flood"] = True

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            if stdin:
                raw.sendall(stdin)
            raw.shutdown(1)  # SHUT_WR: the program sees end of input
        except OSError:
            pass
        deadline = started + limits.wall_seconds
        stop = None
        while True:
            thread.join(timeout=0.1)
            if state["flood"]:
                stop = "output_limit"
                break
            if time.monotonic() > deadline:
                stop = "timeout"
                break
            if quota.exceeded():
                stop = "disk_limit"
                break
            if not thread.is_alive():
                break
        if stop:
            try:
                container.kill()
            except docker.errors.APIError:
                pass  # it exited on its own meanwhile
        result = container.wait(timeout=30)
        thread.join(timeout=5)
        try:
            raw.close()
        except OSError:
            pass
        wall_ms = (time.monotonic() - started) * 1000
        if stop:
            return RunOutcome(None, bytes(out), bytes(err), stop, True, wall_ms, self.name, stop == "output_limit")
        container.reload()
        code = result.get("StatusCode")
        if container.attrs.get("State", {}).get("OOMKilled"):
            return RunOutcome(code, bytes(out), bytes(err), "memory_limit", True, wall_ms, self.name)
        return RunOutcome(code, bytes(out), bytes(err), classify_exit(code, bytes(err)), False, wall_ms, self.name)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass
