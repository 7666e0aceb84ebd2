"""AsyncDiveEnv: DIVE-v0 awaited from one event loop, hundreds of episodes at once against shared servers."""

from __future__ import annotations

import asyncio
import sys

import gymnasium as gym
import pytest

import dive  # noqa: F401  (registers DIVE-v0)
from dive.env import AsyncDiveEnv, ConfigError
from dive.env.chat_format import render_answer, render_tool_call
from dive.env.rollouts import ReplayAgent
from dive.servers.kit.sessions import shared_directory_for
from tests.env.test_dive_env import PLAIN_CONFIG, descendants, scaffold_task, wait_until_gone



async def play(env: AsyncDiveEnv, policy, **reset) -> list[tuple]:
    """One episode; returns (observation, reward, terminated, truncated, messages) per step, reset first."""
    observation, info = await env.reset(**reset)
    steps = [(observation, 0.0, False, False, info["messages"])]
    while True:
        observation, reward, terminated, truncated, info = await env.step(policy(observation, info))
        steps.append((observation, reward, terminated, truncated, info["messages"]))
        if terminated or truncated:
            return steps


def play_sync(env, policy, **reset) -> list[tuple]:
    observation, info = env.reset(**reset)
    steps = [(observation, 0.0, False, False, info["messages"])]
    while True:
        observation, reward, terminated, truncated, info = env.step(policy(observation, info))
        steps.append((observation, reward, terminated, truncated, info["messages"]))
        if terminated or truncated:
            return steps


def test_an_async_episode_reads_and_scores_as_a_dive_v0_one(synth_tasks, tasks):
    """Same seeds: the same tasks, the same text at every step, the same rewards and messages."""
    policies = [ReplayAgent(tasks), ReplayAgent(tasks, answer="wrong")]
    env = gym.make("DIVE-v0", tasks=str(synth_tasks), transport="inprocess")
    try:
        expected = [play_sync(env, policy, seed=seed) for seed in range(4) for policy in policies]
    finally:
        env.close()

    async def main() -> list[list[tuple]]:
        async with AsyncDiveEnv(tasks=str(synth_tasks), transport="inprocess") as env:
            return [await play(env, policy, seed=seed) for seed in range(4) for policy in policies]

    got = asyncio.run(main())
    assert got == expected
    assert sorted({round(steps[-1][1], 6) for steps in got}) == [0.1, 1.1]


@pytest.fixture(scope="module")
def tasks(synth_tasks):
    from dive.synth import load_tasks

    return load_tasks(synth_tasks)


def test_256_concurrent_episodes_see_only_their_own_writes_and_leave_nothing_after_close(world):
    """256 envs on one event loop share one in-process files server; each writes the same path with its own
    text, reads it back after every env has written, and finds no file another one wrote elsewhere."""
    task = scaffold_task("files-write", ["write_file", "read_file"], "Write and read.", "x", domains=("files",))
    count = 256

    async def episode(env: AsyncDiveEnv, n: int, written: asyncio.Barrier) -> tuple[str, str, str]:
        await env.reset(seed=n)
        mine = f"episode {n} wrote this"
        wrote, *_ = await env.step(render_tool_call("write_file", {"path": "notes/mine.txt", "content": mine}))
        await env.step(render_tool_call("write_file", {"path": f"notes/only-{n}.txt", "content": mine}))
        await written.wait()
        read, *_ = await env.step(render_tool_call("read_file", {"path": "notes/mine.txt"}))
        other, *_ = await env.step(render_tool_call("read_file", {"path": f"notes/only-{(n + 1) % count}.txt"}))
        return wrote, read, other

    async def main() -> None:
        envs = [AsyncDiveEnv(tasks=[task], transport="inprocess") for _ in range(count)]
        await asyncio.gather(*(env.start() for env in envs))
        hub = envs[0]._hub
        assert all(env._hub is hub for env in envs)  # one pool, one server
        stores = [close.__self__.sessions for close in hub._on_close]
        written = asyncio.Barrier(count)
        results = await asyncio.gather(*(episode(env, n, written) for n, env in enumerate(envs)))
        for n, (wrote, read, other) in enumerate(results):
            assert "Error" not in wrote
            assert f"episode {n} wrote this" in read and "wrote this" not in read.replace(f"episode {n} wrote this", "")
            assert "Error" in other and "wrote this" not in other
        sessions = {env._trace.session for env in envs}
        assert len(sessions) == count and sum(len(store) for store in stores) == count
        await asyncio.gather(*(env.close() for env in envs))
        assert all(len(store) == 0 and not store._root.exists() for store in stores)
        assert not any(shared_directory_for(f"meta:{s}", store._scratch).exists() for s in sessions for store in stores)
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
        with pytest.raises(RuntimeError, match="closed"):
            await envs[0].reset()

    asyncio.run(main())


def test_async_envs_over_stdio_share_one_server_process_and_leave_none(world):
    before = descendants()
    task = scaffold_task("files-read", ["read_file", "write_file"], "Read.", "x", domains=("files",))

    async def main() -> None:
        envs = [AsyncDiveEnv(tasks=[task], transport="stdio") for _ in range(16)]
        await asyncio.gather(*(env.start() for env in envs))
        assert len(descendants() - before) == 1
        outcomes = await asyncio.gather(*(play(env, _write_then_answer(n), seed=n) for n, env in enumerate(envs)))
        assert all(steps[-1][2] and "Error" not in steps[1][0] for steps in outcomes)
        await asyncio.gather(*(env.close() for env in envs))

    asyncio.run(main())
    assert wait_until_gone(before) == set()


def _write_then_answer(n: int):
    def policy(observation, info):
        if info["turn"] == 0:
            return render_tool_call("write_file", {"path": f"notes/{n}.txt", "content": str(n)})
        return render_answer("x")
    return policy


def test_async_faults_a_hanging_tool_times_out_and_a_crashed_server_is_restarted():
    before = descendants()
    task = scaffold_task("plain", ["echo", "slow", "crash"], "Echo 'hi'.", "hi")

    async def main() -> None:
        async with AsyncDiveEnv(tasks=[task], servers=PLAIN_CONFIG, tool_timeout=2.0) as env:
            await env.reset(seed=0)
            observation, *_ = await env.step(render_tool_call("slow", {"seconds": 30}))
            assert "timeout" in observation
            observation, _, terminated, _, info = await env.step(render_tool_call("crash", {}))
            assert "restarted" in observation and not terminated and info["server_restarts"] == 1
            observation, *_ = await env.step(render_tool_call("echo", {"text": "hi"}))
            assert '"hi"' in observation
            _, reward, terminated, _, _ = await env.step(render_answer("hi"))
            assert terminated and reward == pytest.approx(1.1)

    asyncio.run(main())
    assert wait_until_gone(before) == set()


def test_async_bad_input_gets_clear_answers(synth_tasks, tasks):
    async def main() -> None:
        env = AsyncDiveEnv(tasks=str(synth_tasks), transport="inprocess")
        observation, reward, terminated, _, info = await env.step("<answer>early</answer>")
        assert "call reset() first" in observation and terminated and reward == 0.0 and info["task_id"] is None
        async with env:
            await env.reset(options={"task_id": tasks[0].id})
            observation, reward, terminated, _, info = await env.step(123)  # type: ignore[arg-type]
            assert "must be text" in observation and reward < 0 and not terminated
            observation, *_ = await env.step(render_tool_call("no_such_tool", {}))
            assert "unknown tool 'no_such_tool'" in observation
            with pytest.raises(KeyError, match="no task 'nope'"):
                await env.reset(options={"task_id": "nope"})
        with pytest.raises(RuntimeError, match="closed"):
            await env.step(render_tool_call("no_such_tool", {}))
        with pytest.raises(RuntimeError, match="closed"):
            await env.reset(seed=0)

    asyncio.run(main())
    stray = scaffold_task("stray", ["no_such_tool"], "?", "x", domains=("files",))

    async def refused() -> None:
        with pytest.raises(ConfigError, match="no server offers"):
            async with AsyncDiveEnv(tasks=[stray], servers=PLAIN_CONFIG):
                pass

    asyncio.run(refused())


def test_in_process_server_objects_run_embedded_in_both_envs():
    """Anyone's SDK server object (here `plain_server.py`'s) as `servers={name: server}`, no process started."""
    from tests.env.plain_server import server

    before = descendants()
    task = scaffold_task("plain-echo", ["echo"], "Echo 'hi'.", "hi")
    env = gym.make("DIVE-v0", tasks=[task], servers={"plain": server})
    try:
        env.reset(seed=0)
        observation, *_ = env.step(render_tool_call("echo", {"text": "hi"}))
        assert observation == '<tool_response>\n{"text": "hi"}\n</tool_response>'
        assert descendants() - before == set()
    finally:
        env.close()

    async def main() -> None:
        async with AsyncDiveEnv(tasks=[task], servers={"plain": server}) as env:
            await env.reset(seed=0)
            observation, *_ = await env.step(render_tool_call("echo", {"text": "hi"}))
            assert observation == '<tool_response>\n{"text": "hi"}\n</tool_response>'

    asyncio.run(main())
    with pytest.raises(ConfigError, match="need tasks="):
        gym.make("DIVE-v0", servers={"plain": server})
    with pytest.raises(ConfigError, match="mixes server objects"):
        gym.make("DIVE-v0", tasks=[task], servers={"plain": server, "other": {"command": sys.executable}})
