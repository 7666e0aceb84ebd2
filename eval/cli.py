"""`dive eval`: evaluate an agent on in-distribution and held-out tools, audit leakage, re-score a run.

A thin layer over `dive.eval` (the Python API); mounted on the main CLI as `dive eval`.
"""

from __future__ import annotations

import importlib
import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

eval_app = typer.Typer(help="Evaluate agents on held-out (OOD) and in-distribution tools, audit leakage, re-score.",
                       no_args_is_help=True)

console = Console()
err = Console(stderr=True)


class Backend(str, Enum):
    hf = "hf"
    openai = "openai"


class SplitChoice(str, Enum):
    id = "id"
    heldout = "heldout"
    both = "both"


class ScriptedAgent(str, Enum):
    replay = "replay"
    none = "none"


class Transport(str, Enum):
    inprocess = "inprocess"
    stdio = "stdio"


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code=1)


def _model_agent(model: str | None, backend: Backend, base_url: str | None, temperature: float,
                 max_new_tokens: int) -> tuple[Any, str]:
    from .agents import HFAgent, OpenAIAgent

    _check_model_options(model, backend, base_url)
    if backend is Backend.openai:
        assert model and base_url
        try:
            agent = OpenAIAgent(base_url, model, temperature=temperature, max_tokens=max_new_tokens)
        except RuntimeError as exc:  # EndpointError: unreachable, or the key was refused
            raise _fail(str(exc)) from exc
        return agent, f"openai:{model}"
    with console.status(f"loading {model or 'the default model (SmolLM2-135M-Instruct)'}"):
        agent = HFAgent(model, temperature=temperature, max_new_tokens=max_new_tokens)
    return agent, f"hf:{agent.name}"


def _check_model_options(model: str | None, backend: Backend, base_url: str | None) -> None:
    if backend is Backend.openai and not (model and base_url):
        raise _fail("--backend openai needs --model (the name the server knows) and --base-url "
                    "(e.g. http://127.0.0.1:8000/v1)")
    if backend is Backend.hf and base_url:
        raise _fail("--base-url is for --backend openai")


def _run_bench(name: str, agent: Any, n: int | None, out: Path) -> None:
    """Hand the agent to an external benchmark: `dive.eval.bfcl.run_bench` for the BFCL benchmarks."""
    try:
        bench = importlib.import_module("dive.eval.bfcl")
    except ModuleNotFoundError as exc:
        if exc.name != "dive.eval.bfcl":  # bfcl is there, but something it needs is not
            raise _fail(f"the benchmark {name!r} is not available yet: dive.eval.bfcl cannot be imported ({exc})") from exc
        if name.lower().startswith("bfcl"):
            raise _fail(f"the benchmark {name!r} is not available yet: dive.eval.bfcl is not installed") from exc
        raise _fail(f"unknown benchmark {name!r}") from exc
    except ImportError as exc:
        raise _fail(f"the benchmark {name!r} is not available yet: dive.eval.bfcl cannot be imported ({exc})") from exc
    run_bench = getattr(bench, "run_bench", None)
    if not callable(run_bench):
        raise _fail(f"the benchmark {name!r} is not available yet: dive.eval.bfcl has no run_bench(name, agent, n=, out=)")
    result = run_bench(name, agent, n=n, out=out)
    if result is not None:
        console.print(result.model_dump_json(indent=2) if hasattr(result, "model_dump_json") else result,
                      markup=False, highlight=False)
    console.print(f"benchmark {name} written to [bold]{out}[/]")


@eval_app.command("run")
def run_command(
    out: Annotated[Path, typer.Option(help="Folder for results.jsonl, metrics.json, report.md and plots.")],
    model: Annotated[str | None, typer.Option(help="Model: a Hugging Face id or folder (hf; default: the packaged "
                                                      "SmolLM2-135M-Instruct), or the endpoint's model name (openai).")] = None,
    backend: Annotated[Backend, typer.Option(help="hf (a local transformers model) or openai (an OpenAI-compatible "
                                                  "endpoint; key from DIVE_OPENAI_API_KEY or OPENAI_API_KEY).")] = Backend.hf,
    base_url: Annotated[str | None, typer.Option(help="The openai backend's base URL, e.g. http://127.0.0.1:8000/v1.")] = None,
    agent: Annotated[ScriptedAgent | None, typer.Option(help="A scripted agent instead of a model: replay "
                                                                "(answers every task correctly) or none (never answers).")] = None,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (0: greedy).")] = 0.0,
    max_new_tokens: Annotated[int, typer.Option(help="The most tokens one model turn may have.")] = 512,
    tasks: Annotated[Path | None, typer.Option(help="Evaluate these tasks (a `dive synth` folder or tasks.jsonl) "
                                                       "instead of the standard splits; --split labels them.")] = None,
    split: Annotated[SplitChoice, typer.Option(help="id (training tools, new entities), heldout (held-out tools) "
                                                    "or both.")] = SplitChoice.both,
    train: Annotated[Path | None, typer.Option(help="The training set (a `dive synth` folder): id tasks sharing "
                                                       "its seed entities are dropped, and the held-out split is "
                                                       "audited against it.")] = None,
    servers: Annotated[Path | None, typer.Option(help="MCP client config of servers to hold out: the held-out "
                                                         "split is synthesized from their tools (with --tasks: the "
                                                         "servers those tasks were made from).")] = None,
    id_domain: Annotated[list[str] | None, typer.Option("--id-domain", help="Only these training domains for "
                                                                                "the id split (repeatable).")] = None,
    heldout_domain: Annotated[list[str] | None, typer.Option("--heldout-domain", help="Only these held-out "
                                                                "domains for the held-out split (repeatable).")] = None,
    split_size: Annotated[int, typer.Option(help="Tasks synthesized per split (the standard splits use 100).")] = 100,
    n: Annotated[int | None, typer.Option(help="Evaluate only the first N tasks of each split.")] = None,
    samples: Annotated[int, typer.Option(help="Samples per task (K): pass@1..K and mean success.")] = 1,
    max_turns: Annotated[int, typer.Option(help="Turns before an episode is truncated.")] = 10,
    transport: Annotated[Transport, typer.Option(help="inprocess (fastest) or stdio (a process per domain).")] = Transport.inprocess,
    allow_leakage: Annotated[bool, typer.Option(help="Report held-out numbers even when the held-out split fails "
                                                     "the leakage audit against --train.")] = False,
    bench: Annotated[str | None, typer.Option(help="Run an external benchmark (bfcl...) with the agent instead "
                                                      "of the DIVE splits.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the first episode.")] = 0,
    world: Annotated[Path | None, typer.Option(help="World folder (default: the default world).")] = None,
    allow_writes: Annotated[bool, typer.Option(help="RISK: with --servers, let synthesis and episodes call tools "
                                                     "that are not annotated read-only, which may change your data "
                                                     "(destructive tools are never used by synthesis).")] = False,
) -> None:
    """Evaluate an agent in DIVE-v0 on in-distribution and held-out tools, side by side."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .agents import scripted_agent
    from .audit import LeakageError
    from .runner import check_leakage, run_eval
    from .splits import build_split, infer_split_name, split_from_tasks

    if agent is not None and (model or base_url or backend is not Backend.hf):
        raise _fail("--agent replaces the model: give either --agent or --model/--backend, not both")
    if samples < 1 or max_turns < 1 or (n is not None and n < 1) or split_size < 1:
        raise _fail("--samples, --max-turns, --n and --split-size must be at least 1")
    policy: Any = None
    if agent is None:  # loaded (or its endpoint checked) before any split is synthesized: a bad model fails first
        policy, agent_name = _model_agent(model, backend, base_url, temperature, max_new_tokens)
    if bench is not None:
        if agent is ScriptedAgent.replay:
            raise _fail("--agent replay replays DIVE tasks; a benchmark needs a model (or --agent none)")
        if agent is not None:
            policy = scripted_agent("none", [])
        _run_bench(bench, policy, n, out)
        return

    from dive.env import MCPConfig

    try:
        config = MCPConfig.load(str(servers)).to_json() if servers else None
        if tasks is not None:
            from dive.synth import load_tasks

            name = split.value if split is not SplitChoice.both else infer_split_name(load_tasks(tasks))
            # With --servers, the given tasks are played on those servers (they were synthesized from them).
            splits = [split_from_tasks(name, tasks, train=train, servers=config,  # type: ignore[arg-type]
                                       allow_writes=allow_writes)]
        else:
            names = ["id", "heldout"] if split is SplitChoice.both else [split.value]
            splits = []
            for name in names:
                with console.status(f"preparing the {name} split (synthesized on first use, then cached)"):
                    splits.append(build_split(
                        name, size=split_size, train=train, world=world,  # type: ignore[arg-type]
                        domains=(id_domain if name == "id" else heldout_domain) or None,
                        servers=config if name == "heldout" else None, allow_writes=allow_writes))
        audit_report = None
        if train is not None and any(s.name == "heldout" for s in splits):
            with console.status("auditing the held-out split against the training set"):
                audit_report = check_leakage(splits, train, allow_leakage=allow_leakage)
    except LeakageError as exc:
        raise _fail(str(exc)) from exc
    except (FileNotFoundError, ValueError, RuntimeError) as exc:  # RuntimeError: servers that cannot be reached
        raise _fail(str(exc)) from exc
    for s in splits:
        dropped = f" ({len(s.removed_seed_overlap)} dropped: seed entity in the training set)" if s.removed_seed_overlap else ""
        console.print(f"{s.name} split: {len(s.tasks)} tasks from {s.source}{dropped}", highlight=False, soft_wrap=True)
    if audit_report is not None and not audit_report.passed:
        err.print("[bold yellow]warning:[/] the held-out split failed the leakage audit ("
                  + "; ".join(audit_report.reasons) + "); reporting anyway (--allow-leakage)", highlight=False)

    if agent is not None:
        policy, agent_name = scripted_agent(agent.value, [t for s in splits for t in s.tasks]), f"scripted:{agent.value}"

    with Progress(TextColumn("[bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        jobs = {s.name: bar.add_task(f"eval {s.name}", total=len(s.tasks[:n] if n else s.tasks) * samples)
                for s in splits}

        def progress(name: str, done: int, total: int) -> None:
            bar.update(jobs[name], completed=done, total=total)

        try:
            report = run_eval(policy, splits, out, agent_name=agent_name, samples=samples, n=n, max_turns=max_turns,
                              transport=transport.value, world=world, train=train, allow_leakage=allow_leakage,
                              audit_report=audit_report, seed=seed, progress=progress)
        except (ValueError, RuntimeError) as exc:  # servers that do not offer the tasks' tools, a failing endpoint
            raise _fail(str(exc)) from exc
    _print_metrics(report)
    console.print(f"report: [bold]{out / 'report.md'}[/]; episodes: {out / 'results.jsonl'}", highlight=False,
                  soft_wrap=True)


def _print_metrics(report: Any) -> None:
    metrics = report.metrics
    table = Table(title=f"DIVE evaluation ({report.run.samples} sample(s) per task)")
    table.add_column("split", no_wrap=True)
    for column in ("tasks", "success", "pass@K", "valid calls", "calls/ep", "turns/ep"):
        table.add_column(column, justify="right")
    for s in metrics.splits.values():
        top = s.pass_at_k.get(f"pass@{s.samples}")
        table.add_row(s.split, str(s.tasks), f"{s.success_rate:.1%}", "-" if top is None else f"{top:.1%}",
                      "-" if s.valid_tool_call_rate is None else f"{s.valid_tool_call_rate:.1%}",
                      f"{s.avg_tool_calls:.2f}", f"{s.avg_turns:.2f}")
    if metrics.gap is not None:
        gap = metrics.gap
        top = max(s.samples for s in metrics.splits.values())
        table.add_row("OOD-ID gap", "", f"{gap['success_rate'] * 100:+.1f} pt",
                      f"{gap[f'pass@{top}'] * 100:+.1f} pt" if f"pass@{top}" in gap else "",
                      f"{gap['valid_tool_call_rate'] * 100:+.1f} pt" if "valid_tool_call_rate" in gap else "", "", "")
    console.print(table)


@eval_app.command("audit")
def audit_command(
    train: Annotated[Path, typer.Option(help="The training set (a `dive synth` folder or tasks.jsonl).")],
    heldout: Annotated[Path, typer.Option(help="The held-out set (a `dive synth` folder or tasks.jsonl).")],
    threshold: Annotated[float, typer.Option(help="Cosine similarity at which questions are near-duplicates.")] = 0.9,
    limit: Annotated[float, typer.Option(help="The largest near-duplicate rate that passes.")] = 0.02,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check that no held-out tool (by name or schema hash) and few held-out questions appear in a training set."""
    from .audit import audit

    try:
        report = audit(train, heldout, threshold=threshold, limit=limit)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        console.print_json(report.model_dump_json())
    else:
        console.print(f"training tasks {report.train_tasks}, held-out tasks {report.heldout_tasks}, held-out tools "
                      f"{report.heldout_tools}", highlight=False)
        console.print(f"tool leaks: {len(report.tool_leaks)}"
                      + "".join(f"\n  {leak.tool} (by {leak.by}: {leak.training_tool})" for leak in report.tool_leaks),
                      highlight=False, markup=False)
        console.print(f"near-duplicate questions: {report.near_duplicates} ({report.near_duplicate_rate:.1%}) at cosine "
                      f">= {report.near_duplicate_threshold:g}; limit {report.near_duplicate_limit:.1%}"
                      + ("" if report.embedding_model else " (exact matches only: the embedding model is not installed)"),
                      highlight=False)
        for pair in report.top_pairs[:3]:
            console.print(f"  {pair.cosine:.3f}  {pair.heldout_question[:80]!r}  ~  {pair.train_question[:80]!r}",
                          highlight=False, markup=False)
        console.print("[bold green]passed[/]" if report.passed else "[bold red]failed[/]: " + "; ".join(report.reasons),
                      highlight=False)
    if not report.passed:
        raise typer.Exit(code=1)


@eval_app.command("rescore")
def rescore_command(
    out: Annotated[Path, typer.Argument(help="A `dive eval run --out` folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the re-computed report as JSON.")] = False,
) -> None:
    """Re-score a run from results.jsonl (answers re-matched) and check it reproduces metrics.json."""
    from .report import rescore

    try:
        report = rescore(out)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        console.print_json(json.dumps(report.model_dump(mode="json")))
    for problem in report.episode_problems[:20]:
        err.print(f"episode: {problem}", markup=False, highlight=False)
    for difference in report.metric_differences[:20]:
        err.print(f"metric: {difference}", markup=False, highlight=False)
    if report.reproduced:
        rates = ", ".join(f"{s.split} {s.success_rate:.1%}" for s in report.metrics.splits.values())
        console.print(f"[bold green]reproduced[/]: {report.episodes} episodes re-scored; success {rates}",
                      highlight=False)
        return
    err.print(f"[bold red]not reproduced[/]: {len(report.episode_problems)} episode(s) and "
              f"{len(report.metric_differences)} metric(s) disagree with {out}", highlight=False)
    raise typer.Exit(code=1)
