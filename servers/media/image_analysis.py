"""Image tools that measure pixels: colour statistics, dominant colours, coverage, histograms, hashes, comparison."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from dive.servers.kit import Example, Fact, Meaning, Takes, ToolFailure, no_facts

from .imaging import (
    bits_to_hex,
    downsample,
    kmeans_colors,
    luma,
    nearest_color_name,
    open_image,
    parse_color,
    perceptual_hash_bits,
    rgb_array,
    ssim,
    to_hex,
)
from .images import WORLD_CHART, WORLD_SWATCH, ImagePath
from .workspace import DOMAIN, MediaWorkspace, facts_of

Box = Annotated[
    list[int] | None,
    Field(min_length=4, max_length=4, description="Optional region [left, top, right, bottom] (right/bottom exclusive); "
                                                  "default the whole image"),
]


def _region(img: Image.Image, box: list[int] | None) -> Image.Image:
    if box is None:
        return img
    left, top, right, bottom = box
    if not (0 <= left < right <= img.width and 0 <= top < bottom <= img.height):
        raise ToolFailure(f"box {box} is not inside the {img.width}x{img.height} image (need 0 <= left < right <= width, "
                          "0 <= top < bottom <= height)")
    return img.crop((left, top, right, bottom))


# -- statistics ----------------------------------------------------------------------------------------------------


class ChannelStats(BaseModel):
    channel: str
    mean: float
    median: float
    std: float
    min: int
    max: int


class ColorStats(BaseModel):
    path: str
    width: int
    height: int
    pixels: int = Field(description="Pixels measured (transparent ones are skipped)")
    channels: list[ChannelStats] = Field(description="Per-channel statistics on the 0..255 scale (R, G, B)")
    mean_color: str = Field(description="Average colour as '#rrggbb'")
    mean_color_name: str = Field(description="Nearest CSS colour name to the average colour")
    brightness: float = Field(description="Mean luma 0..255 (ITU-R 601: 0.299 R + 0.587 G + 0.114 B)")
    brightness_percent: float = Field(description="Mean luma as a percentage of white")
    contrast: float = Field(description="Standard deviation of luma (0 for a flat image)")


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("image", "path")}, facts=(Fact("mean_color", "the hex code of the average colour of {path}"), Fact("mean_color_name", "the named colour closest to the average colour of {path}", refers_to="color", by="name"), Fact("brightness_percent", "the mean brightness of {path}", unit="percent of white"))), 
    kind="processing",
    examples=[Example({"path": WORLD_CHART},
                      lambda r: len(r["channels"]) == 3 and r["brightness"] > 128 and r["channels"][0]["max"] == 255)],
)
def image_color_stats(s: MediaWorkspace, path: ImagePath, box: Box = None) -> ColorStats:
    """Colour statistics of an image or a region of it: mean, median, standard deviation, min and max per RGB
    channel, the average colour (hex and nearest name), brightness and contrast."""
    img, real = open_image(s, path)
    region = _region(img, box)
    rgb, alpha = rgb_array(region)
    flat = rgb.reshape(-1, 3)
    if alpha is not None:
        flat = flat[alpha.ravel() > 0.5]
    if len(flat) == 0:
        raise ToolFailure("every pixel in that region is transparent; nothing to measure")
    y = flat @ np.array([0.299, 0.587, 0.114])
    channels = [ChannelStats(channel=name, mean=round(float(flat[:, i].mean()), 3), median=float(np.median(flat[:, i])),
                             std=round(float(flat[:, i].std()), 3), min=int(flat[:, i].min()), max=int(flat[:, i].max()))
                for i, name in enumerate("RGB")]
    mean = flat.mean(axis=0)
    return ColorStats(path=s.relative(real), width=region.width, height=region.height, pixels=len(flat), channels=channels,
                      mean_color=to_hex(mean), mean_color_name=nearest_color_name(mean),
                      brightness=round(float(y.mean()), 3), brightness_percent=round(float(y.mean()) / 2.55, 2),
                      contrast=round(float(y.std()), 3))


class DominantColor(BaseModel):
    hex: str = Field(description="'#rrggbb'")
    rgb: list[int]
    share: float = Field(description="Fraction of the (non-transparent) pixels in this colour's cluster, 0..1")
    name: str = Field(description="Nearest CSS colour name")


class DominantColors(BaseModel):
    path: str
    colors: list[DominantColor] = Field(description="Most common colour clusters, largest share first")
    sampled_pixels: int = Field(description="Pixels clustered (the image is downsampled to at most 160 px a side)")


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("image", "path")}, facts=(Fact("colors[0].name", "the dominant colour of {path}", refers_to="color", by="name"), Fact("colors[0].hex", "the hex code of the dominant colour of {path}"))), 
    kind="processing",
    examples=[
        Example({"path": WORLD_CHART, "count": 3}, lambda r: r["colors"][0]["name"] == "white" and len(r["colors"]) <= 3),
        Example({"path": WORLD_SWATCH, "count": 3},
                lambda r, w: r["colors"][0]["hex"] == facts_of(w, WORLD_SWATCH)["dominant_hex"]
                and abs(r["colors"][0]["share"] - facts_of(w, WORLD_SWATCH)["dominant_fraction"]) < 0.02,
                note="a world swatch's known dominant colour and its share"),
    ],
)
def dominant_colors(
    s: MediaWorkspace,
    path: ImagePath,
    count: Annotated[int, Field(ge=1, le=16, description="How many colours to return")] = 5,
    box: Box = None,
) -> DominantColors:
    """The main colours of an image (k-means clustering of its pixels): hex, RGB, share of the image and nearest
    CSS colour name, most common first. Exact colours come back when the image has few distinct ones."""
    img, real = open_image(s, path)
    region = downsample(_region(img, box), 160)
    rgb, alpha = rgb_array(region)
    flat = rgb.reshape(-1, 3)
    if alpha is not None:
        flat = flat[alpha.ravel() > 0.5]
    if len(flat) == 0:
        raise ToolFailure("every pixel is transparent; there is no colour to measure")
    centres, weights = kmeans_colors(flat.astype(np.int64), count)
    total = weights.sum()
    colors = [DominantColor(hex=to_hex(c), rgb=[round(v) for v in c], share=round(float(w / total), 4),
                            name=nearest_color_name(c))
              for c, w in zip(centres[:count], weights[:count])]
    return DominantColors(path=s.relative(real), colors=colors, sampled_pixels=len(flat))


class ColorCoverage(BaseModel):
    path: str
    color: str = Field(description="The target colour, '#rrggbb'")
    matching_pixels: int
    total_pixels: int
    fraction: float = Field(description="Share of the image within tolerance of the colour, 0..1")
    bounding_box: list[int] | None = Field(description="[left, top, right, bottom] around all matching pixels, or null")
    centroid: list[float] | None = Field(description="[x, y] mean position of the matching pixels, or null")


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("image", "path"), "color": Takes("color", "name")}, facts=(Fact("fraction", "the share of {path} in the colour {color}"), Fact("matching_pixels", "the number of pixels of {path} in the colour {color}"))), 
    kind="processing",
    examples=[
        Example({"path": WORLD_CHART, "color": "white", "tolerance": 5},
                lambda r: r["fraction"] > 0.5 and r["bounding_box"] is not None),
        Example({"path": WORLD_SWATCH, "color": "red", "tolerance": 0},
                lambda r, w: abs(r["fraction"] - facts_of(w, WORLD_SWATCH)["dominant_fraction"]) < 1e-4
                and r["bounding_box"] == [0, 0, 256, 256], note="exact share of the swatch's own colour"),
    ],
)
def color_coverage(
    s: MediaWorkspace,
    path: ImagePath,
    color: Annotated[str, Field(description="Colour to look for: '#rrggbb', '#rgb' or a CSS name")],
    tolerance: Annotated[float, Field(ge=0, le=442, description="Largest RGB distance still counted as that colour "
                                                                "(0 exact, about 30 for anti-aliased shades)")] = 30.0,
) -> ColorCoverage:
    """How much of an image is a given colour: matching pixel count, share, the bounding box and centroid of the
    matching pixels. Use it to find where a coloured line, bar or marker sits, or how much area it covers."""
    img, real = open_image(s, path)
    target = np.array(parse_color(color)[:3], dtype=np.float64)
    rgb, alpha = rgb_array(img)
    match = np.sqrt(((rgb - target) ** 2).sum(axis=2)) <= tolerance
    if alpha is not None:
        match &= alpha > 0.5
    count = int(match.sum())
    box = centroid = None
    if count:
        ys, xs = np.nonzero(match)
        box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
        centroid = [round(float(xs.mean()), 2), round(float(ys.mean()), 2)]
    return ColorCoverage(path=s.relative(real), color=to_hex(target), matching_pixels=count, total_pixels=match.size,
                         fraction=round(count / match.size, 6), bounding_box=box, centroid=centroid)


class ChannelHistogram(BaseModel):
    channel: str
    counts: list[int] = Field(description="Pixels per bin, darkest bin first")


class Histogram(BaseModel):
    path: str
    bins: int
    bin_edges: list[float] = Field(description="bins + 1 edges on the 0..256 scale")
    channels: list[ChannelHistogram]


@DOMAIN.tool(meaning=no_facts("pixel counts per bin depend on the bins the caller chooses; no single value a person would ask for", path=Takes("image", "path")), 
    kind="processing",
    examples=[Example({"path": WORLD_CHART, "bins": 8, "channels": "luma"},
                      lambda r: len(r["channels"]) == 1 and len(r["channels"][0]["counts"]) == 8
                      and r["channels"][0]["counts"][-1] == max(r["channels"][0]["counts"]))],
)
def image_histogram(
    s: MediaWorkspace,
    path: ImagePath,
    bins: Annotated[int, Field(ge=2, le=256, description="Number of equal-width bins over 0..255")] = 16,
    channels: Annotated[Literal["rgb", "luma"], Field(description="'rgb' one histogram per channel, 'luma' brightness")] = "rgb",
    box: Box = None,
) -> Histogram:
    """Pixel-value histogram of an image (per RGB channel or of brightness) with a chosen number of bins: shows
    whether an image is dark, light, low-contrast or dominated by one channel."""
    img, real = open_image(s, path)
    region = _region(img, box)
    edges = np.linspace(0, 256, bins + 1)
    if channels == "luma":
        planes = {"L": luma(region)}
    else:
        rgb, _ = rgb_array(region)
        planes = {name: rgb[..., i] for i, name in enumerate("RGB")}
    hist = [ChannelHistogram(channel=name, counts=[int(c) for c in np.histogram(plane, bins=edges)[0]])
            for name, plane in planes.items()]
    return Histogram(path=s.relative(real), bins=bins, bin_edges=[round(float(e), 3) for e in edges], channels=hist)


class HashResult(BaseModel):
    path: str
    method: str
    hash: str = Field(description="64-bit hash as 16 hex digits; compare two with compare_images or by Hamming distance")


@DOMAIN.tool(meaning=no_facts("an opaque fingerprint, meaningful only when compared with another image's", path=Takes("image", "path")), 
    kind="processing",
    examples=[Example({"path": WORLD_CHART, "method": "phash"}, lambda r: len(r["hash"]) == 16 and r["method"] == "phash")],
)
def perceptual_hash(
    s: MediaWorkspace,
    path: ImagePath,
    method: Annotated[Literal["phash", "dhash", "ahash"],
                      Field(description="'phash' (DCT, robust to resizing and re-encoding), 'dhash' (gradients), "
                                        "'ahash' (average)")] = "phash",
) -> HashResult:
    """A 64-bit perceptual hash of an image: near-identical images (resized, re-encoded, slightly edited) get
    hashes a few bits apart, different images about 32 bits apart. Use it to find duplicates."""
    img, real = open_image(s, path)
    return HashResult(path=s.relative(real), method=method, hash=bits_to_hex(perceptual_hash_bits(img, method)))


class Comparison(BaseModel):
    size_a: list[int]
    size_b: list[int]
    same_size: bool
    identical: bool = Field(description="Same size and every pixel equal")
    mean_abs_diff: float = Field(description="Mean absolute RGB difference 0..255 (b is resized to a's size if needed)")
    changed_fraction: float = Field(description="Share of pixels where some channel differs by more than 16")
    diff_box: list[int] | None = Field(description="[left, top, right, bottom] around the changed pixels, or null")
    ssim: float = Field(description="Structural similarity of the grayscale images, 1 = identical")
    phash_distance: int = Field(description="Hamming distance of the 64-bit perceptual hashes (0..64)")
    similar: bool = Field(description="True when phash_distance <= 10 and ssim >= 0.8")


@DOMAIN.tool(meaning=Meaning(takes={"path_a": Takes("image", "path"), "path_b": Takes("image", "path")}, facts=(Fact("identical", "whether {path_a} and {path_b} have identical pixels"), Fact("same_size", "whether {path_a} and {path_b} have the same dimensions"))), 
    kind="processing",
    examples=[Example({"path_a": WORLD_CHART, "path_b": WORLD_CHART},
                      lambda r: r["identical"] and r["ssim"] > 0.999 and r["phash_distance"] == 0)],
)
def compare_images(
    s: MediaWorkspace,
    path_a: Annotated[str, Field(description="First image (the reference)")],
    path_b: Annotated[str, Field(description="Second image")],
) -> Comparison:
    """Compare two images: whether sizes match, pixel-identical or not, mean absolute difference, share and
    bounding box of changed pixels, structural similarity (SSIM) and perceptual-hash distance. Works across sizes
    and formats (e.g. an original and its resized JPEG)."""
    a, _ = open_image(s, path_a)
    b, _ = open_image(s, path_b)
    rgb_a, _ = rgb_array(a)
    b_same = b if b.size == a.size else b.convert("RGBA").resize(a.size, Image.Resampling.LANCZOS)
    rgb_b, _ = rgb_array(b_same)
    diff = np.abs(rgb_a - rgb_b)
    changed = diff.max(axis=2) > 16
    box = None
    if changed.any():
        ys, xs = np.nonzero(changed)
        box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    small_a, small_b = downsample(a, 512), downsample(b_same, 512)
    score = ssim(luma(small_a), luma(small_b))
    distance = int(np.count_nonzero(perceptual_hash_bits(a, "phash") != perceptual_hash_bits(b, "phash")))
    identical = a.size == b.size and not diff.any()
    return Comparison(size_a=list(a.size), size_b=list(b.size), same_size=a.size == b.size, identical=identical,
                      mean_abs_diff=round(float(diff.mean()), 4), changed_fraction=round(float(changed.mean()), 6),
                      diff_box=box, ssim=round(score, 5), phash_distance=distance,
                      similar=distance <= 10 and score >= 0.8)
