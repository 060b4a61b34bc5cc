"""Frames as compressed images in ``data:`` URIs: one sprite per morph and one thumbnail.

A morph of K frames becomes one horizontal strip (frame k at x = k * W), so a page holds one image
per morph instead of K, and the scrubber shows frame k by moving the strip (CSS
``background-position``). Small frames (MNIST) are stored as PNG, which is lossless and tiny at
28 px; larger ones as WebP (quality 85), which Chromium, Firefox and Safari all decode.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

#: Frames whose longer side is at most this are stored losslessly (PNG); larger ones as WebP.
LOSSLESS_MAX_SIDE = 64
#: Longer side of a thumbnail in pixels.
THUMB_SIDE = 96


def _pil(frame: np.ndarray) -> Image.Image:
    """``(H, W, C)`` uint8 with C in 1, 3 -> a PIL image (mode L or RGB)."""
    if frame.ndim == 3 and frame.shape[2] == 1:
        return Image.fromarray(frame[:, :, 0], mode="L")
    return Image.fromarray(frame, mode="RGB")


def image_data_uri(img: Image.Image, lossless: bool) -> str:
    """Encode a PIL image as a ``data:image/png`` (lossless) or ``data:image/webp`` URI.

    Examples
    --------
    >>> from PIL import Image
    >>> image_data_uri(Image.new("L", (4, 4)), lossless=True)[:22]
    'data:image/png;base64,'
    """
    buf = io.BytesIO()
    if lossless:
        img.save(buf, format="PNG", optimize=True)
        mime = "png"
    else:
        img.save(buf, format="WEBP", quality=85, method=4)
        mime = "webp"
    return f"data:image/{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def sprite_data_uri(frames: np.ndarray) -> str:
    """All frames side by side as one compressed image in a ``data:`` URI.

    Parameters
    ----------
    frames
        ``(K, H, W, C)`` uint8, C in 1 or 3.

    Returns
    -------
    str
        ``data:image/png;base64,...`` for frames up to :data:`LOSSLESS_MAX_SIDE` px, else WebP.

    Examples
    --------
    >>> import numpy as np
    >>> uri = sprite_data_uri(np.zeros((8, 28, 28, 1), np.uint8))
    >>> uri.startswith("data:image/png;base64,"), len(uri) < 400
    (True, True)
    """
    frames = _check(frames)
    _, h, w, _ = frames.shape
    strip = np.concatenate(list(frames), axis=1)  # (H, K*W, C)
    return image_data_uri(_pil(strip), lossless=max(h, w) <= LOSSLESS_MAX_SIDE)


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
