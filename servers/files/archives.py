"""Zip and tar archives: listing, reading one member, extracting safely, and creating them.

Extraction never trusts member names: absolute names, names with '..', links and special files are
refused before anything is written (zip-slip), every target is confined with `resolve_in_root`, and
files are written with `atomic_write` so an existing file is replaced, never written through.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from dive.servers.kit import (
    Example,
    Fact,
    Items,
    Meaning,
    Takes,
    ToolFailure,
    atomic_write,
    clip_items,
    clip_text,
    no_facts,
    resolve_in_root,
)
from pydantic import BaseModel, Field

from .workspace import (
    DOMAIN,
    SNIFF_BYTES,
    FilesState,
    decode,
    iso_time,
    looks_binary,
    walk_files,
)

#: Extraction limits against archive bombs.
MAX_EXTRACT_BYTES = 200 * 1024 * 1024
MAX_EXTRACT_MEMBERS = 20_000

ArchiveArg = Annotated[str, Field(description="Workspace-relative path of a .zip, .tar, .tar.gz/.tgz, .tar.bz2 or .tar.xz archive")]


@dataclass
class Member:
    name: str
    kind: Literal["file", "directory", "symlink", "hardlink", "other"]
    size: int
    compressed: int | None
    modified: str | None
    link_target: str | None


def archive_format(path: Path) -> str:
    """'zip', 'tar', 'tar.gz', 'tar.bz2' or 'tar.xz', from the file's bytes (not its name)."""
    if zipfile.is_zipfile(path):
        return "zip"
    with path.open("rb") as f:
        head = f.read(6)
    try:
        if tarfile.is_tarfile(path):
            if head.startswith(b"\x1f\x8b"):
                return "tar.gz"
            if head.startswith(b"BZh"):
                return "tar.bz2"
            if head.startswith(b"\xfd7zXZ"):
                return "tar.xz"
            return "tar"
    except (OSError, tarfile.TarError, EOFError):
        pass
    raise ToolFailure(f"{path.name!r} is not a zip or tar archive (file_info shows what it is)")


def members_of(path: Path, fmt: str) -> list[Member]:
    """Every member of an archive, in archive order."""
    out: list[Member] = []
    try:
        if fmt == "zip":
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    mode = (info.external_attr >> 16) & 0o170000
                    if mode == 0o120000:
                        kind = "symlink"
                        target = zf.read(info).decode("utf-8", "replace")
                    else:
                        kind = "directory" if info.is_dir() else ("file" if mode in (0, 0o100000) else "other")
                        target = None
                    modified = dt.datetime(*info.date_time).isoformat() + "Z"
                    out.append(Member(info.filename, kind, info.file_size, info.compress_size, modified, target))
        else:
            with tarfile.open(path) as tf:
                for m in tf.getmembers():
                    kind = ("file" if m.isfile() else "directory" if m.isdir() else "symlink" if m.issym()
                            else "hardlink" if m.islnk() else "other")
                    target = m.linkname if m.issym() or m.islnk() else None
                    out.append(Member(m.name, kind, m.size, None, iso_time(m.mtime), target))
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise ToolFailure(f"cannot read archive {path.name!r}: {exc}") from None
    return out


def unsafe_reason(member: Member) -> str | None:
    """Why extracting this member could write outside the destination (or is refused), or None if it is safe."""
    name = member.name
    if member.kind == "symlink":
        return f"is a symbolic link (to {member.link_target!r}); links are never extracted"
    if member.kind == "hardlink":
        return f"is a hard link (to {member.link_target!r}); links are never extracted"
    if member.kind == "other":
        return "is a device, FIFO or other special file"
    if "\x00" in name:
        return "has a null byte in its name"
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised):
        return "has an absolute name"
    if normalised.startswith("~"):
        return "has a home-relative name"
    if ".." in normalised.split("/"):
        return "has '..' in its name and would land outside the destination"
    if not [p for p in normalised.split("/") if p not in ("", ".")]:
        return "has an empty name"
    return None


def read_member_bytes(path: Path, fmt: str, name: str) -> bytes:
    try:
        if fmt == "zip":
            with zipfile.ZipFile(path) as zf:
                return zf.read(name)
        with tarfile.open(path) as tf:
            fh = tf.extractfile(name)
            if fh is None:
                raise ToolFailure(f"member {name!r} is not a regular file")
            return fh.read()
    except KeyError:
        raise ToolFailure(f"archive has no member {name!r}; list_archive shows the member names") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise ToolFailure(f"cannot read member {name!r}: {exc}") from None


def iter_member_data(path: Path, fmt: str, names: set[str]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of the named file members, reading the archive once."""
    if fmt == "zip":
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.filename in names:
                    yield info.filename, zf.read(info)
        return
    with tarfile.open(path) as tf:
        for m in tf:
            if m.name in names and m.isfile():
                fh = tf.extractfile(m)
                yield m.name, fh.read() if fh is not None else b""


# -- list_archive -----------------------------------------------------------------------------


class ArchiveMember(BaseModel):
    name: str
    kind: Literal["file", "directory", "symlink", "hardlink", "other"]
    size_bytes: int = Field(description="Uncompressed size")
    compressed_bytes: int | None = Field(description="Compressed size (zip only)")
    modified: str | None
    link_target: str | None = Field(description="For links: what they point to")
    unsafe: str | None = Field(description="Why extract_archive would refuse this member, or null if it is safe")


class ArchiveListing(BaseModel):
    path: str
    format: str
    members: list[ArchiveMember]
    total_members: int
    files: int
    total_size_bytes: int = Field(description="Sum of the members' uncompressed sizes")
    unsafe_members: int = Field(description="Members extract_archive would refuse")
    truncated: bool


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("archive", "path")}, facts=(Fact("files", "the number of files in archive {path}"), Fact("total_size_bytes", "the total uncompressed size of the members of archive {path}", unit="bytes")), items=(Items("members", phrase="the members of archive {path}", total="total_members", complete_unless="truncated", name="name", name_type="archive_member", name_by="name", attributes={"size_bytes": "uncompressed size"}, units={"size_bytes": "bytes"}),)), kind="retrieval", examples=[
    Example({"path": "archives/reports_europe.zip"},
            lambda r: r["format"] == "zip" and r["files"] == 5 and any(m["name"] == "FR_cities.csv" for m in r["members"])),
    Example({"path": "archives/bookings_2024_q1.tar.gz"},
            lambda r, w: r["format"] == "tar.gz" and [m["name"] for m in r["members"]] == [f"bookings-2024-0{i}.log" for i in (1, 2, 3)]
            and r["members"][0]["size_bytes"] == (w.files_root / "logs/bookings-2024-01.log").stat().st_size),
])
def list_archive(s: FilesState, path: ArchiveArg) -> ArchiveListing:
    """List the members of a zip or tar archive (names, kinds, sizes, dates) without extracting it, and flag
    members that extraction would refuse as unsafe."""
    f = s.file(path)
    fmt = archive_format(f)
    members = members_of(f, fmt)
    listed = [ArchiveMember(name=m.name, kind=m.kind, size_bytes=m.size, compressed_bytes=m.compressed, modified=m.modified,
                            link_target=m.link_target, unsafe=unsafe_reason(m)) for m in members]
    shown, truncated = clip_items(listed)
    return ArchiveListing(path=s.rel(f), format=fmt, members=shown, total_members=len(members),
                          files=sum(1 for m in members if m.kind == "file"), total_size_bytes=sum(m.size for m in members),
                          unsafe_members=sum(1 for m in listed if m.unsafe), truncated=truncated)


# -- read_archive_member ----------------------------------------------------------------------


class ArchiveMemberText(BaseModel):
    archive: str
    member: str
    size_bytes: int
    lines: int
    text: str
    truncated: bool


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("archive", "path"), "member": Takes("archive_member", "name")}, facts=(Fact("size_bytes", "the size of {member} in archive {path}", unit="bytes"), Fact("lines", "the number of lines in {member} in archive {path}"))), kind="retrieval", examples=[
    Example({"path": "archives/stocks.zip", "member": "stocks/IBM.csv"},
            lambda r, w: r["text"] == (w.files_root / "data/stocks/IBM.csv").read_text()),
    Example({"path": "archives/city_profiles_top20.tar.gz", "member": "city_profiles/shanghai-cn.yaml"},
            lambda r: "name: Shanghai" in r["text"] and r["lines"] > 5),
])
def read_archive_member(
    s: FilesState,
    path: ArchiveArg,
    member: Annotated[str, Field(description="The member's name exactly as list_archive shows it")],
) -> ArchiveMemberText:
    """Read one text member of a zip or tar archive without extracting anything."""
    f = s.file(path)
    fmt = archive_format(f)
    data = read_member_bytes(f, fmt, member)
    if looks_binary(data[:SNIFF_BYTES]):
        raise ToolFailure(f"member {member!r} is binary; extract it with extract_archive and inspect it with file_info or read_bytes")
    text = decode(data)[0]
    body, clipped = clip_text(text)
    return ArchiveMemberText(archive=s.rel(f), member=member, size_bytes=len(data), lines=len(text.splitlines()),
                             text=body, truncated=clipped)


# -- extract_archive --------------------------------------------------------------------------


class ExtractResult(BaseModel):
    archive: str
    destination: str
    files_extracted: int
    directories_created: int
    bytes_extracted: int
    paths: list[str] = Field(description="Workspace-relative paths of the extracted files")
    truncated: bool


def _default_destination(archive_rel: str) -> str:
    name = PurePosixPath(archive_rel)
    stem = name.name
    for ext in (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip", ".tar"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    else:
        stem = name.stem
    return (name.parent / stem).as_posix()


@DOMAIN.tool(meaning=no_facts("changes the workspace; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"path": "archives/reports_europe.zip"},
            lambda r: r["destination"] == "archives/reports_europe" and r["files_extracted"] == 5
            and "archives/reports_europe/FR_cities.csv" in r["paths"]),
    Example({"path": "archives/stocks.zip", "destination": "restored", "members": ["stocks/AAPL.csv"]},
            lambda r: r["paths"] == ["restored/stocks/AAPL.csv"]),
    Example({"path": "archives/bookings_2024_q1.tar.gz", "destination": "logs", "overwrite": True},
            lambda r: r["files_extracted"] == 3 and r["directories_created"] == 0),
])
def extract_archive(
    s: FilesState,
    path: ArchiveArg,
    destination: Annotated[str | None, Field(description="Directory to extract into (created if missing); default: a "
                                             "folder beside the archive named after it")] = None,
    members: Annotated[list[str] | None, Field(description="Only these members (names as list_archive shows; a "
                                               "directory name selects everything under it); default: all")] = None,
    overwrite: Annotated[bool, Field(description="Replace files that already exist at the destination")] = False,
) -> ExtractResult:
    """Extract a zip or tar archive (or chosen members) into a workspace directory. Archives with members
    that would land outside the destination (absolute names, '..', links, special files) are refused
    whole: nothing is extracted."""
    root = s.write_root(path, destination)
    f = s.file(path, root=root)
    fmt = archive_format(f)
    all_members = members_of(f, fmt)
    if members:
        wanted: list[Member] = []
        missing = []
        for name in members:
            prefix = name.rstrip("/") + "/"
            hits = [m for m in all_members if m.name == name or m.name.startswith(prefix)]
            if not hits:
                missing.append(name)
            wanted.extend(h for h in hits if h not in wanted)
        if missing:
            raise ToolFailure(f"archive has no member {', '.join(map(repr, missing))}; list_archive shows the member names")
    else:
        wanted = all_members
    bad = [(m.name, reason) for m in wanted if (reason := unsafe_reason(m))]
    if bad:
        detail = "; ".join(f"{name!r} {reason}" for name, reason in bad[:5])
        raise ToolFailure(f"refused to extract {path!r}: {len(bad)} unsafe member(s): {detail}. Nothing was extracted.")
    if len(wanted) > MAX_EXTRACT_MEMBERS or sum(m.size for m in wanted) > MAX_EXTRACT_BYTES:
        raise ToolFailure(f"refused to extract {path!r}: over the limit of {MAX_EXTRACT_MEMBERS} members or "
                          f"{MAX_EXTRACT_BYTES} bytes uncompressed")
    dest_rel = destination if destination is not None else _default_destination(s.rel(f, root))
    dest = resolve_in_root(root, dest_rel)
    if dest.exists() and not dest.is_dir():
        raise ToolFailure(f"destination {dest_rel!r} is a file, not a directory")
    dest_rel = s.rel(dest, root)
    # Plan every target first: a conflict or escape anywhere means nothing is written.
    plan: dict[str, Path] = {}
    dirs: list[Path] = []
    for m in wanted:
        clean = "/".join(p for p in m.name.replace("\\", "/").split("/") if p not in ("", "."))
        target = resolve_in_root(root, f"{dest_rel}/{clean}")
        if target != dest and dest not in target.parents:
            raise ToolFailure(f"refused to extract {path!r}: member {m.name!r} resolves outside {dest_rel!r}. Nothing was extracted.")
        if m.kind == "directory":
            dirs.append(target)
            continue
        if target.exists() and (target.is_dir() or not overwrite):
            raise ToolFailure(f"{s.rel(target, root)!r} already exists; pass overwrite=true or pick another destination. "
                              "Nothing was extracted.")
        plan[m.name] = target
    needed: set[Path] = set()
    for d in [dest, *dirs, *(t.parent for t in plan.values())]:
        while (d == dest or dest in d.parents) and not d.exists():
            needed.add(d)
            d = d.parent
    for d in sorted(needed, key=lambda p: len(p.parts)):
        d.mkdir(parents=True, exist_ok=True)
    size = 0
    written: list[str] = []
    for name, data in iter_member_data(f, fmt, set(plan)):
        atomic_write(plan[name], data)
        size += len(data)
        written.append(s.rel(plan[name], root))
    shown, truncated = clip_items(sorted(written))
    return ExtractResult(archive=s.rel(f, root), destination=dest_rel, files_extracted=len(written), directories_created=len(needed),
                         bytes_extracted=size, paths=shown, truncated=truncated)


# -- create_archive ---------------------------------------------------------------------------


class CreateArchiveResult(BaseModel):
    destination: str
    format: Literal["zip", "tar.gz", "tar"]
    files: int
    members: list[str] = Field(description="Member names in the archive")
    total_size_bytes: int = Field(description="Sum of the uncompressed sizes of the files")
    archive_bytes: int = Field(description="Size of the archive file")
    truncated: bool


def _format_for(destination: str) -> Literal["zip", "tar.gz", "tar"]:
    lowered = destination.lower()
    if lowered.endswith(".zip"):
        return "zip"
    if lowered.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if lowered.endswith(".tar"):
        return "tar"
    raise ToolFailure(f"destination {destination!r} must end with .zip, .tar.gz, .tgz or .tar (that picks the format)")


@DOMAIN.tool(meaning=no_facts("changes the workspace; its result describes the change"), kind="processing", writes=True, examples=[
    Example({"paths": ["config"], "destination": "out/config.zip"},
            lambda r: r["format"] == "zip" and "config/app.yaml" in r["members"] and "config/env/production.ini" in r["members"]),
    Example({"paths": ["data/stocks/AAPL.csv", "data/stocks/IBM.csv"], "destination": "out/two.tar.gz", "base": "data/stocks"},
            lambda r: r["members"] == ["AAPL.csv", "IBM.csv"] and r["format"] == "tar.gz"),
])
def create_archive(
    s: FilesState,
    paths: Annotated[list[str], Field(min_length=1, description="Files and/or directories to include (directories recursively)")],
    destination: Annotated[str, Field(description="Archive to create; its extension picks the format: .zip, .tar.gz/.tgz or .tar")],
    base: Annotated[str | None, Field(description="Name members relative to this directory (default: their workspace-relative paths)")] = None,
    overwrite: Annotated[bool, Field(description="Replace the destination if it exists")] = False,
) -> CreateArchiveResult:
    """Create a zip or tar.gz archive from workspace files and directories."""
    root = s.write_root(destination, base, *paths)
    fmt = _format_for(destination)
    dest = resolve_in_root(root, destination)
    if dest.exists() and (dest.is_dir() or not overwrite):
        raise ToolFailure(f"{destination!r} already exists; pass overwrite=true to replace it")
    base_dir = s.directory(base, root=root) if base is not None else root
    files: dict[str, Path] = {}
    for user_path in paths:
        start = s.existing(user_path, root=root)
        for p in walk_files(root, start):
            if p == dest:
                continue
            try:
                name = p.relative_to(base_dir).as_posix()
            except ValueError:
                raise ToolFailure(f"{s.rel(p, root)!r} is not inside base {base!r}") from None
            files.setdefault(name, p)
    if not files:
        raise ToolFailure("no files to archive: the given paths hold no regular files")
    names = sorted(files)
    buffer = io.BytesIO()
    if fmt == "zip":
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in names:
                stamp = time.gmtime(max(files[name].stat().st_mtime, 315532800))[:6]  # zip dates start in 1980
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, files[name].read_bytes())
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz" if fmt == "tar.gz" else "w") as tf:
            for name in names:
                data = files[name].read_bytes()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = int(files[name].stat().st_mtime)
                info.mode = 0o644
                tf.addfile(info, io.BytesIO(data))
    blob = buffer.getvalue()
    atomic_write(dest, blob)
    shown, truncated = clip_items(names)
    return CreateArchiveResult(destination=s.rel(dest, root), format=fmt, files=len(names), members=shown,
                               total_size_bytes=sum(files[n].stat().st_size for n in names), archive_bytes=len(blob),
                               truncated=truncated)
