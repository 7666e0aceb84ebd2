"""Image plumbing shared by the image, OCR and chart tools: loading, encoding, colours, hashes, similarity."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageFont, UnidentifiedImageError
from pydantic import BaseModel, Field

from dive.servers.kit import ToolFailure

from .workspace import IMAGE_FORMATS, MediaWorkspace, default_name

#: Refuse to create images larger than this (width x height), so one call cannot exhaust memory.
MAX_OUTPUT_PIXELS = 40_000_000
MAX_SIDE = 10_000


class ImageFile(BaseModel):
    """An image a tool wrote into this session's media folder."""

    path: str = Field(description="Workspace-relative path of the written image; pass it to other media tools")
    format: str = Field(description="Pillow format name, e.g. PNG or JPEG")
    mode: str = Field(description="Pillow pixel mode, e.g. RGB, RGBA, L (grayscale)")
    width: int
    height: int
    bytes: int = Field(description="File size in bytes")


def open_image(ws: MediaWorkspace, path: str) -> tuple[Image.Image, Path]:
    """Load an image (its first frame) fully into memory; refuse non-images with a clear message."""
    real = ws.locate(path)
    try:
        img = Image.open(real)
        img.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise ToolFailure(f"{path!r} is not an image Pillow can read (PNG, JPEG, WEBP, GIF, BMP, TIFF): {exc}") from None
    return img, real


def image_suffixes(fmt: str | None = None) -> tuple[str, ...]:
    """File extensions for a Pillow format (all image extensions when None)."""
    return tuple(s for s, f in IMAGE_FORMATS.items() if fmt is None or f == fmt)


def format_for(target: Path) -> str:
    return IMAGE_FORMATS[target.suffix.lower()]


def check_output_size(width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise ToolFailure(f"the result would be {width}x{height} pixels; both sides must be at least 1")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_OUTPUT_PIXELS:
        raise ToolFailure(
            f"the result would be {width}x{height} pixels, over the limit ({MAX_SIDE} per side, "
            f"{MAX_OUTPUT_PIXELS:,} in all); ask for a smaller size"
        )


def fit_mode(img: Image.Image, fmt: str) -> Image.Image:
    """Convert `img` to a mode the format can store (JPEG has no alpha: flatten onto white)."""
    if fmt == "JPEG":
        if img.mode in ("RGB", "L", "CMYK"):
            return img
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", img.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if fmt in ("WEBP", "BMP") and img.mode not in ("RGB", "RGBA", "L"):
        return img.convert("RGBA" if "A" in img.getbands() or img.mode == "P" else "RGB")
    if fmt == "PNG" and img.mode in ("CMYK", "YCbCr", "LAB", "HSV", "F"):
        return img.convert("RGB")
    return img


def encode_image(img: Image.Image, fmt: str, *, quality: int | None = None, exif: bytes | None = None) -> bytes:
    """The bytes of `img` saved as `fmt` (deterministic: no timestamps, fixed settings)."""
    img = fit_mode(img, fmt)
    options: dict = {}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality or 90
    if exif is not None and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        options["exif"] = exif
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def save_image(
    ws: MediaWorkspace, img: Image.Image, target: Path, *, quality: int | None = None, exif: bytes | None = None
) -> ImageFile:
    """Encode `img` by `target`'s extension, write it atomically, and describe what was written."""
    fmt = format_for(target)
    data = encode_image(img, fmt, quality=quality, exif=exif)
    rel = ws.write(target, data)
    written = Image.open(io.BytesIO(data))
    return ImageFile(path=rel, format=fmt, mode=written.mode, width=written.width, height=written.height, bytes=len(data))


def write_encoded(ws: MediaWorkspace, target: Path, data: bytes) -> ImageFile:
    """Write already-encoded image bytes (a matplotlib PNG) and describe them."""
    rel = ws.write(target, data)
    with Image.open(io.BytesIO(data)) as img:
        return ImageFile(path=rel, format=img.format or format_for(target), mode=img.mode, width=img.width,
                         height=img.height, bytes=len(data))


def output_image(ws: MediaWorkspace, requested: str | None, source_path: str, tag: str, source_real: Path) -> Path:
    """The target of an image-producing tool: the caller's path, else `out/<stem>-<tag><source suffix>`."""
    suffix = source_real.suffix.lower()
    if suffix not in IMAGE_FORMATS:
        suffix = ".png"
    return ws.output(requested, default_name(source_path, tag, suffix), image_suffixes())


# -- colours ---------------------------------------------------------------------------------------------------


def parse_color(value: str, *, what: str = "colour") -> tuple[int, int, int, int]:
    """'#1f77b4', '#fff', 'red', 'rgb(10,20,30)' -> RGBA; a clear error otherwise."""
    try:
        rgb = ImageColor.getrgb(value.strip())
    except (ValueError, AttributeError):
        raise ToolFailure(f"{what} {value!r} is not a colour; use '#rrggbb', '#rgb', 'rgb(r,g,b)' or a CSS name such as 'red'") from None
    return (rgb[0], rgb[1], rgb[2], rgb[3] if len(rgb) == 4 else 255)


def to_hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(round(float(c)) for c in rgb[:3]))


#: CSS names that duplicate another name's exact colour; the more familiar spelling is kept.
_SYNONYMS = {"aqua", "fuchsia"}


@lru_cache(maxsize=1)
def _named_colors() -> tuple[list[str], np.ndarray]:
    names = sorted(n for n in ImageColor.colormap if n not in _SYNONYMS and "grey" not in n)
    values = np.array([ImageColor.getrgb(n)[:3] for n in names], dtype=np.float64)
    return names, values


def nearest_color_name(rgb) -> str:
    """The CSS colour name nearest to `rgb` (Euclidean in RGB; 'cyan', 'magenta' and 'gray' spellings win)."""
    names, values = _named_colors()
    d = ((values - np.asarray(rgb[:3], dtype=np.float64)) ** 2).sum(axis=1)
    return names[int(np.argmin(d))]


def rgb_array(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W, 3) float RGB and an (H, W) alpha mask in 0..1 (None when opaque)."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float64)
        return rgba[..., :3], rgba[..., 3] / 255.0
    return np.asarray(img.convert("RGB"), dtype=np.float64), None


def luma(img: Image.Image) -> np.ndarray:
    """Grayscale (ITU-R 601 luma, as Pillow's 'L' mode) as float (H, W)."""
    if img.mode in ("RGBA", "LA", "PA", "P"):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", img.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        img = flat
    return np.asarray(img.convert("L"), dtype=np.float64)


def downsample(img: Image.Image, max_side: int) -> Image.Image:
    """Shrink with nearest-neighbour (keeps exact colours) so the longer side is at most `max_side`."""
    scale = max(img.width, img.height) / max_side
    if scale <= 1:
        return img
    return img.resize((max(1, round(img.width / scale)), max(1, round(img.height / scale))), Image.Resampling.NEAREST)


def kmeans_colors(pixels: np.ndarray, k: int, iterations: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic k-means on (N, 3) pixels, seeded from the most frequent exact colours.

    Returns (centres (k', 3), counts (k',)) sorted by count, largest first; k' <= k.
    """
    packed = (pixels[:, 0].astype(np.int64) << 16) | (pixels[:, 1].astype(np.int64) << 8) | pixels[:, 2].astype(np.int64)
    uniq, counts = np.unique(packed, return_counts=True)
    order = np.lexsort((uniq, -counts))
    uniq, counts = uniq[order], counts[order]
    colours = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1).astype(np.float64)
    if len(uniq) <= k:  # few distinct colours: they are the answer, exactly
        return colours, counts.astype(np.float64)
    # Seeds: frequent colours that are not near an already chosen seed (farthest-point among the frequent).
    seeds = [colours[0]]
    for c in colours[1:]:
        if len(seeds) == k:
            break
        if min(np.sum((c - s) ** 2) for s in seeds) > 24.0**2:
            seeds.append(c)
    centres = np.array(seeds)
    for _ in range(iterations):
        d = ((colours[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        label = d.argmin(axis=1)
        new = np.array([
            (colours[label == j] * counts[label == j, None]).sum(axis=0) / counts[label == j].sum()
            if np.any(label == j) else centres[j]
            for j in range(len(centres))
        ])
        if np.allclose(new, centres):
            break
        centres = new
    d = ((colours[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    label = d.argmin(axis=1)
    weights = np.array([counts[label == j].sum() for j in range(len(centres))], dtype=np.float64)
    keep = weights > 0
    centres, weights = centres[keep], weights[keep]
    order = np.argsort(-weights, kind="stable")
    return centres[order], weights[order]


# -- perceptual hashes and similarity ---------------------------------------------------------------------------


def perceptual_hash_bits(img: Image.Image, method: str) -> np.ndarray:
    """64 bits: 'phash' (DCT of 32x32 grayscale), 'dhash' (gradients of 9x8), 'ahash' (8x8 vs mean)."""
    from scipy import fft  # deferred: scipy is slow to import and a server should start fast

    gray = img.convert("RGBA") if img.mode in ("P", "PA", "LA") else img
    gray = gray.convert("L")
    if method == "phash":
        small = np.asarray(gray.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
        coeffs = fft.dctn(small, norm="ortho")[:8, :8].ravel()
        return coeffs > np.median(coeffs[1:])
    if method == "dhash":
        small = np.asarray(gray.resize((9, 8), Image.Resampling.LANCZOS), dtype=np.float64)
        return (small[:, 1:] > small[:, :-1]).ravel()
    if method == "ahash":
        small = np.asarray(gray.resize((8, 8), Image.Resampling.LANCZOS), dtype=np.float64)
        return (small > small.mean()).ravel()
    raise ToolFailure(f"unknown hash method {method!r}; use 'phash', 'dhash' or 'ahash'")


def bits_to_hex(bits: np.ndarray) -> str:
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return f"{value:0{len(bits) // 4}x}"


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of two same-shaped grayscale arrays (0..255), 7x7 uniform windows."""
    from scipy import ndimage

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = ndimage.uniform_filter(a, 7), ndimage.uniform_filter(b, 7)
    var_a = ndimage.uniform_filter(a * a, 7) - mu_a**2
    var_b = ndimage.uniform_filter(b * b, 7) - mu_b**2
    cov = ndimage.uniform_filter(a * b, 7) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def otsu_level(gray: np.ndarray) -> int:
    """Otsu's threshold of a 0..255 grayscale array: the level that best splits dark from light."""
    hist = np.bincount(np.clip(gray, 0, 255).astype(np.int64).ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(hist)
    w1 = total - w0
    m0 = np.cumsum(hist * levels)
    mean_total = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean_total * w0 / total - m0) ** 2 / (w0 * w1 / total)
    between[~np.isfinite(between)] = -1
    # pixels <= level are dark; the threshold reported is the first light level
    return int(np.argmax(between)) + 1


# -- fonts ---------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (shipped with matplotlib, so every install renders the same glyphs)."""
    import matplotlib

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)
