"""Every code tool's self-tests pass (in-process, through a real MCP client), and the catalogue is what a
model needs: enough distinct tools, each described, both kinds, and the tools that change the workspace marked."""

from __future__ import annotations

import shutil

import pytest

from dive.servers import get_domain
from dive.servers.selftest import run_self_tests

pytestmark = pytest.mark.anyio


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install -y bubblewrap)")
async def test_every_self_test_passes(world):
    results = await run_self_tests(["code"], world=world.root, transport="inprocess")
    failed = [f"{r.tool}[{r.example}]: {r.detail}" for r in results if not r.ok]
    assert not failed, "\n".join(failed)
    assert {r.tool for r in results} == set(get_domain("code").tools)


def test_catalogue_shape():
    tools = get_domain("code").tools
    assert len(tools) >= 25
    assert {spec.kind for spec in tools.values()} == {"retrieval", "processing"}
    writers = {name for name, spec in tools.items() if spec.writes}
    assert writers == {"run_python", "run_shell", "run_python_file", "run_tests", "write_file", "apply_patch",
                       "fix_python", "format_python"}
    descriptions = [spec.description for spec in tools.values()]
    assert len(set(descriptions)) == len(descriptions) and all(len(d) > 60 for d in descriptions)
    assert all(spec.examples for spec in tools.values())
