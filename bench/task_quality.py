"""What synthesized tasks read like, against the goals a task set has to meet, with the baseline of the run.

Runs `dive synth` with the built-in backend (or reads a finished output folder) and prints:
- questions that name a tool (its exposed name or the name in words), a step, or "the result of": goal <= 1%;
- distinct tools per task (goal >= 3.0; the paper: 3.26), unique call graphs per task (goal >= 0.8), tasks with
  two hops or more (goal >= 70%), and the tools of the domains never used (goal: none at n=1,000), also counted
  among the tools whose results declare facts (the others answer nothing by design: writers, no_facts);
- hops judged skippable (verification swaps every value that flowed in for another of its type; accepted tasks
  have none by construction, so the figure is the rejections' count);
- verified distinct tasks a minute at steady state (goal >= 500 on 2 cores without a browser), beside the run's
  end-to-end rate as the baseline;
- a sample of questions with their answers and call sequences, to be read by a person.

    .venv/bin/python bench/task_quality.py [--n 1000] [--workers 2] [--domain files ...] [--sample 100] [--from DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dive.servers import get_domain  # noqa: E402
from dive.synth import SynthOptions, load_tasks, synthesize  # noqa: E402
from dive.synth.metrics import diversity_stats  # noqa: E402
from dive.synth.pipeline import adds_distinct  # noqa: E402

NO_BROWSER = ["files", "database", "code", "media"]
_RECIPE = re.compile(r"\bstep \d+\b|\bthe result of\b|\bcall(ing)? the\b", re.I)


def tool_names(domains: list[str]) -> set[str]:
    names = set()
    for domain in domains:
        for name in get_domain(domain).tools:
            names.add(name.lower())
            if "_" in name:  # 'get_row' also as 'get row'
                names.add(name.replace("_", " ").lower())
    return names


def names_a_tool(question: str, names: set[str]) -> bool:
    """A tool's identifier outside a quoted path, or its name in words when that is three words or more (two-word
    names such as "dominant frequency" are also plain English for what a value is)."""
    text = question.lower()
    return bool(_RECIPE.search(text)) or any(re.search(rf"(?<![\w`/.]){re.escape(n)}(?![\w`/.])", text) for n in names
                                              if "_" in n or n.count(" ") >= 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--domain", action="append", dest="domains")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=40, help="questions to print for reading")
    parser.add_argument("--from", dest="source", type=Path, help="read a finished `dive synth` output folder")
    args = parser.parse_args()
    domains = args.domains or NO_BROWSER
    rate = None
    if args.source:
        out = args.source
    else:
        out = Path(tempfile.mkdtemp(prefix="dive-quality-"))
        started = time.perf_counter()
        batches: list[tuple[float, int]] = []
        keys: dict[int, set[str]] = {}

        def progress(results: dict) -> None:
            # Distinct tasks: one found again from another seed (the same question or solution) is not counted.
            distinct = sum(new for _, new in adds_distinct(((i, results[i]) for i in sorted(results)), keys))
            batches.append((time.perf_counter(), distinct))

        report = synthesize(SynthOptions(n=args.n, seed=args.seed, domains=domains, embedding_metrics=False), out,
                            workers=args.workers, progress=progress)
        total = time.perf_counter() - started
        if len(batches) >= 2 and batches[-1][0] > batches[0][0]:
            rate = (batches[-1][1] - batches[0][1]) / (batches[-1][0] - batches[0][0]) * 60
        print(f"run: {report.accepted} accepted of {report.accepted + report.rejected} candidates in {total:.0f} s; "
              f"rejections {json.dumps(report.rejections)}")
        print(f"verified distinct tasks a minute: steady state {rate or 0:.0f} (goal >= 500); end to end "
              f"(baseline) {(batches[-1][1] if batches else 0) / total * 60:.0f}")
    tasks = load_tasks(out)
    names = tool_names(domains)
    stats = diversity_stats(tasks, embeddings=False)
    recipes = [t for t in tasks if names_a_tool(t.question, names)]
    available = {n for d in domains for n in get_domain(d).tools}
    # Tools whose results can answer: a declared fact, not a writer (the others say why they answer nothing).
    answering = {n for d in domains for n, spec in get_domain(d).tools.items()
                 if not spec.writes and not spec.meaning.none and not spec.meaning.volatile}
    used = {tool.split("__")[-1] for t in tasks for tool in t.diversity.tools}
    manifest = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").exists() else {}
    skippable = (manifest.get("rejections") or {}).get("hop_not_needed", 0)
    n = len(tasks) or 1
    print(f"tasks: {len(tasks)} over {', '.join(domains)}")
    print(f"questions naming a tool, a step or 'the result of': {len(recipes)} ({len(recipes) / n:.1%}; goal <= 1%)")
    print(f"distinct tools per task: {stats.tool_types_per_task} (goal >= 3.0)")
    print(f"unique call graphs per task: {stats.unique_call_graphs / n:.3f} (goal >= 0.8)")
    print(f"tasks with two hops or more: {stats.multi_hop_share:.1%} (goal >= 70%); hops {json.dumps(stats.hops)}")
    print(f"tools used: {len(used & available)} of {len(available)}; of the {len(answering)} whose results declare "
          f"facts: {len(used & answering)}; never used of those: {', '.join(sorted(answering - used)) or 'none'}")
    print(f"hops verification found skippable (rejected): {skippable}; in accepted tasks: 0 by construction")
    print(f"domain mix: {json.dumps(stats.domain_mix)}")
    yes_no = [t.answer for t in tasks if isinstance(t.answer, bool)]
    print(f"yes among yes/no answers: {sum(yes_no)} of {len(yes_no)} (a guess of 'yes' should not pay)")
    rng = random.Random(args.seed)
    print(f"\n{min(args.sample, len(tasks))} questions, at random:")
    for task in rng.sample(tasks, min(args.sample, len(tasks))):
        print(f"- {task.question}  => {json.dumps(task.answer, ensure_ascii=False)}  "
              f"[{' > '.join(task.diversity.call_sequence)}]")
    for task in recipes[:10]:
        print(f"NAMES A TOOL: {task.question}")


if __name__ == "__main__":
    main()
