"""A real browser (Debian's Chromium through Playwright) whose every request passes the network policy.

One Chromium per server process runs in a dedicated thread with its own asyncio loop (`BrowserRuntime`),
launched on first use and shut down once no session has used it for `LINGER_SECONDS` (sessions come and go
between tasks, and a launch costs seconds), or at once when the server closes: the kit closes sessions synchronously
and from whatever loop or thread it is on, and MCP servers may run on several event loops in one process
(tests do), so the browser cannot live on any of them. Each session gets its own BrowserContext and page
(`BrowserSession`), reused across calls.

Every HTTP request a page makes (navigations, subresources, fetch/XHR, workers) is intercepted with
`context.route("**/*")` and performed by Python through the vetted httpx transport, then fulfilled: a
redirect is never followed by the browser, each hop is vetted here (Playwright does not show redirect
hops to route handlers). As a second wall, Chromium is launched with a proxy that refuses every
connection, so a request that escaped interception could not reach any network.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import socket
import threading
import time
from collections import deque
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx
from dive.servers.kit import Linger, ToolFailure

from .http_fetch import MAX_REDIRECTS, TIMEOUT, USER_AGENT
from .netpolicy import AsyncVettedTransport, NetPolicy, Refused

#: Debian's Chromium builds, best first: the headless shell (package `chromium-headless-shell`, Chromium's
#: own engine without the desktop browser around it) opens a session's tab for about a third of the CPU of
#: the full browser in headless mode, and sessions come and go with every task; the full browser also works.
CHROMIUM_BUILDS = ("/usr/lib/chromium/chromium-headless-shell", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
               "--disable-dev-shm-usage", "--dns-prefetch-disable", "--disable-extensions",
               # WebRTC sends UDP (STUN, TURN, media) that no route handler sees: only through the proxy, which
               # refuses everything, so a page's peer connection reaches nothing (see also PAGE_GUARD).
               "--force-webrtc-ip-handling-policy=disable_non_proxied_udp", "--webrtc-ip-handling-policy=disable_non_proxied_udp"]
ACTION_TIMEOUT_MS = 10_000
NAVIGATION_TIMEOUT_MS = 20_000
NETWORK_LOG_SIZE = 300
#: How long Chromium outlives its last session, waiting for the next one.
LINGER_SECONDS = 30.0
MAX_RESOURCE_BYTES = 25_000_000
#: Run in every document and frame before the page's own scripts: no windows of its own (the tools work on one
#: tab; a popup would take the place of the page that was opened) and no WebRTC (UDP that no route handler sees;
#: Chromium is also told to send WebRTC only through its refusing proxy).
PAGE_GUARD = """(() => {
  const define = (name, value) => {
    try { Object.defineProperty(window, name, {value, writable: false, configurable: false}); } catch (e) {}
  };
  define("open", () => null);
  for (const name of ["RTCPeerConnection", "webkitRTCPeerConnection", "RTCDataChannel", "RTCIceCandidate",
                      "RTCSessionDescription", "RTCRtpSender", "RTCRtpReceiver", "RTCRtpTransceiver",
                      "RTCDtlsTransport", "RTCIceTransport", "RTCSctpTransport", "RTCCertificate"]) {
    define(name, undefined);
  }
})();"""

_HOP_HEADERS = {"host", "content-length", "connection", "accept-encoding", "cookie", "keep-alive",
                "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"}
_RESPONSE_DROP = {"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"}

T = TypeVar("T")


def chromium_executable() -> str | None:
    """The first of `CHROMIUM_BUILDS` installed here, or None."""
    return next((path for path in CHROMIUM_BUILDS if Path(path).is_file()), None)


class BrowserRuntime:
    """The process's Chromium, on its own thread and event loop; counted users, shut down after the last one
    has been gone for `LINGER_SECONDS`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._linger = Linger(self.shutdown_if_unused)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._playwright: Any = None
        self._browser: Any = None
        self._launching: asyncio.Lock | None = None
        self._blackhole: socket.socket | None = None
        self._spare: asyncio.Future | None = None
        self.launches = 0

    # -- lifetime ------------------------------------------------------------------------------------------
    def acquire(self) -> None:
        with self._lock:
            self._users += 1
            self._linger.cancel()
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name="dive-web-browser", daemon=True)
                self._loop = loop
                self._thread.start()
                ready.wait(10)

    def release(self) -> None:
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users == 0 and self._loop is not None:
                self._linger.start(LINGER_SECONDS)

    def shutdown_if_unused(self) -> None:
        """Close the browser now if no session holds it (a server closing, or the linger ending)."""
        with self._lock:
            if self._users == 0:
                self._shutdown_locked()

    def shutdown(self) -> None:
        """Close the browser and stop the thread whatever the count (at interpreter exit)."""
        with self._lock:
            self._users = 0
            self._shutdown_locked()

    def _shutdown_locked(self) -> None:
        self._linger.cancel()
        loop, thread = self._loop, self._thread
        if loop is None:
            return
        if threading.current_thread() is thread:  # cannot wait for ourselves; let the loop finish it
            loop.create_task(self._close_browser())
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close_browser(), loop).result(timeout=20)
        except Exception:  # a browser that will not close politely is killed with its driver below
            pass
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        if not loop.is_running():
            loop.close()
        self._loop = self._thread = None
        self._launching = None

    async def _close_browser(self) -> None:
        browser, playwright, spare = self._browser, self._playwright, self._spare
        self._browser = self._playwright = self._spare = None
        if spare is not None:
            spare.cancel()
            await asyncio.gather(spare, return_exceptions=True)
        try:
            if browser is not None:
                await browser.close()
        finally:
            if playwright is not None:
                await playwright.stop()
            if self._blackhole is not None:
                self._blackhole.close()
                self._blackhole = None

    # -- running work on the browser's loop ------------------------------------------------------------------
    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self._loop is None:
            coro.close()
            raise ToolFailure("the browser is not running (its session was closed)")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the browser's loop and await its result from any other loop."""
        return await asyncio.wrap_future(self.submit(coro))

    async def browser(self) -> Any:
        """The shared Browser, launched on first use (call on the browser's loop)."""
        if self._launching is None:
            self._launching = asyncio.Lock()
        async with self._launching:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            executable = chromium_executable()
            if executable is None:
                raise ToolFailure("Chromium is not installed: run `apt-get install -y chromium-headless-shell`")
            from playwright.async_api import async_playwright

            if self._blackhole is None:  # a bound but never listening socket: connecting to it is refused at once
                self._blackhole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self._blackhole.bind(("127.0.0.1", 0))
            dead_proxy = f"http://127.0.0.1:{self._blackhole.getsockname()[1]}"
            if self._playwright is None:
                self._playwright = await async_playwright().start()
            self._browser = await self._playwright.chromium.launch(
                executable_path=executable, headless=True, chromium_sandbox=False,
                args=[*LAUNCH_ARGS, f"--proxy-server={dead_proxy}", "--proxy-bypass-list=<-loopback>"],
            )
            self.launches += 1
            return self._browser

    async def _blank_tab(self) -> tuple[Any, Any]:
        browser = await self.browser()
        context = await browser.new_context(service_workers="block", accept_downloads=False,
                                            viewport={"width": 1280, "height": 800}, user_agent=USER_AGENT)
        try:
            return context, await context.new_page()
        except BaseException:
            await context.close()
            raise

    async def new_tab(self) -> tuple[Any, Any]:
        """A fresh context and its blank page (call on the browser's loop).

        Starting a page's renderer is the slow part of a new session (about a second here), so one spare
        tab is always being prepared for the next session while this one works.
        """
        spare, self._spare = self._spare, None
        tab = None
        if spare is not None:
            try:
                tab = await spare
            except Exception:  # a spare that failed (browser restarted, say) is simply replaced
                tab = None
            if tab is not None and tab[1].is_closed():
                tab = None
        if tab is None:
            tab = await self._blank_tab()
        self._spare = asyncio.ensure_future(self._blank_tab())
        return tab


RUNTIME = BrowserRuntime()
atexit.register(RUNTIME.shutdown)


class BrowserSession:
    """One session's browser context and page, with its request log; methods run on the browser's loop."""

    def __init__(self, policy: NetPolicy) -> None:
        self.policy = policy
        self.runtime = RUNTIME
        self.runtime.acquire()
        self.context: Any = None
        self.page: Any = None
        self.client: httpx.AsyncClient | None = None
        self.log: deque[dict[str, Any]] = deque(maxlen=NETWORK_LOG_SIZE)
        self.history: list[str] = []
        self._pending_redirect: str | None = None
        self._blocked: dict[str, str] = {}
        self._failed: dict[str, str] = {}
        self._closed = False

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return await self.runtime.call(coro)

    def close(self) -> None:
        """Close the context (synchronously, from any thread) and drop this user of the shared browser."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.context is not None or self.client is not None:
                self.runtime.submit(self._aclose()).result(timeout=15)
        except Exception:
            pass
        finally:
            self.runtime.release()

    async def _aclose(self) -> None:
        try:
            if self.context is not None:
                await self.context.close()
        finally:
            self.context = self.page = None
            if self.client is not None:
                await self.client.aclose()
                self.client = None

    # -- the page ------------------------------------------------------------------------------------------
    async def ensure_page(self) -> Any:
        if self.page is not None and not self.page.is_closed():
            return self.page
        if self.context is not None and not (self.context.browser and self.context.browser.is_connected()):
            self.context = None  # Chromium went away (crashed); start this session over on a new one
        if self.context is None:
            if self.client is None:
                self.client = httpx.AsyncClient(transport=AsyncVettedTransport(self.policy), follow_redirects=False,
                                                timeout=TIMEOUT, trust_env=False)
            context, page = await self.runtime.new_tab()
            # The page is blank and has made no request: routing it from now on covers everything it loads.
            await context.route("**/*", self._route)
            await context.route_web_socket("**/*", self._route_web_socket)
            await context.add_init_script(PAGE_GUARD)
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
            context.on("page", self._on_new_page)
            self.context = context
        else:
            page = await self.context.new_page()
        self.page = page
        self._watch(page)
        return page

    def _on_new_page(self, page: Any) -> None:
        # A link opened in a new tab becomes the page the next call works on.
        if page is not self.page:
            self.page = page
            self._watch(page)

    def _watch(self, page: Any) -> None:
        def navigated(frame: Any) -> None:
            if frame == page.main_frame and frame.url not in ("about:blank", "") and (
                    not self.history or self.history[-1] != frame.url):
                self.history.append(frame.url)
        page.on("framenavigated", navigated)

    # -- interception --------------------------------------------------------------------------------------
    def _record(self, main: bool = False, **entry: Any) -> None:
        entry["at_ms"] = round(time.monotonic() * 1000)
        entry["main"] = main
        self.log.append(entry)

    async def _vet(self, url: str):
        return await asyncio.to_thread(self.policy.vet_url, url)

    async def _route_web_socket(self, ws: Any) -> None:
        url = ws.url
        self._record(method="GET", url=url, resource_type="websocket", status=0, outcome="blocked",
                     detail="WebSockets are not supported by the web tools")
        await ws.close(code=1008, reason="WebSockets are disabled in the DIVE web tools")

    async def _route(self, route: Any, request: Any) -> None:
        url, rtype = request.url, request.resource_type
        if url.startswith(("data:", "blob:", "about:")):
            await route.continue_()  # never touches the network
            return
        try:
            is_main_nav = request.is_navigation_request() and request.frame.parent_frame is None
        except Exception:  # a popup's first navigation comes before its frame exists: it is a main frame's
            is_main_nav = request.is_navigation_request()
        # A refused main-frame navigation is aborted quietly: 'blockedbyclient' would commit an error page
        # that races (and interrupts) the next navigation.
        refuse = "aborted" if is_main_nav else "blockedbyclient"
        if not url.startswith(("http://", "https://")):
            reason = f"the scheme of {url[:40]!r} is not allowed; only http and https"
            self._blocked[url] = reason
            self._record(main=is_main_nav, method=request.method, url=url, resource_type=rtype, status=0,
                         outcome="blocked", detail=reason)
            await route.abort(refuse)
            return
        verdict = await self._vet(url)
        if not verdict.allowed:
            self._blocked[url] = verdict.reason
            self._record(main=is_main_nav, method=request.method, url=url, resource_type=rtype, status=0,
                         outcome="blocked", detail=verdict.reason)
            await route.abort(refuse)
            return
        method, body = request.method, request.post_data_buffer
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        current = url
        try:
            for _hop in range(MAX_REDIRECTS + 1):
                assert self.client is not None
                response = await self._request(method, current, headers, body)
                location = response.headers.get("location")
                if not (response.is_redirect and location):
                    break
                target = urljoin(current, location)
                target_verdict = await self._vet(target)
                if not target_verdict.allowed:
                    reason = f"redirect from {current} to {target} refused: {target_verdict.reason}"
                    self._blocked[url] = reason
                    self._record(main=is_main_nav, method=method, url=current, resource_type=rtype,
                                 status=response.status_code, outcome="blocked", detail=reason)
                    await route.abort(refuse)
                    return
                self._record(method=method, url=current, resource_type=rtype, status=response.status_code,
                             outcome="redirect", detail=target)
                if is_main_nav:
                    # The page must end up at the new URL, so the tool navigates there itself (vetted again).
                    self._pending_redirect = target
                    await route.abort("aborted")
                    return
                if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                    method, body = "GET", None
                current = target
            else:
                raise ToolFailure(f"more than {MAX_REDIRECTS} redirects starting at {url}")
        except Refused as exc:
            self._blocked[url] = str(exc)
            self._record(main=is_main_nav, method=method, url=current, resource_type=rtype, status=0,
                         outcome="blocked", detail=str(exc))
            await route.abort(refuse)
            return
        except (httpx.HTTPError, ToolFailure) as exc:
            self._record(method=method, url=current, resource_type=rtype, status=0, outcome="failed",
                         detail=f"{type(exc).__name__}: {exc}")
            self._failed[url] = f"{type(exc).__name__}: {exc}"
            await route.abort("aborted" if is_main_nav else "failed")
            return
        out_headers: dict[str, str] = {}
        for key, value in response.headers.multi_items():
            k = key.lower()
            if k in _RESPONSE_DROP:
                continue
            out_headers[k] = f"{out_headers[k]}\n{value}" if k in out_headers else value
        self._record(method=method, url=current, resource_type=rtype, status=response.status_code, outcome="ok",
                     detail=response.headers.get("content-type", ""))
        await route.fulfill(status=response.status_code, headers=out_headers, body=response.content)

    async def _request(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> httpx.Response:
        """One request of the page, performed here (vetted at connect time), its body read up to a cap."""
        assert self.client is not None
        request = self.client.build_request(method, url, headers=headers, content=body)
        response = await self.client.send(request, stream=True)
        try:
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESOURCE_BYTES:
                    raise ToolFailure(f"{url} is larger than {MAX_RESOURCE_BYTES // 1_000_000} MB")
                chunks.append(chunk)
        finally:
            await response.aclose()
        # The body is decoded already: a new response without the encoding headers carries it as it is.
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _RESPONSE_DROP]
        return httpx.Response(response.status_code, headers=headers, content=b"".join(chunks), request=request)

    # -- navigation ----------------------------------------------------------------------------------------
    def refusal_for(self, url: str) -> str | None:
        return self._blocked.get(url)

    async def goto(self, url: str, wait_until: str = "load") -> dict[str, Any]:
        """Navigate the page to `url`, following redirects hop by hop; refuse what the policy refuses."""
        from playwright.async_api import Error as PlaywrightError

        page = await self.ensure_page()
        redirects: list[str] = []
        target = url
        for _ in range(MAX_REDIRECTS + 1):
            verdict = await self._vet(target)
            if not verdict.allowed:
                where = f" (redirected from {redirects[-2] if len(redirects) > 1 else url})" if redirects else ""
                raise Refused(f"refused {target!r}{where}: {verdict.reason}")
            self._pending_redirect = None
            self._blocked.pop(target, None)
            self._failed.pop(target, None)
            try:
                try:
                    response = await page.goto(target, wait_until=wait_until)
                except PlaywrightError as exc:
                    if "interrupted by another navigation" not in str(exc):
                        raise
                    response = await page.goto(target, wait_until=wait_until)  # a late error page got in the way
            except PlaywrightError as exc:
                if self._pending_redirect:
                    target = self._pending_redirect
                    redirects.append(target)
                    continue
                refusal = self._blocked.pop(target, None)
                if refusal:
                    raise Refused(f"refused {target!r}: {refusal}") from None
                failure = self._failed.pop(target, None)
                raise ToolFailure(f"could not open {target}: {failure or _first_line(exc)}") from None
            if self.page is not page:  # a tab the page opened while loading does not take its place
                popup, self.page = self.page, page
                if popup is not None and not popup.is_closed():
                    await popup.close()
            return {"status": response.status if response else 0, "redirects": redirects}
        raise ToolFailure(f"more than {MAX_REDIRECTS} redirects starting at {url}")

    async def settle(self) -> list[str]:
        """After a click or a submit: wait for any navigation to load, and finish a redirect it started."""
        from playwright.async_api import Error as PlaywrightError

        page = self.page
        try:
            await page.wait_for_load_state("load")
        except PlaywrightError:
            pass
        redirects: list[str] = []
        if self._pending_redirect:
            target, self._pending_redirect = self._pending_redirect, None
            result = await self.goto(target)
            redirects = [target, *result["redirects"]]
        return redirects

    async def snapshot(self, selector: str = "body", max_chars: int = 0) -> dict[str, Any]:
        """The page's URL, title and rendered text (of `selector`)."""
        page = self.page
        if page is None:
            raise ToolFailure("no page is open yet: call browser_open first")
        locator = page.locator(selector)
        if await locator.count() == 0:
            raise ToolFailure(f"nothing on {page.url} matches the selector {selector!r}")
        text = await locator.first.inner_text()
        return {"url": page.url, "title": await page.title(), "text": text}

    def pending_reset(self) -> None:
        self._pending_redirect = None

    def has_pending_redirect(self) -> bool:
        return self._pending_redirect is not None

    def last_refusal_since(self, since_ms: int) -> str | None:
        """Why the policy blocked the latest main-frame navigation since `since_ms`, if it did."""
        for entry in reversed(self.log):
            if entry["at_ms"] < since_ms:
                break
            if entry["outcome"] == "blocked" and entry["main"]:
                return f"refused {entry['url']!r}: {entry['detail']}"
        return None

    def require_page(self) -> Any:
        if self.page is None or self.page.is_closed():
            raise ToolFailure("no page is open yet: call browser_open first")
        return self.page

    async def page_at(self, url: str | None) -> Any:
        """The page, first navigated to `url` when one is given (a tool's optional `url` argument)."""
        if url:
            await self.goto(url)
        return self.require_page()

    def take_blocked_since(self, since_ms: int) -> list[dict[str, Any]]:
        return [e for e in self.log if e["outcome"] == "blocked" and e["at_ms"] >= since_ms]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def now_ms() -> int:
    return round(time.monotonic() * 1000)
