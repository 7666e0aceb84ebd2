"""`dive synth` end to end through MCP: verified tasks, replay, resume after SIGKILL, worker determinism,
anyone's servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from dive.env import ClientPool, dive_config
from dive.synth import answers_match, load_tasks
from dive.synth.builtin import compute_answer
from dive.synth.pipeline import CANDIDATES, read_candidates
from dive.synth.records import SYNTHESIS_VERSION

FAST_DOMAINS = ["--domain", "files", "--domain", "database", "--no-embedding-metrics"]


def synth(out: Path, *args: str, world) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "dive", "synth", "--out", str(out), "--world", str(world.root), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def run50(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "n50"
    synth(out, "--n", "50", world=world)
    return out


def test_synth_50_yields_verified_tasks_a_fresh_replay_reproduces(run50, world):
    tasks = load_tasks(run50)
    assert len(tasks) == 50
    assert all(t.verification.accepted and t.verification.replayed for t in tasks)

    async def replay_all() -> int:
        reproduced = 0
        servers = sorted({t.evidence.calls[i].server for t in tasks for i in t.solution})
        async with ClientPool(dive_config(servers, world=world.root)) as pool:  # a real transport: stdio
            for task in tasks:
                session = pool.open_session()
                results = {}
                for index in task.solution:
                    call = task.evidence.calls[index]
                    results[index] = (await session.call(call.tool, call.arguments, server=call.server)).result
                rule = task.derivation[-1].rule  # a comparison reads two calls' results
                answer = compute_answer(rule, results[rule.call], results.get(rule.other_call))
                reproduced += answers_match(answer, task.answer, task.matcher)
        return reproduced

    assert anyio.run(replay_all) >= 45


def test_synth_output_files(run50):
    for name in ("tasks.jsonl", "sft.jsonl", "manifest.json", "report.md", "tools.json", "stats.json"):
        assert (run50 / name).is_file(), name
    manifest = json.loads((run50 / "manifest.json").read_text())
    assert manifest["counts"]["selected"] == 50 and manifest["tools"]
    assert manifest["synthesis"] == SYNTHESIS_VERSION
    assert all(len(t["schema_hash"]) == 16 for t in manifest["tools"].values())
    assert not any(t["domain"] in ("geo", "chrono", "science", "finance") for t in manifest["tools"].values())
    report = (run50 / "report.md").read_text()
    assert "tools covered" in report and "plot_tool_usage.png" in report and (run50 / "plot_tool_usage.png").is_file()
    sft = [json.loads(line) for line in (run50 / "sft.jsonl").read_text().splitlines()]
    first = sft[0]
    roles = [m["role"] for m in first["messages"]]
    assert roles[0] == "user" and roles[-1] == "assistant" and "tool" in roles
    assert first["messages"][-1]["content"].startswith("<answer>")
    assert first["tools"][0]["type"] == "function"


def test_datasets_reads_both_files(run50):
    datasets = pytest.importorskip("datasets")
    for name in ("tasks.jsonl", "sft.jsonl"):
        loaded = datasets.load_dataset("json", data_files=str(run50 / name), split="train")
        assert len(loaded) == 50


def test_stats_command_prints_the_metrics(run50):
    out = subprocess.run([sys.executable, "-m", "dive", "stats", str(run50)], capture_output=True, text=True,
                         timeout=300).stdout
    assert "unique_call_graphs" in out and "tools_covered" in out


def _ids(out: Path) -> list[str]:
    return [t.id for t in load_tasks(out)]


def test_same_tasks_whatever_the_worker_count_and_after_a_sigkill(world, tmp_path, monkeypatch):
    args = ["--n", "20", "--seed", "7", *FAST_DOMAINS]
    synth(tmp_path / "one", *args, world=world)
    scratch = tmp_path / "scratch"  # where the workers' servers keep their sessions' folders
    scratch.mkdir()
    monkeypatch.setenv("DIVE_SCRATCH", str(scratch))
    synth(tmp_path / "two", *args, "--workers", "2", world=world)
    assert _ids(tmp_path / "one") == _ids(tmp_path / "two")
    leftover = [p for p in scratch.rglob("*") if p.name != "dive-shared"]
    assert (scratch / "dive-shared").is_dir() and not leftover  # the worker processes deleted every folder

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "dive", "synth", "--out", str(killed), "--world", str(world.root),
                             *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not ((killed / CANDIDATES).exists() and (killed / CANDIDATES).stat().st_size):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "tasks.jsonl").exists()
    with open(killed / CANDIDATES, "ab") as f:
        f.write(b'{"index": 999, "task": {"id": "torn')  # a line torn by the kill
    synth(killed, *args, "--resume", world=world)
    lines = (killed / CANDIDATES).read_text().splitlines()
    indices = [json.loads(line)["index"] for line in lines]  # every line parses: nothing corrupt
    assert len(indices) == len(set(indices))  # nothing duplicated
    assert _ids(killed) == _ids(tmp_path / "one")  # nothing lost
    assert len(read_candidates(killed / CANDIDATES, repair=False)) == len(indices)


def test_workers_end_when_the_synthesis_process_is_killed(world, tmp_path):
    """kill -9 of `dive synth` alone (not its group, as the OOM killer does it) ends its worker processes too;
    before, each ran out its queued batches for minutes with nobody to take the results."""
    import psutil

    out = tmp_path / "orphans"
    proc = subprocess.Popen([sys.executable, "-m", "dive", "synth", "--out", str(out), "--world", str(world.root),
                             "--n", "2000", "--workers", "2", *FAST_DOMAINS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not ((out / CANDIDATES).exists() and (out / CANDIDATES).stat().st_size):
            time.sleep(0.05)
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert len(workers) >= 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        _gone, alive = psutil.wait_procs(workers, timeout=60)
        assert alive == [], f"worker processes outlived the killed run: {[p.pid for p in alive]}"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_refuses_to_overwrite_a_run_without_resume(world, tmp_path):
    (tmp_path / CANDIDATES).write_text("")
    result = subprocess.run([sys.executable, "-m", "dive", "synth", "--out", str(tmp_path), "--n", "1",
                             "--world", str(world.root)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "--resume" in result.stderr


def test_a_server_nobody_here_wrote_whose_answers_follow_the_clock_gives_no_task(world, tmp_path):
    """mcp-server-time (PyPI): no DIVE metadata; kinds are inferred, arguments come from the seeds, and its
    answers (the current time) change a second later, so none becomes a task, and the run says so."""
    binary = Path(sys.executable).with_name("mcp-server-time")
    config = tmp_path / "servers.json"
    config.write_text(json.dumps({"mcpServers": {"time": {"command": str(binary), "args": ["--local-timezone", "UTC"]}}}))
    out = tmp_path / "time"
    args = [sys.executable, "-m", "dive", "synth", "--out", str(out), "--n", "3", "--servers", str(config),
            "--toolset-size", "1-2", "--no-embedding-metrics", "--world", str(world.root)]
    short = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert short.returncode == 1 and "made 0 of 3 tasks" in short.stderr and "--allow-short" in short.stderr
    assert "volatile_tool" in short.stdout
    assert "answers the same call differently a second later" in (out / "report.md").read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tools"]["get_current_time"]["kind"] == "retrieval"
    assert manifest["rejections"]["volatile_tool"] > 0 and load_tasks(out) == []
    allowed = subprocess.run([*args[:5], str(tmp_path / "again"), *args[6:], "--allow-short"],
                             capture_output=True, text=True, timeout=600)
    assert allowed.returncode == 0, allowed.stderr


def test_ray_workers_give_the_same_tasks(world, tmp_path):
    """Synthesis workers as Ray actors on a local Ray (2 CPUs): the same tasks as one local worker."""
    pytest.importorskip("ray")
    args = ["--n", "6", "--seed", "11", *FAST_DOMAINS]
    synth(tmp_path / "local", *args, world=world)
    synth(tmp_path / "ray", *args, "--workers", "2", "--ray", "local", world=world)
    assert _ids(tmp_path / "ray") == _ids(tmp_path / "local")
