"""Running DIVE-v0 episodes with a policy: one at a time, or on Ray actors for users who outgrow one machine.

A policy is any callable `policy(observation, info) -> str` (the model's next turn). `ReplayAgent` is
the scripted one: it replays a task's solution calls from the task's own evidence and then answers,
which is how the env is demonstrated (`dive gym run`) and tested.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from dive.synth.answers import format_answer
from dive.synth.records import Task

from .chat_format import render_answer, render_tool_call
from .trace import Trace

Policy = Callable[[str, dict[str, Any]], str]


class ReplayAgent:
    """Calls a task's solution tools with the arguments its evidence used, one per turn, then answers.

    `answer="correct"` gives the task's answer, `"wrong"` a wrong one, `"never"` keeps calling the
    first tool until the episode is truncated.
    """

    def __init__(self, tasks: Iterable[Task], answer: Literal["correct", "wrong", "never"] = "correct") -> None:
        self.tasks = {t.id: t for t in tasks}
        self.answer = answer

    def __call__(self, observation: str, info: dict[str, Any]) -> str:
        task = self.tasks[info["task_id"]]
        turn = info["turn"]
        if self.answer == "never":
            turn = 0
        if turn < len(task.solution):
            call = task.evidence.calls[task.solution[turn]]
            return render_tool_call(task.diversity.call_sequence[turn], call.arguments)
        if self.answer == "wrong":
            return render_answer(f"not {format_answer(task.answer)}")
        return render_answer(format_answer(task.answer))


class Turn(BaseModel):
    """One step of an episode, as the policy and the env saw it."""

    action: str
    observation: str
    reward: float


class Episode(BaseModel):
    """A finished episode: its task, turns, return, and the typed trace of its tool calls."""

    task_id: str
    seed: int | None = None
    turns: list[Turn] = Field(default_factory=list)
    total_reward: float = 0.0
    correctness: float = 0.0
    terminated: bool = False
    truncated: bool = False
    malformed_turns: int = 0
    trace: Trace
    messages: list[dict[str, Any]] = Field(default_factory=list)


def run_episode(env: Any, policy: Policy, *, seed: int | None = None, options: Mapping[str, Any] | None = None
                ) -> Episode:
    """Play one episode of `env` (a DIVE-v0 env) with `policy`."""
    observation, info = env.reset(seed=seed, options=dict(options or {}))
    episode = Episode(task_id=info["task_id"], seed=seed, trace=info["trace"])
    while True:
        action = policy(observation, info)
        observation, reward, terminated, truncated, info = env.step(action)
        episode.turns.append(Turn(action=action, observation=observation, reward=float(reward)))
        episode.total_reward += float(reward)
        parts = info["reward_parts"]
        episode.malformed_turns += int(bool(parts.get("malformed")))
        if terminated or truncated:
            episode.correctness = float(parts.get("correctness", 0.0))
            episode.terminated, episode.truncated = bool(terminated), bool(truncated)
            episode.trace, episode.messages = info["trace"], info["messages"]
            return episode


def collect_rollouts(
    policy: Policy,
    *,
    episodes: int,
    env_kwargs: Mapping[str, Any] | None = None,
    seed: int = 0,
    ray: bool | str = False,
    workers: int = 2,
) -> list[Episode]:
    """`episodes` episodes with seeds `seed, seed+1, ...`, in order.

    Locally they run in this process on one env. With `ray` (True for a local Ray, or an address),
    `workers` Ray actors each hold their own env (and servers) and play a share of the seeds; the
    policy is shipped to them, so it must pickle (cloudpickle).
    """
    seeds = list(range(seed, seed + episodes))
    if not ray:
        env = _make_env(env_kwargs)
        try:
            return [run_episode(env, policy, seed=s) for s in seeds]
        finally:
            env.close()

    import ray as ray_module

    if not ray_module.is_initialized():
        if ray is True:
            ray_module.init(num_cpus=max(2, workers), include_dashboard=False, log_to_driver=False)
        else:
            ray_module.init(address=str(ray), log_to_driver=False)
    actor = ray_module.remote(_RolloutActor)
    actors = [actor.remote(dict(env_kwargs or {}), policy) for _ in range(max(1, workers))]
    shares = [seeds[i::len(actors)] for i in range(len(actors))]
    try:
        results = ray_module.get([a.play.remote(share) for a, share in zip(actors, shares) if share])
    finally:
        ray_module.get([a.close.remote() for a in actors])
        for a in actors:
            ray_module.kill(a)
    by_seed = {e.seed: e for batch in results for e in (Episode.model_validate_json(raw) for raw in batch)}
    return [by_seed[s] for s in seeds]


def _make_env(env_kwargs: Mapping[str, Any] | None) -> Any:
    import gymnasium

    import dive  # noqa: F401  (registers DIVE-v0)

    return gymnasium.make("DIVE-v0", **dict(env_kwargs or {}))


class _RolloutActor:
    """A Ray actor holding one env; episodes come back as JSON (one canonical form across processes)."""

    def __init__(self, env_kwargs: dict[str, Any], policy: Policy) -> None:
        self.env = _make_env(env_kwargs)
        self.policy = policy

    def play(self, seeds: list[int]) -> list[str]:
        return [run_episode(self.env, self.policy, seed=s).model_dump_json() for s in seeds]

    def close(self) -> None:
        self.env.close()
