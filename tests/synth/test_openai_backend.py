"""The OpenAI-compatible synthesis backend against a scripted endpoint served over real HTTP: end to end
through `synthesize`, retries and timeouts, grounding, the solver's verdict, and malformed model output."""

from __future__ import annotations

import time

import pytest

from dive.synth import SynthOptions, load_tasks, synthesize
from dive.synth.builtin import compute_answer
from dive.synth.openai_backend import (
    EndpointError, OpenAIBackend, argument_sources, parse_derivation, parse_final_answer, parse_reply,
)
from dive.synth.pipeline import SynthWorker
from dive.synth.records import SeedEntity
from dive.synth.values import flatten, seed_values
from tests.synth.scripted_openai import ScriptedServer


@pytest.fixture
def endpoint():
    with ScriptedServer() as server:
        yield server


def options(server: ScriptedServer, world, **extra) -> SynthOptions:
    return SynthOptions(backend="openai", model="scripted", base_url=server.base_url, domains=["database"],
                        world=str(world.root), toolset_size=(50, 50), rounds=3, **extra)


# -- end to end ---------------------------------------------------------------------------------

def test_synthesize_with_the_openai_backend_yields_verified_grounded_tasks(endpoint, world, tmp_path):
    report = synthesize(options(endpoint, world, n=3, pool_factor=1.0, batch_size=4, concurrency=4), tmp_path / "run")
    tasks = load_tasks(tmp_path / "run")
    assert len(tasks) == 3 and report.selected == 3
    for task in tasks:
        assert task.backend == "openai" and task.derivation[-1].structure == "llm"
        assert task.question in endpoint.model.queries  # the scripted QUERY, word for word
        assert task.verification.accepted and task.verification.replayed and task.verification.solver_correct
        rule = task.derivation[-1].rule
        grounded = compute_answer(rule, task.evidence.calls[rule.call].result)
        assert grounded == task.answer
        assert any(v.value == task.answer for v in flatten(task.evidence.calls[rule.call].result, rule.call))
        assert task.solution == [hop.call for hop in task.derivation[-1].hops]
    # Values flowed from one call into the next: the deepest task is a chain of get_row look-ups.
    deepest = max(tasks, key=lambda t: len(t.solution))
    assert len(deepest.solution) >= 2 and deepest.diversity.hops == len(deepest.solution)
    later = deepest.derivation[-1].hops[-1].inputs
    assert any(source.startswith("call:") for source in later.values())


# -- the endpoint: retries, backoff, timeouts ---------------------------------------------------

def backend(server: ScriptedServer, **extra) -> OpenAIBackend:
    settings = {"retries": 2, "backoff": 0.01, "timeout": 5.0} | extra
    return OpenAIBackend(server.base_url, "scripted", **settings)


JUDGE = [{"role": "system", "content": "Reply YES or NO."},
         {"role": "user", "content": "Reference answer: Paris\nProposed answer: paris"}]


@pytest.mark.anyio
async def test_retries_recover_from_a_500_and_a_429(endpoint):
    endpoint.model.faults.extend(["500", "429"])
    reply = await backend(endpoint).chat(JUDGE)
    assert reply.content == "YES" and len(endpoint.model.requests) == 3


@pytest.mark.anyio
async def test_exhausted_retries_raise_an_error_naming_the_endpoint(endpoint):
    endpoint.model.faults.extend(["500"] * 3)
    with pytest.raises(RuntimeError, match="failed after 3 attempt") as caught:
        await backend(endpoint).chat(JUDGE)
    assert endpoint.base_url in str(caught.value) and "HTTP 500" in str(caught.value)


@pytest.mark.anyio
async def test_a_client_error_fails_at_once_with_the_servers_message(endpoint):
    endpoint.model.faults.append("400")
    with pytest.raises(EndpointError, match="HTTP 400.*does not support that"):
        await backend(endpoint).chat(JUDGE)
    assert len(endpoint.model.requests) == 1


@pytest.mark.anyio
async def test_a_hang_hits_the_request_timeout_then_is_retried(endpoint):
    endpoint.model.faults.append("hang")
    started = time.perf_counter()
    with pytest.raises(EndpointError, match="timeout"):
        await backend(endpoint, retries=0, timeout=0.3).chat(JUDGE)
    assert time.perf_counter() - started < endpoint.model.hang_seconds
    endpoint.model.faults.append("hang")
    reply = await backend(endpoint, retries=1, timeout=0.3).chat(JUDGE)
    assert reply.content == "YES"


@pytest.mark.anyio
async def test_unreachable_endpoint_and_non_completion_bodies_are_clear_errors(endpoint):
    with ScriptedServer() as gone:
        url = gone.base_url
    dead = OpenAIBackend(url, "scripted", retries=1, backoff=0.01, timeout=2.0)
    with pytest.raises(EndpointError, match="connection failed"):
        await dead.chat(JUDGE)
    with pytest.raises(EndpointError, match="cannot reach"):
        dead.check_endpoint()
    endpoint.model.faults.append("not_json")
    with pytest.raises(EndpointError, match="not answer with a chat completion"):
        await backend(endpoint).chat(JUDGE)


# -- grounding, the solver's verdict, malformed output ------------------------------------------

@pytest.fixture(scope="module")
def scripted_worker(world):
    """One synthesis worker (database domain, in process) on one scripted endpoint for the tests below."""
    with ScriptedServer() as server:
        worker = SynthWorker(options(server, world, concurrency=1))
        try:
            yield worker, server.model
        finally:
            worker.close()


def city_config_index(worker: SynthWorker) -> int:
    return next(i for i in range(200) if worker.config(i).seed.type == "city")


@pytest.fixture
def scripted(scripted_worker):
    worker, model = scripted_worker
    yield worker, model
    model.ungrounded = model.wrong_solver = model.malformed_call = model.text_tool_calls = False
    model.faults.clear()
    worker.llm.failures.clear()


def test_an_ungrounded_answer_is_rejected(scripted):
    worker, model = scripted
    model.ungrounded = True
    [line] = worker.run([city_config_index(worker)])
    assert line.task is None and line.rejection.reason == "no_derivable_answer"
    assert worker.llm.failures["ungrounded_answer"] == 3


def test_a_wrong_solver_answer_rejects_the_task(scripted):
    worker, model = scripted
    index = city_config_index(worker)
    [good] = worker.run([index])
    assert good.task is not None and good.task.verification.solver_correct
    model.wrong_solver = True
    [line] = worker.run([index])
    assert line.task is None and line.rejection.reason == "solver_failed"
    assert line.rejection.detail == good.task.question[:200]


def test_malformed_tool_calls_and_unknown_tools_do_not_crash(scripted):
    worker, model = scripted
    model.malformed_call = True
    [line] = worker.run([city_config_index(worker)])
    assert line.task is not None, line.rejection
    assert worker.llm.failures["bad_arguments"] == 1 and worker.llm.failures["unknown_tool"] == 1
    # Neither was run: the evidence holds only the well-formed look-ups.
    assert all(call.tool == "get_row" for call in line.task.evidence.calls)
    told = [m["content"] for r in model.requests for m in r["messages"] if m["role"] == "tool"]
    assert any("not valid JSON" in text for text in told) and any("no tool named" in text for text in told)


def test_tool_calls_written_as_text_work_like_native_ones(scripted):
    worker, model = scripted
    model.text_tool_calls = True
    [line] = worker.run([city_config_index(worker)])
    assert line.task is not None, line.rejection
    assert len(line.task.solution) == 3 and line.task.verification.solver_correct


# -- parsing and provenance (unit level) --------------------------------------------------------

def test_argument_sources_prefer_the_seed_identity_then_the_most_recent_call():
    seed = SeedEntity(id="city:100077", type="city", name="Abu Ghurayb", attrs={"country_code": "IQ"})
    available = seed_values(seed)
    available += flatten({"row": {"id": 100077, "country_code": "IQ", "name": "Abu Ghurayb"}}, 0)
    available += flatten({"row": {"code": "IQ", "continent": "AS", "rank": 3}}, 1)
    sources = argument_sources({"table": "countries", "key": "IQ", "limit": 3, "filters": [
        {"column": "name", "value": "Abu Ghurayb"}, {"column": "continent", "value": "AS"}]}, available)
    assert sources["key"].source == "call:1:row.code"
    assert sources["filters[0].value"].source == "seed:name"
    assert sources["filters[1].value"].source == "call:1:row.continent"
    assert "limit" not in sources and "table" not in sources
    # A short number with no name in common is no evidence of data flow; the same number by name is.
    assert argument_sources({"n_items": 3}, available) == {}
    assert argument_sources({"rank": 3}, available)["rank"].source == "call:1:row.rank"
    assert argument_sources({"key": 100077}, available)["key"].source == "seed:id"
    # An exact value beats one equal only when case is ignored ('ID' the country code, 'id' a column name).
    listed = flatten({"key_columns": ["id"], "row": {"country_code": "ID"}}, 0)
    assert argument_sources({"key": "ID"}, listed)["key"].source == "call:0:row.country_code"


def test_parsers_accept_what_models_actually_write():
    assert parse_derivation("**QUERY:** Which city?\n**ANSWER:** \"Paris\"\nREASONING: call #0") == ("Which city?", "Paris")
    assert parse_derivation("Query: What?\nno answer heading") is None
    assert parse_final_answer("<think>hmm</think> so <answer> 42 </answer>") == "42"
    assert parse_final_answer("Final answer: Lyon.") == "Lyon."
    assert parse_final_answer("I am not sure") is None
    reply = parse_reply({"choices": [{"message": {"content": "<think>x</think>ok <tool_call>{\"name\": \"get_row\", "
                                                             "\"arguments\": {\"table\": \"cities\"}}</tool_call>"}}]})
    assert [(c.name, c.arguments, c.native, c.error) for c in reply.tool_calls] == [
        ("get_row", {"table": "cities"}, False, None)]
    bad = parse_reply({"choices": [{"message": {"content": None, "tool_calls": [
        {"id": "a", "function": {"name": "get_row", "arguments": "{\"table\": "}}]}}]})
    assert bad.tool_calls[0].error and bad.assistant_message()["tool_calls"][0]["function"]["arguments"] == "{}"
    with pytest.raises(ValueError):
        parse_reply({"error": "nope"})
