"""The database domain: the world's SQLite database (countries, cities, airports, elements, companies,
stock prices, weather, customers, products, orders, and documents under full-text search) through schema
discovery, read-only SQL with row and time limits enforced by SQLite, structured lookups and analysis,
and write tools that change only the calling session's private copy of the database."""

import sys

if "pandas" not in sys.modules:
    # sqlite-utils imports pandas (and with it pyarrow) when it is installed, only to accept DataFrames, which
    # this domain never passes: about 0.35 s of CPU at every server start. Import it with pandas hidden; pandas
    # itself stays importable for anyone else.
    sys.modules["pandas"] = None  # type: ignore[assignment]
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["pandas"]

from . import discovery, querying, lookups, analysis, timeseries, fulltext, writes  # noqa: F401, I001  (they register tools, in this order)
from .state import DOMAIN

__all__ = ["DOMAIN"]
