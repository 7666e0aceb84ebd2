"""The model backend: any OpenAI-compatible chat-completions endpoint explores, derives and solves.

vLLM, SGLang, Ollama, a llama.cpp server or a hosted API all serve `POST {base_url}/chat/completions`;
this module talks to it over httpx (no `openai` package) and plays the paper's three model roles:

- **explorer** (evidence collection): an agent loop per round that calls the config's tools from the seed
  entity, each round going deeper from the previous round's findings or broader; every call is recorded
  as a `Step` with the provenance of its arguments, exactly as the built-in explorer records them;
- **deriver** (task derivation): after each round the model writes `QUERY:` / `ANSWER:` / `REASONING:`;
  the answer is kept only if it equals a value some successful call returned (grounding), which fixes
  the answer rule and the chain of calls (`solution_hops`) replay and the task record rely on;
- **solver + judge** (verification): the model re-solves the final question with the same toolset in a
  fresh session; its answer is matched programmatically, and a text answer that fails the match goes to
  the model once more as a strict YES/NO judge.

Everything a model returns may be malformed (bad JSON arguments, unknown tools, missing headings): each
case is counted in `OpenAIBackend.failures` and the loop moves on; only the endpoint itself failing
(after retries) raises.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
from dive.env.chat_format import tool_schema
from dive.env.pool import ClientPool, PoolError
from dive.env.trace import ToolCallRecord

from .answers import answers_match, matcher_for, normalise_text, parse_number
from .builtin import Evidence, Step, solution_hops
from .catalog import ToolCatalog
from .records import AnswerRule, Derivation, SeedEntity, TaskConfig, Verification
from .values import CONTROL, Value, flatten, name_affinity, seed_values

log = logging.getLogger(__name__)

API_KEY_VARIABLES = ("DIVE_OPENAI_API_KEY", "OPENAI_API_KEY")
"""Where the API key is read from, first found wins; local servers need none."""


def api_key_from_env() -> str | None:
    """The API key from DIVE_OPENAI_API_KEY, else OPENAI_API_KEY; None when neither is set."""
    return next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)


_RETRYABLE_STATUS = {408, 409, 425, 429}


class EndpointError(RuntimeError):
    """The chat endpoint failed: refused the request, or kept failing after every retry. Names the endpoint."""


# -- argument provenance --------------------------------------------------------------------------

def argument_sources(arguments: dict[str, Any], available: list[Value]) -> dict[str, Value]:
    """Where a model's argument values came from: for every argument leaf ('param', or 'param.path' inside a
    structured argument, e.g. 'filters[0].value'), the seed value or earlier call output equal to it.

    `available` holds the seed's values and the outputs of earlier successful calls (`Evidence.values`).
    The seed's own name and id win (a task states them, so no call is needed to find them); otherwise the
    most recent call that produced the value, then the seed's other attributes. Paging and formatting
    arguments (`limit`, `offset`, ...) have no provenance. A value whose field name does not fit the
    argument's is credited to a call only when it is distinctive (not a one-letter text or a small integer:
    those turn up everywhere) and was not one item of a list (a table name seen in `list_tables` output is
    more likely known from the tool's description than picked from that list).
    """
    sources: dict[str, Value] = {}
    for key, leaf, label in _argument_leaves(arguments):
        if leaf is None or isinstance(leaf, bool) or label.lower() in CONTROL:
            continue
        best: tuple[tuple, Value] | None = None
        for value in available:
            if not _same_value(leaf, value.value):
                continue
            rank = _provenance_rank(value, label, leaf)
            if rank is not None and (best is None or rank > best[0]):
                best = (rank, value)
        if best is not None:
            sources[key] = best[1]
    return sources


_SEED_IDENTITY = {"seed:name", "seed:id"}


def _provenance_rank(value: Value, label: str, leaf: Any) -> tuple | None:
    affinity = name_affinity(label, value.key) if label else 0.0
    exact = leaf == value.value  # 'ID' (a country code) is not the 'id' of some column list
    if value.call is None:
        tier = 2 if value.source in _SEED_IDENTITY else 0
        return (tier, exact, affinity >= 1.0, -1, 0, affinity)
    if affinity < 1.0 and (value.siblings > 1 or not _distinctive(leaf)):
        return None
    return (1, exact, affinity >= 1.0, value.call, -value.siblings, affinity)


def _distinctive(value: Any) -> bool:
    if isinstance(value, str):
        return len(value.strip()) >= 2
    if isinstance(value, (int, float)):
        return abs(value) >= 10 or not float(value).is_integer()
    return False


_NUMERAL = re.compile(r"^-?\d+(\.\d+)?$")


def _same_value(given: Any, found: Any) -> bool:
    """Equal as an argument value: same text ignoring case and surrounding space, or the same number
    (a model often passes 2988507 as "2988507")."""
    if isinstance(given, bool) or isinstance(found, bool):
        return False
    if isinstance(given, str) and isinstance(found, str):
        return bool(given.strip()) and given.strip().casefold() == found.strip().casefold()
    if isinstance(given, (int, float)) and isinstance(found, (int, float)):
        return given == found
    text, number = (given, found) if isinstance(given, str) else (found, given)
    if isinstance(text, str) and isinstance(number, (int, float)) and _NUMERAL.match(text.strip()):
        return float(text) == number
    return False


def _argument_leaves(arguments: dict[str, Any]) -> Iterator[tuple[str, Any, str]]:
    """(key, leaf value, the name it goes by) for every scalar inside the arguments. In filter-like objects
    ({"column": "country_code", "value": "FR"}) the value goes by the column it filters on."""

    def walk(node: Any, path: str, name: str) -> Iterator[tuple[str, Any, str]]:
        if isinstance(node, dict):
            label = next((node[k] for k in ("column", "field", "key", "name") if isinstance(node.get(k), str)), None)
            for key, item in node.items():
                named = label if key in ("value", "values", "equals", "match") and label else key
                yield from walk(item, f"{path}.{key}" if path else key, named)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                yield from walk(item, f"{path}[{i}]", name)
        else:
            yield path, node, name

    for param, value in arguments.items():
        yield from walk(value, param, param)


def _leaf_values(arguments: dict[str, Any]) -> list[Any]:
    return [leaf for _, leaf, _ in _argument_leaves(arguments)]


# -- talking to the endpoint ----------------------------------------------------------------------

@dataclass
class ToolCallRequest:
    """One tool call a model asked for; `error` says why it cannot be made as asked (bad JSON, ...)."""

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str
    native: bool
    """True for the API's `tool_calls`, False for a `<tool_call>` block written in the text."""
    error: str | None = None


@dataclass
class ChatReply:
    """A model's reply: its text (reasoning blocks removed) and the tool calls it asked for."""

    content: str
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    finish_reason: str | None = None

    def assistant_message(self) -> dict[str, Any]:
        """The reply as the assistant turn to send back in the conversation."""
        native = [c for c in self.tool_calls if c.native]
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if native:
            # Malformed arguments are sent back as {} : some servers parse them to render their chat template.
            message["tool_calls"] = [{"id": c.id, "type": "function", "function": {
                "name": c.name, "arguments": c.raw_arguments if c.error is None else "{}"}} for c in native]
        return message


_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_TEXT_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL | re.IGNORECASE)


def parse_reply(body: Any) -> ChatReply:
    """Read a chat-completions response body; raises ValueError when it is not one."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"no choices[0].message in the response ({type(exc).__name__}: {exc})") from None
    if not isinstance(message, dict):
        # A malformed body is a ValueError like any other (callers catch one kind of error).
        raise ValueError(  # noqa: TRY004
            f"choices[0].message is a {type(message).__name__}, not an object")
    content = message.get("content") or ""
    if not isinstance(content, str):  # some servers send a list of content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    content = _THINK.sub("", content).strip()
    calls: list[ToolCallRequest] = []
    for n, raw in enumerate(message.get("tool_calls") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("function"), dict):
            calls.append(ToolCallRequest(f"call_{n}", "", {}, "{}", native=True, error="a tool call without a function"))
            continue
        function = raw["function"]
        name = str(function.get("name") or "")
        arguments, text, error = _parse_arguments(function.get("arguments"))
        calls.append(ToolCallRequest(id=str(raw.get("id") or f"call_{n}"), name=name, arguments=arguments,
                                     raw_arguments=text, native=True, error=error if name else "no tool name"))
    if not calls:
        for n, block in enumerate(_TEXT_TOOL_CALL.findall(content)):
            calls.append(_text_tool_call(block, n))
    return ChatReply(content=content, tool_calls=calls, finish_reason=choice.get("finish_reason"))


def _parse_arguments(raw: Any) -> tuple[dict[str, Any], str, str | None]:
    """(arguments, their JSON text, error) for a tool call's `arguments` (a JSON string, or an object)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}, "{}", None
    if isinstance(raw, dict):
        return raw, json.dumps(raw, ensure_ascii=False), None
    if not isinstance(raw, str):
        return {}, "{}", f"arguments must be a JSON object, got {type(raw).__name__}"
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        return {}, raw, f"arguments are not valid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(parsed, dict):
        return {}, raw, f"arguments must be a JSON object, got {type(parsed).__name__}"
    return parsed, raw, None


def _text_tool_call(block: str, n: int) -> ToolCallRequest:
    call_id = f"text_call_{n}"
    try:
        data = json.loads(block)
    except json.JSONDecodeError as exc:
        return ToolCallRequest(call_id, "", {}, block, native=False,
                               error=f"the <tool_call> block is not valid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(data, dict) or not data.get("name"):
        return ToolCallRequest(call_id, "", {}, block, native=False,
                               error='a <tool_call> block must be {"name": ..., "arguments": {...}}')
    arguments, text, error = _parse_arguments(data.get("arguments", data.get("parameters")))
    return ToolCallRequest(call_id, str(data["name"]), arguments, text, native=False, error=error)


def _server_message(response: httpx.Response) -> str:
    """The error text a server put in its response (OpenAI style {"error": {"message"}} or anything else)."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body.get("message")))
        if isinstance(error, dict):
            error = error.get("message") or error
        if error is not None:
            return str(error)[:300]
    return json.dumps(body)[:300]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


# -- prompts --------------------------------------------------------------------------------------

_EXPLORER_SYSTEM = """\
You are collecting evidence for a tool-use benchmark. You are given a seed entity and a set of tools. \
Explore what the tools can find out about the seed entity by actually calling them, in {rounds} rounds. \
Each round, make up to {calls} tool calls; use values you found (names, codes, ids, dates) as arguments of \
later calls, so that facts are linked from one call to the next. Do not invent values: take them from the \
seed entity or from tool results. When you have made this round's calls, reply with one short sentence \
saying what you found, without calling a tool.

If you cannot call tools natively, write each call as
<tool_call>{{"name": "<tool name>", "arguments": {{...}}}}</tool_call>"""

_ROUND_FIRST = "Round 1 of {rounds}. Start from the seed entity: look it up and find facts about it."
_ROUND_DEEPER = ("Round {number} of {rounds}. Go deeper: take a value you found in the previous round (a name, a "
                 "code, an id) and use it as an argument to find something new that it leads to.")
_ROUND_BROADER = ("Round {number} of {rounds}. Go broader: explore another aspect of the seed entity or of what "
                  "you found so far, with tools you have not used yet.")

_DERIVER_SYSTEM = """\
You write one question for a tool-use benchmark from a record of real tool calls. Rules:
- The question must be answerable by making tool calls like those in the record, starting from the seed entity.
- Its answer must be a single value that appears exactly in one tool result of the record (a name, a number, a \
code, a date): copy it, do not compute, round or paraphrase it.
- Name the seed entity, but never state the answer or any intermediate value a tool call would find.
- Make the question specific enough that exactly one answer is correct.
- Imitate the structure of the example questions, not their content.
Reply in exactly this form, with nothing else:
QUERY: <the question>
ANSWER: <the answer value, exactly as it appears in the tool result>
REASONING: <which calls lead from the seed entity to the answer>"""

_SOLVER_SYSTEM = """\
You answer a question by calling the tools you are given: look up what you need, step by step; do not guess. \
When you know the answer, reply with only the final answer value inside <answer></answer>, e.g. \
<answer>Paris</answer>.

If you cannot call tools natively, write each call as
<tool_call>{"name": "<tool name>", "arguments": {...}}</tool_call>"""

_JUDGE_SYSTEM = """\
You are a strict grader. Decide whether a proposed answer states the same value as the reference answer, \
differing only in wording (case, punctuation, articles, a unit written out). Anything else is NO: a different \
value, a less precise one, a list with more or fewer items, or an answer that hedges. Reply with exactly one \
word: YES or NO."""

_HEADING = re.compile(r"^[ \t>#*_-]*(QUERY|ANSWER|REASONING)[ \t*_]*:[ \t*_]*", re.IGNORECASE | re.MULTILINE)
_ANSWER_TAG = re.compile(r"<answer>\s*(.*?)\s*(?:</answer>|$)", re.DOTALL | re.IGNORECASE)
_ANSWER_LINE = re.compile(r"^[ \t*_#]*(?:final )?answer[ \t*_]*:[ \t*_]*(.+)$", re.IGNORECASE | re.MULTILINE)


def parse_derivation(text: str) -> tuple[str, str] | None:
    """(question, answer) from a `QUERY: ... ANSWER: ... REASONING: ...` reply, or None without both headings."""
    sections: dict[str, str] = {}
    marks = list(_HEADING.finditer(text))
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        sections.setdefault(mark.group(1).upper(), text[mark.end():end].strip())
    question = " ".join(sections.get("QUERY", "").split())
    answer = _clean_answer(sections.get("ANSWER", ""))
    return (question, answer) if question and answer else None


def parse_final_answer(text: str) -> str | None:
    """The answer in `<answer>...</answer>` or on an `ANSWER: ...` line, or None."""
    tagged = _ANSWER_TAG.search(text)
    if tagged and tagged.group(1).strip():
        return _clean_answer(tagged.group(1))
    line = _ANSWER_LINE.search(text)
    return _clean_answer(line.group(1)) if line else None


def _clean_answer(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    answer = " ".join(lines[0].split()) if len(lines) == 1 else " ".join(" ".join(lines).split())
    return answer.strip().strip("`*_").strip().strip("\"'").strip()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" ... [clipped, {len(text) - limit} more characters]"


def _result_text(record: ToolCallRecord, limit: int) -> str:
    if record.is_error:
        return _clip(f"error: {record.error}", limit)
    if record.result is not None:
        return _clip(json.dumps(record.result, ensure_ascii=False, default=str), limit)
    return _clip(record.text or "(no result)", limit)


def _seed_text(seed: SeedEntity) -> str:
    return json.dumps({"id": seed.id, "type": seed.type, "name": seed.name, "attrs": seed.attrs}, ensure_ascii=False,
                      default=str)


# -- the backend ----------------------------------------------------------------------------------

class OpenAIBackend:
    """Explorer, deriver, solver and judge over one OpenAI-compatible chat-completions endpoint."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        jitter_seed: int | None = 0,
        temperature: float = 0.0,
        max_tokens: int | None = 1024,
        calls_per_round: int = 4,
        turns_per_round: int = 4,
        solver_turns: int = 8,
        result_chars: int = 3000,
        trace_chars: int = 1500,
        exemplars: dict[str, str] | None = None,
    ) -> None:
        if not base_url or not model:
            raise ValueError("the openai backend needs a base URL (e.g. http://127.0.0.1:8000/v1) and a model name")
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        # Jitter only spreads retries in time; seeded, so a run against a deterministic endpoint stays reproducible.
        self._jitter = random.Random(jitter_seed) if jitter_seed is not None else None
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.calls_per_round = calls_per_round
        self.turns_per_round = turns_per_round
        self.solver_turns = solver_turns
        self.result_chars = result_chars
        self.trace_chars = trace_chars
        self.exemplars = exemplars
        self.failures: Counter[str] = Counter()
        """What the model got wrong, by kind: bad_arguments, unknown_tool, missing_headings, ungrounded_answer, ..."""
        self._pool: ClientPool | None = None

    @classmethod
    def from_options(cls, options: Any) -> OpenAIBackend:
        """The backend a synthesis run asks for (`SynthOptions`: model, base_url, exemplars_file, seed);
        the API key comes from DIVE_OPENAI_API_KEY or OPENAI_API_KEY."""
        from .exemplars import load_exemplars

        api_key = api_key_from_env()
        exemplars_file = getattr(options, "exemplars_file", None)
        exemplars = {e.id: e.text for e in load_exemplars(Path(exemplars_file) if exemplars_file else None)}
        extra = {name: getattr(options, option) for name, option in
                 (("timeout", "request_timeout"), ("retries", "max_retries"), ("temperature", "temperature"))
                 if getattr(options, option, None) is not None}
        backend = cls(options.base_url or "", options.model or "", api_key=api_key,
                      jitter_seed=getattr(options, "seed", 0), exemplars=exemplars, **extra)
        backend.check_endpoint()
        return backend

    def check_endpoint(self) -> None:
        """Refuse at start-up, not hours later, when the endpoint cannot be reached or refuses the API key
        (asks `GET {base_url}/models`; a server without that route passes)."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            response = httpx.get(f"{self.base_url}/models", headers=headers, timeout=min(self.timeout, 10.0))
        except httpx.HTTPError as exc:
            raise EndpointError(f"cannot reach the chat endpoint {self.base_url} ({type(exc).__name__}: {exc}): "
                                "start the server, or fix --base-url") from None
        if response.status_code in (401, 403):
            raise EndpointError(f"the chat endpoint {self.base_url} refused the API key (HTTP {response.status_code}: "
                                f"{_server_message(response)}): set {API_KEY_VARIABLES[0]}")

    # -- the endpoint ----------------------------------------------------------------------------

    @asynccontextmanager
    async def _http(self):
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        async with httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), headers=headers) as client:
            yield client

    async def chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None, *,
                   http: httpx.AsyncClient | None = None) -> ChatReply:
        """One chat completion. Connection errors, timeouts, 429 and 5xx are retried with exponential backoff;
        other 4xx fail at once with the server's message. Raises `EndpointError` (a RuntimeError)."""
        if http is None:
            async with self._http() as client:
                return await self.chat(messages, tools, http=client)
        payload: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": self.temperature}
        if self.max_tokens:
            payload["max_tokens"] = self.max_tokens
        if tools:
            payload["tools"] = tools
        problem = ""
        wait: float | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                await anyio.sleep(self._delay(attempt, wait))
            wait = None
            try:
                with anyio.fail_after(self.timeout):
                    response = await http.post(self.url, json=payload)
            except (TimeoutError, httpx.TimeoutException):
                problem = f"no answer within {self.timeout:g} s (timeout)"
                continue
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__}: {exc or 'no detail'})"
                continue
            status = response.status_code
            if status >= 500 or status in _RETRYABLE_STATUS:
                problem = f"HTTP {status}: {_server_message(response)}"
                wait = _retry_after(response)
                continue
            if status >= 400:
                raise EndpointError(f"the chat endpoint {self.url} refused the request (HTTP {status}): "
                                    f"{_server_message(response)}")
            try:
                return parse_reply(response.json())
            except ValueError as exc:
                raise EndpointError(f"the chat endpoint {self.url} did not answer with a chat completion: {exc}; "
                                    f"got {response.text[:200]!r}") from None
        raise EndpointError(f"the chat endpoint {self.url} (model {self.model!r}) failed after {self.retries + 1} "
                            f"attempt(s): {problem}")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        if self._jitter is not None:
            delay *= 0.5 + self._jitter.random()
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff))
        return delay

    # -- tools -----------------------------------------------------------------------------------

    @staticmethod
    def tool_schemas(toolset: list[str], catalog: ToolCatalog) -> list[dict[str, Any]]:
        """The toolset as OpenAI `tools` function schemas, named as the pool exposes them."""
        schemas = []
        for name in toolset:
            tool = catalog.tools.get(name)
            if tool is None:
                continue
            parameters = dict(tool.input_schema or {}) or {"type": "object", "properties": {}}
            parameters.setdefault("type", "object")
            schemas.append(tool_schema(name, tool.description, parameters))
        return schemas

    async def _answer_calls(self, reply: ChatReply, messages: list[dict[str, Any]], budget: int, allowed: set[str],
                            run) -> int:
        """Append the assistant turn and one answer per tool call (running at most `budget` of them through
        `run(request) -> text`); returns how many calls were attempted."""
        messages.append(reply.assistant_message())
        attempted = 0
        text_results: list[str] = []
        for request in reply.tool_calls:
            if attempted >= budget:
                answer = "error: not run, the call budget for this turn is spent"
            elif request.error is not None:
                attempted += 1
                self.failures["bad_arguments" if request.name else "bad_tool_call"] += 1
                log.info("model tool call %r is malformed: %s", request.name, request.error)
                answer = f"error: {request.error}; call the tool again with a JSON object of arguments"
            elif request.name not in allowed:
                attempted += 1
                self.failures["unknown_tool"] += 1
                answer = f"error: there is no tool named {request.name!r}; use one of the tools you were given"
            else:
                attempted += 1
                answer = await run(request)
            if request.native:
                messages.append({"role": "tool", "tool_call_id": request.id, "content": answer})
            else:
                text_results.append(f"<tool_response>\n{answer}\n</tool_response>")
        if text_results:
            messages.append({"role": "user", "content": "\n".join(text_results)})
        return attempted

    # -- explorer and deriver --------------------------------------------------------------------

    async def explore_and_derive(self, evidence: Evidence, config: TaskConfig, catalog: ToolCatalog,
                                 rng: random.Random) -> list[Derivation]:
        """Explore `config.rounds` rounds and derive a grounded question after each; later derivations must
        need at least as many calls as earlier ones (the pipeline keeps the last as the task)."""
        self._pool = evidence.session.pool
        if not evidence.values:
            evidence.values = seed_values(evidence.seed)
        tools = self.tool_schemas(config.toolset, catalog)
        allowed = {t["function"]["name"] for t in tools}
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": _EXPLORER_SYSTEM.format(rounds=config.rounds, calls=self.calls_per_round)},
            {"role": "user", "content": f"Seed entity (JSON): {_seed_text(evidence.seed)}"},
        ]
        history: list[Derivation] = []
        async with self._http() as http:
            for round_no in range(config.rounds):
                if round_no == 0:
                    instruction = _ROUND_FIRST
                else:
                    instruction = _ROUND_DEEPER if rng.random() < 0.75 else _ROUND_BROADER
                messages[-1:] = self._merge_user(messages[-1], instruction.format(number=round_no + 1,
                                                                                  rounds=config.rounds))
                await self._explore_round(evidence, round_no, messages, tools, allowed, http)
                derived = await self._derive(evidence, config, round_no, history[-1] if history else None, http)
                if derived is not None and (not history or len(derived.hops) >= len(history[-1].hops)):
                    history.append(derived)
        return history

    @staticmethod
    def _merge_user(last: dict[str, Any], text: str) -> list[dict[str, Any]]:
        """Add an instruction as a user turn, joined to a trailing user turn (some templates refuse two in a row)."""
        if last.get("role") == "user":
            return [{"role": "user", "content": f"{last['content']}\n\n{text}"}]
        return [last, {"role": "user", "content": text}]

    async def _explore_round(self, evidence: Evidence, round_no: int, messages: list[dict[str, Any]],
                             tools: list[dict[str, Any]], allowed: set[str], http: httpx.AsyncClient) -> None:
        budget = self.calls_per_round

        async def run(request: ToolCallRequest) -> str:
            return await self._explore_call(evidence, round_no, request)

        for _ in range(self.turns_per_round):
            reply = await self.chat(messages, tools, http=http)
            if not reply.tool_calls:
                messages.append(reply.assistant_message())
                return
            budget -= await self._answer_calls(reply, messages, budget, allowed, run)
            if budget <= 0:
                return

    async def _explore_call(self, evidence: Evidence, round_no: int, request: ToolCallRequest) -> str:
        """Make one call the model asked for and record it as the built-in explorer does."""
        sources = argument_sources(request.arguments, evidence.values)
        try:
            record = await evidence.session.call(request.name, request.arguments)
        except PoolError as exc:
            self.failures["unknown_tool"] += 1
            return f"error: {exc}"
        step = Step(record.index, round_no, sources, ok=record.structured() is not None)
        evidence.steps.append(step)
        if step.ok:
            evidence.values.extend(flatten(record.structured(), record.index, _leaf_values(request.arguments)))
        else:
            self.failures["tool_error"] += 1
        return _result_text(record, self.result_chars)

    def _trace_text(self, evidence: Evidence) -> str:
        lines = []
        for step in evidence.steps:
            if not step.ok:
                continue
            call = evidence.calls[step.call]
            arguments = json.dumps(call.arguments, ensure_ascii=False, default=str)
            lines.append(f"#{call.index} {self._exposed(call)} {arguments} -> {_result_text(call, self.trace_chars)}")
        return "\n".join(lines) or "(no successful calls)"

    def _exposed(self, call: ToolCallRecord) -> str:
        if self._pool is not None:
            for name, tool in self._pool.exposed_names().items():
                if tool.name == call.tool and tool.server == call.server:
                    return name
        return call.tool

    async def _derive(self, evidence: Evidence, config: TaskConfig, round_no: int, previous: Derivation | None,
                      http: httpx.AsyncClient) -> Derivation | None:
        """Ask for QUERY/ANSWER/REASONING and keep it only if the answer is grounded in a call's result."""
        if not any(s.ok for s in evidence.steps):
            return None
        exemplars = [self.exemplars[i] for i in config.exemplars if self.exemplars and i in self.exemplars]
        parts = [f"Seed entity (JSON): {_seed_text(evidence.seed)}"]
        if exemplars:
            parts.append("Example questions (imitate their structure, not their content):\n"
                         + "\n".join(f"- {text}" for text in exemplars))
        parts.append("Tool calls so far (#index tool arguments -> result):\n" + self._trace_text(evidence))
        if previous is not None:
            parts.append(f"The previous question was: {previous.question}\nWrite a harder one: it should need more "
                         "of the calls above chained together (more hops), or an aggregation or comparison over "
                         "what they found.")
        messages = [{"role": "system", "content": _DERIVER_SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]
        reply = await self.chat(messages, http=http)
        parsed = parse_derivation(reply.content)
        if parsed is None:
            self.failures["missing_headings"] += 1
            log.info("round %d: the derivation has no QUERY/ANSWER headings: %r", round_no, reply.content[:200])
            return None
        question, answer = parsed
        grounded = ground_answer(answer, evidence)
        if grounded is None and answer.endswith(")"):  # 'Baghdad (from call #1)': the value without the remark
            grounded = ground_answer(re.sub(r"\s*\([^()]*\)$", "", answer), evidence)
        if grounded is None:
            self.failures["ungrounded_answer"] += 1
            log.info("round %d: answer %r is in no tool result", round_no, answer)
            return None
        assert grounded.call is not None
        return Derivation(round=round_no, question=question, answer=grounded.value,
                          hops=solution_hops(evidence, grounded.call),
                          rule=AnswerRule(kind="field", call=grounded.call, path=grounded.path), structure="llm")

    # -- solver and judge ------------------------------------------------------------------------

    async def solve_and_judge(self, final: Derivation, config: TaskConfig, catalog: ToolCatalog,
                              verification: Verification) -> Verification:
        """Have the model solve the task afresh with the same toolset; reject it ('solver_failed') when its
        answer does not match (programmatically, or for text by a strict YES/NO judge)."""
        if self._pool is None:
            raise RuntimeError("solve_and_judge needs the pool of an earlier explore_and_derive call")
        session = self._pool.open_session()
        tools = self.tool_schemas(config.toolset, catalog)
        allowed = {t["function"]["name"] for t in tools}
        messages: list[dict[str, Any]] = [{"role": "system", "content": _SOLVER_SYSTEM},
                                          {"role": "user", "content": final.question}]

        async def run(request: ToolCallRequest) -> str:
            try:
                record = await session.call(request.name, request.arguments)
            except PoolError as exc:
                return f"error: {exc}"
            return _result_text(record, self.result_chars)

        predicted: str | None = None
        async with self._http() as http:
            for _ in range(self.solver_turns):
                reply = await self.chat(messages, tools, http=http)
                if reply.tool_calls:
                    await self._answer_calls(reply, messages, self.calls_per_round, allowed, run)
                    continue
                predicted = parse_final_answer(reply.content)
                if predicted:
                    break
                self.failures["no_final_answer"] += 1
                messages.append(reply.assistant_message())
                messages.append({"role": "user", "content": "Reply with your final answer as <answer>...</answer>."})
            correct = await self._judge(final, predicted, http) if predicted else False
        self._pool.end_session(session.trace)
        update: dict[str, Any] = {"solver_answer": predicted, "solver_correct": correct}
        if not correct:
            update.update(accepted=False, reason="solver_failed")
        return verification.model_copy(update=update)

    async def _judge(self, final: Derivation, predicted: str, http: httpx.AsyncClient) -> bool:
        """Programmatic match first; a number must match as a number; other answers that fail the match
        go to the model once as a strict judge."""
        matcher = matcher_for(final.answer)
        if answers_match(predicted, final.answer, matcher):
            return True
        if matcher.kind == "number":
            numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?", predicted)
            return len(numbers) == 1 and answers_match(numbers[0], final.answer, matcher)
        if not normalise_text(predicted) or (parse_number(predicted) is not None and parse_number(final.answer) is None):
            return False  # nothing to judge, or a number offered for a text answer
        messages = [{"role": "system", "content": _JUDGE_SYSTEM}, {"role": "user", "content": (
            f"Question: {final.question}\nReference answer: {final.answer}\nProposed answer: {predicted}\n"
            "Does the proposed answer state the same value as the reference? YES or NO.")}]
        reply = await self.chat(messages, http=http)
        verdict = re.findall(r"[A-Za-z]+", reply.content)
        return bool(verdict) and verdict[0].upper() == "YES"


def ground_answer(answer: str, evidence: Evidence) -> Value | None:
    """The value in a successful call's structured result that a model's answer names, or None.

    An unambiguous value (not picked out of a list of several) wins, then the most recent call."""
    found: list[Value] = []
    for step in evidence.steps:
        if not step.ok:
            continue
        call = evidence.calls[step.call]
        for value in flatten(call.structured(), call.index, _leaf_values(call.arguments)):
            if answers_match(answer, value.value, matcher_for(value.value)):
                found.append(value)
    if not found:
        return None
    return max(found, key=lambda v: (v.siblings == 1, v.call, -v.siblings))
