"""DIVE-v0 step cost against the raw `mcp` SDK and OpenEnv, the async API's rate, and cost by turn.

Every figure below is measured in one run, so ratios compare like with like:

- Step latency: the same tool call made `--calls` times as a DIVE-v0 step (`<tool_call>` text in,
  tool-response text out; blocking `DiveEnv.step` and awaited `AsyncDiveEnv.step`) and as a raw
  `Client.call_tool` on the same server and transport. Two tools: a cheap files tool (our kit: sessions,
  schemas) embedded and over stdio, and a trivial `echo` on a plain SDK `MCPServer`, embedded. OpenEnv's
  in-process `MCPEnvironment.step_async` on the same `echo` (on its FastMCP server, next to FastMCP's raw
  `Client.call_tool`) runs in a throwaway virtualenv with `openenv-core` (`--openenv-venv`, made on first
  use under the temporary directory; never the project's), and the bench says so when it cannot.
- The async API: steps per second of 1, 16, 64 and 256 concurrent `AsyncDiveEnv` episodes on one event loop
  (10-turn episodes on `echo` and on the files tool), and the same across `--processes` processes (the
  route to use every core: one event loop per process).
- Cost by turn: the median step at turns 1, 2 and 50 of 50-turn episodes on the files tool, in-process and
  across two async vector-env workers (where `info` crosses a process boundary every step).
- Vector envs: steps per second of `gym.make_vec(..., vectorization_mode="async")` with 1, 2 and 4 envs.

    .venv/bin/python bench/env_step.py [--calls 300] [--seconds 4] [--tasks DIR] [--openenv-venv DIR] [--latency-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import anyio
import gymnasium as gym
from mcp import StdioServerParameters
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dive  # noqa: E402, F401
from bench.pool_latency import time_raw  # noqa: E402  (the raw SDK round trip, measured the same way)
from dive.env import AsyncDiveEnv, dive_server_config  # noqa: E402
from dive.env.chat_format import render_tool_call  # noqa: E402
from dive.env.task_sets import default_task_options, load_task_set  # noqa: E402
from dive.servers import get_domain  # noqa: E402
from dive.synth.records import DiversityKeys, Matcher, SeedEntity, Task, Verification  # noqa: E402
from dive.env.trace import Trace  # noqa: E402
from dive.world import ensure_world  # noqa: E402


class Echo(BaseModel):
    text: str


def echo_server() -> MCPServer:
    """The trivial tool, on a plain SDK server (OpenEnv's side defines the same function on FastMCP). It is a
    coroutine, as a cheap tool should be: the SDK runs a plain function in a worker thread at every call."""
    server = MCPServer("plain", log_level="WARNING")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))  # else DIVE-v0 refuses it as possibly writing
    async def echo(text: str) -> Echo:
        """Return the text unchanged."""
        return Echo(text=text)

    return server


def echo_task() -> Task:
    return Task(
        id="echo", question="Echo 'hi'.", answer="hi", answer_type="text", matcher=Matcher(kind="text"),
        toolset=["echo"], domains=["plain"], seed=SeedEntity(id="s", type="bench", name="bench"),
        evidence=Trace(session="bench"), solution=[], derivation=[], verification=Verification(accepted=True),
        diversity=DiversityKeys(tools=["echo"], toolset_key="", call_sequence=[], call_graph="", topology="",
                                domains=["plain"], answer_type="text", hops=0),
    )


def cheap_call(tasks) -> tuple[str, dict, Task]:
    """A files retrieval tool with a self-test example that some task offers (file_info where offered)."""
    specs = get_domain("files").tools
    offered = [(name != "file_info", name, task.id) for task in tasks for name in task.toolset
               if name in specs and specs[name].kind == "retrieval" and not specs[name].writes and specs[name].examples]
    if not offered:
        raise SystemExit("no task offers a files retrieval tool: pass --tasks with files-domain tasks")
    _, name, task_id = min(offered)
    return name, specs[name].examples[0].arguments, next(t for t in tasks if t.id == task_id)


# -- latency of one step -----------------------------------------------------------------------


def env_latency(env, task: Task, action: str, calls: int) -> list[float]:
    samples = []
    env.reset(options={"task_id": task.id})
    env.unwrapped.max_turns = calls + 10
    env.step(action)
    for _ in range(calls):
        start = time.perf_counter()
        observation, *_ = env.step(action)
        samples.append((time.perf_counter() - start) * 1000)
        assert "Error" not in observation[:40], observation[:300]
    return samples


async def async_latency(env_kwargs: dict, task: Task, action: str, calls: int) -> list[float]:
    async with AsyncDiveEnv(max_turns=calls + 10, **env_kwargs) as env:
        await env.reset(options={"task_id": task.id})
        await env.step(action)
        samples = []
        for _ in range(calls):
            start = time.perf_counter()
            observation, *_ = await env.step(action)
            samples.append((time.perf_counter() - start) * 1000)
            assert "Error" not in observation[:40], observation[:300]
    return samples


# -- the async API's rate ----------------------------------------------------------------------


async def async_rate(env_kwargs: dict, action: str, concurrent: int, seconds: float, turns: int = 10) -> float:
    """Steps per second of `concurrent` envs on this event loop, each replaying `turns`-turn episodes."""
    envs = [AsyncDiveEnv(max_turns=turns, **env_kwargs) for _ in range(concurrent)]
    await asyncio.gather(*(env.start() for env in envs))
    steps = 0
    deadline = time.perf_counter() + seconds

    async def play(env: AsyncDiveEnv, seed: int) -> None:
        nonlocal steps
        while time.perf_counter() < deadline:
            await env.reset(seed=seed)
            truncated = False
            while not truncated and time.perf_counter() < deadline:
                observation, _, _, truncated, _ = await env.step(action)
                steps += 1
            seed += concurrent

    try:
        start = time.perf_counter()
        await asyncio.gather(*(play(env, n) for n, env in enumerate(envs)))
        return steps / (time.perf_counter() - start)
    finally:
        await asyncio.gather(*(env.close() for env in envs))


def _process_rate(args: tuple) -> float:
    tool, env_kwargs_name, action, concurrent, seconds, tasks_arg = args
    env_kwargs = _workload_kwargs(env_kwargs_name, tasks_arg)
    return asyncio.run(async_rate(env_kwargs, action, concurrent, seconds))


def _workload_kwargs(name: str, tasks_arg: str | None) -> dict:
    if name == "echo":
        return {"tasks": [echo_task()], "servers": {"plain": echo_server()}}
    tasks = load_task_set(tasks_arg, default_task_options("train"))
    return {"tasks": [cheap_call(tasks)[2]], "transport": "inprocess"}


def processes_rate(name: str, action: str, processes: int, concurrent: int, seconds: float, tasks_arg) -> float:
    """Total steps per second of `processes` processes, each with its own event loop and servers."""
    with mp.get_context("spawn").Pool(processes) as pool:
        rates = pool.map(_process_rate, [(name, name, action, concurrent, seconds, tasks_arg)] * processes)
    return sum(rates)


# -- cost by turn ------------------------------------------------------------------------------


def cost_by_turn(step, reset, episodes: int = 8, turns: int = 50) -> dict[int, float]:
    samples: dict[int, list[float]] = {1: [], 2: [], turns: []}
    for _ in range(episodes):
        reset()
        for turn in range(1, turns + 1):
            start = time.perf_counter()
            step()
            if turn in samples:
                samples[turn].append((time.perf_counter() - start) * 1000)
    return {turn: statistics.median(values) for turn, values in samples.items()}


# -- vector envs -------------------------------------------------------------------------------


def vector_rate(task: Task, action: str, num_envs: int, seconds: float) -> float:
    envs = gym.make_vec("DIVE-v0", num_envs=num_envs, vectorization_mode="async", tasks=[task], transport="inprocess")
    try:
        envs.reset(seed=0)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            envs.step([action] * num_envs)
            steps += num_envs
        return steps / (time.perf_counter() - start)
    finally:
        envs.close()


# -- OpenEnv, in its own virtualenv -------------------------------------------------------------

OPENENV_SCRIPT = textwrap.dedent('''
    import asyncio, json, statistics, sys, time
    from fastmcp import Client, FastMCP
    from pydantic import BaseModel
    from openenv.core.env_server.mcp_environment import MCPEnvironment
    from openenv.core.env_server.mcp_types import CallToolAction

    class Echo(BaseModel):
        text: str

    mcp = FastMCP("plain")

    @mcp.tool()
    async def echo(text: str) -> Echo:
        """Return the text unchanged."""
        return Echo(text=text)

    class EchoEnv(MCPEnvironment):
        def reset(self, seed=None, episode_id=None, **kwargs):
            return None
        def _step_impl(self, action, timeout_s=None, **kwargs):
            raise NotImplementedError
        @property
        def state(self):
            return None

    async def main(calls):
        env = EchoEnv(mcp)
        action = CallToolAction(tool_name="echo", arguments={"text": "hi"})
        async with env.mcp_session() as client:
            await env.step_async(action)
            step = []
            for _ in range(calls):
                start = time.perf_counter()
                observation = await env.step_async(action)
                step.append((time.perf_counter() - start) * 1000)
            assert observation.error is None, observation.error
            await client.call_tool("echo", {"text": "hi"})
            raw = []
            for _ in range(calls):
                start = time.perf_counter()
                await client.call_tool("echo", {"text": "hi"})
                raw.append((time.perf_counter() - start) * 1000)
        import importlib.metadata as md
        print(json.dumps({"step": statistics.median(step), "raw": statistics.median(raw),
                          "version": md.version("openenv-core")}))

    asyncio.run(main(int(sys.argv[1])))
''')


def openenv_figures(venv: Path, calls: int) -> dict | str:
    """OpenEnv's step and FastMCP's raw call on `echo`, measured in `venv` (made with openenv-core if missing)."""
    python = venv / "bin" / "python"
    try:
        if not python.exists():
            print(f"(making a throwaway virtualenv for openenv-core at {venv}; the project's is left alone)")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "openenv-core"], check=True,
                           capture_output=True, text=True, timeout=900)
        script = venv / "dive_bench_openenv.py"
        script.write_text(OPENENV_SCRIPT)
        done = subprocess.run([str(python), str(script), str(calls)], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            return f"OpenEnv's run failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
        return json.loads(done.stdout.strip().splitlines()[-1])
    except subprocess.CalledProcessError as exc:
        return f"could not install openenv-core into {venv}: {(exc.stderr or '').strip()[-300:] or exc}"
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        return f"could not measure OpenEnv: {exc}"


# -- the run -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--tasks", default=None, help="a dive synth folder (default: the default training set)")
    parser.add_argument("--openenv-venv", type=Path, default=Path(tempfile.gettempdir()) / "dive-bench-openenv",
                        help="a virtualenv with openenv-core (made there if missing)")
    parser.add_argument("--latency-only", action="store_true",
                        help="print the step latency table and stop (no OpenEnv, rates, cost by turn or vector envs)")
    opts = parser.parse_args()

    world = ensure_world()
    tasks = load_task_set(opts.tasks, default_task_options("train"))
    tool, args, cheap_task = cheap_call(tasks)
    files_action = render_tool_call(tool, args)
    echo_action = render_tool_call("echo", {"text": "hi"})
    echo_kwargs = {"tasks": [echo_task()], "servers": {"plain": echo_server()}}
    files_kwargs = {"tasks": [cheap_task], "transport": "inprocess"}
    print(f"tools: files.{tool} {args} and a plain SDK echo; {opts.calls} calls each; medians in ms")

    rows = []
    server = echo_server()
    raw = anyio.run(time_raw, server, "echo", {"text": "hi"}, opts.calls)
    env = gym.make("DIVE-v0", **echo_kwargs)
    try:
        step = env_latency(env, echo_kwargs["tasks"][0], echo_action, opts.calls)
    finally:
        env.close()
    awaited = asyncio.run(async_latency(echo_kwargs, echo_kwargs["tasks"][0], echo_action, opts.calls))
    rows.append(("echo, embedded", raw, step, awaited))

    files = get_domain("files").create_server(world)
    try:
        raw = anyio.run(time_raw, files.mcp, tool, args, opts.calls)
    finally:
        files.close()
    env = gym.make("DIVE-v0", **files_kwargs)
    try:
        step = env_latency(env, cheap_task, files_action, opts.calls)
    finally:
        env.close()
    awaited = asyncio.run(async_latency(files_kwargs, cheap_task, files_action, opts.calls))
    rows.append((f"{tool}, embedded", raw, step, awaited))

    stdio = dive_server_config("files", world=world.root)
    raw = anyio.run(time_raw, StdioServerParameters(command=stdio.command, args=stdio.args, env=stdio.env),
                    tool, args, opts.calls)
    stdio_kwargs = {"tasks": [cheap_task], "transport": "stdio"}
    env = gym.make("DIVE-v0", **stdio_kwargs)
    try:
        step = env_latency(env, cheap_task, files_action, opts.calls)
    finally:
        env.close()
    awaited = asyncio.run(async_latency(stdio_kwargs, cheap_task, files_action, opts.calls))
    rows.append((f"{tool}, stdio", raw, step, awaited))

    print(f"{'tool, transport':<22} {'raw SDK':>8} {'step':>8} {'step/raw':>9} {'async step':>11} {'async/raw':>10}")
    for name, raw_ms, step_ms, async_ms in rows:
        r, s, a = statistics.median(raw_ms), statistics.median(step_ms), statistics.median(async_ms)
        print(f"{name:<22} {r:>8.3f} {s:>8.3f} {s / r:>8.2f}x {a:>11.3f} {a / r:>9.2f}x")
    if opts.latency_only:
        return
    echo_raw, echo_step, echo_async = (statistics.median(x) for x in rows[0][1:])
    openenv = openenv_figures(opts.openenv_venv, opts.calls)
    if isinstance(openenv, str):
        print(f"OpenEnv: not measured ({openenv})")
    else:
        print(f"OpenEnv {openenv['version']} MCPEnvironment.step_async on echo (FastMCP, in-process): "
              f"{openenv['step']:.3f} ms; FastMCP raw Client.call_tool {openenv['raw']:.3f} ms "
              f"({openenv['step'] / openenv['raw']:.2f}x); DIVE-v0 step / OpenEnv step: blocking "
              f"{echo_step / openenv['step']:.2f}x, async {echo_async / openenv['step']:.2f}x")

    print("async API, 10-turn episodes, one event loop (steps/s):")
    for label, kwargs, action in (("echo", echo_kwargs, echo_action), (tool, files_kwargs, files_action)):
        rates = {n: asyncio.run(async_rate(kwargs, action, n, opts.seconds)) for n in (1, 16, 64, 256)}
        print(f"  {label:<10} " + "  ".join(f"{n:>3} concurrent {r:7.1f}" for n, r in rates.items()))
    print(f"async API across {opts.processes} processes x 64 concurrent (steps/s, total):")
    for label, action in (("echo", echo_action), (tool, files_action)):
        rate = processes_rate("echo" if label == "echo" else "files", action, opts.processes, 64, opts.seconds,
                              opts.tasks)
        print(f"  {label:<10} {rate:7.1f}")

    print("step cost by turn, 50-turn episodes (median ms):")
    env = gym.make("DIVE-v0", max_turns=60, **files_kwargs)
    try:
        inproc = cost_by_turn(lambda: env.step(files_action), lambda: env.reset(seed=0))
    finally:
        env.close()
    envs = gym.make_vec("DIVE-v0", num_envs=2, vectorization_mode="async", max_turns=60, **files_kwargs)
    try:
        vector = cost_by_turn(lambda: envs.step([files_action] * 2), lambda: envs.reset(seed=0))
    finally:
        envs.close()
    for label, costs in (("in-process", inproc), ("2 vector workers", vector)):
        print(f"  {label:<17} turn 1 {costs[1]:.3f}  turn 2 {costs[2]:.3f}  turn 50 {costs[50]:.3f}  "
              f"turn 50 / turn 1 {costs[50] / costs[1]:.2f}x  turn 50 / turn 2 {costs[50] / costs[2]:.2f}x")

    base = None
    for n in (1, 2, 4):
        rate = vector_rate(cheap_task, files_action, n, opts.seconds)
        base = base or rate
        print(f"vector env, async, embedded, {tool}: {n} env(s) {rate:8.1f} steps/s ({rate / base:.2f}x one env)")


if __name__ == "__main__":
    main()
