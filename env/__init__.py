"""The MCP client pool, trace records, the standard client config, and the Gymnasium env DIVE-v0."""

from .config import ConfigError, MCPConfig, ServerConfig, dive_config, dive_server_config
from .listing import list_server_tools
from .pool import ClientPool, PoolError, PoolSession, SyncClientPool
from .trace import ListedTool, ToolCallRecord, Trace, canonical_json

# The env pulls in synthesis (its default task sets); it loads on first use so that a server process
# importing the pool does not pay for it.
_LAZY = {
    "Action": ".actions", "ParsedCall": ".actions", "parse_action": ".actions",
    "AsyncDiveEnv": ".dive_env", "DiveEnv": ".dive_env", "RewardWeights": ".reward", "AnyText": ".spaces", "ServerHub": ".hub",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Action",
    "AnyText",
    "AsyncDiveEnv",
    "DiveEnv",
    "ParsedCall",
    "RewardWeights",
    "ServerHub",
    "parse_action",
    "ClientPool",
    "ConfigError",
    "ListedTool",
    "MCPConfig",
    "PoolError",
    "PoolSession",
    "ServerConfig",
    "SyncClientPool",
    "ToolCallRecord",
    "Trace",
    "canonical_json",
    "dive_config",
    "dive_server_config",
    "list_server_tools",
]
