"""Displacement arrows for the morphs whose method has a displacement field.

``flow`` and ``csp-motion`` edits are warps, and for CSP phase edits the core fits the field that
best explains the phase change (:mod:`steerlens.motion`); :meth:`MorphResult.save` stores the last
frame's field in ``frames.npz`` (``displacement``, ``(2, H, W)``, pixels). The report and the app
draw it over the frame as SVG arrows laid out like ``arrows.png``
(:func:`steerlens.render.arrows.arrow_grid`: one arrow per cell, the cell's mean displacement, all
scaled by one factor so the longest is about 1.3 cells long).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from steerlens.render.arrows import ARROWS_PER_SIDE


@dataclass(frozen=True)
class Arrows:
    """Arrows over a frame.

    Attributes
    ----------
    lines
        ``(x_from, y_from, x_to, y_to)`` in frame pixels (0 at the image's left/top edge).
    path
        The same arrows, shafts and two barbs each, as one SVG path (``d`` attribute).
    scale
        Factor applied to every displacement so the arrows can be seen.
    mean_px, max_px
        Mean and largest length of the field, in pixels (unscaled).
    """

    lines: list[tuple[float, float, float, float]]
    path: str
    scale: float
    mean_px: float
    max_px: float


def _bins(n: int, size: int) -> list[tuple[int, int]]:
    """Adaptive-average-pooling bins: ``n`` windows over ``size`` samples (as torch makes them)."""
    return [(i * size // n, -(-(i + 1) * size // n)) for i in range(n)]


def arrow_grid(field: np.ndarray, per_side: int = ARROWS_PER_SIDE) -> tuple[np.ndarray, ...]:
    """NumPy twin of :func:`steerlens.render.arrows.arrow_grid`: tails and cell-mean vectors.

    (Same cells as the torch version, which costs milliseconds per call on small fields when
    torch's threads compete; a report of 1,000 morphs calls it 1,000 times.)

    Examples
    --------
    >>> import numpy as np
    >>> f = np.zeros((2, 28, 28), np.float32); f[0] = 1.0
    >>> x, y, dx, dy = arrow_grid(f, per_side=4)
    >>> x.shape, float(dx.mean()), float(dy.mean())
    ((4, 4), 1.0, 0.0)
    """
    _, h, w = field.shape
    ny, nx = min(per_side, h), min(per_side, w)
    cells = np.array([[field[:, y0:y1, x0:x1].mean(axis=(1, 2)) for x0, x1 in _bins(nx, w)]
                      for y0, y1 in _bins(ny, h)])  # (ny, nx, 2)
    ys = (np.arange(ny) + 0.5) * h / ny - 0.5
    xs = (np.arange(nx) + 0.5) * w / nx - 0.5
    x, y = np.meshgrid(xs, ys)
    return x, y, cells[..., 0], cells[..., 1]


def field_arrows(field: np.ndarray, min_share: float = 0.05) -> Arrows:
    """Arrows of a ``(2, H, W)`` displacement field (``dx``, ``dy`` in pixels).

    Arrows shorter than ``min_share`` of the longest are left out.

    Examples
    --------
    >>> import numpy as np
    >>> f = np.zeros((2, 28, 28), np.float32); f[0] = 1.5
    >>> a = field_arrows(f)
    >>> len(a.lines), a.lines[0], a.mean_px
    (144, (1.2, 1.2, 4.2, 1.2), 1.5)
    """
    from steerlens.render.arrows import arrow_scale

    field = np.asarray(field, dtype=np.float32)
    if field.ndim != 3 or field.shape[0] != 2:
        raise ValueError(f"a displacement field is (2, H, W), got {field.shape}")
    _, h, w = field.shape
    x, y, dx, dy = arrow_grid(field)
    scale = arrow_scale(dx, dy, max(h / x.shape[0], w / x.shape[1]))
    length = np.hypot(dx, dy)
    keep = length >= min_share * max(float(length.max()), 1e-12)
    lines = [
        (round(float(x0) + 0.5, 1), round(float(y0) + 0.5, 1),
         round(float(x0) + 0.5 + float(u) * scale, 1), round(float(y0) + 0.5 + float(v) * scale, 1))
        for x0, y0, u, v, k in zip(x.ravel(), y.ravel(), dx.ravel(), dy.ravel(), keep.ravel(),
                                   strict=True)
        if k
    ]
    magnitude = np.hypot(field[0], field[1])
    head = 0.4 * max(h / x.shape[0], w / x.shape[1])
    return Arrows(lines=lines, path=arrows_path(lines, head), scale=float(scale),
                  mean_px=float(magnitude.mean()), max_px=float(magnitude.max()))


def arrows_path(lines: list[tuple[float, float, float, float]], head: float) -> str:
    """Arrows as one SVG path: each a shaft and two barbs ``head`` long, 29 degrees off the shaft.

    Examples
    --------
    >>> arrows_path([(0.0, 0.0, 10.0, 0.0)], head=2.0)
    'M0 0L10 0M8.2-1L10 0 8.2 1'
    >>> arrows_path([(-0.5, 3.0, -2.0, 0.0)], head=1.0)
    'M-0.5 3L-2 0M-2 1L-2 0 -1.2 0.6'
    """

    def num(v: float) -> str:
        return f"{v:.1f}".rstrip("0").rstrip(".") if abs(v) >= 0.05 else "0"

    def pt(px: float, py: float) -> str:
        a, b = num(px), num(py)
        return f"{a}{b}" if b.startswith("-") else f"{a} {b}"

    parts = []
    for x0, y0, x1, y1 in lines:
        ang = math.atan2(y1 - y0, x1 - x0)
        size = min(head, 0.6 * math.hypot(x1 - x0, y1 - y0))
        b1 = (x1 - size * math.cos(ang + 0.5), y1 - size * math.sin(ang + 0.5))
        b2 = (x1 - size * math.cos(ang - 0.5), y1 - size * math.sin(ang - 0.5))
        parts.append(f"M{pt(x0, y0)}L{pt(x1, y1)}M{pt(*b1)}L{pt(x1, y1)} {pt(*b2)}")
    return "".join(parts)
