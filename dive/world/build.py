"""Building a world: every part written into a temporary folder beside the target, then renamed into place."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from .catalog import assemble_catalog
from .database import write_database
from .determinism import sha256_file, walk_files, write_text
from .entities import build_entities
from .files_tree import write_files_tree
from .media import write_media
from .model import WORLD_VERSION, WorldError, WorldManifest
from .site import build_pages, write_site
from .sources import source_versions
from .world import World

logger = logging.getLogger("dive.world")


def build_world(out: Path, seed: int = 0) -> World:
    """Build the world for `seed` at `out`, replacing any world there, and return it loaded.

    `out` must be new, empty, or an earlier world (of any version): other folders are never replaced.

    The build happens in a temporary folder beside `out` and is renamed into place at the end, so a
    crashed build never leaves a half world. Files are made read-only: servers clone the tree with hard
    links and always write by atomic replace, so an in-place write fails loudly instead of leaking.
    The same seed gives byte-identical files.
    """
    out = Path(out).expanduser().absolute()
    if out.exists() and not (out / "manifest.json").is_file() and (not out.is_dir() or any(out.iterdir())):
        raise WorldError(f"{out} exists and is not a world; refusing to replace it: choose an empty or new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        manifest = _write_world(staging, seed)
        _make_read_only(staging)
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("built world seed=%d at %s in %.1fs (%d entities, %d files)", seed, out,
                time.perf_counter() - started, manifest.counts["entities"], len(manifest.files))
    return World.load(out)


def _write_world(root: Path, seed: int) -> WorldManifest:
    cat = assemble_catalog(seed)
    pages = build_pages(cat)
    records = write_site(root / "site", pages)
    documents = [r for r in records if r.entity_id and not r.requires_js]
    table_counts = write_database(root / "db" / "world.sqlite", cat, documents)
    mentions = write_files_tree(root / "files", cat)
    media_items = write_media(root / "media", cat)
    entities = build_entities(cat, records, mentions, media_items)
    write_text(root / "entities.jsonl", "".join(e.model_dump_json() + "\n" for e in entities))

    files = {p.relative_to(root).as_posix(): sha256_file(p) for p in walk_files(root)}
    counts: dict[str, int] = {"entities": len(entities)}
    for entity in entities:
        counts[f"entities.{entity.type}"] = counts.get(f"entities.{entity.type}", 0) + 1
    counts.update({f"db.{table}": n for table, n in sorted(table_counts.items())})
    for part in ("files", "site", "media"):
        paths = [p for p in files if p.startswith(f"{part}/")]
        counts[f"{part}.files"] = len(paths)
        counts[f"{part}.bytes"] = sum((root / p).stat().st_size for p in paths)
    counts["site.pages"] = len(records)
    counts["media.items"] = len(media_items)
    counts["db.bytes"] = (root / "db" / "world.sqlite").stat().st_size
    counts["total.bytes"] = sum((root / p).stat().st_size for p in files)
    manifest = WorldManifest(version=WORLD_VERSION, seed=seed, counts=dict(sorted(counts.items())), files=files,
                             built_with=source_versions())
    write_text(root / "manifest.json", json.dumps(manifest.model_dump(), indent=2, ensure_ascii=False) + "\n")
    return manifest


#: Files get fixed modification times (from this instant on, spread by a hash of their path), so that
#: "modified" facts and sorting by modification time are the same in every build of a seed.
MTIME_EPOCH = 1_717_200_000  # 2024-06-01T00:00:00Z
MTIME_SPREAD = 180 * 86_400


def _make_read_only(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            offset = int.from_bytes(hashlib.sha256(rel.encode()).digest()[:4], "big") % MTIME_SPREAD
            os.utime(path, (MTIME_EPOCH + offset, MTIME_EPOCH + offset))
            os.chmod(path, 0o444)
    os.chmod(root, 0o755)  # mkdtemp made it private; the world is for every local user to read


def _swap_into_place(staging: Path, out: Path) -> None:
    """Rename the finished world onto `out`; an older world there is moved aside first, then removed."""
    try:
        os.rename(staging, out)
        return
    except OSError:
        if not out.exists():
            raise
    retired = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    os.rename(out, retired)
    os.rename(staging, out)
    shutil.rmtree(retired, ignore_errors=True)
