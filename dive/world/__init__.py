"""The deterministic offline world the MCP tool servers operate on.

Built from real public data shipped inside PyPI packages (GeoNames cities and countries, airports,
chemical elements, stock prices, Seattle weather) plus seeded companies, customers, products and orders.
The same entities appear across domains: a city has a web page, database rows, files that mention it and
media of it.

    world = ensure_world()            # built once into ~/.cache/dive/world-seed0, then loaded
    world.entities(type="city", domain="web")[:3]
    world.db_path, world.files_root, world.site_root, world.media_root
"""

from .build import build_world
from .model import WORLD_VERSION, Entity, WorldError, WorldManifest
from .world import World, default_world_dir, dive_home, ensure_world

__all__ = [
    "WORLD_VERSION",
    "Entity",
    "World",
    "WorldError",
    "WorldManifest",
    "build_world",
    "default_world_dir",
    "dive_home",
    "ensure_world",
]
