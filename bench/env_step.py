"""DIVE-v0 step latency against the raw `mcp` SDK, reset cost, and steps per second with 1, 4 and 8 envs.

Step latency: the same cheap tool call (a files tool's self-test example) made `--calls` times as a
DIVE-v0 step (`<tool_call>` text in, tool-response text out) and as a raw `Client.call_tool` on the
same server and transport, embedded (in-memory transport) and over stdio, in the same run; the ratio
env/raw is the env's own overhead. Reset: median `env.reset()` time. Throughput: a vector env
(async, embedded servers in each worker) for `--seconds`, once calling the cheap tool every turn (the env's
own cost) and once played by the scripted replay agent over the task set (each task's own tools, some costly).

    .venv/bin/python bench/env_step.py [--calls 300] [--seconds 20] [--tasks DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import anyio
import gymnasium as gym
from mcp import StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dive  # noqa: E402, F401
from bench.pool_latency import time_raw  # noqa: E402  (the raw SDK round trip, measured the same way)
from dive.env import dive_server_config  # noqa: E402
from dive.env.chat_format import render_tool_call  # noqa: E402
from dive.env.rollouts import ReplayAgent  # noqa: E402
from dive.env.task_sets import default_task_options, load_task_set  # noqa: E402
from dive.servers import get_domain  # noqa: E402
from dive.world import ensure_world  # noqa: E402


def cheap_call(tasks) -> tuple[str, dict, str]:
    """A files retrieval tool with a self-test example that some task offers (file_info where offered)."""
    specs = get_domain("files").tools
    offered = [(name != "file_info", name, task.id) for task in tasks for name in task.toolset
               if name in specs and specs[name].kind == "retrieval" and not specs[name].writes and specs[name].examples]
    if not offered:
        raise SystemExit("no task offers a files retrieval tool: pass --tasks with files-domain tasks")
    _, name, task_id = min(offered)
    return name, specs[name].examples[0].arguments, task_id


def env_latency(env, task_id: str, tool: str, args: dict, calls: int) -> list[float]:
    action = render_tool_call(tool, args)
    samples = []
    env.reset(options={"task_id": task_id})
    env.unwrapped.max_turns = calls + 10
    env.step(action)
    for _ in range(calls):
        start = time.perf_counter()
        observation, *_ = env.step(action)
        samples.append((time.perf_counter() - start) * 1000)
        assert "Error" not in observation[:40], observation[:300]
    return samples


def reset_cost(env, n: int = 50) -> float:
    samples = []
    for seed in range(n):
        start = time.perf_counter()
        env.reset(seed=seed)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def steps_per_second(tasks, policy, num_envs: int, seconds: float) -> float:
    envs = gym.make_vec("DIVE-v0", num_envs=num_envs, vectorization_mode="async", tasks=tasks, transport="inprocess")
    try:
        observations, infos = envs.reset(seed=0)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            actions = [policy(observations[i], {"task_id": infos["task_id"][i], "turn": int(infos["turn"][i])})
                       for i in range(num_envs)]
            observations, _, _, _, infos = envs.step(actions)
            steps += num_envs
        return steps / (time.perf_counter() - start)
    finally:
        envs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--tasks", default=None, help="a dive synth folder (default: the default training set)")
    opts = parser.parse_args()

    world = ensure_world()
    tasks = load_task_set(opts.tasks, default_task_options("train"))
    tool, args, task_id = cheap_call(tasks)
    print(f"tool: files.{tool} {args}; {len(tasks)} tasks; {opts.calls} calls each")

    rows = []
    server = get_domain("files").create_server(world)
    try:
        raw = anyio.run(time_raw, server.mcp, tool, args, opts.calls)
    finally:
        server.close()
    env = gym.make("DIVE-v0", tasks=tasks, transport="inprocess")
    try:
        rows.append(("embedded", raw, env_latency(env, task_id, tool, args, opts.calls)))
        embedded_reset = reset_cost(env)
    finally:
        env.close()

    stdio = dive_server_config("files", world=world.root)
    raw = anyio.run(time_raw, StdioServerParameters(command=stdio.command, args=stdio.args, env=stdio.env),
                    tool, args, opts.calls)
    env = gym.make("DIVE-v0", tasks=tasks, transport="stdio")
    try:
        rows.append(("stdio", raw, env_latency(env, task_id, tool, args, opts.calls)))
        stdio_reset = reset_cost(env)
    finally:
        env.close()

    print(f"{'transport':<10} {'raw SDK ms':>11} {'DIVE-v0 step ms':>16} {'env/raw':>8}")
    for name, raw_ms, env_ms in rows:
        r, e = statistics.median(raw_ms), statistics.median(env_ms)
        print(f"{name:<10} {r:>11.3f} {e:>16.3f} {e / r:>8.2f}x")
    print(f"reset: embedded {embedded_reset:.3f} ms, stdio {stdio_reset:.3f} ms (median of 50)")

    cheap_task = [t for t in tasks if t.id == task_id]
    workloads = [("the cheap tool, 10-turn episodes", cheap_task, lambda obs, info: render_tool_call(tool, args)),
                 ("replayed tasks (their own tools)", tasks, ReplayAgent(tasks))]
    for label, subset, policy in workloads:
        base = None
        for n in (1, 4, 8):
            rate = steps_per_second(subset, policy, n, opts.seconds)
            base = base or rate
            print(f"{label}: {n} env(s), async, embedded: {rate:8.1f} steps/s ({rate / base:.2f}x one env)")


if __name__ == "__main__":
    main()
