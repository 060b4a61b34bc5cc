"""Geometry of the per-morph curve plot (p_target, p_source and L2 against frame), as inline SVG.

The template draws the polylines computed here; the page's script moves one marker line to the
x position of the current frame (``Curves.xs``), so the curves need no plotting library and the
report stays one file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 320
HEIGHT = 150
_LEFT, _RIGHT, _TOP, _BOTTOM = 34, 40, 10, 24


@dataclass(frozen=True)
class Curves:
    """Polylines and axes of one curve plot, in SVG user units.

    Attributes
    ----------
    width, height
        Size of the SVG viewBox.
    xs
        x of each frame (where the marker goes).
    p_target, p_source, l2
        ``points`` attributes of the three polylines (L2 scaled to its own maximum, right axis).
    l2_max
        Largest L2 (the top of the right axis).
    plot
        ``(left, top, right, bottom)`` of the plotting area.
    """

    width: int
    height: int
    xs: list[float]
    p_target: str
    p_source: str
    l2: str
    l2_max: float
    plot: tuple[float, float, float, float]

    def y(self, p: float) -> float:
        """SVG y of probability ``p`` (for tick marks)."""
        top, bottom = self.plot[1], self.plot[3]
        return bottom - p * (bottom - top)


def curves(
    p_target: Sequence[float], p_source: Sequence[float], l2: Sequence[float]
) -> Curves:
    """Lay out the three per-frame curves of a morph.

    Parameters
    ----------
    p_target, p_source
        Driver probabilities per frame, in [0, 1].
    l2
        Pixel L2 to the source per frame (drawn against its own maximum).

    Examples
    --------
    >>> c = curves([0.0, 0.5, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 2.0])
    >>> c.xs
    [34.0, 157.0, 280.0]
    >>> c.p_target
    '34.0,126.0 157.0,68.0 280.0,10.0'
    >>> c.l2_max
    2.0
    """
    n = len(p_target)
    if n == 0 or len(p_source) != n or len(l2) != n:
        raise ValueError("curves need the same, non-zero number of values per series")
    left, top = float(_LEFT), float(_TOP)
    right, bottom = float(WIDTH - _RIGHT), float(HEIGHT - _BOTTOM)
    step = (right - left) / (n - 1) if n > 1 else 0.0
    xs = [round(left + k * step, 1) for k in range(n)]
    l2_max = max(max(float(v) for v in l2), 1e-12)

    def line(values: Sequence[float], scale: float = 1.0) -> str:
        ys = [bottom - min(max(float(v) / scale, 0.0), 1.0) * (bottom - top) for v in values]
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))

    return Curves(
        width=WIDTH,
        height=HEIGHT,
        xs=xs,
        p_target=line(p_target),
        p_source=line(p_source),
        l2=line(l2, l2_max),
        l2_max=round(l2_max, 4),
        plot=(left, top, right, bottom),
    )
