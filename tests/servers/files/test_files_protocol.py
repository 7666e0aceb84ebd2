"""The files server over the real transports: stdio and streamable HTTP, reads and writes, session
isolation (one session's writes are invisible to another and never reach the world), and clear errors
for malformed arguments."""

from __future__ import annotations

import anyio
import pytest
from dive.env import ClientPool

from tests.servers.files.files_support import (
    PATH_ATTEMPTS,
    files_pool,
    files_server,
    tree_digest,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server(world):
    srv = files_server(world)
    yield srv
    srv.close()


async def test_stdio_reads_writes_and_isolates_sessions(world, pool_factory):
    before = tree_digest(world.files_root)
    async with pool_factory(["files"], "stdio") as pool:
        tools = {t.name: t for t in pool.tools()}
        assert len(tools) >= 30
        assert {t.kind for t in tools.values()} == {"retrieval", "processing"}
        assert tools["write_file"].dive["writes"] is True and tools["read_file"].dive["writes"] is False

        head = await pool.call("read_file", {"path": "data/elements.csv", "max_lines": 2})
        assert not head.is_error and head.result["text"] == "number,symbol,name,mass,density\n1,H,Hydrogen,1.008,0.0708\n"

        wrote = await pool.call("write_file", {"path": "notes/plan.md", "content": "# Plan\n- Lyon\n"})
        assert wrote.result == {"path": "notes/plan.md", "bytes_written": 14, "lines": 2, "created": True}
        await pool.call("append_file", {"path": "notes/plan.md", "content": "- Kyoto"})
        back = await pool.call("read_file", {"path": "notes/plan.md"})
        assert back.result["text"] == "# Plan\n- Lyon\n- Kyoto"
        moved = await pool.call("move_path", {"source": "notes/plan.md", "destination": "notes/archive/plan-2025.md"})
        assert moved.result["destination"] == "notes/archive/plan-2025.md"
        found = await pool.call("find_files", {"pattern": "plan*.md"})
        assert [m["path"] for m in found.result["matches"]] == ["notes/archive/plan-2025.md"]
        for tool, args in (
            ("write_file", {"path": "data/elements.csv", "content": "wiped\n", "overwrite": True}),
            ("delete_file", {"path": "README.md"}),
            ("delete_directory", {"path": "logs", "recursive": True}),
            ("extract_archive", {"path": "archives/stocks.zip"}),
        ):
            rec = await pool.call(tool, args)
            assert not rec.is_error, (tool, rec.error)
        mine = await pool.call("read_file", {"path": "data/elements.csv"})
        assert mine.result["text"] == "wiped\n"

        pool.new_session()  # another session of the same server sees none of it
        note = await pool.call("read_file", {"path": "notes/archive/plan-2025.md"})
        assert note.is_error and "no such file" in note.error
        elements = await pool.call("read_file", {"path": "data/elements.csv", "max_lines": 2})
        assert "Hydrogen" in elements.result["text"]
        listing = await pool.call("list_directory", {"path": "."})
        assert {"README.md", "logs"} <= {e["name"] for e in listing.result["entries"]}
        archives = await pool.call("list_directory", {"path": "archives", "kind": "directory"})
        assert archives.result["total"] == 0
    assert tree_digest(world.files_root) == before


async def test_stdio_refuses_malformed_and_escaping_arguments(world, pool_factory):
    before = tree_digest(world.files_root)
    async with pool_factory(["files"], "stdio") as pool:
        wrong_type = await pool.call("read_file", {"path": ["data/elements.csv"]})
        missing = await pool.call("write_file", {"path": "x.txt"})
        unknown = await pool.call("list_directory", {"path": ".", "recursive": True})
        assert wrong_type.is_error and "path" in wrong_type.error and "valid string" in wrong_type.error
        assert missing.is_error and "content" in missing.error and "Field required" in missing.error
        assert unknown.is_error and "recursive" in unknown.error and "Extra inputs are not permitted" in unknown.error
        for tool, args, message in PATH_ATTEMPTS:
            rec = await pool.call(tool, args)
            assert rec.is_error and message in rec.error, (tool, args, rec.error)
    assert tree_digest(world.files_root) == before


async def test_http_reads_writes_and_keeps_clients_apart(world, http_server):
    url = http_server("files")
    config = {"mcpServers": {"files": {"url": url}}}
    async with ClientPool(config) as alice, ClientPool(config) as bob:
        info = await alice.call("file_info", {"path": "data/elements.csv"})
        assert not info.is_error and info.result["line_count"] == 119

        async def edit(pool: ClientPool, who: str) -> None:
            rec = await pool.call("write_file", {"path": "shared/owner.txt", "content": who})
            assert not rec.is_error, rec.error
            rec = await pool.call("replace_in_file", {"path": "data/elements.csv", "find": "Hydrogen", "replace": f"Hydrogen-{who}"})
            assert rec.result["replacements"] == 1

        async with anyio.create_task_group() as tg:  # two sessions of one server, writing at once
            tg.start_soon(edit, alice, "alice")
            tg.start_soon(edit, bob, "bob")

        for pool, who in ((alice, "alice"), (bob, "bob")):
            mine = await pool.call("read_file", {"path": "shared/owner.txt"})
            assert mine.result["text"] == who
            grep = await pool.call("search_content", {"pattern": "Hydrogen-", "path": "data/elements.csv"})
            assert [m["line"] for m in grep.result["matches"]] == [f"1,H,Hydrogen-{who},1.008,0.0708"]

        alice.new_session()  # a fresh session sees the world as built
        fresh = await alice.call("read_file", {"path": "shared/owner.txt"})
        assert fresh.is_error and "no such file" in fresh.error
    assert "Hydrogen-" not in (world.files_root / "data" / "elements.csv").read_text()


@pytest.mark.parametrize(("tool", "args", "expected"), [
    ("read_file", {"path": 42}, ["path", "valid string"]),
    ("read_file", {"path": "data/elements.csv", "max_lines": "many"}, ["max_lines", "valid integer"]),
    ("read_file", {}, ["path", "Field required"]),
    ("diff_files", {"a": "data/elements.csv"}, ["b", "Field required"]),
    ("read_file", {"path": "data/elements.csv", "lines": 5}, ["lines", "Extra inputs are not permitted"]),
    ("list_directory", {"path": ".", "depth": 0}, ["depth", "greater than or equal to 1"]),
    ("file_checksum", {"path": "README.md", "algorithm": "crc32"}, ["algorithm", "md5"]),
    ("csv_query", {"path": "data/elements.csv", "where": [{"column": "mass", "op": "≈", "value": 1}]}, ["where.0.op"]),
    ("create_archive", {"paths": [], "destination": "x.zip"}, ["paths", "at least 1 item"]),
])
async def test_malformed_arguments_are_named_in_the_error(server, tool, args, expected):
    async with files_pool(server) as pool:
        rec = await pool.call(tool, args)
    assert rec.is_error
    for piece in expected:
        assert piece in rec.error, rec.error
