"""The web domain: the world's website served locally over HTTP, searched with a ranked full-text index,
read with httpx and browsed with a real Chromium (Playwright) that runs JavaScript, fills forms and takes
screenshots. The real internet is off unless the server allows it (`allow_net` / `allow_hosts` options, or
the DIVE_WEB_ALLOW_NET / DIVE_WEB_ALLOW_HOSTS environment variables); private, loopback, link-local and
cloud-metadata addresses stay refused on every hop.
"""

from . import browse_tools, fetch_tools, site_tools, text_tools  # noqa: F401  (they register the tools)
from .state import DOMAIN

__all__ = ["DOMAIN"]
