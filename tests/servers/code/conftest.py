"""The code domain's test options: the `docker` marker, and docker tests kept out of the default run.

Docker tests need root, `dockerd` and the sandbox image (built once by debootstrap, then cached); the
default run leaves them out (deselected, not skipped) and `make test` runs them in a second pass with
`-m docker`.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs root and dockerd; starts a private daemon (run with -m docker)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "docker" in (config.getoption("markexpr") or ""):
        return
    docker = [item for item in items if item.get_closest_marker("docker") is not None]
    if docker:
        config.hook.pytest_deselected(items=docker)
        items[:] = [item for item in items if item.get_closest_marker("docker") is None]
