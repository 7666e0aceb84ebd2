"""Typed records of synthesis: configs, derived tasks, verification results, rejections.

Each has one canonical JSON form (pydantic), the same one written to `tasks.jsonl`, read back by
the gym and evaluation, and shown by `dive stats`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from dive.env.trace import Trace

AnswerType = Literal["number", "text", "list", "set", "bool"]
Backend = Literal["builtin", "openai"]


SYNTHESIS_VERSION = 8
"""Raised whenever the same options and world yield other tasks (CHANGELOG.md says why); in each run's
manifest and in the cache key of DIVE-v0's default task sets."""


class SeedEntity(BaseModel):
    """What a task starts from: a world entity, or a user's seed."""

    id: str
    type: str
    name: str
    attrs: dict[str, Any] = Field(default_factory=dict)
    domains: list[str] = Field(default_factory=list)
    """Where the entity appears; empty for user seeds (meaning: anywhere)."""


class TaskConfig(BaseModel):
    """The sampled configuration of one task: seed, toolset, exemplars (the paper's config sampling)."""

    index: int
    rng_seed: int
    seed: SeedEntity
    toolset: list[str]
    """Exposed tool names (as a model calls them)."""
    exemplars: list[str]
    """Exemplar ids."""
    rounds: int


class Matcher(BaseModel):
    """How a predicted answer is compared with the reference."""

    kind: Literal["text", "number", "list", "set", "bool"]
    tolerance: float = 0.0
    """For numbers: absolute tolerance (relative tolerance 1e-6 always applies too)."""


class Hop(BaseModel):
    """One step of a derivation chain: a call, and which of its arguments came from where."""

    call: int
    """Index of the call in the evidence trace."""
    tool: str
    inputs: dict[str, str] = Field(default_factory=dict)
    """argument name -> 'seed:<key>' or 'call:<index>:<path>' (where its value came from)."""
    output_path: str | None = None
    """The path in this call's structured result that the next hop (or the answer) uses."""
    types: dict[str, str] = Field(default_factory=dict)
    """argument -> 'type/by' of the thing a flowed value stands for ('city/id'): verification swaps it for another."""
    picks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """argument -> how its value was picked from a list ({list, by, largest}), so a replay with other inputs
    picks again by the same description rather than by position."""


class AnswerRule(BaseModel):
    """How the answer is read off the final call's structured result (replay recomputes it the same way)."""

    kind: Literal["field", "count", "max", "min", "sum", "compare"]
    call: int
    path: str
    """'field' and 'compare': the value's path; otherwise the path of the list."""
    field: str | None = None
    """For max/min/sum: the numeric field of each list item."""
    other_call: int | None = None
    """For 'compare': the call whose value at `other_path` the value at `path` is compared with."""
    other_path: str | None = None
    names: list[str] | None = None
    """For 'compare': the names of the two things compared; the answer is the name of the one whose value is
    greater ('which is more ...'), or, without names, whether the first value is greater ('is it true that ...')."""


class Derivation(BaseModel):
    """One round's derived question, kept in the task's history (later rounds are harder)."""

    round: int
    question: str
    answer: Any
    hops: list[Hop]
    rule: AnswerRule
    structure: str
    """lookup, multi_hop, count, aggregation."""


class Verification(BaseModel):
    """What verification found: replay on a fresh session, the static checks, a solver's attempt."""

    replayed: bool = False
    replay_answer: Any = None
    solver_answer: Any = None
    solver_correct: bool | None = None
    accepted: bool = False
    reason: str | None = None
    """Why it was rejected (None when accepted)."""


class DiversityKeys(BaseModel):
    """The structural keys diversity is measured and selected on."""

    tools: list[str]
    toolset_key: str
    """A hash of the tools the solution uses (the paper's toolset of a task)."""
    call_sequence: list[str]
    call_graph: str
    """Canonical hash of the call graph (calls as nodes, data flow as edges)."""
    topology: str
    """Retrieval/processing topology class, e.g. 'R', 'R>P', 'R>R>P', 'R+R>P'."""
    domains: list[str]
    answer_type: AnswerType
    hops: int
    menu_key: str = ""
    """A hash of the tools offered to the task's explorer (the sampled menu), which the solution draws from."""


class Task(BaseModel):
    """A verified task: a question a trace strictly entails, its answer, and everything to re-check it."""

    id: str
    question: str
    answer: Any
    answer_type: AnswerType
    matcher: Matcher
    toolset: list[str]
    domains: list[str]
    seed: SeedEntity
    exemplars: list[str] = Field(default_factory=list)
    evidence: Trace
    solution: list[int]
    """Indices of the evidence calls that solve the task, in order."""
    derivation: list[Derivation]
    verification: Verification
    diversity: DiversityKeys
    backend: Backend = "builtin"
    index: int = 0


class Rejection(BaseModel):
    """A candidate that did not become a task, and why (every rejection has a reason)."""

    index: int
    reason: str
    detail: str = ""
    seed: str = ""


class CandidateLine(BaseModel):
    """One line of the resumable `candidates.jsonl`: the outcome for one config index."""

    index: int
    task: Task | None = None
    rejection: Rejection | None = None
