"""Arrows: a morph's displacement field drawn over its source image.

``arrows.png`` (matplotlib quiver) is written by :func:`~steerlens.render.save.save_result` for
every method with a field (``flow``, ``csp-motion``, and the field that best explains a CSP phase
edit). At most :data:`ARROWS_PER_SIDE` arrows per side are drawn, each the mean displacement of its
cell, and all are scaled by one factor (printed in the title) so the longest is about 1.3 cells
long: readable at 28² and at 224². :func:`draw_arrows` draws the same arrows on a PIL frame for
the optional GIF overlay.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from steerlens.render.filmstrip import frames_hwc

if TYPE_CHECKING:  # annotations only: result.py calls into render (MorphResult.save)
    from steerlens.result import MorphResult

#: arrows per image side (fewer on images smaller than this many pixels)
ARROWS_PER_SIDE = 12


def _bins(n: int, size: int) -> list[tuple[int, int]]:
    """Adaptive-average-pooling bins: ``n`` windows over ``size`` samples (as torch makes them)."""
    return [(i * size // n, -(-(i + 1) * size // n)) for i in range(n)]


def arrow_grid(
    field: torch.Tensor | np.ndarray, per_side: int = ARROWS_PER_SIDE
) -> tuple[np.ndarray, ...]:
    """Arrow tails and vectors ``(x, y, dx, dy)`` in pixel units, one per cell of a coarse grid.

    Each arrow is its cell's mean displacement (the cells of torch's adaptive average pooling),
    placed at the cell's centre. The one grid of ``arrows.png``, the GIF overlay, the report and
    the app; computed in NumPy, which costs microseconds where torch's pooling costs milliseconds
    on small fields when its threads compete (a report of 1,000 morphs calls it 1,000 times).

    Parameters
    ----------
    field
        ``(2, H, W)`` displacement (``dx``, ``dy``) in pixels, a tensor or an array.
    per_side
        Arrows per side (at most ``H`` and ``W``).

    Examples
    --------
    >>> f = torch.zeros(2, 28, 28); f[0] = 1.0
    >>> x, y, dx, dy = arrow_grid(f, per_side=4)
    >>> x.shape, float(dx.mean()), float(dy.mean())
    ((4, 4), 1.0, 0.0)
    >>> bool((arrow_grid(f.numpy(), 4)[2] == dx).all())
    True
    """
    if isinstance(field, torch.Tensor):
        field = field.detach().cpu().float().numpy()
    field = np.asarray(field, dtype=np.float32)
    _, h, w = field.shape
    ny, nx = min(per_side, h), min(per_side, w)
    cells = np.array([[field[:, y0:y1, x0:x1].mean(axis=(1, 2)) for x0, x1 in _bins(nx, w)]
                      for y0, y1 in _bins(ny, h)], dtype=np.float32)  # (ny, nx, 2)
    ys = (np.arange(ny) + 0.5) * h / ny - 0.5
    xs = (np.arange(nx) + 0.5) * w / nx - 0.5
    x, y = np.meshgrid(xs, ys)
    return x, y, cells[..., 0], cells[..., 1]


def arrow_scale(dx: np.ndarray, dy: np.ndarray, cell: float) -> float:
    """Factor that draws the longest arrow about ``1.3 * cell`` pixels long (1 if all are zero)."""
    longest = float(np.hypot(dx, dy).max()) if dx.size else 0.0
    return 1.3 * cell / longest if longest > 1e-12 else 1.0


def save_arrows(result: MorphResult, path: str | Path, dpi: int = 120) -> Path:
    """Write ``arrows.png``: the last frame's displacement field over the source.

    Raises
    ------
    ValueError
        If the result has no displacement field.

    Examples
    --------
    >>> save_arrows(result, "out/arrows.png")                           # doctest: +SKIP
    PosixPath('out/arrows.png')
    """
    if result.displacement is None:
        raise ValueError(f"{result.method} results have no displacement field to draw")
    field = result.displacement
    src = frames_hwc(result)[0]
    h, w = src.shape[:2]
    x, y, dx, dy = arrow_grid(field)
    scale = arrow_scale(dx, dy, max(h / x.shape[0], w / x.shape[1]))
    length = field.norm(dim=0)
    fig = Figure(figsize=(4.8, 5.2))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.84))
    ax.imshow(src[..., 0] if src.shape[-1] == 1 else src, cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    mag = np.hypot(dx, dy)
    ax.quiver(x, y, dx * scale, dy * scale, mag, angles="xy", scale_units="xy", scale=1,
              cmap="autumn", width=0.0055, headwidth=3.5, headlength=4.5, headaxislength=4,
              minlength=0.5, pivot="mid")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_axis_off()
    fig.suptitle(
        f"{result.method}: displacement, {result.source_name} -> {result.target_name}\n"
        f"mean {float(length.mean()):.2f} px, max {float(length.max()):.2f} px "
        f"(arrows x{scale:.3g})",
        fontsize=9,
    )
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    return path


def draw_arrows(im: Image.Image, field: torch.Tensor, factor: int, scale: float,
                per_side: int = ARROWS_PER_SIDE) -> Image.Image:
    """Draw a field's arrows on a frame upscaled ``factor`` times (for the GIF overlay).

    ``scale`` multiplies the displacement (use one scale for every frame of a morph, so arrows
    grow with the amplification).
    """
    x, y, dx, dy = arrow_grid(field, per_side)
    im = im.convert("RGB")
    draw = ImageDraw.Draw(im)
    for x0, y0, u, v in zip(x.ravel(), y.ravel(), dx.ravel() * scale, dy.ravel() * scale):
        if math.hypot(u, v) < 0.05:
            continue
        p0 = ((x0 + 0.5) * factor, (y0 + 0.5) * factor)
        p1 = (p0[0] + u * factor, p0[1] + v * factor)
        draw.line([p0, p1], fill=(255, 80, 40), width=max(1, factor // 3))
        ang = math.atan2(p1[1] - p0[1], p1[0] - p0[0])
        head = max(3.0, factor * 0.9)
        for side in (0.5, -0.5):  # two barbs, about 29 degrees off the shaft
            draw.line([p1, (p1[0] - head * math.cos(ang + side), p1[1] - head * math.sin(ang + side))],
                      fill=(255, 80, 40), width=max(1, factor // 3))
    return im
