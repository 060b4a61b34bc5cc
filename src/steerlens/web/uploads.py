"""Reading the run form and checking uploaded images: byte and pixel limits, then the same
decoding as the CLI.

The body is counted as it arrives (:func:`read_form`), whatever ``Content-Length`` says or when
there is none (chunked), and reading stops at the limit; whatever was spooled is closed at once.
The pixel count is read from the image header before anything is decoded, so a decompression
bomb (a small file that decodes to gigapixels) is refused without allocating it. Every refusal is
one line, like the CLI's ``error: ...``, and never shows a server path.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from starlette.datastructures import FormData, Headers
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from steerlens.errors import ImageError

#: Multipart overhead (boundaries, part headers, the other fields) allowed above the file limit.
FORM_SLACK = 64 * 1024


@dataclass(frozen=True)
class UploadLimits:
    """Largest upload accepted: bytes of the file and pixels (width x height) of the image.

    Both must be positive whole numbers (``--max-upload-mb 10`` is 10,000,000 bytes).

    Examples
    --------
    >>> UploadLimits(max_bytes=0)
    Traceback (most recent call last):
    ...
    ValueError: upload limits must be positive, got 0 bytes and 25000000 pixels
    """

    max_bytes: int = 10_000_000
    max_pixels: int = 25_000_000

    def __post_init__(self) -> None:
        if not (self.max_bytes >= 1 and self.max_pixels >= 1):
            raise ValueError(f"upload limits must be positive, got {self.max_bytes} bytes and "
                             f"{self.max_pixels} pixels")

    @property
    def max_body(self) -> int:
        """Most bytes read of a form body: the file limit plus :data:`FORM_SLACK`."""
        return self.max_bytes + FORM_SLACK


class UploadTooLarge(ImageError):
    """An uploaded file over the byte limit (the app answers 413)."""


class BodyTooLarge(MultiPartException):
    """The request body went past the limit; reading stopped there."""

    def __init__(self, received: int, limit: int) -> None:
        self.received, self.limit = received, limit
        super().__init__(f"over {limit} bytes")


def megabytes(n: int, other: int | None = None) -> str:
    """``n`` bytes in MB, with enough decimals to tell it from ``other``.

    Examples
    --------
    >>> megabytes(10_000_000), megabytes(200_001, 200_000), megabytes(10_485_760)
    ('10.0 MB', '0.200001 MB', '10.5 MB')
    """
    for decimals in range(1, 7):
        shown = f"{n / 1e6:.{decimals}f}"
        if other is None or shown != f"{other / 1e6:.{decimals}f}":
            return f"{shown} MB"
    return f"{n / 1e6:.6f} MB"


async def _counted(stream: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(received, limit)
        yield chunk


async def read_form(headers: Headers, stream: AsyncIterator[bytes], limits: UploadLimits,
                    max_fields: int = 16, max_part_size: int = 64 * 1024) -> FormData:
    """Parse a ``multipart/form-data`` or urlencoded body, reading at most ``limits.max_body``.

    Raises :class:`BodyTooLarge` as soon as more bytes than that have arrived (the rest is never
    read; a spooled file is closed, which deletes it), and ``MultiPartException`` for a body that
    is not a form. The caller closes the returned form (``await form.close()``).

    Examples
    --------
    >>> import asyncio
    >>> async def body():
    ...     yield b"a=1&b=" + b"x" * 100
    >>> h = Headers({"content-type": "application/x-www-form-urlencoded"})
    >>> asyncio.run(read_form(h, body(), UploadLimits(max_bytes=1)))["a"]
    '1'
    """
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    counted = _counted(stream, limits.max_body)
    if kind == "multipart/form-data":
        return await MultiPartParser(headers, counted, max_files=1, max_fields=max_fields,
                                     max_part_size=max_part_size).parse()
    if kind == "application/x-www-form-urlencoded":
        return await FormParser(headers, counted, max_fields=max_fields,
                                max_part_size=max_part_size).parse()
    raise MultiPartException(f"expected a multipart/form-data body, got {kind[:60] or 'none'}")


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

    Returns the image's ``(width, height)`` read from its header (nothing is decoded).

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
    check_size(len(data), filename, limits)
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


def check_size(size: int, filename: str | None, limits: UploadLimits) -> None:
    """Refuse (:class:`UploadTooLarge`) an upload of ``size`` bytes over the byte limit.

    Examples
    --------
    >>> check_size(200_001, "a.png", UploadLimits(max_bytes=200_000))
    Traceback (most recent call last):
    ...
    steerlens.web.uploads.UploadTooLarge: image file a.png is 0.200001 MB, over the upload limit of 0.2 MB; downscale or compress it
    """
    if size > limits.max_bytes:
        raise UploadTooLarge(
            f"image file {safe_name(filename)} is {megabytes(size, limits.max_bytes)}, over the "
            f"upload limit of {megabytes(limits.max_bytes)}; downscale or compress it"
        )


def _too_many(name: str, pixels: int | None, limits: UploadLimits) -> None:
    size = f"{pixels / 1e6:.1f} megapixels" if pixels else "too many pixels"
    if pixels and math.isclose(round(pixels / 1e6, 1), round(limits.max_pixels / 1e6, 1)):
        size = f"{pixels:,} pixels"
    raise ImageError(
        f"image {name} has {size}, over the limit of {limits.max_pixels / 1e6:.1f} megapixels; "
        "downscale it (e.g. to 1024 px) first"
    )


def load_upload(path: Path, display_name: str, size: tuple[int, int], channels: int):
    """Decode a saved upload like the CLI does; errors name the upload, not the server path."""
    from steerlens.data.images import fit_image

    try:
        return fit_image(path, size, channels)
    except ImageError as e:
        raise ImageError(str(e).replace(str(path), display_name)) from None
