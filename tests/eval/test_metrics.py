"""Evaluation metrics against hand-computed values: pass@k, mean success, valid calls, groups, the ID-OOD gap."""

from __future__ import annotations

import pytest
from dive.env.trace import Trace
from dive.eval.metrics import compute_metrics, pass_at_k
from dive.eval.records import EpisodeResult
from dive.synth.records import Matcher


def result(split: str, task: str, sample: int, success: bool, *, domains=("geo",), tools=("t1",), calls=2, valid=1,
           errors=None) -> EpisodeResult:
    return EpisodeResult(
        split=split, task_id=task, sample=sample, domains=list(domains), tools_offered=list(tools),
        solution_tools=list(tools), success=success, correctness=float(success), reward=1.1 if success else 0.1,
        turns=3, tool_calls=calls, valid_tool_calls=valid, malformed_turns=calls - valid,
        errors=errors or ({} if success else {"wrong_answer": 1}), terminated=True, truncated=False,
        predicted_answer="x", reference_answer="x" if success else "y", matcher=Matcher(kind="text"),
        trace=Trace(session="s"),
    )


@pytest.mark.parametrize(("n", "c", "k", "expected"), [
    (5, 2, 1, 0.4),               # c / n
    (5, 2, 2, 0.7),               # 1 - C(3,2)/C(5,2) = 1 - 3/10
    (5, 2, 3, 0.9),               # 1 - C(3,3)/C(5,3) = 1 - 1/10
    (5, 2, 4, 1.0),               # fewer than k failures: always a success among k
    (10, 0, 5, 0.0),
    (10, 10, 1, 1.0),
    (10, 3, 5, 1 - 21 / 252),     # 1 - C(7,5)/C(10,5)
    (200, 1, 100, 0.5),           # 1 - C(199,100)/C(200,100) = 1 - 100/200
])
def test_pass_at_k_matches_the_binomial_formula(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_refuses_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_split_metrics_with_three_samples_and_the_gap():
    episodes = [
        # id: task a solved once in 3 samples, task b never.
        *(result("id", "a", s, ok, domains=("files",), tools=("read",)) for s, ok in enumerate([True, False, False])),
        *(result("id", "b", s, False, domains=("files", "database"), tools=("read", "query")) for s in range(3)),
        # heldout: task c solved every time.
        *(result("heldout", "c", s, True, calls=4, valid=4) for s in range(3)),
    ]
    metrics = compute_metrics(episodes)
    assert list(metrics.splits) == ["id", "heldout"]
    in_dist = metrics.splits["id"]
    assert (in_dist.tasks, in_dist.episodes, in_dist.samples) == (2, 6, 3)
    assert in_dist.success_rate == pytest.approx(1 / 6, abs=1e-6)
    # pass@1 = (1/3 + 0)/2; pass@2 = (1 - C(2,2)/C(3,2) + 0)/2 = (2/3)/2; pass@3 = (1 + 0)/2
    assert in_dist.pass_at_k == pytest.approx({"pass@1": 1 / 6, "pass@2": 1 / 3, "pass@3": 0.5}, abs=1e-6)
    assert in_dist.valid_tool_call_rate == pytest.approx(0.5)
    assert in_dist.avg_tool_calls == 2 and in_dist.avg_turns == 3
    assert in_dist.per_domain["files"].episodes == 6 and in_dist.per_domain["database"].episodes == 3
    assert in_dist.per_domain["database"].success_rate == 0
    assert in_dist.per_tool["read"].successes == 1 and in_dist.per_tool["query"].episodes == 3
    assert in_dist.errors["wrong_answer"] == 5 and in_dist.errors["timeout"] == 0
    held_out = metrics.splits["heldout"]
    assert held_out.success_rate == 1 and held_out.valid_tool_call_rate == 1
    assert metrics.gap == pytest.approx({"success_rate": 5 / 6, "pass@1": 5 / 6, "pass@2": 2 / 3, "pass@3": 0.5,
                                         "valid_tool_call_rate": 0.5}, abs=1e-6)


def test_no_gap_with_one_split_and_no_rate_without_calls():
    metrics = compute_metrics([result("heldout", "c", 0, False, calls=0, valid=0)])
    assert metrics.gap is None
    assert metrics.splits["heldout"].valid_tool_call_rate is None
