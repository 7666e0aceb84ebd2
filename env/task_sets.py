"""The tasks DIVE-v0 draws its episodes from: a `dive synth` output, or a default set made by synthesis.

The default sets are not written by hand: they are `dive synth` runs with fixed options, made once
per machine on first use, cached under `$DIVE_HOME/tasks/`, and identical on every machine for the same
version and world (synthesis is deterministic). Concurrent first uses (vector-env workers) wait on a
file lock so the set is made once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal

from dive.synth.export import load_tasks
from dive.synth.pipeline import SynthOptions, synthesize
from dive.synth.records import SYNTHESIS_VERSION, Task

from dive import __version__
from dive.world import dive_home, ensure_world

from .trace import canonical_json

Split = Literal["train", "heldout"]
#: Tasks in a default set (the synthesis `--n`).
DEFAULT_TASK_COUNT = 100


def split_domains(split: Split) -> list[str]:
    """Our domains for a split: the training domains, or every held-out one."""
    from dive.servers import TRAINING_DOMAINS, domains

    if split == "train":
        return list(TRAINING_DOMAINS)
    if split == "heldout":
        return [name for name in domains() if name not in TRAINING_DOMAINS]
    raise ValueError(f"unknown split {split!r}: use 'train' (training-domain tools) or 'heldout' (held-out tools)")


def domains_for(tasks: list[Task]) -> list[str]:
    """Our domains (training or held out) that offer the tasks' tools, as few as cover them.

    A name that two domains share (`read_file` of files and of code) is exposed plainly only when one
    of them runs, so such a name is credited to a domain the tasks need anyway; a prefixed one
    (`files__read_file`) needs both."""
    from dive.servers import domains

    known = domains()
    wanted: set[str] = set()
    chosen = {d for task in tasks for d in task.domains if d in known}
    for name in {name for task in tasks for name in task.toolset}:
        server, sep, tool = name.partition("__")
        if sep and server in known:  # a prefixed name exists only beside the other domain offering the tool
            chosen |= {server, *(d for d, domain in known.items() if tool in domain.tools)}
        else:
            wanted.add(name)
    providers = {name: [d for d, domain in known.items() if name in domain.tools] for name in wanted}
    chosen |= {found[0] for found in providers.values() if len(found) == 1}
    for found in providers.values():
        if found and not chosen & set(found):
            chosen.add(found[0])
    return [d for d in known if d in chosen]


def default_task_options(split: Split, *, servers: dict[str, Any] | None = None, world: Path | None = None,
                         n: int = DEFAULT_TASK_COUNT, allow_writes: bool = False) -> SynthOptions:
    """The synthesis options of a default task set: our split's domains, or every tool of `servers`."""
    return SynthOptions(
        n=n, seed=0, servers=servers, domains=None if servers is not None else split_domains(split),
        include_held_out=servers is not None or split == "heldout", world=str(world) if world else None,
        embedding_metrics=False, allow_writes=allow_writes,
    )


def default_tasks_dir(options: SynthOptions) -> Path:
    """Where the default set for `options` is cached."""
    world = ensure_world(Path(options.world) if options.world else None)
    # Batch size and concurrency only schedule the work: the same set comes out whatever they are.
    settings = json.loads(options.model_dump_json(exclude={"batch_size", "concurrency"}))
    key = canonical_json({"options": settings, "dive": __version__,
                          "synthesis": SYNTHESIS_VERSION, "world": world.manifest.files})
    label = "custom" if options.servers is not None else ("heldout" if options.include_held_out else "train")
    return dive_home() / "tasks" / f"{label}-n{options.n}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def ensure_default_tasks(options: SynthOptions) -> Path:
    """The default set's folder, synthesized now if this machine has not made it yet."""
    folder = default_tasks_dir(options)
    if (folder / "tasks.jsonl").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be making the same set: wait for it
        if not (folder / "tasks.jsonl").is_file():
            work = folder.with_name(folder.name + ".partial")
            synthesize(options, work, resume=work.exists())
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(work, folder)
    return folder


def load_task_set(tasks: str | Path | list[Task] | None, options: SynthOptions) -> list[Task]:
    """Tasks from a folder, a tasks.jsonl, a list, or (None) the default set for `options`."""
    if tasks is None:
        loaded = load_tasks(ensure_default_tasks(options))
    elif isinstance(tasks, list):
        loaded = list(tasks)
    else:
        loaded = load_tasks(Path(tasks))
    if not loaded:
        raise ValueError(f"the task set {tasks or default_tasks_dir(options)} holds no tasks")
    return loaded
