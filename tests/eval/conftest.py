"""Evaluation fixtures: tiny ID and held-out splits made by synthesis, cached in a session-private DIVE_HOME."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dive.eval.splits import EvalSplit, build_split

SPLIT_SIZE = 3
ID_DOMAINS = ["files", "database"]
HELDOUT_DOMAINS = ["geo"]


@contextlib.contextmanager
def dive_home(path: Path) -> Iterator[Path]:
    """DIVE_HOME set to `path` for the block (the split cache lives there), restored after."""
    before = os.environ.get("DIVE_HOME")
    os.environ["DIVE_HOME"] = str(path)
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop("DIVE_HOME", None)
        else:
            os.environ["DIVE_HOME"] = before


@pytest.fixture(scope="session")
def eval_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This session's DIVE_HOME for evaluation splits (so no test reads a cache another run left)."""
    return tmp_path_factory.mktemp("eval-home")


@pytest.fixture(scope="session")
def id_split(world, eval_home: Path) -> EvalSplit:
    """3 in-distribution tasks (files + database tools, the evaluation seed)."""
    with dive_home(eval_home):
        return build_split("id", size=SPLIT_SIZE, domains=ID_DOMAINS)


@pytest.fixture(scope="session")
def heldout_split(world, eval_home: Path) -> EvalSplit:
    """3 held-out tasks (geo tools only)."""
    with dive_home(eval_home):
        return build_split("heldout", size=SPLIT_SIZE, domains=HELDOUT_DOMAINS)
