"""The standard MCP client configuration: `{"mcpServers": {name: {"command", "args", "env"} | {"url"}}}`."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A client configuration that cannot be used; the message says what to mend."""


#: What stands in for a secret in anything written or shown: manifests, traces, reports, error messages.
REDACTED = "<redacted>"
#: A name (env variable, query parameter, command-line flag) whose value is taken for a credential.
_SECRET_NAME = re.compile(r"token|secret|passw|pwd|auth|credential|cookie|session|signature|private|apikey"
                          r"|key(?:$|[^a-z])|(?:^|[^a-z])(?:sig|pat)(?:$|[^a-z])", re.IGNORECASE)
#: Flags whose next argument is an HTTP header ("Name: value"), as mcp-remote and curl-like launchers take them.
_HEADER_FLAGS = frozenset({"-H", "--header", "--headers"})
#: Shorter strings are not scrubbed out of free text: they would match ordinary words and numbers.
MIN_SECRET_LENGTH = 6
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.~+=]{15,}")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+$")


def is_secret_name(name: str) -> bool:
    """Whether a variable, parameter or flag of this name holds a credential (`GITHUB_TOKEN`, `api_key`,
    `--password`, `sig`, ...)."""
    return bool(_SECRET_NAME.search(name.lstrip("-")))


def redact_url(url: str) -> str:
    """`url` with its userinfo and the values of secret-named query (and fragment) parameters redacted."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, netloc, parts.path, _redact_query(parts.query), _redact_query(parts.fragment)))


def _redact_query(query: str) -> str:
    pairs = []
    for pair in query.split("&") if query else ():
        name, eq, _ = pair.partition("=")
        pairs.append(f"{name}={REDACTED}" if eq and is_secret_name(unquote(name)) else pair)
    return "&".join(pairs)


def _url_secrets(url: str) -> set[str]:
    """The credentials inside a URL: its userinfo's password (or a lone user, a token by another name) and
    secret-named query values, as written and decoded."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return {url}
    found: set[str] = set()
    if "@" in parts.netloc:
        user, _, password = parts.netloc.rsplit("@", 1)[0].partition(":")
        found |= {password} if password else {user}
    for query in (parts.query, parts.fragment):
        for pair in query.split("&") if query else ():
            name, eq, value = pair.partition("=")
            if eq and is_secret_name(unquote(name)):
                found.add(value)
    return found | {unquote(s) for s in found}


def _looks_like_url(text: str) -> bool:
    return bool(_URL.match(text))


def _header_secrets(value: str) -> set[str]:
    """A header value and, for `Scheme credentials` (Bearer, Basic, token), the credentials alone."""
    return {value, value.split(None, 1)[-1].strip()}


def _redact_args(args: list[str]) -> tuple[list[str], set[str]]:
    """Command-line arguments with credentials redacted, and the credentials found: the value of a secret-named
    flag (`--api-key X`, `--token=X`), of `NAME=X` with a secret name (`-e GITHUB_TOKEN=X`), of a header flag
    (`--header "Authorization: Bearer X"`), and the secrets inside URLs."""
    shown: list[str] = []
    found: set[str] = set()
    hide_next: str | None = None
    for arg in args:
        if hide_next and not arg.startswith("-"):
            if hide_next == "header" and ":" in arg:
                name, _, value = arg.partition(":")
                shown.append(f"{name}: {REDACTED}")
                found |= _header_secrets(value.strip())
            else:
                shown.append(REDACTED)
                found.add(arg)
            hide_next = None
            continue
        hide_next = None
        name, eq, value = arg.partition("=")
        if _looks_like_url(arg):
            shown.append(redact_url(arg))
            found |= _url_secrets(arg)
        elif eq and (is_secret_name(name) or name in _HEADER_FLAGS):
            if name in _HEADER_FLAGS and ":" in value:
                header, _, value = value.partition(":")
                shown.append(f"{name}={header}: {REDACTED}")
                found |= _header_secrets(value.strip())
            else:
                shown.append(f"{name}={REDACTED}")
                found.add(value)
        elif arg in _HEADER_FLAGS or (arg.startswith("-") and not eq and not arg.startswith("--no-") and is_secret_name(arg)):
            shown.append(arg)
            hide_next = "header" if arg in _HEADER_FLAGS else "secret"
        elif eq and _looks_like_url(value):
            shown.append(f"{name}={redact_url(value)}")
            found |= _url_secrets(value)
        else:
            shown.append(arg)
    return shown, found


def scrub_secrets(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each of `secrets` (the longest first) replaced by REDACTED; secrets
    shorter than MIN_SECRET_LENGTH are left alone, as they would match ordinary text."""
    for secret in sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class ServerConfig(BaseModel):
    """How to reach one MCP server: a command to launch over stdio, or a streamable-HTTP URL."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] | None = None
    read_only_tools: list[str] = Field(default_factory=list, alias="readOnlyTools")
    """Tools of this server the user vouches for as read-only, where the server does not annotate them so."""

    @model_validator(mode="after")
    def _one_transport(self) -> ServerConfig:
        if bool(self.command) == bool(self.url):
            raise ValueError("give exactly one of 'command' (stdio) or 'url' (streamable HTTP)")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {redact_url(self.url)!r}")
        return self

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"

    def __repr_args__(self) -> Any:
        # A config printed in a log line or a traceback shows what `redacted` shows.
        return BaseModel.__repr_args__(self.redacted())

    def redacted(self) -> ServerConfig:
        """This entry as it may be written or shown: every env and header value, the URL's userinfo and
        secret-named query values, and credentials among the args replaced by REDACTED."""
        return self.model_copy(update={
            "env": {k: REDACTED for k in self.env} if self.env is not None else None,
            "headers": {k: REDACTED for k in self.headers} if self.headers is not None else None,
            "url": redact_url(self.url) if self.url else None,
            "args": _redact_args(self.args)[0],
        })

    def secrets(self) -> set[str]:
        """The credentials in this entry, to scrub out of text that may echo them (errors, tool output): header
        values, secret-named env values and env values that look like tokens, and what `redacted` hides in the
        URL and args. Plain env values such as paths are not among them: they are no secret and occur in
        ordinary output."""
        found = _redact_args(self.args)[1] | (_url_secrets(self.url) if self.url else set())
        for value in (self.headers or {}).values():
            found |= _header_secrets(value)
        for name, value in (self.env or {}).items():
            if is_secret_name(name) or _TOKEN_LIKE.fullmatch(value):
                found.add(value)
            elif _looks_like_url(value):
                found |= _url_secrets(value)
        return {s for s in found if len(s) >= MIN_SECRET_LENGTH}


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
        return {"mcpServers": {n: s.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
                               for n, s in self.servers.items()}}

    def redacted(self) -> MCPConfig:
        """This config as it may be written to an artifact or shown: see `ServerConfig.redacted`."""
        return self.model_copy(update={"servers": {n: s.redacted() for n, s in self.servers.items()}})

    def secrets(self) -> set[str]:
        """Every server's credentials (see `ServerConfig.secrets`), for `scrub_secrets`."""
        return set().union(*(s.secrets() for s in self.servers.values()))


def redacted_config(config: MCPConfig | dict[str, Any] | str | Path) -> dict[str, Any]:
    """The standard JSON form of a config with its credentials redacted: the one form a config takes in a
    manifest, a report or a log."""
    return MCPConfig.load(config).redacted().to_json()


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
