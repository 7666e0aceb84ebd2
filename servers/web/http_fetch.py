"""Plain HTTP requests with httpx: redirects followed by hand, every hop vetted by the network policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx
from dive.servers.kit import ToolFailure

from .netpolicy import NetPolicy, Refused, VettedTransport

USER_AGENT = "DIVE-Gym-web/0.1 (+offline world atlas reader)"
MAX_REDIRECTS = 10
MAX_BODY_BYTES = 5_000_000
TIMEOUT = httpx.Timeout(15.0, connect=10.0)


@dataclass
class Hop:
    url: str
    status: int
    location: str


@dataclass
class Fetched:
    """One finished request: where it ended, what came back, and the redirects on the way."""

    requested_url: str
    url: str
    method: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    encoding: str
    redirects: list[Hop] = field(default_factory=list)
    truncated: bool = False

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";")[0].strip().lower()

    def header(self, name: str) -> str:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), "")

    @property
    def text(self) -> str:
        return self.body.decode(self.encoding or "utf-8", errors="replace")

    @property
    def is_html(self) -> bool:
        return self.content_type in ("text/html", "application/xhtml+xml") or (
            not self.content_type and self.body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")))


class Fetcher:
    """An httpx client bound to one session's network policy."""

    def __init__(self, policy: NetPolicy) -> None:
        self.policy = policy
        self.client = httpx.Client(transport=VettedTransport(policy), follow_redirects=False, timeout=TIMEOUT,
                                   headers={"User-Agent": USER_AGENT}, trust_env=False)

    def close(self) -> None:
        self.client.close()

    def absolute(self, url: str) -> str:
        """`url` as given, or a site path such as '/cities/2643743.html' made absolute on the world site."""
        url = url.strip()
        if url.startswith("/") and not url.startswith("//"):
            return self.policy.site_origin + url
        return url

    def fetch(self, url: str, *, method: str = "GET", params: dict[str, str] | None = None,
              data: dict[str, str] | None = None, json_body: Any = None, headers: dict[str, str] | None = None,
              max_bytes: int = MAX_BODY_BYTES) -> Fetched:
        """Request `url`, following up to 10 redirects, each vetted before it is requested."""
        requested = self.absolute(url)
        self.policy.check_url(requested)
        current, verb = requested, method.upper()
        hops: list[Hop] = []
        body_data, body_json, query = data, json_body, params
        while True:
            try:
                request = self.client.build_request(verb, current, params=query, data=body_data, json=body_json,
                                                    headers=headers)
                response = self.client.send(request, stream=True)
            except Refused:
                raise
            except httpx.TimeoutException as exc:
                raise ToolFailure(f"{current} did not answer in time ({type(exc).__name__})") from None
            except httpx.HTTPError as exc:
                raise ToolFailure(f"request to {current} failed: {exc}") from None
            try:
                location = response.headers.get("location")
                if response.is_redirect and location:
                    target = urljoin(str(response.url), location)
                    hops.append(Hop(str(response.url), response.status_code, target))
                    if len(hops) > MAX_REDIRECTS:
                        raise ToolFailure(f"more than {MAX_REDIRECTS} redirects starting at {requested}")
                    self.policy.check_url(target, context=f"redirect {len(hops)} from {response.url}")
                    # 303, and 301/302 after POST, turn into a GET without a body (as browsers do)
                    if response.status_code == 303 or (response.status_code in (301, 302) and verb == "POST"):
                        verb, body_data, body_json = "GET", None, None
                    current, query = target, None
                    continue
                body, truncated = _read_capped(response, max_bytes)
                return Fetched(requested, str(response.url), verb, response.status_code, response.reason_phrase,
                               list(response.headers.multi_items()), body, response.charset_encoding or "utf-8",
                               hops, truncated)
            finally:
                response.close()


def _read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            return b"".join(chunks)[:max_bytes], True
    return b"".join(chunks), False
