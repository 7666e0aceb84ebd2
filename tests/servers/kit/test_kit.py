"""The server kit: registration refuses incomplete tools, sessions are isolated, paths are confined."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import pytest
from mcp import Client
from pydantic import BaseModel, Field

from dive.env import ClientPool
from dive.servers.kit import (
    TOOL_META_KEY, CopyOnWrite, Domain, Example, Memo, SessionContext, ToolFailure, clip_items, clip_text,
    content_key, resolve_in_root,
)


class Notes(BaseModel):
    notes: list[str]


class Echo(BaseModel):
    text: str | None
    items: list[int]


class NotesState:
    def __init__(self, ctx: SessionContext) -> None:
        self.notes: list[str] = []
        self.closed = False

    def close(self) -> None:
        self.closed = True


def make_domain() -> Domain:
    domain = Domain("notes", "A tiny domain for testing the kit.", NotesState)

    @domain.tool(kind="processing", writes=True, examples=[Example({"text": "a"}, lambda r: r["notes"] == ["a"])])
    def add_note(s: NotesState, text: Annotated[str, Field(description="The note.")]) -> Notes:
        """Add a note to this session's list."""
        s.notes.append(text)
        return Notes(notes=s.notes)

    @domain.tool(kind="retrieval", examples=[Example({}, lambda r: r["notes"] == [])])
    def list_notes(s: NotesState) -> Notes:
        """List this session's notes."""
        return Notes(notes=s.notes)

    @domain.tool(kind="retrieval", timeout=0.5, examples=[Example({}, lambda r: True)])
    def stall(s: NotesState) -> Notes:
        """Take far too long."""
        import time

        time.sleep(5)
        return Notes(notes=[])

    @domain.tool(kind="retrieval", examples=[Example({}, lambda r: True)])
    def refuse(s: NotesState) -> Notes:
        """Always refuse."""
        raise ToolFailure("refused on purpose: pass a different note")

    return domain


def test_registration_refuses_incomplete_tools():
    domain = Domain("d", "d", NotesState)
    with pytest.raises(ValueError, match="self-test"):
        domain.tool(kind="retrieval", examples=[])(lambda s: Notes(notes=[]))

    def undocumented(s: NotesState) -> Notes:
        return Notes(notes=[])

    with pytest.raises(ValueError, match="docstring"):
        domain.tool(kind="retrieval", examples=[Example({}, bool)])(undocumented)

    def untyped(s: NotesState) -> dict:
        """No output schema."""
        return {}

    with pytest.raises(ValueError, match="pydantic model"):
        domain.tool(kind="retrieval", examples=[Example({}, bool)])(untyped)




@pytest.mark.anyio
async def test_listed_tools_carry_schemas_and_dive_metadata():
    server = make_domain().create_server(lambda: None)
    async with ClientPool(servers={"notes": server.mcp}) as pool:
        tools = {t.name: t for t in pool.tools()}
    add = tools["add_note"]
    assert add.input_schema["properties"]["text"]["description"] == "The note."
    assert "ctx" not in add.input_schema["properties"]
    assert add.output_schema and "notes" in add.output_schema["properties"]
    assert add.meta[TOOL_META_KEY] == {"domain": "notes", "kind": "processing", "held_out": False, "writes": True,
                                       "examples": [{"text": "a"}]}
    assert add.description == "Add a note to this session's list."


@pytest.mark.anyio
async def test_sessions_named_by_meta_are_isolated_and_errors_are_tool_errors():
    server = make_domain().create_server(lambda: None)
    async with ClientPool(servers={"notes": server.mcp}) as pool:
        assert (await pool.call("add_note", {"text": "first"})).result == {"notes": ["first"]}
        pool.new_session()
        assert (await pool.call("list_notes", {})).result == {"notes": []}
        timed_out = await pool.call("stall", {})
        assert timed_out.is_error and "timed out after 0.5 s" in timed_out.error
        refused = await pool.call("refuse", {})
        assert refused.is_error and "refused on purpose" in refused.error
        bad = await pool.call("add_note", {"txt": "x"})
        assert bad.is_error and "text" in bad.error
    server.close()


@pytest.mark.anyio
async def test_legacy_connections_are_sessions_and_end_with_the_connection():
    server = make_domain().create_server(lambda: None)
    async with Client(server.mcp, mode="legacy") as first, Client(server.mcp, mode="legacy") as second:
        await first.call_tool("add_note", {"text": "only in first"})
        seen = await second.call_tool("list_notes", {})
        assert seen.structured_content == {"notes": []}
        again = await first.call_tool("list_notes", {})
        assert again.structured_content == {"notes": ["only in first"]}
        assert len(server.sessions) == 2
    assert len(server.sessions) == 0  # both sessions ended with their connections
    server.close()


@pytest.mark.parametrize(
    "path",
    ["../outside", "/etc/passwd", "a/../../b", "a/../b", "ok\x00.txt", "~/x", "~root", "", "   ", "..", "./..",
     "..\\..\\windows", "C:/x", "a/b/../../../c"],
)
def test_paths_that_leave_the_root_are_refused(tmp_path, path):
    (tmp_path / "a").mkdir()
    with pytest.raises(ToolFailure):
        resolve_in_root(tmp_path, path)


def test_symlinks_out_of_the_root_are_refused_and_inside_ones_allowed(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "inside.txt").write_text("x")
    os.symlink("/etc", root / "escape")
    os.symlink("inside.txt", root / "alias")
    with pytest.raises(ToolFailure, match="symlink"):
        resolve_in_root(root, "escape/passwd")
    assert resolve_in_root(root, "alias") == (root / "inside.txt").resolve()
    assert resolve_in_root(root, ".") == root.resolve()
    assert resolve_in_root(root, "new/file.txt") == root.resolve() / "new" / "file.txt"


def test_copy_on_write_never_touches_the_base(tmp_path):
    base = tmp_path / "base"
    (base / "d").mkdir(parents=True)
    (base / "d" / "f.txt").write_text("base")
    os.chmod(base / "d" / "f.txt", 0o444)
    cow = CopyOnWrite(base, tmp_path / "private")
    assert cow.path == base and not cow.copied
    private = cow.writable()
    assert cow.path == private and cow.copied
    from dive.servers.kit import atomic_write

    atomic_write(private / "d" / "f.txt", b"changed")
    assert (base / "d" / "f.txt").read_text() == "base"
    assert (private / "d" / "f.txt").read_text() == "changed"


def test_copy_on_write_copies_across_filesystems(tmp_path):
    """A session folder on tmpfs cannot hard-link the world's files on disk: they are copied instead."""
    from dive.servers.kit import atomic_write, memory_scratch

    scratch = memory_scratch(min_free=0)
    if scratch is None or os.stat(scratch).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs a tmpfs /dev/shm on another filesystem than the test's folder")
    base = tmp_path / "base"
    (base / "d").mkdir(parents=True)
    (base / "d" / "f.txt").write_text("base")
    os.chmod(base / "d" / "f.txt", 0o444)
    private = Path(tempfile.mkdtemp(dir=scratch)) / "private"
    try:
        cow = CopyOnWrite(base, private)
        assert cow.writable() == private and (private / "d" / "f.txt").read_text() == "base"
        atomic_write(private / "d" / "f.txt", b"changed")
        assert (base / "d" / "f.txt").read_text() == "base"
    finally:
        shutil.rmtree(private.parent)


def test_session_folders_live_under_the_scratch_folder_and_go_with_the_server(tmp_path, monkeypatch):
    from dive.servers.kit import memory_scratch

    monkeypatch.setenv("DIVE_SCRATCH", str(tmp_path))
    assert memory_scratch() == tmp_path
    monkeypatch.setenv("DIVE_SCRATCH", "")
    assert memory_scratch() is None

    server = make_domain().create_server(lambda: None, scratch=tmp_path)
    entry = server.sessions.get("meta:one")
    assert entry.directory.parent.parent == tmp_path and entry.shared.is_relative_to(tmp_path / "dive-shared")
    server.sessions.end("meta:one")
    assert not entry.directory.exists() and not entry.shared.exists()
    server.sessions.get("meta:two")
    server.close()
    assert [p.name for p in tmp_path.iterdir()] == ["dive-shared"] and not any((tmp_path / "dive-shared").iterdir())


def test_a_killed_process_session_folders_are_removed_by_the_next_store(tmp_path):
    """Folders on tmpfs hold memory: a store deletes those of stores whose process was SIGKILLed, never a live one's."""
    import signal
    import subprocess
    import sys

    from dive.servers.kit import SessionStore

    code = ("import os, signal; from pathlib import Path; from dive.servers.kit import SessionStore; "
            f"s = SessionStore(lambda c: None, lambda: None, scratch=Path({str(tmp_path)!r})); s.get('meta:x'); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == -signal.SIGKILL
    orphans = list(tmp_path.glob("dive-sessions-*"))
    assert len(orphans) == 1 and any(orphans[0].iterdir())
    live = SessionStore(lambda c: None, lambda: None, scratch=tmp_path)
    other = SessionStore(lambda c: None, lambda: None, scratch=tmp_path)
    assert not orphans[0].exists() and live._root.exists() and other._root.exists()
    other.close()
    live.close()
    assert not list(tmp_path.glob("dive-sessions-*"))


def test_a_linger_calls_once_after_its_time_unless_cancelled():
    import threading

    from dive.servers.kit import Linger

    fired = threading.Event()
    calls = []
    linger = Linger(lambda: (calls.append(1), fired.set()))
    linger.start(0.05)
    linger.start(0.05)  # already waiting: no second call
    assert fired.wait(5)
    cancelled = Linger(lambda: calls.append(2))
    cancelled.start(0.05)
    cancelled.cancel()
    threading.Event().wait(0.3)
    assert calls == [1]


def test_memo_computes_each_key_once_keeps_the_latest_and_forgets_failures():
    memo: Memo[str] = Memo(2)
    computed = []

    def compute(key: str):
        def run() -> str:
            computed.append(key)
            if key == "bad":
                raise ValueError(key)
            return key.upper()
        return run

    assert [memo.get(k, compute(k)) for k in ("a", "b", "a", "c", "b")] == ["A", "B", "A", "C", "B"]
    assert computed == ["a", "b", "c", "b"]  # "a" was asked again while kept; "b" had been pushed out by "c"
    for _ in range(2):
        with pytest.raises(ValueError):
            memo.get("bad", compute("bad"))
    assert computed.count("bad") == 2  # a failure is not remembered


def test_content_key_is_short_stable_and_tells_the_parts_apart():
    key = content_key("ab", b"c")
    assert len(key) == 16 and key == content_key(b"ab", "c")
    assert key != content_key("a", "bc") and key != content_key("abc") and key != content_key("ab", "d")


def test_clipping_says_what_was_left_out():
    text, cut = clip_text("x" * 50, 10)
    assert cut and text.startswith("x" * 10) and "40 more characters" in text
    assert clip_text("short", 10) == ("short", False)
    assert clip_items(list(range(5)), 3) == ([0, 1, 2], True)


@pytest.mark.anyio
async def test_json_looking_text_stays_text_for_optional_text_arguments():
    domain = Domain("echo", "Echo.", NotesState)

    @domain.tool(kind="processing", examples=[Example({"items": [1]}, lambda r: True)])
    def echo(s: NotesState, items: list[int], text: str | None = None) -> Echo:
        """Echo the arguments."""
        return Echo(text=text, items=items)

    server = domain.create_server(lambda: None)
    async with ClientPool(servers={"echo": server.mcp}) as pool:
        record = await pool.call("echo", {"text": "[1, 2]", "items": "[3, 4]"})
        assert record.result == {"text": "[1, 2]", "items": [3, 4]}  # text kept; a list given as JSON text decoded
        unknown = await pool.call("echo", {"items": [1], "txt": "x"})
        assert unknown.is_error and "txt" in unknown.error
    server.close()


def test_killed_servers_folders_are_reclaimed_in_the_temporary_directory_too(tmp_path, monkeypatch):
    """Without a scratch folder a store lives in the temporary directory: the next store there deletes what a killed
    one left (its session folders, and the cross-server folders no live store uses), never a live store's."""
    import signal
    import subprocess
    import sys
    import tempfile

    from dive.servers.kit import SessionStore
    from dive.servers.kit import sessions

    code = ("import os, signal; from dive.servers.kit import SessionStore; "
            "s = SessionStore(lambda c: None, lambda: None); s.get('meta:killed'); os.kill(os.getpid(), signal.SIGKILL)")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == -signal.SIGKILL
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    live = SessionStore(lambda c: None, lambda: None)
    kept = live.get("meta:alive").shared
    assert len(list(tmp_path.glob("dive-sessions-*"))) == 1, "the killed store's session folder is gone"
    shared = [p for p in (tmp_path / "dive-shared").iterdir() if p.name != ".users"]
    assert len(shared) == 2, "a folder untouched for less than the grace period stays"
    monkeypatch.setattr(sessions, "SHARED_GRACE_SECONDS", 0.0)
    old = time.time() - 10
    for folder in shared:
        os.utime(folder, (old, old))
    other = SessionStore(lambda c: None, lambda: None)
    assert [p for p in (tmp_path / "dive-shared").iterdir() if p.name != ".users"] == [kept], \
        "the killed store's cross-server folder is gone, the live one's is kept"
    other.close()
    live.close()
    assert not list(tmp_path.glob("dive-sessions-*")) and not any((tmp_path / "dive-shared").iterdir())


def test_every_tool_says_what_its_results_mean():
    """Synthesis derives questions only from declared meanings: every tool of every domain has one, published in
    its MCP metadata, and a tool whose results carry no fact says why."""
    from dive.servers import domains

    for domain in domains().values():
        for name, spec in domain.tools.items():
            assert spec.meaning is not None, f"{domain.name}.{name} declares no meaning"
            published = domain.metadata(spec)[TOOL_META_KEY]["meaning"]
            assert published == spec.meaning.to_json()
            assert published.get("none") or published.get("facts") or published.get("records") \
                or published.get("items") or published.get("aggregates") or published.get("statistics") \
                or published.get("volatile"), \
                f"{domain.name}.{name}"


class Tally(BaseModel):
    total: int


def test_a_meaning_naming_what_the_tool_lacks_is_refused_at_registration():
    from dive.servers.kit import Aggregates, Fact, Meaning, Statistics, Takes

    d = Domain("m", "meanings", lambda ctx: None)
    for bad in (Meaning(facts=(Fact("count", "the number of {path}"),)),  # no such output field
                Meaning(aggregates=(Aggregates("total", table="table", filters="where", request="figures"),)),
                Meaning(facts=(Fact("total", "the number of files under {folder}"),)),  # no such argument
                Meaning(takes={"folder": Takes("directory", "path")}, none="x"),
                Meaning(takes={"path": Takes("entity", "name", sets={"regex": False})}, none="x"),  # no 'regex'
                Meaning(statistics=(Statistics({"total": "sum"}),)),  # no 'table', 'column' or 'filters'
                Meaning(statistics=(Statistics({"median": "median"}, table="path", column="path", filters="path"),))):
        with pytest.raises(ValueError):
            @d.tool(kind="retrieval", examples=[Example({"path": "."}, lambda r: True)], meaning=bad)
            def tally(state, path: str) -> Tally:
                """Count."""
                return Tally(total=1)
    with pytest.raises(ValueError):
        Meaning()  # says nothing, not even why
    # What a thing taken as text sets goes with it in the published meaning; a plain take publishes no 'sets'.
    published = Meaning(takes={"path": Takes("entity", "name", sets={"regex": False}), "other": Takes("file", "path")},
                        none="x").to_json()["takes"]
    assert published == {"path": {"type": "entity", "by": "name", "sets": {"regex": False}},
                         "other": {"type": "file", "by": "path"}}
