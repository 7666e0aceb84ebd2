"""The Berkeley Function Calling Leaderboard (BFCL) for `dive eval`: its data, our scorers, its classes over MCP.

Benchmark: S. G. Patil, H. Mao, F. Yan, C. C.-J. Ji, V. Suresh, I. Stoica, J. E. Gonzalez, "The Berkeley
Function Calling Leaderboard (BFCL): From Tool Use to Agentic Evaluation of Large Language Models",
ICML 2025. The question files, possible answers, function docs and the executable multi-turn classes
come from the PyPI package `bfcl-eval` (Apache-2.0), installed without its dependencies
(`pip install --no-deps bfcl-eval mpmath`: its full set pulls in torch, vLLM clients and more, none of
which the data or the classes need). The loader, the AST checker, the MCP adapter and the multi-turn
scorer are our own code.

- `load_category("simple" | "multiple" | "parallel" | "multi_turn_base" | ...)` -> typed `BFCLEntry` records
  with OpenAI-form tool schemas (`entry.tool_schemas()`).
- `check_ast(entry, calls)` scores a single-turn entry.
- `create_class_server(entry, class_name)` / `server_config(entry)` serve a multi-turn entry's classes over
  MCP; `score_multi_turn(entry, calls_per_turn)` and `check_turn(...)` score an episode.
"""

from .bench import BENCHES, BenchEntryResult, BenchResult, run_bench
from .ast_match import ASTError, ASTResult, check_ast, match_calls
from .data import (
    CATEGORIES,
    MULTI_TURN_CATEGORIES,
    MULTI_TURN_CLASSES,
    SINGLE_TURN_CATEGORIES,
    BFCLDataError,
    BFCLEntry,
    ChatMessage,
    FunctionCall,
    FunctionDoc,
    class_function_docs,
    data_dir,
    load_category,
    load_entry,
    to_json_schema,
    tool_name,
)
from .multi_turn import (
    STATE_RESOURCE,
    CallOutcome,
    ClassServer,
    MultiTurnError,
    MultiTurnState,
    MultiTurnVerdict,
    check_turn,
    create_class_server,
    ground_truth_calls,
    parse_call_text,
    score_multi_turn,
    server_config,
    state_snapshot,
    state_uri,
)

__all__ = [
    "BENCHES",
    "BenchEntryResult",
    "BenchResult",
    "run_bench",
    "CATEGORIES",
    "MULTI_TURN_CATEGORIES",
    "MULTI_TURN_CLASSES",
    "SINGLE_TURN_CATEGORIES",
    "STATE_RESOURCE",
    "ASTError",
    "ASTResult",
    "BFCLDataError",
    "BFCLEntry",
    "CallOutcome",
    "ChatMessage",
    "ClassServer",
    "FunctionCall",
    "FunctionDoc",
    "MultiTurnError",
    "MultiTurnState",
    "MultiTurnVerdict",
    "check_ast",
    "check_turn",
    "class_function_docs",
    "create_class_server",
    "data_dir",
    "ground_truth_calls",
    "load_category",
    "load_entry",
    "match_calls",
    "parse_call_text",
    "score_multi_turn",
    "server_config",
    "state_snapshot",
    "state_uri",
    "to_json_schema",
    "tool_name",
]
