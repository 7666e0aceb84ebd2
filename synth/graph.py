"""Call graphs: calls as nodes, values that flowed from one call's output into another's arguments as edges."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from .records import Hop


def call_graph(hops: list[Hop]) -> dict[int, set[int]]:
    """Predecessors of each call of a solution: call -> calls whose outputs fed its arguments."""
    nodes = {hop.call for hop in hops}
    preds: dict[int, set[int]] = {hop.call: set() for hop in hops}
    for hop in hops:
        for source in hop.inputs.values():
            if source.startswith("call:"):
                producer = int(source.split(":", 2)[1])
                if producer in nodes and producer != hop.call:
                    preds[hop.call].add(producer)
    return preds


def _signature(preds: dict[int, set[int]], label: Callable[[int], str]) -> str:
    """A canonical text of a DAG: each node written with its (sorted) predecessors' signatures."""
    memo: dict[int, str] = {}

    def sig(node: int) -> str:
        if node not in memo:
            parents = sorted(sig(p) for p in preds[node])
            prefix = "" if not parents else (parents[0] + ">" if len(parents) == 1 else "(" + ",".join(parents) + ")>")
            memo[node] = prefix + label(node)
        return memo[node]

    consumed = {p for ps in preds.values() for p in ps}
    sinks = sorted(sig(n) for n in preds if n not in consumed)
    return sinks[0] if len(sinks) == 1 else "+".join(sinks)


def call_graph_key(hops: list[Hop]) -> str:
    """A canonical hash of the call graph with tools as node labels (isomorphic graphs hash the same)."""
    tools = {hop.call: hop.tool for hop in hops}
    text = _signature(call_graph(hops), lambda n: tools[n])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def topology(hops: list[Hop], kind_of: Callable[[str], str | None]) -> str:
    """The retrieval/processing topology class: 'R', 'R>P', '(R,R)>P', ... ('?' for unknown kinds)."""
    tools = {hop.call: hop.tool for hop in hops}

    def label(node: int) -> str:
        kind = kind_of(tools[node])
        return {"retrieval": "R", "processing": "P"}.get(kind or "", "?")

    return _signature(call_graph(hops), label)
