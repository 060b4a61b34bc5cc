"""MP4 output of morphs (H.264, yuv420p) through PyAV, which ships its codecs in the wheel.

Chromium, Firefox and Safari play H.264 in yuv420p; that format needs even width and height, so
frames are upscaled (nearest neighbour, an integer factor: MNIST's 28 px become 252 px) and padded
to even sizes. Install with ``pip install 'steerlens[video]'``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from steerlens.errors import ConfigError
from steerlens.outputs import TMP_PREFIX
from steerlens.render.filmstrip import frames_hwc, nearest_indices, to_uint8, upscale_factor

if TYPE_CHECKING:  # annotations only: result.py calls into render (MorphResult.save)
    from steerlens.result import MorphResult

#: Smallest side of a video frame after nearest-neighbour upscaling.
VIDEO_MIN_SIDE = 240
_GAP = 4


def _rgb(frames: np.ndarray) -> np.ndarray:
    """``(K, H, W, C)`` uint8 with C in 1, 3 -> RGB."""
    return np.repeat(frames, 3, axis=3) if frames.shape[3] == 1 else frames


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad ``(K, H, W, 3)`` at the bottom/right (edge values) to even height and width."""
    _, h, w, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _upscaled(result: MorphResult, min_side: int) -> np.ndarray:
    f = _rgb(to_uint8(frames_hwc(result)))
    factor = upscale_factor(f.shape[1], f.shape[2], min_side)
    if factor > 1:
        f = f.repeat(factor, axis=1).repeat(factor, axis=2)
    return f


def require_av() -> None:
    """Raise :class:`~steerlens.errors.ConfigError` (one line) unless PyAV can be imported.

    Call it before expensive work whose MP4 output was asked for (``--video``).
    """
    try:
        import av  # noqa: F401
    except ImportError:
        raise ConfigError(
            "MP4 output (--video) needs PyAV; install it with pip install 'steerlens[video]'"
        ) from None


def write_mp4(frames: np.ndarray, path: str | Path, fps: float = 4.0, crf: int = 18) -> Path:
    """Encode ``(K, H, W, 3)`` uint8 RGB frames as an H.264 yuv420p MP4 (padded to even sizes).

    The file is written under a temporary name beside ``path`` and renamed at the end, so a failed
    write never leaves a partial video.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = write_mp4(np.zeros((4, 31, 30, 3), np.uint8), os.path.join(tempfile.mkdtemp(), "a.mp4"))
    >>> p.stat().st_size > 0
    True
    """
    require_av()
    import av

    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[3] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be (K, H, W, 3) uint8 with K >= 1, got {frames.shape}")
    frames = _even(frames)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1000)
    tmp = path.with_name(TMP_PREFIX + path.name)
    try:
        _encode(av, frames, tmp, rate, crf)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _encode(av: Any, frames: np.ndarray, path: Path, rate: Fraction, crf: int) -> None:
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = int(frames.shape[2]), int(frames.shape[1])
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium", "movflags": "+faststart"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def save_mp4(
    result: MorphResult, path: str | Path, fps: float = 4.0, min_side: int = VIDEO_MIN_SIDE
) -> Path:
    """Write a morph's frames as an MP4 (H.264, yuv420p) that browsers play.

    Parameters
    ----------
    result
        The morph.
    path
        Output file, e.g. ``out/morph.mp4``.
    fps
        Frames per second.
    min_side
        Frames are upscaled (nearest neighbour, integer factor) until their smaller side reaches this.

    Examples
    --------
    >>> save_mp4(result, "out/cat/morph.mp4")                          # doctest: +SKIP
    PosixPath('out/cat/morph.mp4')
    """
    return write_mp4(_upscaled(result, min_side), path, fps=fps)


def save_compare_mp4(
    results: Mapping[str, MorphResult] | Sequence[MorphResult],
    path: str | Path,
    fps: float = 4.0,
    min_side: int = VIDEO_MIN_SIDE,
) -> Path:
    """Write several morphs side by side, frame k of each shown together, as one MP4.

    Morphs with fewer frames than the longest are stretched over its length (nearest frame), as
    in :func:`~steerlens.render.filmstrip.compare_filmstrip`.

    Examples
    --------
    >>> save_compare_mp4(steerlens.compare(model, img, 8), "out/compare.mp4")  # doctest: +SKIP
    PosixPath('out/compare.mp4')
    """
    items = list(results.values()) if isinstance(results, Mapping) else list(results)
    if not items:
        raise ValueError("save_compare_mp4 needs at least one result")
    clips = [_upscaled(r, min_side) for r in items]
    height = max(c.shape[1] for c in clips)
    n = max(len(c) for c in clips)
    columns = []
    for c in clips:
        idx = nearest_indices(len(c), n)
        c = c[idx]
        pad_h = height - c.shape[1]
        c = np.pad(c, ((0, 0), (0, pad_h), (0, _GAP), (0, 0)), constant_values=255)
        columns.append(c)
    return write_mp4(np.concatenate(columns, axis=2)[:, :, :-_GAP], path, fps=fps)
