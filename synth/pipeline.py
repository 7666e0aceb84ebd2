"""`dive synth`: sample configs, collect evidence, derive, verify, select, export.

Determinism: config i depends only on (run seed, i) and its outcome only on its own session, so the
candidates are the same whatever the number of workers. The run keeps the shortest prefix of config
indices that holds enough accepted tasks (`n * pool_factor`), then selects `n` of them.

Resumability: each outcome is one line of `candidates.jsonl`, appended whole and fsync'd; a killed run
re-run with `resume=True` drops a torn last line, skips finished indices and loses nothing.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import itertools
import json
import math
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.from_thread
from pydantic import BaseModel, Field

from dive.env.pool import ClientPool, PoolSession
from dive.world import World, ensure_world
from dive.world.ontology import TYPES

from .answers import answer_type, matcher_for
from .builtin import BuiltinExplorer, Evidence, derive_task
from .catalog import ToolCatalog, toolset_key
from .exemplars import load_exemplars
from .graph import call_graph_key, topology
from .meanings import meaning_of
from .metrics import preload_embedding_model
from .records import CandidateLine, Derivation, DiversityKeys, Rejection, SeedEntity, Task, TaskConfig
from .sampling import (config_seeds, folder_seeds, load_seed_file, sample_config, seed_pools, server_seeds,
                       workspace_files, world_seeds)
from .select import task_keys
from .verify import static_checks, verify_task
from .walk import (
    DESCRIBED_SHARE,
    MeaningExplorer,
    WorldIndex,
    compared_thing,
    derive_grounded,
    derive_paired,
    file_kind_of,
    fixture_values,
    seed_known,
)

CANDIDATES = "candidates.jsonl"


class SynthOptions(BaseModel):
    """Everything a synthesis run (and each of its workers) needs; picklable, written to the manifest."""

    n: int = 100
    seed: int = 0
    rounds: int = 4
    toolset_size: tuple[int, int] = (15, 50)
    exemplars: tuple[int, int] = (3, 5)
    select: Literal["random", "submodular"] = "submodular"
    pool_factor: float = 1.5
    """Candidates to accept before selecting: n * pool_factor."""
    servers: dict[str, Any] | None = None
    """A standard MCP client config; None means our training domains, embedded in-process."""
    domains: list[str] | None = None
    include_held_out: bool = False
    allow_writes: bool = False
    """Let synthesis call tools of servers not built on our kit that are not read-only (they may change the
    user's data); destructive tools are never called."""
    world: str | None = None
    seeds_file: str | None = None
    exemplars_file: str | None = None
    backend: Literal["builtin", "openai"] = "builtin"
    model: str | None = None
    base_url: str | None = None
    tool_timeout: float = 30.0
    embedding_metrics: bool = True
    """Question-embedding dispersion in the report (loads the sentence-embedding model)."""
    concurrency: int = 4
    """Tasks in flight inside one worker (overlaps waiting on servers)."""
    batch_size: int = 8
    """Configs handed to a worker at a time: small, so little work is still running once enough is accepted."""


class SynthReport(BaseModel):
    """What a run produced."""

    out: str
    accepted: int
    rejected: int
    rejections: dict[str, int] = Field(default_factory=dict)
    selected: int
    considered: int
    seconds: float
    shortfall: list[str] = Field(default_factory=list)
    """When fewer tasks than asked were made: why, and what to try (empty otherwise)."""


#: Seconds between the two calls that tell whether a tool's answer changes on its own (past a second's tick).
VOLATILE_PROBE_GAP_S = 1.1
#: The share of walks followed by a second, shorter walk (at most PAIRED_ROUNDS rounds) whose finding the
#: question compares with the first's.
PAIR_SHARE = 0.4
PAIRED_ROUNDS = 2


class SynthWorker:
    """Turns config indices into candidate lines; owns one client pool for its lifetime."""

    def __init__(self, options: SynthOptions) -> None:
        from dive.servers import TRAINING_DOMAINS, get_domain
        from dive.servers.kit import memory_scratch

        self.options = options
        self.world: World = ensure_world(Path(options.world) if options.world else None)
        self.exemplars = load_exemplars(Path(options.exemplars_file) if options.exemplars_file else None)
        if options.backend == "openai":  # checked before anything starts: an unreachable endpoint fails at once
            from .openai_backend import OpenAIBackend

            self.llm = OpenAIBackend.from_options(options)
        self._servers: list[Any] = []
        if options.servers is not None:
            pool = ClientPool(options.servers, timeout=options.tool_timeout, allow_writes=options.allow_writes)
        else:
            names = options.domains or list(TRAINING_DOMAINS)
            # Synthesis opens and ends sessions by the thousand: their folders go to memory where it can.
            scratch = memory_scratch()
            self._servers = [get_domain(n).create_server(self.world, tool_timeout=options.tool_timeout, scratch=scratch)
                             for n in names]
            pool = ClientPool(servers={s.domain.name: s.mcp for s in self._servers}, timeout=options.tool_timeout)
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._pool_cm = self._portal.wrap_async_context_manager(pool)
        self._pool_open = False
        try:
            self.pool: ClientPool = self._pool_cm.__enter__()
            self._pool_open = True
            domains = set(options.domains) if options.domains and options.servers is not None else None
            self.catalog = ToolCatalog.from_exposed(self.pool.exposed_names(), include_held_out=options.include_held_out,
                                                    domains=domains, allow_writes=options.allow_writes)
            if not self.catalog.tools:
                left_out = "; ".join(f"{n}: {why}" for n, why in sorted(self.catalog.excluded.items())[:5])
                raise ValueError("no tools to synthesize from (held-out tools are excluded unless asked for"
                                 + (f"; left out for safety: {left_out}" if left_out else "") + ")")
            # Seeds: the user's file; else, for servers not built on our kit, what the config and the servers
            # offer (the folders the config starts them on, their resources, the items their list-like tools
            # return); else the world's entities.
            ours = any(t.dive for t in self.catalog.tools.values())
            self.seeds = (load_seed_file(Path(options.seeds_file)) if options.seeds_file
                          else (not ours and self._server_seeds())
                          or world_seeds(self.world, self.catalog.domains()))
            # Our domains' workspace folders start a share of tasks (not with a user's seeds file).
            self.folders = folder_seeds(self.world, self.catalog.domains()) if ours and not options.seeds_file else []
            self.files = workspace_files(self.world, self.catalog.domains()) if ours else {}
            # Each domain starts an equal share of walks from the seeds its own tools take (the world's seeds only).
            self.pools = (seed_pools(self.catalog, self.seeds, self.folders)
                          if ours and not options.seeds_file and options.servers is None else {})
            self.index = WorldIndex(self.world)
            self.by_type: dict[str, list[SeedEntity]] = {}  # the world's entities by type, for second walks
            for seed in self.seeds if options_world_seeds(options) else []:
                if seed.type in TYPES:
                    self.by_type.setdefault(seed.type, []).append(seed)
            self.fixtures = fixture_values(self.catalog)
            self._volatile: dict[str, bool] = {}
            self._barren: set[str] = set()
            self._volatile_locks: dict[str, anyio.Lock] = {}
        except BaseException:
            self.close()  # nothing is left running when start-up fails
            raise

    def _server_seeds(self) -> list[SeedEntity]:
        """The config's folders, then what the servers themselves offer (see `server_seeds`)."""
        given = config_seeds(self.options.servers)
        return given + [s for s in self._portal.call(server_seeds, self.pool, self.catalog, given)
                        if s.id not in {g.id for g in given}]

    def catalog_manifest(self) -> dict[str, Any]:
        """The tools synthesis drew from (server, domain, kind, schema hash, schema) and the world, for the manifest."""
        return {"tools": {name: {"server": t.server, "domain": t.domain, "kind": self.catalog.kind_of(name),
                                 "schema_hash": t.schema_hash, "description": t.description,
                                 "input_schema": t.input_schema} for name, t in self.catalog.tools.items()},
                "excluded_tools": dict(self.catalog.excluded),
                "world": {"root": str(self.world.root), "seed": self.world.seed, "version": self.world.manifest.version}}

    def config(self, index: int) -> TaskConfig:
        o = self.options
        return sample_config(index, o.seed, self.catalog, self.seeds, self.exemplars, toolset_size=o.toolset_size,
                             exemplar_count=o.exemplars, rounds=o.rounds, folders=self.folders,
                             pools=self.pools)

    def run(self, indices: Iterable[int]) -> list[CandidateLine]:
        """Synthesize the given config indices (blocking)."""
        return self._portal.call(self._run_async, list(indices))

    async def _run_async(self, indices: list[int]) -> list[CandidateLine]:
        results: dict[int, CandidateLine] = {}
        limit = anyio.Semaphore(max(1, self.options.concurrency))

        async def one(index: int) -> None:
            async with limit:
                try:
                    results[index] = await self.synthesize_one(self.config(index))
                except Exception as exc:  # one broken config must not sink the run: record it
                    results[index] = CandidateLine(index=index, rejection=Rejection(
                        index=index, reason="error", detail=f"{type(exc).__name__}: {exc}"))

        async with anyio.create_task_group() as tg:
            for index in indices:
                tg.start_soon(one, index)
        return [results[i] for i in sorted(results)]

    async def synthesize_one(self, config: TaskConfig) -> CandidateLine:
        """Explore, derive after each round (later rounds harder), verify the hardest, build the task."""
        session = self.pool.open_session(f"synth-{self.options.seed}-{config.index}-{config.rng_seed:x}")
        try:
            return await self._synthesize_in(session, config)
        finally:  # the servers free the candidate's state (a browser context each, for web tools)
            self.pool.end_session(session.trace)

    async def _synthesize_in(self, session: PoolSession, config: TaskConfig) -> CandidateLine:
        rng = random.Random(config.rng_seed)
        evidence = Evidence(session=session, seed=config.seed)
        prefer = {e.structure for e in self.exemplars if e.id in set(config.exemplars)}
        history: list[Derivation] = []
        if self.options.backend == "openai":
            history = await self.llm.explore_and_derive(evidence, config, self.catalog, rng)
        else:
            walker = MeaningExplorer(self.catalog, config.toolset, rng, index=self.index, rounds=config.rounds)
            if walker.tools:  # tools that say what their results mean: questions about what results mean
                if not self._start(walker, evidence, rng):
                    return CandidateLine(index=config.index, rejection=Rejection(
                        index=config.index, reason="ambiguous_seed", seed=config.seed.id))
                checks = self._checks()
                for round_no in range(config.rounds):
                    await walker.explore_round(evidence, round_no)
                    derived = derive_grounded(evidence, round_no, rng, lambda d: static_checks(d, evidence, **checks))
                    if derived is not None and (not history or len(derived.hops) >= len(history[-1].hops)):
                        history.append(derived)
                if history and rng.random() < PAIR_SHARE:
                    paired = await self._paired(config, evidence, history[-1], rng,
                                                lambda d: static_checks(d, evidence, **checks))
                    if paired is not None and len(paired.hops) >= len(history[-1].hops):
                        history.append(paired)
            else:
                explorer = BuiltinExplorer(self.catalog, config.toolset, rng, barren=self._barren)
                for round_no in range(config.rounds):
                    await explorer.explore_round(evidence, round_no)
                    derived = derive_task(evidence, round_no, rng, prefer, lambda d: static_checks(d, evidence))
                    if derived is not None and (not history or len(derived.hops) >= len(history[-1].hops)):
                        history.append(derived)
        seed_id = config.seed.id
        if not history:
            reason = ("no_evidence" if not any(s.ok for s in evidence.steps)
                      else Counter(evidence.refusals).most_common(1)[0][0] if evidence.refusals
                      else "no_derivable_answer")
            return CandidateLine(index=config.index, rejection=Rejection(
                index=config.index, reason=reason, seed=seed_id, detail=_what_was_tried(evidence)))
        final = history[-1]
        for hop in final.hops:
            if await self._is_volatile(evidence.calls[hop.call]):
                return CandidateLine(index=config.index, rejection=Rejection(
                    index=config.index, reason="volatile_tool", seed=seed_id,
                    detail=f"{hop.tool} answers the same call differently a second later"))
        grounded = self.options.backend == "builtin" and bool(evidence.things)
        verification = await verify_task(
            final, evidence, self.pool, alternative=self.index.alternative if grounded else None, rng=rng,
            checks=self._checks() if grounded else None)
        if verification.accepted and self.options.backend == "openai":
            verification = await self.llm.solve_and_judge(final, config, self.catalog, verification)
        if not verification.accepted:
            return CandidateLine(index=config.index, rejection=Rejection(
                index=config.index, reason=verification.reason or "rejected", seed=seed_id, detail=final.question[:200]))
        return CandidateLine(index=config.index, task=self._task(config, evidence, history, verification))

    def _start(self, walker: MeaningExplorer, evidence: Evidence, rng: random.Random) -> bool:
        """Start a walk from the evidence's seed, as the question names it (False: no name of it is unique). A share
        of seeds are described by a key a tool of the menu must resolve ('the country whose three-letter ISO code
        is CHL')."""
        seed = evidence.seed
        label = self.index.seed_label(seed) if options_world_seeds(self.options) else seed.name
        if label is None:
            return False
        ways = [d for d in self.index.descriptions(seed) if walker.takes(seed_known(seed, *d))]
        described = rng.choice(ways) if ways and rng.random() < DESCRIBED_SHARE else None
        walker.start(evidence, *(described or (label, None)))
        return True

    async def _paired(self, config: TaskConfig, evidence: Evidence, main: Derivation, rng: random.Random,
                      check: Callable[[Derivation], str | None]) -> Derivation | None:
        """A second, shorter walk in the same session, from another world entity of the type the first walk gave
        an amount of (or another file of the kind it measured), and a question comparing the two ('Which has the
        greater area, the country of Leipzig Halle Airport or the country of Gold Coast Airport?')."""
        thing = compared_thing(evidence)
        if thing is None:
            return None
        if thing.type in TYPES:
            others = [s for s in self.by_type.get(thing.type, []) if s.id != evidence.seed.id]
        else:  # a file of the same kind that the same server sees
            domain, path = thing.workspace, thing.keys.get("path")
            others = [SeedEntity(id=f"{domain}:{p}", type=thing.type, name=p, attrs={"path": p}, domains=[domain])
                      for p in self.files.get(domain or "", []) if file_kind_of(thing.type, p)
                      and (path is None or p != path.value)]
        if not others:
            return None
        side = Evidence(session=evidence.session, seed=rng.choice(others))
        rounds = rng.randint(1, PAIRED_ROUNDS)
        walker = MeaningExplorer(self.catalog, config.toolset, rng, index=self.index, rounds=rounds,
                                 avoid=frozenset(h.tool for h in main.hops))
        if not self._start(walker, side, rng):
            return None
        for round_no in range(rounds):
            await walker.explore_round(side, round_no)
        return derive_paired(evidence, side, config.rounds, rng, check)

    async def _is_volatile(self, record) -> bool:
        """Whether a tool's answers change on their own (a clock, randomness, live data), so none can be an
        answer. Our tools declare it in their meaning; any other tool is asked the same call twice, a second
        apart, in a session of its own (once per tool and run)."""
        name = self._exposed_name(record.server, record.tool)
        listed = self.catalog.tools[name]
        if listed.dive:
            return bool((meaning_of(listed) or {}).get("volatile"))
        async with self._volatile_locks.setdefault(name, anyio.Lock()):
            if name not in self._volatile:
                probe = self.pool.open_session()
                try:
                    first = await probe.call(record.tool, record.arguments, server=record.server)
                    await anyio.sleep(VOLATILE_PROBE_GAP_S)
                    second = await probe.call(record.tool, record.arguments, server=record.server)
                finally:
                    self.pool.end_session(probe.trace)
                answers = {json.dumps([r.result, r.text, r.is_error], sort_keys=True, default=str)
                           for r in (record, first, second)}
                self._volatile[name] = len(answers) > 1
        return self._volatile[name]

    def _checks(self) -> dict[str, Any]:
        """What the static checks of grounded questions need to know of the world and the tools."""
        return {"fixtures": self.fixtures, "unique_name": self.index.unique_name, "name_of": self.index.name_of}

    def _task(self, config: TaskConfig, evidence: Evidence, history: list[Derivation], verification) -> Task:
        final = history[-1]
        solution = [hop.call for hop in final.hops]
        exposed = [self._exposed_name(evidence.calls[c].server, evidence.calls[c].tool) for c in solution]
        domains = sorted({self.catalog.domain_of(n) for n in exposed})
        kind = answer_type(final.answer)
        keys = DiversityKeys(
            tools=sorted(set(exposed)), toolset_key=toolset_key(sorted(set(exposed))), menu_key=toolset_key(config.toolset),
            call_sequence=exposed,
            call_graph=call_graph_key(final.hops),
            topology=topology(final.hops, lambda t: self.catalog.kind_of(self._exposed_name(None, t))),
            domains=domains, answer_type=kind, hops=len(final.hops),
        )
        digest = hashlib.sha256(f"{config.seed.id}|{final.question}|{final.answer}".encode()).hexdigest()[:12]
        return Task(
            id=f"dive-{digest}", question=final.question, answer=final.answer, answer_type=kind,
            matcher=matcher_for(final.answer, kind), toolset=config.toolset, domains=domains, seed=config.seed,
            exemplars=config.exemplars, evidence=evidence.session.trace, solution=solution, derivation=history,
            verification=verification, diversity=keys, backend=self.options.backend, index=config.index,
        )

    def _exposed_name(self, server: str | None, tool: str) -> str:
        for name, listed in self.catalog.tools.items():
            if listed.name == tool and (server is None or listed.server == server):
                return name
        return tool

    def close(self) -> None:
        try:
            if self._pool_open:
                self._pool_open = False
                self._pool_cm.__exit__(None, None, None)
        finally:
            self._portal_cm.__exit__(None, None, None)
            for server in self._servers:
                server.close()


def options_world_seeds(options: SynthOptions) -> bool:
    """Whether seeds are the world's entities (named as the world names them) rather than a user's file."""
    return not options.seeds_file


# -- worker processes ----------------------------------------------------------------------------

_WORKER: SynthWorker | None = None


def _init_process(options_json: str, parent: int) -> None:
    global _WORKER
    _die_with_parent(parent)
    _WORKER = _dedicated_worker(options_json)
    # A pool process leaves through os._exit, past atexit: its finalizers are what close the servers (ending
    # their sessions and deleting the sessions' folders) when the pool shuts down.
    import multiprocessing.util

    multiprocessing.util.Finalize(_WORKER, _WORKER.close, exitpriority=10)


def _dedicated_worker(options_json: str) -> SynthWorker:
    """The SynthWorker of a process that exists only to run it (a pool process or a Ray actor)."""
    worker = SynthWorker(SynthOptions.model_validate_json(options_json))
    # What start-up built (modules, schemas, the catalog) lives as long as the worker: out of the collector's
    # sight, each collection walks only what synthesis itself allocates.
    gc.freeze()
    return worker


def _die_with_parent(parent: int) -> None:
    """Have the kernel end this worker when the synthesis process dies (kill -9, the OOM killer). Otherwise
    the worker runs out its queued batches, servers and browser included, for nobody (Linux only)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _run_in_process(indices: list[int]) -> list[str]:
    assert _WORKER is not None
    return [line.model_dump_json() for line in _WORKER.run(indices)]


def _catalog_manifest_in_process() -> dict[str, Any]:
    assert _WORKER is not None
    return _WORKER.catalog_manifest()


# -- the candidates file -------------------------------------------------------------------------

def read_candidates(path: Path, *, repair: bool) -> dict[int, CandidateLine]:
    """Finished outcomes by index. With `repair`, a torn last line (a run killed mid-write) is cut off."""
    if not path.exists():
        return {}
    data = path.read_bytes()
    lines: dict[int, CandidateLine] = {}
    good_end = 0
    position = 0
    for raw in data.splitlines(keepends=True):
        end = position + len(raw)
        if raw.endswith(b"\n"):
            try:
                line = CandidateLine.model_validate_json(raw)
            except ValueError:
                break
            lines.setdefault(line.index, line)
            good_end = end
        position = end
    if repair and good_end < len(data):
        with open(path, "r+b") as f:
            f.truncate(good_end)
    return lines


def _append(path: Path, lines: list[CandidateLine]) -> None:
    payload = b"".join(line.model_dump_json().encode() + b"\n" for line in lines)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)


def adds_distinct(lines: Iterable[tuple[int, CandidateLine]], keys: dict[int, set[str]]
                  ) -> Iterator[tuple[int, bool]]:
    """For each (index, line) in order: whether its task is unlike every task before it (a question or solution
    found again from another seed adds nothing; see `task_keys`). `keys` caches each index's task keys."""
    seen: set[str] = set()
    for index, line in lines:
        new = False
        if line.task is not None:
            mine = keys[index] if index in keys else keys.setdefault(index, task_keys(line.task))
            new = not mine & seen
            seen |= mine
        yield index, new


def prefix_cutoff(results: dict[int, CandidateLine], target: int,
                  keys: dict[int, set[str]] | None = None) -> int | None:
    """The smallest m such that indices [0, m) are all finished and hold `target` accepted tasks, each unlike
    the ones before it (see `adds_distinct`, whose cache `keys` is)."""
    accepted = 0
    finished = ((m, results[m]) for m in itertools.takewhile(results.__contains__, itertools.count()))
    for index, new in adds_distinct(finished, {} if keys is None else keys):
        accepted += new
        if accepted >= target:
            return index + 1
    return None


ProgressFn = Callable[[dict[int, CandidateLine]], None]


def synthesize(
    options: SynthOptions,
    out: Path,
    *,
    workers: int = 1,
    ray: bool | str = False,
    resume: bool = False,
    progress: ProgressFn | None = None,
) -> SynthReport:
    """Run synthesis into `out`; see the module docstring for determinism and resumability."""
    from .export import export_dataset

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    path = out / CANDIDATES
    if path.exists() and not resume:
        raise FileExistsError(f"{out} already holds a synthesis run: pass --resume to continue it, or another --out")
    results = read_candidates(path, repair=True)
    target = max(options.n, math.ceil(options.n * options.pool_factor))
    max_index = options.n * 40 + 200
    keys: dict[int, set[str]] = {}  # each finished index's task keys, for prefix_cutoff
    runner = _Runner(options, workers, ray)
    try:
        manifest = runner.catalog_manifest()  # asked first: a worker answers it before its first batch
        if options.embedding_metrics:
            preload_embedding_model()  # the report's embedding model loads while the workers explore
        next_index = 0
        inflight: dict[Future, list[int]] = {}
        while prefix_cutoff(results, target, keys) is None:
            while len(inflight) < runner.slots and next_index < max_index:
                batch = [i for i in range(next_index, next_index + options.batch_size) if i not in results]
                next_index += options.batch_size
                if batch:
                    inflight[runner.submit(batch)] = batch
            if not inflight:
                break
            finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            for future in finished:
                inflight.pop(future)
                lines = [CandidateLine.model_validate_json(raw) for raw in future.result()]
                _append(path, lines)
                results.update({line.index: line for line in lines})
                if progress:
                    progress(results)
        for future in inflight:
            future.cancel()
        catalog_manifest = manifest.result()
    finally:
        runner.close()
    cutoff = prefix_cutoff(results, target, keys) or (max(results) + 1 if results else 0)
    considered = [results[i] for i in range(cutoff) if i in results]
    accepted = [line.task for line in considered if line.task is not None]
    rejections = Counter(line.rejection.reason for line in considered if line.rejection is not None)
    examples: dict[str, str] = {}
    for line in considered:
        if line.rejection is not None and line.rejection.detail:
            examples.setdefault(line.rejection.reason, line.rejection.detail)
    selected, short = export_dataset(out, accepted, options, catalog_manifest, rejections, examples)
    return SynthReport(out=str(out), accepted=len(accepted), rejected=sum(rejections.values()),
                       rejections=dict(rejections), selected=len(selected), considered=len(considered),
                       seconds=time.perf_counter() - started, shortfall=short)


def _what_was_tried(evidence: Evidence) -> str:
    """A line on a walk that gave no task: from what seed, which calls, and the first thing that went wrong."""
    calls = evidence.calls
    failed = next((c for c in calls if c.is_error), None)
    tried = ", ".join(dict.fromkeys(c.tool for c in calls)) or "none"
    line = f"seed {evidence.seed.name!r}: {len(calls)} calls ({tried})"
    if failed is not None:
        line += f"; e.g. {failed.tool} failed: {(failed.error or '')[:120]}"
    elif evidence.refusals:
        line += f"; questions refused: {evidence.refusals[0]}"
    return line[:300]


class _Runner:
    """Runs batches in this process, in worker processes, or on Ray actors."""

    def __init__(self, options: SynthOptions, workers: int, ray: bool | str) -> None:
        self.options = options
        self._local: SynthWorker | None = None
        self._executor: ProcessPoolExecutor | None = None
        self._ray_actors: list[Any] = []
        self._ray_next = 0
        if ray:
            import ray as ray_module

            if not ray_module.is_initialized():
                address = ray if isinstance(ray, str) else None
                ray_module.init(address=address, num_cpus=None if address else max(workers, 1),
                                include_dashboard=False, log_to_driver=False)
            actor = ray_module.remote(_RayWorker)
            self._ray_actors = [actor.remote(options.model_dump_json()) for _ in range(max(workers, 1))]
            self.slots = 2 * len(self._ray_actors)
        elif workers > 1:
            import multiprocessing

            self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_init_process, initargs=(options.model_dump_json(), os.getpid()))
            self.slots = 2 * workers
        else:
            self._local = SynthWorker(options)
            self.slots = 1

    def submit(self, batch: list[int]) -> Future:
        if self._executor is not None:
            return self._executor.submit(_run_in_process, batch)
        if self._ray_actors:
            actor = self._ray_actors[self._ray_next % len(self._ray_actors)]
            self._ray_next += 1
            return actor.run.remote(batch).future()
        future: Future = Future()
        assert self._local is not None
        future.set_result([line.model_dump_json() for line in self._local.run(batch)])
        return future

    def catalog_manifest(self) -> Future:
        """The catalog manifest, asked of a worker (starting one only for this would cost seconds)."""
        if self._executor is not None:
            return self._executor.submit(_catalog_manifest_in_process)
        if self._ray_actors:
            return self._ray_actors[0].catalog_manifest.remote().future()
        assert self._local is not None
        future: Future = Future()
        future.set_result(self._local.catalog_manifest())
        return future

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        if self._ray_actors:
            import ray as ray_module

            # Each actor's servers end their sessions and delete their folders before it is killed (an actor
            # that cannot, dead or stuck, is killed all the same: the run's results are already safe).
            with contextlib.suppress(Exception):
                ray_module.get([actor.close.remote() for actor in self._ray_actors], timeout=60)
            for actor in self._ray_actors:
                ray_module.kill(actor)


class _RayWorker:
    """A Ray actor holding one SynthWorker (its pool and in-process servers live as long as the actor)."""

    def __init__(self, options_json: str) -> None:
        self.worker = _dedicated_worker(options_json)

    def run(self, indices: list[int]) -> list[str]:
        return [line.model_dump_json() for line in self.worker.run(indices)]

    def catalog_manifest(self) -> dict[str, Any]:
        return self.worker.catalog_manifest()

    def close(self) -> None:
        self.worker.close()
