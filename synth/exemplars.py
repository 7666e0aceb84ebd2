"""Query exemplars: question structures that steer how a derived task is phrased and how hard it is.

An exemplar is a query only (never an answer): it shows a *structure* (multi-hop look-up, comparison,
aggregation, ...) over the kind of world our tool domains operate on. Config sampling draws 3-5 of them per
task (`sample_exemplars`); the deriver imitates their shape, not their content.

The packaged pool lives next to this module as `exemplars.jsonl` (one JSON object per line, in the form of
`Exemplar`). Users can supply their own file in the same form (`load_exemplars(path)`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Structure = Literal[
    "multi_hop", "comparison", "aggregation", "filtering", "conditional",
    "transformation", "cross_domain", "verification", "ranking", "temporal",
]
STRUCTURES: tuple[str, ...] = get_args(Structure)
"""Every question structure an exemplar can have."""

DOMAINS: tuple[str, ...] = ("web", "files", "database", "code", "media")
"""Our training tool domains (a user's own exemplar file may name other domains, e.g. its own servers)."""

PACKAGED_FILE = "exemplars.jsonl"


class Exemplar(BaseModel):
    """One query exemplar: its structure, the domains it touches, how many dependent steps it takes, its text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    structure: Structure
    domains: tuple[str, ...] = Field(min_length=1)
    """Tool domains the query would touch (server names)."""
    hops: int = Field(ge=1, le=5)
    """How many dependent steps the query takes."""
    text: str = Field(min_length=1)

    @field_validator("id", "text")
    @classmethod
    def _stripped(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("domains")
    @classmethod
    def _domain_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for name in value:
            name = name.strip()
            if not name:
                raise ValueError("domain names must not be blank")
            if name in out:
                raise ValueError(f"domain {name!r} is listed twice")
            out.append(name)
        return tuple(out)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "record"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_exemplars(lines: Iterable[str], source: str = "<exemplars>") -> list[Exemplar]:
    """Parse JSONL text into exemplars. Blank lines are skipped; anything malformed raises a ValueError
    naming the source, the (1-based) line number and the problem."""
    exemplars: list[Exemplar] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: line {number}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(record, dict):
            # A malformed line is a ValueError like any other (callers catch one kind of error).
            raise ValueError(  # noqa: TRY004
                f"{source}: line {number}: expected a JSON object, got {type(record).__name__}")
        try:
            exemplar = Exemplar.model_validate(record)
        except ValidationError as exc:
            raise ValueError(f"{source}: line {number}: invalid exemplar: {_describe(exc)}") from None
        if exemplar.id in seen:
            raise ValueError(f"{source}: line {number}: duplicate id {exemplar.id!r} "
                             f"(first used on line {seen[exemplar.id]})")
        seen[exemplar.id] = number
        exemplars.append(exemplar)
    if not exemplars:
        raise ValueError(f"{source}: no exemplars in the file")
    return exemplars


def load_exemplars(path: Path | str | None = None) -> list[Exemplar]:
    """Load exemplars from a JSONL file; by default the pool packaged with `dive.synth`."""
    if path is None:
        resource = files("dive.synth").joinpath(PACKAGED_FILE)
        return parse_exemplars(resource.read_text(encoding="utf-8").splitlines(), f"dive.synth/{PACKAGED_FILE}")
    path = Path(path)
    return parse_exemplars(path.read_text(encoding="utf-8").splitlines(), str(path))


def _pick_diverse(ordered: Sequence[Exemplar], k: int, chosen: list[Exemplar], structures: set[str]) -> None:
    """Fill `chosen` up to k from `ordered`: first exemplars of structures not chosen yet, then any."""
    taken = {ex.id for ex in chosen}
    for only_new in (True, False):
        for ex in ordered:
            if len(chosen) >= k:
                return
            if ex.id in taken or (only_new and ex.structure in structures):
                continue
            chosen.append(ex)
            taken.add(ex.id)
            structures.add(ex.structure)


def sample_exemplars(exemplars: Sequence[Exemplar], rng: random.Random, k: int, *,
                     domains: set[str] | None = None) -> list[Exemplar]:
    """Sample k distinct exemplars (distinct ids), deterministically for a given input and rng state.

    With `domains`, exemplars touching any of them come first, those whose domains all lie within them
    before those that only partly do; the rest fill in only when too few touch them. Within each of these
    groups, exemplars of structures not yet chosen are preferred, so the k cover different structures
    where possible. Raises ValueError when fewer than k distinct exemplars are given.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    unique: list[Exemplar] = []
    ids: set[str] = set()
    for ex in exemplars:
        if ex.id not in ids:
            ids.add(ex.id)
            unique.append(ex)
    if k > len(unique):
        raise ValueError(f"cannot sample {k} distinct exemplars from {len(unique)}")
    if k == 0:
        return []

    pool = list(unique)
    rng.shuffle(pool)
    if domains is None:
        groups = [pool]
    else:
        wanted = set(domains)
        inside = [ex for ex in pool if set(ex.domains) <= wanted]
        partly = [ex for ex in pool if wanted & set(ex.domains) and not set(ex.domains) <= wanted]
        rest = [ex for ex in pool if not wanted & set(ex.domains)]
        groups = [inside + partly, rest]

    chosen: list[Exemplar] = []
    structures: set[str] = set()
    for group in groups:
        _pick_diverse(group, k, chosen, structures)
        if len(chosen) >= k:
            break
    return chosen


__all__ = ["DOMAINS", "STRUCTURES", "Exemplar", "Structure", "load_exemplars", "parse_exemplars",
           "sample_exemplars"]
