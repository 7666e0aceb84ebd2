"""The media workspace a session sees: its own output folder laid over the world's read-only media folder.

Every tool reads through `MediaWorkspace.locate` (the session's outputs first, then the world's media) and
writes through `MediaWorkspace.output` (the session's outputs only), so a file one call wrote is the input
of the next call by the same relative path, and the shared world is never touched.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, Field

from dive.servers.kit import Domain, SessionContext, ToolFailure, atomic_write, relative_to_root, resolve_in_root

IMAGE_FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
AUDIO_SUFFIXES = (".wav",)
#: Where tools put what they write unless the caller names an output path.
DEFAULT_OUTPUT_FOLDER = "out"

Source = Literal["session", "world"]


class MediaWorkspace:
    """One session's view of media: `output_root` (private, writable) over `world_root` (shared, read-only)."""

    def __init__(self, ctx: SessionContext) -> None:
        self.world = ctx.world
        self.world_root: Path = ctx.world.media_root
        self.files_root: Path = ctx.world.files_root
        # The session's shared folder: what media tools write is open to other domains, and screenshots the
        # web tools saved there (screenshots/...) are open to media tools.
        self.output_root: Path = ctx.shared_directory
        self.output_root.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        """Nothing to release: the kit deletes the session folder, outputs included."""

    # -- reading -------------------------------------------------------------------------------------------

    def locate(self, path: str) -> Path:
        """The file a caller means by `path`: this session's outputs first, then the world's media folder."""
        for root in (self.output_root, self.world_root):
            candidate = resolve_in_root(root, path)
            if candidate.is_file():
                return candidate
            if candidate.is_dir():
                raise ToolFailure(f"{path!r} is a folder, not a file; call list_media with folder={path!r} to see inside")
        raise ToolFailure(
            f"no media file {path!r} in this session's outputs or the world's media folder; "
            "call list_media to see the paths that exist (e.g. 'charts/stock_MSFT.png')"
        )

    def locate_data(self, path: str) -> Path:
        """A data file (CSV) from the world's files tree, e.g. 'data/stocks/MSFT.csv'."""
        candidate = resolve_in_root(self.files_root, path)
        if not candidate.is_file():
            raise ToolFailure(f"no data file {path!r} in the world's files tree (try 'data/stocks/MSFT.csv')")
        return candidate

    def source_of(self, real: Path) -> Source:
        """Whether a located file is one this session wrote or one the world ships."""
        root = self.output_root.resolve()
        return "session" if real == root or root in real.parents else "world"

    def relative(self, real: Path) -> str:
        """The workspace-relative path of a located or written file (the form other tools accept)."""
        root = self.output_root if self.source_of(real) == "session" else self.world_root
        return relative_to_root(root, real)

    # -- writing -------------------------------------------------------------------------------------------

    def output(self, requested: str | None, default_name: str, suffixes: tuple[str, ...]) -> Path:
        """Where to write: the caller's `requested` path, or `out/<default_name>`, inside the session folder.

        `suffixes` are the extensions the written format allows; a requested path with another one is refused.
        """
        rel = requested if requested is not None else f"{DEFAULT_OUTPUT_FOLDER}/{default_name}"
        suffix = PurePosixPath(rel.replace("\\", "/")).suffix.lower()
        if suffix not in suffixes:
            raise ToolFailure(f"output {rel!r} must end with one of {', '.join(suffixes)} for this format")
        target = resolve_in_root(self.output_root, rel)
        if target == self.output_root.resolve() or target.is_dir():
            raise ToolFailure(f"output {rel!r} names a folder; give a file name such as 'out/result{suffixes[0]}'")
        if requested is None:  # a default name never replaces an earlier output: number it instead
            n = 2
            stem, ext = target.stem, target.suffix
            while target.exists():
                target = target.with_name(f"{stem}-{n}{ext}")
                n += 1
        return target

    def write(self, target: Path, data: bytes) -> str:
        """Write `data` atomically to a path from `output` and return its workspace-relative form."""
        atomic_write(target, data)
        return relative_to_root(self.output_root, target)


def default_name(source_path: str, tag: str, suffix: str) -> str:
    """'charts/stock_MSFT.png' + 'resized-200x100' + '.png' -> 'stock_MSFT-resized-200x100.png'."""
    stem = PurePosixPath(source_path.replace("\\", "/")).stem or "media"
    return f"{stem}-{tag}{suffix}" if tag else f"{stem}{suffix}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class WrittenFile(BaseModel):
    """A file a tool wrote into this session's media folder; `path` is what other tools accept."""

    path: str = Field(description="Workspace-relative path of the written file; pass it to other media tools")
    bytes: int = Field(description="Size of the written file in bytes")


# -- the world's media index (facts that self-tests check against) --------------------------------------------


@lru_cache(maxsize=8)
def _index_of(media_root: str) -> tuple[dict[str, Any], ...]:
    path = Path(media_root) / "index.json"
    if not path.is_file():
        return ()
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(item for item in data if isinstance(item, dict) and "path" in item)


def media_index(world: Any) -> list[dict[str, Any]]:
    """Entries of the world's media/index.json: {path, kind, entity_id, facts}; empty when there is none."""
    return list(_index_of(str(Path(world.media_root).resolve())))


def facts_of(world: Any, path: str) -> dict[str, Any]:
    """The facts media/index.json records for one world media file (its drawn text, tone frequency, colour...)."""
    for item in media_index(world):
        if item["path"] == path:
            return item.get("facts", {})
    raise KeyError(f"{path} is not in the world's media index")


DOMAIN = Domain(
    "media",
    "Images, OCR, charts and audio over the world's media folder (charts, text images, swatches, tones) and "
    "this session's own outputs. Read tools accept a world path such as 'charts/stock_MSFT.png' or any path a "
    "previous call wrote; every tool that writes saves into the session's media folder (default 'out/...') and "
    "returns the new path so the next call can use it.",
    MediaWorkspace,
)
