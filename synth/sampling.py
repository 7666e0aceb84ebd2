"""Pools and config sampling: for task i, a seed, a toolset of 15-50 tools and 3-5 exemplars.

A config depends only on (run seed, i), so the same run seed gives the same configs whatever the
number of workers.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from dive.world import World

from .catalog import ToolCatalog
from .exemplars import Exemplar, sample_exemplars
from .records import SeedEntity, TaskConfig


def task_rng_seed(run_seed: int, index: int) -> int:
    """A stable per-task seed (independent of worker scheduling and Python's hash randomisation)."""
    return int.from_bytes(hashlib.sha256(f"{run_seed}:{index}".encode()).digest()[:8], "big")


def world_seeds(world: World, domains: list[str]) -> list[SeedEntity]:
    """The world's entities present in at least one of `domains` (all of them when none is a world domain)."""
    wanted = set(domains)
    entities = world.entities()
    chosen = [e for e in entities if wanted & set(e.domains)] or entities
    return [SeedEntity(id=e.id, type=e.type, name=e.name, attrs=e.attrs, domains=e.domains) for e in chosen]


def config_seeds(servers: dict[str, Any] | None) -> list[SeedEntity]:
    """Seeds a client config names itself: the folders its servers are started on (a repository, a workspace),
    from their arguments and working directories. Tools of such servers take those folders as arguments."""
    seeds: dict[str, SeedEntity] = {}
    for server in ((servers or {}).get("mcpServers") or {}).values():
        for text in [*(server.get("args") or []), server.get("cwd")]:
            if isinstance(text, str) and text.startswith("/") and Path(text).is_dir():
                seeds.setdefault(text, SeedEntity(id=f"path:{text}", type="path", name=text))
    return list(seeds.values())


def load_seed_file(path: Path) -> list[SeedEntity]:
    """A user's seed pool: JSON lines ({"id", "type", "name", "attrs"} or {"name": ...}) or plain text lines."""
    seeds: list[SeedEntity] = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON: {exc}") from exc
            if "name" not in data:
                raise ValueError(f"{path}:{number}: a seed needs a 'name'")
            seeds.append(SeedEntity(id=str(data.get("id", f"seed:{number}")), type=str(data.get("type", "entity")),
                                    name=str(data["name"]), attrs=dict(data.get("attrs", {}))))
        else:
            seeds.append(SeedEntity(id=f"seed:{number}", type="entity", name=line))
    if not seeds:
        raise ValueError(f"{path}: no seeds")
    return seeds


def takes_type(dive: dict, kind: str) -> bool:
    """Whether a tool's published meaning takes a thing of `kind` (a city; 'entity' and '@table' take any entity)."""
    meaning = dive.get("meaning")
    if not isinstance(meaning, dict) or meaning.get("none") or meaning.get("volatile") or dive.get("writes"):
        return False
    kinds = {str(t.get("type", "")) for t in (meaning.get("takes") or {}).values() if isinstance(t, dict)}
    return kind in kinds or "entity" in kinds or any(k.startswith("@") for k in kinds)


def sample_config(
    index: int,
    run_seed: int,
    catalog: ToolCatalog,
    seeds: list[SeedEntity],
    exemplars: list[Exemplar],
    *,
    toolset_size: tuple[int, int] = (15, 50),
    exemplar_count: tuple[int, int] = (3, 5),
    rounds: int = 3,
) -> TaskConfig:
    """The paper's config sampling: a seed, a toolset favouring the seed's domains, and exemplars."""
    rng_seed = task_rng_seed(run_seed, index)
    rng = random.Random(rng_seed)
    seed = rng.choice(seeds)
    names = list(catalog.tools)
    size = min(rng.randint(*toolset_size), len(names))
    entity_domains = set(seed.domains) & set(catalog.domains()) or set(catalog.domains())
    near = [n for n in names if catalog.domain_of(n) in entity_domains]
    rng.shuffle(near)
    far = [n for n in names if n not in set(near)]
    rng.shuffle(far)
    share = rng.uniform(0.5, 0.9)
    toolset = near[: int(size * share)]
    toolset += far[: size - len(toolset)]
    toolset += [n for n in near if n not in toolset][: size - len(toolset)]
    # A walk starts from the seed: the menu holds at least two tools that take such a thing (when any does).
    # Drawn by domain first, so that the database's generic look-ups (which take anything) do not crowd out the
    # other domains' ways in.
    takers = {n for n in names if takes_type(catalog.tools[n].dive, seed.type)}
    by_domain: dict[str, list[str]] = {}
    for n in sorted(takers - set(toolset)):
        by_domain.setdefault(catalog.domain_of(n), []).append(n)
    others = [i for i, n in enumerate(toolset) if n not in takers]
    while by_domain and others and len(takers & set(toolset)) < 2:
        domain = rng.choice(sorted(by_domain))
        toolset[others.pop()] = by_domain[domain].pop(rng.randrange(len(by_domain[domain])))
        if not by_domain[domain]:
            del by_domain[domain]
    chosen = sample_exemplars(exemplars, rng, rng.randint(*exemplar_count), domains=entity_domains or None)
    return TaskConfig(index=index, rng_seed=rng_seed, seed=seed, toolset=sorted(toolset),
                      exemplars=[e.id for e in chosen], rounds=rounds)
