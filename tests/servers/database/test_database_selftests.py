"""Every database tool's self-tests pass (in-process, fast), and the catalogue is what a model needs:
enough distinct tools, each with a description, both kinds, and writes marked."""

from __future__ import annotations

import pytest

from dive.servers import get_domain
from dive.servers.selftest import run_self_tests

pytestmark = pytest.mark.anyio


async def test_every_self_test_passes(world):
    results = await run_self_tests(["database"], world=world.root, transport="inprocess")
    failed = [f"{r.tool}[{r.example}]: {r.detail}" for r in results if not r.ok]
    assert not failed, "\n".join(failed)
    assert {r.tool for r in results} == set(get_domain("database").tools)


def test_catalogue_shape():
    tools = get_domain("database").tools
    assert len(tools) >= 30
    kinds = {spec.kind for spec in tools.values()}
    assert kinds == {"retrieval", "processing"}
    writers = {name for name, spec in tools.items() if spec.writes}
    assert writers == {"create_table", "insert_rows", "update_rows", "delete_rows", "add_column", "create_index",
                       "create_view", "import_csv", "execute_sql"}
    assert all(writes_kind == "processing" for writes_kind in (tools[n].kind for n in writers))
    descriptions = [spec.description for spec in tools.values()]
    assert len(set(descriptions)) == len(descriptions) and all(len(d) > 60 for d in descriptions)


def test_the_domain_loads_without_pandas_and_leaves_it_importable():
    """sqlite-utils would import pandas (a third of a second) for DataFrame support the domain never uses."""
    import subprocess
    import sys

    probe = ("import sys, dive.servers.database; loaded = 'pandas' in sys.modules; import pandas; "
             "print(loaded, pandas.DataFrame({'a': [1]}).shape)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "(1,", "1)"]
