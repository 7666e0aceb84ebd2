"""Every way out of the workspace is refused: traversal paths, symlinks pointing out, and hostile archives.

Each attempt goes through a real MCP client to the files server (in-process transport, so the test can
also plant symlinks in the session's private copy); test_files_protocol repeats the path attempts over stdio.
"""

from __future__ import annotations

import base64
import io
import os
import tarfile
import uuid
import zipfile

import pytest

from tests.servers.files.files_support import (
    PATH_ATTEMPTS,
    files_pool,
    files_server,
    private_root,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server(world):
    srv = files_server(world)
    yield srv
    srv.close()

@pytest.mark.parametrize(("tool", "args", "message"), PATH_ATTEMPTS, ids=[f"{t}:{next(iter(a.values()))!r}" for t, a, _ in PATH_ATTEMPTS])
async def test_path_escape_is_refused(server, tool, args, message):
    async with files_pool(server) as pool:
        rec = await pool.call(tool, args)
    assert rec.is_error, f"{tool} {args} was not refused: {rec.result}"
    assert message in rec.error


async def test_url_encoded_path_is_literal_and_stays_inside(server):
    async with files_pool(server) as pool:
        rec = await pool.call("read_file", {"path": "%2e%2e/%2e%2e/etc/passwd"})
        assert rec.is_error and "no such file" in rec.error
        rec = await pool.call("write_file", {"path": "%2e%2e/x.txt", "content": "literal"})
        assert not rec.is_error and rec.result["path"] == "%2e%2e/x.txt"
        root = private_root(server, pool)
        assert (root / "%2e%2e" / "x.txt").read_text() == "literal"
        assert not (root.parent / "x.txt").exists()


# -- symlinks ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """A folder outside every workspace, holding a secret file."""
    secret = tmp_path_factory.mktemp("outside") / "secret.txt"
    secret.write_text("TOP-SECRET\n")
    return secret


async def _plant_links(pool, server, secret):
    """Symlinks in the session's private copy: two pointing out of the workspace, one pointing inside."""
    await pool.call("create_directory", {"path": "shared"})  # makes the session's private copy
    root = private_root(server, pool)
    for name, target in (("secret_link.txt", secret), ("outside_dir", secret.parent),
                         ("elements_link.csv", root / "data" / "elements.csv")):
        if not (root / "shared" / name).is_symlink():
            os.symlink(target, root / "shared" / name)
    return root


@pytest.mark.parametrize(("tool", "args"), [
    ("read_file", {"path": "shared/secret_link.txt"}),
    ("read_bytes", {"path": "shared/secret_link.txt"}),
    ("file_checksum", {"path": "shared/secret_link.txt"}),
    ("file_info", {"path": "shared/secret_link.txt"}),
    ("list_directory", {"path": "shared/outside_dir"}),
    ("read_file", {"path": "shared/outside_dir/secret.txt"}),
    ("write_file", {"path": "shared/secret_link.txt", "content": "pwned", "overwrite": True}),
    ("append_file", {"path": "shared/outside_dir/secret.txt", "content": "pwned"}),
    ("copy_path", {"source": "shared/secret_link.txt", "destination": "stolen.txt"}),
    ("create_archive", {"paths": ["shared/outside_dir"], "destination": "stolen.zip"}),
    ("extract_archive", {"path": "archives/stocks.zip", "destination": "shared/outside_dir"}),
])
async def test_symlink_out_of_the_workspace_is_refused(server, outside, tool, args):
    async with files_pool(server, session=f"symlink-{uuid.uuid4().hex}") as pool:
        await _plant_links(pool, server, outside)
        rec = await pool.call(tool, args)
        assert rec.is_error and "leaves the workspace" in rec.error, rec
    assert outside.read_text() == "TOP-SECRET\n"
    assert sorted(p.name for p in outside.parent.iterdir()) == ["secret.txt"]


async def test_recursive_tools_skip_links_that_point_out(server, outside):
    async with files_pool(server) as pool:
        root = await _plant_links(pool, server, outside)
        grep = await pool.call("search_content", {"pattern": "TOP-SECRET", "path": "shared"})
        assert grep.result["total_matches"] == 0
        found = await pool.call("find_files", {"pattern": "*", "path": "shared", "kind": "any"})
        assert [m["path"] for m in found.result["matches"]] == ["shared/elements_link.csv"]
        tree = await pool.call("directory_tree", {"path": "shared"})
        assert "secret" not in tree.result["tree"] and "outside_dir" not in tree.result["tree"]
        copied = await pool.call("copy_path", {"source": "shared", "destination": "shared_copy"})
        assert copied.result["files_copied"] == 1
        assert not (root / "shared_copy" / "secret_link.txt").exists()
        zipped = await pool.call("create_archive", {"paths": ["shared"], "destination": "shared.zip"})
        assert zipped.result["members"] == ["shared/elements_link.csv"]


async def test_symlink_inside_the_workspace_works_and_deletes_as_a_link(server, outside):
    async with files_pool(server) as pool:
        root = await _plant_links(pool, server, outside)
        rec = await pool.call("read_file", {"path": "shared/elements_link.csv", "max_lines": 2})
        assert "Hydrogen" in rec.result["text"]
        info = await pool.call("file_info", {"path": "shared/elements_link.csv"})
        assert info.result["kind"] == "symlink" and info.result["symlink_target"] == "data/elements.csv"
        gone = await pool.call("delete_file", {"path": "shared/elements_link.csv"})
        assert not gone.is_error and gone.result["bytes_freed"] == 0
        assert (root / "data" / "elements.csv").is_file()
        # Deleting a link that points out removes the link only (refused here: it is never followed).
        rec = await pool.call("delete_file", {"path": "shared/secret_link.txt"})
        assert rec.is_error and "leaves the workspace" in rec.error
    assert outside.exists()


# -- hostile archives -------------------------------------------------------------------------

ESCAPEE = f"dive-escape-{uuid.uuid4().hex}.txt"


def _zip(*members: tuple[str, bytes, int]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            info.create_system = 3
            zf.writestr(info, data)
    return buffer.getvalue()


def _tar(*members: tuple[str, bytes, bytes, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data, kind, link in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = link
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return buffer.getvalue()


FILE = 0o100644
ARCHIVES = {
    "zip-dotdot": ("evil.zip", _zip((f"../../../../../../../../tmp/{ESCAPEE}", b"x", FILE)), "'..'"),
    "zip-absolute": ("evil.zip", _zip((f"/tmp/{ESCAPEE}", b"x", FILE)), "absolute name"),
    "zip-nested-dotdot": ("evil.zip", _zip(("ok.txt", b"fine", FILE), (f"safe/../../{ESCAPEE}", b"x", FILE)), "'..'"),
    "zip-backslash": ("evil.zip", _zip((f"..\\..\\{ESCAPEE}", b"x", FILE)), "'..'"),
    "zip-drive-letter": ("evil.zip", _zip((f"C:/temp/{ESCAPEE}", b"x", FILE)), "absolute name"),
    "zip-symlink": ("evil.zip", _zip(("passwd", b"/etc/passwd", 0o120777)), "symbolic link"),
    "tar-dotdot": ("evil.tar.gz", _tar((f"../{ESCAPEE}", b"x", tarfile.REGTYPE, "")), "'..'"),
    "tar-absolute": ("evil.tar.gz", _tar((f"/tmp/{ESCAPEE}", b"x", tarfile.REGTYPE, "")), "absolute name"),
    "tar-symlink": ("evil.tar.gz", _tar(("etc", b"", tarfile.SYMTYPE, "/etc")), "symbolic link"),
    "tar-symlink-then-file": ("evil.tar.gz", _tar(("d", b"", tarfile.SYMTYPE, "/tmp"), (f"d/{ESCAPEE}", b"x", tarfile.REGTYPE, "")),
                              "symbolic link"),
    "tar-hardlink": ("evil.tar.gz", _tar(("passwd", b"", tarfile.LNKTYPE, "/etc/passwd")), "hard link"),
    "tar-device": ("evil.tar.gz", _tar(("null", b"", tarfile.CHRTYPE, "")), "special file"),
}


@pytest.mark.parametrize("case", list(ARCHIVES))
async def test_hostile_archive_is_refused_whole(server, case):
    name, blob, reason = ARCHIVES[case]
    upload = f"uploads/{case}-{name}"
    async with files_pool(server, session=f"archive-{uuid.uuid4().hex}") as pool:
        up = await pool.call("write_file", {"path": upload, "content": base64.b64encode(blob).decode(), "encoding": "base64"})
        assert not up.is_error, up.error
        listing = await pool.call("list_archive", {"path": upload})
        assert listing.result["unsafe_members"] >= 1
        rec = await pool.call("extract_archive", {"path": upload, "destination": f"unpacked/{case}"})
        assert rec.is_error and "unsafe member" in rec.error and reason in rec.error and "Nothing was extracted" in rec.error
        root = private_root(server, pool)
        assert not (root / "unpacked").exists()
        assert not list(root.parent.rglob(ESCAPEE))
    assert not os.path.exists(f"/tmp/{ESCAPEE}")


async def test_extraction_through_a_planted_symlink_is_refused(server, outside):
    blob = _zip(("docs/readme.txt", b"hello", FILE))
    async with files_pool(server) as pool:
        await pool.call("write_file", {"path": "uploads/docs.zip", "content": base64.b64encode(blob).decode(), "encoding": "base64"})
        root = private_root(server, pool)
        (root / "unpacked").mkdir()
        os.symlink(outside.parent, root / "unpacked" / "docs")  # a link already sitting where a member would land
        rec = await pool.call("extract_archive", {"path": "uploads/docs.zip", "destination": "unpacked"})
        assert rec.is_error and "leaves the workspace" in rec.error
    assert sorted(p.name for p in outside.parent.iterdir()) == ["secret.txt"]


async def test_markdown_link_out_of_the_workspace_is_reported_not_followed(server):
    async with files_pool(server) as pool:
        await pool.call("write_file", {"path": "notes/links.md",
                                       "content": "# Links\n\n[pw](../../../etc/passwd) [ok](../data/elements.csv) [top](#links)\n"})
        rec = await pool.call("markdown_links", {"path": "notes/links.md"})
    by_text = {x["text"]: x for x in rec.result["links"]}
    assert by_text["pw"]["exists"] is False and by_text["pw"]["note"] == "points outside the workspace"
    assert by_text["ok"]["exists"] is True and by_text["top"]["exists"] is True
