"""The database domain: the world's SQLite database (countries, cities, airports, elements, companies,
stock prices, weather, customers, products, orders, and documents under full-text search) through schema
discovery, read-only SQL with row and time limits enforced by SQLite, structured lookups and analysis,
and write tools that change only the calling session's private copy of the database."""

from . import discovery, querying, lookups, analysis, timeseries, fulltext, writes  # noqa: F401, I001  (they register tools, in this order)
from .state import DOMAIN

__all__ = ["DOMAIN"]
