"""Running untrusted code: one small interface (`Sandbox.run`) and its bubblewrap backend.

Every execution of user code in the code domain goes through a `Sandbox`. Whatever the backend,
the program sees the same world: the session's workspace read-write at `/workspace` (its working
directory and HOME), a private size-capped `/tmp`, the system's `/usr` read-only, no network, no
other host files, and limits on CPU time, memory, processes, file size, open files, output and
wall-clock time. A program that hits a limit is stopped and the outcome says which limit it hit.

The Docker backend lives in `docker_backend.py`; `open_sandbox` picks one by name.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import selectors
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from dive.servers.kit import ToolFailure

BackendName = Literal["bubblewrap", "docker"]
#: How a run ended. `exited`: the program ran to completion (any exit code); every other value
#: names the limit that stopped it.
Reason = Literal["exited", "timeout", "cpu_limit", "memory_limit", "process_limit", "file_size_limit", "output_limit",
                 "disk_limit"]

#: Where the workspace appears inside every sandbox.
SANDBOX_WORKSPACE = "/workspace"
#: Where the session's cross-domain folder (files other servers made for this session) appears, read-only.
SANDBOX_SHARED = "/shared"
#: The environment every sandboxed program starts with (nothing is inherited from the server).
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": SANDBOX_WORKSPACE,
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
    "PYTHONUNBUFFERED": "1",
    "TZ": "UTC",
}
#: First host uid of the range sandboxed programs run as when the server runs as root. RLIMIT_NPROC
#: is not enforced for root, so a fork bomb is only contained when the program's real uid is not 0.
SANDBOX_UID_BASE = 200_000
SANDBOX_UID_SPAN = 50_000


@dataclass(frozen=True)
class Limits:
    """What one sandboxed run may use."""

    cpu_seconds: int = 5
    wall_seconds: float = 10.0
    memory_mb: int = 512
    max_processes: int = 64
    max_file_mb: int = 16
    max_open_files: int = 256
    max_output_bytes: int = 1_000_000
    tmp_mb: int = 64
    max_workspace_mb: int = 256
    """What all of a session's workspace files together may occupy, whatever number of runs wrote them."""
    room_bytes: int | None = None
    """What is left of `max_workspace_mb` when the run starts (None: not measured); no file may grow past it, so a
    workspace at its limit cannot grow at all."""

    @property
    def file_size_bytes(self) -> int:
        """The largest file a program may write (RLIMIT_FSIZE)."""
        cap = self.max_file_mb * 1024 * 1024
        return cap if self.room_bytes is None else max(0, min(cap, self.room_bytes))

    def describe(self, reason: Reason) -> str:
        """The limit behind `reason`, in words."""
        return {
            "timeout": f"the wall-clock limit of {self.wall_seconds:g} s",
            "cpu_limit": f"the CPU-time limit of {self.cpu_seconds} s",
            "memory_limit": f"the memory limit of {self.memory_mb} MB",
            "process_limit": f"the process limit of {self.max_processes} processes",
            "file_size_limit": f"the file-size limit of {self.max_file_mb} MB" if self.file_size_bytes == self.max_file_mb * 1024 * 1024
            else f"the {self.file_size_bytes:,} bytes left of the workspace limit of {self.max_workspace_mb} MB "
                 "(delete files to make room)",
            "output_limit": f"the output limit of {self.max_output_bytes} bytes",
            "disk_limit": f"the workspace limit of {self.max_workspace_mb} MB (all of its files together; delete "
                          "files to make room)",
            "exited": "no limit",
        }[reason]


@dataclass
class RunOutcome:
    """What happened when a program ran in a sandbox."""

    exit_code: int | None
    """The program's exit status (128+N when a signal N ended it), None if it was stopped from outside."""
    stdout: bytes
    stderr: bytes
    reason: Reason
    killed: bool
    """True when the sandbox stopped the program (timeout, output flood) rather than it exiting."""
    wall_ms: float
    backend: str
    output_truncated: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def limit_hit(self) -> bool:
        return self.reason != "exited"


class Sandbox(Protocol):
    """A place to run untrusted programs; `run` never raises for anything the program does."""

    name: str

    def run(self, argv: list[str], *, workspace: Path, stdin: bytes = b"", limits: Limits,
            shared: Path | None = None) -> RunOutcome:
        """Run `argv` (resolved inside the sandbox, cwd = the workspace) and return its outcome.

        `shared`, when given, is mounted read-only at /shared.
        """
        ...

    def describe(self) -> dict[str, str]:
        """Facts about the backend: its name, its Python, its isolation."""
        ...

    def close(self) -> None:
        """Release whatever the backend holds (containers, clients)."""
        ...


# -- classification shared by the backends ----------------------------------------------------------

_MEMORY_MARKERS = (b"MemoryError", b"Cannot allocate memory", b"std::bad_alloc", b"out of memory")
_PROCESS_MARKERS = (
    b"Resource temporarily unavailable",  # EAGAIN from fork/clone (Python, bash)
    b"Cannot fork",  # dash
    b"can't start new thread",
    b"retry: Resource temporarily unavailable",
)
_SHELL_FORK_MARKERS = (b"fork: retry: Resource temporarily unavailable", b"fork: Resource temporarily unavailable",
                       b"Cannot fork")
_FILE_SIZE_MARKERS = (b"File too large", b"File size limit exceeded")


def classify_exit(exit_code: int | None, stderr: bytes) -> Reason:
    """Name the limit behind an exit, from the exit status and the tail of stderr."""
    if exit_code is not None and exit_code > 128:
        sig = exit_code - 128
        if sig == signal.SIGXCPU:
            return "cpu_limit"
        if sig == signal.SIGXFSZ:
            return "file_size_limit"
        if sig == signal.SIGKILL:
            return "cpu_limit"  # the hard RLIMIT_CPU is one second past the soft one
    tail = stderr[-4000:]
    if any(m in tail for m in _SHELL_FORK_MARKERS):
        return "process_limit"  # shells report failed forks and carry on, often to exit code 0
    if not exit_code:
        return "exited"
    if any(m in tail for m in _MEMORY_MARKERS):
        return "memory_limit"
    if any(m in tail for m in _PROCESS_MARKERS):
        return "process_limit"
    if any(m in tail for m in _FILE_SIZE_MARKERS):
        return "file_size_limit"
    return "exited"


def sandbox_uid(workspace: Path) -> int:
    """A stable unprivileged host uid for one workspace (so sessions do not share a process budget)."""
    digest = hashlib.sha256(str(workspace.resolve()).encode()).digest()
    return SANDBOX_UID_BASE + int.from_bytes(digest[:4], "big") % SANDBOX_UID_SPAN


def make_reachable(path: Path) -> None:
    """Let other uids traverse (not list) the folders above `path`, so a sandbox uid can mount it."""
    for parent in path.resolve().parents:
        st = parent.stat()
        if not st.st_mode & stat.S_IXOTH and st.st_uid == os.geteuid():
            os.chmod(parent, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)


def hand_workspace_to(workspace: Path, uid: int) -> None:
    """Make `workspace` writable by `uid` and reachable (traverse-only) through its parents.

    Only needed when the server runs as root and programs run as an unprivileged uid. Symlinks
    are changed themselves, never followed, and nothing outside the workspace changes owner.
    """
    if os.geteuid() != 0:
        return
    for dirpath, dirnames, filenames in os.walk(workspace):
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if st.st_uid != uid:
                os.lchown(path, uid, uid)
    os.chown(workspace, uid, uid)
    make_reachable(workspace)


def disk_usage(root: Path) -> int:
    """Bytes of disk the files under `root` occupy (allocated blocks; symlinks not followed)."""
    total = 0
    stack = [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
    return total


class WorkspaceQuota:
    """Watches the workspace while a run writes to it; the sandbox stops a run that takes it past the session's
    `max_workspace_mb` (the limit is the workspace's, not each run's: five runs share it). A workspace already
    over the limit may shrink but not grow.

    Mount-level quotas are not available to an unprivileged sandbox, so usage is sampled while the
    program runs (twice a second); RLIMIT_FSIZE bounds what one file can add between two samples.
    """

    interval = 0.5

    def __init__(self, workspace: Path, limits: Limits) -> None:
        self.workspace = workspace
        self.allowed = max(disk_usage(workspace), limits.max_workspace_mb * 1024 * 1024)
        self._next = time.monotonic() + self.interval

    def exceeded(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.interval
        return disk_usage(self.workspace) > self.allowed


def remove_special_files(workspace: Path) -> list[str]:
    """Delete what a program left in the workspace that is neither a file, a folder nor a symlink (FIFOs,
    sockets): opening a FIFO blocks until someone writes to it, so a tool reading the workspace would hang.
    Returns their workspace-relative paths."""
    removed = []
    for dirpath, _dirnames, filenames in os.walk(workspace):
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                mode = os.lstat(path).st_mode
                if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode) or stat.S_ISDIR(mode)):
                    os.unlink(path)
                    removed.append(os.path.relpath(path, workspace))
            except OSError:
                continue
    return removed


def pump(
    proc: subprocess.Popen,
    stdin: bytes,
    limits: Limits,
    kill: Callable[[], None],
    quota: WorkspaceQuota | None = None,
) -> tuple[bytes, bytes, Reason | None, bool]:
    """Feed stdin and collect stdout/stderr of `proc` until it ends, the deadline passes, output floods
    or the workspace grows past its quota.

    Returns (stdout, stderr, stop_reason or None, output_truncated). `kill` stops the whole sandbox.
    """
    deadline = time.monotonic() + limits.wall_seconds
    out = bytearray()
    err = bytearray()
    total = 0
    stop: Reason | None = None
    truncated = False
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    for stream, buf in ((proc.stdout, out), (proc.stderr, err)):
        os.set_blocking(stream.fileno(), False)
        sel.register(stream, selectors.EVENT_READ, buf)
    pending = memoryview(stdin)
    if pending:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE, None)
    else:
        proc.stdin.close()
    open_readers = 2
    try:
        while open_readers:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                stop = "timeout"
                break
            if quota is not None and quota.exceeded():
                stop = "disk_limit"
                break
            for key, _events in sel.select(timeout=min(remaining, 0.25)):
                if key.data is None:  # stdin is writable
                    try:
                        written = os.write(key.fd, pending[:65536])
                    except (BrokenPipeError, OSError):
                        written = len(pending)
                    pending = pending[written:]
                    if not pending:
                        sel.unregister(key.fileobj)
                        key.fileobj.close()
                    continue
                try:
                    chunk = os.read(key.fd, 65536)
                except OSError as exc:
                    if exc.errno == errno.EAGAIN:
                        continue
                    chunk = b""
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_readers -= 1
                    continue
                room = limits.max_output_bytes - total
                key.data.extend(chunk[: max(room, 0)])
                total += len(chunk)
                if total > limits.max_output_bytes:
                    stop, truncated = "output_limit", True
                    break
            if stop:
                break
    finally:
        if stop:
            kill()
        sel.close()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
    return bytes(out), bytes(err), stop, truncated


# -- bubblewrap ----------------------------------------------------------------------------------------

_SYSTEM_DIRS = ("bin", "sbin", "lib", "lib64", "lib32", "libx32")


class BubblewrapSandbox:
    """Programs run under bubblewrap: every namespace unshared (network included), `/usr` read-only,
    a private `/tmp`, the workspace bound read-write, rlimits applied by `prlimit` inside the sandbox,
    and an unprivileged uid when the server runs as root."""

    name = "bubblewrap"

    def __init__(self, python: str | None = None) -> None:
        self.bwrap = shutil.which("bwrap")
        if self.bwrap is None:
            raise ToolFailure(
                "the bubblewrap sandbox needs the `bwrap` program: install it with `apt-get install -y bubblewrap`"
            )
        self.prlimit = shutil.which("prlimit", path="/usr/bin:/bin")
        if self.prlimit is None:
            raise ToolFailure("the bubblewrap sandbox needs `prlimit` from util-linux under /usr/bin")
        self.setpriv = shutil.which("setpriv", path="/usr/bin:/bin")
        self.python = python or _system_python()
        self.no_nested_userns = _bwrap_can_disable_userns(self.bwrap)
        """bubblewrap 0.8+ can forbid the program new user namespaces (`unshare -r` would make it uid 0 in one)."""

    def describe(self) -> dict[str, str]:
        return {
            "backend": self.name,
            "python": self.python,
            "isolation": "bubblewrap: all namespaces unshared (no network)"
            + (", no nested user namespaces" if self.no_nested_userns else "")
            + ", read-only /usr, private /tmp, workspace read-write at /workspace, rlimits via prlimit",
        }

    def command(self, argv: list[str], workspace: Path, limits: Limits, info_fd: int | None = None,
                shared: Path | None = None) -> list[str]:
        """The full bwrap command line that runs `argv` confined to `workspace`."""
        cmd = [self.bwrap, "--unshare-all", *(["--unshare-user", "--disable-userns"] if self.no_nested_userns else []),
               "--die-with-parent", "--new-session", "--cap-drop", "ALL",
               "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
        for name in _SYSTEM_DIRS:
            host = Path("/") / name
            if host.is_symlink():
                cmd += ["--symlink", os.readlink(host), f"/{name}"]
            elif host.is_dir():
                cmd += ["--ro-bind", str(host), f"/{name}"]
        prefix = _python_prefix(self.python)
        if prefix is not None:  # a Python that lives outside /usr (a pyenv or a venv base): read-only
            cmd += ["--ro-bind", str(prefix), str(prefix)]
        cmd += ["--proc", "/proc", "--dev", "/dev",
                "--size", str(limits.tmp_mb * 1024 * 1024), "--tmpfs", "/tmp",
                "--bind", str(workspace), SANDBOX_WORKSPACE,
                *(["--ro-bind", str(shared), SANDBOX_SHARED] if shared is not None else []),
                # The root and /dev are bwrap's own tmpfs mounts: read-only, so /tmp (size-capped) and the
                # workspace are the only writable places.
                "--remount-ro", "/dev", "--remount-ro", "/",
                "--chdir", SANDBOX_WORKSPACE, "--clearenv"]
        for key, value in SANDBOX_ENV.items():
            cmd += ["--setenv", key, value]
        if info_fd is not None:
            cmd += ["--info-fd", str(info_fd)]
        mem = limits.memory_mb * 1024 * 1024
        fsize = limits.file_size_bytes
        cmd += ["--", self.prlimit,
                f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
                f"--as={mem}:{mem}",
                f"--nproc={limits.max_processes}:{limits.max_processes}",
                f"--fsize={fsize}:{fsize}",
                f"--nofile={limits.max_open_files}:{limits.max_open_files}",
                "--core=0:0", "--"]
        return cmd + argv

    def run(self, argv: list[str], *, workspace: Path, stdin: bytes = b"", limits: Limits,
            shared: Path | None = None) -> RunOutcome:
        workspace = workspace.resolve()
        kwargs: dict = {}
        drop: list[str] = []
        if os.geteuid() == 0:
            uid = sandbox_uid(workspace)
            hand_workspace_to(workspace, uid)
            # util-linux's setpriv drops to the uid just before bwrap starts. Asking Popen for user/group instead
            # does the same, but makes it fork the whole server process rather than vfork it, copying its page
            # tables: 39 ms instead of 18 ms a `python3 -c pass` (bench/sandbox_start.py, 300 MB process).
            if self.setpriv is not None:
                drop = [self.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
            else:
                kwargs = {"user": uid, "group": uid, "extra_groups": []}
        if shared is not None:
            shared = shared.resolve()
            make_reachable(shared)
        quota = WorkspaceQuota(workspace, limits)
        info_read, info_write = os.pipe()
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                drop + self.command(argv, workspace, limits, info_fd=info_write, shared=shared),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(info_write,),
                start_new_session=True, close_fds=True, cwd="/", env={"PATH": "/usr/bin:/bin"}, **kwargs,
            )
        except BaseException:
            os.close(info_read)
            raise
        finally:
            os.close(info_write)

        def kill() -> None:
            # Killing the sandbox's pid 1 makes the kernel kill every process of its pid namespace, and
            # bwrap exits only once they are all gone: so after `proc.wait()` nothing of the run is left.
            # Before the sandbox is set up (no pid 1 yet) the bwrap process group is killed instead.
            init_pid = _sandbox_init_pid(info_read)
            try:
                if init_pid is not None:
                    os.kill(init_pid, signal.SIGKILL)
                else:
                    os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        try:
            stdout, stderr, stop, truncated = pump(proc, stdin, limits, kill, quota)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            os.close(info_read)
        wall_ms = (time.monotonic() - started) * 1000
        code = proc.returncode
        if stop is not None:
            return RunOutcome(None, stdout, stderr, stop, True, wall_ms, self.name, truncated)
        if code is not None and code < 0:  # bwrap itself died from a signal
            code = 128 - code
        if code == 1 and stderr.startswith(b"bwrap:"):
            raise ToolFailure(f"the bubblewrap sandbox failed to start: {stderr.decode(errors='replace').strip()}")
        reason = classify_exit(code, stderr)
        return RunOutcome(code, stdout, stderr, reason, False, wall_ms, self.name)

    def close(self) -> None:
        pass


def _bwrap_can_disable_userns(bwrap: str) -> bool:
    try:
        return "--disable-userns" in subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False


def _sandbox_init_pid(info_fd: int) -> int | None:
    """The host pid of the sandbox's pid 1, from what bwrap wrote to its --info-fd (None if not yet)."""
    os.set_blocking(info_fd, False)
    try:
        data = os.read(info_fd, 65536)
    except BlockingIOError:
        return None
    match = re.search(rb'"child-pid"\s*:\s*(\d+)', data)
    return int(match.group(1)) if match else None


def _system_python() -> str:
    """The Python sandboxed programs run with: the system's, or the one this server runs on."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    import sys

    return str(Path(sys.base_prefix) / "bin" / "python3")


def _python_prefix(python: str) -> Path | None:
    """The installation folder to bind read-only when `python` lives outside /usr, else None."""
    real = Path(os.path.realpath(python))
    if real.is_relative_to("/usr"):
        return None
    return real.parent.parent


def open_sandbox(kind: str | None = None) -> Sandbox:
    """The sandbox named `kind` ('bubblewrap' or 'docker'); default: env DIVE_CODE_SANDBOX, else bubblewrap."""
    kind = (kind or os.environ.get("DIVE_CODE_SANDBOX") or "bubblewrap").lower()
    if kind in ("bubblewrap", "bwrap"):
        return BubblewrapSandbox()
    if kind == "docker":
        from .docker_backend import DockerSandbox

        return DockerSandbox()
    raise ToolFailure(f"unknown sandbox {kind!r}: use 'bubblewrap' (default) or 'docker'")


_SIGNAL_NAME = re.compile(r"^SIG[A-Z0-9]+$")


def signal_name(exit_code: int | None) -> str | None:
    """'SIGKILL' for exit status 137, None for ordinary exits."""
    if exit_code is None or exit_code <= 128:
        return None
    try:
        name = signal.Signals(exit_code - 128).name
    except ValueError:
        return None
    return name if _SIGNAL_NAME.match(name) else None
