"""Selection: random (the paper), or greedy submodular coverage of tools, toolsets and call graphs."""

from __future__ import annotations

import heapq
import json
import random
from typing import Literal

from .records import Task

#: Weight of covering one new feature of each family: every tool used at least once matters most, then call graphs.
FEATURE_WEIGHTS = {"tool": 5.0, "graph": 2.0, "sequence": 1.0, "toolset": 0.5, "topology": 1.0, "domains": 1.0,
                   "answer": 0.5}
#: What each distinct tool a task's solution uses adds to its gain, whatever is covered already: of tasks that
#: cover as much that is new, the one that needs more tools is chosen (once coverage is saturated, every gain
#: would otherwise tie).
TOOL_WEIGHT = 0.25


def features(task: Task) -> set[tuple[str, str]]:
    """The coverage features of a task."""
    keys = task.diversity
    found = {("tool", t) for t in keys.tools}
    found |= {("graph", keys.call_graph), ("sequence", ">".join(keys.call_sequence)), ("toolset", keys.toolset_key),
              ("topology", keys.topology), ("domains", "+".join(keys.domains)), ("answer", keys.answer_type)}
    return found


def _solution_key(task: Task) -> str:
    """The calls a task's solution makes (tools and arguments), what its answer reads off them, and the answer."""
    calls = {c.index: c for c in task.evidence.calls}
    rule = task.derivation[-1].rule if task.derivation else None
    made = [[calls[i].tool, calls[i].arguments] if i in calls else i for i in task.solution]
    read = rule.model_dump(exclude={"call", "other_call"}) if rule is not None else None
    return "solution:" + json.dumps([made, read, task.answer], sort_keys=True, default=str)


def task_keys(task: Task) -> set[str]:
    """What makes a task the same as another: its question (spacing and case aside) and its solution (see
    `_solution_key`); a task sharing either with an earlier one adds nothing."""
    return {" ".join(task.question.lower().split())} | ({_solution_key(task)} if task.solution else set())


def select_diverse(tasks: list[Task], budget: int, method: Literal["random", "submodular"], seed: int = 0) -> list[Task]:
    """Choose `budget` tasks. 'submodular' greedily maximises weighted feature coverage (lazy greedy:
    coverage is monotone submodular, so stale gains are upper bounds), plus TOOL_WEIGHT per distinct tool a
    task uses; ties keep the earlier task. A question
    asked twice (from two seeds that led to the same place) is kept once, and so is one solution asked twice
    (the same calls and the same answer, the file described once by its size and once by its length)."""
    seen: set[str] = set()
    unique = []
    for task in tasks:
        keys = task_keys(task)
        if not keys & seen:
            seen |= keys
            unique.append(task)
    tasks = unique
    if budget >= len(tasks):
        return list(tasks)
    if method == "random":
        chosen = random.Random(seed).sample(range(len(tasks)), budget)
        return [tasks[i] for i in sorted(chosen)]
    feats = [features(t) for t in tasks]
    width = [TOOL_WEIGHT * len(set(t.diversity.tools)) for t in tasks]
    covered: set[tuple[str, str]] = set()

    def gain(i: int) -> float:
        return width[i] + sum(FEATURE_WEIGHTS[f[0]] for f in feats[i] - covered)

    heap = [(-gain(i), i) for i in range(len(tasks))]
    heapq.heapify(heap)
    chosen_idx: list[int] = []
    while heap and len(chosen_idx) < budget:
        neg, i = heapq.heappop(heap)
        fresh = gain(i)
        if heap and fresh < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-fresh, i))
            continue
        chosen_idx.append(i)
        covered |= feats[i]
    return [tasks[i] for i in sorted(chosen_idx)]
