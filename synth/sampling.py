"""Pools and config sampling: for task i, a seed, a toolset of 15-50 tools and 3-5 exemplars.

A config depends only on (run seed, i), so the same run seed gives the same configs whatever the
number of workers.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from dive.world import World
from dive.world.ontology import TYPES

from .catalog import ToolCatalog
from .exemplars import Exemplar, sample_exemplars
from .meanings import searched_as_text
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


#: The share of tasks that start from a workspace folder rather than a world entity, when there are folders.
FOLDER_SHARE = 0.25
#: A folder is a seed when it holds at least this many files itself, and at most MAX_FOLDER_FILES: a listing of
#: more is cut short (a walk asks for 200 entries at most), so nothing in it could be picked.
MIN_FOLDER_FILES = 3
MAX_FOLDER_FILES = 200


def workspace_files(world: World, domains: list[str]) -> dict[str, list[str]]:
    """The files each of `domains` whose server has a workspace sees (the files tree, the media files, the code
    workspace), by their paths relative to its root, hidden ones left out."""
    from dive.servers.code.seed_workspace import SEED_FILES

    files = {"code": sorted(SEED_FILES)}
    for domain, root in (("files", world.files_root), ("media", world.media_root)):
        if root.is_dir():
            files[domain] = sorted("/".join(p.relative_to(root).parts) for p in root.rglob("*") if p.is_file()
                                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    return {domain: paths for domain, paths in files.items() if domain in domains}


def folder_seeds(world: World, domains: list[str]) -> list[SeedEntity]:
    """The workspace folders each domain's server sees, as seeds: a question can start from `reports/europe`
    ('the largest CSV file under `reports/europe`') as well as from Chile. Each seed belongs to its domain, whose
    tools find what is in it. A folder is a seed when it holds MIN_FOLDER_FILES files or more ('the largest of
    them' says something)."""
    seeds = []
    for domain, files in sorted(workspace_files(world, domains).items()):
        counts = Counter(str(Path(f).parent) for f in files)
        seeds += [SeedEntity(id=f"{domain}:{rel}", type="directory", name=rel, attrs={"path": rel}, domains=[domain])
                  for rel in sorted(f for f, n in counts.items()
                                    if MIN_FOLDER_FILES <= n <= MAX_FOLDER_FILES and f != ".")]
    return seeds


def config_seeds(servers: dict[str, Any] | None) -> list[SeedEntity]:
    """Seeds a client config names itself: the folders its servers are started on (a repository, a workspace),
    from their arguments and working directories. Tools of such servers take those folders as arguments."""
    seeds: dict[str, SeedEntity] = {}
    for server in ((servers or {}).get("mcpServers") or {}).values():
        for text in [*(server.get("args") or []), server.get("cwd")]:
            if isinstance(text, str) and text.startswith("/") and Path(text).is_dir():
                seeds.setdefault(text, SeedEntity(id=f"path:{text}", type="path", name=text))
    return list(seeds.values())


#: At most this many seeds from one list a server returns (a long log gives its most recent).
MAX_SEEDS_PER_LIST = 50
#: Seeds from the servers tried at start-up (each costs a call or two).
MAX_PROBED_SEEDS = 200


async def server_seeds(pool: Any, catalog: ToolCatalog, given: list[SeedEntity]) -> list[SeedEntity]:
    """Seeds the servers offer themselves, for a user who has none: their resources (by name), the values a
    read-only tool's required argument may take (its enum: the cities a weather tool knows), and the items of
    what list-like read-only tools return (a repository's commits, a graph's entities), each item named by its
    field that no other item shares. A list-like tool is one that needs no argument, or only arguments the
    `given` seeds (the config's folders) fill. Each is asked once, in a session of its own; what fails is skipped."""
    import random as _random

    from .builtin import _item_paths, _pickable
    from .phrasing import NAME_KEYS, item_noun
    from .values import fill_arguments, seed_values

    seeds: dict[str, SeedEntity] = {}
    for _server, uri, label in await pool.list_resources(limit=MAX_SEEDS_PER_LIST):
        seeds.setdefault(f"resource:{uri}", SeedEntity(id=f"resource:{uri}", type="resource", name=label,
                                                       attrs={"uri": uri}))
    for name in sorted(catalog.tools):
        schema = catalog.tools[name].input_schema or {}
        for param in schema.get("required") or []:
            for value in ((schema.get("properties") or {}).get(param) or {}).get("enum") or []:
                if isinstance(value, str) and value:
                    seeds.setdefault(f"{param}:{value}", SeedEntity(id=f"{param}:{value}", type=param, name=value))
    values = [v for seed in given for v in seed_values(seed)]
    session = pool.open_session()
    try:
        for name in sorted(catalog.tools):
            tool = catalog.tools[name]
            if (tool.input_schema or {}).get("required"):
                filled = fill_arguments(tool, name, values, _random.Random(0))
                if filled is None or not filled.sources:
                    continue
                arguments = filled.arguments
            else:
                arguments = {}
            record = await session.call(name, arguments)
            for path, items in _item_paths(record.structured() or {}):
                if len(items) < 2:
                    continue
                keys = list(dict.fromkeys(k for item in items for k in item))
                unique = [k for k in keys if all(isinstance(i.get(k), str) and _pickable(i.get(k)) for i in items)
                          and len({i[k] for i in items}) == len(items)]
                if not unique:
                    continue
                key = min(unique, key=lambda k: (k.lower() not in NAME_KEYS, keys.index(k)))
                kind = item_noun(path, items[0]).replace(" ", "_")
                attrs = {k: v for k, v in arguments.items() if isinstance(v, (str, int, float))}
                for item in items[:MAX_SEEDS_PER_LIST]:
                    seeds.setdefault(f"{kind}:{item[key]}", SeedEntity(id=f"{kind}:{item[key]}", type=kind,
                                                                      name=item[key], attrs=attrs))
        # A seed no tool can take (a resource no tool reads), or whose look-ups find nothing to ask about (a
        # demo tool's message type), starts nothing: such seeds would only dilute the rest.
        useful = [seed for seed in list(seeds.values())[:MAX_PROBED_SEEDS]
                  if await _leads_somewhere(seed, session, catalog)]
    finally:
        pool.end_session(session.trace)
    return sorted(useful, key=lambda seed: seed.id)


async def _leads_somewhere(seed: SeedEntity, session: Any, catalog: ToolCatalog) -> bool:
    """Whether a tool that takes the seed answers something to derive from (tried on at most three tools)."""
    import random as _random

    from .builtin import found_nothing
    from .values import fill_arguments, seed_values

    tried = 0
    own = {"seed:name", f"seed:{seed.type}", "seed:id", f"seed:{seed.type}_id"}
    for name in sorted(catalog.tools):
        filled = fill_arguments(catalog.tools[name], name, seed_values(seed), _random.Random(0))
        if filled is None or not any(v.source in own for v in filled.sources.values()):
            continue  # a tool that takes only the seed's surroundings (its repository) says nothing of it
        data = (await session.call(name, filled.arguments)).structured()
        if data and not found_nothing(data):
            return True
        tried += 1
        if tried >= 3:
            break
    return False


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


def _walked(dive: dict) -> dict[str, Any] | None:
    """A tool's published meaning, where a walk calls the tool (it says something, writes nothing, is stable)."""
    meaning = dive.get("meaning")
    if not isinstance(meaning, dict) or meaning.get("none") or meaning.get("volatile") or dive.get("writes"):
        return None
    return meaning


def _taken(dive: dict, *, as_text: bool) -> set[str]:
    meaning = _walked(dive) or {}
    return {str(t.get("type", "")) for t in (meaning.get("takes") or {}).values()
            if isinstance(t, dict) and (as_text or not searched_as_text(t))}


def _accepts(kinds: set[str], kind: str) -> bool:
    """Whether arguments declared to take `kinds` take a thing of `kind` ('entity' and '@table' take any world
    entity)."""
    return kind in kinds or kind in TYPES and ("entity" in kinds or any(k.startswith("@") for k in kinds))


def takes_type(dive: dict, kind: str) -> bool:
    """Whether a tool's published meaning takes a thing of `kind` (a city, a folder; 'entity' and '@table' take any
    world entity)."""
    # A name searched for as text is a way on, not a way in: a walk that starts there only greps for its seed.
    return _accepts(_taken(dive, as_text=False), kind)


def yielded_kinds(dive: dict) -> set[str]:
    """The kinds of thing a tool's results name, that a walk goes on from: what its lists and records hold ('file',
    'csv_column', 'function'; 'entity' for world entities) and what its values refer to. A list that never says
    it is complete ('the five largest files') picks nothing."""
    meaning = _walked(dive) or {}
    kinds = {str(items.get("name_type") or "entity") for items in meaning.get("items") or []
             if (items.get("name_type") or items.get("type"))
             and any(items.get(k) for k in ("total", "complete_unless", "complete"))}
    if meaning.get("records"):
        kinds.add("entity")
    kinds |= {str(fact["refers_to"]) for fact in meaning.get("facts") or [] if fact.get("refers_to")}
    return {"entity" if kind in TYPES else kind for kind in kinds}


def _finds_from(tool: Any, kind: str) -> bool:
    """Whether a tool given a thing of `kind` alone (every argument it requires takes the thing, or its table)
    names things to go on from."""
    takes = (_walked(tool.dive) or {}).get("takes") or {}
    taking = {a for a, t in takes.items() if isinstance(t, dict) and not searched_as_text(t)
              and _accepts({str(t.get("type", ""))}, kind)}
    required = set((tool.input_schema or {}).get("required") or [])
    return bool(yielded_kinds(tool.dive)) and len(taking) == 1 and required <= taking | {"table"}


def takes_kind(dive: dict, kind: str) -> bool:
    """Whether a tool takes what another found of `kind` (see `yielded_kinds`): a listed file goes to a tool taking
    any file (a listing holds CSV files and notes alike), a media file to one taking images or sounds, a world
    entity to one taking any entity, also by name."""
    from .walk import FILE_KINDS

    kinds = _taken(dive, as_text=True)
    if kind == "media":
        return bool(kinds & FILE_KINDS)
    if kind == "entity":
        return bool(kinds & set(TYPES)) or "entity" in kinds or any(k.startswith("@") for k in kinds)
    return kind in kinds


def seed_pools(catalog: ToolCatalog, seeds: list[SeedEntity], folders: list[SeedEntity]
               ) -> dict[str, dict[str, list[SeedEntity]]]:
    """Seeds by the domain whose tools can start from them, then by type: the world's entities a domain holds and
    one of its tools takes (the media files about iron start the media domain's walks; the files that merely
    mention Chile give the files domain no way in), and each domain's workspace folders. Empty for servers whose
    tools publish no meaning."""
    takes: dict[tuple[str, str], bool] = {}
    pools: dict[str, dict[str, list[SeedEntity]]] = {}
    for seed in [*seeds, *folders]:
        for domain in seed.domains:
            if (domain, seed.type) not in takes:
                takes[(domain, seed.type)] = any(catalog.domain_of(n) == domain and takes_type(t.dive, seed.type)
                                                 for n, t in catalog.tools.items())
            if takes[(domain, seed.type)]:
                pools.setdefault(domain, {}).setdefault(seed.type, []).append(seed)
    return pools


#: A domain with fewer seeds than this starts fewer walks than the others (its walks would find the same tasks
#: again): its share is the square root of its count over this.
FULL_SHARE_SEEDS = 15


def domain_weight(by_type: dict[str, list[SeedEntity]]) -> float:
    """How many walks a domain starts, relative to the others (see FULL_SHARE_SEEDS)."""
    return min(1.0, (sum(len(seeds) for seeds in by_type.values()) / FULL_SHARE_SEEDS) ** 0.5)


def _pick_seed(by_type: dict[str, list[SeedEntity]], rng: random.Random) -> SeedEntity:
    """A seed drawn type by type, each type weighted by the square root of its count: the world's three
    thousand cities still lead, but elements, companies and folders (whose tools differ) are not drowned."""
    kinds = sorted(by_type)
    kind = rng.choices(kinds, weights=[len(by_type[k]) ** 0.5 for k in kinds])[0]
    return rng.choice(by_type[kind])


def _add_ways_on(toolset: list[str], ways_in: set[str], catalog: ToolCatalog, rng: random.Random) -> None:
    """Make the menu hold ways on: for each kind of thing its ways in find (the files a listing names, the cities
    of a country), and then for what those find, two tools that take it; of the same server, for things known by
    a path (another server sees another folder). Tools that none of this needs make room."""
    keep, reached = set(ways_in), set(ways_in)
    for _ in range(2):
        wanted = sorted({(kind, "" if kind == "entity" else catalog.domain_of(n)) for n in reached
                         for kind in yielded_kinds(catalog.tools[n].dive)})
        reached = set()
        for kind, domain in wanted:
            on = [n for n in catalog.tools if domain in ("", catalog.domain_of(n))
                  and takes_kind(catalog.tools[n].dive, kind)]
            have = [n for n in on if n in toolset]
            missing = [n for n in on if n not in toolset]
            spare = [i for i, n in enumerate(toolset) if n not in keep and n not in on]
            rng.shuffle(missing)
            rng.shuffle(spare)
            while len(have) < 2 and missing and spare:
                toolset[spare.pop()] = missing[-1]
                have.append(missing.pop())
            keep |= set(have)
            reached |= set(have)


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
    folders: list[SeedEntity] | None = None,
    pools: dict[str, dict[str, list[SeedEntity]]] | None = None,
) -> TaskConfig:
    """The paper's config sampling: a seed, a toolset favouring the seed's domains, and exemplars. With `pools`
    (see `seed_pools`) a domain is drawn first, then one of its seeds, so every domain's tools start as many walks
    as the database's; otherwise a workspace folder for FOLDER_SHARE of tasks (when `folders` are given), else
    one of `seeds`."""
    rng_seed = task_rng_seed(run_seed, index)
    rng = random.Random(rng_seed)
    start = rng.choices(sorted(pools), weights=[domain_weight(pools[d]) for d in sorted(pools)])[0] if pools else None
    if start is not None:
        seed = _pick_seed(pools[start], rng)
    else:
        seed = rng.choice(folders) if folders and rng.random() < FOLDER_SHARE else rng.choice(seeds)
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
    if seed.type not in TYPES and seed.attrs.get("path"):  # a folder: only its own server's tools see it
        takers = {n for n in takers if catalog.domain_of(n) in seed.domains}
    by_domain: dict[str, list[str]] = {}
    for n in sorted(takers - set(toolset)):
        by_domain.setdefault(catalog.domain_of(n), []).append(n)
    others = [i for i, n in enumerate(toolset) if n not in takers]
    if start in by_domain and others and not any(catalog.domain_of(n) == start for n in takers & set(toolset)):
        toolset[others.pop()] = by_domain[start].pop(rng.randrange(len(by_domain[start])))  # the drawn domain's way in
        if not by_domain[start]:
            del by_domain[start]
    while by_domain and others and len(takers & set(toolset)) < 2:
        domain = rng.choice(sorted(by_domain))
        toolset[others.pop()] = by_domain[domain].pop(rng.randrange(len(by_domain[domain])))
        if not by_domain[domain]:
            del by_domain[domain]
    # One of them finds things to go on from (a listing, not only a folder's total size), where one can.
    finders = {n for n in takers if _finds_from(catalog.tools[n], seed.type)}
    if others and finders - set(toolset) and not finders & set(toolset):
        toolset[others.pop()] = rng.choice(sorted(finders - set(toolset)))
    _add_ways_on(toolset, takers & set(toolset), catalog, rng)
    chosen = sample_exemplars(exemplars, rng, rng.randint(*exemplar_count), domains=entity_domains or None)
    return TaskConfig(index=index, rng_seed=rng_seed, seed=seed, toolset=sorted(toolset),
                      exemplars=[e.id for e in chosen], rounds=rounds)
