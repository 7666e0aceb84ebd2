"""The media server end to end through a real MCP client over stdio (and once over streamable HTTP).

Each answer is checked against the facts the world recorded in media/index.json: the text drawn into each
text image, each tone's frequency, each swatch's colour. One server process is shared by the module's tests;
each test starts its own server-side session.
"""

from __future__ import annotations

import json

import pytest
from tests.conftest import open_pool

from dive.servers.media.ocr import normalise_text

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def stdio(world):
    async with open_pool(world, ["media"], "stdio") as pool:
        yield pool


@pytest.fixture
def pool(stdio):
    stdio.new_session()
    return stdio


def index(world) -> list[dict]:
    return json.loads((world.media_root / "index.json").read_text())


def of_kind(world, kind: str) -> list[dict]:
    return [item for item in index(world) if item["kind"] == kind]


def fold_confusables(text: str) -> str:
    """Capital I and lower-case l are the same glyph in the world's sans-serif font: no OCR can tell them apart."""
    return text.replace("I", "l").replace("i", "l")


def ok(rec) -> dict:
    assert not rec.is_error, rec.error
    return rec.result


async def test_ocr_reads_back_the_world_text_over_stdio(pool, world):
    items = of_kind(world, "text_image")
    # A spread of cities, elements and companies (the index is sorted by path: company-, element-, city slugs).
    picked = items[::5]
    exact = 0
    for item in picked:
        result = ok(await pool.call("ocr_image", {"path": item["path"]}))
        expected = normalise_text(item["facts"]["text"])
        got = normalise_text(result["text"])
        exact += got == expected
        assert fold_confusables(got) == fold_confusables(expected), (item["path"], result["text"])
        assert len(result["lines"]) == len(item["facts"]["lines"])
        assert result["words"] and all(0 <= w["confidence"] <= 100 for w in result["words"])
        assert result["mean_confidence"] > 70
    assert exact >= len(picked) - 1


async def test_tone_frequencies_within_one_hertz_over_stdio(pool, world):
    tones = of_kind(world, "tone")
    assert len(tones) >= 10
    for item in tones:
        result = ok(await pool.call("dominant_frequency", {"path": item["path"]}))
        assert abs(result["dominant_frequency_hz"] - item["facts"]["frequency_hz"]) < 1.0, item["path"]
    info = ok(await pool.call("wav_info", {"path": tones[0]["path"]}))
    facts = tones[0]["facts"]
    assert (info["sample_rate"], info["channels"], info["sample_width_bytes"], info["frames"]) == (
        facts["sample_rate"], facts["channels"], facts["sample_width_bytes"], facts["frames"])


async def test_swatch_dominant_colours_over_stdio(pool, world):
    swatches = of_kind(world, "swatch")
    for item in swatches:
        top = ok(await pool.call("dominant_colors", {"path": item["path"], "count": 3}))["colors"][0]
        assert top["hex"] == item["facts"]["dominant_hex"], item["path"]
        assert top["name"] == item["facts"]["dominant_color"], item["path"]
        assert abs(top["share"] - item["facts"]["dominant_fraction"]) < 0.02


async def test_geometry_and_format_round_trips_keep_metadata_right(pool):
    source = ok(await pool.call("image_info", {"path": "charts/stock_MSFT.png"}))
    w, h = source["width"], source["height"]

    resized = ok(await pool.call("resize_image", {"path": "charts/stock_MSFT.png", "width": w // 2}))["image"]
    info = ok(await pool.call("image_info", {"path": resized["path"]}))
    assert (info["width"], info["height"]) == (w // 2, round(h * (w // 2) / w))
    assert info["source"] == "session" and info["format"] == "PNG"

    cropped = ok(await pool.call("crop_image", {"path": resized["path"], "left": 10, "top": 5, "right": 110,
                                                "bottom": 65, "output": "work/crop.png"}))["image"]
    assert cropped["path"] == "work/crop.png"
    info = ok(await pool.call("image_info", {"path": "work/crop.png"}))
    assert (info["width"], info["height"]) == (100, 60)

    jpeg = ok(await pool.call("convert_image", {"path": "work/crop.png", "format": "jpeg", "quality": 85}))["image"]
    info = ok(await pool.call("image_info", {"path": jpeg["path"]}))
    assert info["format"] == "JPEG" and info["mode"] == "RGB" and (info["width"], info["height"]) == (100, 60)

    gray = ok(await pool.call("convert_image", {"path": jpeg["path"], "format": "png", "mode": "L"}))["image"]
    info = ok(await pool.call("image_info", {"path": gray["path"]}))
    assert info["mode"] == "L" and info["bands"] == ["L"]

    turned = ok(await pool.call("rotate_image", {"path": "work/crop.png", "degrees": 90}))["image"]
    assert (turned["width"], turned["height"]) == (60, 100)
    back = ok(await pool.call("rotate_image", {"path": turned["path"], "degrees": -90}))["image"]
    same = ok(await pool.call("compare_images", {"path_a": "work/crop.png", "path_b": back["path"]}))
    assert same["identical"] and same["phash_distance"] == 0

    similar = ok(await pool.call("compare_images", {"path_a": "charts/stock_MSFT.png", "path_b": resized["path"]}))
    assert not similar["same_size"] and similar["similar"] and similar["phash_distance"] <= 6


async def test_chart_output_feeds_later_calls_in_the_session(pool):
    chart = ok(await pool.call("bar_chart", {
        "labels": ["Tokyo", "Delhi", "Shanghai"], "values": [37.4, 31.0, 27.1],
        "title": "Largest metro areas", "width": 900, "height": 450}))
    assert chart["max_label"] == "Tokyo"
    path = chart["image"]["path"]
    info = ok(await pool.call("image_info", {"path": path}))
    assert (info["format"], info["width"], info["height"], info["source"]) == ("PNG", 900, 450, "session")
    listed = ok(await pool.call("list_media", {"folder": "out"}))
    assert path in [e["path"] for e in listed["entries"]]
    read = ok(await pool.call("ocr_image", {"path": path}))
    assert "largest metro areas" in normalise_text(read["text"])

    pool.new_session()  # another session does not see this one's outputs
    other = await pool.call("image_info", {"path": path})
    assert other.is_error and "no media file" in other.error


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("image_info", {"path": "../index.json"}, "'..' is not allowed"),
        ("image_info", {"path": "/etc/passwd"}, "absolute paths"),
        ("wav_info", {"path": "audio/../../db/world.sqlite"}, "'..' is not allowed"),
        ("dominant_frequency", {"path": "~/x.wav"}, "home-relative"),
        ("resize_image", {"path": "charts/stock_MSFT.png", "width": 10, "output": "../../escape.png"}, "'..' is not allowed"),
        ("generate_tone", {"frequency_hz": 440, "output": "/tmp/escape.wav"}, "absolute paths"),
        ("chart_from_csv", {"path": "../../etc/passwd", "x_column": "a", "y_columns": ["b"]}, "'..' is not allowed"),
        ("list_media", {"folder": "../.."}, "'..' is not allowed"),
    ],
)
async def test_paths_outside_the_roots_are_refused(pool, tool, arguments, message):
    rec = await pool.call(tool, arguments)
    assert rec.is_error and message in rec.error


async def test_malformed_arguments_give_clear_errors(pool):
    cases = [
        ("resize_image", {"path": "charts/stock_MSFT.png", "width": 0}, "greater than or equal to 1"),
        ("resize_image", {"path": "charts/stock_MSFT.png"}, "give width, height, both, or scale"),
        ("crop_image", {"path": "charts/stock_MSFT.png", "left": 0, "top": 0, "right": 99999, "bottom": 10},
         "goes outside"),
        ("crop_image", {"path": "charts/stock_MSFT.png", "left": "x", "top": 0, "right": 5, "bottom": 5}, "left"),
        ("image_info", {}, "path"),
        ("image_info", {"path": "audio/tone_iron.wav"}, "is not an image"),
        ("wav_info", {"path": "charts/stock_MSFT.png"}, "is not a WAV"),
        ("image_info", {"path": "charts/nope.png"}, "no media file"),
        ("annotate_image", {"path": "charts/stock_MSFT.png", "texts": [{"x": 1, "y": 1, "text": "a", "color": "notacolour"}]},
         "is not a colour"),
        ("convert_image", {"path": "charts/stock_MSFT.png", "format": "jpeg", "output": "out/x.png"}, "must end with"),
        ("bar_chart", {"labels": ["a", "b"], "values": [1]}, "one value per label"),
        ("change_volume", {"path": "audio/tone_iron.wav"}, "exactly one of"),
        ("generate_tone", {"frequency_hz": 9000, "sample_rate": 16000}, "half the sample rate"),
        ("chart_from_csv", {"path": "data/stocks/MSFT.csv", "x_column": "date", "y_columns": ["volume"]},
         "no column 'volume'"),
        ("ocr_image", {"path": "charts/stock_MSFT.png", "language": "klingon"}, "not installed"),
    ]
    for tool, arguments, message in cases:
        rec = await pool.call(tool, arguments)
        assert rec.is_error, (tool, arguments)
        assert message in rec.error, (tool, rec.error)


async def test_over_streamable_http(http_server, world):
    from dive.env import ClientPool

    tone = of_kind(world, "tone")[0]
    async with ClientPool({"mcpServers": {"media": {"url": http_server("media")}}}) as pool:
        names = {t.name for t in pool.tools()}
        assert {"ocr_image", "dominant_frequency", "line_chart", "resize_image"} <= names
        result = ok(await pool.call("dominant_frequency", {"path": tone["path"]}))
        assert abs(result["dominant_frequency_hz"] - tone["facts"]["frequency_hz"]) < 1.0
        written = ok(await pool.call("generate_tone", {"frequency_hz": 523.25, "duration_s": 0.5}))
        again = ok(await pool.call("dominant_frequency", {"path": written["audio"]["file"]["path"]}))
        assert abs(again["dominant_frequency_hz"] - 523.25) < 0.5 and again["note"] == "C5"
