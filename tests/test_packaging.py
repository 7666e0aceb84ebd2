"""Packaging: every package folder is installed, under the `dive` namespace only."""

from __future__ import annotations

import importlib
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"dive": "dive", "dive.servers": "servers", "dive.env": "env", "dive.synth": "synth",
          "dive.train": "train", "dive.eval": "eval"}


def _package_folders() -> set[str]:
    found = set()
    for package, folder in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]) if rel.parts else package)
    return found


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    missing = _package_folders() - listed
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"


def test_folders_import_under_the_dive_namespace_only():
    for package in MAPPED:
        assert importlib.import_module(package).__name__ == package
    for bare in ("servers", "synth", "train"):
        assert bare not in sys.modules or not hasattr(sys.modules[bare], "__path__") or \
            str(ROOT) not in str(sys.modules[bare].__path__)
