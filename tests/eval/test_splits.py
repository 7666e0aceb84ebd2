"""Evaluation splits: made by synthesis (rebuilt identically anywhere), on the right tools, and the id split
keeps no task that starts from a training set's seed entity."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from dive.env.task_sets import split_domains
from dive.eval import ReplayAgent, evaluate
from dive.eval.splits import (
    EVAL_SEED,
    EvalSplit,
    build_split,
    infer_split_name,
    split_from_tasks,
    split_options,
    training_seeds,
)
from dive.synth import load_tasks

SPLIT_SIZE = 3  # as tests/eval/conftest.py makes them


def test_splits_are_on_their_own_tools(id_split, heldout_split):
    training, held_out = set(split_domains("train")), set(split_domains("heldout"))
    assert len(id_split.tasks) == SPLIT_SIZE and len(heldout_split.tasks) == SPLIT_SIZE
    assert all(set(t.domains) <= training for t in id_split.tasks)
    assert all(set(t.domains) <= held_out for t in heldout_split.tasks)
    assert (infer_split_name(id_split.tasks), infer_split_name(heldout_split.tasks)) == ("id", "heldout")
    manifest = json.loads((id_split.source / "manifest.json").read_text())
    assert manifest["options"]["seed"] == EVAL_SEED != 0  # not the training sets' default run seed


def test_a_split_is_rebuilt_identically_from_scratch(world, id_split, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DIVE_HOME", str(tmp_path / "elsewhere"))  # no cache: synthesized again
    again = build_split("id", size=SPLIT_SIZE, domains=["files", "database"])
    assert again.source != id_split.source
    def defining(tasks):  # everything but timings and session names
        return [(t.id, t.question, t.answer, t.toolset, t.seed.id, t.solution, t.diversity) for t in tasks]

    assert defining(again.tasks) == defining(id_split.tasks)


def test_the_id_split_drops_tasks_sharing_a_training_seed(id_split, tmp_path: Path):
    shared = id_split.tasks[0].seed.id
    train = tmp_path / "train"
    train.mkdir()
    (train / "manifest.json").write_text(json.dumps({"seeds": [shared, "city:nowhere"]}))
    split = split_from_tasks("id", id_split.source, train=train)
    assert shared not in {t.seed.id for t in split.tasks}
    assert split.removed_seed_overlap == [t.id for t in id_split.tasks if t.seed.id == shared]
    assert len(split.tasks) + len(split.removed_seed_overlap) == len(id_split.tasks)
    # The held-out split is never filtered by seed: its tools are what is held out.
    assert len(split_from_tasks("heldout", id_split.source, train=train).tasks) == len(id_split.tasks)


def test_training_seeds_fall_back_to_the_tasks(id_split, tmp_path: Path):
    only_tasks = tmp_path / "tasks.jsonl"
    shutil.copy(id_split.source / "tasks.jsonl", only_tasks)
    assert training_seeds(only_tasks) == {t.seed.id for t in load_tasks(only_tasks)}
    with pytest.raises(ValueError, match="holds no tasks"):
        split_from_tasks("id", id_split.source, train=only_tasks)


def test_split_options_refuse_the_wrong_domains():
    with pytest.raises(ValueError, match="training domains"):
        split_options("id", domains=["geo"])
    with pytest.raises(ValueError, match="held-out domains"):
        split_options("heldout", domains=["files"])
    with pytest.raises(ValueError, match="held-out split"):
        split_options("id", servers={"mcpServers": {}})


def test_someone_elses_servers_make_a_held_out_pool():
    servers = {"mcpServers": {"time": {"command": "mcp-server-time", "args": []}}}
    options = split_options("heldout", servers=servers, size=5)
    assert options.servers == servers and options.include_held_out and options.domains is None
    assert options.seed == EVAL_SEED and options.n == 5
    kwargs = EvalSplit(name="heldout", tasks=[], source=Path("pool"), servers=servers).env_kwargs(transport="inprocess")
    assert kwargs["servers"] == servers and kwargs["transport"] == "stdio"  # their own config's transports


def test_a_held_out_pool_from_a_server_nobody_here_wrote(world, tmp_path: Path, monkeypatch):
    """A server written with the SDK alone (tests/env/lookup_server.py): a held-out split synthesized from it,
    and played against it."""
    monkeypatch.setenv("DIVE_HOME", str(tmp_path))
    script = Path(__file__).parents[1] / "env" / "lookup_server.py"
    servers = {"mcpServers": {"lookup": {"command": sys.executable, "args": [str(script)]}}}
    split = build_split("heldout", size=2, servers=servers)
    assert split.servers == servers and all(t.domains for t in split.tasks)
    results = evaluate(ReplayAgent(split.tasks), split.tasks, split.env_kwargs(), split="heldout")
    assert results.metrics().splits["heldout"].success_rate == 1.0
    assert {c.server for e in results.episodes for c in e.trace.calls} == {"lookup"}


def test_a_server_whose_tools_write_is_evaluated_only_with_the_users_opt_in(world, tmp_path: Path, monkeypatch):
    """Tools annotated as writing (not destructively) are left out of a held-out split unless the user passes
    allow_writes (`dive eval run --allow-writes`); with it, the split is made from them and played against them."""
    monkeypatch.setenv("DIVE_HOME", str(tmp_path))
    script = Path(__file__).parents[1] / "env" / "lookup_server.py"
    servers = {"mcpServers": {"lookup": {"command": sys.executable, "args": [str(script)],
                                         "env": {"LOOKUP_AS_WRITER": "1"}}}}
    with pytest.raises(ValueError, match="left out for safety"):
        build_split("heldout", size=2, servers=servers)
    split = build_split("heldout", size=2, servers=servers, allow_writes=True)
    assert split.allow_writes and split.env_kwargs()["allow_writes"] is True
    played = evaluate(ReplayAgent(split.tasks), split.tasks, split.env_kwargs(), split="heldout")
    assert played.metrics().splits["heldout"].errors["tool_error"] == 0
    assert played.metrics().splits["heldout"].success_rate == 1.0
    refused = evaluate(ReplayAgent(split.tasks), split.tasks, {**split.env_kwargs(), "allow_writes": False},
                       split="heldout")
    calls = [c for e in refused.episodes for c in e.trace.calls]
    assert calls and all(c.is_error and "read-only" in c.error for c in calls)  # refused before the server
