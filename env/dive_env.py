"""DIVE-v0: one synthesized task per episode, real MCP tools, text in and text out.

    import gymnasium as gym, dive
    env = gym.make("DIVE-v0")                      # default task set, training domains over stdio
    obs, info = env.reset(seed=0)                  # obs: system prompt with tool schemas + the question
    obs, reward, terminated, truncated, info = env.step('<tool_call>{"name": ..., "arguments": {...}}</tool_call>')
    obs, reward, terminated, truncated, info = env.step("<answer>42</answer>")

Observations are text: at reset the whole prompt (system message offering the task's toolset, then the
question); after a step, the new tool results (or errors). `info` carries the same conversation as
structured chat messages (`messages`) and OpenAI-form tool schemas (`tools`) for trainers with their own
chat template, the episode's typed `trace` of tool calls, and the reward's parts.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import jsonschema
from dive.synth.records import Task

from .actions import Action, parse_action
from .chat_format import (
    render_tool_response,
    render_transcript,
    system_prompt,
    to_plain_messages,
    tool_schema,
)
from .config import ConfigError, MCPConfig, dive_config
from .hub import ServerHub, acquire_hub, release_hub
from .pool import DEFAULT_CALL_TIMEOUT, ClientPool
from .reward import Judge, RewardWeights, answer_reward, score_answer
from .spaces import AnyText
from .task_sets import Split, default_task_options, domains_for, load_task_set
from .trace import ToolCallRecord, Trace, canonical_json

OBSERVATION_MAX_CHARS = 262_144
ACTION_MAX_CHARS = 65_536
TRUNCATION_MARKER = "\n[... truncated: {dropped} more characters]"


class DiveEnv(gym.Env[str, str]):
    """The DIVE-v0 environment; see the module docstring. Construct it with `gym.make("DIVE-v0", ...)`.

    Args:
        tasks: a `dive synth` output folder, a tasks.jsonl, or a list of `Task`; default: the split's
            default set, made by synthesis on first use and cached.
        servers: a standard MCP client config (dict, JSON text or file) to use instead of our domains.
        split: "train" (training-domain tools) or "heldout" (held-out tools) for our domains.
        max_turns: model turns before the episode is truncated.
        reward: `RewardWeights` or a dict of its fields (alpha, correctness, format_penalty).
        tool_timeout: seconds a tool call may take before it fails with a timeout.
        transport: "stdio" (each of our domains in its own process) or "inprocess" (our servers in this
            process through the SDK's in-memory transport: fastest); external servers use their config.
        world: the world folder our servers use (default: the default world).
        judge: optional `judge(task, predicted) -> [0, 1]` that replaces the task's matcher.
        max_result_chars: a tool result longer than this is clipped in the observation (the trace keeps it).
    """

    metadata = {"render_modes": ["ansi", "human"]}

    def __init__(
        self,
        tasks: str | Path | list[Task] | None = None,
        servers: MCPConfig | Mapping[str, Any] | str | Path | None = None,
        split: Split = "train",
        max_turns: int = 10,
        reward: RewardWeights | Mapping[str, Any] | None = None,
        tool_timeout: float = DEFAULT_CALL_TIMEOUT,
        transport: Literal["stdio", "inprocess"] = "stdio",
        world: str | Path | None = None,
        judge: Judge | None = None,
        max_result_chars: int = 8000,
        render_mode: str | None = None,
    ) -> None:
        if max_turns < 1:
            raise ConfigError(f"max_turns must be at least 1, got {max_turns}")
        if transport not in ("stdio", "inprocess"):
            raise ConfigError(f"unknown transport {transport!r}: use 'stdio' or 'inprocess'")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"unknown render_mode {render_mode!r}: use one of {self.metadata['render_modes']}")
        config = MCPConfig.load(servers) if servers is not None else None
        if config is not None and transport == "inprocess":
            raise ConfigError("transport='inprocess' runs our own domains; external servers= use their own transports")
        world_dir = Path(world) if world is not None else None
        options = default_task_options(split, servers=config.to_json() if config else None, world=world_dir)
        self.split = split
        self.max_turns = max_turns
        self.weights = RewardWeights.of(reward)
        self.tool_timeout = tool_timeout
        self.judge = judge
        self.max_result_chars = max_result_chars
        self.render_mode = render_mode
        self.tasks = load_task_set(tasks, options)
        self._by_id = {t.id: t for t in self.tasks}
        # Our servers: the split's domains for the default set; for given tasks, the domains their tools are in.
        if config is not None:
            domains: list[str] = []
        elif tasks is None:
            domains = options.domains or []
        else:
            domains = domains_for(self.tasks)
        self._hub_key = canonical_json({"servers": config.to_json() if config else domains, "transport": transport,
                                        "world": str(world_dir) if world_dir else None, "timeout": tool_timeout})
        self._hub: ServerHub | None = acquire_hub(
            self._hub_key, lambda: _start_hub(config, domains, transport, world_dir, tool_timeout))
        try:
            self._tools = self._hub.exposed_tools()
            self._check_toolsets()
        except BaseException:
            self.close()
            raise
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        self._nonce = uuid.uuid4().hex[:12]
        self.observation_space = AnyText(OBSERVATION_MAX_CHARS)
        self.action_space = AnyText(ACTION_MAX_CHARS)
        self.task: Task | None = None
        self._trace = Trace(session="")
        self._messages: list[dict[str, Any]] = []
        self._schemas: list[dict[str, Any]] = []
        self._turn = 0
        self._done = True
        self._transcript: list[str] = []

    # -- Gymnasium API -----------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode on `options["task_id"]` (or `options["task_index"]`), else a task drawn with the
        env's seeded generator; the episode gets a fresh server-side session (its own world state)."""
        super().reset(seed=seed)
        self.task = self._pick_task(options or {})
        self._end_episode_session()
        # The session name is reproducible from the seed within this env (a reused name starts afresh on
        # every server: see ClientPool.call) and never shared with another env (the nonce).
        self._trace = Trace(session=f"dive-v0-{self._nonce}-{self.np_random.bytes(8).hex()}")
        self._schemas = [tool_schema(name, self._tools[name].description, self._tools[name].input_schema)
                         for name in self.task.toolset]
        self._messages = [{"role": "system", "content": system_prompt(self._schemas)},
                          {"role": "user", "content": self.task.question}]
        self._turn = 0
        self._done = False
        observation = render_transcript(to_plain_messages(self._messages))
        self._transcript = [observation]
        return self._clip(observation), self._info(reward_parts={})

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._done or self.task is None:
            return ("The episode is over: call reset() to start another.", 0.0, True, False,
                    self._info(reward_parts={"error": "step after the episode ended"}))
        self._turn += 1
        parsed = parse_action(action)
        action = action if isinstance(action, str) else repr(action)
        self._transcript.append(f"[assistant]\n{action}")
        if parsed.kind == "answer":
            assert parsed.answer is not None
            correctness = score_answer(self.task, parsed.answer, self.judge)
            in_tags = "<answer>" in action
            reward = answer_reward(self.weights, in_tags=in_tags, correctness=correctness)
            self._messages.append({"role": "assistant", "content": action})
            self._done = True
            observation = "The answer was recorded; the episode is over."
            parts = {"answer": parsed.answer, "correctness": correctness, "format": 1.0 if in_tags else 0.0}
            return observation, reward, True, False, self._info(reward_parts=parts)

        feedback, malformed = self._run_calls(parsed, action)
        self._transcript.append(feedback)
        truncated = self._turn >= self.max_turns
        self._done = truncated
        reward = -self.weights.format_penalty if malformed else 0.0
        parts = {"malformed": malformed, "errors": parsed.errors}
        return self._clip(feedback), reward, False, truncated, self._info(reward_parts=parts)

    def render(self) -> str | None:
        text = "\n\n".join(self._transcript)
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        self._end_episode_session()
        if getattr(self, "_hub", None) is not None:
            self._hub = None
            release_hub(self._hub_key)
        super().close()

    # -- pieces ------------------------------------------------------------------------------

    def _end_episode_session(self) -> None:
        """Let the servers free the last episode's state (sent with the next call to each of them)."""
        trace, hub = getattr(self, "_trace", None), getattr(self, "_hub", None)
        if hub is not None and trace is not None and trace.calls:
            hub.pool.end_session(trace)

    def _pick_task(self, options: Mapping[str, Any]) -> Task:
        if "task_id" in options:
            task = self._by_id.get(str(options["task_id"]))
            if task is None:
                raise KeyError(f"no task {options['task_id']!r} in this env's task set ({len(self.tasks)} tasks)")
            return task
        if "task_index" in options:
            return self.tasks[int(options["task_index"]) % len(self.tasks)]
        return self.tasks[int(self.np_random.integers(len(self.tasks)))]

    def _run_calls(self, parsed: Action, action: str) -> tuple[str, bool]:
        """Run a turn's calls; returns the observation text and whether the turn was malformed."""
        assert self._hub is not None and self.task is not None
        malformed = parsed.kind == "malformed" or bool(parsed.errors)
        if parsed.kind == "malformed":
            self._messages.append({"role": "assistant", "content": action})
            error = "Error: " + "; ".join(parsed.errors)
            self._messages.append({"role": "user", "content": error})
            return error, True
        call_ids = [f"call_{self._turn}_{n}" for n in range(len(parsed.calls))]
        self._messages.append({"role": "assistant", "content": _reasoning(action), "tool_calls": [
            {"id": cid, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for cid, c in zip(call_ids, parsed.calls)]})
        blocks = [render_tool_response("Error: " + e) for e in parsed.errors]
        for call_id, call in zip(call_ids, parsed.calls):
            problem = self._refuse(call.name, call.arguments)
            if problem is not None:
                malformed = True
                content = "Error: " + problem
            else:
                content = self._content(self._hub.call_in(self._trace, call.name, call.arguments, self.tool_timeout))
            self._messages.append({"role": "tool", "tool_call_id": call_id, "name": call.name, "content": content})
            blocks.append(render_tool_response(content))
        return "\n".join(blocks), malformed

    def _refuse(self, name: str, arguments: dict[str, Any]) -> str | None:
        """Why a call is refused before it reaches a server (an unknown tool, arguments off its schema)."""
        assert self.task is not None
        if name not in self.task.toolset:
            return f"unknown tool {name!r}: this task's tools are {', '.join(self.task.toolset)}"
        validator = self._validators.get(name)
        if validator is None:
            schema = self._tools[name].input_schema or {"type": "object"}
            validator = self._validators[name] = jsonschema.validators.validator_for(schema)(schema)
        problems = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
        if problems:
            where = "/".join(str(p) for p in problems[0].path)
            return f"bad arguments for {name}: {problems[0].message}" + (f" (at {where})" if where else "")
        return None

    def _content(self, record: ToolCallRecord) -> str:
        if record.is_error:
            return "Error: " + (record.error or "the tool failed")
        text = json.dumps(record.result, ensure_ascii=False) if record.result is not None else record.text
        if len(text) > self.max_result_chars:
            text = text[: self.max_result_chars] + TRUNCATION_MARKER.format(dropped=len(text) - self.max_result_chars)
        return text

    def _clip(self, text: str) -> str:
        if len(text) <= OBSERVATION_MAX_CHARS:
            return text
        marker = TRUNCATION_MARKER.format(dropped=len(text) - OBSERVATION_MAX_CHARS)
        return text[: OBSERVATION_MAX_CHARS - len(marker) - 16] + marker

    def _check_toolsets(self) -> None:
        missing = sorted({name for task in self.tasks for name in task.toolset if name not in self._tools})
        if missing:
            shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            raise ConfigError(f"the tasks use tools that no server offers ({shown}): give the servers they were "
                              "synthesized with (servers=...), or split='heldout' for held-out tasks")

    def _info(self, *, reward_parts: dict[str, Any]) -> dict[str, Any]:
        assert self.task is not None or not reward_parts
        return {
            "task_id": self.task.id if self.task else None,
            "turn": self._turn,
            # Copies of the lists, sharing their items: messages and call records are never changed once added.
            "messages": list(self._messages),
            "tools": self._schemas,
            "trace": Trace.model_construct(session=self._trace.session, calls=list(self._trace.calls)),
            "reward_parts": reward_parts,
            "server_restarts": self._hub.restarts if self._hub else 0,
        }


def _reasoning(action: str) -> str:
    """The text of a turn outside its tool-call blocks (what a model wrote around its calls)."""
    return re.sub(r"<tool_call>.*?(</tool_call>|$)", "", action, flags=re.S).strip()


def _start_hub(config: MCPConfig | None, domains: list[str], transport: str, world: Path | None,
               timeout: float) -> ServerHub:
    if config is not None:
        return ServerHub(ClientPool(config, timeout=timeout))
    if transport == "stdio":
        return ServerHub(ClientPool(dive_config(domains, world=world), timeout=timeout))
    from dive.servers import get_domain

    from dive.world import ensure_world

    loaded = ensure_world(world)
    servers = [get_domain(d).create_server(loaded, tool_timeout=timeout) for d in domains]
    return ServerHub(ClientPool(servers={s.domain.name: s.mcp for s in servers}, timeout=timeout),
                     on_close=tuple(s.close for s in servers))
