"""The code domain: write, run, test and analyse code in a private per-session workspace.

Every execution of user code (snippets, files, tests, doctests, timing, profiling, coverage, regex
matching, workspace search) happens in a sandbox (`sandbox.py`: bubblewrap by default, Docker with
option `sandbox="docker"` or env DIVE_CODE_SANDBOX=docker) with no network, limits on CPU time,
memory, processes, file size and output, and only the workspace writable. Static tools (ruff lint and
format, AST metrics and definitions, diffs and patches, JSON Schema, safe expression evaluation) read
code without running it.
"""

from . import (  # noqa: F401  (registration)
    analysis_tools,
    execution_tools,
    quality_tools,
    text_tools,
    workspace_tools,
)
from .domain import DOMAIN

__all__ = ["DOMAIN"]
