"""Checks on uploaded images: byte and pixel limits, then the same decoding as the CLI.

The pixel count is read from the image header before anything is decoded, so a decompression
bomb (a small file that decodes to gigapixels) is refused without allocating it. Every refusal is
one line, like the CLI's ``error: ...``, and never shows a server path.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from steerlens.errors import ImageError


@dataclass(frozen=True)
class UploadLimits:
    """Largest upload accepted: bytes of the file and pixels (width x height) of the image."""

    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 25_000_000


def safe_name(filename: str | None) -> str:
    """A display-only version of an uploaded file name (no folders, no odd characters).

    Examples
    --------
    >>> safe_name("../../etc/passwd"), safe_name("C:\\\\x\\\\my digit.png"), safe_name(None)
    ('passwd', 'my_digit.png', 'upload')
    """
    base = re.split(r"[\\\\/]", filename or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")
    return base[:80] or "upload"


def check_upload(data: bytes, filename: str | None, limits: UploadLimits) -> tuple[int, int]:
    """Refuse an upload that is empty, too large, not an image, or has too many pixels.

    Returns the image's ``(width, height)`` read from its header.

    Examples
    --------
    >>> check_upload(b"", "x.png", UploadLimits())
    Traceback (most recent call last):
    ...
    steerlens.errors.ImageError: image file x.png is empty (0 bytes); re-export or re-download it
    """
    name = safe_name(filename)
    if not data:
        raise ImageError(f"image file {name} is empty (0 bytes); re-export or re-download it")
    if len(data) > limits.max_bytes:
        raise ImageError(
            f"image file {name} is {len(data) / 1e6:.1f} MB, over the upload limit of "
            f"{limits.max_bytes / 1e6:.1f} MB; downscale or compress it"
        )
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except Image.DecompressionBombError as err:  # Pillow's own, larger limit, checked on open
        found = re.search(r"\((\d+) pixels\)", str(err))
        _too_many(name, int(found.group(1)) if found else None, limits)
    except UnidentifiedImageError:
        raise ImageError(
            f"cannot read image {name}: not a recognised image format; re-save it as PNG or JPEG"
        ) from None
    except (OSError, SyntaxError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ImageError(
            f"cannot read image {name}: corrupt ({first}); re-save it as PNG or JPEG"
        ) from None
    if width * height > limits.max_pixels:
        _too_many(name, width * height, limits)
    return width, height


def _too_many(name: str, pixels: int | None, limits: UploadLimits) -> None:
    size = f"{pixels / 1e6:.1f} megapixels" if pixels else "too many pixels"
    raise ImageError(
        f"image {name} has {size}, over the limit of {limits.max_pixels / 1e6:.1f} megapixels; "
        "downscale it (e.g. to 1024 px) first"
    )


def load_upload(path: Path, display_name: str, size: tuple[int, int], channels: int):
    """Decode a saved upload like the CLI does; errors name the upload, not the server path."""
    from steerlens.data.images import load_image

    try:
        return load_image(path, size=size, channels=channels)
    except ImageError as e:
        raise ImageError(str(e).replace(str(path), display_name)) from None
