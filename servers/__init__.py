"""MCP tool servers, one per domain, built on the shared kit in `dive.servers.kit`.

A domain is a subpackage of `dive.servers` whose `__init__` exposes `DOMAIN` (a `Domain`);
it is found by scanning, so adding a domain touches no shared file.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from .kit import Domain, DomainServer

#: The domains synthesis trains on; every other domain is held out for OOD evaluation.
TRAINING_DOMAINS: tuple[str, ...] = ("web", "files", "database", "code", "media")


@cache
def domains() -> dict[str, Domain]:
    """Every installed domain by name, training domains first."""
    found: dict[str, Domain] = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not info.ispkg or info.name == "kit" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        domain = getattr(module, "DOMAIN", None)
        if isinstance(domain, Domain):
            found[domain.name] = domain
    order = {name: i for i, name in enumerate(TRAINING_DOMAINS)}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def get_domain(name: str) -> Domain:
    """The domain called `name`, or a ValueError that lists the known ones.

    Imports only that domain's package when its folder has its name (a server starts faster)."""
    if name.isidentifier() and (Path(__file__).parent / name / "__init__.py").is_file():
        domain = getattr(importlib.import_module(f"{__name__}.{name}"), "DOMAIN", None)
        if isinstance(domain, Domain) and domain.name == name:
            return domain
    known = domains()
    if name not in known:
        raise ValueError(f"unknown domain {name!r}; known domains: {', '.join(known) or 'none installed'}")
    return known[name]


__all__ = ["TRAINING_DOMAINS", "Domain", "DomainServer", "domains", "get_domain"]
