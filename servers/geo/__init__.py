"""Geography (held out): the world's cities, countries and airports as places to look up and measure between.

Distances and bearings are great-circle on a sphere of the mean Earth radius; places are named by city
name (with a country code when ambiguous), world entity id, airport code or coordinates.
"""

from .tools import DOMAIN

__all__ = ["DOMAIN"]
