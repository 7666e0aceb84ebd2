"""OCR with Debian's Tesseract (the `tesseract` binary, called with a timeout): text, words, confidences, boxes."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from PIL import Image
from pydantic import BaseModel, Field

from dive.servers.kit import Example, Fact, Meaning, Memo, Takes, ToolFailure, clip_items, clip_text, content_key, no_facts

from .images import ImagePath
from .imaging import open_image
from .workspace import DOMAIN, MediaWorkspace, facts_of

TESSERACT_TIMEOUT_S = 60.0
_PSM = {"auto": 3, "block": 6, "column": 4, "line": 7, "word": 8, "sparse": 11}
Layout = Annotated[
    Literal["auto", "block", "column", "line", "word", "sparse"],
    Field(description="Page layout: 'auto' detects it, 'block' one uniform block of text, 'column' one column of "
                      "varied sizes, 'line' a single line, 'word' a single word, 'sparse' scattered text (charts)"),
]


def normalise_text(text: str) -> str:
    """Case-folded words without punctuation, single-spaced: how OCR output is compared with expected text."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.findall(r"[^\W_]+", text))


@lru_cache(maxsize=1)
def _tesseract() -> str:
    binary = shutil.which("tesseract")
    if binary is None:
        raise ToolFailure("OCR needs Tesseract, which is not installed here: run `apt-get install tesseract-ocr`")
    return binary


@lru_cache(maxsize=1)
def installed_languages() -> tuple[str, ...]:
    out = subprocess.run([_tesseract(), "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    return tuple(line.strip() for line in out.stdout.splitlines()[1:] if line.strip() and line.strip() != "osd")


class OcrWord(BaseModel):
    text: str
    confidence: float = Field(description="Tesseract's confidence 0..100")
    left: int
    top: int
    width: int
    height: int
    line: int = Field(description="Index of the line (in `lines`) this word belongs to")


class OcrResult(BaseModel):
    path: str
    language: str
    text: str = Field(description="Recognised text, one line of the image per line")
    lines: list[str]
    words: list[OcrWord] = Field(description="Every recognised word with its confidence and pixel box")
    word_count: int
    mean_confidence: float = Field(description="Mean word confidence 0..100 (0 when nothing was read)")
    truncated: bool = Field(description="True when text or words were clipped to fit the result")


#: Recognitions kept per server process: Tesseract's output is a function of the pixels and the settings alone.
_memo: Memo[tuple[list[str], list[OcrWord]]] = Memo(256)


def run_ocr(img: Image.Image, language: str, layout: str, upscale: float) -> tuple[list[str], list[OcrWord]]:
    """OCR an in-memory image; word boxes come back in the coordinates of `img`.

    The same pixels read with the same settings are recognised once per process (a world image is read
    again and again across sessions); callers get their own copies of the words."""
    if language not in installed_languages():
        raise ToolFailure(f"OCR language {language!r} is not installed; installed: {', '.join(installed_languages())}")
    key = content_key(img.tobytes(), repr((img.mode, img.size, language, layout, upscale)))
    known = _memo.get(key, lambda: _recognise(img, language, layout, upscale))
    lines, words = known
    return list(lines), [w.model_copy() for w in words]


def _recognise(img: Image.Image, language: str, layout: str, upscale: float) -> tuple[list[str], list[OcrWord]]:
    work = img
    if work.mode in ("RGBA", "LA", "PA", "P"):
        rgba = work.convert("RGBA")
        flat = Image.new("RGB", work.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        work = flat
    work = work.convert("L")
    if upscale != 1:
        work = work.resize((max(1, round(work.width * upscale)), max(1, round(work.height * upscale))),
                           Image.Resampling.LANCZOS)
    with tempfile.TemporaryDirectory(prefix="dive-ocr-") as tmp:
        source = Path(tmp) / "input.png"
        work.save(source)
        try:
            done = subprocess.run(
                [_tesseract(), str(source), "stdout", "-l", language, "--psm", str(_PSM[layout]), "tsv"],
                capture_output=True, text=True, timeout=TESSERACT_TIMEOUT_S, check=False,
                env={**os.environ, "OMP_THREAD_LIMIT": "1"},
            )
        except subprocess.TimeoutExpired:
            raise ToolFailure(f"Tesseract took longer than {TESSERACT_TIMEOUT_S:g} s; crop to the text region "
                              "(box) or lower upscale") from None
    if done.returncode != 0:
        raise ToolFailure(f"Tesseract failed: {done.stderr.strip()[-500:]}")
    lines: list[str] = []
    words: list[OcrWord] = []
    line_of: dict[tuple[str, str, str, str], int] = {}
    for row in csv.DictReader(io.StringIO(done.stdout), delimiter="\t", quoting=csv.QUOTE_NONE):
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text:
            continue
        key = (row["page_num"], row["block_num"], row["par_num"], row["line_num"])
        if key not in line_of:
            line_of[key] = len(lines)
            lines.append("")
        n = line_of[key]
        lines[n] = f"{lines[n]} {text}".strip()
        words.append(OcrWord(
            text=text, confidence=round(max(0.0, float(row["conf"])), 2),
            left=round(int(row["left"]) / upscale), top=round(int(row["top"]) / upscale),
            width=max(1, round(int(row["width"]) / upscale)), height=max(1, round(int(row["height"]) / upscale)),
            line=n,
        ))
    return lines, words


def _prepare(s: MediaWorkspace, path: str, box: list[int] | None, upscale: float | None) -> tuple[Image.Image, str, int, int, float]:
    img, real = open_image(s, path)
    left = top = 0
    if box is not None:
        left, top, right, bottom = box
        if not (0 <= left < right <= img.width and 0 <= top < bottom <= img.height):
            raise ToolFailure(f"box {box} is not inside the {img.width}x{img.height} image")
        img = img.crop((left, top, right, bottom))
    if upscale is None:  # small text reads far better a little larger; big images are left alone
        upscale = 2.0 if max(img.size) < 1200 else 1.0
    if img.width * upscale * img.height * upscale > 40_000_000:
        raise ToolFailure("the image is too large to OCR at that upscale; crop it (box) or lower upscale")
    return img, s.relative(real), left, top, upscale


WORLD_CHART = "charts/stock_MSFT.png"


def _reads_chart_title(result: dict, world) -> bool:
    title = normalise_text(facts_of(world, WORLD_CHART)["title"])
    return result["path"] == WORLD_CHART and title in normalise_text(result["text"]) and result["mean_confidence"] > 50


OcrBox = Annotated[
    list[int] | None,
    Field(min_length=4, max_length=4, description="Only read this region [left, top, right, bottom]; default the whole image"),
]
Upscale = Annotated[
    float | None,
    Field(ge=0.5, le=4, description="Enlarge before reading (small text reads better larger); default 2 for images "
                                    "under 1200 px, else 1"),
]


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("image", "path")}, facts=(Fact("text", "the text shown in {path}"),)), 
    kind="processing",
    timeout=90,
    examples=[Example({"path": WORLD_CHART}, _reads_chart_title,
                      note="reads the chart's title as recorded in media/index.json")],
)
def ocr_image(
    s: MediaWorkspace,
    path: ImagePath,
    language: Annotated[str, Field(description="Tesseract language code, e.g. 'eng'")] = "eng",
    layout: Layout = "auto",
    box: OcrBox = None,
    upscale: Upscale = None,
    min_confidence: Annotated[float, Field(ge=0, le=100, description="Drop words below this confidence")] = 0.0,
) -> OcrResult:
    """Read the text in an image with Tesseract OCR: full text by line, and every word with its confidence (0-100)
    and pixel box. Works on screenshots, scans, rendered text and chart labels; crop with `box` to read one region."""
    img, rel, left, top, factor = _prepare(s, path, box, upscale)
    lines, words = run_ocr(img, language, layout, factor)
    kept = [w for w in words if w.confidence >= min_confidence]
    if min_confidence > 0:
        by_line: dict[int, list[str]] = {}
        for w in kept:
            by_line.setdefault(w.line, []).append(w.text)
        lines = [" ".join(by_line[n]) for n in sorted(by_line)]
        remap = {old: new for new, old in enumerate(sorted(by_line))}
        kept = [w.model_copy(update={"line": remap[w.line]}) for w in kept]
    for w in kept:
        w.left += left
        w.top += top
    text, cut_text = clip_text("\n".join(lines))
    shown, cut_words = clip_items(kept)
    mean = round(sum(w.confidence for w in kept) / len(kept), 2) if kept else 0.0
    return OcrResult(path=rel, language=language, text=text, lines=lines[:500], words=shown, word_count=len(kept),
                     mean_confidence=mean, truncated=cut_text or cut_words or len(lines) > 500)


class TextMatch(BaseModel):
    text: str = Field(description="The words that matched, as read")
    box: list[int] = Field(description="[left, top, right, bottom] around the matched words")
    confidence: float = Field(description="Lowest word confidence in the match")
    line: int


class TextSearch(BaseModel):
    path: str
    query: str
    found: bool
    matches: list[TextMatch]


@DOMAIN.tool(meaning=no_facts("looks for words the caller supplies; what the image shows is answered by ocr_image", path=Takes("image", "path")), 
    kind="processing",
    timeout=90,
    examples=[Example({"path": WORLD_CHART, "query": "closing price"},
                      lambda r: r["found"] and normalise_text(r["matches"][0]["text"]) == "closing price"
                      and r["matches"][0]["box"][1] < 60, note="the phrase sits in the title, at the top")],
)
def find_text_in_image(
    s: MediaWorkspace,
    path: ImagePath,
    query: Annotated[str, Field(min_length=1, max_length=200, description="Word or phrase to look for (case and "
                                                                          "punctuation are ignored)")],
    language: Annotated[str, Field(description="Tesseract language code")] = "eng",
    layout: Layout = "auto",
    upscale: Upscale = None,
) -> TextSearch:
    """Find where a word or phrase appears in an image (OCR): each occurrence with its pixel box and confidence.
    Use the box with crop_image or annotate_image."""
    wanted = normalise_text(query)
    if not wanted:
        raise ToolFailure("the query has no letters or digits to look for")
    img, rel, _, _, factor = _prepare(s, path, None, upscale)
    _, words = run_ocr(img, language, layout, factor)
    matches: list[TextMatch] = []
    by_line: dict[int, list[OcrWord]] = {}
    for w in words:
        if normalise_text(w.text):
            by_line.setdefault(w.line, []).append(w)
    for line, line_words in sorted(by_line.items()):
        spans, joined = [], ""
        for w in line_words:
            start = len(joined) + (1 if joined else 0)
            joined = f"{joined} {normalise_text(w.text)}" if joined else normalise_text(w.text)
            spans.append((start, len(joined)))
        at = joined.find(wanted)
        while at != -1:
            end = at + len(wanted)
            hit = [w for w, (a, b) in zip(line_words, spans) if a < end and b > at]
            matches.append(TextMatch(
                text=" ".join(w.text for w in hit),
                box=[min(w.left for w in hit), min(w.top for w in hit),
                     max(w.left + w.width for w in hit), max(w.top + w.height for w in hit)],
                confidence=min(w.confidence for w in hit), line=line))
            at = joined.find(wanted, at + 1)
    shown, _ = clip_items(matches, 200)
    return TextSearch(path=rel, query=query, found=bool(matches), matches=shown)
