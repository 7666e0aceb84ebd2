"""DIVE-v0 through the Gymnasium API: rewards, malformed turns, isolation, faults, vector envs, Ray, external servers."""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import psutil
import pytest
from gymnasium.utils.env_checker import check_env

import dive  # noqa: F401  (registers DIVE-v0)
from dive.env.chat_format import (
    render_answer,
    render_tool_call,
    render_tool_response,
    render_transcript,
    to_plain_messages,
)
from dive.env.rollouts import ReplayAgent, collect_rollouts, run_episode
from dive.env.trace import Trace
from dive.synth import load_tasks
from dive.synth.records import DiversityKeys, Matcher, SeedEntity, Task, Verification

PLAIN = str(Path(__file__).with_name("plain_server.py"))
PLAIN_CONFIG = {"mcpServers": {"plain": {"command": sys.executable, "args": [PLAIN, "stdio"]}}}


def scaffold_task(task_id: str, toolset: list[str], question: str, answer, domains=("plain",)) -> Task:
    """A task record for fault tests on servers synthesis has no use for (a crashing or sleeping tool)."""
    return Task(
        id=task_id, question=question, answer=answer, answer_type="text", matcher=Matcher(kind="text"),
        toolset=toolset, domains=list(domains), seed=SeedEntity(id="s", type="test", name="test"),
        evidence=Trace(session="scaffold"), solution=[], derivation=[], verification=Verification(accepted=True),
        diversity=DiversityKeys(tools=toolset, toolset_key="", call_sequence=[], call_graph="", topology="",
                                domains=list(domains), answer_type="text", hops=0),
    )


def descendants() -> set[int]:
    """Live (non-zombie) processes below this test process."""
    alive = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def wait_until_gone(before: set[int], timeout: float = 15.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while (left := descendants() - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.fixture(scope="module")
def tasks(synth_tasks):
    return load_tasks(synth_tasks)


@pytest.fixture
def env(synth_tasks):
    made = gym.make("DIVE-v0", tasks=str(synth_tasks), transport="inprocess")
    yield made
    made.close()


def test_check_env_passes(env):
    check_env(env.unwrapped, skip_render_check=False)


def test_replaying_the_evidence_earns_full_reward_and_a_wrong_answer_no_correctness(env, tasks):
    alpha = env.unwrapped.weights.alpha
    for task in tasks[:6]:
        right = run_episode(env, ReplayAgent(tasks), options={"task_id": task.id})
        assert right.terminated and not right.truncated
        assert right.correctness == 1.0 and right.total_reward == pytest.approx(alpha + 1.0), right.turns[-1]
        assert [c.tool for c in right.trace.calls] == [task.evidence.calls[i].tool for i in task.solution]
        wrong = run_episode(env, ReplayAgent(tasks, answer="wrong"), options={"task_id": task.id})
        assert wrong.correctness == 0.0 and wrong.total_reward == pytest.approx(alpha)


def test_reset_gives_prompt_text_and_structured_messages(env, tasks):
    task = tasks[0]
    observation, info = env.reset(options={"task_id": task.id})
    assert task.question in observation and "<tools>" in observation
    assert [m["role"] for m in info["messages"]] == ["system", "user"]
    assert sorted(t["function"]["name"] for t in info["tools"]) == sorted(task.toolset)
    assert isinstance(info["trace"], Trace) and info["trace"].calls == []
    first, _ = env.reset(seed=7)
    again, _ = env.reset(seed=7)
    assert first == again  # the seed picks the task


@pytest.mark.parametrize(("action", "says"), [
    ("", "empty"),
    ("let me think", "no tool call and no answer"),
    ("<tool_call>{not json}</tool_call>", "not valid JSON"),
    ('<tool_call>{"arguments": {}}</tool_call>', "no tool name"),
    (render_tool_call("no_such_tool", {}), "unknown tool 'no_such_tool'"),
])
def test_malformed_actions_give_an_error_observation_and_a_penalty(env, tasks, action, says):
    env.reset(options={"task_id": tasks[0].id})
    observation, reward, terminated, truncated, info = env.step(action)
    assert says in observation
    assert reward == pytest.approx(-env.unwrapped.weights.format_penalty)
    assert not terminated and not truncated and info["reward_parts"]["malformed"]
    good = ReplayAgent(tasks)(observation, {"task_id": tasks[0].id, "turn": 0})
    _, reward, *_ = env.step(good)  # the episode goes on
    assert reward == 0.0


def test_arguments_off_the_schema_are_refused_before_the_server(env, tasks):
    task = next(t for t in tasks if t.solution)
    name = task.diversity.call_sequence[0]
    env.reset(options={"task_id": task.id})
    observation, reward, *_ , info = env.step(render_tool_call(name, {"no_such_argument": 1}))
    assert f"bad arguments for {name}" in observation and reward < 0
    assert info["trace"].calls == []


def test_the_same_arguments_get_the_same_verdict_on_every_turn(env, tasks):
    task = next(t for t in tasks if t.solution)
    name = task.diversity.call_sequence[0]
    env.reset(options={"task_id": task.id})
    bad = render_tool_call(name, {"no_such_argument": 1})
    first, *_ = env.step(bad)
    again, reward, *_, info = env.step(bad)
    assert again == first and f"bad arguments for {name}" in again and reward < 0
    assert info["trace"].calls == []


def test_envs_stepped_from_several_threads_at_once_each_get_their_own_results():
    """Envs of a process share one pool; blocking steps made from several threads at once each get their own
    calls' results, in their own traces."""
    from concurrent.futures import ThreadPoolExecutor

    task = scaffold_task("plain-echo", ["echo"], "Echo 'hi'.", "hi")
    envs = [gym.make("DIVE-v0", tasks=[task], servers=PLAIN_CONFIG, max_turns=30) for _ in range(4)]

    def play(n: int) -> tuple[list[str], Trace]:
        envs[n].reset(seed=n)
        seen = [envs[n].step(render_tool_call("echo", {"text": f"{n}-{turn}"}))[0] for turn in range(20)]
        return seen, envs[n].step(render_answer("hi"))[4]["trace"]

    try:
        assert len({id(env.unwrapped._hub) for env in envs}) == 1
        with ThreadPoolExecutor(4) as threads:
            played = list(threads.map(play, range(4)))
        for n, (seen, trace) in enumerate(played):
            assert all(f'"{n}-{turn}"' in observation for turn, observation in enumerate(seen))
            assert [call.arguments["text"] for call in trace.calls] == [f"{n}-{turn}" for turn in range(20)]
    finally:
        for env in envs:
            env.close()


def test_max_turns_truncates(synth_tasks, tasks):
    env = gym.make("DIVE-v0", tasks=str(synth_tasks), transport="inprocess", max_turns=2)
    try:
        episode = run_episode(env, ReplayAgent(tasks, answer="never"), seed=0)
        assert episode.truncated and not episode.terminated and len(episode.turns) == 2
    finally:
        env.close()


def test_episodes_do_not_see_each_others_writes(world):
    """Two envs at once (sharing one server, as envs of a process do), and one env reset with the same seed."""
    task = scaffold_task("files-write", ["write_file", "read_file"], "Write and read.", "x", domains=("files",))
    write = render_tool_call("write_file", {"path": "notes/secret.txt", "content": "mine"})
    read = render_tool_call("read_file", {"path": "notes/secret.txt"})
    a = gym.make("DIVE-v0", tasks=[task], transport="stdio")
    b = gym.make("DIVE-v0", tasks=[task], transport="stdio")
    try:
        assert a.unwrapped._hub is b.unwrapped._hub  # one set of server processes
        a.reset(seed=1)
        b.reset(seed=1)
        assert "Error" not in a.step(write)[0]
        assert "mine" in a.step(read)[0]
        assert "Error" in b.step(read)[0]
        a.reset(seed=1)  # same seed: same session name, but started afresh
        assert "Error" in a.step(read)[0]
    finally:
        a.close()
        b.close()


def test_a_hanging_tool_times_out_and_a_crashed_server_is_restarted():
    before = descendants()
    task = scaffold_task("plain", ["echo", "slow", "crash"], "Echo 'hi'.", "hi")
    env = gym.make("DIVE-v0", tasks=[task], servers=PLAIN_CONFIG, tool_timeout=2.0)
    try:
        env.reset(seed=0)
        observation, *_ = env.step(render_tool_call("slow", {"seconds": 30}))
        assert "timeout" in observation
        observation, _, terminated, _, info = env.step(render_tool_call("crash", {}))
        assert "restarted" in observation and not terminated and info["server_restarts"] == 1
        observation, *_ = env.step(render_tool_call("echo", {"text": "hi"}))
        assert '"hi"' in observation
        _, reward, terminated, _, _ = env.step(render_answer("hi"))
        assert terminated and reward == pytest.approx(1.1)
    finally:
        env.close()
    assert wait_until_gone(before) == set()


def drive_vector(envs, policy, episodes: int) -> list[float]:
    """Play a vector env until `episodes` episodes have ended; returns their returns."""
    observations, infos = envs.reset(seed=0)
    returns, running = [], [0.0] * envs.num_envs
    while len(returns) < episodes:
        actions = [policy(observations[i], {"task_id": infos["task_id"][i], "turn": int(infos["turn"][i])})
                   for i in range(envs.num_envs)]
        observations, rewards, terminated, truncated, infos = envs.step(actions)
        for i in range(envs.num_envs):
            running[i] += float(rewards[i])
            if terminated[i] or truncated[i]:
                returns.append(running[i])
                running[i] = 0.0
    return returns


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_vector_env_of_4_runs_100_episodes_and_leaves_no_process(synth_tasks, tasks, mode):
    before = descendants()
    transport = "stdio" if mode == "async" else "inprocess"
    envs = gym.make_vec("DIVE-v0", num_envs=4, vectorization_mode=mode, tasks=str(synth_tasks), transport=transport)
    try:
        returns = drive_vector(envs, ReplayAgent(tasks), episodes=100)
    finally:
        envs.close()
    assert len(returns) >= 100 and all(r == pytest.approx(1.1) for r in returns)
    assert wait_until_gone(before) == set()


@pytest.mark.parametrize(("mode", "vector_kwargs"), [
    ("async", {}), ("async", {"shared_memory": False}), ("async", {"copy": False}), ("sync", {})])
def test_every_vector_mode_hands_the_policy_its_env_s_real_text(synth_tasks, tasks, mode, vector_kwargs):
    """What a model reads in a vector env: each env's own prompt at reset, its own tool results after a step,
    the closing line after an answer (shared memory on and off, copied observations or the live buffer)."""
    by_id = {t.id: t for t in tasks}
    envs = gym.make_vec("DIVE-v0", num_envs=2, vectorization_mode=mode, vector_kwargs=vector_kwargs,
                        tasks=str(synth_tasks), transport="inprocess")
    try:
        observations, infos = envs.reset(seed=0)
        questions = [by_id[infos["task_id"][i]].question for i in range(2)]
        assert questions[0] != questions[1]
        for i in range(2):
            text = observations[i]
            assert isinstance(text, str) and "\x00" not in text
            assert text.startswith("[system]") and "<tools>" in text and text.endswith(questions[i])
            assert text == render_transcript(to_plain_messages(infos["messages"][i]))
        seen = {i: [] for i in range(2)}
        for _ in range(12):
            actions = [ReplayAgent(tasks)(observations[i], {"task_id": infos["task_id"][i], "turn": int(infos["turn"][i])})
                       for i in range(2)]
            observations, _, terminated, _, infos = envs.step(actions)
            for i in range(2):
                text = observations[i]
                assert isinstance(text, str) and "\x00" not in text
                if terminated[i]:
                    assert text == "The answer was recorded; the episode is over."
                    seen[i].append("answer")
                elif int(infos["turn"][i]) == 0:  # the step after an answer resets the env (next-step autoreset)
                    assert text.startswith("[system]") and text.endswith(by_id[infos["task_id"][i]].question)
                    seen[i].append("reset")
                else:
                    last = infos["messages"][i][-1]
                    assert last["role"] == "tool" and text.startswith("<tool_response>")
                    assert text.endswith(render_tool_response(last["content"]))
                    seen[i].append("tool")
        assert all({"tool", "answer", "reset"} <= set(kinds) for kinds in seen.values()), seen
    finally:
        envs.close()


def test_shared_text_memory_round_trips_any_unicode():
    import multiprocessing as mp

    from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

    from dive.env.spaces import AnyText

    space = AnyText(16)
    memory = create_shared_memory(space, n=3, ctx=mp)
    view = read_from_shared_memory(space, memory, n=3)
    texts = ["", "naïve 東京 \U0001f600", "x" * 40]
    for i, text in enumerate(texts):
        write_to_shared_memory(space, i, text, memory)
    assert tuple(view) == ("", "naïve 東京 \U0001f600", "x" * 16)  # read live, clipped at max_length
    write_to_shared_memory(space, 0, "later", memory)
    assert view[0] == "later" and copy.deepcopy(view) == ("later", texts[1], "x" * 16)
    assert pickle.loads(pickle.dumps(view)) == ("later", texts[1], "x" * 16)
    with pytest.raises(TypeError, match="must be a str"):
        write_to_shared_memory(space, 1, b"bytes", memory)


def test_rollouts_on_local_ray_match_local_ones(synth_tasks, tasks):
    kwargs = {"tasks": str(synth_tasks), "transport": "inprocess"}
    local = collect_rollouts(ReplayAgent(tasks), episodes=4, env_kwargs=kwargs, seed=3)
    remote = collect_rollouts(ReplayAgent(tasks), episodes=4, env_kwargs=kwargs, seed=3, ray=True, workers=2)
    assert [(e.task_id, e.total_reward) for e in remote] == [(e.task_id, e.total_reward) for e in local]
    assert all(e.correctness == 1.0 for e in remote)


def test_an_external_mcp_server_through_servers(tmp_path):
    """A server written with the SDK alone (tests/env/lookup_server.py, read-only tools answering from a PyPI
    package): tasks synthesized from it, episodes played against it."""
    from dive.synth import SynthOptions, synthesize

    config = {"mcpServers": {"lookup": {"command": sys.executable,
                                        "args": [str(Path(__file__).with_name("lookup_server.py"))]}}}
    synthesize(SynthOptions(n=3, servers=config, include_held_out=True, toolset_size=(2, 2), embedding_metrics=False),
               tmp_path / "lookup")
    tasks = load_tasks(tmp_path / "lookup")
    assert len(tasks) == 3
    env = gym.make("DIVE-v0", tasks=str(tmp_path / "lookup"), servers=config)
    try:
        for task in tasks:
            episode = run_episode(env, ReplayAgent(tasks), options={"task_id": task.id})
            assert episode.correctness == 1.0, episode.turns
            assert {c.server for c in episode.trace.calls} <= {"lookup"}
    finally:
        env.close()


@pytest.mark.timeout(1200)  # makes the default task set by synthesis first (about two minutes on 2 cores)
def test_out_of_the_box_without_importing_dive(world, tmp_path):
    """`gym.make("dive:DIVE-v0")` with no other argument: default world and task set, stdio servers."""
    script = (
        "import gymnasium as gym\n"
        "env = gym.make('dive:DIVE-v0')\n"
        "obs, info = env.reset(seed=0)\n"
        "tools = [t['function']['name'] for t in info['tools']]\n"
        "obs, reward, term, trunc, info = env.step('<answer>none</answer>')\n"
        "print(len(env.unwrapped.tasks), len(tools), term)\n"
        "env.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "DIVE_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr[-3000:]
    count, tools, terminated = done.stdout.split()[-3:]
    assert int(count) == 100 and int(tools) >= 15 and terminated == "True"
    manifest = json.loads(next((tmp_path / "home" / "tasks").glob("train-*/manifest.json")).read_text())
    assert set(manifest["options"]["domains"]) == {"web", "files", "database", "code", "media"}


def test_a_judge_replaces_the_matcher(synth_tasks, tasks):
    seen = []

    def judge(task, predicted):
        seen.append((task.id, predicted))
        return 0.5

    env = gym.make("DIVE-v0", tasks=str(synth_tasks), transport="inprocess", judge=judge, reward={"alpha": 0.2})
    try:
        episode = run_episode(env, ReplayAgent(tasks, answer="wrong"), seed=0)
        assert episode.total_reward == pytest.approx(0.2 + 0.5) and seen and seen[0][0] == episode.task_id
    finally:
        env.close()
    with pytest.raises(Exception, match="extra"):
        gym.make("DIVE-v0", tasks=str(synth_tasks), transport="inprocess", reward={"alpah": 1})


def test_held_out_tasks_run_on_the_held_out_servers(world, tmp_path):
    from dive.synth import SynthOptions, synthesize

    synthesize(SynthOptions(n=3, domains=["geo"], include_held_out=True, embedding_metrics=False), tmp_path / "geo")
    tasks = load_tasks(tmp_path / "geo")
    env = gym.make("DIVE-v0", tasks=tasks, transport="inprocess")
    try:
        assert env.unwrapped._hub.pool.servers == ["geo"]
        for task in tasks:
            assert run_episode(env, ReplayAgent(tasks), options={"task_id": task.id}).correctness == 1.0
    finally:
        env.close()


def test_finished_episodes_free_their_server_state(world, tasks, synth_tasks):
    """Each reset tells the servers the last episode is over: their session stores do not grow with episodes."""
    env = gym.make("DIVE-v0", tasks=str(synth_tasks), transport="inprocess")
    try:
        for seed in range(12):
            run_episode(env, ReplayAgent(tasks), seed=seed)
        servers = env.unwrapped._hub._on_close  # the in-process servers' close methods
        stores = [close.__self__.sessions for close in servers]
        assert sum(len(store) for store in stores) <= 2 * len(stores)  # this episode's, and at most the last one
    finally:
        env.close()


def test_a_prefixed_tool_name_brings_the_domain_it_clashes_with():
    """A menu from a run of several domains names `files__write_file` (code has a write_file too): the env
    started for such tasks runs both, so the name exists as the task lists it."""
    from dive.env.task_sets import domains_for
    from dive.synth.records import SeedEntity, Task

    task = Task.model_construct(toolset=["files__write_file", "file_info"], domains=["files"],
                                seed=SeedEntity(id="files:data", type="directory", name="data"))
    assert set(domains_for([task])) >= {"files", "code"}
