"""Export of a synthesis run: tasks.jsonl, sft.jsonl, manifest.json and report.md with plots.

`sft.jsonl` rows are chat conversations in the transformers/TRL convention: {"id", "messages", "tools"} where
assistant tool calls are `{"id", "type": "function", "function": {"name", "arguments"}}` with `arguments` an
object, tool results are `{"role": "tool", "tool_call_id", "name", "content"}`, and `tools` is the list of the
task's tool schemas in the form `apply_chat_template(tools=...)` takes. `datasets.load_dataset("json", ...)`
reads rows whose tools and arguments differ (it keeps such nested values as JSON), and chat templates that
render tool calls write each call's arguments once, as an object.
"""

from __future__ import annotations

import json
import os
import platform
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from dive.env.chat_format import render_answer
from dive.env.chat_format import tool_schema as function_schema
from dive.env.config import redacted_config
from pydantic import BaseModel

from dive import __version__

from .answers import format_answer
from .metrics import DiversityStats, diversity_stats
from .records import SYNTHESIS_VERSION, Task
from .select import select_diverse

RecordT = TypeVar("RecordT", bound=BaseModel)

MAX_TOOL_RESULT_CHARS = 4000


def final_answer_message(answer: Any) -> str:
    """The final assistant message: the answer between answer tags (what DIVE-v0 parses)."""
    return render_answer(format_answer(answer))


def tool_schema(name: str, tool: dict[str, Any]) -> dict[str, Any]:
    """A catalog tool in the OpenAI function-calling form used by chat templates."""
    return function_schema(name, tool.get("description", ""), tool.get("input_schema"))


def sft_example(task: Task, tools: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The solution trajectory of a task as chat messages with tool calls (object arguments, keys sorted) and tool
    results, and the task's tool schemas."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": task.question}]
    for n, index in enumerate(task.solution):
        call = task.evidence.calls[index]
        exposed = task.diversity.call_sequence[n]
        call_id = f"call_{n}"
        messages.append({"role": "assistant", "content": "", "tool_calls": [
            {"id": call_id, "type": "function",
             "function": {"name": exposed, "arguments": _sorted(call.arguments)}}]})
        content = json.dumps(call.result, sort_keys=True, ensure_ascii=False) if call.result is not None else call.text
        messages.append({"role": "tool", "tool_call_id": call_id, "name": exposed,
                         "content": content[:MAX_TOOL_RESULT_CHARS]})
    messages.append({"role": "assistant", "content": final_answer_message(task.answer)})
    schemas = [tool_schema(name, tools[name]) for name in task.toolset if name in tools]
    return {"id": task.id, "messages": messages, "tools": schemas}


def _sorted(value: Any) -> Any:
    """A JSON value with every object's keys in sorted order (one canonical form for the same call)."""
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def export_dataset(out: Path, accepted: list[Task], options, catalog: dict[str, Any], rejections: Counter,
                   examples: dict[str, str] | None = None) -> tuple[list[Task], list[str]]:
    """Select from the accepted tasks and write the dataset files; returns the selected tasks and, when they
    are fewer than asked, the lines that say why and what to try.

    `catalog`: {"tools": {exposed name: {server, domain, kind, schema_hash, description, input_schema}},
    "excluded_tools": {name: why}, "world": {...}} as the run's workers listed them; `examples`: a rejection
    reason -> one rejected candidate's detail.
    """
    selected = select_diverse(accepted, options.n, options.select, seed=options.seed)
    tools = catalog["tools"]
    _write_atomic(out / "tasks.jsonl", "".join(t.model_dump_json() + "\n" for t in selected))
    _write_atomic(out / "sft.jsonl", "".join(json.dumps(sft_example(t, tools), ensure_ascii=False) + "\n"
                                             for t in selected))
    _write_atomic(out / "tools.json", json.dumps([tool_schema(n, t) for n, t in sorted(tools.items())], indent=1))
    stats = diversity_stats(selected, tools_available=len(tools), embeddings=options.embedding_metrics)
    manifest = {
        "dive_gym": __version__,
        "synthesis": SYNTHESIS_VERSION,
        "options": manifest_options(options),
        "world": catalog["world"],
        "tools": {n: {k: t[k] for k in ("server", "domain", "kind", "schema_hash")} for n, t in sorted(tools.items())},
        "excluded_tools": catalog.get("excluded_tools", {}),
        "counts": {"selected": len(selected), "accepted": len(accepted), "rejected": sum(rejections.values())},
        "rejections": dict(rejections.most_common()),
        "seeds": sorted({t.seed.id for t in selected}),
        "versions": {p: _version(p) for p in ("mcp", "pydantic", "numpy")} | {"python": platform.python_version()},
    }
    short = shortfall(options.n, len(selected), rejections, examples or {}, catalog.get("excluded_tools", {}),
                      seeds_file=bool(options.seeds_file))
    _write_atomic(out / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    write_report(out, stats, accepted=len(accepted), rejections=rejections, selected=selected, short=short,
                 excluded=catalog.get("excluded_tools", {}))
    return selected, short


# What to try when a rejection reason dominates a short run.
_HINTS = {
    "no_evidence": "no call from the seeds found anything: give seeds the servers know with --seeds-file (one "
                   "name per line, or JSON lines {\"name\": ..., \"type\": ...})",
    "no_derivable_answer": "calls answered but nothing in them could be asked about: tools that publish what their "
                           "results mean (_meta \"dive/tool\" meaning) or structured results give more to ask",
    "ambiguous_seed": "seed names are shared by several things: give seeds with unique names (--seeds-file)",
}


def shortfall(asked: int, made: int, rejections: Counter, examples: dict[str, str], excluded: dict[str, str],
              *, seeds_file: bool) -> list[str]:
    """Why a run made fewer tasks than asked and what to try; empty when it made enough."""
    if made >= asked:
        return []
    lines = [f"made {made} of the {asked} tasks asked"]
    for reason, count in rejections.most_common(3):
        example = examples.get(reason)
        lines.append(f"{count} candidates rejected as {reason}" + (f" (e.g. {example})" if example else ""))
    if excluded:
        lines.append(f"{len(excluded)} tools were left out as possibly changing data ({', '.join(sorted(excluded)[:6])}): "
                     "list read-only ones under \"readOnlyTools\" in the config, or pass --allow-writes")
    for reason, _ in rejections.most_common(3):
        hint = _HINTS.get(reason)
        if hint and not (reason == "no_evidence" and seeds_file):
            lines.append(f"try: {hint}")
    lines.append("try: more --rounds, a wider --toolset-size, or a smaller --n")
    return lines


def manifest_options(options) -> dict[str, Any]:
    """A run's options as its manifest records them: the server config with its credentials redacted (env and
    header values, URL userinfo and tokens, secret flags), since a dataset is shared and the config is not."""
    recorded = json.loads(options.model_dump_json())
    if options.servers is not None:
        recorded["servers"] = redacted_config(options.servers)
    return recorded


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def write_report(out: Path, stats: DiversityStats, *, accepted: int, rejections: Counter, selected: list[Task],
                 short: list[str] = (), excluded: dict[str, str] | None = None) -> None:
    """report.md: headline numbers, rejection reasons, and PNG plots of the diversity metrics."""
    plots = _plots(out, stats, selected)
    total = accepted + sum(rejections.values())
    lines = [
        "# DIVE synthesis report", "",
        f"- tasks selected: **{stats.tasks}** (accepted {accepted} of {total} candidates, "
        f"acceptance {accepted / total:.1%})" if total else "- no candidates",
        f"- tools covered: **{stats.tools_covered}**" + (f" of {stats.tools_available}" if stats.tools_available else ""),
        f"- unique toolsets (tools a solution uses): {stats.unique_toolsets}; unique call sequences: "
        f"{stats.unique_call_sequences}; unique call graphs: {stats.unique_call_graphs}; toolsets offered: "
        f"{stats.unique_menus}",
        f"- distinct tools per task: {stats.tool_types_per_task}; tasks with two hops or more: "
        f"{stats.multi_hop_share:.1%}",
        "- per 1,000 tasks: " + ", ".join(f"{k} {v}" for k, v in stats.per_1000_tasks.items()),
    ]
    if stats.embedding:
        lines.append(f"- question embedding dispersion: {stats.embedding.dispersion}; near-duplicate rate: "
                     f"{stats.embedding.near_duplicate_rate:.1%} ({stats.embedding.model})")
    elif stats.embedding_note:
        lines.append(f"- {stats.embedding_note}")
    if short:
        lines += ["", "## Fewer tasks than asked", ""] + [f"- {line}" for line in short]
    if excluded:
        lines += ["", "## Tools left out", "", "| tool | why |", "| --- | --- |"]
        lines += [f"| {name} | {why} |" for name, why in sorted(excluded.items())]
    lines += ["", "## Rejections", "", "| reason | count |", "| --- | --- |"]
    lines += [f"| {reason} | {count} |" for reason, count in rejections.most_common()] or ["| none | 0 |"]
    for title, table in (("Topology classes", stats.topology_classes), ("Domain mix", stats.domain_mix),
                         ("Answer types", stats.answer_types), ("Hops", stats.hops)):
        lines += ["", f"## {title}", "", "| value | tasks |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in table.items()]
    lines += ["", "## Plots", ""] + [f"![{name}]({name})" for name in plots]
    _write_atomic(out / "report.md", "\n".join(lines) + "\n")
    _write_atomic(out / "stats.json", stats.model_dump_json(indent=2))


def _plots(out: Path, stats: DiversityStats, tasks: list[Task]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tool_use = Counter(tool for t in tasks for tool in t.diversity.tools)
    figures = {
        "plot_tool_usage.png": ("Tasks per tool", dict(sorted(tool_use.items(), key=lambda kv: -kv[1])[:40])),
        "plot_topology.png": ("Retrieval/processing topology classes", dict(list(stats.topology_classes.items())[:15])),
        "plot_domains.png": ("Domain mix", dict(list(stats.domain_mix.items())[:15])),
        "plot_hops.png": ("Solution length (calls)", stats.hops),
    }
    written = []
    for name, (title, data) in figures.items():
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.bar(range(len(data)), list(data.values()), color="#4c72b0")
        ax.set_xticks(range(len(data)), list(data.keys()), rotation=60, ha="right", fontsize=7)
        ax.set_title(title)
        ax.set_ylabel("tasks")
        fig.tight_layout()
        fig.savefig(out / name, dpi=90, metadata={"Software": None})
        plt.close(fig)
        written.append(name)
    return written


def load_tasks(source: Path) -> list[Task]:
    """Tasks from a `dive synth` folder or a tasks.jsonl file."""
    path = source / "tasks.jsonl" if source.is_dir() else source
    if not path.is_file():
        raise FileNotFoundError(f"no tasks at {path}: point at a `dive synth --out` folder or a tasks.jsonl")
    return read_records(path, Task, "a task record")


def read_records(path: Path, model: type[RecordT], what: str) -> list[RecordT]:
    """The records of a JSONL file, one `model` a line (blank lines skipped); a bad line is a ValueError that
    names the file, the line number and `what` it should have been."""
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                records.append(model.model_validate_json(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not {what}: {exc}") from exc
    return records
