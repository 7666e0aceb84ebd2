"""The code domain's declaration and per-session state: a private workspace and a sandbox to run code in."""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

from pydantic import BaseModel, Field

from dive.servers.kit import (
    Domain,
    SessionContext,
    ToolFailure,
    clip_text,
    relative_to_root,
    resolve_in_root,
)

from .harness import new_marker, split_report
from .sandbox import Limits, RunOutcome, Sandbox, disk_usage, open_sandbox, remove_special_files, signal_name
from .seed_workspace import seed_workspace

#: Longest source text (code, patches, documents) a tool accepts.
MAX_SOURCE_CHARS = 200_000
#: Longest wall-clock limit a caller may ask for, in seconds.
MAX_RUN_SECONDS = 30.0
#: The kit's per-call timeout for tools that run code: the longest run plus sandbox start-up.
RUN_TOOL_TIMEOUT = 75.0


class CodeState:
    """One session's code workspace (`<session dir>/workspace`, seeded with examples) and its sandbox."""

    def __init__(self, ctx: SessionContext) -> None:
        self._workspace = ctx.directory / "workspace"
        self._world = ctx.world
        self._seeded = False
        self.shared = ctx.shared_directory
        self.backend = str(ctx.options.get("sandbox") or os.environ.get("DIVE_CODE_SANDBOX") or "bubblewrap")
        self.workspace_mb = int(ctx.options.get("workspace_mb") or Limits.max_workspace_mb)
        """What the session's workspace may hold in all, written by runs or by tools."""
        self._sandbox: Sandbox | None = None
        self._lock = threading.Lock()

    @property
    def workspace(self) -> Path:
        """The session's workspace, seeded on first use (tools that only compute on their arguments, or that
        a memo answers, never need it, and seeding writes some thirty files)."""
        with self._lock:
            if not self._seeded:
                seed_workspace(self._workspace, self._world)
                self._seeded = True
        return self._workspace

    @property
    def sandbox(self) -> Sandbox:
        """The session's sandbox, opened on first use (the Docker backend may prepare its image then)."""
        with self._lock:
            if self._sandbox is None:
                self._sandbox = open_sandbox(self.backend)
            return self._sandbox

    @property
    def python(self) -> str:
        """The Python interpreter inside the sandbox."""
        return getattr(self.sandbox, "python", "python3")

    def path(self, rel: str, *, must_exist: bool = False) -> Path:
        """A workspace-relative path resolved inside the workspace (refusing escapes)."""
        return resolve_in_root(self.workspace, rel, must_exist=must_exist)

    def rel(self, path: Path) -> str:
        return relative_to_root(self.workspace, path)

    def execute(self, argv: list[str], *, stdin: str = "", timeout: float = 10.0) -> tuple[RunOutcome, Limits]:
        """Run `argv` in the sandbox with limits derived from `timeout` (the CPU limit equals it)."""
        if not 0 < timeout <= MAX_RUN_SECONDS:
            raise ToolFailure(f"timeout_seconds must be between 1 and {MAX_RUN_SECONDS:g}")
        cap = self.workspace_mb * 1024 * 1024
        before = disk_usage(self.workspace)
        limits = Limits(cpu_seconds=max(1, math.ceil(timeout)), wall_seconds=timeout + 0.5,
                        max_workspace_mb=self.workspace_mb, room_bytes=cap - before)
        shared = self.shared if self.shared.is_dir() else None
        try:
            outcome = self.sandbox.run(argv, workspace=self.workspace, stdin=stdin.encode("utf-8"), limits=limits,
                                       shared=shared)
        finally:
            removed = remove_special_files(self.workspace)
        if removed:
            outcome.notes.append(f"removed {len(removed)} FIFO(s) or socket(s) the program left in the workspace "
                                 f"({', '.join(sorted(removed)[:5])}): tools read only files and folders")
        if outcome.reason == "exited" and disk_usage(self.workspace) > max(cap, before):
            outcome.reason = "disk_limit"  # it wrote past the limit between two samples: its next runs cannot grow
        return outcome, limits

    def check_room(self, adding: int) -> None:
        """Refuse a write that would take the workspace past its limit (the same one runs are held to)."""
        if adding > 0 and disk_usage(self.workspace) + adding > self.workspace_mb * 1024 * 1024:
            raise ToolFailure(f"the workspace would grow past its limit of {self.workspace_mb} MB; delete "
                              "files first (run_shell with rm)")

    def drive(self, driver: str, args: list[str], *, stdin: str = "", timeout: float = 20.0) -> tuple[dict, RunResult]:
        """Run one of the harness drivers and return (its JSON report, the run's own result)."""
        marker = new_marker()
        outcome, limits = self.execute([self.python, "-c", driver, marker, *args], stdin=stdin, timeout=timeout)
        stopped_by_limit(outcome, limits)
        raw = outcome.stdout.decode("utf-8", errors="replace")
        printed, report = split_report(raw, marker)
        outcome.stdout = printed.encode("utf-8")
        result = run_result(outcome)
        if report is None:
            detail = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit code {result.exit_code}"
            raise ToolFailure(f"the code could not be run to the end: {detail}")
        return report, result

    def close(self) -> None:
        with self._lock:
            if self._sandbox is not None:
                self._sandbox.close()
                self._sandbox = None


DOMAIN = Domain(
    "code",
    "Write, run, test and analyse code in a private workspace. Python and shell run in a sandbox "
    "(no network, CPU/memory/process/output limits, only the workspace is writable); linting and "
    "formatting use ruff; JSON Schema validation, regex testing, diffs, patches and AST-based code "
    "metrics are included. The workspace starts with example programs, tests and data CSVs.",
    CodeState,
)


class RunResult(BaseModel):
    """What a sandboxed program did."""

    exit_code: int = Field(description="Exit status; 0 means success, 128+N means signal N ended it")
    ok: bool = Field(description="True when the exit code is 0")
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    signal: str | None = Field(description="Name of the signal that ended the program, if one did")
    duration_ms: float = Field(description="Wall-clock time of the run, sandbox start-up included")
    backend: str = Field(description="The sandbox that ran it: bubblewrap or docker")


def run_result(outcome: RunOutcome) -> RunResult:
    stdout, out_cut = clip_text(outcome.stdout.decode("utf-8", errors="replace"))
    stderr, err_cut = clip_text(outcome.stderr.decode("utf-8", errors="replace"))
    code = outcome.exit_code if outcome.exit_code is not None else -1
    return RunResult(exit_code=code, ok=code == 0, stdout=stdout, stderr=stderr, stdout_truncated=out_cut,
                     stderr_truncated=err_cut, signal=signal_name(outcome.exit_code),
                     duration_ms=round(outcome.wall_ms, 1), backend=outcome.backend)


def stopped_by_limit(outcome: RunOutcome, limits: Limits) -> None:
    """Raise a tool error naming the limit when the sandbox stopped the program or it ran out of a resource."""
    if not outcome.limit_hit:
        return
    how = "killed" if outcome.killed else "failed"
    tail = outcome.stderr.decode("utf-8", errors="replace").strip()[-600:]
    out_tail = outcome.stdout.decode("utf-8", errors="replace").strip()[-300:]
    parts = [f"{how}: {outcome.reason} - the program exceeded {limits.describe(outcome.reason)} and was stopped"
             if outcome.killed else
             f"{how}: {outcome.reason} - the program ran out of {limits.describe(outcome.reason)}"]
    if outcome.exit_code is not None:
        parts.append(f"exit code {outcome.exit_code}")
    if tail:
        parts.append(f"stderr ends: {tail}")
    if out_tail:
        parts.append(f"stdout ends: {out_tail}")
    parts.append("the sandbox is intact; make the program lighter or ask for a longer timeout_seconds")
    raise ToolFailure("; ".join(parts))


def load_source(state: CodeState, code: str, path: str) -> tuple[str, str]:
    """(source text, label) from exactly one of inline `code` or a workspace `path`."""
    if bool(code) == bool(path):
        raise ToolFailure("give exactly one of `code` (the source text) or `path` (a workspace file)")
    if path:
        file = state.path(path, must_exist=True)
        if not file.is_file():
            raise ToolFailure(f"not a file: {path}")
        if file.stat().st_size > MAX_SOURCE_CHARS * 4:
            raise ToolFailure(f"{path} is too large to analyse (over {MAX_SOURCE_CHARS} characters)")
        text = file.read_text(encoding="utf-8", errors="replace")
        label = state.rel(file)
    else:
        text, label = code or "", "<code>"
    if len(text) > MAX_SOURCE_CHARS:
        raise ToolFailure(f"the source is {len(text)} characters, over the {MAX_SOURCE_CHARS} limit")
    return text, label
