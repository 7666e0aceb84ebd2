"""BFCL's multi-turn categories over MCP: the executable classes as servers, and a state/response scorer.

The leaderboard's multi-turn entries run on executable Python classes shipped in the `bfcl-eval`
package (GorillaFileSystem, MathAPI, MessageAPI, TwitterAPI, TicketAPI, TradingBot, TravelAPI,
VehicleControlAPI). Here each involved class of an entry becomes one MCP server whose tools are the
class's documented methods (schemas from the package's function docs), started from the entry's
`initial_config`; every session gets its own instance. The scorer follows the benchmark's documented
method (Patil et al., "The Berkeley Function Calling Leaderboard (BFCL)", ICML 2025): after each turn,
the model's instances are compared, attribute by public attribute, with instances on which the
ground-truth calls were executed (state check), and every ground-truth call's result must appear
among the results of the model's calls so far (response check). Ground-truth call text is parsed with
`ast` and never evaluated. This is our own implementation; only the classes and data are the package's.

Run one server over stdio: `python -m dive.eval.bfcl --entry-id multi_turn_base_0 --class GorillaFileSystem`.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import inspect
import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, Field, create_model

from dive import __version__

from .data import MULTI_TURN_CLASSES, BFCLDataError, BFCLEntry, FunctionCall, class_function_docs, load_entry

#: The request `_meta` keys of the project's session convention (see `dive.servers.kit.sessions`):
#: the first names the calling session, the second asks for it to start afresh.
SESSION_META_KEY = "dive/session"
FRESH_META_KEY = "dive/fresh"
DEFAULT_SESSION = "default"
#: The resource template under which each class server publishes a session's state (for scoring; not a
#: tool): `{session}` is the session's `dive/session` name, or "default" for the default session.
STATE_RESOURCE = "bfcl://state/{session}"

_PACKAGE = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"
_ERROR_PREFIX = "Error during execution: "
_UNSENT: Any = object()

MultiTurnError = Literal["empty_turn", "state_mismatch", "response_mismatch"]


@dataclass(frozen=True)
class CallOutcome:
    """One executed call: its result as text (the form results are compared in), and the raw value."""

    text: str
    value: Any
    is_error: bool


class MultiTurnVerdict(BaseModel):
    """The verdict on a multi-turn episode (or a prefix of its turns)."""

    correct: bool
    error: MultiTurnError | None = None
    turn: int | None = None
    """The first turn that failed."""
    detail: str = ""
    differences: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    """State mismatches: class -> attribute -> {"model": ..., "ground_truth": ...}."""
    missing_results: list[str] = Field(default_factory=list)
    """Response mismatches: ground-truth results that no model call produced."""


def load_class(class_name: str) -> type:
    """The executable class of that name from the installed `bfcl-eval` package."""
    if class_name not in MULTI_TURN_CLASSES:
        raise BFCLDataError(f"unknown BFCL class {class_name!r}; known: {', '.join(MULTI_TURN_CLASSES)}")
    try:
        module = importlib.import_module(f"{_PACKAGE}.{MULTI_TURN_CLASSES[class_name][0]}")
    except ImportError as exc:
        raise BFCLDataError(f"could not import BFCL class {class_name} ({exc}); install the PyPI package "
                            "bfcl-eval with `pip install --no-deps bfcl-eval mpmath`") from exc
    return getattr(module, class_name)


def new_instance(entry: BFCLEntry, class_name: str) -> Any:
    """A fresh instance of a class, in the entry's initial state for it."""
    instance = load_class(class_name)()
    load = getattr(instance, "_load_scenario", None)
    if callable(load):  # stateless classes (MathAPI) have no scenario
        load(copy.deepcopy(entry.initial_config.get(class_name, {})), long_context=False)
    return instance


def state_snapshot(instance: Any) -> dict[str, Any]:
    """The public attributes of an instance as JSON-ready data: what the state check compares.

    Nested objects become their public attributes too; a reference back to an enclosing object
    (a directory's parent) is left out, as the classes' own equality leaves it out."""
    return {name: _plain(value, (id(instance),)) for name, value in vars(instance).items() if not name.startswith("_")}


def _plain(value: Any, enclosing: tuple[int, ...]) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, enclosing) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, enclosing) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(v, enclosing) for v in value), key=repr)
    if hasattr(value, "__dict__"):
        inner = (*enclosing, id(value))
        return {name: _plain(v, inner) for name, v in vars(value).items()
                if not name.startswith("_") and id(v) not in enclosing}
    return str(value)


def _result_text(value: Any) -> str:
    """A result as text, the one form in which model and ground-truth results are compared."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


class MultiTurnState:
    """The instances of some of an entry's classes, and every call made on them with its result."""

    def __init__(self, entry: BFCLEntry, classes: Sequence[str] | None = None) -> None:
        self.entry = entry
        self.instances: dict[str, Any] = {c: new_instance(entry, c) for c in (classes or entry.involved_classes)}
        self.calls: list[FunctionCall] = []
        self.results: list[str] = []
        self._owners = {doc.name: cls for cls in self.instances for doc in class_function_docs(cls)}

    def owner(self, name: str) -> str | None:
        """The class whose method `name` is, among this state's classes."""
        return self._owners.get(name)

    def execute(self, call: FunctionCall | Mapping[str, Any]) -> CallOutcome:
        """Run one call on its class's instance and record it. A failure is a result, never a raise."""
        if not isinstance(call, FunctionCall):
            try:
                call = FunctionCall.model_validate(call)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                call = FunctionCall(name=str(call.get("name", "")))
                outcome = CallOutcome(f"{_ERROR_PREFIX}the call could not be read: {exc}", None, True)
                self.calls.append(call)
                self.results.append(outcome.text)
                return outcome
        owner = self.owner(call.name)
        if owner is None:
            outcome = CallOutcome(f"{_ERROR_PREFIX}no function named {call.name!r}", None, True)
        else:
            try:
                value = getattr(self.instances[owner], call.name)(**call.arguments)
            except Exception as exc:  # noqa: BLE001 - a bad call's failure is a result the model reads, as in BFCL
                outcome = CallOutcome(f"{_ERROR_PREFIX}{exc}", None, True)
            else:
                is_error = isinstance(value, dict) and set(value) == {"error"}
                outcome = CallOutcome(_result_text(value), value, is_error)
        self.calls.append(call)
        self.results.append(outcome.text)
        return outcome

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Each class's state (`state_snapshot`)."""
        return {cls: state_snapshot(instance) for cls, instance in self.instances.items()}


def parse_call_text(text: str) -> tuple[str, list[Any], dict[str, Any]]:
    """Parse call text such as `mv(source='a.pdf', destination='temp')` into (name, positional, keyword).

    Only a single call whose arguments are Python literals is accepted; nothing is evaluated."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"not a function call: {text!r} ({exc.msg})") from None
    if not isinstance(node, ast.Call):
        raise ValueError(f"not a function call: {text!r}")
    parts: list[str] = []
    func = node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        raise ValueError(f"not a plain function name in {text!r}")
    name = ".".join([func.id, *reversed(parts)])
    try:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise ValueError("*args/**kwargs")
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg is not None}
    except ValueError as exc:
        raise ValueError(f"arguments of {text!r} are not literals ({exc})") from None
    return name, args, kwargs


def _json_ready(value: Any) -> Any:
    """The value as a JSON client would send it (tuples become lists)."""
    return json.loads(json.dumps(value))


def ground_truth_calls(entry: BFCLEntry) -> list[list[FunctionCall]]:
    """The entry's ground-truth calls per turn, with positional arguments named by the method's signature."""
    owners = {doc.name: cls for cls in entry.involved_classes for doc in class_function_docs(cls)}
    turns: list[list[FunctionCall]] = []
    for turn in entry.ground_truth:
        calls = []
        for text in turn:
            name, args, kwargs = parse_call_text(text)
            owner = owners.get(name)
            if owner is None:
                raise BFCLDataError(f"{entry.id}: ground-truth call {text!r} names no method of {entry.involved_classes}")
            signature = inspect.signature(getattr(load_class(owner), name))
            bound = signature.bind_partial(None, *args, **kwargs).arguments  # None stands for self
            bound.pop(next(iter(signature.parameters)))
            calls.append(FunctionCall(name=name, arguments=_json_ready(dict(bound))))
        turns.append(calls)
    return turns


def _compare(model: Mapping[str, Mapping[str, Any]], truth: Mapping[str, Mapping[str, Any]]
             ) -> dict[str, dict[str, dict[str, Any]]]:
    differences: dict[str, dict[str, dict[str, Any]]] = {}
    for cls, truth_state in truth.items():
        model_state = model.get(cls, {})
        for attr, expected in truth_state.items():
            got = model_state.get(attr)
            if _json_ready(got) != _json_ready(expected):
                differences.setdefault(cls, {})[attr] = {"model": got, "ground_truth": expected}
    return differences


def _missing(expected: Sequence[str], produced: Sequence[str]) -> list[str]:
    """The expected results that `produced` lacks, counting repeats (order is free)."""
    left = Counter(produced)
    missing = []
    for item in expected:
        if left[item] > 0:
            left[item] -= 1
        else:
            missing.append(item)
    return missing


def _check(entry: BFCLEntry, turn: int, model_states: Mapping[str, Mapping[str, Any]], model_results: Sequence[str],
           truth: MultiTurnState, truth_turn_results: Sequence[str]) -> MultiTurnVerdict:
    fresh = {cls: state_snapshot(new_instance(entry, cls)) for cls in entry.involved_classes if cls not in model_states}
    differences = _compare({**fresh, **model_states}, truth.snapshot())
    if differences:
        shown = "; ".join(f"{cls}.{attr}" for cls, attrs in differences.items() for attr in attrs)
        return MultiTurnVerdict(correct=False, error="state_mismatch", turn=turn, differences=differences,
                                detail=f"after turn {turn} the state differs from the ground truth's in {shown}")
    missing = _missing(truth_turn_results, model_results)
    if missing:
        return MultiTurnVerdict(correct=False, error="response_mismatch", turn=turn, missing_results=missing,
                                detail=f"turn {turn}: {len(missing)} ground-truth result(s) never produced by the model")
    return MultiTurnVerdict(correct=True)


def _truth_through(entry: BFCLEntry, turns: int) -> tuple[MultiTurnState, list[list[str]]]:
    truth = MultiTurnState(entry)
    per_turn = []
    for calls in ground_truth_calls(entry)[:turns]:
        per_turn.append([truth.execute(c).text for c in calls])
    return truth, per_turn


def check_turn(entry: BFCLEntry, turn: int, model_states: Mapping[str, Mapping[str, Any]],
               model_results: Sequence[str]) -> MultiTurnVerdict:
    """State and response check after `turn` (0-based) on states read from live servers.

    `model_states`: class -> `state_snapshot` of the model's instance (a class the model never touched
    may be left out: it is still in its initial state). `model_results`: the result texts of all the
    model's calls so far, in any order (a class server's `state_uri(session)` resource gives both)."""
    if not 0 <= turn < len(entry.ground_truth):
        raise ValueError(f"{entry.id} has {len(entry.ground_truth)} turns; turn {turn} is out of range")
    truth, per_turn = _truth_through(entry, turn + 1)
    if not entry.ground_truth[turn]:
        return MultiTurnVerdict(correct=True)  # nothing to check in a turn that should not be solved
    return _check(entry, turn, model_states, model_results, truth, per_turn[turn])


def score_multi_turn(entry: BFCLEntry, model_calls: Sequence[Sequence[FunctionCall | Mapping[str, Any]]],
                     *, turns: int | None = None) -> MultiTurnVerdict:
    """Score an episode by replaying the model's calls, turn by turn, on fresh instances.

    `model_calls[t]`: the calls the model made in turn `t` (`{"name", "arguments"}` each; method names
    as the tools are named). Turns the model did not reach count as turns without calls.
    `turns`: score only the first `turns` turns (default: all of the entry's)."""
    total = len(entry.ground_truth) if turns is None else min(turns, len(entry.ground_truth))
    model = MultiTurnState(entry)
    truth = MultiTurnState(entry)
    truth_turns = ground_truth_calls(entry)
    for t in range(total):
        made = list(model_calls[t]) if t < len(model_calls) else []
        for call in made:
            model.execute(call)
        truth_results = [truth.execute(c).text for c in truth_turns[t]]
        if not truth_turns[t]:
            continue  # a turn that should not be solved: its calls still count for later turns' state
        if not made:
            return MultiTurnVerdict(correct=False, error="empty_turn", turn=t,
                                    detail=f"turn {t}: the model made no call where the ground truth makes "
                                           f"{len(truth_turns[t])}")
        verdict = _check(entry, t, model.snapshot(), model.results, truth, truth_results)
        if not verdict.correct:
            return verdict
    return MultiTurnVerdict(correct=True)


class _VerbatimArguments(FuncMetadata):
    """Arguments reach the method exactly as sent: the SDK would otherwise decode JSON-looking text
    ('[1, 2]') into a list, changing what a text parameter receives."""

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        return dict(data)


def _session_key(ctx: Context) -> str:
    meta = ctx.request_context.meta or {}
    key = meta.get(SESSION_META_KEY) if hasattr(meta, "get") else None
    return _key(key if isinstance(key, str) else None)


def _key(name: str | None) -> str:
    return DEFAULT_SESSION if name in (None, "", DEFAULT_SESSION) else f"meta:{name}"


def _meta_value(ctx: Context, name: str) -> Any:
    meta = ctx.request_context.meta or {}
    return meta.get(name) if hasattr(meta, "get") else None


class ClassServer:
    """An MCP server over one BFCL class for one entry. `.mcp` is what a transport runs.

    Its tools are the class's documented methods (less the entry's excluded ones) with the package's
    function docs as schemas; each session (named by `_meta["dive/session"]`, else the one default
    session) gets its own instance in the entry's initial state. The resource `state_uri(session)`
    returns that session's `{"class", "state", "results"}` for scoring."""

    def __init__(self, entry: BFCLEntry, class_name: str) -> None:
        if class_name not in entry.involved_classes:
            raise BFCLDataError(f"{class_name} is not involved in {entry.id} (involved: {entry.involved_classes})")
        self.entry = entry
        self.class_name = class_name
        self._sessions: dict[str, MultiTurnState] = {}
        cls = load_class(class_name)
        docs = [d for d in class_function_docs(class_name) if d.name not in entry.excluded_functions]
        self.mcp = MCPServer(
            name=f"bfcl-{class_name}",
            title=f"BFCL {class_name}",
            description=f"The BFCL executable class {class_name}, for entry {entry.id}",
            version=__version__,
            tools=[self._tool(cls, doc) for doc in docs],
            log_level="WARNING",
        )
        self.mcp.resource(STATE_RESOURCE, name="state", mime_type="application/json",
                          description="A session's instance state and call results (for scoring).")(
            self._read_state)

    def session(self, name: str | None = None) -> MultiTurnState:
        """The state of the session a client names with `_meta["dive/session"]` (None: the default session),
        created in the initial state on first use."""
        return self._session(_key(name))

    def end_session(self, name: str | None = None) -> None:
        """Forget a session's state; its next call starts from the initial state."""
        self._sessions.pop(_key(name), None)

    def _session(self, key: str) -> MultiTurnState:
        state = self._sessions.get(key)
        if state is None:
            state = self._sessions[key] = MultiTurnState(self.entry, [self.class_name])
        return state

    def _state_for(self, ctx: Context) -> MultiTurnState:
        key = _session_key(ctx)
        if _meta_value(ctx, FRESH_META_KEY) in ("server", "session") and key != DEFAULT_SESSION:
            self._sessions.pop(key, None)
        return self._session(key)

    def _read_state(self, session: str) -> str:
        state = self.session(session)
        return json.dumps({"class": self.class_name, "state": state.snapshot()[self.class_name],
                           "results": state.results})

    def _tool(self, cls: type, doc: Any) -> Tool:
        method = getattr(cls, doc.name)
        fields: dict[str, Any] = {}
        for param in list(inspect.signature(method).parameters.values())[1:]:
            # An optional parameter left out stays left out: the method applies its own default.
            fields[param.name] = (Any, ... if param.default is inspect.Parameter.empty else _UNSENT)
        arguments = create_model(f"{self.class_name}_{doc.name}_arguments", __base__=ArgModelBase, **fields)
        arguments.model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")
        arguments.model_rebuild(force=True)
        name = doc.name

        async def invoke(ctx: Context, **given: Any) -> CallToolResult:
            sent = {k: v for k, v in given.items() if v is not _UNSENT}
            outcome = self._state_for(ctx).execute(FunctionCall(name=name, arguments=sent))
            structured = outcome.value if isinstance(outcome.value, dict) and not outcome.is_error else None
            try:
                json.dumps(structured)
            except (TypeError, ValueError):
                structured = None
            return CallToolResult(content=[TextContent(type="text", text=outcome.text)],
                                  structured_content=structured, is_error=outcome.is_error)

        schema = doc.json_schema()
        schema["additionalProperties"] = False
        return Tool(fn=invoke, name=name, description=doc.description, parameters=schema,
                    fn_metadata=_VerbatimArguments(arg_model=arguments), is_async=True, context_kwarg="ctx")


def state_uri(session: str | None = None) -> str:
    """The URI of a session's state on a class server (`None`: the default session)."""
    return STATE_RESOURCE.replace("{session}", session or DEFAULT_SESSION)


def create_class_server(entry: BFCLEntry, class_name: str) -> ClassServer:
    """A fresh MCP server over one of an entry's classes (one per class per episode)."""
    return ClassServer(entry, class_name)


def server_config(entry: BFCLEntry, *, python: str = sys.executable) -> dict[str, Any]:
    """The standard client config `{"mcpServers": {class_name: {"command", "args"}}}` that starts one stdio
    server per involved class of the entry."""
    return {"mcpServers": {
        cls: {"command": python, "args": ["-m", "dive.eval.bfcl", "--entry-id", entry.id, "--class", cls]}
        for cls in entry.involved_classes
    }}


def main(argv: Sequence[str] | None = None) -> None:
    """Serve one class of one entry over stdio."""
    parser = argparse.ArgumentParser(prog="python -m dive.eval.bfcl",
                                     description="Serve one BFCL multi-turn class of one entry over stdio (MCP).")
    parser.add_argument("--entry-id", required=True, help="a multi-turn entry id, e.g. multi_turn_base_0")
    parser.add_argument("--class", dest="class_name", required=True, help="one of the entry's involved classes")
    args = parser.parse_args(argv)
    try:
        entry = load_entry(args.entry_id)
        if not entry.is_multi_turn:
            raise BFCLDataError(f"{args.entry_id} is not a multi-turn entry")
        server = create_class_server(entry, args.class_name)
    except BFCLDataError as exc:
        parser.exit(2, f"error: {exc}\n")
    server.mcp.run("stdio")

