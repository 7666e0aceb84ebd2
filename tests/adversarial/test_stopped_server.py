"""A server that stops answering in the middle of a DIVE-v0 episode (SIGSTOP, as a deadlock would) costs the one
call that found it: the env kills and restarts it like a crashed one, the episode goes on, the calls after it are
answered, and closing the env leaves no process behind. (Before: every later call timed out for the rest of the
env's life, and close() waited on the stopped process.) The pool's side is in tests/env/test_pool.py."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import gymnasium as gym
import psutil
import pytest
from dive.env.chat_format import render_answer, render_tool_call
from dive.env.trace import Trace
from dive.synth.records import DiversityKeys, Matcher, SeedEntity, Task, Verification

import dive  # noqa: F401  (registers DIVE-v0)

PLAIN = str(Path(__file__).resolve().parents[1] / "env" / "plain_server.py")
CONFIG = {"mcpServers": {"plain": {"command": sys.executable, "args": [PLAIN, "stdio"]}}}


def echo_task() -> Task:
    tools = ["echo"]
    return Task(
        id="echo", question="Echo 'hi'.", answer="hi", answer_type="text", matcher=Matcher(kind="text"),
        toolset=tools, domains=["plain"], seed=SeedEntity(id="s", type="test", name="test"),
        evidence=Trace(session="scaffold"), solution=[], derivation=[], verification=Verification(accepted=True),
        diversity=DiversityKeys(tools=tools, toolset_key="", call_sequence=[], call_graph="", topology="",
                                domains=["plain"], answer_type="text", hops=0),
    )


def server_processes() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if PLAIN in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.mark.timeout(180)
def test_a_server_stopped_mid_episode_is_restarted_and_the_episode_goes_on():
    env = gym.make("DIVE-v0", tasks=[echo_task()], servers=CONFIG, tool_timeout=4.0)
    stopped = None
    try:
        env.reset(seed=0)
        observation, *_ = env.step(render_tool_call("echo", {"text": "before"}))
        assert '"before"' in observation
        [stopped] = server_processes()
        os.kill(stopped.pid, signal.SIGSTOP)
        observation, _, terminated, _, info = env.step(render_tool_call("echo", {"text": "into the void"}))
        assert "stopped answering" in observation and "restarted" in observation, observation
        assert not terminated and info["server_restarts"] == 1
        assert not stopped.is_running() or stopped.status() == psutil.STATUS_ZOMBIE, "the stopped server was killed"
        for i in range(3):
            observation, _, _, _, info = env.step(render_tool_call("echo", {"text": f"hi {i}"}))
            assert f'"hi {i}"' in observation, observation
        assert info["server_restarts"] == 1, "no call after the restart timed out"
        _, reward, terminated, _, _ = env.step(render_answer("hi"))
        assert terminated and reward > 0
    finally:
        env.close()
        if stopped is not None and stopped.is_running():
            stopped.kill()
    assert server_processes() == [], "closing the env left a server behind"
