"""Frames as compressed images in ``data:`` URIs: one sprite per morph and one thumbnail.

A morph of K frames becomes one sprite, so a page holds one image per morph instead of K, and the
scrubber shows frame k by moving it (CSS ``background-position``). The frames sit in one row
(frame k at x = k * W) while that fits in WebP's 16,383 px; longer morphs are tiled in a grid
(frame k at column ``k % cols``, row ``k // cols``), and the frames of a morph too large for
:data:`SPRITE_MAX_PIXELS` are shrunk in the sprite. Small frames (MNIST) are stored as PNG, which is lossless and tiny at
28 px; larger ones as WebP (quality 85), which Chromium, Firefox and Safari all decode.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

#: Frames whose longer side is at most this are stored losslessly (PNG); larger ones as WebP.
LOSSLESS_MAX_SIDE = 64
#: Longer side of a thumbnail in pixels.
THUMB_SIDE = 96
#: Longest side of a sprite: WebP's limit, kept for PNG too so both behave alike.
SPRITE_MAX_SIDE = 16383
#: Most pixels in a sprite (1,000 frames of 224 x 224 fit unshrunk).
SPRITE_MAX_PIXELS = 64_000_000


def _pil(frame: np.ndarray) -> Image.Image:
    """``(H, W, C)`` uint8 with C in 1, 3 -> a PIL image (mode L or RGB)."""
    if frame.ndim == 3 and frame.shape[2] == 1:
        return Image.fromarray(frame[:, :, 0], mode="L")
    return Image.fromarray(frame, mode="RGB")


def image_data_uri(img: Image.Image, lossless: bool, optimize: bool = True) -> str:
    """Encode a PIL image as a ``data:image/png`` (lossless) or ``data:image/webp`` URI
    (``optimize``: spend more time on a smaller PNG).

    Examples
    --------
    >>> from PIL import Image
    >>> image_data_uri(Image.new("L", (4, 4)), lossless=True)[:22]
    'data:image/png;base64,'
    """
    buf = io.BytesIO()
    if lossless:
        img.save(buf, format="PNG", optimize=optimize)
        mime = "png"
    else:
        img.save(buf, format="WEBP", quality=85, method=4)
        mime = "webp"
    return f"data:image/{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass(frozen=True)
class Sprite:
    """All frames of a morph in one image: frame k at column ``k % cols``, row ``k // cols``."""

    uri: str  #: ``data:`` URI of the image
    cols: int  #: frames per row
    rows: int  #: rows of frames
    cell: tuple[int, int]  #: (height, width) of one frame in the sprite


def sprite_layout(k: int, h: int, w: int) -> tuple[int, int, int, int]:
    """``(cols, rows, cell_h, cell_w)`` of a sprite of ``k`` frames of ``h x w`` pixels.

    One row while it fits in :data:`SPRITE_MAX_SIDE`; else a grid about as tall as it is wide.
    Frames are shrunk (``cell_h, cell_w`` < ``h, w``) only when the sprite would hold more than
    :data:`SPRITE_MAX_PIXELS` pixels or a side would pass :data:`SPRITE_MAX_SIDE`.

    Examples
    --------
    >>> sprite_layout(6, 28, 28)
    (6, 1, 28, 28)
    >>> sprite_layout(80, 224, 224)
    (9, 9, 224, 224)
    >>> cols, rows, ch, cw = sprite_layout(1000, 4096, 4096)
    >>> cols * cw <= SPRITE_MAX_SIDE and rows * ch <= SPRITE_MAX_SIDE, ch < 4096
    (True, True)
    """
    scale = min(1.0, math.sqrt(SPRITE_MAX_PIXELS / (k * h * w)))
    while True:
        ch, cw = max(1, int(h * scale)), max(1, int(w * scale))
        if k * cw <= SPRITE_MAX_SIDE:
            cols = k
        else:
            cols = max(1, min(SPRITE_MAX_SIDE // cw, math.ceil(math.sqrt(k * ch / cw))))
        rows = math.ceil(k / cols)
        if rows * ch <= SPRITE_MAX_SIDE and cols * cw <= SPRITE_MAX_SIDE:
            return cols, rows, ch, cw
        scale *= 0.9


def sprite(frames: np.ndarray) -> Sprite:
    """All frames as one compressed image, laid out by :func:`sprite_layout`.

    Parameters
    ----------
    frames
        ``(K, H, W, C)`` uint8 (or floats in [0, 1]), C in 1 or 3.

    Returns
    -------
    Sprite
        PNG for frames up to :data:`LOSSLESS_MAX_SIDE` px, else WebP; its grid.

    Examples
    --------
    >>> import numpy as np
    >>> s = sprite(np.zeros((8, 28, 28, 1), np.uint8))
    >>> s.uri.startswith("data:image/png;base64,"), len(s.uri) < 400, (s.cols, s.rows)
    (True, True, (8, 1))
    """
    frames = _check(frames)
    k, h, w, c = frames.shape
    cols, rows, ch, cw = sprite_layout(k, h, w)
    sheet = np.zeros((rows * ch, cols * cw, c), np.uint8)
    for i, frame in enumerate(frames):
        if (ch, cw) != (h, w):
            frame = np.asarray(_pil(frame).resize((cw, ch), Image.LANCZOS)).reshape(ch, cw, c)
        r, q = divmod(i, cols)
        sheet[r * ch:(r + 1) * ch, q * cw:(q + 1) * cw] = frame
    uri = image_data_uri(_pil(sheet), lossless=max(ch, cw) <= LOSSLESS_MAX_SIDE)
    return Sprite(uri=uri, cols=cols, rows=rows, cell=(ch, cw))


def sprite_data_uri(frames: np.ndarray) -> str:
    """The ``data:`` URI of :func:`sprite` (frames in one row while they fit).

    Examples
    --------
    >>> import numpy as np
    >>> sprite_data_uri(np.zeros((3, 28, 28, 1), np.uint8))[:22]
    'data:image/png;base64,'
    """
    return sprite(frames).uri


def thumb_data_uri(frame: np.ndarray, side: int = THUMB_SIDE) -> str:
    """One frame, shrunk so its longer side is at most ``side`` px, as a ``data:`` URI.

    Examples
    --------
    >>> import numpy as np
    >>> thumb_data_uri(np.zeros((224, 224, 3), np.uint8))[:23]
    'data:image/webp;base64,'
    """
    frame = _check(frame[None])[0]
    img = _pil(frame)
    h, w = frame.shape[:2]
    if max(h, w) > side:
        scale = side / max(h, w)
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    return image_data_uri(img, lossless=max(h, w) <= LOSSLESS_MAX_SIDE)


def _check(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 3:  # (K, H, W): grey without a channel axis
        frames = frames[..., None]
    if frames.ndim != 4 or frames.shape[3] not in (1, 3):
        raise ValueError(f"frames must be (K, H, W, C) with C in 1 or 3, got {frames.shape}")
    if frames.dtype != np.uint8:
        frames = (np.clip(frames.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(frames)
