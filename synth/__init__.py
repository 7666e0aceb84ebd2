"""Task synthesis (DIVE): execute real tools first, derive tasks the traces strictly entail, keep them diverse.

    from dive.synth import SynthOptions, synthesize, load_tasks, diversity_stats
    report = synthesize(SynthOptions(n=100), Path("out/run1"))
"""

from .answers import answers_match, format_answer, matcher_for, normalise_text
from .export import final_answer_message, load_tasks, sft_example
from .metrics import DiversityStats, diversity_stats
from .pipeline import SynthOptions, SynthReport, SynthWorker, synthesize
from .records import Derivation, Matcher, Rejection, SeedEntity, Task, TaskConfig, Verification
from .select import select_diverse

__all__ = [
    "Derivation",
    "DiversityStats",
    "Matcher",
    "Rejection",
    "SeedEntity",
    "SynthOptions",
    "SynthReport",
    "SynthWorker",
    "Task",
    "TaskConfig",
    "Verification",
    "answers_match",
    "diversity_stats",
    "final_answer_message",
    "format_answer",
    "load_tasks",
    "matcher_for",
    "normalise_text",
    "select_diverse",
    "sft_example",
    "synthesize",
]
