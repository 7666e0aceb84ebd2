"""The MCP client pool, trace records and the standard client config; later the Gymnasium env DIVE-v0."""

from .config import ConfigError, MCPConfig, ServerConfig, dive_config, dive_server_config
from .listing import list_server_tools
from .pool import ClientPool, PoolError, PoolSession, SyncClientPool
from .trace import ListedTool, ToolCallRecord, Trace, canonical_json

__all__ = [
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
