"""The world's typed records: entities of the seed pool, the manifest, and the world's error."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: Bump whenever the layout or the content of a built world changes: worlds of another version are rebuilt,
#: and datasets synthesised on one version are not comparable with another (record it in the CHANGELOG).
WORLD_VERSION = "1"

#: Domains an entity can be present in: the training domains, then the held-out ones.
TRAINING_DOMAINS = ("web", "files", "database", "media")
HELD_OUT_DOMAINS = ("geo", "chrono", "science", "finance")


class WorldError(Exception):
    """The world is missing, stale or inconsistent; the message says how to mend it."""


class Entity(BaseModel):
    """One thing of the seed pool (a city, a country, an airport, ...) and the domains it appears in."""

    model_config = ConfigDict(frozen=True)

    id: str
    """Type-prefixed and stable across seeds for real data: "city:2643743", "country:FR", "airport:LHR"."""
    type: str
    name: str
    domains: list[str] = Field(default_factory=list)
    """The domains where this entity is present, training ones first, each once."""
    attrs: dict[str, Any] = Field(default_factory=dict)
    """A few key facts (population, codes, the URL path of its web page, ...)."""


class WorldManifest(BaseModel):
    """What a built world holds: its version and seed, counts, and the sha256 of every file."""

    version: str
    seed: int
    counts: dict[str, int]
    files: dict[str, str]
    """Path relative to the world root (forward slashes) -> sha256 hex digest; manifest.json itself excluded."""
    built_with: dict[str, str]
    """Versions of the packages whose data or code shaped the bytes of the world."""
