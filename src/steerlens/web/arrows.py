"""Displacement arrows for the morphs whose method has a displacement field.

``flow`` and ``csp-motion`` edits are warps, and for CSP phase edits the core fits the field that
best explains the phase change (:mod:`steerlens.motion`); :meth:`MorphResult.save` stores the last
frame's field in ``frames.npz`` (``displacement``, ``(2, H, W)``, pixels). The report and the app
draw it over the frame as SVG arrows laid out like ``arrows.png``
(the one :func:`steerlens.render.arrows.arrow_grid`: one arrow per cell, the cell's mean
displacement, all scaled by one factor so the longest is about 1.3 cells long).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from steerlens.render.arrows import arrow_grid, arrow_scale

__all__ = ["Arrows", "arrow_grid", "arrows_path", "field_arrows", "field_arrows_note"]


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


def field_arrows_note(field: np.ndarray, explained: float | None = None) -> tuple[str, str]:
    """The SVG path of a field's arrows and the caption the views show under them.

    ``explained`` is the share of the phase change the field explains (``phase_explained``).

    Examples
    --------
    >>> import numpy as np
    >>> f = np.zeros((2, 28, 28), np.float32); f[0] = 1.5
    >>> field_arrows_note(f, 0.6)[1]
    'displacement of the last frame: mean 1.50 px, max 1.50 px (arrows ×2.02); one field explains 60 % of the phase change'
    """
    arrows = field_arrows(field)
    note = (f"displacement of the last frame: mean {arrows.mean_px:.2f} px, "
            f"max {arrows.max_px:.2f} px (arrows ×{arrows.scale:.3g})")
    if explained is not None:
        note += f"; one field explains {100 * explained:.0f} % of the phase change"
    return arrows.path, note
