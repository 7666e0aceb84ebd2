"""Real third-party MCP servers for the tests, set up as a user would: mcp-server-git from PyPI (the dev extras)
on a repository made here, and two npm servers — the knowledge-graph memory server, filled through its own
tools, and the SDK's "everything" demo server — installed once into a cache folder.

The npm packages go to `$DIVE_NPM_CACHE` (default `~/.cache/dive/npm-servers`), pinned, so a second run needs no
network; with neither npm nor the registry, `npm_servers` says why and the tests that need them skip."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

NPM_PACKAGES = {"memory": ("@modelcontextprotocol/server-memory", "2026.8.31"),
                "everything": ("@modelcontextprotocol/server-everything", "2026.8.31")}
#: A token the tests plant in each server's config env: no output file may contain it.
PLANTED_TOKEN = "ghp_PLANTEDsecretTOKEN0123456789abcdefXYZ"


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}).stdout


#: The scratch repository's history: (author, day, message, {file: text}); a second branch forks after 3.
HISTORY = [
    ("Ada Lovelace", "2024-01-03", "Start the notes", {"README.md": "# Notes\n"}),
    ("Ada Lovelace", "2024-01-10", "Add the engine notes", {"engine.txt": "difference engine\n"}),
    ("Charles Babbage", "2024-02-02", "Describe the analytical engine", {"engine.txt": "analytical engine\n"}),
    ("Grace Hopper", "2024-03-15", "Add a compiler chapter", {"compiler.txt": "A-0 system\n"}),
    ("Ada Lovelace", "2024-04-01", "Fix a typo in the readme", {"README.md": "# Notes on engines\n"}),
    ("Alan Turing", "2024-05-20", "Add a machine chapter", {"machine.txt": "universal machine\n"}),
]


def make_repo(path: Path) -> Path:
    """A repository with a history of several authors on distinct days, a second branch, and a staged and an
    unstaged change (what a user's working copy looks like)."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "notes@example.org")
    git(path, "config", "user.name", "Notes")
    for number, (author, day, message, files) in enumerate(HISTORY):
        for name, text in files.items():
            (path / name).write_text(text)
        git(path, "add", ".")
        when = f"{day}T10:00:00+00:00"
        email = author.split()[0].lower() + "@example.org"
        git(path, "commit", "-q", "-m", message, env={
            "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": when,
            "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": when})
        if number == 2:
            git(path, "branch", "-q", "feature")
    (path / "engine.txt").write_text("analytical engine, revised\n")
    (path / "todo.txt").write_text("staged\n")
    git(path, "add", "todo.txt")
    return path


def repo_state(path: Path) -> dict[str, str]:
    """Everything a git tool could change: refs, HEAD, the index, every file of the work tree."""
    files = {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(path.rglob("*")) if p.is_file() and ".git" not in p.relative_to(path).parts}
    return {"refs": git(path, "show-ref"), "head": git(path, "symbolic-ref", "HEAD"),
            "index": hashlib.sha256((path / ".git" / "index").read_bytes()).hexdigest(),
            "status": git(path, "status", "--porcelain"), "files": json.dumps(files)}


def git_server(repo: Path, **extra) -> dict:
    binary = Path(sys.executable).with_name("mcp-server-git")
    return {"command": str(binary), "args": ["--repository", str(repo)], **extra}


def npm_servers() -> Path | str:
    """The folder holding the npm servers (installed on first use, or by `make test`), or why they cannot be had."""
    cache = Path(os.environ.get("DIVE_NPM_CACHE") or Path.home() / ".cache" / "dive" / "npm-servers")
    if all(_installed(cache, package) == version for package, version in NPM_PACKAGES.values()):
        return cache
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return "node and npm are not installed (apt-get install nodejs npm)"
    cache.mkdir(parents=True, exist_ok=True)
    wanted = sorted(f"{package}@{version}" for package, version in NPM_PACKAGES.values())
    run = subprocess.run([npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--loglevel=error",
                          *wanted], check=False, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        return f"npm could not install {', '.join(wanted)} (is the npm registry reachable?): " + run.stderr.strip()[-300:]
    return cache


def _installed(cache: Path, package: str) -> str | None:
    manifest = cache / "node_modules" / package / "package.json"
    return json.loads(manifest.read_text()).get("version") if manifest.is_file() else None


def npm_server(cache: Path, which: str, *args: str, **extra) -> dict:
    package = NPM_PACKAGES[which][0]
    script = cache / "node_modules" / package / "dist" / "index.js"
    return {"command": shutil.which("node") or "node", "args": [str(script), *args], **extra}


#: The knowledge graph the memory test writes through the server's own tools before synthesis reads it.
ENTITIES = [
    {"name": "Ada Lovelace", "entityType": "person",
     "observations": ["wrote the first published algorithm", "was born in London", "corresponded with Babbage"]},
    {"name": "Charles Babbage", "entityType": "person", "observations": ["designed the analytical engine"]},
    {"name": "Analytical Engine", "entityType": "machine",
     "observations": ["was never completed", "used punched cards"]},
    {"name": "London", "entityType": "city", "observations": ["is the capital of England", "lies on the Thames"]},
    {"name": "Royal Society", "entityType": "organization", "observations": ["was founded in 1660"]},
    {"name": "Grace Hopper", "entityType": "person",
     "observations": ["wrote the A-0 compiler", "served in the US Navy", "coined the word bug", "was born in New York"]},
    {"name": "Harvard Mark I", "entityType": "machine", "observations": ["was built by IBM"]},
]
RELATIONS = [
    {"from": "Ada Lovelace", "to": "Analytical Engine", "relationType": "wrote about"},
    {"from": "Ada Lovelace", "to": "London", "relationType": "lived in"},
    {"from": "Charles Babbage", "to": "Analytical Engine", "relationType": "designed"},
    {"from": "Charles Babbage", "to": "Royal Society", "relationType": "was a fellow of"},
    {"from": "Grace Hopper", "to": "Harvard Mark I", "relationType": "programmed"},
]


async def fill_memory(server: dict) -> None:
    """Write the graph through the memory server's own create tools (the test writing, not synthesis)."""
    from dive.env import ClientPool

    async with ClientPool({"mcpServers": {"memory": server}}, allow_writes=True) as pool:
        for tool, arguments in (("create_entities", {"entities": ENTITIES}),
                                ("create_relations", {"relations": RELATIONS})):
            record = await pool.call(tool, arguments)
            assert not record.is_error, record.error
