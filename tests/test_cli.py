"""The `dive` command line, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dive import __version__


def dive(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "dive", *args], capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def test_version():
    assert __version__ in dive("--version").stdout


def test_tools_list_json_shows_every_domain_with_metadata(world):
    tools = json.loads(dive("tools", "list", "--json").stdout)
    domains = {t["meta"]["dive/tool"]["domain"] for t in tools}
    assert {"files", "database"} <= domains
    for tool in tools:
        meta = tool["meta"]["dive/tool"]
        assert meta["kind"] in ("retrieval", "processing")
        assert tool["description"] and tool["input_schema"]["type"] == "object" and tool["output_schema"]


def test_tools_list_table_has_per_domain_counts(world):
    out = dive("tools", "list", "--domain", "files").stdout
    assert "Per domain" in out and "files" in out


def test_world_seeds_lists_entities_of_a_domain(world):
    rows = [json.loads(line) for line in dive("world", "seeds", "--domain", "database", "--limit", "5", "--json",
                                              "--world", str(world.root)).stdout.splitlines()]
    assert len(rows) == 5 and all("database" in r["domains"] for r in rows)


def test_world_build_writes_a_world(tmp_path):
    out = dive("world", "build", "--seed", "3", "--out", str(tmp_path / "w")).stdout
    assert "built world (seed 3)" in out and (tmp_path / "w" / "manifest.json").is_file()


def test_serve_refuses_an_unknown_domain_in_one_sentence():
    result = dive("serve", "nope", check=False)
    assert result.returncode == 1 and "unknown domain 'nope'" in result.stderr


@pytest.mark.slow
def test_tools_validate_passes_for_the_foundation_domains(world):
    out = dive("tools", "validate", "--domain", "files", "--domain", "database", "--world", str(world.root)).stdout
    assert "FAIL" not in out and "self-tests passed" in out


def test_doctor_reports_each_check():
    result = dive("doctor", check=False)
    for name in ("python", "mcp SDK", "chromium", "bubblewrap", "tesseract"):
        assert name in result.stdout
