"""Image tools that read an image's facts or make a new image from it: metadata, geometry, format, editing."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from PIL import ExifTags, Image, ImageColor, ImageDraw, ImageEnhance, ImageFilter, ImageOps
from pydantic import BaseModel, Field

from dive.servers.kit import Example, Fact, Meaning, Takes, ToolFailure, no_facts

from .imaging import (
    ImageFile,
    check_output_size,
    font,
    image_suffixes,
    open_image,
    output_image,
    otsu_level,
    luma,
    parse_color,
    save_image,
    to_hex,
)
from .workspace import DOMAIN, IMAGE_FORMATS, MediaWorkspace, default_name, facts_of, sha256_of

ImagePath = Annotated[
    str,
    Field(description="Image path: a world media file such as 'charts/stock_MSFT.png' or a path an earlier call wrote"),
]
OutputPath = Annotated[
    str | None,
    Field(description="Where to save in this session's media folder, e.g. 'out/small.png' (the extension picks the "
                      "format, and a file already there is replaced); default 'out/<name>-<operation>.<ext>', numbered "
                      "rather than replacing an earlier output"),
]
WORLD_CHART = "charts/stock_MSFT.png"
WORLD_SWATCH = "images/swatch_red.png"


def _world_size(world, path: str) -> tuple[int, int]:
    with Image.open(world.media_root / path) as img:
        return img.size


# -- facts about an image ------------------------------------------------------------------------------------------


class ImageInfo(BaseModel):
    path: str
    source: Literal["session", "world"] = Field(description="'session' for a file this session wrote, else 'world'")
    format: str = Field(description="Pillow format name (PNG, JPEG, ...)")
    mode: str = Field(description="Pixel mode: RGB, RGBA, L (grayscale), P (palette), 1 (bilevel), ...")
    width: int
    height: int
    bands: list[str] = Field(description="Channel names, e.g. ['R', 'G', 'B', 'A']")
    has_alpha: bool
    frames: int = Field(description="Number of frames (more than 1 for animated GIF/WEBP)")
    dpi: list[float] | None = Field(description="Stored resolution in dots per inch, when the file records one")
    file_bytes: int
    sha256: str = Field(description="SHA-256 of the file bytes; equal hashes mean identical files")


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("image", "path")}, facts=(Fact("width", "the width of {path}", unit="pixels"), Fact("height", "the height of {path}", unit="pixels"), Fact("file_bytes", "the file size of {path}", unit="bytes"))), 
    kind="retrieval",
    examples=[Example({"path": WORLD_SWATCH},
                      lambda r, w: r["format"] == "PNG" and r["source"] == "world" and r["mode"] == "RGB"
                      and (r["width"], r["height"]) == (facts_of(w, WORLD_SWATCH)["width"], facts_of(w, WORLD_SWATCH)["height"]))],
)
def image_info(s: MediaWorkspace, path: ImagePath) -> ImageInfo:
    """Metadata of an image file: format, pixel mode, width and height, channels, alpha, frame count, DPI, file size
    and SHA-256. Use it to check what a tool produced or to learn an image's size before cropping."""
    img, real = open_image(s, path)
    dpi = img.info.get("dpi")
    return ImageInfo(
        path=s.relative(real),
        source=s.source_of(real),
        format=img.format or IMAGE_FORMATS.get(real.suffix.lower(), "unknown"),
        mode=img.mode,
        width=img.width,
        height=img.height,
        bands=list(img.getbands()),
        has_alpha="A" in img.getbands() or "transparency" in img.info,
        frames=getattr(img, "n_frames", 1),
        dpi=[round(float(d), 3) for d in dpi] if dpi else None,
        file_bytes=real.stat().st_size,
        sha256=sha256_of(real),
    )


class ImageMetadata(BaseModel):
    path: str
    exif: dict[str, str] = Field(description="EXIF tags by name (ImageDescription, Artist, DateTime, Model, ...)")
    text: dict[str, str] = Field(description="Embedded text chunks (PNG tEXt/iTXt such as 'Software'), by key")
    has_icc_profile: bool
    gps: dict[str, str] = Field(description="GPS EXIF tags by name, when present")


def _exif_value(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    return str(value)


def _metadata(img: Image.Image) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    exif = img.getexif()
    tags = {ExifTags.TAGS.get(k, f"tag_{k}"): _exif_value(v) for k, v in exif.items() if k not in (0x8769, 0x8825)}
    for k, v in exif.get_ifd(0x8769).items():  # the Exif sub-IFD: exposure, capture time, ...
        tags[ExifTags.TAGS.get(k, f"tag_{k}")] = _exif_value(v)
    gps = {ExifTags.GPSTAGS.get(k, f"tag_{k}"): _exif_value(v) for k, v in exif.get_ifd(0x8825).items()}
    text = {str(k): str(v) for k, v in img.info.items()
            if isinstance(v, str) and k not in ("exif", "icc_profile")}
    return tags, text, gps


@DOMAIN.tool(meaning=no_facts("the world's images carry no EXIF, GPS or text tags; tags in a session's copies are the caller's own words", path=Takes("image", "path")), 
    kind="retrieval",
    examples=[Example({"path": WORLD_CHART},
                      lambda r: r["path"] == WORLD_CHART and r["exif"] == {} and r["gps"] == {},
                      note="the world's charts are written without metadata")],
)
def read_image_metadata(s: MediaWorkspace, path: ImagePath) -> ImageMetadata:
    """Embedded metadata of an image: EXIF tags (description, artist, camera, capture time), GPS tags, text chunks
    (e.g. the PNG 'Software' that made it) and whether an ICC colour profile is attached."""
    img, real = open_image(s, path)
    exif, text, gps = _metadata(img)
    return ImageMetadata(path=s.relative(real), exif=exif, text=text, gps=gps,
                         has_icc_profile=bool(img.info.get("icc_profile")))


class MetadataWrite(BaseModel):
    image: ImageFile
    exif: dict[str, str] = Field(description="The EXIF tags the written file now carries")


_EXIF_FIELDS = {"description": 0x010E, "artist": 0x013B, "copyright": 0x8298, "software": 0x0131, "datetime": 0x0132}


@DOMAIN.tool(meaning=no_facts("writes a tagged copy under a name it chose; the tags it reports are the caller's own", path=Takes("image", "path")), 
    kind="processing",
    writes=True,
    examples=[Example({"path": WORLD_CHART, "description": "MSFT price chart", "artist": "DIVE"},
                      lambda r: r["exif"].get("ImageDescription") == "MSFT price chart" and r["exif"].get("Artist") == "DIVE"
                      and r["image"]["path"].startswith("out/"))],
)
def write_image_metadata(
    s: MediaWorkspace,
    path: ImagePath,
    description: Annotated[str | None, Field(max_length=2000, description="EXIF ImageDescription")] = None,
    artist: Annotated[str | None, Field(max_length=200, description="EXIF Artist")] = None,
    copyright: Annotated[str | None, Field(max_length=200, description="EXIF Copyright")] = None,
    software: Annotated[str | None, Field(max_length=200, description="EXIF Software")] = None,
    datetime: Annotated[str | None, Field(pattern=r"^\d{4}:\d{2}:\d{2} \d{2}:\d{2}:\d{2}$",
                                          description="EXIF DateTime, 'YYYY:MM:DD HH:MM:SS'")] = None,
    output: OutputPath = None,
) -> MetadataWrite:
    """Save a copy of an image with EXIF tags set (description, artist, copyright, software, date-time); existing
    tags are kept unless overwritten. PNG, JPEG, WEBP and TIFF outputs carry EXIF."""
    values = {"description": description, "artist": artist, "copyright": copyright, "software": software,
              "datetime": datetime}
    if all(v is None for v in values.values()):
        raise ToolFailure("give at least one of description, artist, copyright, software or datetime")
    img, real = open_image(s, path)
    target = output_image(s, output, path, "tagged", real)
    if target.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"):
        raise ToolFailure("EXIF can be stored in PNG, JPEG, WEBP or TIFF; choose an output with one of those extensions")
    exif = img.getexif()
    for key, value in values.items():
        if value is not None:
            exif[_EXIF_FIELDS[key]] = value
    written = save_image(s, img, target, exif=exif.tobytes())
    with Image.open(target) as check:
        tags, _, _ = _metadata(check)
    return MetadataWrite(image=written, exif=tags)


class StripResult(BaseModel):
    image: ImageFile
    removed: list[str] = Field(description="Names of the metadata items that were dropped")


@DOMAIN.tool(meaning=no_facts("writes a stripped copy under a name it chose; what it removed is what read_image_metadata reports", path=Takes("image", "path")), 
    kind="processing",
    writes=True,
    examples=[Example({"path": WORLD_CHART},
                      lambda r, w: (r["image"]["width"], r["image"]["height"]) == _world_size(w, WORLD_CHART))],
)
def strip_image_metadata(s: MediaWorkspace, path: ImagePath, output: OutputPath = None) -> StripResult:
    """Save a copy of an image with all embedded metadata removed (EXIF, GPS, text chunks, ICC profile), pixels
    unchanged. Use before sharing an image; the result lists what was dropped."""
    img, real = open_image(s, path)
    exif, text, gps = _metadata(img)
    removed = [f"exif:{k}" for k in exif] + [f"gps:{k}" for k in gps] + [f"text:{k}" for k in text]
    if img.info.get("icc_profile"):
        removed.append("icc_profile")
    clean = Image.frombytes(img.mode, img.size, img.tobytes())  # pixels only: no info, EXIF or profile
    if img.mode in ("P", "PA"):
        clean.putpalette(img.getpalette())
    if "transparency" in img.info:  # part of how the pixels look, not metadata
        clean.info["transparency"] = img.info["transparency"]
    target = output_image(s, output, path, "stripped", real)
    return StripResult(image=save_image(s, clean, target), removed=removed)


class PixelSample(BaseModel):
    x: int
    y: int
    hex: str = Field(description="Colour as '#rrggbb'")
    rgba: list[int] = Field(description="[red, green, blue, alpha], each 0..255")


class PixelSamples(BaseModel):
    path: str
    width: int
    height: int
    pixels: list[PixelSample]


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("image", "path")}, facts=(Fact("width", "the width of {path}", unit="pixels"), Fact("height", "the height of {path}", unit="pixels"),)), 
    kind="retrieval",
    examples=[Example({"path": WORLD_SWATCH, "points": [[0, 0], [255, 255]]},
                      lambda r, w: [p["hex"] for p in r["pixels"]] == [facts_of(w, WORLD_SWATCH)["dominant_hex"]] * 2
                      and r["pixels"][0]["rgba"][3] == 255, note="a swatch's corners are its brand colour")],
)
def sample_pixels(
    s: MediaWorkspace,
    path: ImagePath,
    points: Annotated[list[Annotated[list[int], Field(min_length=2, max_length=2)]],
                      Field(min_length=1, max_length=200, description="Pixel coordinates [[x, y], ...]; (0, 0) is top-left")],
) -> PixelSamples:
    """The exact colour of an image at given pixel coordinates (hex and RGBA), e.g. to read a chart line's colour
    or check a background."""
    img, real = open_image(s, path)
    rgba = img.convert("RGBA")
    samples = []
    for x, y in points:
        if not (0 <= x < img.width and 0 <= y < img.height):
            raise ToolFailure(f"point ({x}, {y}) is outside the {img.width}x{img.height} image (x < width, y < height)")
        value = rgba.getpixel((x, y))
        samples.append(PixelSample(x=x, y=y, hex=to_hex(value), rgba=list(value)))
    return PixelSamples(path=s.relative(real), width=img.width, height=img.height, pixels=samples)


# -- geometry ------------------------------------------------------------------------------------------------------

_RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
             "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}


class ResizeResult(BaseModel):
    original_width: int
    original_height: int
    image: ImageFile


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("image", "path")}, facts=(Fact("original_width", "the width of {path}", unit="pixels"), Fact("original_height", "the height of {path}", unit="pixels"),)), 
    kind="processing",
    writes=True,
    examples=[
        Example({"path": WORLD_CHART, "width": 200},
                lambda r, w: r["image"]["width"] == 200
                and r["image"]["height"] == round(_world_size(w, WORLD_CHART)[1] * 200 / _world_size(w, WORLD_CHART)[0])),
        Example({"path": WORLD_CHART, "width": 64, "height": 64, "keep_aspect": False},
                lambda r: (r["image"]["width"], r["image"]["height"]) == (64, 64)),
    ],
)
def resize_image(
    s: MediaWorkspace,
    path: ImagePath,
    width: Annotated[int | None, Field(ge=1, le=10_000, description="Target width in pixels")] = None,
    height: Annotated[int | None, Field(ge=1, le=10_000, description="Target height in pixels")] = None,
    scale: Annotated[float | None, Field(gt=0, le=20, description="Scale factor instead of a size, e.g. 0.5")] = None,
    keep_aspect: Annotated[bool, Field(description="With both width and height: fit inside that box keeping the "
                                                   "aspect ratio (thumbnail); false stretches to exactly that size")] = True,
    resample: Annotated[Literal["nearest", "bilinear", "bicubic", "lanczos"],
                        Field(description="Interpolation; 'nearest' keeps hard pixel edges")] = "lanczos",
    output: OutputPath = None,
) -> ResizeResult:
    """Resize an image by width, height, both (fit inside a box or stretch) or a scale factor. Giving only one side
    keeps the aspect ratio. Use it for thumbnails or to enlarge small text before OCR."""
    img, real = open_image(s, path)
    w0, h0 = img.size
    if scale is not None:
        if width is not None or height is not None:
            raise ToolFailure("give either scale or width/height, not both")
        size = (max(1, round(w0 * scale)), max(1, round(h0 * scale)))
    elif width is not None and height is not None:
        if keep_aspect:
            factor = min(width / w0, height / h0)
            size = (max(1, round(w0 * factor)), max(1, round(h0 * factor)))
        else:
            size = (width, height)
    elif width is not None:
        size = (width, max(1, round(h0 * width / w0)))
    elif height is not None:
        size = (max(1, round(w0 * height / h0)), height)
    else:
        raise ToolFailure("give width, height, both, or scale")
    check_output_size(*size)
    resized = img.resize(size, _RESAMPLE[resample])
    target = output_image(s, output, path, f"{size[0]}x{size[1]}", real)
    return ResizeResult(original_width=w0, original_height=h0, image=save_image(s, resized, target))


class CropResult(BaseModel):
    box: list[int] = Field(description="[left, top, right, bottom] that was kept (right/bottom exclusive)")
    image: ImageFile


@DOMAIN.tool(meaning=no_facts("writes a crop under a name it chose; the box it reports echoes the caller's edges", path=Takes("image", "path")), 
    kind="processing",
    writes=True,
    examples=[Example({"path": WORLD_CHART, "left": 10, "top": 20, "right": 110, "bottom": 70},
                      lambda r: (r["image"]["width"], r["image"]["height"]) == (100, 50) and r["box"] == [10, 20, 110, 70])],
)
def crop_image(
    s: MediaWorkspace,
    path: ImagePath,
    left: Annotated[int, Field(ge=0, description="Left edge in pixels (inclusive)")],
    top: Annotated[int, Field(ge=0, description="Top edge in pixels (inclusive)")],
    right: Annotated[int, Field(ge=1, description="Right edge in pixels (exclusive); the width is right - left")],
    bottom: Annotated[int, Field(ge=1, description="Bottom edge in pixels (exclusive); the height is bottom - top")],
    output: OutputPath = None,
) -> CropResult:
    """Cut a rectangle out of an image, given its edges in pixels ((0, 0) is the top-left corner). Use image_info
    first for the size, or trim_borders to crop away a plain margin automatically."""
    img, real = open_image(s, path)
    if right <= left or bottom <= top:
        raise ToolFailure(f"empty box: need left < right and top < bottom, got ({left}, {top}, {right}, {bottom})")
    if right > img.width or bottom > img.height:
        raise ToolFailure(f"box ({left}, {top}, {right}, {bottom}) goes outside the {img.width}x{img.height} image")
    target = output_image(s, output, path, f"crop-{left}-{top}-{right}-{bottom}", real)
    return CropResult(box=[left, top, right, bottom], image=save_image(s, img.crop((left, top, right, bottom)), target))


class TransformResult(BaseModel):
    original_width: int
    original_height: int
    image: ImageFile


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("image", "path")}, facts=(Fact("original_width", "the width of {path}", unit="pixels"), Fact("original_height", "the height of {path}", unit="pixels"),)), 
    kind="processing",
    writes=True,
    examples=[Example({"path": WORLD_CHART, "degrees": 90},
                      lambda r: (r["image"]["width"], r["image"]["height"]) == (r["original_height"], r["original_width"]))],
)
def rotate_image(
    s: MediaWorkspace,
    path: ImagePath,
    degrees: Annotated[float, Field(ge=-360, le=360, description="Angle clockwise in degrees (negative turns "
                                                                   "counter-clockwise); multiples of 90 are lossless")],
    expand: Annotated[bool, Field(description="Grow the canvas so nothing is cut off (else keep the original size)")] = True,
    fill: Annotated[str, Field(description="Colour of the uncovered corners, e.g. 'white' or '#00000000'")] = "white",
    output: OutputPath = None,
) -> TransformResult:
    """Rotate an image clockwise by any angle; quarter turns are exact, other angles fill the corners with `fill`."""
    img, real = open_image(s, path)
    turns = degrees % 360
    if turns in (90, 180, 270):
        op = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}[int(turns)]
        rotated = img.transpose(op)
    elif turns == 0:
        rotated = img.copy()
    else:
        colour = parse_color(fill, what="fill")
        if colour[3] < 255 or "A" in img.getbands() or img.mode == "P":
            base = img.convert("RGBA")
        else:
            base = img if img.mode in ("RGB", "L") else img.convert("RGB")
        rotated = base.rotate(-degrees, resample=Image.Resampling.BICUBIC, expand=expand,
                              fillcolor=ImageColor.getcolor(fill.strip(), base.mode))
    check_output_size(*rotated.size)
    target = output_image(s, output, path, f"rot{degrees:g}", real)
    return TransformResult(original_width=img.width, original_height=img.height, image=save_image(s, rotated, target))


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("image", "path")}, facts=(Fact("original_width", "the width of {path}", unit="pixels"), Fact("original_height", "the height of {path}", unit="pixels"),)), 
    kind="processing",
    writes=True,
    examples=[Example({"path": WORLD_CHART, "direction": "horizontal"},
                      lambda r: (r["image"]["width"], r["image"]["height"]) == (r["original_width"], r["original_height"]))],
)
def flip_image(
    s: MediaWorkspace,
    path: ImagePath,
    direction: Annotated[Literal["horizontal", "vertical"],
                         Field(description="'horizontal' mirrors left-right, 'vertical' mirrors top-bottom")],
    output: OutputPath = None,
) -> TransformResult:
    """Mirror an image left-right or top-bottom (size unchanged)."""
    img, real = open_image(s, path)
    flipped = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT if direction == "horizontal" else Image.Transpose.FLIP_TOP_BOTTOM)
    target = output_image(s, output, path, f"flip-{direction}", real)
    return TransformResult(original_width=img.width, original_height=img.height, image=save_image(s, flipped, target))


class TrimResult(BaseModel):
    background: str = Field(description="The border colour that was trimmed, '#rrggbb'")
    box: list[int] = Field(description="[left, top, right, bottom] of the content that was kept")
    original_width: int
    original_height: int
    image: ImageFile


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("image", "path")}, facts=(Fact("original_width", "the width of {path}", unit="pixels"), Fact("original_height", "the height of {path}", unit="pixels"),)), 
    kind="processing",
    writes=True,
    examples=[Example({"path": WORLD_CHART, "margin": 2},
                      lambda r: r["image"]["width"] <= r["original_width"] and r["image"]["height"] <= r["original_height"])],
)
def trim_borders(
    s: MediaWorkspace,
    path: ImagePath,
    tolerance: Annotated[int, Field(ge=0, le=255, description="How far (per channel) a pixel may differ from the "
                                                              "background and still count as border")] = 10,
    margin: Annotated[int, Field(ge=0, le=500, description="Pixels of border to keep around the content")] = 0,
    output: OutputPath = None,
) -> TrimResult:
    """Crop away a plain border (the colour of the top-left pixel) so only the content remains, e.g. the white
    margin around a chart or rendered text. Returns the content's bounding box."""
    img, real = open_image(s, path)
    rgba = np.asarray(img.convert("RGBA"), dtype=np.int16)
    bg = rgba[0, 0]
    content = np.abs(rgba - bg).max(axis=2) > tolerance
    if not content.any():
        raise ToolFailure(f"the whole image is the border colour {to_hex(bg)}; nothing to keep (raise the tolerance?)")
    rows, cols = np.where(content.any(axis=1))[0], np.where(content.any(axis=0))[0]
    box = [max(0, int(cols[0]) - margin), max(0, int(rows[0]) - margin),
           min(img.width, int(cols[-1]) + 1 + margin), min(img.height, int(rows[-1]) + 1 + margin)]
    target = output_image(s, output, path, "trimmed", real)
    return TrimResult(background=to_hex(bg), box=box, original_width=img.width, original_height=img.height,
                      image=save_image(s, img.crop(tuple(box)), target))


# -- format and pixels ---------------------------------------------------------------------------------------------

_FORMAT_SUFFIX = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "gif": ".gif", "bmp": ".bmp", "tiff": ".tif"}


class ConvertResult(BaseModel):
    original_format: str
    original_mode: str
    original_bytes: int
    image: ImageFile


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("image", "path")}, facts=(Fact("original_bytes", "the file size of {path}", unit="bytes"),)), 
    kind="processing",
    writes=True,
    examples=[
        Example({"path": WORLD_CHART, "format": "jpeg", "quality": 80},
                lambda r: r["image"]["format"] == "JPEG" and r["image"]["path"].endswith(".jpg") and r["original_format"] == "PNG"),
        Example({"path": WORLD_CHART, "format": "png", "mode": "L"},
                lambda r: r["image"]["mode"] == "L"),
    ],
)
def convert_image(
    s: MediaWorkspace,
    path: ImagePath,
    format: Annotated[Literal["png", "jpeg", "webp", "gif", "bmp", "tiff"], Field(description="Target file format")],
    mode: Annotated[Literal["keep", "RGB", "RGBA", "L", "1", "P"],
                    Field(description="Pixel mode: 'L' grayscale, '1' dithered black and white (threshold_image gives "
                                      "a hard cut), 'P' 256-colour palette, 'keep' leaves it (JPEG drops alpha onto "
                                      "white)")] = "keep",
    quality: Annotated[int | None, Field(ge=1, le=100, description="JPEG/WEBP quality (default 90)")] = None,
    output: OutputPath = None,
) -> ConvertResult:
    """Convert an image to another file format (PNG, JPEG, WEBP, GIF, BMP, TIFF) and optionally another pixel mode
    (grayscale, black-and-white, palette). Reports the file size before and after."""
    img, real = open_image(s, path)
    suffix = _FORMAT_SUFFIX[format]
    target = s.output(output, default_name(path, "" if mode == "keep" else mode.lower(), suffix),
                      image_suffixes(IMAGE_FORMATS[suffix]))
    if mode == "keep":
        converted = img
    elif mode == "P":  # an adaptive palette of the image's own colours, not the fixed web palette
        converted = img.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    else:
        converted = (img.convert("RGBA") if img.mode == "P" else img).convert(mode)
    written = save_image(s, converted, target, quality=quality)
    return ConvertResult(original_format=img.format or "unknown", original_mode=img.mode,
                         original_bytes=real.stat().st_size, image=written)


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("image", "path")}, facts=(Fact("original_width", "the width of {path}", unit="pixels"), Fact("original_height", "the height of {path}", unit="pixels"),)), 
    kind="processing",
    writes=True,
    examples=[Example({"path": WORLD_CHART, "brightness": 0.5},
                      lambda r: r["image"]["path"].startswith("out/") and r["image"]["format"] == "PNG")],
)
def adjust_image(
    s: MediaWorkspace,
    path: ImagePath,
    brightness: Annotated[float, Field(ge=0, le=10, description="1 = unchanged, 0.5 = half as bright, 2 = twice")] = 1.0,
    contrast: Annotated[float, Field(ge=0, le=10, description="1 = unchanged, 0 = flat grey")] = 1.0,
    saturation: Annotated[float, Field(ge=0, le=10, description="1 = unchanged, 0 = grayscale")] = 1.0,
    sharpness: Annotated[float, Field(ge=0, le=10, description="1 = unchanged, 0 = blurred, 2 = sharpened")] = 1.0,
    output: OutputPath = None,
) -> TransformResult:
    """Change an image's brightness, contrast, colour saturation and sharpness by factors (1 leaves each as is)."""
    if (brightness, contrast, saturation, sharpness) == (1.0, 1.0, 1.0, 1.0):
        raise ToolFailure("every factor is 1 (no change); set brightness, contrast, saturation or sharpness")
    img, real = open_image(s, path)
    work = img.convert("RGBA") if "A" in img.getbands() or img.mode == "P" else img.convert("RGB")
    for enhancer, factor in ((ImageEnhance.Brightness, brightness), (ImageEnhance.Contrast, contrast),
                             (ImageEnhance.Color, saturation), (ImageEnhance.Sharpness, sharpness)):
        if factor != 1.0:
            work = enhancer(work).enhance(factor)
    target = output_image(s, output, path, "adjusted", real)
    return TransformResult(original_width=img.width, original_height=img.height, image=save_image(s, work, target))


_FILTERS = {
    "blur": lambda r: ImageFilter.BoxBlur(r),
    "gaussian_blur": lambda r: ImageFilter.GaussianBlur(r),
    "median": lambda r: ImageFilter.MedianFilter(2 * int(r) + 1),
    "sharpen": lambda r: ImageFilter.UnsharpMask(radius=r, percent=150, threshold=3),
    "find_edges": lambda r: ImageFilter.FIND_EDGES,
    "edge_enhance": lambda r: ImageFilter.EDGE_ENHANCE,
    "emboss": lambda r: ImageFilter.EMBOSS,
    "contour": lambda r: ImageFilter.CONTOUR,
    "smooth": lambda r: ImageFilter.SMOOTH_MORE,
}


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("image", "path")}, facts=(Fact("original_width", "the width of {path}", unit="pixels"), Fact("original_height", "the height of {path}", unit="pixels"),)), 
    kind="processing",
    writes=True,
    examples=[Example({"path": WORLD_CHART, "filter": "gaussian_blur", "radius": 3},
                      lambda r: (r["image"]["width"], r["image"]["height"]) == (r["original_width"], r["original_height"]))],
)
def filter_image(
    s: MediaWorkspace,
    path: ImagePath,
    filter: Annotated[Literal["blur", "gaussian_blur", "median", "sharpen", "find_edges", "edge_enhance", "emboss",
                              "contour", "smooth"],
                      Field(description="'median' removes speckle noise, 'find_edges' outlines shapes")],
    radius: Annotated[float, Field(gt=0, le=50, description="Strength for blur, gaussian_blur, median and sharpen")] = 2.0,
    output: OutputPath = None,
) -> TransformResult:
    """Apply an image filter: box or Gaussian blur, median denoise, unsharp-mask sharpen, edge detection or
    enhancement, emboss, contour or smoothing."""
    img, real = open_image(s, path)
    work = img.convert("RGBA") if "A" in img.getbands() or img.mode == "P" else img.convert("RGB") if img.mode == "1" else img
    filtered = work.filter(_FILTERS[filter](radius))
    target = output_image(s, output, path, filter, real)
    return TransformResult(original_width=img.width, original_height=img.height, image=save_image(s, filtered, target))


class ThresholdResult(BaseModel):
    level: int = Field(description="Grayscale level used: pixels at or above it became white, below it black")
    method: Literal["fixed", "otsu"]
    dark_fraction: float = Field(description="Share of pixels that became black (0..1)")
    image: ImageFile


@DOMAIN.tool(meaning=no_facts("the level is the caller's or Otsu's pick for the black-and-white copy it writes, and the dark share follows from that pick", path=Takes("image", "path")), 
    kind="processing",
    writes=True,
    examples=[Example({"path": WORLD_CHART},
                      lambda r: r["method"] == "otsu" and 0 < r["level"] <= 255 and 0 < r["dark_fraction"] < 0.5)],
)
def threshold_image(
    s: MediaWorkspace,
    path: ImagePath,
    level: Annotated[int | None, Field(ge=1, le=255, description="Fixed grayscale cut (1..255); default chooses one "
                                                                 "automatically with Otsu's method")] = None,
    invert: Annotated[bool, Field(description="Swap black and white in the result")] = False,
    output: OutputPath = None,
) -> ThresholdResult:
    """Turn an image into pure black and white: grayscale, then every pixel below a level becomes black. Without a
    level, Otsu's method picks the one that best separates dark ink from a light background (good before OCR)."""
    img, real = open_image(s, path)
    gray = luma(img)
    cut = level if level is not None else otsu_level(gray)
    dark = gray < cut
    pixels = np.where(dark != invert, 0, 255).astype(np.uint8)
    target = output_image(s, output, path, "bw", real)
    if target.suffix.lower() in (".jpg", ".jpeg"):
        raise ToolFailure("a black-and-white result should be lossless; use a .png output")
    written = save_image(s, Image.fromarray(pixels, "L").convert("1"), target)
    return ThresholdResult(level=cut, method="fixed" if level is not None else "otsu",
                           dark_fraction=round(float(dark.mean()), 6), image=written)


# -- drawing and composition ---------------------------------------------------------------------------------------


class Rectangle(BaseModel):
    left: int = Field(description="Left edge in pixels")
    top: int = Field(description="Top edge in pixels")
    right: int = Field(description="Right edge in pixels (exclusive)")
    bottom: int = Field(description="Bottom edge in pixels (exclusive)")
    outline: str = Field(default="red", description="Outline colour")
    width: int = Field(default=3, ge=0, le=100, description="Outline thickness in pixels")
    fill: str | None = Field(default=None, description="Fill colour (e.g. '#ffff0080' for translucent yellow)")


class TextLabel(BaseModel):
    x: int = Field(description="Left of the text in pixels")
    y: int = Field(description="Top of the text in pixels")
    text: str = Field(min_length=1, max_length=500)
    color: str = "black"
    size: int = Field(default=20, ge=6, le=400, description="Font size in pixels")
    background: str | None = Field(default=None, description="Box colour behind the text, e.g. 'white'")


class Line(BaseModel):
    points: list[list[int]] = Field(min_length=2, description="[[x, y], ...] joined in order")
    color: str = "red"
    width: int = Field(default=3, ge=1, le=100)


class AnnotateResult(BaseModel):
    shapes_drawn: int
    image: ImageFile


@DOMAIN.tool(meaning=no_facts("draws the caller's shapes on a copy under a name it chose; it reports how many it drew", path=Takes("image", "path")), 
    kind="processing",
    writes=True,
    examples=[Example({"path": WORLD_CHART, "rectangles": [{"left": 10, "top": 10, "right": 60, "bottom": 40}],
                       "texts": [{"x": 12, "y": 12, "text": "peak", "color": "blue"}]},
                      lambda r: r["shapes_drawn"] == 2)],
)
def annotate_image(
    s: MediaWorkspace,
    path: ImagePath,
    rectangles: Annotated[list[Rectangle] | None, Field(max_length=200, description="Boxes to draw")] = None,
    texts: Annotated[list[TextLabel] | None, Field(max_length=200, description="Text labels to write")] = None,
    lines: Annotated[list[Line] | None, Field(max_length=200, description="Polylines to draw (arrows, underlines)")] = None,
    output: OutputPath = None,
) -> AnnotateResult:
    """Draw on a copy of an image: rectangles (outlined or filled, translucent colours allowed), lines and text
    labels. Use it to mark a region found by OCR or colour analysis, or to caption an image."""
    rectangles, texts, lines = rectangles or [], texts or [], lines or []
    if not (rectangles or texts or lines):
        raise ToolFailure("nothing to draw: give at least one rectangle, text or line")
    img, real = open_image(s, path)
    base = img.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for r in rectangles:
        if r.right <= r.left or r.bottom <= r.top:
            raise ToolFailure(f"rectangle ({r.left}, {r.top}, {r.right}, {r.bottom}) is empty; need left < right, top < bottom")
        draw.rectangle((r.left, r.top, r.right - 1, r.bottom - 1),
                       outline=parse_color(r.outline, what="outline") if r.width else None, width=r.width,
                       fill=parse_color(r.fill, what="fill") if r.fill else None)
    for ln in lines:
        if any(len(p) != 2 for p in ln.points):
            raise ToolFailure("every line point must be [x, y]")
        draw.line([tuple(p) for p in ln.points], fill=parse_color(ln.color), width=ln.width, joint="curve")
    for t in texts:
        face = font(t.size)
        if t.background:
            box = draw.multiline_textbbox((t.x, t.y), t.text, font=face)
            draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=parse_color(t.background, what="background"))
        draw.multiline_text((t.x, t.y), t.text, font=face, fill=parse_color(t.color))
    result = Image.alpha_composite(base, layer)
    if "A" not in img.getbands():
        result = result.convert("RGB")
    target = output_image(s, output, path, "annotated", real)
    return AnnotateResult(shapes_drawn=len(rectangles) + len(texts) + len(lines), image=save_image(s, result, target))


class RenderTextResult(BaseModel):
    lines: int
    font_size: int
    image: ImageFile


@DOMAIN.tool(meaning=no_facts("renders text the caller supplies into a file whose name it chose"), 
    kind="processing",
    writes=True,
    examples=[Example({"text": "Hello Media", "font_size": 40},
                      lambda r: r["lines"] == 1 and r["image"]["width"] > r["image"]["height"] > 40)],
)
def render_text_image(
    s: MediaWorkspace,
    text: Annotated[str, Field(min_length=1, max_length=5000, description="Text to draw; newlines start new lines")],
    font_size: Annotated[int, Field(ge=6, le=400, description="Font size in pixels")] = 32,
    color: Annotated[str, Field(description="Text colour")] = "black",
    background: Annotated[str, Field(description="Background colour")] = "white",
    padding: Annotated[int, Field(ge=0, le=1000, description="Blank space around the text in pixels")] = 20,
    bold: bool = False,
    output: Annotated[str | None, Field(description="Where to save, e.g. 'out/label.png'; default 'out/text.png'")] = None,
) -> RenderTextResult:
    """Render text into a new image (DejaVu Sans), sized to fit the text plus padding: labels, captions, or test
    input for OCR."""
    face = font(font_size, bold)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    box = probe.multiline_textbbox((0, 0), text, font=face, spacing=font_size // 4)
    width, height = box[2] - min(box[0], 0) + 2 * padding, box[3] - min(box[1], 0) + 2 * padding
    check_output_size(width, height)
    img = Image.new("RGBA", (width, height), parse_color(background, what="background"))
    ImageDraw.Draw(img).multiline_text((padding - min(box[0], 0), padding - min(box[1], 0)), text, font=face,
                                       fill=parse_color(color), spacing=font_size // 4)
    if parse_color(background)[3] == 255:
        img = img.convert("RGB")
    target = s.output(output, "text.png", image_suffixes())
    return RenderTextResult(lines=text.count("\n") + 1, font_size=font_size, image=save_image(s, img, target))


class CombineResult(BaseModel):
    count: int = Field(description="Number of images placed")
    columns: int
    rows: int
    image: ImageFile


@DOMAIN.tool(meaning=no_facts("lays the caller's images out in a grid file whose name it chose; counts and rows follow from the arguments"), 
    kind="processing",
    writes=True,
    examples=[Example({"paths": [WORLD_CHART, WORLD_CHART], "columns": 2},
                      lambda r, w: r["rows"] == 1 and r["image"]["width"] >= 2 * _world_size(w, WORLD_CHART)[0])],
)
def combine_images(
    s: MediaWorkspace,
    paths: Annotated[list[str], Field(min_length=1, max_length=64, description="Images to place, in reading order")],
    columns: Annotated[int | None, Field(ge=1, le=64, description="Images per row; default all in one row "
                                                                  "(1 stacks them vertically)")] = None,
    cell_width: Annotated[int | None, Field(ge=8, le=4000, description="Shrink each image to fit this cell width "
                                                                       "(a contact sheet); default keeps sizes")] = None,
    cell_height: Annotated[int | None, Field(ge=8, le=4000, description="Shrink each image to fit this cell height")] = None,
    gap: Annotated[int, Field(ge=0, le=500, description="Pixels between cells")] = 0,
    captions: Annotated[bool, Field(description="Write each file name under its image")] = False,
    background: str = "white",
    output: Annotated[str | None, Field(description="Where to save; default 'out/combined.png'")] = None,
) -> CombineResult:
    """Place several images in a grid: side by side, stacked, or as a captioned contact sheet of thumbnails. Cells
    are as large as the largest image unless cell_width/cell_height shrink them."""
    cols = columns or len(paths)
    images = []
    for p in paths:
        img, _ = open_image(s, p)
        img = img.convert("RGBA")
        if cell_width or cell_height:
            img = ImageOps.contain(img, (cell_width or img.width, cell_height or img.height), Image.Resampling.LANCZOS)
        images.append(img)
    cw = cell_width or max(i.width for i in images)
    caption_h = 18 if captions else 0
    ch = (cell_height or max(i.height for i in images)) + caption_h
    rows = -(-len(images) // cols)
    width, height = cols * cw + (cols - 1) * gap, rows * ch + (rows - 1) * gap
    check_output_size(width, height)
    sheet = Image.new("RGBA", (width, height), parse_color(background, what="background"))
    draw = ImageDraw.Draw(sheet)
    for n, (img, p) in enumerate(zip(images, paths)):
        x, y = (n % cols) * (cw + gap), (n // cols) * (ch + gap)
        sheet.alpha_composite(img, (x + (cw - img.width) // 2, y + (ch - caption_h - img.height) // 2))
        if captions:
            draw.text((x + 2, y + ch - caption_h + 2), p.rsplit("/", 1)[-1][:60], font=font(12), fill=(0, 0, 0, 255))
    target = s.output(output, "combined.png", image_suffixes())
    return CombineResult(count=len(images), columns=cols, rows=rows, image=save_image(s, sheet.convert("RGB"), target))


class OverlayResult(BaseModel):
    placed_box: list[int] = Field(description="[left, top, right, bottom] the overlay covers on the base")
    image: ImageFile


@DOMAIN.tool(meaning=no_facts("pastes one image onto another at the caller's position into a file whose name it chose", base=Takes("image", "path"), overlay=Takes("image", "path")), 
    kind="processing",
    writes=True,
    examples=[Example({"base": WORLD_CHART, "overlay": WORLD_CHART, "x": 5, "y": 5, "scale": 0.25, "opacity": 0.5},
                      lambda r, w: r["placed_box"][:2] == [5, 5]
                      and (r["image"]["width"], r["image"]["height"]) == _world_size(w, WORLD_CHART))],
)
def overlay_image(
    s: MediaWorkspace,
    base: Annotated[str, Field(description="Background image path")],
    overlay: Annotated[str, Field(description="Image to paste on top (its transparency is respected)")],
    x: Annotated[int, Field(description="Left of the overlay on the base, in pixels")] = 0,
    y: Annotated[int, Field(description="Top of the overlay on the base, in pixels")] = 0,
    scale: Annotated[float, Field(gt=0, le=10, description="Resize the overlay by this factor first")] = 1.0,
    opacity: Annotated[float, Field(ge=0, le=1, description="0 invisible .. 1 opaque")] = 1.0,
    output: OutputPath = None,
) -> OverlayResult:
    """Paste one image onto another at a position, optionally scaled and semi-transparent: watermarks, logos,
    insets. The result has the base's size."""
    base_img, base_real = open_image(s, base)
    top, _ = open_image(s, overlay)
    top = top.convert("RGBA")
    if scale != 1.0:
        size = (max(1, round(top.width * scale)), max(1, round(top.height * scale)))
        check_output_size(*size)
        top = top.resize(size, Image.Resampling.LANCZOS)
    if opacity < 1.0:
        alpha = np.asarray(top.getchannel("A"), dtype=np.float64) * opacity
        top.putalpha(Image.fromarray(alpha.round().astype(np.uint8), "L"))
    if x >= base_img.width or y >= base_img.height or x + top.width <= 0 or y + top.height <= 0:
        raise ToolFailure(f"an overlay at ({x}, {y}) of size {top.width}x{top.height} misses the "
                          f"{base_img.width}x{base_img.height} base entirely")
    canvas = base_img.convert("RGBA")
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    layer.paste(top, (x, y))
    result = Image.alpha_composite(canvas, layer)
    if "A" not in base_img.getbands():
        result = result.convert("RGB")
    box = [max(0, x), max(0, y), min(canvas.width, x + top.width), min(canvas.height, y + top.height)]
    target = output_image(s, output, base, "overlay", base_real)
    return OverlayResult(placed_box=box, image=save_image(s, result, target))
