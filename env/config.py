"""The standard MCP client configuration: `{"mcpServers": {name: {"command", "args", "env"} | {"url"}}}`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A client configuration that cannot be used; the message says what to mend."""


class ServerConfig(BaseModel):
    """How to reach one MCP server: a command to launch over stdio, or a streamable-HTTP URL."""

    model_config = ConfigDict(extra="ignore")

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] | None = None

    @model_validator(mode="after")
    def _one_transport(self) -> ServerConfig:
        if bool(self.command) == bool(self.url):
            raise ValueError("give exactly one of 'command' (stdio) or 'url' (streamable HTTP)")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        return self

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"


class MCPConfig(BaseModel):
    """A set of named MCP servers in the standard client-config shape."""

    model_config = ConfigDict(populate_by_name=True)

    servers: dict[str, ServerConfig] = Field(alias="mcpServers")

    @classmethod
    def load(cls, source: MCPConfig | dict[str, Any] | str | Path) -> MCPConfig:
        """Read a config from a dict, a JSON string, or a path to a JSON file; refuse a broken one clearly."""
        if isinstance(source, MCPConfig):
            return source
        if isinstance(source, (str, Path)) and not str(source).lstrip().startswith("{"):
            path = Path(source)
            if not path.is_file():
                raise ConfigError(f"MCP client config not found: {path}")
            try:
                source = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
        elif isinstance(source, str):
            try:
                source = json.loads(source)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"MCP client config is not valid JSON: {exc}") from exc
        if not isinstance(source, dict) or "mcpServers" not in source:
            raise ConfigError('an MCP client config is an object with a "mcpServers" map of name -> server')
        try:
            config = cls.model_validate(source)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"invalid MCP client config: {problems}") from exc
        if not config.servers:
            raise ConfigError('"mcpServers" is empty: name at least one server')
        return config

    def to_json(self) -> dict[str, Any]:
        """The standard JSON form (what MCP clients such as editors read)."""
        return {"mcpServers": {n: s.model_dump(exclude_none=True, exclude_defaults=True) for n, s in self.servers.items()}}


def dive_server_config(
    domain: str,
    *,
    world: Path | None = None,
    transport: str = "stdio",
    url: str | None = None,
    extra_args: Iterable[str] = (),
) -> ServerConfig:
    """The config entry that launches one of our domains (`dive serve DOMAIN`) over stdio, or points at its URL."""
    if transport == "http":
        if not url:
            raise ConfigError(f"an HTTP entry for {domain!r} needs the server's url")
        return ServerConfig(url=url)
    args = ["-m", "dive", "serve", domain, *extra_args]
    if world is not None:
        args += ["--world", str(world)]
    return ServerConfig(command=sys.executable, args=args, env=_child_env())


def dive_config(domains: Iterable[str], *, world: Path | None = None) -> MCPConfig:
    """A client config that launches the given domains of ours over stdio."""
    return MCPConfig(mcpServers={d: dive_server_config(d, world=world) for d in domains})


def _child_env() -> dict[str, str]:
    # The SDK launches stdio servers with a minimal environment; carry what locates the world and Python.
    keep = ("PATH", "HOME", "DIVE_HOME", "DIVE_WORLD", "PYTHONPATH", "VIRTUAL_ENV", "LANG", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ}
