"""Looking around the workspace: listing, tree view, metadata, disk usage, finding and reading files."""

from __future__ import annotations

import base64
import mimetypes
import re
import struct
import zipfile
from pathlib import Path
from typing import Annotated, Any, Literal

from dive.servers.kit import Example, Fact, Items, Meaning, Takes, ToolFailure, clip_text, no_facts
from pydantic import BaseModel, Field

from .workspace import (
    DOMAIN,
    SNIFF_BYTES,
    FilesState,
    decode,
    glob_regex,
    human_size,
    inside,
    iso_time,
    looks_binary,
    read_text,
    walk,
    walk_files,
)

PathArg = Annotated[str, Field(description="Workspace-relative path, e.g. 'data/elements.csv'; '.' is the workspace root")]
DirArg = Annotated[str, Field(description="Workspace-relative directory, e.g. 'reports/europe'; '.' is the workspace root")]
MAX_LINE_CHARS = 500


def _kind(path: Path) -> Literal["file", "directory", "symlink"]:
    if path.is_symlink():
        return "symlink"
    return "directory" if path.is_dir() else "file"


# -- list_directory ---------------------------------------------------------------------------


class DirectoryEntry(BaseModel):
    path: str = Field(description="Workspace-relative path")
    name: str
    kind: Literal["file", "directory", "symlink"]
    size_bytes: int | None = Field(description="File size (of the target for a symlink); null for directories")
    items: int | None = Field(description="Number of direct entries, for directories; null for files")
    modified: str = Field(description="Last modification time, ISO 8601 UTC")
    depth: int = Field(description="1 for direct children of the listed directory, 2 for their children, ...")


class DirectoryListing(BaseModel):
    path: str
    entries: list[DirectoryEntry]
    total: int = Field(description="How many entries matched (before the limit)")
    truncated: bool = Field(description="True when more entries matched than were returned")


def _entry(s: FilesState, path: Path, depth: int) -> DirectoryEntry:
    kind = _kind(path)
    st = path.stat()
    is_dir = path.is_dir()
    items = None
    if is_dir:
        try:
            items = sum(1 for _ in path.iterdir())
        except OSError:
            items = 0
    return DirectoryEntry(path=s.rel(path), name=path.name, kind=kind, size_bytes=None if is_dir else st.st_size,
                          items=items, modified=iso_time(st.st_mtime), depth=depth)


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("directory", "path")}, items=(Items("entries", phrase="the entries of directory {path}", total="total", complete_unless="truncated", name="path", name_type="file", name_by="path", attributes={"size_bytes": "size"}, units={"size_bytes": "bytes"}),)), kind="retrieval", examples=[
    Example({"path": "data"}, lambda r: any(e["name"] == "elements.csv" and e["size_bytes"] > 0 for e in r["entries"])),
    Example({"path": ".", "pattern": "*.csv", "depth": 3, "kind": "file"},
            lambda r: r["total"] > 5 and all(e["name"].endswith(".csv") for e in r["entries"])),
    Example({"path": "data/stocks", "kind": "file", "sort": "size", "descending": True},
            lambda r: [e["size_bytes"] for e in r["entries"]] == sorted((e["size_bytes"] for e in r["entries"]), reverse=True)),
])
def list_directory(
    s: FilesState,
    path: DirArg = ".",
    pattern: Annotated[str | None, Field(description="Only entries whose name matches this glob, e.g. '*.csv' or 'FR_*'")] = None,
    depth: Annotated[int, Field(ge=1, le=10, description="1 lists direct children only; 2 also their children, ...")] = 1,
    kind: Annotated[Literal["all", "file", "directory"], Field(description="Which entries to list")] = "all",
    sort: Annotated[Literal["name", "size", "modified"], Field(description="Order of entries (name: path order)")] = "name",
    descending: Annotated[bool, Field(description="Reverse the order (largest or newest first)")] = False,
    limit: Annotated[int, Field(ge=1, le=500, description="Most entries to return")] = 200,
) -> DirectoryListing:
    """List a directory's entries with their kind, size, item count and modification time.

    Use `depth` to include subdirectories' contents, `pattern` to filter by name glob, and `sort`
    to order by size or modification time. To search a whole subtree by name, use find_files.
    """
    root = s.read_root
    start = s.directory(path)
    entries: list[DirectoryEntry] = []
    for p, is_dir, d in walk(root, start, max_depth=depth):
        if kind == "file" and is_dir or kind == "directory" and not is_dir:
            continue
        if pattern and not glob_regex(pattern).fullmatch(p.name):
            continue
        entries.append(_entry(s, p, d))
    if sort == "size":
        entries.sort(key=lambda e: (e.size_bytes if e.size_bytes is not None else -1, e.path), reverse=descending)
    elif sort == "modified":
        entries.sort(key=lambda e: (e.modified, e.path), reverse=descending)
    elif descending:
        entries.reverse()
    return DirectoryListing(path=s.rel(start), entries=entries[:limit], total=len(entries), truncated=len(entries) > limit)


# -- directory_tree ---------------------------------------------------------------------------


class TreeResult(BaseModel):
    path: str
    tree: str = Field(description="An indented drawing of the tree; directories end with '/'")
    directories: int = Field(description="Directories shown")
    files: int = Field(description="Files shown")
    truncated: bool


MAX_TREE_LINES = 1500


@DOMAIN.tool(meaning=no_facts("draws the tree as text; its counts cover only the levels drawn (file_info and disk_usage count a whole tree)", path=Takes("directory", "path")), kind="retrieval", examples=[
    Example({"path": ".", "max_depth": 1}, lambda r: "data/" in r["tree"] and "logs/" in r["tree"] and r["files"] == 0 or r["directories"] >= 5),
    Example({"path": "data", "max_depth": 2, "show_sizes": True}, lambda r: "elements.csv" in r["tree"] and "stocks/" in r["tree"] and "B)" in r["tree"]),
])
def directory_tree(
    s: FilesState,
    path: DirArg = ".",
    max_depth: Annotated[int, Field(ge=1, le=8, description="How many levels to draw")] = 3,
    directories_only: Annotated[bool, Field(description="Draw directories only")] = False,
    show_sizes: Annotated[bool, Field(description="Show each file's size")] = False,
) -> TreeResult:
    """Draw the directory tree under a path (like the `tree` command), with directory and file counts.

    Directories cut off by `max_depth` show how many entries they hold.
    """
    root = s.read_root
    start = s.directory(path)
    lines = [f"{s.rel(start)}/" if s.rel(start) != "." else "./"]
    counts = {"dirs": 0, "files": 0}
    truncated = False

    def draw(directory: Path, prefix: str, level: int) -> None:
        nonlocal truncated
        children = [p for p in sorted(directory.iterdir(), key=lambda p: p.name)
                    if not (p.is_symlink() and not inside(root, p))]
        if directories_only:
            children = [p for p in children if p.is_dir()]
        for i, child in enumerate(children):
            if len(lines) >= MAX_TREE_LINES:
                truncated = True
                return
            last = i == len(children) - 1
            branch = "└── " if last else "├── "
            if child.is_dir() and not child.is_symlink():
                counts["dirs"] += 1
                if level >= max_depth:
                    n = sum(1 for _ in child.iterdir())
                    lines.append(f"{prefix}{branch}{child.name}/ [{n} {'entry' if n == 1 else 'entries'}]")
                else:
                    lines.append(f"{prefix}{branch}{child.name}/")
                    draw(child, prefix + ("    " if last else "│   "), level + 1)
            else:
                counts["files"] += 1
                size = f" ({human_size(child.stat().st_size)})" if show_sizes else ""
                arrow = " -> (symlink)" if child.is_symlink() else ""
                lines.append(f"{prefix}{branch}{child.name}{size}{arrow}")

    draw(start, "", 1)
    text, clipped = clip_text("\n".join(lines))
    return TreeResult(path=s.rel(start), tree=text, directories=counts["dirs"], files=counts["files"],
                      truncated=truncated or clipped)


# -- file_info --------------------------------------------------------------------------------


class FileInfo(BaseModel):
    path: str
    kind: Literal["file", "directory", "symlink"]
    size_bytes: int = Field(description="File size; for a directory, the total size of the files under it")
    size_human: str
    modified: str = Field(description="Last modification time, ISO 8601 UTC")
    extension: str = Field(description="File extension including the dot ('.tar.gz' counts as one), '' if none")
    mime_type: str | None = Field(description="MIME type guessed from the extension")
    detected_type: str = Field(description="Type detected from the file's first bytes (magic number), e.g. 'PNG image', 'text'")
    is_text: bool
    encoding: str | None = Field(description="Text encoding for text files ('utf-8' or 'latin-1')")
    line_count: int | None = Field(description="Number of lines, for text files")
    items: int | None = Field(description="For directories: number of files under it, at any depth")
    symlink_target: str | None = Field(description="For symlinks: the workspace-relative target")
    details: dict[str, Any] = Field(description="Format facts read from the header: image width/height, audio "
                                    "sample rate/channels/duration, archive member count")


_MAGIC: list[tuple[bytes, int, str, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "PNG image", "image/png"),
    (b"\xff\xd8\xff", 0, "JPEG image", "image/jpeg"),
    (b"GIF87a", 0, "GIF image", "image/gif"),
    (b"GIF89a", 0, "GIF image", "image/gif"),
    (b"%PDF-", 0, "PDF document", "application/pdf"),
    (b"PK\x03\x04", 0, "ZIP archive", "application/zip"),
    (b"PK\x05\x06", 0, "ZIP archive", "application/zip"),
    (b"\x1f\x8b", 0, "gzip compressed data", "application/gzip"),
    (b"BZh", 0, "bzip2 compressed data", "application/x-bzip2"),
    (b"\xfd7zXZ\x00", 0, "xz compressed data", "application/x-xz"),
    (b"SQLite format 3\x00", 0, "SQLite database", "application/vnd.sqlite3"),
    (b"\x7fELF", 0, "ELF executable", "application/x-executable"),
    (b"ustar", 257, "tar archive", "application/x-tar"),
    (b"OggS", 0, "Ogg media", "audio/ogg"),
    (b"ID3", 0, "MP3 audio", "audio/mpeg"),
]


def detect_type(head: bytes) -> tuple[str, str | None]:
    """What the first bytes of a file say it is, and the matching MIME type."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "WAV audio", "audio/wav"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP image", "image/webp"
    for magic, offset, name, mime in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return name, mime
    if not head:
        return "empty", None
    if looks_binary(head):
        return "binary data", "application/octet-stream"
    text = head.lstrip()
    if text[:1] in (b"{", b"["):
        return "JSON text" if text[:1] == b"{" or text[1:2] in (b"{", b"[", b'"', b"]") else "text", None
    if text[:5].lower() in (b"<!doc", b"<html"):
        return "HTML document", "text/html"
    return "text", None


def extension_of(name: str) -> str:
    lowered = name.lower()
    for double in (".tar.gz", ".tar.bz2", ".tar.xz"):
        if lowered.endswith(double):
            return name[-len(double):]
    return Path(name).suffix


def _details(path: Path, head: bytes, detected: str) -> dict[str, Any]:
    try:
        if detected == "PNG image" and len(head) >= 24:
            width, height = struct.unpack(">II", head[16:24])
            return {"width": width, "height": height, "bit_depth": head[24], "color_type": head[25]}
        if detected == "GIF image" and len(head) >= 10:
            width, height = struct.unpack("<HH", head[6:10])
            return {"width": width, "height": height}
        if detected == "JPEG image":
            return _jpeg_size(path)
        if detected == "WAV audio":
            return _wav_details(path)
        if detected == "ZIP archive":
            with zipfile.ZipFile(path) as zf:
                return {"members": len(zf.infolist())}
    except (OSError, struct.error, zipfile.BadZipFile, ValueError):
        return {}
    return {}


def _jpeg_size(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return {"width": width, "height": height}
        i += 2 + length
    return {}


def _wav_details(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    pos, fmt, frames = 12, None, None
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if chunk == b"fmt ":
            fmt = struct.unpack("<HHIIHH", data[pos + 8:pos + 24])
        elif chunk == b"data":
            frames = size
        pos += 8 + size + (size & 1)
    if fmt is None:
        return {}
    _codec, channels, rate, _byte_rate, block_align, bits = fmt
    out: dict[str, Any] = {"channels": channels, "sample_rate": rate, "bits_per_sample": bits}
    if frames is not None and block_align:
        out["duration_s"] = round(frames / block_align / rate, 3)
    return out


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("file", "path")}, facts=(Fact("size_bytes", "the size of {path}", unit="bytes"), Fact("line_count", "the number of lines in {path}"), Fact("items", "the number of files under {path}"), Fact("details.width", "the width of image {path}", unit="pixels"), Fact("details.height", "the height of image {path}", unit="pixels"), Fact("details.sample_rate", "the sample rate of audio file {path}", unit="Hz"), Fact("details.duration_s", "the duration of audio file {path}", unit="seconds"), Fact("details.members", "the number of members of zip archive {path}"))), kind="retrieval", examples=[
    Example({"path": "data/elements.csv"}, lambda r: r["is_text"] and r["line_count"] > 100 and r["extension"] == ".csv"),
    Example({"path": "archives"}, lambda r: r["kind"] == "directory" and r["items"] >= 1),
])
def file_info(s: FilesState, path: PathArg) -> FileInfo:
    """Metadata of a file or directory: size, modification time, extension, MIME type, the type its bytes
    reveal (magic number), text encoding and line count, and header facts such as image dimensions or
    audio sample rate. For a directory: total size and number of files under it."""
    root = s.read_root
    target = s.existing(path)
    link = s.target(path, root=root)
    symlink_target = s.rel(target) if link.is_symlink() else None
    kind = "symlink" if link.is_symlink() else ("directory" if target.is_dir() else "file")
    st = target.stat()
    if target.is_dir():
        files = list(walk_files(root, target))
        size = sum(f.stat().st_size for f in files)
        return FileInfo(path=s.rel(link), kind=kind, size_bytes=size, size_human=human_size(size), modified=iso_time(st.st_mtime),
                        extension="", mime_type=None, detected_type="directory", is_text=False, encoding=None, line_count=None,
                        items=len(files), symlink_target=symlink_target, details={})
    with target.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    detected, magic_mime = detect_type(head)
    is_text = detected in ("text", "JSON text", "HTML document", "empty")
    encoding = line_count = None
    if is_text:
        data = target.read_bytes()
        text, encoding = decode(data)
        line_count = len(text.splitlines())
    mime = mimetypes.guess_type(target.name)[0] or magic_mime
    return FileInfo(path=s.rel(link), kind=kind, size_bytes=st.st_size, size_human=human_size(st.st_size),
                    modified=iso_time(st.st_mtime), extension=extension_of(target.name), mime_type=mime,
                    detected_type=detected, is_text=is_text, encoding=encoding, line_count=line_count, items=None,
                    symlink_target=symlink_target, details=_details(target, head, detected))


# -- disk_usage -------------------------------------------------------------------------------


class UsageGroup(BaseModel):
    name: str = Field(description="Subdirectory name ('(files here)' for files directly inside) or extension ('(none)')")
    files: int
    bytes: int
    percent: float = Field(description="Share of the total bytes, in percent")


class SizedFile(BaseModel):
    path: str
    size_bytes: int


class DiskUsage(BaseModel):
    path: str
    total_bytes: int
    total_human: str
    files: int
    directories: int
    group_by: str
    groups: list[UsageGroup] = Field(description="Largest first")
    largest_files: list[SizedFile] = Field(description="The five largest files")


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("directory", "path")}, facts=(Fact("total_bytes", "the total size of the files under {path}", unit="bytes"), Fact("files", "the number of files under {path}"), Fact("directories", "the number of directories under {path}")), items=(Items("largest_files", phrase="the five largest files under {path}", name="path", name_type="file", name_by="path", attributes={"size_bytes": "size"}, units={"size_bytes": "bytes"}),)), kind="retrieval", examples=[
    Example({"path": "."}, lambda r: r["files"] > 20 and sum(g["bytes"] for g in r["groups"]) == r["total_bytes"]),
    Example({"path": "data", "group_by": "extension"}, lambda r: any(g["name"] == ".csv" for g in r["groups"])),
])
def disk_usage(
    s: FilesState,
    path: DirArg = ".",
    group_by: Annotated[Literal["subdirectory", "extension"], Field(description="Break the total down by direct "
                        "subdirectory or by file extension")] = "subdirectory",
) -> DiskUsage:
    """Summarise how much space a directory takes: total bytes, file and directory counts, a breakdown by
    subdirectory or by extension (largest first), and the five largest files."""
    root = s.read_root
    start = s.directory(path)
    groups: dict[str, list[int]] = {}
    sizes: list[tuple[int, str]] = []
    dirs = 0
    for p, is_dir, _depth in walk(root, start):
        if is_dir:
            dirs += 1
            continue
        if not p.is_file():
            continue
        size = p.stat().st_size
        sizes.append((size, s.rel(p)))
        if group_by == "extension":
            key = extension_of(p.name).lower() or "(none)"
        else:
            rel = p.relative_to(start).parts
            key = rel[0] if len(rel) > 1 else "(files here)"
        bucket = groups.setdefault(key, [0, 0])
        bucket[0] += 1
        bucket[1] += size
    total = sum(size for size, _ in sizes)
    out = [UsageGroup(name=k, files=v[0], bytes=v[1], percent=round(100 * v[1] / total, 2) if total else 0.0)
           for k, v in groups.items()]
    out.sort(key=lambda g: (-g.bytes, g.name))
    largest = sorted(sizes, key=lambda t: (-t[0], t[1]))[:5]
    return DiskUsage(path=s.rel(start), total_bytes=total, total_human=human_size(total), files=len(sizes), directories=dirs,
                     group_by=group_by, groups=out, largest_files=[SizedFile(path=p, size_bytes=n) for n, p in largest])


# -- find_files -------------------------------------------------------------------------------


class FoundPath(BaseModel):
    path: str
    kind: Literal["file", "directory", "symlink"]
    size_bytes: int | None


class FindResult(BaseModel):
    pattern: str
    matches: list[FoundPath]
    total: int
    truncated: bool


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("directory", "path")}, items=(Items("matches", phrase="the files under {path} whose names match {pattern}", total="total", complete_unless="truncated", name="path", name_type="file", name_by="path", attributes={"size_bytes": "size"}, units={"size_bytes": "bytes"}),)), kind="retrieval", examples=[
    Example({"pattern": "*.yaml", "path": "profiles"}, lambda r: r["total"] > 10 and all(m["path"].endswith(".yaml") for m in r["matches"])),
    Example({"pattern": "**/FR*"}, lambda r: any(m["path"].endswith("FR.json") for m in r["matches"])),
    Example({"pattern": "*.log", "min_size": 1}, lambda r: r["total"] == 13 and {f"logs/bookings-2024-{m:02d}.log" for m in range(1, 13)} < {m["path"] for m in r["matches"]}),
])
def find_files(
    s: FilesState,
    pattern: Annotated[str, Field(description="Glob on the name ('*.csv', 'FR_*'); with '/' it is matched against "
                                  "the path relative to `path` ('europe/*.csv', '**/paris*.md')")],
    path: DirArg = ".",
    kind: Annotated[Literal["file", "directory", "any"], Field(description="What to find")] = "file",
    ignore_case: Annotated[bool, Field(description="Match the pattern case-insensitively")] = False,
    min_size: Annotated[int | None, Field(ge=0, description="Only files of at least this many bytes")] = None,
    max_size: Annotated[int | None, Field(ge=0, description="Only files of at most this many bytes")] = None,
    limit: Annotated[int, Field(ge=1, le=500, description="Most matches to return")] = 200,
) -> FindResult:
    """Find files (or directories) anywhere under a directory by name glob, optionally filtered by size.
    To search inside files, use search_content."""
    root = s.read_root
    start = s.directory(path)
    regex = glob_regex(pattern, ignore_case)
    matches: list[FoundPath] = []
    for p, is_dir, _depth in walk(root, start):
        if kind == "file" and is_dir or kind == "directory" and not is_dir:
            continue
        subject = p.relative_to(start).as_posix() if "/" in pattern else p.name
        if not regex.fullmatch(subject):
            continue
        size = None if is_dir else p.stat().st_size
        if size is not None and (min_size is not None and size < min_size or max_size is not None and size > max_size):
            continue
        if is_dir and (min_size is not None or max_size is not None):
            continue
        matches.append(FoundPath(path=s.rel(p), kind=_kind(p), size_bytes=size))
    return FindResult(pattern=pattern, matches=matches[:limit], total=len(matches), truncated=len(matches) > limit)


# -- search_content ---------------------------------------------------------------------------


class ContentMatch(BaseModel):
    path: str
    line_number: int = Field(description="1-based")
    line: str
    before: list[str] = Field(description="Context lines before the match")
    after: list[str] = Field(description="Context lines after the match")


class FileMatchCount(BaseModel):
    path: str
    matches: int = Field(description="Matching lines in this file")


class SearchResult(BaseModel):
    pattern: str
    matches: list[ContentMatch]
    total_matches: int = Field(description="Matching lines in all files searched (including those not returned)")
    files: list[FileMatchCount] = Field(description="Files with at least one match, with their counts (at most 500)")
    files_total: int = Field(description="Files with at least one match, including those not listed")
    files_searched: int
    truncated: bool


#: Files `search_content` lists with their counts.
MAX_FILES_LISTED = 500


def compile_pattern(pattern: str, *, regex: bool, ignore_case: bool, whole_word: bool = False) -> re.Pattern[str]:
    """A user's search pattern as a compiled regex, with a clear error when it does not compile. `whole_word`:
    it matches only where no letter, digit or underscore adjoins it."""
    text = pattern if regex else re.escape(pattern)
    if whole_word:
        text = rf"(?<!\w)(?:{text})(?!\w)"
    try:
        return re.compile(text, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ToolFailure(f"invalid regular expression {pattern!r}: {exc}; set regex=false to search for it literally") from None


def _clip_line(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…"


#: A world entity's name searched for in the files: literally, as whole words ('Niger' is not in 'Nigeria').
_AS_TEXT = {"regex": False, "whole_word": True}


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("file", "path"), "pattern": Takes("entity", "name", sets={"path": ".", **_AS_TEXT})},
    facts=(Fact("total_matches", "the number of lines in {path} that mention {pattern}"),),
    items=(Items("files", phrase="the files in {path} that mention {pattern}", name="path", name_type="file",
                 name_by="path", total="files_total", attributes={"matches": "number of matching lines"}),)),
    kind="retrieval", examples=[
    Example({"pattern": "Hydrogen", "path": "data", "include": "*.csv"},
            lambda r: r["total_matches"] >= 1 and r["matches"][0]["path"] == "data/elements.csv"),
    Example({"pattern": "error", "path": "logs", "ignore_case": True, "context_lines": 1, "max_matches": 5},
            lambda r: r["total_matches"] >= 1 and len(r["matches"]) <= 5 and len(r["files"]) >= 1),
])
def search_content(
    s: FilesState,
    pattern: Annotated[str, Field(description="Regular expression (Python syntax) or, with regex=false, literal text")],
    path: Annotated[str, Field(description="File or directory to search (recursively)")] = ".",
    include: Annotated[str | None, Field(description="Only search files whose name matches this glob, e.g. '*.md'")] = None,
    regex: Annotated[bool, Field(description="Treat `pattern` as a regular expression (false: literal text)")] = True,
    ignore_case: Annotated[bool, Field(description="Match letters case-insensitively")] = False,
    whole_word: Annotated[bool, Field(description="Match only where the pattern is not part of a longer word")] = False,
    context_lines: Annotated[int, Field(ge=0, le=5, description="Lines of context before and after each match")] = 0,
    max_matches: Annotated[int, Field(ge=1, le=500, description="Most matching lines to return")] = 100,
) -> SearchResult:
    """Search file contents (like grep): every line matching a pattern, with its file, line number and
    optional context, plus a per-file match count. Binary files are skipped."""
    root = s.read_root
    start = s.existing(path)
    rx = compile_pattern(pattern, regex=regex, ignore_case=ignore_case, whole_word=whole_word)
    # A file the pattern matches nowhere in is passed over without splitting it into lines; a pattern anchored to
    # a line's start or end ('^', '$') is tried line by line everywhere, as the whole text has other line ends.
    whole_text = not regex or not re.search(r"[\^$]|\\[AZ]", pattern)
    literal = not regex and not ignore_case
    matches: list[ContentMatch] = []
    per_file: list[FileMatchCount] = []
    searched = total = 0
    for f in walk_files(root, start, include):
        if f.stat().st_size > 20 * 1024 * 1024:
            continue
        data = f.read_bytes()
        if looks_binary(data[:SNIFF_BYTES]):
            continue
        searched += 1
        text = decode(data)[0]
        if (pattern not in text) if literal else (whole_text and not rx.search(text)):
            continue
        lines = text.splitlines()
        count = 0
        for i, line in enumerate(lines):
            if not rx.search(line):
                continue
            count += 1
            if len(matches) < max_matches:
                before = lines[max(0, i - context_lines):i] if context_lines else []
                after = lines[i + 1:i + 1 + context_lines] if context_lines else []
                matches.append(ContentMatch(path=s.rel(f), line_number=i + 1, line=_clip_line(line),
                                            before=[_clip_line(x) for x in before], after=[_clip_line(x) for x in after]))
        if count:
            per_file.append(FileMatchCount(path=s.rel(f), matches=count))
            total += count
    return SearchResult(pattern=pattern, matches=matches, total_matches=total, files=per_file[:MAX_FILES_LISTED],
                        files_total=len(per_file), files_searched=searched, truncated=total > len(matches))


# -- read_file --------------------------------------------------------------------------------


class ReadResult(BaseModel):
    path: str
    text: str
    start_line: int = Field(description="Line number of the first line returned (1-based)")
    end_line: int = Field(description="Line number of the last line returned")
    total_lines: int
    encoding: str
    has_more: bool = Field(description="True when the file continues after end_line")
    truncated: bool = Field(description="True when the text was clipped to the character limit")


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("file", "path")}, facts=(Fact("total_lines", "the number of lines in {path}"),)), kind="retrieval", examples=[
    Example({"path": "data/elements.csv", "max_lines": 3},
            lambda r: r["start_line"] == 1 and r["end_line"] == 3 and r["text"].count("\n") == 3 and "Hydrogen" in r["text"]),
    Example({"path": "data/elements.csv", "tail": 2}, lambda r: r["end_line"] == r["total_lines"] and not r["has_more"]),
    Example({"path": "data/elements.csv", "start_line": 27, "max_lines": 1}, lambda r: "Fe" in r["text"] and "Iron" in r["text"]),
])
def read_file(
    s: FilesState,
    path: PathArg,
    start_line: Annotated[int, Field(ge=1, description="First line to return (1-based)")] = 1,
    max_lines: Annotated[int, Field(ge=1, le=5000, description="Most lines to return")] = 200,
    tail: Annotated[int | None, Field(ge=1, le=5000, description="Return the last N lines instead (overrides start_line)")] = None,
) -> ReadResult:
    """Read a text file, a range of lines at a time: `start_line`/`max_lines` for the head or any range,
    `tail` for the last lines. The result says the total line count and whether more follows."""
    f = s.file(path)
    text, encoding = read_text(f, path)
    lines = text.splitlines(keepends=True)
    total = len(lines)
    if tail is not None:
        first = max(0, total - tail)
        chosen = lines[first:]
    else:
        if total and start_line > total:
            raise ToolFailure(f"{path!r} has {total} lines; start_line {start_line} is past the end")
        first = start_line - 1
        chosen = lines[first:first + max_lines]
    body, clipped = clip_text("".join(chosen))
    end = first + len(chosen)
    return ReadResult(path=s.rel(f), text=body, start_line=first + 1 if chosen else 0, end_line=end, total_lines=total,
                      encoding=encoding, has_more=end < total, truncated=clipped)


# -- read_bytes -------------------------------------------------------------------------------


class BytesResult(BaseModel):
    path: str
    offset: int
    length: int = Field(description="Bytes actually returned")
    size_bytes: int = Field(description="Size of the whole file")
    encoding: Literal["hex", "base64", "text"]
    data: str
    eof: bool = Field(description="True when the range reaches the end of the file")


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("file", "path")}, facts=(Fact("size_bytes", "the size of {path}", unit="bytes"),)), kind="retrieval", examples=[
    Example({"path": "data/elements.csv", "length": 6, "encoding": "text"}, lambda r: r["length"] == 6 and len(r["data"]) == 6),
    Example({"path": "archives/stocks.zip", "length": 4}, lambda r: r["data"] == "504b0304" and not r["eof"]),
])
def read_bytes(
    s: FilesState,
    path: PathArg,
    offset: Annotated[int, Field(ge=0, description="Byte offset to start at")] = 0,
    length: Annotated[int, Field(ge=1, le=65536, description="Number of bytes to read")] = 256,
    encoding: Annotated[Literal["hex", "base64", "text"], Field(description="How to return the bytes: hex digits, "
                        "base64, or text (UTF-8, undecodable bytes replaced)")] = "hex",
) -> BytesResult:
    """Read a byte range of any file, binary or text, as hex, base64 or text; use it to inspect headers
    of binary files or to page through files too large for read_file."""
    f = s.file(path)
    size = f.stat().st_size
    if offset > size:
        raise ToolFailure(f"offset {offset} is past the end of {path!r} ({size} bytes)")
    with f.open("rb") as fh:
        fh.seek(offset)
        chunk = fh.read(length)
    if encoding == "hex":
        data = chunk.hex()
    elif encoding == "base64":
        data = base64.b64encode(chunk).decode("ascii")
    else:
        data = chunk.decode("utf-8", errors="replace")
    return BytesResult(path=s.rel(f), offset=offset, length=len(chunk), size_bytes=size, encoding=encoding, data=data,
                       eof=offset + len(chunk) >= size)
