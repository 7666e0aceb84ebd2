"""The paper's claim as an experiment: scaling the *diversity* of training tasks against scaling their *quantity*.

From the same world and servers, `run_scaling` synthesizes training sets along two axes:

- **diversity**: many tools (every training domain, a wide toolset-size range, submodular selection over tools,
  toolsets and call graphs) at a fixed number of tasks, N (or N times each of `diversity_multipliers`);
- **quantity**: a fixed narrow pool (one domain, small toolsets, one evidence round, random selection) at N times each of
  `quantity_multipliers` (1x, 2x, 4x by default);

fine-tunes the same base model on each with the same optimiser settings (`dive.train.sft.train_sft`), evaluates
the base model and every checkpoint on the in-distribution and held-out splits (each training set is audited
against the held-out split first; a leak stops the run) and optionally BFCL, and writes one report:
`report.md`, `results.json` and `heldout_vs_size.png`.

Resumable: each stage (a synthesis, a training run, an evaluation) leaves a `stage.json` beside its output when it
finishes, holding the settings it ran with; a later run with the same settings reuses it, an interrupted
synthesis or training run continues from what it left, and a folder made with other settings is refused.

    from dive.eval.scaling import ScalingOptions, run_scaling
    results = run_scaling(ScalingOptions(tasks=50), "runs/scaling")
    print([(s.name, s.heldout_success) for s in results.models])
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from dive import __version__

STAGE_FILE = "stage.json"
RESULTS_FILE = "results.json"
REPORT_FILE = "report.md"
PLOT_FILE = "heldout_vs_size.png"
BASE = "base"

Axis = Literal["diversity", "quantity"]


class ScalingOptions(BaseModel):
    """Everything that decides the experiment's numbers; recorded in results.json and the report."""

    tasks: int = 100
    """N: the diversity set's size and the quantity axis's 1x."""
    diversity_multipliers: list[int] = Field(default_factory=lambda: [1])
    quantity_multipliers: list[int] = Field(default_factory=lambda: [1, 2, 4])
    diversity_domains: list[str] | None = None
    """None: every training domain."""
    diversity_toolset_size: tuple[int, int] = (4, 12)
    quantity_domains: list[str] = Field(default_factory=lambda: ["database"])
    diversity_pool_factor: float = 4.0
    """Accepted candidates per selected task on the diversity axis: a wide pool for submodular selection to pick
    from (synthesis' default is 1.5)."""
    quantity_toolset_size: tuple[int, int] = (3, 4)
    quantity_rounds: int = 1
    """Evidence rounds on the quantity axis: one round keeps its call structures few (single-hop, mostly)."""
    seed: int = 0
    """The synthesis run seed of every training set (the evaluation splits use `dive.eval.EVAL_SEED`)."""
    rounds: int = 3
    embedding_metrics: bool = True
    model: str | None = None
    """The base model (a Hugging Face id or folder; None: the packaged SmolLM2-135M-Instruct)."""
    max_steps: int | None = None
    """Optimizer steps per training run; None: `epochs` over each set (so a 4x set gets 4x the steps)."""
    epochs: float = 1.0
    batch_size: int = 1
    lr: float = 5e-5
    max_length: int | None = 3072
    tools_format: Literal["full", "compact"] | None = None
    """How SFT renders tools (None: the base model's own, else full JSON schemas)."""
    train_seed: int = 0
    id_domains: list[str] | None = None
    """Domains of the in-distribution split (None: every training domain)."""
    heldout_domains: list[str] | None = None
    """Domains of the held-out split (None: every held-out domain)."""
    eval_size: int = 16
    """Tasks synthesized per evaluation split (the id split then loses those whose seed a training set used)."""
    eval_toolset_size: tuple[int, int] | None = (4, 12)
    """Tools offered per evaluation task (None: the standard splits' 15-50, whose prompts run past a small model's
    context); by default the diversity axis' range."""
    eval_n: int | None = None
    """Evaluate only the first N tasks of each split."""
    max_turns: int = 3
    max_new_tokens: int = 128
    bench: list[str] = Field(default_factory=list)
    """External benchmarks to run every model on (bfcl-simple, bfcl-multiple, ...)."""
    bench_n: int | None = 20
    workers: int = 1
    world: str | None = None

    def check(self) -> None:
        """Refuse settings that cannot make the experiment, with what to change."""
        if self.tasks < 1 or self.eval_size < 1:
            raise ValueError("tasks and eval_size must be at least 1")
        if not self.quantity_multipliers or not self.diversity_multipliers:
            raise ValueError("each axis needs at least one multiplier (e.g. quantity 1,2,4 and diversity 1)")
        if any(m < 1 for m in [*self.quantity_multipliers, *self.diversity_multipliers]):
            raise ValueError("multipliers must be at least 1")
        for low, high in (self.diversity_toolset_size, self.quantity_toolset_size, self.eval_toolset_size or (1, 1)):
            if not 1 <= low <= high:
                raise ValueError(f"a toolset size range must be 1 <= low <= high, not {low}-{high}")


class TrainingSet(BaseModel):
    """One training set of the experiment: which axis it scales, how many tasks, how it is synthesized."""

    name: str
    axis: Axis
    multiplier: int
    options: dict[str, Any]
    """Its `SynthOptions`, as JSON."""


class StageRecord(BaseModel):
    """One stage of this invocation: what it made, and whether it ran now or was found finished."""

    stage: str
    path: str
    status: Literal["ran", "resumed", "reused"]
    seconds: float


class ModelResult(BaseModel):
    """A model's scores: the base model, or the checkpoint trained on one training set."""

    name: str
    axis: Axis | None = None
    training_tasks: int = 0
    checkpoint: str
    id_success: float | None = None
    id_valid_calls: float | None = None
    id_tasks: int = 0
    heldout_success: float | None = None
    heldout_valid_calls: float | None = None
    heldout_tasks: int = 0
    bench: dict[str, float] = Field(default_factory=dict)
    train: dict[str, Any] | None = None
    """Steps, conversations, losses and seconds of its SFT run (None for the base model)."""


class SetResult(BaseModel):
    """A training set: its diversity metrics (synthesis' stats.json) and its leakage audit."""

    name: str
    axis: Axis
    multiplier: int
    requested: int
    tasks: int
    folder: str
    stats: dict[str, Any]
    audit_passed: bool
    audit: dict[str, Any]
    shortfall: list[str] = Field(default_factory=list)


class ScalingResults(BaseModel):
    """results.json: the options, every training set, every model's scores, the stages and the provenance."""

    options: ScalingOptions
    sets: list[SetResult]
    models: list[ModelResult]
    splits: dict[str, dict[str, Any]]
    stages: list[StageRecord]
    calls: list[str]
    """Every API call that makes the results, in order (synthesis, training, evaluation), with its arguments."""
    command: str | None = None
    versions: dict[str, str | None]
    started: str
    finished: str


Progress = Callable[[str], None]


def training_sets(options: ScalingOptions) -> list[TrainingSet]:
    """The experiment's training sets: diversity-scaled first, then quantity-scaled, smallest first."""
    from dive.servers import TRAINING_DOMAINS
    from dive.synth import SynthOptions

    def synth(n: int, domains: list[str], size: tuple[int, int], select: str, rounds: int,
              pool_factor: float) -> dict[str, Any]:
        return json.loads(SynthOptions(n=n, seed=options.seed, rounds=rounds, toolset_size=size, select=select,  # type: ignore[arg-type]
                                       pool_factor=pool_factor, domains=domains, world=options.world,
                                       embedding_metrics=options.embedding_metrics).model_dump_json())

    sets = [TrainingSet(name=f"diversity-{m}x", axis="diversity", multiplier=m,
                        options=synth(options.tasks * m, options.diversity_domains or list(TRAINING_DOMAINS),
                                      options.diversity_toolset_size, "submodular", options.rounds,
                                      options.diversity_pool_factor))
            for m in sorted(set(options.diversity_multipliers))]
    sets += [TrainingSet(name=f"quantity-{m}x", axis="quantity", multiplier=m,
                         options=synth(options.tasks * m, options.quantity_domains, options.quantity_toolset_size,
                                       "random", options.quantity_rounds, SynthOptions().pool_factor))
             for m in sorted(set(options.quantity_multipliers))]
    return sets


def run_scaling(options: ScalingOptions, out: str | Path, *, command: str | None = None,
                progress: Progress | None = None) -> ScalingResults:
    """Run (or resume) the diversity-against-quantity experiment into `out`; see the module docstring.

    `command`: how the run was started, for the report (the CLI passes its command line). `progress`: called
    with a line as each stage starts. Raises `dive.eval.LeakageError` when a training set leaks into the held-out
    split, `ValueError` for settings that cannot make the experiment or a folder made with other settings."""
    options.check()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = _Run(options, out, progress or (lambda line: None))
    started = _now()
    sets = training_sets(options)
    folders = {s.name: run.synthesize(f"synth {s.name}", out / "synth" / s.name, s.options) for s in sets}
    split_folders = {name: run.synthesize(f"split {name}", out / "splits" / name, _split_options(name, options))
                     for name in ("id", "heldout")}
    id_split, heldout_split, removed = _eval_splits(split_folders, list(folders.values()))
    audits = {name: run.audit(name, folder, heldout_split.source) for name, folder in folders.items()}
    set_results = [_set_result(s, folders[s.name], audits[s.name]) for s in sets]

    models = [run.evaluate(BASE, options.model, None, [id_split, heldout_split], audit=None)]
    for s in sets:
        checkpoint, trained = run.train(s.name, folders[s.name])
        result = run.evaluate(s.name, str(checkpoint), folders[s.name], [id_split, heldout_split],
                              audit=audits[s.name])
        result.axis, result.training_tasks, result.train = s.axis, _tasks_in(folders[s.name]), trained
        models.append(result)

    splits = {split.name: {"folder": str(split.source), "tasks": len(split.tasks),
                           "domains": sorted({d for t in split.tasks for d in t.domains})}
              for split in (id_split, heldout_split)}
    splits["id"]["removed_seed_overlap"] = removed
    results = ScalingResults(options=options, sets=set_results, models=models, splits=splits, stages=run.stages,
                             calls=run.calls, command=command, versions=_versions(), started=started,
                             finished=_now())
    _write_atomic(out / RESULTS_FILE, results.model_dump_json(indent=2))
    plot_scaling(results, out / PLOT_FILE)
    _write_atomic(out / REPORT_FILE, render_report(results))
    return results


def _split_options(name: Literal["id", "heldout"], options: ScalingOptions) -> dict[str, Any]:
    from .splits import split_options

    domains = options.id_domains if name == "id" else options.heldout_domains
    synth = split_options(name, size=options.eval_size, domains=domains, world=options.world)
    if options.eval_toolset_size is not None:
        synth = synth.model_copy(update={"toolset_size": options.eval_toolset_size})
    return json.loads(synth.model_dump_json())


def _eval_splits(folders: dict[str, Path], training: list[Path]) -> tuple[Any, Any, int]:
    """The id split without tasks whose seed entity any training set started from (so every model meets the same
    id tasks, all on new entities), and the held-out split."""
    from .splits import split_from_tasks, training_seeds

    seen = set().union(*(training_seeds(folder) for folder in training))
    id_split = split_from_tasks("id", folders["id"])
    kept = [t for t in id_split.tasks if t.seed.id not in seen]
    removed = len(id_split.tasks) - len(kept)
    if not kept:
        raise ValueError(f"every task of the id split ({folders['id']}) starts from a seed entity a training set "
                         "used: synthesize a larger id split (--eval-size)")
    id_split = id_split.model_copy(update={"tasks": kept, "removed_seed_overlap": []})
    return id_split, split_from_tasks("heldout", folders["heldout"]), removed


def _set_result(s: TrainingSet, folder: Path, audit: dict[str, Any]) -> SetResult:
    manifest = json.loads((folder / "manifest.json").read_text())
    from dive.synth.export import shortfall  # the same lines synthesis printed, when the set came out short

    counts = manifest.get("counts", {})
    short = [] if counts.get("selected", 0) >= s.options["n"] else shortfall(
        s.options["n"], counts.get("selected", 0), _counter(manifest.get("rejections", {})), {},
        manifest.get("excluded_tools", {}), seeds_file=False)
    return SetResult(name=s.name, axis=s.axis, multiplier=s.multiplier, requested=s.options["n"],
                     tasks=counts.get("selected", 0), folder=str(folder),
                     stats=json.loads((folder / "stats.json").read_text()), audit_passed=bool(audit.get("passed")),
                     audit=audit, shortfall=short)


def _counter(mapping: dict[str, int]) -> Any:
    from collections import Counter

    return Counter(mapping)


def _tasks_in(folder: Path) -> int:
    return sum(1 for line in (folder / "tasks.jsonl").read_text().splitlines() if line.strip())


class _Run:
    """The stages of one invocation, each skipped when its folder says it is finished with the same settings."""

    def __init__(self, options: ScalingOptions, out: Path, progress: Progress) -> None:
        self.options = options
        self.out = out
        self.progress = progress
        self.stages: list[StageRecord] = []
        self.calls: list[str] = []
        self._agents: dict[str, Any] = {}

    def _finished(self, folder: Path, spec: dict[str, Any], made_from: dict[str, Any] | None = None
                  ) -> dict[str, Any] | None:
        """The stage record of a finished stage with these settings, made from the same inputs (`made_from`:
        when the stages it depends on finished); None when it must run (again)."""
        path = folder / STAGE_FILE
        if not path.is_file():
            return None
        record = json.loads(path.read_text())
        if record.get("spec") != json.loads(json.dumps(spec)):
            raise ValueError(f"{folder} was made with other settings than this experiment's: use another --out, "
                             f"or delete {folder} to make it again")
        if record.get("made_from") != (made_from or None):
            return None
        return record

    def _record(self, stage: str, folder: Path, status: str, started: float, spec: dict[str, Any],
                extra: dict[str, Any] | None = None, made_from: dict[str, Any] | None = None) -> None:
        seconds = round(time.perf_counter() - started, 2)
        if status != "reused":
            _write_atomic(folder / STAGE_FILE, json.dumps({"spec": spec, "made_from": made_from or None,
                                                           "seconds": seconds, "finished": _now(), **(extra or {})},
                                                          indent=2))
        self.stages.append(StageRecord(stage=stage, path=str(folder), status=status, seconds=seconds))  # type: ignore[arg-type]

    def synthesize(self, stage: str, folder: Path, synth_options: dict[str, Any]) -> Path:
        from dive.synth import SynthOptions, synthesize

        started = time.perf_counter()
        spec = {"synth": synth_options}
        self.calls.append(f"dive.synth.synthesize(SynthOptions(**{_short(synth_options)}), {str(folder)!r}, "
                          f"workers={self.options.workers})")
        if self._finished(folder, spec) is not None:
            self._record(stage, folder, "reused", started, spec)
            return folder
        resume = (folder / "candidates.jsonl").exists()
        self.progress(f"{stage}: {'resuming' if resume else 'synthesizing'} {synth_options['n']} tasks into {folder}")
        synthesize(SynthOptions.model_validate(synth_options), folder, workers=self.options.workers, resume=resume)
        self._record(stage, folder, "resumed" if resume else "ran", started, spec)
        return folder

    def audit(self, name: str, train: Path, heldout: Path) -> dict[str, Any]:
        """The leakage audit of one training set against the held-out split; raises `LeakageError` on a leak."""
        from .audit import LeakageError, audit

        self.calls.append(f"dive.eval.audit.audit({str(train)!r}, {str(heldout)!r})")
        report = audit(train, heldout)
        if not report.passed:
            raise LeakageError(report)
        return json.loads(report.model_dump_json(exclude={"top_pairs"}))

    def train(self, name: str, data: Path) -> tuple[Path, dict[str, Any]]:
        from dive.train.sft import RESULT_FILE, train_sft

        o = self.options
        folder = self.out / "train" / name
        settings = {"model": o.model, "max_steps": o.max_steps, "epochs": o.epochs, "batch_size": o.batch_size,
                    "lr": o.lr, "seed": o.train_seed, "max_length": o.max_length,
                    "tools_format": o.tools_format}
        spec = {"data": str(data), **settings}
        made_from = {"data": _made(data)}  # a set made again is trained again
        self.calls.append(f"dive.train.sft.train_sft({str(data)!r}, {o.model!r}, {str(folder)!r}, "
                          + ", ".join(f"{k}={v!r}" for k, v in settings.items() if k != "model") + ")")
        started = time.perf_counter()
        if self._finished(folder, spec, made_from) is not None:
            self._record(f"train {name}", folder, "reused", started, spec)
            return folder, _train_summary(json.loads((folder / RESULT_FILE).read_text()))
        resume = folder.is_dir() and any(folder.iterdir())
        self.progress(f"train {name}: {'resuming' if resume else 'fine-tuning'} into {folder}")
        result = train_sft(data, o.model, folder, resume=resume, seed=o.train_seed, max_steps=o.max_steps,
                           epochs=o.epochs, batch_size=o.batch_size, lr=o.lr, max_length=o.max_length,
                           tools_format=o.tools_format, command=self.calls[-1])
        self._record(f"train {name}", folder, "resumed" if resume else "ran", started, spec, made_from=made_from)
        return folder, _train_summary(json.loads(result.model_dump_json()))

    def evaluate(self, name: str, model: str | None, train: Path | None, splits: list[Any],
                 audit: dict[str, Any] | None) -> ModelResult:
        from .audit import AuditReport
        from .runner import EvalReport, run_eval

        o = self.options
        folder = self.out / "eval" / name
        spec = {"model": model, "train": str(train) if train else None, "n": o.eval_n, "max_turns": o.max_turns,
                "max_new_tokens": o.max_new_tokens, "bench": o.bench, "bench_n": o.bench_n,
                "splits": {s.name: [t.id for t in s.tasks] for s in splits}}
        self.calls.append(f"dive.eval.run_eval(HFAgent({model!r}, max_new_tokens={o.max_new_tokens}), "
                          f"[id, heldout], {str(folder)!r}, n={o.eval_n!r}, max_turns={o.max_turns}, "
                          f"train={str(train) if train else None!r})")
        started = time.perf_counter()
        made_from = {"model": _made(Path(model))} if train else None  # a checkpoint trained again: evaluated again
        record = self._finished(folder, spec, made_from)
        if record is None:
            self.progress(f"eval {name}: {', '.join(f'{s.name} {len(s.tasks[:o.eval_n] if o.eval_n else s.tasks)}' for s in splits)} tasks"
                          + (f", {', '.join(o.bench)}" if o.bench else ""))
            agent = self._agent(model)
            report = run_eval(agent, splits, folder, agent_name=f"hf:{model or 'smollm2-135m'}", n=o.eval_n,
                              max_turns=o.max_turns, world=o.world, train=train,
                              audit_report=AuditReport.model_validate(audit) if audit else None)
            bench = {}
            for bench_name in o.bench:
                from dive.eval.bfcl import run_bench

                self.calls.append(f"dive.eval.bfcl.run_bench({bench_name!r}, agent, n={o.bench_n!r}, "
                                  f"out={str(folder / 'bench')!r})")
                bench[bench_name] = run_bench(bench_name, agent, n=o.bench_n, out=folder / "bench").accuracy
            self._record(f"eval {name}", folder, "ran", started, spec, {"bench": bench}, made_from)
        else:
            report = EvalReport.model_validate_json((folder / "metrics.json").read_text())
            bench = record.get("bench", {})
            self._record(f"eval {name}", folder, "reused", started, spec)
        result = ModelResult(name=name, checkpoint=model or "smollm2-135m", bench=bench)
        for split_name, metrics in report.metrics.splits.items():
            setattr(result, f"{split_name}_success", metrics.success_rate)
            setattr(result, f"{split_name}_valid_calls", metrics.valid_tool_call_rate)
            setattr(result, f"{split_name}_tasks", metrics.tasks)
        return result

    def _agent(self, model: str | None) -> Any:
        from .agents import HFAgent

        self._agents.clear()  # one model in memory at a time
        agent = HFAgent(model, max_new_tokens=self.options.max_new_tokens)
        self._agents[str(model)] = agent
        return agent


def _made(folder: Path) -> str | None:
    """When the stage that made `folder` finished (from its stage.json), so that what depends on it is redone
    when it is made again."""
    path = folder / STAGE_FILE
    return json.loads(path.read_text()).get("finished") if path.is_file() else None


def _train_summary(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("steps", "examples", "fitted", "skipped", "first_loss", "last_loss", "train_seconds", "tokens_per_second")
    return {k: result.get(k) for k in keys}


def _short(options: dict[str, Any]) -> dict[str, Any]:
    """Synthesis options without the ones left at their defaults (so a recorded call stays readable)."""
    from dive.synth import SynthOptions

    defaults = json.loads(SynthOptions().model_dump_json())
    return {k: v for k, v in options.items() if defaults.get(k) != v}


def _versions() -> dict[str, str | None]:
    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    from dive.synth.export import SYNTHESIS_VERSION

    packages = ("torch", "transformers", "trl", "datasets", "mcp", "numpy")
    return {"dive_gym": __version__, "synthesis": str(SYNTHESIS_VERSION), "python": platform.python_version(),
            **{p: version(p) for p in packages}, "device": _device()}


def _device() -> str:
    try:
        import torch
    except ImportError:
        return "cpu"
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu ({os.cpu_count()} cores)"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def render_report(results: ScalingResults) -> str:
    """report.md: the table, each set's diversity metrics and audit, the plot, the calls, seeds and versions."""
    o = results.options
    lines = ["# Diversity scaling against quantity scaling", "",
             (f"Started {results.started}, finished {results.finished} (UTC). Base model: "
             f"`{o.model or 'smollm2-135m'}`. N = {o.tasks} tasks; diversity x{o.diversity_multipliers}, quantity "
             f"x{o.quantity_multipliers}. Held-out: {results.splits['heldout']['tasks']} tasks on "
             f"{', '.join(results.splits['heldout']['domains'])}; in-distribution: {results.splits['id']['tasks']} "
             f"tasks on {', '.join(results.splits['id']['domains'])} ({results.splits['id']['removed_seed_overlap']} "
             "dropped: their seed entity is in a training set)."), "",
             "| model | axis | training tasks | tools covered | unique toolsets | call graphs | tools/task | ID success "
             "| ID valid calls | held-out success | held-out valid calls |" + "".join(f" {b} |" for b in o.bench),
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + " ---: |" * len(o.bench)]
    stats = {s.name: s.stats for s in results.sets}
    for m in results.models:
        st = stats.get(m.name, {})
        lines.append(f"| {m.name} | {m.axis or '-'} | {m.training_tasks} | {st.get('tools_covered', '-')} | "
                     f"{st.get('unique_toolsets', '-')} | {st.get('unique_call_graphs', '-')} | "
                     f"{st.get('tool_types_per_task', '-')} | {_pct(m.id_success)} | {_pct(m.id_valid_calls)} | "
                     f"{_pct(m.heldout_success)} | {_pct(m.heldout_valid_calls)} |"
                     + "".join(f" {_pct(m.bench.get(b))} |" for b in o.bench))
    heldout = results.splits["heldout"]["tasks"] if o.eval_n is None else min(o.eval_n, results.splits["heldout"]["tasks"])
    lines += ["", f"One held-out task moves a held-out cell by {100 / max(heldout, 1):.1f} points.", "",
              f"![held-out success against training-set size]({PLOT_FILE})", "", "## Training sets", "",
              ("| set | axis | tasks (asked) | domains | tools covered / available | unique toolsets | unique menus | "
              "call sequences | call graphs | tools/task | multi-hop share | embedding dispersion | audit |"),
              "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for s in results.sets:
        st = s.stats
        dispersion = (st.get("embedding") or {}).get("dispersion", "-")
        lines.append(f"| {s.name} | {s.axis} | {s.tasks} ({s.requested}) | {', '.join(st.get('domain_mix', {}))} | "
                     f"{st['tools_covered']} / {st.get('tools_available')} | {st['unique_toolsets']} | "
                     f"{st.get('unique_menus', '-')} | {st['unique_call_sequences']} | {st['unique_call_graphs']} | "
                     f"{st['tool_types_per_task']} | {st.get('multi_hop_share', '-')} | {dispersion} | "
                     f"{'passed' if s.audit_passed else 'failed'} (near-duplicates "
                     f"{s.audit.get('near_duplicate_rate', 0):.1%}, tool leaks {len(s.audit.get('tool_leaks', []))}) |")
        lines += [f"  - {s.name} came out short: {line}" for line in s.shortfall]
    lines += ["", "Each set's full metrics: `synth/<set>/stats.json` and `synth/<set>/report.md`.", "",
              "## Training runs", "", ("| model | steps | conversations | skipped (too long) | first loss | last loss | "
              "seconds |"), "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for m in results.models:
        if m.train:
            t = m.train
            lines.append(f"| {m.name} | {t['steps']} | {t['examples']} | {t['skipped']} | {t['first_loss']} | "
                         f"{t['last_loss']} | {t['train_seconds']} |")
    lines += ["", "## How it was made", ""]
    if results.command:
        lines += ["Command:", "", "```bash", results.command, "```", ""]
    lines += [(f"Seeds: training sets' synthesis seed {o.seed}; evaluation splits' seed "
              f"{_eval_seed()}; SFT seed {o.train_seed}; greedy decoding."), "",
              "Options: `" + o.model_dump_json() + "`", "", "Calls, in order:", "", "```python",
              *results.calls, "```", "", "Versions: " + ", ".join(f"{k} {v}" for k, v in results.versions.items()),
              "", "## Stages of the latest run", "", "| stage | status | seconds |", "| --- | --- | ---: |"]
    lines += [f"| {s.stage} | {s.status} | {s.seconds} |" for s in results.stages]
    return "\n".join(lines) + "\n"


def _eval_seed() -> int:
    from .splits import EVAL_SEED

    return EVAL_SEED


def plot_scaling(results: ScalingResults, png: Path) -> None:
    """Held-out success against training-set size, one line per axis, the base model as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for axis, marker in (("diversity", "o"), ("quantity", "s")):
        points = sorted((m.training_tasks, (m.heldout_success or 0.0) * 100) for m in results.models if m.axis == axis)
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=marker, label=f"{axis}-scaled")
    base = next((m for m in results.models if m.name == BASE), None)
    if base is not None and base.heldout_success is not None:
        ax.axhline(base.heldout_success * 100, linestyle="--", color="grey", label="base model")
    ax.set_xlabel("training tasks")
    ax.set_ylabel("held-out success (%)")
    ax.set_title("Diversity against quantity scaling")
    ax.legend()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)
    plt.close(fig)
