"""Writers whose bytes depend only on their input: no timestamps, owners or platform line endings."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

# Zip cannot store dates before 1980; a fixed date keeps archives byte-identical between builds.
ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text with "\\n" line endings, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def to_json(value, *, indent: int | None = 2) -> str:
    """Canonical JSON text: UTF-8 kept, keys in the order given, a final newline."""
    return json.dumps(value, ensure_ascii=False, indent=indent) + "\n"


def zip_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    """A deflated zip of (name, data) members with fixed dates and permissions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # Unix, whatever the building platform
            zf.writestr(info, data)
    return buffer.getvalue()


def tar_gz_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    """A gzipped tar of (name, data) members with mtime 0, owner root and mode 0644."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tf.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def walk_files(root: Path) -> list[Path]:
    """Every regular file under `root`, sorted by its relative POSIX path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            found.append(Path(dirpath, name))
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())
