"""Media tools in process (real MCP over the SDK's in-memory transport): self-tests, multi-step flows, isolation."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from collections.abc import AsyncIterator

import pytest

from dive.env import ClientPool
from dive.servers import get_domain
from dive.servers.kit import DomainServer
from dive.servers.selftest import run_self_tests

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def media_pool(world) -> AsyncIterator[tuple[ClientPool, DomainServer]]:
    server = get_domain("media").create_server(world)
    try:
        async with ClientPool(servers={"media": server.mcp}) as pool:
            yield pool, server
    finally:
        server.close()


def ok(rec) -> dict:
    assert not rec.is_error, rec.error
    return rec.result


def test_the_domain_is_large_and_every_tool_is_documented_and_tested():
    domain = get_domain("media")
    assert len(domain.tools) >= 35
    kinds = {spec.kind for spec in domain.tools.values()}
    assert kinds == {"retrieval", "processing"}
    for spec in domain.tools.values():
        assert spec.examples and len(spec.description) > 40, spec.name
        # a tool writes exactly when it saves a file, and every such tool lets the caller name that file
        assert spec.writes == ("output" in spec.fn.__code__.co_varnames), spec.name


async def test_every_self_test_passes(world):
    results = await run_self_tests(["media"], world=world.root, transport="inprocess")
    failed = [f"{r.tool}#{r.example}: {r.detail}" for r in results if not r.ok]
    assert not failed, failed
    assert {r.tool for r in results} == set(get_domain("media").tools)


async def test_audio_editing_chain_keeps_frequencies_and_timing(world):
    async with media_pool(world) as (pool, _):
        low = ok(await pool.call("generate_tone", {"frequency_hz": 300, "duration_s": 1.0, "output": "t/low.wav"}))
        high = ok(await pool.call("generate_tone", {"frequency_hz": 750, "duration_s": 0.5, "output": "t/high.wav"}))
        assert low["audio"]["file"]["path"] == "t/low.wav" and high["audio"]["duration_s"] == 0.5

        joined = ok(await pool.call("concat_audio", {"paths": ["t/low.wav", "t/high.wav"], "gap": 0.5}))
        path = joined["file"]["path"]
        assert abs(joined["duration_s"] - 2.0) < 1e-6
        segments = ok(await pool.call("frequency_segments", {"path": path}))["segments"]
        assert [round(s["frequency_hz"]) for s in segments] == [300, 750]
        assert abs(segments[1]["start_s"] - 1.5) <= 0.1
        silence = ok(await pool.call("detect_silence", {"path": path, "min_duration": 0.2}))
        assert len(silence["silences"]) == 1 and abs(silence["silences"][0]["duration_s"] - 0.5) < 0.02

        part = ok(await pool.call("trim_audio", {"path": path, "start": 1.5, "end": 2.0}))
        measured = ok(await pool.call("dominant_frequency", {"path": part["file"]["path"]}))
        assert abs(measured["dominant_frequency_hz"] - 750) < 1.0

        slower = ok(await pool.call("resample_audio", {"path": "t/low.wav", "sample_rate": 44100, "channels": "stereo"}))
        info = ok(await pool.call("wav_info", {"path": slower["file"]["path"]}))
        assert (info["sample_rate"], info["channels"], info["frames"]) == (44100, 2, 44100)
        again = ok(await pool.call("dominant_frequency", {"path": slower["file"]["path"]}))
        assert abs(again["dominant_frequency_hz"] - 300) < 0.5

        mixed = ok(await pool.call("mix_audio", {"paths": ["t/low.wav", "t/high.wav"], "gains_db": [0, -6]}))
        peaks = ok(await pool.call("dominant_frequency", {"path": mixed["file"]["path"], "peaks": 2}))["peaks"]
        assert sorted(round(p["frequency_hz"]) for p in peaks) == [300, 750]

        louder = ok(await pool.call("change_volume", {"path": "t/low.wav", "gain_db": 12}))
        assert louder["audio"]["clipped_samples"] > 0  # -6 dBFS + 12 dB goes past full scale
        level = ok(await pool.call("audio_loudness", {"path": "t/low.wav"}))
        assert abs(level["peak_dbfs"] + 6.0) < 0.05 and abs(level["rms_dbfs"] + 9.01) < 0.05

        picture = ok(await pool.call("spectrogram_image", {"path": path, "max_frequency_hz": 1000}))
        assert ok(await pool.call("image_info", {"path": picture["image"]["path"]}))["format"] == "PNG"


async def test_image_analysis_on_a_rendered_and_annotated_image(world):
    async with media_pool(world) as (pool, _):
        text = ok(await pool.call("render_text_image", {"text": "Invoice 4471\nTotal 98.50", "font_size": 40}))
        path = text["image"]["path"]
        found = ok(await pool.call("find_text_in_image", {"path": path, "query": "total 98.50"}))
        assert found["found"] and found["matches"][0]["line"] == 1
        box = found["matches"][0]["box"]
        marked = ok(await pool.call("annotate_image", {"path": path, "rectangles": [
            {"left": box[0] - 4, "top": box[1] - 4, "right": box[2] + 4, "bottom": box[3] + 4, "outline": "#ff0000"}]}))
        red = ok(await pool.call("color_coverage", {"path": marked["image"]["path"], "color": "#ff0000", "tolerance": 0}))
        assert red["bounding_box"] == [box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4]

        bw = ok(await pool.call("threshold_image", {"path": path}))
        assert bw["method"] == "otsu" and 0 < bw["dark_fraction"] < 0.3
        trimmed = ok(await pool.call("trim_borders", {"path": path}))
        assert trimmed["image"]["width"] < text["image"]["width"] and trimmed["background"] == "#ffffff"
        stats = ok(await pool.call("image_color_stats", {"path": path}))
        assert stats["brightness"] > 200 and stats["mean_color_name"] in {"white", "whitesmoke", "gainsboro", "lightgray"}

        tagged = ok(await pool.call("write_image_metadata", {"path": path, "artist": "Ada", "copyright": "CC0"}))
        meta = ok(await pool.call("read_image_metadata", {"path": tagged["image"]["path"]}))
        assert meta["exif"]["Artist"] == "Ada" and meta["exif"]["Copyright"] == "CC0"
        stripped = ok(await pool.call("strip_image_metadata", {"path": tagged["image"]["path"]}))
        assert "exif:Artist" in stripped["removed"]
        assert ok(await pool.call("read_image_metadata", {"path": stripped["image"]["path"]}))["exif"] == {}

        sheet = ok(await pool.call("combine_images", {"paths": [path, "images/swatch_red.png", "charts/stock_MSFT.png"],
                                                      "columns": 2, "cell_width": 200, "cell_height": 120,
                                                      "captions": True}))
        assert (sheet["rows"], sheet["image"]["width"]) == (2, 400)


async def test_chart_from_a_world_csv_matches_its_facts(world):
    import json

    facts = next(i["facts"] for i in json.loads((world.media_root / "index.json").read_text())
                 if i["path"] == "charts/stock_MSFT.png")
    async with media_pool(world) as (pool, _):
        chart = ok(await pool.call("chart_from_csv", {"path": "data/stocks/MSFT.csv", "x_column": "date",
                                                      "y_columns": ["price"]}))
        series = chart["series"][0]
        assert (series["max"], series["x_at_max"]) == (facts["max_price"], facts["max_date"])
        assert (series["min"], series["x_at_min"]) == (facts["min_price"], facts["min_date"])
        assert chart["rows"] == facts["points"]


async def test_a_symlink_planted_in_the_session_folder_cannot_reach_outside(world, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes((world.media_root / "images" / "swatch_red.png").read_bytes())
    async with media_pool(world) as (pool, server):
        ok(await pool.call("generate_tone", {"frequency_hz": 440}))  # starts the session
        out = server.sessions.get(f"meta:{pool.trace.session}").state.output_root
        os.symlink(secret, out / "link.png")
        os.symlink(tmp_path, out / "linkdir")
        for path in ("link.png", "linkdir/secret.png"):
            rec = await pool.call("image_info", {"path": path})
            assert rec.is_error and "leaves the workspace" in rec.error
        rec = await pool.call("resize_image", {"path": "images/swatch_red.png", "width": 8, "output": "linkdir/x.png"})
        assert rec.is_error and "leaves the workspace" in rec.error
        assert not (tmp_path / "x.png").exists()


async def test_world_files_are_never_modified(world):
    before = {p: p.stat().st_mtime_ns for p in world.media_root.rglob("*") if p.is_file()}
    async with media_pool(world) as (pool, _):
        rec = await pool.call("convert_image", {"path": "images/swatch_red.png", "format": "png",
                                                "output": "images/swatch_red.png", "mode": "L"})
        shadow = ok(rec)["image"]["path"]
        assert shadow == "images/swatch_red.png"  # the session's copy now shadows the world's for this session
        info = ok(await pool.call("image_info", {"path": "images/swatch_red.png"}))
        assert info["source"] == "session" and info["mode"] == "L"
    after = {p: p.stat().st_mtime_ns for p in world.media_root.rglob("*") if p.is_file()}
    assert before == after


async def test_ocr_reads_the_same_pixels_once_and_each_caller_gets_its_own_words(world, monkeypatch):
    from dive.servers.media import ocr

    recognised = []
    real = ocr._recognise
    monkeypatch.setattr(ocr, "_recognise", lambda *args: recognised.append(args) or real(*args))
    monkeypatch.setattr(ocr, "_memo", type(ocr._memo)(16))
    async with media_pool(world) as (pool, _):
        path = ok(await pool.call("render_text_image", {"text": "Lot 5512 shipped", "font_size": 40}))["image"]["path"]
        whole = ok(await pool.call("ocr_image", {"path": path}))
        assert normalise(whole["text"]) == "lot 5512 shipped" and len(recognised) == 1
        # a crop is other pixels; the same crop again is read from the memo, its boxes offset for this call
        cropped = ok(await pool.call("ocr_image", {"path": path, "box": [10, 0, 380, 86]}))
        again = ok(await pool.call("ocr_image", {"path": path, "box": [10, 0, 380, 86]}))
        assert len(recognised) == 2 and again == cropped
        assert cropped["words"][0]["left"] >= 10  # offset once, not once per earlier caller
        found = ok(await pool.call("find_text_in_image", {"path": path, "query": "shipped"}))
        assert found["found"] and len(recognised) == 2  # the whole image was read before
        # a changed image is read afresh
        other = ok(await pool.call("render_text_image", {"text": "Lot 7731 held", "font_size": 40, "output": path}))
        assert normalise(ok(await pool.call("ocr_image", {"path": other["image"]["path"]}))["text"]) == "lot 7731 held"
        assert len(recognised) == 3


def normalise(text: str) -> str:
    from dive.servers.media.ocr import normalise_text

    return normalise_text(text)


async def test_a_chart_is_drawn_once_per_drawing_and_saved_in_every_session_that_asks(world):
    from dive.servers.media import charts

    def saved(server, pool, result) -> bytes:
        root = server.sessions.get(f"meta:{pool.trace.session}").state.output_root
        return (root / result["image"]["path"]).read_bytes()

    bar = {"labels": ["Iron", "Gold", "Lead"], "values": [7.87, 19.3, 11.34], "title": "Density memo"}
    variants = [{"color": "teal"}, {"sort": "descending"}, {"horizontal": True}, {"value_labels": True},
                {"title": "Density memo 2"}, {"width": 640}, {"values": [7.87, 19.3, 15.0]}]
    async with media_pool(world) as (pool, server):
        first = ok(await pool.call("bar_chart", bar))
        drawings = len(charts._drawings._answers)
        png = saved(server, pool, first)
        pool.new_session()
        again = ok(await pool.call("bar_chart", {**bar, "output": "copy.png"}))
        assert len(charts._drawings._answers) == drawings  # drawn once: the second session got the same PNG
        assert again["image"]["path"] == "copy.png" and saved(server, pool, again) == png
        assert {k: v for k, v in again.items() if k != "image"} == {k: v for k, v in first.items() if k != "image"}
        for change in variants:  # every argument that shapes the image gives another image
            other = ok(await pool.call("bar_chart", {**bar, **change}))
            assert saved(server, pool, other) != png, change
        rec = await pool.call("bar_chart", {**bar, "color": "notacolour"})
        assert rec.is_error and "is not a colour" in rec.error
