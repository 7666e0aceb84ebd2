"""Evaluation splits, made by `dive synth` with fixed options so anyone can rebuild them.

- `id`: tasks on the training domains' tools, synthesized with an evaluation run seed (`EVAL_SEED`) that
  training does not use, minus every task whose seed entity a given training set started from.
- `heldout`: tasks synthesized only from the held-out domains' tools (never seen by training synthesis), or
  from anyone's MCP servers (`servers=`), which are then held out by construction.

Like DIVE-v0's default task sets, each split is synthesized once per machine and cached under
`$DIVE_HOME/tasks/` (keyed by its synthesis options, the version and the world).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from dive.env.task_sets import ensure_default_tasks, split_domains
from dive.synth.export import load_tasks
from dive.synth.pipeline import SynthOptions
from dive.synth.records import Task
from pydantic import BaseModel, Field

SplitName = Literal["id", "heldout"]
SPLITS: tuple[SplitName, ...] = ("id", "heldout")
#: The synthesis run seed of the evaluation splits (training sets use 0 unless told otherwise).
EVAL_SEED = 7919
#: Tasks synthesized for each split; `evaluate(n=...)` takes a prefix of them.
DEFAULT_SPLIT_SIZE = 100


class EvalSplit(BaseModel):
    """The tasks of one split, where they came from, and the servers an env needs to play them."""

    name: SplitName
    tasks: list[Task]
    source: Path
    """The `dive synth` folder (or tasks.jsonl) the tasks were read from: what the leakage audit reads."""
    servers: dict[str, Any] | None = None
    """A standard MCP client config when the tasks' tools are someone else's servers; None for our domains."""
    removed_seed_overlap: list[str] = Field(default_factory=list)
    """Task ids dropped because a training set started from the same seed entity."""
    allow_writes: bool = False
    """Whether episodes may call tools of `servers` that are not annotated read-only (the user's opt-in)."""

    def env_kwargs(self, *, transport: Literal["stdio", "inprocess"] = "inprocess", max_turns: int = 10,
                   world: str | Path | None = None, tool_timeout: float | None = None) -> dict[str, Any]:
        """Keyword arguments of `gym.make("DIVE-v0", ...)` that play this split's tasks."""
        kwargs: dict[str, Any] = {"tasks": self.tasks, "max_turns": max_turns,
                                  "world": str(world) if world else None,
                                  "split": "heldout" if self.name == "heldout" else "train"}
        if self.servers is not None:
            kwargs["servers"] = self.servers
            kwargs["transport"] = "stdio"  # external servers run on their own config's transports
            kwargs["allow_writes"] = self.allow_writes
        else:
            kwargs["transport"] = transport
        if tool_timeout is not None:
            kwargs["tool_timeout"] = tool_timeout
        return kwargs


def split_options(name: SplitName, *, size: int = DEFAULT_SPLIT_SIZE, domains: list[str] | None = None,
                  servers: dict[str, Any] | None = None, world: str | Path | None = None,
                  seed: int = EVAL_SEED, allow_writes: bool = False) -> SynthOptions:
    """The synthesis options of a split: the training domains (`id`) or the held-out ones (`heldout`), or only
    `domains` of them, or (held-out only) every tool of `servers` (those not annotated read-only only with
    `allow_writes`)."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}: use 'id' (training-domain tools) or 'heldout' (held-out tools)")
    if servers is not None and name != "heldout":
        raise ValueError("servers= makes a held-out split: the id split is made from our training domains")
    allowed = split_domains("train" if name == "id" else "heldout")
    if domains is not None:
        wrong = [d for d in domains if d not in allowed]
        if wrong and servers is None:
            kind = "training" if name == "id" else "held-out"
            raise ValueError(f"the {name} split is made from {kind} domains ({', '.join(allowed)}), "
                             f"not {', '.join(wrong)}")
    return SynthOptions(
        n=size, seed=seed, servers=servers,
        domains=domains if domains is not None else (None if servers is not None else allowed),
        include_held_out=name == "heldout", world=str(world) if world else None, embedding_metrics=False,
        allow_writes=allow_writes,
    )


def training_seeds(train: str | Path) -> set[str]:
    """The seed entities a training set started from: its manifest's `seeds`, else its tasks' seeds."""
    path = Path(train)
    manifest = path / "manifest.json" if path.is_dir() else path.with_name("manifest.json")
    if manifest.is_file():
        seeds = json.loads(manifest.read_text()).get("seeds")
        if isinstance(seeds, list):
            return {str(s) for s in seeds}
    return {t.seed.id for t in load_tasks(path)}


def build_split(name: SplitName, *, size: int = DEFAULT_SPLIT_SIZE, train: str | Path | None = None,
                domains: list[str] | None = None, servers: dict[str, Any] | None = None,
                world: str | Path | None = None, seed: int = EVAL_SEED, allow_writes: bool = False) -> EvalSplit:
    """A split's tasks, synthesized now if this machine has not made them yet (then cached).

    With `train` (a training set's folder or tasks.jsonl), the `id` split drops tasks that start from a seed
    entity the training set used, so in-distribution means same tools, new entities.
    """
    options = split_options(name, size=size, domains=domains, servers=servers, world=world, seed=seed,
                            allow_writes=allow_writes)
    folder = ensure_default_tasks(options)
    return split_from_tasks(name, folder, train=train, servers=servers, allow_writes=allow_writes)


def split_from_tasks(name: SplitName, source: str | Path, *, train: str | Path | None = None,
                     servers: dict[str, Any] | None = None, allow_writes: bool = False) -> EvalSplit:
    """A split from a given `dive synth` folder or tasks.jsonl (the `id` split drops training seeds too)."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}: use 'id' or 'heldout'")
    tasks = load_tasks(Path(source))
    removed: list[str] = []
    if train is not None and name == "id":
        seen = training_seeds(train)
        removed = [t.id for t in tasks if t.seed.id in seen]
        tasks = [t for t in tasks if t.seed.id not in seen]
    if not tasks:
        raise ValueError(f"the {name} split from {source} holds no tasks"
                         + (f" ({len(removed)} dropped: their seed entities are in the training set {train})"
                            if removed else ""))
    return EvalSplit(name=name, tasks=tasks, source=Path(source), servers=servers, removed_seed_overlap=removed,
                     allow_writes=allow_writes and servers is not None)


def infer_split_name(tasks: list[Task]) -> SplitName:
    """`heldout` when none of the tasks' domains is a training domain (held-out or someone else's servers)."""
    training = set(split_domains("train"))
    return "id" if any(d in training for t in tasks for d in t.domains) else "heldout"
