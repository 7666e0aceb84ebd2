"""Synthesis and the client pool on servers we did not write: nothing a user owns is changed without consent, and
what synthesis makes of them reads as questions a person would ask.

A real git server from PyPI (mcp-server-git) on a repository the test creates, a small server whose tools carry
no annotations that logs every call it gets, and two npm servers (the knowledge-graph memory server and the SDK's
"everything" server; see `third_party_servers`); what they hold is compared before and after."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dive.env import ClientPool
from tests.synth import third_party_servers as tps

pytestmark = pytest.mark.anyio

GIT_WRITES = {"git_add", "git_checkout", "git_commit", "git_create_branch", "git_reset"}
git, repo_state = tps.git, tps.repo_state


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


def git_config(repo: Path, **extra) -> dict:
    return {"mcpServers": {"git": tps.git_server(repo, **extra)}}


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


# -- tasks from three real third-party servers, as a user meets them ------------------------------------------


def synth_on(server_name: str, server: dict, out: Path, world) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """`dive synth --servers CONFIG --n 30` with no seeds file, as the goal states it; the tasks it wrote."""
    config = out.parent / f"{server_name}.json"
    config.write_text(json.dumps({"mcpServers": {server_name: server}}))
    run = subprocess.run([sys.executable, "-m", "dive", "synth", "--out", str(out), "--n", "30", "--servers",
                          str(config), "--no-embedding-metrics", "--allow-short", "--world", str(world.root)],
                         check=False, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    tasks = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines() if line.strip()]
    return run, tasks


def assert_asked_as_a_person_would(tasks: list[dict], out: Path) -> None:
    """No question names a tool (as listed or in words), a step or a result; every question is distinct."""
    tools = json.loads((out / "manifest.json").read_text())["tools"]
    names = {n.lower() for n in tools} | {re.sub(r"[_-]+", " ", n.lower()) for n in tools}
    for task in tasks:
        question = task["question"].lower()
        assert not any(name in question for name in names), task["question"]
        assert "step" not in question.split() and "result of" not in question, task["question"]
        assert question.endswith("?")
    assert len({t["question"] for t in tasks}) == len(tasks)


def assert_no_planted_secret(out: Path, run: subprocess.CompletedProcess) -> None:
    for path in out.rglob("*"):
        if path.is_file():
            assert tps.PLANTED_TOKEN.encode() not in path.read_bytes(), path
    assert tps.PLANTED_TOKEN not in run.stdout + run.stderr


def test_git_server_gives_ten_questions_a_person_would_ask_whose_answers_git_confirms(tmp_path, world):
    repo = tps.make_repo(tmp_path / "history")
    before = tps.repo_state(repo)
    out = tmp_path / "git-out"
    run, tasks = synth_on("git", tps.git_server(repo, env={"GITHUB_TOKEN": tps.PLANTED_TOKEN}), out, world)
    assert tps.repo_state(repo) == before  # refs, HEAD, index and every file as they were
    assert len(tasks) >= 10, [t["question"] for t in tasks]
    assert_asked_as_a_person_would(tasks, out)
    assert_no_planted_secret(out, run)
    assert any(len(t["solution"]) >= 2 for t in tasks), "no task needs more than one call"
    # Answers recomputed with git itself, not with the server that made them.
    log = [line.split("\x1f") for line in tps.git(
        repo, "log", "--date=format:%Y-%m-%d %H:%M:%S %z", "--format=%H\x1f%an <%ae>\x1f%ad\x1f%s").splitlines()]
    by_message = {message: (sha, author, date) for sha, author, date, message in log}
    by_sha = {sha: (author, date) for sha, author, date, _ in log}
    checked = 0
    for task in tasks:
        question, answer = task["question"], str(task["answer"])
        about = re.search(r'the commit whose message is "([^"]+)"\?$', question)
        revision = re.search(r'the revision "([0-9a-f]{40})"\?$', question)
        extreme = re.search(r"the (most recent|earliest) commit\?$", question)
        author, date = (by_message[about.group(1)][1:] if about else by_sha[revision.group(1)] if revision
                        else tuple(log[0 if extreme.group(1) == "most recent" else -1][1:3]) if extreme
                        else (None, None))
        if "who is the author of" in question and author:
            assert answer == author, (question, answer)
        elif "what is the date of" in question and date:
            assert answer == date, (question, answer)
        elif "how many commits are there" in question:
            assert int(answer) == int(tps.git(repo, "rev-list", "--count", "HEAD"))
        else:
            continue
        checked += 1
    assert checked >= 8, [t["question"] for t in tasks]


def npm_cache() -> Path:
    found = tps.npm_servers()
    if isinstance(found, str):
        pytest.skip(found)
    return found


def test_memory_server_questions_come_from_its_graph_and_leave_it_as_it_was(tmp_path, world):
    import anyio

    graph = tmp_path / "memory.jsonl"
    server = tps.npm_server(npm_cache(), "memory", env={"MEMORY_FILE_PATH": str(graph), "API_TOKEN": tps.PLANTED_TOKEN})
    anyio.run(tps.fill_memory, server)  # the test writes the graph through the server's own tools
    before = graph.read_bytes()
    out = tmp_path / "memory-out"
    run, tasks = synth_on("memory", server, out, world)
    assert graph.read_bytes() == before
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"create_entities", "create_relations", "delete_entities"} <= set(manifest["excluded_tools"])
    assert len(tasks) >= 10, [t["question"] for t in tasks]
    assert_asked_as_a_person_would(tasks, out)
    assert_no_planted_secret(out, run)
    entities = {e["name"]: e for e in tps.ENTITIES}
    checked = 0
    for task in tasks:
        question, answer = task["question"], task["answer"]
        named = re.search(r'the entity "([^"]+)"\?$', question)
        if question == "How many entities are there in the entire knowledge graph?":
            assert answer == len(tps.ENTITIES)
        elif question == "How many relations are there in the entire knowledge graph?":
            assert answer == len(tps.RELATIONS)
        elif named and question.startswith("What is the type of"):
            assert answer == entities[named.group(1)]["entityType"]
        elif named and question.startswith("How many observations"):
            assert answer == len(entities[named.group(1)]["observations"])
        elif (typed := re.fullmatch(r'How many entities are there matching the type of the entity "([^"]+)"\?',
                                    question)):
            kind = entities[typed.group(1)]["entityType"]  # the server matches names, types and observations
            assert answer == sum(kind in " ".join([e["name"], e["entityType"], *e["observations"]]).lower()
                                 for e in tps.ENTITIES)
        else:
            continue
        checked += 1
    assert checked >= 3, [t["question"] for t in tasks]


def test_everything_server_gives_ten_questions_and_keeps_its_environment_secret(tmp_path, world):
    # A config's env as users write it: a key (the planted token) beside plain settings, which are facts to ask.
    settings = {"TZ": "Europe/London", "LANG": "en_GB.UTF-8"}
    server = tps.npm_server(npm_cache(), "everything", "stdio", env={"API_KEY": tps.PLANTED_TOKEN, **settings})
    out = tmp_path / "everything-out"
    run, tasks = synth_on("everything", server, out, world)
    assert len(tasks) >= 10, [t["question"] for t in tasks]
    assert_asked_as_a_person_would(tasks, out)
    assert_no_planted_secret(out, run)  # its get-env tool returns the token: the pool hides it everywhere
    assert not any("redacted" in str(t["answer"]).lower() for t in tasks)
    for task in tasks:  # what the server's environment holds, the test knows without asking the server
        variable = re.fullmatch(r"What is the value of (\w+) among all environment variables\?", task["question"])
        if variable:
            assert task["answer"] == {**os.environ, **settings}[variable.group(1)]


def _one_call_evidence(output_schema: dict | None) -> tuple:
    """Evidence of one call to a train look-up whose result fields are `from` and `to` (keys that are no nouns)."""
    import random
    from types import SimpleNamespace

    from dive.env.trace import ListedTool, ToolCallRecord, Trace
    from dive.synth.builtin import Evidence, Step
    from dive.synth.records import SeedEntity
    from dive.synth.values import Value

    tool = ListedTool(server="rail", name="lookup_train", description="Looks it up.", output_schema=output_schema,
                      input_schema={"type": "object", "properties": {"train": {"type": "string",
                                                                                "description": "Train number"}},
                                    "required": ["train"]})
    record = ToolCallRecord(index=0, server="rail", tool="lookup_train", arguments={"train": "IC 123"},
                            result={"from": "Paris", "to": "Lyon"})
    evidence = Evidence(session=SimpleNamespace(trace=Trace(session="t", calls=[record])),
                        seed=SeedEntity(id="train:IC 123", type="train", name="IC 123"))
    evidence.steps.append(Step(0, 0, {"train": Value("IC 123", "train", "seed:train", None)}, ok=True))
    evidence.tools[0] = tool
    return evidence, random.Random(0)


def test_a_result_its_server_gives_no_words_for_is_refused_as_cannot_phrase():
    from dive.synth.builtin import derive_task

    evidence, rng = _one_call_evidence(None)
    assert derive_task(evidence, 0, rng, set()) is None
    assert evidence.refusals == ["cannot_phrase"]
    # The same result, where the output schema says what its fields are, is asked in those words.
    described = {"type": "object", "properties": {"from": {"type": "string", "description": "Departure city"},
                                                  "to": {"type": "string", "description": "Arrival city"}}}
    evidence, rng = _one_call_evidence(described)
    derived = derive_task(evidence, 0, rng, set())
    assert derived is not None and derived.question in (
        'What is the departure city of the train number "IC 123"?',
        'What is the arrival city of the train number "IC 123"?'), derived.question
    assert "lookup" not in derived.question.lower() and "step" not in derived.question.lower()
