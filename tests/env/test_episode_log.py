"""What a vector env's worker sends of an episode's growing info: only what is new, reassembled whole."""

from __future__ import annotations

import copy
import pickle
from multiprocessing.reduction import ForkingPickler

import gymnasium as gym
import pytest

import dive  # noqa: F401  (registers DIVE-v0)
from dive.env import episode_log
from dive.env.chat_format import render_tool_call
from dive.env.episode_log import EpisodeLog
from dive.servers import get_domain


def sent(snapshot) -> bytes:
    return bytes(ForkingPickler.dumps(snapshot))


def test_multiprocessing_sends_only_new_items_and_the_receiver_gets_the_whole_list():
    log = EpisodeLog()
    sizes = []
    for n in range(50):
        log.append({"role": "tool", "content": f"result {n} " + "x" * 1000})
        data = sent(log.snapshot())
        sizes.append(len(data))
        received = pickle.loads(data)
        assert type(received) is list and received == log.items  # the whole list, as a plain list
    assert max(sizes) < 2 * min(sizes)  # the 50th step sends what the first did
    whole = pickle.dumps(log.snapshot())  # plain pickle (files, Ray): the whole list
    assert len(whole) > 40 * sizes[-1] and pickle.loads(whole) == log.items
    assert copy.deepcopy(log.snapshot()) == log.items


def test_a_snapshot_is_unchanged_by_later_appends_and_a_new_episode_is_sent_whole():
    log = EpisodeLog([1, 2])
    first = log.snapshot()
    log.append(3)
    assert first == [1, 2] and log.snapshot() == [1, 2, 3]
    assert pickle.loads(sent(log.snapshot())) == [1, 2, 3]
    assert pickle.loads(sent(first)) == [1, 2]  # an older snapshot, sent again later, still reads right
    assert pickle.loads(sent(log.snapshot())) == [1, 2, 3]
    renewed = log.renewed(["a"])
    assert pickle.loads(sent(renewed.snapshot())) == ["a"]
    assert log.key not in episode_log._received  # the receiver forgot the ended episode


def test_a_receiver_missing_earlier_items_says_so():
    log = EpisodeLog([1])
    sent(log.snapshot())  # went elsewhere
    log.append(2)
    with pytest.raises(RuntimeError, match="without the ones before"):
        pickle.loads(sent(log.snapshot()))


def test_a_vector_env_s_main_process_reads_every_step_s_info_whole(world):
    """30 steps through two async workers: the messages and the trace that arrive are the whole episode's,
    the same as an env in this process gives for the same seed."""
    from tests.env.test_dive_env import scaffold_task

    task = scaffold_task("files-info", ["file_info"], "Info.", "x", domains=("files",))
    action = render_tool_call("file_info", get_domain("files").tools["file_info"].examples[0].arguments)
    single = gym.make("DIVE-v0", tasks=[task], transport="inprocess", max_turns=40)
    envs = gym.make_vec("DIVE-v0", num_envs=2, vectorization_mode="async", tasks=[task], transport="inprocess",
                        max_turns=40)
    try:
        _, expected = single.reset(seed=0)
        _, infos = envs.reset(seed=0)
        for turn in range(1, 31):
            _, _, _, _, expected = single.step(action)
            _, _, _, _, infos = envs.step([action, action])
            assert infos["turn"][0] == turn
            assert infos["messages"][0] == expected["messages"] and len(expected["messages"]) == 2 + 2 * turn
            assert infos["tools"][0] == expected["tools"]
            got = infos["trace"][0].calls
            assert [(c.tool, c.arguments, c.result) for c in got] == [
                (c.tool, c.arguments, c.result) for c in expected["trace"].calls]
    finally:
        single.close()
        envs.close()
