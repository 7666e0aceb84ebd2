"""DIVE-v0: one synthesized task per episode, real MCP tools, text in and text out.

    import gymnasium as gym, dive
    env = gym.make("DIVE-v0")                      # default task set, training domains over stdio
    obs, info = env.reset(seed=0)                  # obs: system prompt with tool schemas + the question
    obs, reward, terminated, truncated, info = env.step('<tool_call>{"name": ..., "arguments": {...}}</tool_call>')
    obs, reward, terminated, truncated, info = env.step("<answer>42</answer>")

Observations are text: at reset the whole prompt (system message offering the task's toolset, then the
question); after a step, the new tool results (or errors), where an image, audio or resource a tool returned
is a marker line such as `[image: image/png, 12,345 bytes]`. `info` carries the same conversation as
structured chat messages (`messages`; such a result's message holds its media in full as content parts) and
OpenAI-form tool schemas (`tools`) for trainers with their own chat template, the episode's typed `trace` of
tool calls, and the reward's parts.

`AsyncDiveEnv` is the same environment for asyncio code (`await env.reset()`, `await env.step(action)`): one
process drives hundreds of concurrent episodes on its own event loop against one set of shared servers.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import jsonschema
import numpy as np
from gymnasium.utils import seeding
from dive.synth.records import Task

from .actions import Action, parse_action
from .chat_format import (
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    content_text,
    render_tool_response,
    render_transcript,
    result_parts,
    system_prompt,
    to_plain_messages,
    tool_schema,
)
from .config import ConfigError, MCPConfig, dive_config
from .episode_log import EpisodeLog
from .hub import AsyncServerHub, ServerHub, acquire_async_hub, acquire_hub, release_async_hub, release_hub
from .pool import DEFAULT_CALL_TIMEOUT, ClientPool
from .reward import Judge, RewardWeights, answer_reward, score_answer
from .spaces import AnyText
from .task_sets import Split, default_task_options, domains_for, load_task_set
from .trace import ListedTool, ToolCallRecord, Trace, canonical_json

OBSERVATION_MAX_CHARS = 262_144
ACTION_MAX_CHARS = 65_536
TRUNCATION_MARKER = "\n[... truncated: {dropped} more characters]"
#: Checks of a call's arguments against its tool's schema an env remembers (by tool and arguments) at most.
VERDICTS_KEPT = 4096
_UNCHECKED = object()


StepResult = tuple[str, float, bool, bool, dict[str, Any]]
#: What a step asks its driver to run, (tool name, arguments, whether it may be the session's first call to the
#: tool's server); the driver sends back the call's record.
CallRequest = tuple[str, dict[str, Any], bool]


class _DiveCore:
    """What DIVE-v0 is, apart from how a step reaches the servers: the task set, the episode's state, parsing,
    refusals, observations, reward and `info`. `DiveEnv` makes a step's tool calls blocking, `AsyncDiveEnv`
    awaits them; both run the same `_step_plan`, so the two cannot drift apart."""

    metadata = {"render_modes": ["ansi", "human"]}

    def _configure(
        self,
        tasks: str | Path | list[Task] | None,
        servers: MCPConfig | Mapping[str, Any] | str | Path | None,
        split: Split,
        max_turns: int,
        reward: RewardWeights | Mapping[str, Any] | None,
        tool_timeout: float,
        transport: Literal["stdio", "inprocess"],
        world: str | Path | None,
        judge: Judge | None,
        max_result_chars: int,
        render_mode: str | None,
        allow_writes: bool = False,
    ) -> Callable[[], tuple[ClientPool, tuple[Callable[[], None], ...]]]:
        """Check the arguments and load the tasks; returns what builds the env's (not yet entered) client pool."""
        if max_turns < 1:
            raise ConfigError(f"max_turns must be at least 1, got {max_turns}")
        if transport not in ("stdio", "inprocess"):
            raise ConfigError(f"unknown transport {transport!r}: use 'stdio' or 'inprocess'")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"unknown render_mode {render_mode!r}: use one of {self.metadata['render_modes']}")
        embedded = _embedded_servers(servers)
        if embedded is not None and tasks is None:
            raise ConfigError("in-process server objects (servers={name: server}) need tasks=: a default task set "
                              "is synthesized from servers in a client config")
        config = MCPConfig.load(servers) if servers is not None and embedded is None else None
        if config is not None and transport == "inprocess":
            raise ConfigError("transport='inprocess' runs our own domains; external servers= use their own transports")
        world_dir = Path(world) if world is not None else None
        options = default_task_options(split, servers=config.to_json() if config else None, world=world_dir,
                                       allow_writes=allow_writes)
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
        if config is not None or embedded is not None:
            domains: list[str] = []
        elif tasks is None:
            domains = options.domains or []
        else:
            domains = domains_for(self.tasks)
        if embedded is not None:
            servers_key: Any = {name: f"in-process object {id(obj)}" for name, obj in embedded.items()}
        else:
            servers_key = config.to_json() if config else domains
        self._hub_key = canonical_json({"servers": servers_key, "transport": transport,
                                        "world": str(world_dir) if world_dir else None, "timeout": tool_timeout,
                                        "allow_writes": allow_writes})
        self._tools: dict[str, ListedTool] = {}
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        self._verdicts: dict[tuple[str, str], str | None] = {}
        self._nonce = uuid.uuid4().hex[:12]
        self.observation_space = AnyText(OBSERVATION_MAX_CHARS)
        self.action_space = AnyText(ACTION_MAX_CHARS)
        self.task: Task | None = None
        self._trace = Trace(session="")
        # What info carries, as logs: a vector env's worker sends each step only what is new of them.
        self._messages = EpisodeLog()
        self._calls = EpisodeLog(self._trace.calls)
        self._schemas = EpisodeLog()
        self._turn = 0
        self._done = True
        self._transcript: list[str] = []
        self._servers_called: set[str] = set()
        return lambda: _build_pool(config, embedded, domains, transport, world_dir, tool_timeout, allow_writes)

    # -- one episode, without I/O ------------------------------------------------------------

    def _begin(self, rng: np.random.Generator, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Start an episode (the caller has told the servers that the last one is over)."""
        self.task = self._pick_task(options, rng)
        # The session name is reproducible from the seed within this env (a reused name starts afresh on
        # every server: see ClientPool.call) and never shared with another env (the nonce).
        self._trace = Trace(session=f"dive-v0-{self._nonce}-{rng.bytes(8).hex()}")
        self._calls = self._calls.renewed(self._trace.calls)
        schemas = [tool_schema(name, self._tools[name].description, self._tools[name].input_schema)
                   for name in self.task.toolset]
        self._schemas = self._schemas.renewed(schemas)
        self._messages = self._messages.renewed([{"role": "system", "content": system_prompt(schemas)},
                                                 {"role": "user", "content": self.task.question}])
        self._turn = 0
        self._done = False
        self._servers_called = set()
        observation = render_transcript(to_plain_messages(self._messages.items))
        self._transcript = [observation]
        return self._clip(observation), self._info(reward_parts={})

    def _step_plan(self, action: str) -> Generator[CallRequest, ToolCallRecord, StepResult]:
        """One step: yields each tool call to make and is sent back its record; returns the step's result."""
        if self.task is None:
            return ("No episode has started: call reset() first.", 0.0, True, False,
                    self._info(reward_parts={"error": "step before reset"}))
        if self._done:
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

        feedback, malformed = yield from self._run_calls(parsed, action)
        self._transcript.append(feedback)
        truncated = self._turn >= self.max_turns
        self._done = truncated
        reward = -self.weights.format_penalty if malformed else 0.0
        parts = {"malformed": malformed, "errors": parsed.errors}
        return self._clip(feedback), reward, False, truncated, self._info(reward_parts=parts)

    def _run_calls(self, parsed: Action, action: str) -> Generator[CallRequest, ToolCallRecord, tuple[str, bool]]:
        """Run a turn's calls; returns the observation text and whether the turn was malformed."""
        assert self.task is not None
        malformed = parsed.kind == "malformed" or bool(parsed.errors)
        if parsed.kind == "malformed":
            self._messages.append({"role": "assistant", "content": action})
            error = "Error: " + "; ".join(parsed.errors)
            self._messages.append({"role": "user", "content": error})
            return error, True
        call_ids = [f"call_{self._turn}_{n}" for n in range(len(parsed.calls))]
        texts = [json.dumps(c.arguments) for c in parsed.calls]
        self._messages.append({"role": "assistant", "content": _reasoning(action), "tool_calls": [
            {"id": cid, "type": "function", "function": {"name": c.name, "arguments": text}}
            for cid, c, text in zip(call_ids, parsed.calls, texts)]})
        blocks = [render_tool_response("Error: " + e) for e in parsed.errors]
        for call_id, call, text in zip(call_ids, parsed.calls, texts):
            problem = self._refuse(call.name, call.arguments, text)
            content: str | list[dict[str, Any]]
            if problem is not None:
                malformed = True
                content = "Error: " + problem
            else:
                server = self._tools[call.name].server
                record = yield call.name, call.arguments, server not in self._servers_called
                self._servers_called.add(server)
                content = self._content(record)
            self._messages.append({"role": "tool", "tool_call_id": call_id, "name": call.name, "content": content})
            blocks.append(render_tool_response(content_text(content)))
        return "\n".join(blocks), malformed

    def _render_text(self) -> str | None:
        text = "\n\n".join(self._transcript)
        if self.render_mode == "human":
            print(text)
            return None
        return text

    # -- pieces ------------------------------------------------------------------------------

    def _pick_task(self, options: Mapping[str, Any], rng: np.random.Generator) -> Task:
        if "task_id" in options:
            task = self._by_id.get(str(options["task_id"]))
            if task is None:
                raise KeyError(f"no task {options['task_id']!r} in this env's task set ({len(self.tasks)} tasks)")
            return task
        if "task_index" in options:
            return self.tasks[int(options["task_index"]) % len(self.tasks)]
        return self.tasks[int(rng.integers(len(self.tasks)))]

    def _refuse(self, name: str, arguments: dict[str, Any], arguments_json: str) -> str | None:
        """Why a call is refused before it reaches a server (an unknown tool, arguments off its schema).

        `arguments_json` is `json.dumps(arguments)`: the verdict on the same arguments is remembered by it, since
        a schema check is one of a step's larger costs of its own (jsonschema: about 8 us) and policies repeat
        their calls."""
        assert self.task is not None
        if name not in self.task.toolset:
            return f"unknown tool {name!r}: this task's tools are {', '.join(self.task.toolset)}"
        key = (name, arguments_json)
        verdict = self._verdicts.get(key, _UNCHECKED)
        if verdict is not _UNCHECKED:
            return verdict
        validator = self._validators.get(name)
        if validator is None:
            schema = self._tools[name].input_schema or {"type": "object"}
            validator = self._validators[name] = jsonschema.validators.validator_for(schema)(schema)
        problems = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
        verdict = None
        if problems:
            where = "/".join(str(p) for p in problems[0].path)
            verdict = f"bad arguments for {name}: {problems[0].message}" + (f" (at {where})" if where else "")
        if len(self._verdicts) >= VERDICTS_KEPT:
            self._verdicts.clear()
        self._verdicts[key] = verdict
        return verdict

    def _content(self, record: ToolCallRecord) -> str | list[dict[str, Any]]:
        """A call's tool-message content: its text, or (for a result that holds images, audio or resources) its
        content parts, whose text is what the model reads; the result's texts share `max_result_chars`."""
        if record.is_error:
            return "Error: " + (record.error or "the tool failed")
        left = self.max_result_chars

        def clip(text: str) -> str:
            nonlocal left
            if len(text) > left:
                text = text[:left] + TRUNCATION_MARKER.format(dropped=len(text) - left)
                left = 0
            else:
                left -= len(text)
            return text

        if any(item.type != "text" for item in record.content):
            return result_parts(record.content, clip, record.result)
        return clip(_result_json(record.result) if record.result is not None else record.text)

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
        hub = getattr(self, "_hub", None)
        return {
            "task_id": self.task.id if self.task else None,
            "turn": self._turn,
            # Copies of the lists, sharing their items: messages and call records are never changed once added.
            "messages": self._messages.snapshot(),
            "tools": self._schemas.snapshot(),
            "trace": Trace.model_construct(session=self._trace.session, calls=self._calls.snapshot()),
            "reward_parts": reward_parts,
            "server_restarts": hub.restarts if hub is not None else 0,
        }


class DiveEnv(_DiveCore, gym.Env[str, str]):
    """The DIVE-v0 environment; see the module docstring. Construct it with `gym.make("DIVE-v0", ...)`.

    Args:
        tasks: a `dive synth` output folder, a tasks.jsonl, or a list of `Task`; default: the split's
            default set, made by synthesis on first use and cached.
        servers: a standard MCP client config (dict, JSON text or file) to use instead of our domains, or a
            map of names to in-process server objects (an SDK `MCPServer`), run embedded (needs `tasks=`).
        split: "train" (training-domain tools) or "heldout" (held-out tools) for our domains.
        max_turns: model turns before the episode is truncated.
        reward: `RewardWeights` or a dict of its fields (alpha, correctness, format_penalty).
        tool_timeout: seconds a tool call may take before it fails with a timeout.
        transport: "stdio" (each of our domains in its own process) or "inprocess" (our servers in this
            process through the SDK's in-memory transport: fastest); external servers use their config.
        world: the world folder our servers use (default: the default world).
        judge: optional `judge(task, predicted) -> [0, 1]` that replaces the task's matcher.
        max_result_chars: a tool result longer than this is clipped in the observation (the trace keeps it);
            for one that holds images, audio or resources, its texts share this length.
        allow_writes: let the policy call tools of `servers` that are not annotated read-only (readOnlyHint) and
            not listed under a server's "readOnlyTools": they may change the user's data. Off, such a call is
            refused with an error observation. Our own domains write only to each episode's private copy.
    """

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
        allow_writes: bool = False,
    ) -> None:
        build = self._configure(tasks, servers, split, max_turns, reward, tool_timeout, transport, world, judge,
                                max_result_chars, render_mode, allow_writes)
        self._hub: ServerHub | None = acquire_hub(self._hub_key, lambda: ServerHub(*build()))
        try:
            self._tools = self._hub.exposed_tools()
            self._check_toolsets()
        except BaseException:
            self.close()
            raise

    # -- Gymnasium API -----------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode on `options["task_id"]` (or `options["task_index"]`), else a task drawn with the
        env's seeded generator; the episode gets a fresh server-side session (its own world state)."""
        super().reset(seed=seed)
        self._end_episode_session()
        return self._begin(self.np_random, options or {})

    def step(self, action: str) -> StepResult:
        plan = self._step_plan(action)
        try:
            request = next(plan)
            while True:
                assert self._hub is not None
                tool, arguments, fresh = request
                request = plan.send(self._hub.call_in(self._trace, tool, arguments, self.tool_timeout, fresh))
        except StopIteration as finished:
            return finished.value

    def render(self) -> str | None:
        return self._render_text()

    def close(self) -> None:
        self._end_episode_session()
        if getattr(self, "_hub", None) is not None:
            self._hub = None
            release_hub(self._hub_key)
        super().close()

    def _end_episode_session(self) -> None:
        """Let the servers free the last episode's state (sent with the next call to each of them)."""
        trace, hub = getattr(self, "_trace", None), getattr(self, "_hub", None)
        if hub is not None and trace is not None and trace.calls:
            hub.pool.end_session(trace)


class AsyncDiveEnv(_DiveCore):
    """DIVE-v0 for asyncio code: the same arguments, tasks, parsing, observations, reward, `info`, isolation
    and fault handling as `DiveEnv`, with `reset`, `step` and `close` awaited.

        async with AsyncDiveEnv(tasks="runs/synth", transport="inprocess") as env:
            observation, info = await env.reset(seed=0)
            observation, reward, terminated, truncated, info = await env.step(action)

    Envs made with the same arguments on one event loop share one client pool and one set of servers (started
    by the first, stopped with the last), and each episode is its own server-side session, so one process can
    play hundreds of episodes at once, each env in its own task (`asyncio.gather`). The pool runs on the
    caller's event loop: no call crosses a thread. `async with` (or `await env.start()`) connects and refuses
    tasks whose tools no server offers; `reset` connects when that has not been done.
    """

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
        allow_writes: bool = False,
    ) -> None:
        self._build = self._configure(tasks, servers, split, max_turns, reward, tool_timeout, transport, world,
                                      judge, max_result_chars, render_mode, allow_writes)
        self._hub: AsyncServerHub | None = None
        self._closed = False
        self.np_random, self.np_random_seed = seeding.np_random()

    async def start(self) -> AsyncDiveEnv:
        """Connect to the servers (the first env of this event loop with these arguments starts them) and check
        that they offer every tool of the task set."""
        if self._closed:
            raise RuntimeError("this AsyncDiveEnv is closed: make another one")
        if self._hub is None:
            self._hub = await acquire_async_hub(self._hub_key, lambda: AsyncServerHub(*self._build()))
            self._tools = self._hub.exposed_tools()
            try:
                self._check_toolsets()
            except BaseException:
                await self.close()
                raise
        return self

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
                    ) -> tuple[str, dict[str, Any]]:
        """Start an episode as `DiveEnv.reset` does: the same seed draws the same task, on a fresh session."""
        await self.start()
        if seed is not None:
            self.np_random, self.np_random_seed = seeding.np_random(seed)
        self._end_episode_session()
        return self._begin(self.np_random, options or {})

    async def step(self, action: str) -> StepResult:
        """One model turn, as `DiveEnv.step`; its tool calls are awaited in order."""
        if self._closed:
            raise RuntimeError("this AsyncDiveEnv is closed: make another one")
        plan = self._step_plan(action)
        try:
            request = next(plan)
            while True:
                assert self._hub is not None  # an episode is running, so start() has connected
                tool, arguments, fresh = request
                request = plan.send(await self._hub.call_in(self._trace, tool, arguments, self.tool_timeout, fresh))
        except StopIteration as finished:
            return finished.value

    def render(self) -> str | None:
        return self._render_text()

    async def close(self) -> None:
        """End the episode; the last env of this event loop with these arguments stops the servers, and has
        waited for them to stop when this returns."""
        self._closed = True
        self._end_episode_session()
        if self._hub is not None:
            self._hub = None
            await release_async_hub(self._hub_key)

    async def __aenter__(self) -> AsyncDiveEnv:
        try:
            return await self.start()
        except BaseException:
            await self.close()
            raise

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def _end_episode_session(self) -> None:
        if self._hub is not None and self._trace.calls:
            self._hub.pool.end_session(self._trace)


#: `json.dumps(value, ensure_ascii=False)`, without making an encoder at every call.
_result_json = json.JSONEncoder(ensure_ascii=False).encode
_TOOL_CALL_BLOCK = re.compile(r"<tool_call>.*?(</tool_call>|$)", re.S)


def _reasoning(action: str) -> str:
    """The text of a turn outside its tool-call blocks (what a model wrote around its calls)."""
    bare = action.strip()
    if (bare.startswith(TOOL_CALL_OPEN) and bare.endswith(TOOL_CALL_CLOSE)
            and bare.count(TOOL_CALL_OPEN) == 1 == bare.count(TOOL_CALL_CLOSE)):
        return ""  # one call block and nothing else, as most turns are: no pattern to run
    return _TOOL_CALL_BLOCK.sub("", action).strip()


def _embedded_servers(servers: Any) -> dict[str, Any] | None:
    """`servers=` given as names mapped to in-process server objects rather than as a client config; else None."""
    if not isinstance(servers, Mapping) or "mcpServers" in servers or not servers:
        return None
    config_like = [name for name, value in servers.items() if isinstance(value, (Mapping, str, Path))]
    if len(config_like) == len(servers):
        return None  # a config without "mcpServers": MCPConfig.load says what is wrong with it
    if config_like:
        raise ConfigError(f"servers= mixes server objects with config entries ({', '.join(config_like)}): give a "
                          '{"mcpServers": ...} config, or a map of names to in-process server objects')
    return dict(servers)


def _build_pool(config: MCPConfig | None, embedded: dict[str, Any] | None, domains: list[str], transport: str,
                world: Path | None, timeout: float, allow_writes: bool = False,
                ) -> tuple[ClientPool, tuple[Callable[[], None], ...]]:
    """A client pool (not yet entered) on the env's servers, and what closes its in-process servers after it."""
    if config is not None:
        return ClientPool(config, timeout=timeout, allow_writes=allow_writes), ()
    if embedded is not None:
        return ClientPool(servers=embedded, timeout=timeout), ()
    if transport == "stdio":
        return ClientPool(dive_config(domains, world=world), timeout=timeout), ()
    from dive.servers import get_domain

    from dive.world import ensure_world

    loaded = ensure_world(world)
    servers = [get_domain(d).create_server(loaded, tool_timeout=timeout) for d in domains]
    return (ClientPool(servers={s.domain.name: s.mcp for s in servers}, timeout=timeout),
            tuple(s.close for s in servers))
