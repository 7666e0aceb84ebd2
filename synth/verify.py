"""Verification: a derived task is kept only if a fresh replay reproduces its answer and it passes the
checks that make it well-posed. Every rejection carries a reason."""

from __future__ import annotations

import re
from typing import Any

from dive.env.pool import ClientPool

from .answers import answers_match, format_answer, matcher_for, normalise_text
from .builtin import Evidence, compute_answer
from .records import Derivation, Verification

MAX_ANSWER_CHARS = 200


def _mentions(question: str, value: Any) -> bool:
    """Whether the (normalised) question contains the value as a whole word sequence."""
    text = normalise_text(format_answer(value))
    if not text:
        return False
    q = re.sub(r"\bstep \d+\b", " ", normalise_text(question))
    return re.search(rf"(?<![\w.]){re.escape(text)}(?![\w]|\.\d)", q) is not None


def static_checks(derivation: Derivation, evidence: Evidence) -> str | None:
    """The reason a derivation is ill-posed, or None."""
    answer = derivation.answer
    if answer is None or (isinstance(answer, str) and not answer.strip()) or answer == []:
        return "empty_answer"
    if len(format_answer(answer)) > MAX_ANSWER_CHARS:
        return "answer_too_long"
    if _mentions(derivation.question, answer):
        return "answer_in_question"
    for hop in derivation.hops:
        for value in evidence.step(hop.call).sources.values():
            if value.call is None:
                continue
            if value.siblings > 1:
                return "ambiguous_lookup"  # the value was picked from a list of several candidates
            if _mentions(derivation.question, value.value):
                return "hop_not_needed"  # the question already gives what this hop would find
    return None


async def replay(derivation: Derivation, evidence: Evidence, pool: ClientPool) -> tuple[bool, Any, str | None]:
    """Re-run the solution's calls in a fresh session; (reproduced, replayed answer, failure reason)."""
    fresh = pool.open_session()
    last = None
    try:
        for hop in derivation.hops:
            original = evidence.calls[hop.call]
            record = await fresh.call(original.tool, original.arguments, server=original.server)
            if record.is_error:
                return False, None, "replay_failed"
            last = record
    finally:
        pool.end_session(fresh.trace)
    try:
        replayed = compute_answer(derivation.rule, last.result if last else None)
    except (KeyError, IndexError, TypeError):
        return False, None, "not_reproducible"
    same = answers_match(replayed, derivation.answer, matcher_for(derivation.answer))
    return same, replayed, None if same else "not_reproducible"


async def verify_task(derivation: Derivation, evidence: Evidence, pool: ClientPool) -> Verification:
    """Check a derivation statically, then replay it on a fresh session."""
    reason = static_checks(derivation, evidence)
    if reason:
        return Verification(accepted=False, reason=reason)
    ok, replayed, reason = await replay(derivation, evidence, pool)
    return Verification(replayed=True, replay_answer=replayed, accepted=ok, reason=reason)
