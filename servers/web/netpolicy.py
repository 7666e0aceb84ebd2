"""Which URLs the web tools may reach, enforced on every hop and on every connection.

The world's own site is always reachable. It is served by this process on a loopback port, but tools name
it by a stable origin, `http://atlas.dive.test` (a reserved `.test` name that is never looked up): the
vetting network backends below connect that name to the local port, so URLs in tool results are the same
in every process and run, and a browser page reaches the site through the same path as any other URL. The real web is
off unless the server is started with `allow_net` (any public address) or `allow_hosts` (named hosts,
whatever they resolve to). Private, loopback, link-local, multicast, reserved and cloud-metadata
addresses are refused unless their host is named in `allow_hosts`, in every spelling (decimal, octal
and hex IPv4, IPv6, IPv4-mapped IPv6), after every redirect, and again at connect time: the network
backends below resolve a host once, vet every address and connect to a vetted address, so a name that
resolves differently on the second lookup (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx
from dive.servers.kit import ToolFailure
from httpcore._backends.anyio import AnyIOBackend
from httpcore._backends.sync import SyncBackend

#: Environment variables that switch the real web on for `dive serve web` (the CLI has no flags for them).
ENV_ALLOW_NET = "DIVE_WEB_ALLOW_NET"
ENV_ALLOW_HOSTS = "DIVE_WEB_ALLOW_HOSTS"

ALLOWED_SCHEMES = ("http", "https")
#: The world site's stable host name (port 80); the connection goes to the site server's loopback port.
SITE_HOSTNAME = "atlas.dive.test"
#: Host names of cloud instance-metadata services; refused by name even where they do not resolve.
METADATA_HOSTS = frozenset({
    "metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal",
    "metadata.azure.com", "metadata.tencentyun.com",
})
METADATA_ADDRESSES = frozenset({
    ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("169.254.170.2"), ipaddress.ip_address("100.100.100.200"),
})
_NUMERIC_V4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(ToolFailure):
    """A URL or address the network policy does not allow; the message says why and how to allow it."""


def env_options() -> dict[str, Any]:
    """Options from the environment (`DIVE_WEB_ALLOW_NET=1`, `DIVE_WEB_ALLOW_HOSTS=a.com,b.org`)."""
    options: dict[str, Any] = {}
    if os.environ.get(ENV_ALLOW_NET, "").strip().lower() in ("1", "true", "yes", "on"):
        options["allow_net"] = True
    hosts = [h.strip() for h in os.environ.get(ENV_ALLOW_HOSTS, "").split(",") if h.strip()]
    if hosts:
        options["allow_hosts"] = hosts
    return options


def parse_numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address a numeric IPv4 spelling means to the C resolver ("2130706433", "0x7f.1", "0177.0.0.1")."""
    if not _NUMERIC_V4.match(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a URL host names literally, in any spelling, or None for a host name."""
    bare = host.strip("[]")
    if "%" in bare:  # an IPv6 zone id ("fe80::1%eth0") names a link-local interface
        bare = bare.split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        return parse_numeric_ipv4(bare)


def address_problem(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not on the public internet ('loopback', 'private', ...), or None when it is."""
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = addr.ipv4_mapped or addr.sixtofour or (addr.teredo[1] if addr.teredo else None)
        if embedded is None and addr in _NAT64:
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if embedded is None and int(addr) >> 32 == 0 and int(addr) > 1:  # deprecated IPv4-compatible ::a.b.c.d
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_problem(embedded)
            return f"{inner} (IPv4 {embedded} inside IPv6)" if inner else None
    if addr in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if addr.is_loopback:
        return "a loopback address"
    if addr.is_unspecified:
        return "an unspecified address"
    if addr.is_link_local:
        return "a link-local address"
    if addr.is_multicast:
        return "a multicast address"
    if addr.is_reserved:
        return "a reserved address"
    if addr.is_private:
        return "a private address"
    if not addr.is_global:
        return "a non-public address"
    return None


@dataclass(frozen=True)
class Verdict:
    """The outcome of vetting one URL."""

    url: str
    allowed: bool
    reason: str
    is_world_site: bool = False
    addresses: tuple[str, ...] = ()


@dataclass
class NetPolicy:
    """The reachability rules of one server: its world site origin and what the options allow."""

    site_host: str
    site_port: int
    allow_net: bool = False
    allow_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_options(cls, options: dict[str, Any], site_host: str, site_port: int) -> NetPolicy:
        """Build from `ctx.options` merged over the environment (`DIVE_WEB_ALLOW_NET`, `DIVE_WEB_ALLOW_HOSTS`)."""
        merged = {**env_options(), **{k: v for k, v in options.items() if v is not None}}
        hosts = merged.get("allow_hosts") or []
        if isinstance(hosts, str):
            hosts = [h for h in hosts.split(",")]
        return cls(site_host, site_port, bool(merged.get("allow_net", False)),
                   frozenset(_normal_host(h) for h in hosts if str(h).strip()))

    @property
    def site_origin(self) -> str:
        return f"http://{SITE_HOSTNAME}"

    def describe(self) -> str:
        """One sentence on what is reachable."""
        parts = [f"the world site {self.site_origin}/ (served by this server)"]
        if self.allow_net:
            parts.append("public internet addresses")
        if self.allow_hosts:
            parts.append("the hosts " + ", ".join(sorted(self.allow_hosts)))
        if len(parts) == 1:
            return f"Only {parts[0]} is reachable; the real web is off."
        return "Reachable: " + "; ".join(parts) + "."

    def host_is_named(self, host: str) -> bool:
        """Whether `allow_hosts` names this host ("example.com"; ".example.com" or "*.example.com" for subdomains)."""
        host = _normal_host(host)
        for allowed in self.allow_hosts:
            if allowed.startswith("*."):
                allowed = allowed[1:]
            if allowed.startswith("."):
                if host.endswith(allowed) or host == allowed[1:]:
                    return True
            elif host == allowed:
                return True
        return False

    def _off_message(self) -> str:
        return (f"the real web is off: only the world site {self.site_origin}/ is reachable (start the server "
                f"with the option allow_net, or {ENV_ALLOW_NET}=1, or name hosts in allow_hosts / {ENV_ALLOW_HOSTS})")

    def vet_url(self, url: str, *, resolve: bool = True) -> Verdict:
        """Decide whether `url` may be requested; never raises."""
        try:
            parsed = httpx.URL(url)
        except Exception as exc:  # httpx.InvalidURL and friends
            # Say what a browser would have made of it: '0177.0.0.1' is octal for 127.0.0.1.
            try:
                host = urlsplit(url).hostname or ""
            except ValueError:
                host = ""
            literal = literal_address(host) if host else None
            problem = address_problem(literal) if literal is not None else None
            if problem:
                return Verdict(url, False, f"{host} is {problem}; refused")
            return Verdict(url, False, f"not a valid URL ({exc})")
        scheme = parsed.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            shown = scheme or "(none)"
            return Verdict(url, False, f"the scheme {shown}: is not allowed; only http and https URLs can be opened")
        host = _normal_host(parsed.host)
        if not host:
            return Verdict(url, False, "the URL has no host")
        port = parsed.port or (443 if scheme == "https" else 80)
        return self.vet_host(host, port, url=url, resolve=resolve)

    def vet_host(self, host: str, port: int, *, url: str = "", resolve: bool = True) -> Verdict:
        """Decide whether a connection to host:port is allowed; resolve names to check every address."""
        host = _normal_host(host)
        shown = url or f"{host}:{port}"
        literal = literal_address(host)
        if self._is_site(host, literal, port):
            return Verdict(shown, True, "the world site", is_world_site=True, addresses=(self.site_host,))
        if self.host_is_named(host) or (literal is not None and self.host_is_named(str(literal))):
            addrs = (str(literal),) if literal is not None else (_resolve(host, port) if resolve else ())
            return Verdict(shown, True, f"{host} is named in allow_hosts", addresses=tuple(addrs))
        if host in METADATA_HOSTS or host.endswith(".metadata.google.internal"):
            return Verdict(shown, False, f"{host} is a cloud metadata host; refused")
        if host == "localhost" or host.endswith(".localhost"):
            return Verdict(shown, False, f"{host} is a loopback name and port {port} is not the world site's "
                                         f"({self.site_port}); refused")
        if literal is not None:
            problem = address_problem(literal)
            if problem:
                return Verdict(shown, False, f"{host} is {problem}; refused")
            if not self.allow_net:
                return Verdict(shown, False, self._off_message())
            return Verdict(shown, True, "a public address", addresses=(str(literal),))
        if not self.allow_net:
            return Verdict(shown, False, self._off_message())
        if not resolve:
            return Verdict(shown, True, "a public host name (not yet resolved)")
        try:
            addrs = _resolve(host, port)
        except OSError as exc:
            return Verdict(shown, False, f"cannot resolve {host}: {exc}")
        for text in addrs:
            problem = address_problem(ipaddress.ip_address(text.split("%", 1)[0]))
            if problem:
                return Verdict(shown, False, f"{host} resolves to {text}, {problem}; refused")
        return Verdict(shown, True, "a public host", addresses=tuple(addrs))

    def _is_site(self, host: str, literal, port: int) -> bool:
        # The stable name, or any loopback spelling of the site's real port: connections go to the site server.
        if host == SITE_HOSTNAME:
            return port == 80
        if port != self.site_port:
            return False
        if host == "localhost":
            return True
        if isinstance(literal, ipaddress.IPv6Address) and literal.ipv4_mapped is not None:
            literal = literal.ipv4_mapped
        return literal is not None and literal.is_loopback

    def check_url(self, url: str, *, context: str = "") -> Verdict:
        """Vet `url` and raise `Refused` (saying why and how to allow it) when it may not be requested."""
        verdict = self.vet_url(url)
        if not verdict.allowed:
            prefix = f"{context}: " if context else ""
            raise Refused(f"{prefix}refused {url!r}: {verdict.reason}")
        return verdict

    def connect_addresses(self, host: str, port: int) -> list[tuple[str, int]]:
        """The vetted (address, port) pairs to connect to for host:port; raises `Refused` when none may be used."""
        verdict = self.vet_host(host, port)
        if not verdict.allowed:
            raise Refused(f"connection to {host}:{port} refused: {verdict.reason}")
        if verdict.is_world_site:
            return [(self.site_host, self.site_port)]
        return [(addr, port) for addr in (list(verdict.addresses) or _resolve(host, port))]


def _normal_host(host: str) -> str:
    return str(host).strip().strip("[]").lower().rstrip(".")


def _resolve(host: str, port: int) -> tuple[str, ...]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in seen:
            seen.append(addr)
    return tuple(seen)


# ---- network backends: connect only to vetted addresses --------------------------------------------------

class _VettingSyncBackend(SyncBackend):
    def __init__(self, policy: NetPolicy) -> None:
        self.policy = policy

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        last: Exception | None = None
        for addr, real_port in self.policy.connect_addresses(host, port):
            try:
                return super().connect_tcp(addr, real_port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address to connect to for {host}")

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise Refused("unix sockets are not reachable from the web tools")


class _VettingAsyncBackend(AnyIOBackend):
    def __init__(self, policy: NetPolicy) -> None:
        self.policy = policy

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        addrs = await anyio.to_thread.run_sync(self.policy.connect_addresses, host, port)
        last: Exception | None = None
        for addr, real_port in addrs:
            try:
                return await super().connect_tcp(addr, real_port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address to connect to for {host}")

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise Refused("unix sockets are not reachable from the web tools")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's one client TLS context (the system's trust store), shared by every session's transports:
    building one parses every CA certificate, which cost more than a page fetch when each session built four."""
    return ssl.create_default_context()


class VettedTransport(httpx.HTTPTransport):
    """An httpx transport that connects only to addresses the policy allows (SNI still uses the URL host)."""

    def __init__(self, policy: NetPolicy) -> None:
        super().__init__(verify=tls_context(), trust_env=False)
        self._pool = httpcore.ConnectionPool(ssl_context=tls_context(), max_connections=20,
                                             network_backend=_VettingSyncBackend(policy))


class AsyncVettedTransport(httpx.AsyncHTTPTransport):
    """The async twin of `VettedTransport` (used by the browser's request handler)."""

    def __init__(self, policy: NetPolicy) -> None:
        super().__init__(verify=tls_context(), trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(ssl_context=tls_context(), max_connections=20,
                                                  network_backend=_VettingAsyncBackend(policy))
