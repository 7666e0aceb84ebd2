"""Synthesis and the client pool on servers we did not write: nothing a user owns is changed without consent.

A real git server from PyPI (mcp-server-git) on a repository the test creates, and a small server whose tools
carry no annotations that logs every call it gets; the repository is compared before and after."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dive.env import ClientPool

pytestmark = pytest.mark.anyio

GIT_WRITES = {"git_add", "git_checkout", "git_commit", "git_create_branch", "git_reset"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    """A scratch repository with three commits, a second branch and a staged and an unstaged change."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "ada@example.org")
    git(path, "config", "user.name", "Ada")
    for i in range(1, 4):
        (path / f"notes{i}.txt").write_text(f"topic {i}\n")
        git(path, "add", ".")
        git(path, "commit", "-q", "-m", f"Add notes on topic {i}")
    git(path, "branch", "-q", "feature")
    (path / "notes1.txt").write_text("topic 1, revised\n")
    (path / "staged.txt").write_text("staged\n")
    git(path, "add", "staged.txt")
    return path


def repo_state(path: Path) -> dict[str, str]:
    """Everything a git tool could change: refs, HEAD, the index, every file of the work tree."""
    files = {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(path.rglob("*")) if p.is_file() and ".git" not in p.relative_to(path).parts}
    return {"refs": git(path, "show-ref"), "head": git(path, "symbolic-ref", "HEAD"),
            "index": hashlib.sha256((path / ".git" / "index").read_bytes()).hexdigest(),
            "status": git(path, "status", "--porcelain"), "files": json.dumps(files)}


def git_config(repo: Path, **extra) -> dict:
    binary = Path(sys.executable).with_name("mcp-server-git")
    return {"mcpServers": {"git": {"command": str(binary), "args": ["--repository", str(repo)], **extra}}}


def test_synthesis_leaves_a_git_repository_as_it_was_and_says_which_tools_it_left_out(repo, tmp_path, world):
    before = repo_state(repo)
    config = tmp_path / "servers.json"
    config.write_text(json.dumps(git_config(repo)))
    out = tmp_path / "git"
    run = subprocess.run([sys.executable, "-m", "dive", "synth", "--out", str(out), "--n", "5", "--servers",
                          str(config), "--rounds", "2", "--no-embedding-metrics", "--world", str(world.root)],
                         capture_output=True, text=True, timeout=600)
    assert repo_state(repo) == before
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["excluded_tools"]) == GIT_WRITES
    assert "destructive" in manifest["excluded_tools"]["git_reset"]
    assert GIT_WRITES.isdisjoint(manifest["tools"]) and "git_log" in manifest["tools"]
    report = (out / "report.md").read_text()
    assert "## Tools left out" in report and "| git_commit |" in report
    # Fewer tasks than asked: the run says so, why, and what to try, and fails unless told a short run is fine.
    made = manifest["counts"]["selected"]
    if made < 5:
        assert run.returncode == 1 and "--allow-short" in run.stderr, run.stderr
        assert "fewer tasks than asked" in run.stdout and "try:" in run.stdout
        assert "## Fewer tasks than asked" in report


async def test_the_pool_refuses_a_writing_tool_unless_the_user_allows_writes(repo):
    before = repo_state(repo)
    async with ClientPool(git_config(repo)) as pool:
        rec = await pool.call("git_create_branch", {"repo_path": str(repo), "branch_name": "synth-was-here"})
        assert rec.is_error and "refused" in rec.error and "--allow-writes" in rec.error
        log = await pool.call("git_log", {"repo_path": str(repo), "max_count": 5})
        assert not log.is_error and "Add notes on topic 3" in log.text
    assert repo_state(repo) == before
    async with ClientPool(git_config(repo), allow_writes=True) as pool:
        rec = await pool.call("git_create_branch", {"repo_path": str(repo), "branch_name": "allowed"})
        assert not rec.is_error, rec.error
    assert "refs/heads/allowed" in git(repo, "show-ref")


NO_ANNOTATIONS = textwrap.dedent('''
    import sys
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    LOG = sys.argv[1]
    server = MCPServer("notes")

    def logged(name):
        with open(LOG, "a") as f:
            f.write(name + "\\n")

    @server.tool()
    def list_notes() -> str:
        """List the notes."""
        logged("list_notes")
        return "shopping\\ntodo"

    @server.tool()
    def delete_note(name: str) -> str:
        """Delete a note."""
        logged("delete_note")
        return f"deleted {name}"

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def count_notes() -> int:
        """Count the notes."""
        logged("count_notes")
        return 2

    server.run()
''')


async def test_a_tool_without_annotations_counts_as_writing_unless_the_config_vouches_for_it(tmp_path):
    script, log = tmp_path / "notes_server.py", tmp_path / "calls.log"
    script.write_text(NO_ANNOTATIONS)
    server = {"command": sys.executable, "args": [str(script), str(log)]}
    async with ClientPool({"mcpServers": {"notes": server}}) as pool:
        listed = pool.exposed_names()
        assert listed["list_notes"].writes and listed["delete_note"].destructive
        assert not listed["count_notes"].writes
        for tool in ("list_notes", "delete_note"):
            rec = await pool.call(tool, {"name": "todo"} if tool == "delete_note" else {})
            assert rec.is_error and "has no MCP annotations" in rec.error and "readOnlyTools" in rec.error
        assert not (await pool.call("count_notes", {})).is_error
    assert log.read_text().split() == ["count_notes"]  # the refused calls never reached the server
    vouched = {"mcpServers": {"notes": {**server, "readOnlyTools": ["list_notes"]}}}
    async with ClientPool(vouched) as pool:
        rec = await pool.call("list_notes", {})
        assert not rec.is_error and "shopping" in rec.text
        assert (await pool.call("delete_note", {"name": "todo"})).is_error
    assert log.read_text().split() == ["count_notes", "list_notes"]

    from dive.synth.catalog import ToolCatalog

    async with ClientPool(vouched) as pool:
        catalog = ToolCatalog.from_exposed(pool.exposed_names())
        permissive = ToolCatalog.from_exposed(pool.exposed_names(), allow_writes=True)
    assert sorted(catalog.tools) == ["count_notes", "list_notes"] and list(catalog.excluded) == ["delete_note"]
    assert "delete_note" not in permissive.tools  # destructive (MCP's default for a writing tool): never


def test_dive_v0_shows_the_refusal_and_the_server_never_sees_the_call_unless_writes_are_allowed(tmp_path):
    import gymnasium as gym

    import dive  # noqa: F401  (registers DIVE-v0)
    from dive.env.chat_format import render_tool_call
    from tests.env.test_dive_env import scaffold_task

    script, log = tmp_path / "notes_server.py", tmp_path / "calls.log"
    script.write_text(NO_ANNOTATIONS)
    config = {"mcpServers": {"notes": {"command": sys.executable, "args": [str(script), str(log)]}}}
    task = scaffold_task("notes-delete", ["delete_note"], "Delete the todo note.", "done", domains=("notes",))
    action = render_tool_call("delete_note", {"name": "todo"})
    env = gym.make("DIVE-v0", tasks=[task], servers=config)
    try:
        env.reset(seed=0)
        observation, *_ = env.step(action)
    finally:
        env.close()
    assert "refused: delete_note" in observation and "--allow-writes" in observation, observation
    assert not log.exists()
    env = gym.make("DIVE-v0", tasks=[task], servers=config, allow_writes=True)
    try:
        env.reset(seed=0)
        observation, *_ = env.step(action)
    finally:
        env.close()
    assert "deleted todo" in observation and log.read_text().split() == ["delete_note"]
