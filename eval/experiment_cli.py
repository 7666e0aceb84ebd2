"""`dive experiment`: experiments that measure a claim end to end; a thin layer over `dive.eval.scaling`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

experiment_app = typer.Typer(help="Experiments that check a claim end to end (synthesis, training, evaluation).",
                             no_args_is_help=True)

console = Console()
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code=1)


def _range(text: str, name: str) -> tuple[int, int]:
    try:
        low, _, high = text.partition("-")
        return int(low), int(high or low)
    except ValueError:
        raise _fail(f"--{name} takes N or LO-HI, not {text!r}") from None


def _ints(text: str, name: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise _fail(f"--{name} takes numbers separated by commas (e.g. 1,2,4), not {text!r}") from None


def _command(ctx: typer.Context) -> str:
    """The command that repeats this run: every option that differs from its default, as it would be typed."""
    import shlex

    words = ["dive", *ctx.command_path.split()[1:]]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if value == param.default or value is None or value == []:
            continue
        flag = param.opts[0]
        if isinstance(value, bool):
            words.append(flag if value else (param.secondary_opts or [flag])[0])
        else:
            for item in value if isinstance(value, list | tuple) else [value]:
                words += [flag, shlex.quote(str(item))]
    return " ".join(words)


@experiment_app.command("scaling")
def scaling_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Folder of the experiment: training sets, checkpoints, evaluations, "
                                           "report.md, results.json, heldout_vs_size.png. Run again to resume.")],
    model: Annotated[str | None, typer.Option(help="Base model: a Hugging Face id or folder (default: the packaged "
                                                      "SmolLM2-135M-Instruct).")] = None,
    tasks: Annotated[int, typer.Option(help="N: the diversity set's size and the quantity axis's 1x.")] = 100,
    quantity: Annotated[str, typer.Option(help="Multipliers of N on the quantity axis.")] = "1,2,4",
    diversity: Annotated[str, typer.Option(help="Multipliers of N on the diversity axis.")] = "1",
    diversity_domain: Annotated[list[str] | None, typer.Option("--diversity-domain", help="Domains of the diversity "
                                                               "sets (repeatable; default: every training domain).")] = None,
    diversity_toolset_size: Annotated[str, typer.Option(help="Tools offered per task config on the diversity axis, "
                                                             "N or LO-HI.")] = "4-12",
    quantity_domain: Annotated[list[str] | None, typer.Option("--quantity-domain", help="Domains of the narrow "
                                                              "quantity pool (repeatable; default: database).")] = None,
    quantity_toolset_size: Annotated[str, typer.Option(help="Tools offered per task config on the quantity axis.")] = "3-4",
    diversity_pool_factor: Annotated[float, typer.Option(help="Accepted candidates per selected task on the "
                                                             "diversity axis (submodular selection's pool).")] = 4.0,
    quantity_rounds: Annotated[int, typer.Option(help="Evidence rounds on the quantity axis (1: few structures).")] = 1,
    rounds: Annotated[int, typer.Option(help="Evidence rounds on the diversity axis.")] = 3,
    seed: Annotated[int, typer.Option(help="Synthesis seed of the training sets.")] = 0,
    max_steps: Annotated[int | None, typer.Option(help="SFT steps per set (default: --epochs over each set).")] = None,
    epochs: Annotated[float, typer.Option(help="SFT epochs per set when --max-steps is not given.")] = 1.0,
    batch_size: Annotated[int, typer.Option(help="SFT batch size (every set the same).")] = 1,
    lr: Annotated[float, typer.Option(help="SFT learning rate (every set the same).")] = 5e-5,
    max_length: Annotated[int, typer.Option(help="SFT tokens per conversation.")] = 3072,
    tools: Annotated[str | None, typer.Option("--tools", help="How SFT renders tools: full (JSON schemas) or compact "
                                                              "(one line a tool). Default: the model's own, else full.")] = None,
    id_domain: Annotated[list[str] | None, typer.Option("--id-domain", help="Domains of the id split (repeatable; "
                                                                            "default: every training domain).")] = None,
    heldout_domain: Annotated[list[str] | None, typer.Option("--heldout-domain", help="Domains of the held-out split "
                                                             "(repeatable; default: every held-out domain).")] = None,
    eval_size: Annotated[int, typer.Option(help="Tasks synthesized per evaluation split.")] = 16,
    eval_toolset_size: Annotated[str, typer.Option(help="Tools offered per evaluation task, N or LO-HI ('standard': "
                                                        "the standard splits' 15-50).")] = "4-12",
    eval_n: Annotated[int | None, typer.Option(help="Evaluate only the first N tasks of each split.")] = None,
    max_turns: Annotated[int, typer.Option(help="Turns per evaluation episode.")] = 3,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens per model turn.")] = 128,
    bench: Annotated[list[str] | None, typer.Option("--bench", help="Also run every model on this benchmark "
                                                                    "(repeatable; e.g. bfcl-simple).")] = None,
    bench_n: Annotated[int, typer.Option(help="Entries of each benchmark.")] = 20,
    workers: Annotated[int, typer.Option(help="Synthesis worker processes.")] = 1,
    embedding_metrics: Annotated[bool, typer.Option(help="Question-embedding dispersion in each set's metrics.")] = True,
    world: Annotated[Path | None, typer.Option(help="World folder (default: the default world).")] = None,
) -> None:
    """Diversity scaling against quantity scaling: synthesize, fine-tune and evaluate both axes, then report."""
    from .audit import LeakageError
    from .scaling import ScalingOptions, run_scaling

    if tools not in (None, "full", "compact"):
        raise _fail(f"--tools takes full or compact, not {tools!r}")
    try:
        options = ScalingOptions(
            tasks=tasks, quantity_multipliers=_ints(quantity, "quantity"),
            diversity_multipliers=_ints(diversity, "diversity"), diversity_domains=diversity_domain or None,
            diversity_toolset_size=_range(diversity_toolset_size, "diversity-toolset-size"),
            quantity_domains=quantity_domain or ["database"],
            quantity_toolset_size=_range(quantity_toolset_size, "quantity-toolset-size"), seed=seed,
            diversity_pool_factor=diversity_pool_factor, quantity_rounds=quantity_rounds, rounds=rounds,
            tools_format=tools,  # type: ignore[arg-type]
            embedding_metrics=embedding_metrics, model=model, max_steps=max_steps, epochs=epochs,
            batch_size=batch_size, lr=lr, max_length=max_length, id_domains=id_domain or None,
            heldout_domains=heldout_domain or None, eval_size=eval_size,
            eval_toolset_size=None if eval_toolset_size == "standard" else _range(eval_toolset_size,
                                                                                  "eval-toolset-size"), eval_n=eval_n, max_turns=max_turns,
            max_new_tokens=max_new_tokens, bench=bench or [], bench_n=bench_n, workers=workers,
            world=str(world) if world else None)
        results = run_scaling(options, out, command=_command(ctx),
                              progress=lambda line: console.print(line, markup=False, highlight=False))
    except LeakageError as exc:
        raise _fail(str(exc)) from exc
    except (FileNotFoundError, FileExistsError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise _fail(str(exc)) from exc

    table = Table(title="Diversity against quantity scaling")
    for column in ("model", "axis", "training tasks", "tools covered", "ID success", "held-out success"):
        table.add_column(column, justify="left" if column in ("model", "axis") else "right")
    covered = {s.name: s.stats["tools_covered"] for s in results.sets}
    for m in results.models:
        table.add_row(m.name, m.axis or "-", str(m.training_tasks), str(covered.get(m.name, "-")),
                      "-" if m.id_success is None else f"{m.id_success:.1%}",
                      "-" if m.heldout_success is None else f"{m.heldout_success:.1%}")
    console.print(table)
    reused = sum(s.status == "reused" for s in results.stages)
    console.print(f"{len(results.stages) - reused} stage(s) run, {reused} reused; report: [bold]{out / 'report.md'}[/]",
                  highlight=False, soft_wrap=True)
