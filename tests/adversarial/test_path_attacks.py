"""Path attacks on every path argument of the files and media tools: a secret folder outside every workspace is
aimed at in every spelling a caller could try (absolute, traversal, Windows, home-relative, doubled slashes, null
bytes, lone surrogates) and in spellings that only look like a way out (percent-encoded, fullwidth or Unicode dots,
'....'). The first kind is refused with the reason; the second names a file inside the workspace. Either way
nothing outside is read, written, moved or deleted, and no error shows where the session lives on the host.

Symlinks planted in a session and hostile archives are in tests/servers/files/test_files_security.py and
tests/servers/media/test_media_tools.py; these attempts are the paths a caller types."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from dive.env import ClientPool
from dive.servers import get_domain

pytestmark = pytest.mark.anyio

TOKEN = f"TOP-SECRET-{uuid.uuid4().hex}"
#: What a refused path's error says, one of these.
REFUSALS = ("'..' is not allowed", "absolute paths", "home-relative", "null byte", "not valid Unicode",
            "leaves the workspace", "too long", "must end with one of")


def refused_forms(target: str) -> list[str]:
    """Spellings of the absolute path `target` that reach it from any workspace if confinement failed."""
    rel = target.lstrip("/")
    up = "../" * 16
    return [
        target, "/" + target, target.replace("/", "//"), "/./" + rel, up + rel, "./" + up + rel,
        "data/" + up + rel, "..\\" * 16 + rel.replace("/", "\\"), "..//" * 16 + rel, "./../" * 16 + rel,
        up + rel + "/.", "data/./.." + "/.." * 15 + "/" + rel, "~/" + up + rel, "~root/" + rel,
        "C:\\" + rel.replace("/", "\\"), "c:/" + rel, "\\\\server\\share\\" + rel.replace("/", "\\"),
        target + "\x00.txt", up + rel + "\x00", "\udc2e\udc2e/" + rel, ".." + "/" * 3 + up + rel,
    ]


def literal_forms(target: str) -> list[str]:
    """Spellings that look like a way out but are names inside the workspace (nothing decodes or normalises them)."""
    rel = target.lstrip("/")
    return [
        "%2e%2e/" * 16 + rel, "%2e%2e%2f" * 16 + rel.replace("/", "%2f"), "....//" * 16 + rel, "..../" * 16 + rel,
        "\uff0e\uff0e/" * 16 + rel, "..\u2215" * 16 + rel, ". ./" * 16 + rel, "..;/" * 16 + rel,
        "file:" + target,
    ]


@pytest.fixture(scope="module")
def outside(world, tmp_path_factory) -> Path:
    """A folder outside every workspace holding one secret file of each kind the tools read."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "secret.txt").write_text(f"{TOKEN}\nroot@example.com\n")
    (folder / "secret.csv").write_text(f"name,value\n{TOKEN},1\n")
    (folder / "secret.json").write_text(f'{{"a": "{TOKEN}"}}')
    (folder / "secret.md").write_text(f"# {TOKEN}\n\n[x](secret.txt)\n")
    (folder / "secret.log").write_text(f"2024-01-01T00:00:00Z INFO boot {TOKEN}\n")
    shutil.copy(world.files_root / "archives" / "stocks.zip", folder / "secret.zip")
    shutil.copy(world.media_root / "images" / "swatch_red.png", folder / "secret.png")
    shutil.copy(world.media_root / "audio" / "tone_iron.wav", folder / "secret.wav")
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


# (tool, arguments with "@" where the attacked path goes, the outside file the path names).
# A "+" target is a new name in the outside folder (a write would create it); "." is the folder itself.
FILES_SLOTS: list[tuple[str, dict[str, Any], str]] = [
    ("read_file", {"path": "@"}, "secret.txt"), ("read_bytes", {"path": "@"}, "secret.txt"),
    ("file_checksum", {"path": "@"}, "secret.txt"), ("file_info", {"path": "@"}, "secret.txt"),
    ("text_counts", {"path": "@"}, "secret.txt"), ("word_frequency", {"path": "@"}, "secret.txt"),
    ("extract_patterns", {"path": "@", "kind": "email"}, "secret.txt"),
    ("csv_describe", {"path": "@"}, "secret.csv"), ("csv_query", {"path": "@"}, "secret.csv"),
    ("csv_column_stats", {"path": "@", "column": "value"}, "secret.csv"),
    ("csv_group_by", {"path": "@", "group_by": ["name"]}, "secret.csv"),
    ("get_value", {"path": "@", "key_path": "a"}, "secret.json"), ("describe_structure", {"path": "@"}, "secret.json"),
    ("find_in_data", {"path": "@", "text": "SECRET"}, "secret.json"),
    ("markdown_outline", {"path": "@"}, "secret.md"), ("markdown_links", {"path": "@"}, "secret.md"),
    ("markdown_section", {"path": "@", "heading": TOKEN}, "secret.md"),
    ("filter_log", {"path": "@"}, "secret.log"), ("log_summary", {"path": "@"}, "secret.log"),
    ("list_archive", {"path": "@"}, "secret.zip"), ("read_archive_member", {"path": "@", "member": "x"}, "secret.zip"),
    ("list_directory", {"path": "@"}, "."), ("directory_tree", {"path": "@"}, "."), ("disk_usage", {"path": "@"}, "."),
    ("find_files", {"pattern": "*", "path": "@"}, "."), ("search_content", {"pattern": TOKEN, "path": "@"}, "."),
    ("find_duplicates", {"path": "@"}, "."), ("compare_directories", {"a": "data", "b": "@"}, "."),
    ("diff_files", {"a": "README.md", "b": "@"}, "secret.txt"),
    ("compare_configs", {"a": "config/env/staging.ini", "b": "@"}, "secret.json"),
    ("copy_path", {"source": "@", "destination": "stolen.txt"}, "secret.txt"),
    ("convert_file", {"source": "@", "destination": "stolen.json"}, "secret.csv"),
    ("extract_archive", {"path": "@", "destination": "stolen"}, "secret.zip"),
    ("create_archive", {"paths": ["@"], "destination": "stolen.zip"}, "."),
    ("write_file", {"path": "@", "content": "pwned"}, "+new.txt"),
    ("write_file", {"path": "@", "content": "pwned", "overwrite": True}, "secret.txt"),
    ("append_file", {"path": "@", "content": "pwned"}, "secret.txt"),
    ("replace_in_file", {"path": "@", "find": "SECRET", "replace": "x"}, "secret.txt"),
    ("create_directory", {"path": "@"}, "+newdir"),
    ("copy_path", {"source": "README.md", "destination": "@"}, "+copied.md"),
    ("move_path", {"source": "README.md", "destination": "@"}, "+moved.md"),
    ("move_path", {"source": "@", "destination": "taken.txt"}, "secret.txt"),
    ("delete_file", {"path": "@"}, "secret.txt"), ("delete_directory", {"path": "@", "recursive": True}, "."),
    ("convert_file", {"source": "data/elements.csv", "destination": "@"}, "+converted.json"),
    ("create_archive", {"paths": ["data"], "destination": "@"}, "+archive.zip"),
    ("extract_archive", {"path": "archives/stocks.zip", "destination": "@"}, "+unpacked"),
]

MEDIA_SLOTS: list[tuple[str, dict[str, Any], str]] = [
    ("image_info", {"path": "@"}, "secret.png"), ("read_image_metadata", {"path": "@"}, "secret.png"),
    ("sample_pixels", {"path": "@", "points": [[0, 0]]}, "secret.png"),
    ("image_color_stats", {"path": "@"}, "secret.png"), ("dominant_colors", {"path": "@"}, "secret.png"),
    ("perceptual_hash", {"path": "@"}, "secret.png"), ("image_histogram", {"path": "@"}, "secret.png"),
    ("compare_images", {"path_a": "images/swatch_red.png", "path_b": "@"}, "secret.png"),
    ("combine_images", {"paths": ["images/swatch_red.png", "@"]}, "secret.png"),
    ("overlay_image", {"base": "images/swatch_red.png", "overlay": "@"}, "secret.png"),
    ("wav_info", {"path": "@"}, "secret.wav"), ("audio_loudness", {"path": "@"}, "secret.wav"),
    ("dominant_frequency", {"path": "@"}, "secret.wav"),
    ("concat_audio", {"paths": ["audio/tone_iron.wav", "@"]}, "secret.wav"),
    ("chart_from_csv", {"path": "@", "x_column": "name", "y_columns": ["value"]}, "secret.csv"),
    ("list_media", {"folder": "@"}, "."),
    ("resize_image", {"path": "images/swatch_red.png", "width": 8, "output": "@"}, "+resized.png"),
    ("convert_image", {"path": "images/swatch_red.png", "format": "png", "output": "@"}, "secret.png"),
    ("generate_tone", {"frequency_hz": 440, "duration_s": 0.1, "sample_rate": 8000, "output": "@"}, "+tone.wav"),
    ("render_text_image", {"text": "x", "output": "@"}, "+text.png"),
    ("bar_chart", {"labels": ["a"], "values": [1], "output": "@"}, "+chart.png"),
    ("trim_audio", {"path": "audio/tone_iron.wav", "start": 0, "end": 0.1, "output": "@"}, "secret.wav"),
]


def fill(args: dict[str, Any], path: str) -> dict[str, Any]:
    return {k: ([path if x == "@" else x for x in v] if isinstance(v, list) else path if v == "@" else v)
            for k, v in args.items()}


async def attack(domain: str, slots, world, outside: Path) -> int:
    server = get_domain(domain).create_server(world)
    before = snapshot(outside)
    attempts = 0
    try:
        for tool, args, name in slots:
            target = str(outside if name == "." else outside / name.lstrip("+"))
            # Each tool gets a session of its own, so what a literal write made cannot confuse the next tool.
            async with ClientPool(servers={domain: server.mcp}) as pool:
                for form in refused_forms(target):
                    rec = await pool.call(tool, fill(args, form))
                    attempts += 1
                    assert rec.is_error, f"{tool} took {form!r}: {rec.result}"
                    assert any(r in rec.error for r in REFUSALS), f"{tool} {form!r}: {rec.error}"
                    assert TOKEN not in rec.error and str(server.sessions.root) not in rec.error, rec.error
                for form in literal_forms(target):
                    rec = await pool.call(tool, fill(args, form))
                    attempts += 1
                    shown = rec.error if rec.is_error else str(rec.result)
                    assert TOKEN not in shown, f"{tool} {form!r} read the secret: {shown[:300]}"
                    assert str(server.sessions.root) not in (rec.error or ""), rec.error
            assert snapshot(outside) == before, f"{tool} changed the folder outside the workspace"
    finally:
        server.close()
    return attempts


async def test_files_tools_refuse_every_path_out(world, outside):
    attempts = await attack("files", FILES_SLOTS, world, outside)
    assert attempts >= 1000


async def test_media_tools_refuse_every_path_out(world, outside):
    attempts = await attack("media", MEDIA_SLOTS, world, outside)
    assert attempts >= 500
