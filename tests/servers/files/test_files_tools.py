"""The files tools do what they say: every self-test passes, and the tools agree with each other and with
the world (round trips through archives and conversions, paging, counts that add up)."""

from __future__ import annotations

import hashlib
import json

import pytest
from dive.servers import get_domain
from dive.servers.selftest import run_self_tests

from tests.servers.files.files_support import files_pool, files_server, mentions_by_file, tree_digest

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server(world):
    srv = files_server(world)
    yield srv
    srv.close()


async def test_every_self_test_passes_and_leaves_the_world_alone(world):
    before = tree_digest(world.files_root)  # the examples overwrite, append to and delete world files
    results = await run_self_tests(["files"], world=world.root, transport="inprocess")
    failed = [f"{r.tool}[{r.example}]: {r.detail}" for r in results if not r.ok]
    assert not failed, "\n".join(failed)
    assert len({r.tool for r in results}) == len(get_domain("files").tools)
    assert tree_digest(world.files_root) == before


def test_tools_are_distinct_described_and_strict():
    domain = get_domain("files")
    assert len(domain.tools) >= 30
    descriptions = [spec.description for spec in domain.tools.values()]
    assert all(len(d) > 40 for d in descriptions) and len(set(descriptions)) == len(descriptions)
    server = domain.create_server(lambda: None)  # listing tools needs no world
    try:
        for tool in server.mcp._tool_manager.list_tools():
            assert tool.parameters.get("additionalProperties") is False, tool.name
            props = tool.parameters.get("properties", {})
            assert all(p.get("description") or "$ref" in p or "items" in p for p in props.values()), tool.name
    finally:
        server.close()


async def test_read_file_pages_add_up_to_the_file(server, world):
    whole = (world.files_root / "data" / "weather_seattle.csv").read_text()
    async with files_pool(server) as pool:
        pages, start = [], 1
        while True:
            rec = await pool.call("read_file", {"path": "data/weather_seattle.csv", "start_line": start, "max_lines": 400})
            pages.append(rec.result["text"])
            if not rec.result["has_more"]:
                break
            start = rec.result["end_line"] + 1
        tail = await pool.call("read_file", {"path": "data/weather_seattle.csv", "tail": 1})
    assert "".join(pages) == whole
    assert tail.result["text"] == whole.splitlines(keepends=True)[-1]


async def test_copy_edit_diff_and_checksum_agree(server, world):
    async with files_pool(server) as pool:
        await pool.call("copy_path", {"source": "config/env", "destination": "config/env-copy"})
        same = await pool.call("compare_directories", {"a": "config/env", "b": "config/env-copy"})
        assert same.result["identical"] == 2 and not same.result["different"]
        edit = await pool.call("replace_in_file", {"path": "config/env-copy/staging.ini", "find": r"workers = \d+",
                                                   "replace": "workers = 16", "regex": True})
        assert edit.result["replacements"] == 1 and edit.result["lines_changed"] == [4]
        diff = await pool.call("diff_files", {"a": "config/env/staging.ini", "b": "config/env-copy/staging.ini"})
        assert diff.result["lines_added"] == diff.result["lines_removed"] == 1 and "+workers = 16" in diff.result["diff"]
        semantic = await pool.call("compare_configs", {"a": "config/env/staging.ini", "b": "config/env-copy/staging.ini"})
        assert semantic.result["changed"] == [{"key_path": "server.workers", "a": "2", "b": "16"}]
        digest = await pool.call("file_checksum", {"path": "config/env/production.ini", "algorithm": "sha1"})
        expected = hashlib.sha1((world.files_root / "config/env/production.ini").read_bytes()).hexdigest()
        assert digest.result["digest"] == expected
        removed = await pool.call("delete_directory", {"path": "config/env-copy"})
        assert removed.is_error and "recursive=true" in removed.error
        removed = await pool.call("delete_directory", {"path": "config/env-copy", "recursive": True})
        assert removed.result["files_deleted"] == 2


async def test_archive_round_trip_preserves_bytes(server, world):
    async with files_pool(server) as pool:
        made = await pool.call("create_archive", {"paths": ["data/stocks"], "destination": "out/stocks.tar.gz", "base": "data"})
        assert made.result["files"] == 6 and "stocks/IBM.csv" in made.result["members"]
        listed = await pool.call("list_archive", {"path": "out/stocks.tar.gz"})
        assert listed.result["format"] == "tar.gz" and listed.result["unsafe_members"] == 0
        out = await pool.call("extract_archive", {"path": "out/stocks.tar.gz", "destination": "restored"})
        assert out.result["files_extracted"] == 6
        again = await pool.call("extract_archive", {"path": "out/stocks.tar.gz", "destination": "restored"})
        assert again.is_error and "already exists" in again.error
        for symbol in ("AAPL", "IBM"):
            a = await pool.call("file_checksum", {"path": f"restored/stocks/{symbol}.csv"})
            b = await pool.call("file_checksum", {"path": f"data/stocks/{symbol}.csv"})
            assert a.result["digest"] == b.result["digest"]


async def test_conversions_round_trip(server):
    async with files_pool(server) as pool:
        original = await pool.call("csv_query", {"path": "data/products.csv", "limit": 500})
        await pool.call("convert_file", {"source": "data/products.csv", "destination": "out/products.json"})
        as_json = await pool.call("get_value", {"path": "out/products.json", "key_path": "[*].name"})
        assert as_json.result["value"] == [row["name"] for row in original.result["rows"]]
        await pool.call("convert_file", {"source": "out/products.json", "destination": "out/products.yaml"})
        await pool.call("convert_file", {"source": "out/products.yaml", "destination": "out/products.csv"})
        back = await pool.call("csv_query", {"path": "out/products.csv", "limit": 500})
        assert back.result["rows"] == original.result["rows"]


async def test_a_table_is_parsed_once_per_content_and_a_session_sees_its_own_edit(server, world, monkeypatch):
    from dive.servers.files import tables

    parsed = []
    parse = tables.parse_csv
    monkeypatch.setattr(tables, "_tables", type(tables._tables)(64))
    monkeypatch.setattr(tables, "parse_csv", lambda text, name: parsed.append(name) or parse(text, name))
    query = {"path": "data/products.csv", "where": [{"column": "name", "op": "==", "value": "Zeta Lamp"}]}
    text = (world.files_root / "data/products.csv").read_text()
    async with files_pool(server) as pool:
        before = [await pool.call("csv_query", query) for _ in range(2)]
        await pool.call("write_file", {"path": "data/products.csv", "content": text + "p9999,Zeta Lamp,Home,9.5\n",
                                       "overwrite": True})
        edited = await pool.call("csv_query", query)
        pool.new_session()
        other = await pool.call("csv_query", query)
    assert [r.result["matched"] for r in before] == [0, 0] and other.result["matched"] == 0
    assert edited.result["matched"] == 1 and edited.result["rows"][0]["unit_price"] == 9.5
    assert parsed == ["data/products.csv", "data/products.csv"]  # the world's file once, the edited one once


async def test_a_log_is_parsed_once_per_content_and_a_session_sees_its_own_edit(server, world, monkeypatch):
    from dive.servers.files import logs

    parsed = []
    parse = logs.parse_log
    monkeypatch.setattr(logs, "_parsed", type(logs._parsed)(64))
    monkeypatch.setattr(logs, "parse_log", lambda text, path: parsed.append(path) or parse(text, path))
    path = "logs/bookings-2024-05.log"
    text = (world.files_root / path).read_text()
    async with files_pool(server) as pool:
        before = [await pool.call("log_summary", {"path": path}) for _ in range(2)]
        errors = await pool.call("filter_log", {"path": path, "levels": ["ERROR"]})
        await pool.call("write_file", {"path": path, "overwrite": True, "content": text
                                       + "2024-05-31T23:59:59Z ERROR payment.declined reason=test amount_usd=1\n"})
        edited = await pool.call("filter_log", {"path": path, "levels": ["ERROR"]})
        pool.new_session()
        other = await pool.call("filter_log", {"path": path, "levels": ["ERROR"]})
    assert before[0].result == before[1].result and other.result == errors.result
    assert edited.result["matched"] == errors.result["matched"] + 1
    assert parsed == [path, path]  # the world's log once, the edited one once


async def test_log_tools_agree(server, world):
    async with files_pool(server) as pool:
        summary = await pool.call("log_summary", {"path": "logs/bookings-2024-05.log"})
        for level, count in summary.result["by_level"].items():
            rec = await pool.call("filter_log", {"path": "logs/bookings-2024-05.log", "levels": [level], "limit": 1})
            assert rec.result["matched"] == count
        lines = (world.files_root / "logs/bookings-2024-05.log").read_text().splitlines()
        assert summary.result["entries"] == len(lines)
        declined = await pool.call("log_summary", {"path": "logs", "event": "payment.declined", "group_by": "field",
                                                   "field": "reason", "sum_field": "amount_usd"})
        grep = await pool.call("search_content", {"pattern": "payment.declined", "path": "logs", "regex": False})
        assert sum(g["count"] for g in declined.result["groups"]) == grep.result["total_matches"]


async def test_csv_tools_agree_with_the_database(server, world):
    import sqlite3

    db = sqlite3.connect(world.db_path)
    async with files_pool(server) as pool:
        groups = await pool.call("csv_group_by", {"path": "data/companies.csv", "group_by": ["sector"], "limit": 500})
        expected = dict(db.execute("select sector, count(*) from companies group by sector"))
        assert {g["key"]["sector"]: g["rows"] for g in groups.result["groups"]} == expected
        stats = await pool.call("csv_column_stats", {"path": "data/products.csv", "column": "unit_price"})
        (avg,) = db.execute("select avg(unit_price) from products").fetchone()
        assert abs(stats.result["mean"] - avg) < 1e-4
        heavy = await pool.call("csv_query", {"path": "data/elements.csv", "where": [{"column": "mass", "op": ">=", "value": 200},
                                                                                    {"column": "name", "op": "startswith", "value": "P"}],
                                              "columns": ["symbol"], "sort_by": "mass"})
        expected_symbols = [r[0] for r in db.execute("select symbol from elements where mass >= 200 and name like 'P%' order by mass")]
        assert [r["symbol"] for r in heavy.result["rows"]] == expected_symbols
    db.close()


async def test_structured_documents(server, world):
    profile = json.loads((world.files_root / "profiles/countries/BR.json").read_text())
    async with files_pool(server) as pool:
        outline = await pool.call("describe_structure", {"path": "profiles/countries/BR.json", "max_depth": 1})
        assert outline.result["keys"] == list(profile)
        largest = await pool.call("get_value", {"path": "profiles/countries/BR.json", "key_path": "largest_cities[-1].name"})
        assert largest.result["value"] == profile["largest_cities"][-1]["name"]
        missing = await pool.call("get_value", {"path": "profiles/countries/BR.json", "key_path": "currency.symbol"})
        assert missing.is_error and "no key 'symbol'" in missing.error and "code" in missing.error
        where = await pool.call("find_in_data", {"path": "config/hubs.yaml", "text": "iata", "search_in": "keys"})
        assert where.result["total"] >= 3 and where.result["matches"][0]["key_path"].endswith("[0].iata")


async def test_a_name_searched_as_whole_words_matches_no_longer_word(server, world):
    """'Niger' as whole words is not in 'Nigeria'; every file that mentions it is counted, however few are listed."""
    import re

    want = mentions_by_file(world.files_root, "Niger")
    async with files_pool(server) as pool:
        words = await pool.call("search_content", {"pattern": "Niger", "regex": False, "whole_word": True})
        loose = await pool.call("search_content", {"pattern": "Niger", "regex": False})
    assert words.result["files_total"] == len(want) >= 1
    assert {f["path"]: f["matches"] for f in words.result["files"]} == want
    assert words.result["total_matches"] == sum(want.values())
    assert loose.result["total_matches"] > words.result["total_matches"]  # 'Nigeria' too
    assert all("Nigeria" not in m["line"] or re.search(r"(?<!\w)Niger(?!\w)", m["line"])
               for m in words.result["matches"])
