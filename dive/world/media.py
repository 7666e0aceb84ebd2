"""The media domain's files: charts, rendered text, tones and colour swatches, each with known facts.

`media/index.json` lists every file with the facts a tool can be checked against (the exact text drawn,
the exact tone frequency, the dominant colour and the shapes drawn).
"""

from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

from .catalog import Catalog
from .determinism import to_json, write_bytes
from .prose import fmt_int
from .seeded import rng_for, slugify

TONE_SAMPLE_RATE = 16_000
TONE_SECONDS = 2.0
TONE_AMPLITUDE = 0.5
TEXT_FONT_SIZE = 48
CHART_COUNTRIES = 30
TEXT_CITIES = 40
TEXT_ELEMENTS = 10
TEXT_COMPANIES = 10
TONES = 30
SWATCH_SIZE = 256

# Thirty colours far enough apart to be named unambiguously from the pixels.
SWATCH_COLOURS = (
    "red", "crimson", "darkorange", "gold", "yellow", "olive", "lime", "green", "teal", "cyan",
    "deepskyblue", "navy", "blue", "indigo", "purple", "violet", "magenta", "hotpink", "saddlebrown", "maroon",
    "coral", "salmon", "khaki", "turquoise", "orchid", "slategray", "chocolate", "tomato", "seagreen", "steelblue",
)


@dataclass
class MediaItem:
    path: str
    """Relative to the media root, e.g. "audio/tone_iron.wav"."""
    kind: str
    """chart, text_image, tone or swatch."""
    entity_id: str
    facts: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"path": self.path, "kind": self.kind, "entity_id": self.entity_id, "facts": self.facts}


def tone_frequency_hz(atomic_number: int) -> int:
    """An element's tone: 200 Hz plus 10 Hz per unit of atomic number (iron, 26: 460 Hz)."""
    return 200 + 10 * atomic_number


def write_media(root: Path, cat: Catalog) -> list[MediaItem]:
    """Write every media file and media/index.json under `root`; return the items, sorted by path."""
    items = _charts(root, cat) + _text_images(root, cat) + _tones(root, cat) + _swatches(root, cat)
    items.sort(key=lambda item: item.path)
    write_bytes(root / "index.json", to_json([item.as_json() for item in items]).encode("utf-8"))
    return items


# ---- charts ----------------------------------------------------------------------------------------------

def _save_figure(fig, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None})  # no version stamp in the file
    write_bytes(path, buffer.getvalue())


def _charts(root: Path, cat: Catalog) -> list[MediaItem]:
    import datetime as dt

    import matplotlib.style
    from matplotlib.figure import Figure

    items = []
    # Default style whatever the user's matplotlibrc says, and no pyplot: the host's backend is left alone.
    with matplotlib.style.context("default"):
        for symbol in cat.stock_symbols:
            prices = [p for p in cat.stock_prices if p.symbol == symbol]
            fig = Figure(figsize=(8, 4))
            ax = fig.add_subplot()
            ax.plot([dt.date.fromisoformat(p.date) for p in prices], [p.price for p in prices], color="tab:blue")
            ax.set_title(f"{symbol} monthly closing price (USD)")
            ax.set_xlabel("Date")
            ax.set_ylabel("Price (USD)")
            ax.grid(True, alpha=0.3)
            fig.subplots_adjust(left=0.09, right=0.97, bottom=0.13, top=0.9)  # fixed: tight_layout draws twice
            rel = f"charts/stock_{symbol}.png"
            _save_figure(fig, root / rel)
            high = max(prices, key=lambda p: (p.price, p.date))
            low = min(prices, key=lambda p: (p.price, p.date))
            items.append(MediaItem(rel, "chart", f"stock:{symbol}", {
                "chart": "line", "title": f"{symbol} monthly closing price (USD)", "points": len(prices),
                "first_date": prices[0].date, "last_date": prices[-1].date,
                "max_price": high.price, "max_date": high.date, "min_price": low.price, "min_date": low.date,
            }))
        countries = sorted((c for c in cat.countries if len(cat.cities_by_country.get(c.code, [])) >= 5),
                           key=lambda c: (-c.population, c.code))[:CHART_COUNTRIES]
        for country in sorted(countries, key=lambda c: c.code):
            cities = cat.cities_by_country[country.code][:10]
            fig = Figure(figsize=(8, 4.5))
            ax = fig.add_subplot()
            ax.barh([c.name for c in reversed(cities)], [c.population / 1e6 for c in reversed(cities)], color="tab:green")
            ax.set_title(f"Largest cities of {country.name}")
            ax.set_xlabel("Population (millions)")
            fig.subplots_adjust(left=0.3, right=0.97, bottom=0.12, top=0.9)
            rel = f"charts/country_{country.code}_top_cities.png"
            _save_figure(fig, root / rel)
            items.append(MediaItem(rel, "chart", f"country:{country.code}", {
                "chart": "bar", "title": f"Largest cities of {country.name}", "bars": len(cities),
                "largest_city": cities[0].name,
                "cities": [{"entity_id": f"city:{c.id}", "name": c.name, "population": c.population} for c in cities],
            }))
    return items


# ---- rendered text ---------------------------------------------------------------------------------------

def _render_text(lines: list[str]) -> Image.Image:
    font = ImageFont.load_default(size=TEXT_FONT_SIZE)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    boxes = [probe.textbbox((0, 0), line, font=font) for line in lines]
    line_height = TEXT_FONT_SIZE + 16
    width = max(b[2] for b in boxes) + 80
    height = line_height * len(lines) + 60
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((40, 30 + i * line_height), line, fill=0, font=font)
    return image


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _text_images(root: Path, cat: Catalog) -> list[MediaItem]:
    rng = rng_for(cat.seed, "text-images")
    # ASCII names only: what an OCR tool reads back can then be compared with the drawn text exactly.
    cities = rng.sample([c for c in cat.profile_cities if c.name.isascii()], TEXT_CITIES)
    elements = rng.sample(cat.elements[:92], TEXT_ELEMENTS)
    companies = rng.sample(cat.companies, TEXT_COMPANIES)
    jobs = [(f"text/{cat.city_slug[c.id]}.png", f"city:{c.id}", [c.name, f"Population: {fmt_int(c.population)}"]) for c in cities]
    jobs += [(f"text/element-{e.name.lower()}.png", f"element:{e.symbol}", [f"{e.name} ({e.symbol})", f"Atomic number: {e.number}"])
             for e in elements]
    jobs += [(f"text/company-{slugify(c.name)}.png", f"company:{c.id}", [c.name, f"Founded: {c.founded}"]) for c in companies]
    items = []
    for rel, entity_id, lines in sorted(jobs):
        image = _render_text(lines)
        write_bytes(root / rel, _png_bytes(image))
        items.append(MediaItem(rel, "text_image", entity_id, {
            "text": "\n".join(lines), "lines": lines, "font_size": TEXT_FONT_SIZE,
            "width": image.width, "height": image.height, "foreground": "#000000", "background": "#ffffff",
        }))
    return items


# ---- tones -----------------------------------------------------------------------------------------------

def _tone_wav(frequency: float) -> bytes:
    n = int(TONE_SAMPLE_RATE * TONE_SECONDS)
    t = np.arange(n, dtype=np.float64) / TONE_SAMPLE_RATE
    signal = TONE_AMPLITUDE * np.sin(2 * math.pi * frequency * t)
    ramp = int(0.01 * TONE_SAMPLE_RATE)  # 10 ms fades: no clicks, and the pitch is unchanged
    envelope = np.ones(n)
    envelope[:ramp] = np.linspace(0.0, 1.0, ramp)
    envelope[-ramp:] = np.linspace(1.0, 0.0, ramp)
    samples = np.round(signal * envelope * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(TONE_SAMPLE_RATE)
        w.writeframes(samples.tobytes())
    return buffer.getvalue()


def _tones(root: Path, cat: Catalog) -> list[MediaItem]:
    items = []
    for element in cat.elements[:TONES]:
        frequency = tone_frequency_hz(element.number)
        rel = f"audio/tone_{element.name.lower()}.wav"
        write_bytes(root / rel, _tone_wav(frequency))
        items.append(MediaItem(rel, "tone", f"element:{element.symbol}", {
            "frequency_hz": frequency, "formula": "200 + 10 * atomic_number", "duration_s": TONE_SECONDS,
            "sample_rate": TONE_SAMPLE_RATE, "channels": 1, "sample_width_bytes": 2, "amplitude": TONE_AMPLITUDE,
            "frames": int(TONE_SAMPLE_RATE * TONE_SECONDS),
        }))
    return items


# ---- swatches --------------------------------------------------------------------------------------------

def brand_colours(cat: Catalog) -> dict[str, str]:
    """Company id -> its brand colour (one of SWATCH_COLOURS), for the companies that have a swatch."""
    rng = rng_for(cat.seed, "brand-colours")
    companies = sorted(rng.sample(cat.companies, len(SWATCH_COLOURS)), key=lambda c: c.id)
    return {c.id: colour for c, colour in zip(companies, SWATCH_COLOURS)}


def _swatches(root: Path, cat: Catalog) -> list[MediaItem]:
    rng = rng_for(cat.seed, "swatches")
    items = []
    for company_id, colour in brand_colours(cat).items():
        rgb = ImageColor.getrgb(colour)
        luminance = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
        ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
        image = Image.new("RGB", (SWATCH_SIZE, SWATCH_SIZE), rgb)
        draw = ImageDraw.Draw(image)
        counts = {"circle": 0, "square": 0, "triangle": 0}
        # Shapes sit in distinct cells of a 4x4 grid: they never overlap, so every count is exact.
        cells = rng.sample(range(16), rng.randint(2, 6))
        for cell in sorted(cells):
            shape = rng.choice(sorted(counts))
            counts[shape] += 1
            x0, y0 = (cell % 4) * 64 + 12, (cell // 4) * 64 + 12
            x1, y1 = x0 + 40, y0 + 40
            if shape == "circle":
                draw.ellipse((x0, y0, x1, y1), fill=ink)
            elif shape == "square":
                draw.rectangle((x0, y0, x1, y1), fill=ink)
            else:
                draw.polygon([(x0 + 20, y0), (x1, y1), (x0, y1)], fill=ink)
        pixels = np.asarray(image).reshape(-1, 3)
        fraction = float(np.mean(np.all(pixels == np.array(rgb, dtype=np.uint8), axis=1)))
        rel = f"images/swatch_{colour}.png"
        write_bytes(root / rel, _png_bytes(image))
        items.append(MediaItem(rel, "swatch", f"company:{company_id}", {
            "dominant_color": colour, "dominant_hex": "#{:02x}{:02x}{:02x}".format(*rgb), "dominant_rgb": list(rgb),
            "dominant_fraction": round(fraction, 4), "shape_color_hex": "#{:02x}{:02x}{:02x}".format(*ink),
            "shapes": counts, "shape_total": sum(counts.values()), "width": SWATCH_SIZE, "height": SWATCH_SIZE,
        }))
    return items
