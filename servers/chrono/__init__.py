"""Chrono (held out): calendar and time-zone arithmetic with tzdata and the `holidays` package.

Every tool takes the instant or date it works on; none reads the wall clock, so results are
deterministic for given tzdata and `holidays` versions. World cities name time zones by their own.
"""

from . import calendars, formats, timezones  # noqa: F401  (registering their tools on DOMAIN)
from .domain import DOMAIN

__all__ = ["DOMAIN"]
