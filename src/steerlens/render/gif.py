"""Animated GIF of a morph, with an optional caption band under each frame."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from steerlens.render.filmstrip import (
    fit_text,
    font_size_for,
    frames_hwc,
    line_height,
    load_font,
    to_pil,
    to_uint8,
    upscale_factor,
)

if TYPE_CHECKING:  # annotations only: result.py calls into render (MorphResult.save)
    from steerlens.result import MorphResult

#: Smallest side of a GIF frame in pixels (MNIST 28x28 is upscaled x7 to 196).
GIF_MIN_SIDE = 192


def overlay_lines(result: MorphResult, k: int) -> list[str]:
    """The caption lines drawn under frame ``k`` of the GIF.

    Examples
    --------
    >>> overlay_lines(result, 0)                                        # doctest: +SKIP
    ['1/12  p(7) 0.012', 'top-1: 3']
    """
    s = result.scores[k]
    return [
        f"{k + 1}/{len(result.scores)}  p({result.target_name}) {s.p_target:.3f}",
        f"top-1: {s.top1_name}",
    ]


def gif_frames(result: MorphResult, overlay: bool = True, min_side: int = GIF_MIN_SIDE,
               arrows: bool = False) -> list[Image.Image]:
    """The GIF's frames as PIL images (mode ``"L"`` for grayscale morphs, ``"RGB"`` otherwise).

    Parameters
    ----------
    result
        The morph to draw.
    overlay
        Add a caption band under each frame: frame k/K, target probability, top-1 class.
    min_side
        Frames are upscaled (nearest neighbour, integer factor) until their shorter side is at
        least this many pixels.
    arrows
        Draw the displacement field on each frame (methods with a field only; the arrows grow
        with each frame's mean displacement, on the last frame's scale).

    Examples
    --------
    >>> ims = gif_frames(result)                                        # doctest: +SKIP
    >>> ims[0].size                                                     # doctest: +SKIP
    (196, 232)
    """
    u8 = to_uint8(frames_hwc(result))
    _, h, w, c = u8.shape
    f = upscale_factor(h, w, min_side)
    if arrows and result.displacement is not None:
        return _with_arrows(result, gif_frames(result, overlay, min_side), f)
    if not overlay:
        return [to_pil(u8[i], f) for i in range(len(u8))]
    out = []
    font = load_font(font_size_for(w * f))
    lh = line_height(font)
    band = 2 * lh + 6
    gray = c == 1
    for i in range(len(u8)):
        im = to_pil(u8[i], f)
        canvas = Image.new(im.mode, (im.width, im.height + band), 0 if gray else (0, 0, 0))
        canvas.paste(im, (0, 0))
        draw = ImageDraw.Draw(canvas)
        hit = result.scores[i].top1_index == result.target
        for j, line in enumerate(overlay_lines(result, i)):
            fill: int | tuple[int, int, int] = 255 if gray else (255, 255, 255)
            if hit and j == 1 and not gray:
                fill = (90, 230, 90)
            draw.text((4, im.height + 3 + j * lh), fit_text(line, font, im.width - 8), fill=fill,
                      font=font)
        out.append(canvas)
    return out


def _with_arrows(result: MorphResult, ims: list[Image.Image], factor: int) -> list[Image.Image]:
    """``ims`` with the result's field drawn on each, scaled by the frame's share of the final
    mean displacement."""
    from steerlens.render.arrows import arrow_grid, arrow_scale, draw_arrows

    field = result.displacement
    h = field.shape[1]
    x, _, dx, dy = arrow_grid(field)
    scale = arrow_scale(dx, dy, h / x.shape[0])
    final = result.final.mean_displacement or 0.0
    out = []
    for s, im in zip(result.scores, ims):
        share = (s.mean_displacement or 0.0) / final if final > 0 else 1.0
        out.append(draw_arrows(im, field, factor, scale * share))
    return out


def save_gif(
    result: MorphResult,
    path: str | Path,
    overlay: bool = True,
    arrows: bool = False,
    fps: float = 5.0,
    hold_last_s: float = 1.0,
    min_side: int = GIF_MIN_SIDE,
) -> Path:
    """Write the morph as a looping animated GIF.

    Parameters
    ----------
    result
        The morph to draw.
    path
        Output ``.gif`` path.
    overlay
        Caption band under each frame (frame k/K, target probability, top-1 class).
    fps
        Frames per second.
    hold_last_s
        How long the last frame stays up before the loop restarts, in seconds.
    min_side
        Smallest frame side in pixels after nearest-neighbour upscaling.

    Returns
    -------
    pathlib.Path
        ``path``.

    Notes
    -----
    Pillow merges consecutive identical frames into one; with ``overlay=True`` every frame
    differs (its caption says k/K), so the GIF always holds exactly K frames.

    Examples
    --------
    >>> save_gif(result, "out/morph.gif")                               # doctest: +SKIP
    PosixPath('out/morph.gif')
    """
    ims = gif_frames(result, overlay=overlay, min_side=min_side, arrows=arrows)
    step = round(1000.0 / fps)
    durations = [step] * len(ims)
    durations[-1] = max(step, round(1000.0 * hold_last_s))
    path = Path(path)
    if ims[0].mode == "RGB":
        # One adaptive palette per frame; dithering off so flat areas do not shimmer in the loop.
        ims = [im.quantize(colors=256, dither=Image.Dither.NONE) for im in ims]
    ims[0].save(path, format="GIF", save_all=True, append_images=ims[1:], duration=durations,
                loop=0, disposal=1)
    return path


def read_gif_frames(path: str | Path) -> np.ndarray:
    """Decode every frame of a GIF to ``(K, H, W, 3)`` uint8 (for tests and notebooks).

    Examples
    --------
    >>> read_gif_frames("out/morph.gif").shape                          # doctest: +SKIP
    (12, 232, 196, 3)
    """
    from PIL import ImageSequence

    with Image.open(path) as im:
        return np.stack([np.asarray(fr.convert("RGB")) for fr in ImageSequence.Iterator(im)])
