"""Finding media: listing the workspace (world media plus this session's outputs) and looking files up by entity."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from dive.servers.kit import Example, Items, Meaning, Takes, ToolFailure, clip_items, resolve_in_root

from .workspace import AUDIO_SUFFIXES, DOMAIN, IMAGE_FORMATS, MediaWorkspace, media_index

MediaKind = Literal["image", "audio", "other"]


def kind_of(path: str) -> MediaKind:
    suffix = Path(path).suffix.lower()
    return "image" if suffix in IMAGE_FORMATS else "audio" if suffix in AUDIO_SUFFIXES else "other"


class MediaEntry(BaseModel):
    path: str = Field(description="Workspace-relative path; pass it to the image or audio tools")
    kind: MediaKind
    source: Literal["session", "world"] = Field(description="'session' for files this session wrote")
    bytes: int
    entity_id: str | None = Field(description="The world entity the file depicts (e.g. 'stock:MSFT'), when known")


class MediaListing(BaseModel):
    folder: str
    entries: list[MediaEntry]
    folders: list[str] = Field(description="Sub-folders directly inside `folder`")
    total: int = Field(description="Files matching, before offset/limit")
    truncated: bool


def _entity_ids(s: MediaWorkspace) -> dict[str, str]:
    return {item["path"]: item.get("entity_id") for item in media_index(s.world)}


@DOMAIN.tool(meaning=Meaning(takes={"folder": Takes("directory", "path")}, items=(Items("entries", phrase="the media files in {folder}", name="path", name_type="media", name_by="path", total="total", complete_unless="truncated", attributes={"bytes": "file size", "kind": "kind of media"}, units={"bytes": "bytes"}),)), 
    kind="retrieval",
    examples=[Example({"folder": "audio", "pattern": "tone_iron*"},
                      lambda r: [e["path"] for e in r["entries"]] == ["audio/tone_iron.wav"]
                      and r["entries"][0]["entity_id"] == "element:Fe")],
)
def list_media(
    s: MediaWorkspace,
    folder: Annotated[str, Field(description="Folder to list, e.g. '.', 'charts', 'audio', 'out'")] = ".",
    pattern: Annotated[str, Field(description="Shell-style file-name filter, e.g. '*.png' or 'stock_*'")] = "*",
    kind: Annotated[Literal["any", "image", "audio"], Field(description="Only images or only audio")] = "any",
    recursive: Annotated[bool, Field(description="Include files in sub-folders")] = False,
    offset: Annotated[int, Field(ge=0)] = 0,
    limit: Annotated[int, Field(ge=1, le=500)] = 100,
) -> MediaListing:
    """List media files: the world's charts, text images, colour swatches and tones, plus everything this session
    has written (source 'session'), with size and the entity each world file depicts. Start here to find paths."""
    found: dict[str, MediaEntry] = {}
    folders: set[str] = set()
    exists = False
    entity_ids = _entity_ids(s)
    for source, root in (("session", s.output_root), ("world", s.world_root)):
        base = resolve_in_root(root, folder)
        if not base.is_dir():
            continue
        exists = True
        for p in sorted(base.rglob("*") if recursive else base.iterdir()):
            if p.name.startswith(".") or p.name == "index.json":
                continue
            rel = p.relative_to(root.resolve()).as_posix()
            if p.is_dir():
                if not recursive:
                    folders.add(rel)
                continue
            if not fnmatch.fnmatch(p.name, pattern) or (kind != "any" and kind_of(rel) != kind):
                continue
            if rel not in found:  # a session file shadows a world file of the same path
                found[rel] = MediaEntry(path=rel, kind=kind_of(rel), source=source, bytes=p.stat().st_size,
                                        entity_id=entity_ids.get(rel) if source == "world" else None)
    if not exists:
        raise ToolFailure(f"no media folder {folder!r}; the world has 'charts', 'text', 'images' and 'audio', "
                          "and this session's outputs go to 'out'")
    entries = [found[k] for k in sorted(found)]
    page, _ = clip_items(entries[offset:offset + limit], limit)
    return MediaListing(folder=folder, entries=page, folders=sorted(folders), total=len(entries),
                        truncated=offset + limit < len(entries))


class MediaMatch(BaseModel):
    path: str
    kind: str = Field(description="chart, text_image, tone or swatch")
    entity_id: str


class MediaSearch(BaseModel):
    matches: list[MediaMatch]
    total: int
    truncated: bool


@DOMAIN.tool(meaning=Meaning(takes={"entity_id": Takes("entity", "entity_id")}, items=(Items("matches", phrase="the media files about {entity_id}", name="path", name_type="media", name_by="path", total="total", complete_unless="truncated", categories={"kind": {"chart": "chart", "text_image": "image of text", "tone": "tone", "swatch": "colour swatch"}}),)), 
    kind="retrieval",
    examples=[
        Example({"entity_id": "stock:MSFT"}, lambda r: [m["path"] for m in r["matches"]] == ["charts/stock_MSFT.png"]),
        Example({"kind": "tone", "query": "iron"}, lambda r: r["matches"][0]["entity_id"] == "element:Fe"),
    ],
)
def find_media(
    s: MediaWorkspace,
    entity_id: Annotated[str | None, Field(description="World entity id, e.g. 'stock:MSFT', 'country:FR', "
                                                       "'element:Fe', 'city:2988507', 'company:c0042'")] = None,
    kind: Annotated[Literal["any", "chart", "text_image", "tone", "swatch"],
                    Field(description="chart (stock prices, countries' largest cities), text_image (rendered text "
                                      "for OCR), tone (an element's sine tone), swatch (a company's brand colour)")] = "any",
    query: Annotated[str | None, Field(description="Words the file name must contain, e.g. 'iron' or 'stock'")] = None,
    limit: Annotated[int, Field(ge=1, le=500)] = 50,
) -> MediaSearch:
    """Find the world's media files about an entity or of a kind: a stock's price chart, a country's top-cities
    chart, the rendered text about a city, element or company, an element's tone, a company's colour swatch."""
    if entity_id is None and kind == "any" and not query:
        raise ToolFailure("give an entity_id, a kind or a query (or use list_media to browse)")
    words = (query or "").lower().split()
    matches = [
        MediaMatch(path=item["path"], kind=item.get("kind", ""), entity_id=item.get("entity_id", ""))
        for item in media_index(s.world)
        if (entity_id is None or item.get("entity_id") == entity_id)
        and (kind == "any" or item.get("kind") == kind)
        and all(w in item["path"].lower() for w in words)
    ]
    shown, cut = clip_items(matches, limit)
    return MediaSearch(matches=shown, total=len(matches), truncated=cut)
