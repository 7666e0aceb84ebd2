"""The media domain: images (Pillow), OCR (Tesseract), charts (matplotlib) and audio (numpy/scipy) over the
world's media folder (stock and country charts, rendered text, colour swatches, element tones) and the files a
session writes. Every written file lands in the session's own media folder and is readable by the next call.
"""

# Importing the tool modules registers their tools on DOMAIN, in the order clients list them.
from . import catalog, images, image_analysis, ocr, charts, audio  # noqa: F401, I001  (registers the tools)
from .workspace import DOMAIN

__all__ = ["DOMAIN"]
