"""A built world on disk: where it lives, loading it, and building it on first use."""

from __future__ import annotations

import contextlib
import logging
import os
from functools import cached_property
from pathlib import Path

from pydantic import ValidationError

from .model import WORLD_VERSION, Entity, WorldError, WorldManifest

logger = logging.getLogger("dive.world")


class World:
    """A loaded world: its root folder, seed, manifest and seed pool of entities."""

    def __init__(self, root: Path, manifest: WorldManifest) -> None:
        self.root = root
        self.manifest = manifest
        self.seed = manifest.seed

    def __repr__(self) -> str:
        return f"World(root={str(self.root)!r}, seed={self.seed}, version={self.manifest.version!r})"

    @classmethod
    def load(cls, root: Path) -> World:
        """Open the world built at `root`; raise WorldError if there is none, or one of another version."""
        root = Path(root)
        hint = f"run `dive world build --out {root}`"
        path = root / "manifest.json"
        if not path.is_file():
            raise WorldError(f"no world at {root}: {hint}")
        try:
            manifest = WorldManifest.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            raise WorldError(f"no world at {root} (its manifest.json does not parse: {exc.error_count()} errors): {hint}") from exc
        if manifest.version != WORLD_VERSION:
            raise WorldError(f"no world at {root} of version {WORLD_VERSION} (it holds version {manifest.version}): {hint}")
        return cls(root, manifest)

    @property
    def db_path(self) -> Path:
        return self.root / "db" / "world.sqlite"

    @property
    def files_root(self) -> Path:
        return self.root / "files"

    @property
    def site_root(self) -> Path:
        return self.root / "site"

    @property
    def media_root(self) -> Path:
        return self.root / "media"

    @cached_property
    def _entities(self) -> dict[str, Entity]:
        with open(self.root / "entities.jsonl", encoding="utf-8") as f:
            entities = [Entity.model_validate_json(line) for line in f if line.strip()]
        return {e.id: e for e in entities}

    def entities(self, type: str | None = None, domain: str | None = None) -> list[Entity]:
        """The seed pool (sorted by id), optionally only entities of one type and/or present in one domain."""
        return [e for e in self._entities.values()
                if (type is None or e.type == type) and (domain is None or domain in e.domains)]

    def entity(self, id: str) -> Entity:
        """The entity with this id ("city:2643743", "airport:LHR", ...); KeyError if the pool has none."""
        try:
            return self._entities[id]
        except KeyError:
            raise KeyError(f"no entity {id!r} in the world at {self.root}") from None


def dive_home() -> Path:
    """Where the project caches what it makes on this machine: $DIVE_HOME, default ~/.cache/dive."""
    return Path(os.environ.get("DIVE_HOME") or Path.home() / ".cache" / "dive").expanduser()


def default_world_dir(seed: int = 0) -> Path:
    """$DIVE_WORLD if set, else $DIVE_HOME/world-seed{seed}."""
    if os.environ.get("DIVE_WORLD"):
        return Path(os.environ["DIVE_WORLD"]).expanduser()
    return dive_home() / f"world-seed{seed}"


@contextlib.contextmanager
def _build_lock(path: Path):
    """Serialise builders of one world across processes (parallel test workers, several servers)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic rename still keeps a racing build from leaving a half world
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_world(path: Path | None = None, seed: int = 0) -> World:
    """Load the world at `path` (default: `default_world_dir(seed)`), building it first if it is missing or stale.

    A world already there is loaded whatever seed it was built with (its manifest says which).
    """
    path = Path(path) if path is not None else default_world_dir(seed)
    try:
        return World.load(path)
    except WorldError:
        pass
    from .build import build_world

    with _build_lock(path):
        try:  # another process may have built it while this one waited for the lock
            return World.load(path)
        except WorldError:
            pass
        logger.warning("building the DIVE world (seed %d) at %s; this happens once", seed, path)
        return build_world(path, seed)
