"""The web domain's per-session state and its `Domain` declaration."""

from __future__ import annotations

from pathlib import Path

from dive.servers.kit import Domain, SessionContext

from .browser import RUNTIME, BrowserSession
from .http_fetch import Fetcher
from .netpolicy import NetPolicy
from .search_index import SiteIndex, site_index
from .site_server import SiteServer, acquire_site, release_site, stop_unused_sites

SCREENSHOT_DIR = "screenshots"


class WebState:
    """One session's view of the web: the shared world site and index, its own HTTP client and browser page.

    Everything heavy starts on first use: the site server (shared by the process's sessions), the httpx
    client, and the browser context (on the process's shared Chromium).
    """

    def __init__(self, ctx: SessionContext) -> None:
        self.ctx = ctx
        self.world = ctx.world
        # The session's shared folder: screenshots saved here (screenshots/NAME.png) open in media tools.
        self.workspace: Path = ctx.shared_directory
        self._site: SiteServer | None = None
        self._policy: NetPolicy | None = None
        self._fetcher: Fetcher | None = None
        self._browser: BrowserSession | None = None

    @property
    def site(self) -> SiteServer:
        if self._site is None:
            self._site = acquire_site(self.world)
        return self._site

    @property
    def policy(self) -> NetPolicy:
        if self._policy is None:
            self._policy = NetPolicy.from_options(self.ctx.options, self.site.host, self.site.port)
        return self._policy

    @property
    def index(self) -> SiteIndex:
        return site_index(self.world)

    @property
    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            self._fetcher = Fetcher(self.policy)
        return self._fetcher

    def site_url(self, path: str) -> str:
        """The absolute URL of a site path ('/cities/2643743.html')."""
        return self.policy.site_origin + "/" + path.lstrip("/")

    def absolute(self, url: str) -> str:
        return self.fetcher.absolute(url)

    @property
    def browser(self) -> BrowserSession:
        if self._browser is None:
            self._browser = BrowserSession(self.policy)
        return self._browser

    @property
    def screenshot_dir(self) -> Path:
        return self.workspace / SCREENSHOT_DIR

    def close(self) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
                self._browser = None
            if self._fetcher is not None:
                self._fetcher.close()
                self._fetcher = None
        finally:
            if self._site is not None:
                release_site(self._site)
                self._site = None


def stop_unused() -> None:
    """Stop the browser and site server that sessions keep running for each other, if none holds them now."""
    RUNTIME.shutdown_if_unused()
    stop_unused_sites()


DOMAIN = Domain(
    "web",
    "The web: the world's website (an atlas of countries, cities, airports, elements, companies and stocks, "
    "served locally) searched with a ranked index, read over HTTP, and browsed with a real Chromium that runs "
    "JavaScript, clicks, fills forms and takes screenshots. The real internet is off unless the server allows it.",
    WebState,
    on_close=stop_unused,
)
