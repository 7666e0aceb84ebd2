"""Evaluation on held-out tools: ID and OOD splits, agents, the runner, metrics, the leakage audit, reports.

    from dive.eval import build_split, HFAgent, run_eval
    splits = [build_split("id", train="out/train"), build_split("heldout")]
    report = run_eval(HFAgent("out/sft-model"), splits, "out/eval", agent_name="sft", train="out/train")
    print(report.metrics.gap)                       # held-out minus in-distribution

`dive eval run|audit|rescore` is the command line over the same functions.
"""

# Names load on first use: the agents pull in torch/transformers, the runner the env and servers.
# The audit function is `dive.eval.audit.audit` (the submodule's name would shadow it here).
_LAZY = {
    "Agent": ".agents", "HFAgent": ".agents", "NoAnswerAgent": ".agents", "OpenAIAgent": ".agents",
    "ReplayAgent": ".agents", "scripted_agent": ".agents",
    "AuditReport": ".audit", "LeakageError": ".audit",
    "EvalMetrics": ".metrics", "SplitMetrics": ".metrics", "compute_metrics": ".metrics", "pass_at_k": ".metrics",
    "EpisodeResult": ".records", "ErrorClass": ".records",
    "RescoreReport": ".report", "rescore": ".report", "write_report": ".report",
    "EvalReport": ".runner", "EvalResults": ".runner", "check_leakage": ".runner", "evaluate": ".runner",
    "run_eval": ".runner",
    "EVAL_SEED": ".splits", "EvalSplit": ".splits", "build_split": ".splits", "split_from_tasks": ".splits",
    "training_seeds": ".splits",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EVAL_SEED",
    "Agent",
    "AuditReport",
    "EpisodeResult",
    "ErrorClass",
    "EvalMetrics",
    "EvalReport",
    "EvalResults",
    "EvalSplit",
    "HFAgent",
    "LeakageError",
    "NoAnswerAgent",
    "OpenAIAgent",
    "ReplayAgent",
    "RescoreReport",
    "SplitMetrics",
    "build_split",
    "check_leakage",
    "compute_metrics",
    "evaluate",
    "pass_at_k",
    "rescore",
    "run_eval",
    "scripted_agent",
    "split_from_tasks",
    "training_seeds",
    "write_report",
]
