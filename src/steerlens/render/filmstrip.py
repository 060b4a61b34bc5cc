"""Filmstrips: frames side by side as one PNG, for one morph or one row per method.

Also holds the small pixel helpers the other renderers share (frame validation, uint8
conversion, nearest-neighbour upscaling, fonts and text fitting), so every renderer turns a
:class:`~steerlens.result.MorphResult` into pixels the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:  # annotations only: result.py calls into render (MorphResult.save)
    from steerlens.result import MorphResult


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

#: Smallest side of a filmstrip tile in pixels (MNIST 28x28 is upscaled x5).
FILMSTRIP_MIN_SIDE = 128
#: Largest side an upscaled frame may reach, so elongated images do not explode.
MAX_SIDE = 2048
_BG = (255, 255, 255)
_FG = (20, 20, 20)
_GAP = 4


# ------------------------------------------------------------------------------- pixel helpers
def frames_hwc(result: MorphResult) -> np.ndarray:
    """Validated frames of ``result`` as ``(K, H, W, C)`` float32 in [0, 1].

    Parameters
    ----------
    result
        The morph to read.

    Returns
    -------
    numpy.ndarray
        Frames, channels last; values are clipped to [0, 1] (frames are clipped already, this
        only removes float round-off).

    Raises
    ------
    ValueError
        If the frames are not ``(K, C, H, W)`` with ``C`` in {1, 3}, contain NaN or inf, or do
        not match the number of amplifications and scores.

    Examples
    --------
    >>> frames_hwc(result).shape                                        # doctest: +SKIP
    (12, 32, 32, 3)
    """
    f = result.frames
    if f.ndim != 4 or f.shape[1] not in (1, 3) or f.shape[0] < 1:
        raise ValueError(f"frames must be (K, C, H, W) with C in (1, 3), got {tuple(f.shape)}")
    k = f.shape[0]
    if len(result.amplifications) != k or len(result.scores) != k:
        raise ValueError(
            f"{k} frames but {len(result.amplifications)} amplifications and "
            f"{len(result.scores)} scores; they must match"
        )
    arr = f.detach().cpu().float().permute(0, 2, 3, 1).numpy()
    if not np.isfinite(arr).all():
        raise ValueError("frames contain NaN or inf; refusing to render them")
    return np.clip(arr, 0.0, 1.0).astype(np.float32, copy=False)


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Map float images in [0, 1] to uint8 by rounding (``round(x * 255)``).

    Examples
    --------
    >>> to_uint8(np.array([0.0, 0.5, 1.0])).tolist()
    [0, 128, 255]
    """
    return np.rint(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)


def upscale_factor(h: int, w: int, min_side: int) -> int:
    """Integer nearest-neighbour factor so the shorter side reaches ``min_side``.

    Capped so the longer side stays within :data:`MAX_SIDE`; never below 1.

    Examples
    --------
    >>> upscale_factor(28, 28, 192)
    7
    >>> upscale_factor(224, 224, 192)
    1
    """
    want = math.ceil(min_side / max(1, min(h, w)))
    cap = max(1, MAX_SIDE // max(1, max(h, w)))
    return max(1, min(want, cap))


def to_pil(frame: np.ndarray, factor: int = 1, rgb: bool = False) -> Image.Image:
    """One ``(H, W, C)`` uint8 frame as a PIL image, upscaled by an integer factor (nearest).

    Grayscale frames (``C == 1``) become mode ``"L"`` unless ``rgb`` is set.

    Examples
    --------
    >>> to_pil(np.zeros((28, 28, 1), np.uint8), factor=7).size
    (196, 196)
    """
    if factor > 1:
        frame = np.repeat(np.repeat(frame, factor, axis=0), factor, axis=1)
    im = Image.fromarray(frame[..., 0], mode="L") if frame.shape[2] == 1 else Image.fromarray(frame)
    return im.convert("RGB") if rgb else im


@lru_cache(maxsize=16)
def load_font(size: int) -> Font:
    """Pillow's bundled font at ``size`` px, or its fixed bitmap font on old Pillow / no FreeType.

    Examples
    --------
    >>> load_font(12)                                                   # doctest: +SKIP
    <PIL.ImageFont.FreeTypeFont object at ...>
    """
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError, AttributeError):
        return ImageFont.load_default()


def line_height(font: Font) -> int:
    """Pixel height of one line of text in ``font``, including a little leading."""
    top, bottom = font.getbbox("Ag|y")[1::2]
    return int(bottom - top) + 3


def fit_text(text: str, font: Font, width: int) -> str:
    """Truncate ``text`` with ``...`` so it fits in ``width`` pixels.

    Examples
    --------
    >>> fit_text("a very long class name", load_font(12), 40)           # doctest: +SKIP
    'a ve...'
    """
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text + "..."


def font_size_for(width: int) -> int:
    """Caption font size for a panel ``width`` pixels wide (11 to 22 px)."""
    return int(np.clip(width // 16, 11, 22))


# ---------------------------------------------------------------------------------- filmstrip
def frame_labels(result: MorphResult, k: int) -> list[str]:
    """The caption lines under frame ``k`` of a filmstrip.

    Examples
    --------
    >>> frame_labels(result, 0)                                         # doctest: +SKIP
    ['amp 0', 'p 0.012', 'top-1 cat', 'L2 0.000']
    """
    s = result.scores[k]
    return [
        f"amp {result.amplifications[k]:.4g}",
        f"p {s.p_target:.3f}",
        f"top-1: {s.top1_name}",
        f"L2 {s.l2:.3f}",
    ]


def filmstrip(result: MorphResult, path: str | Path, min_side: int = FILMSTRIP_MIN_SIDE) -> Path:
    """Write all frames of ``result`` side by side as one PNG, a caption under each.

    Each caption gives the amplification, the target probability, the driver's top-1 class and
    the pixel L2 to the source; a title line names the method and the source -> target classes.

    Parameters
    ----------
    result
        The morph to draw.
    path
        Output PNG path.
    min_side
        Frames are upscaled (nearest neighbour, integer factor) until their shorter side is at
        least this many pixels.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> filmstrip(result, "out/filmstrip.png")                          # doctest: +SKIP
    PosixPath('out/filmstrip.png')
    """
    u8 = to_uint8(frames_hwc(result))
    k, h, w, _ = u8.shape
    f = upscale_factor(h, w, min_side)
    th, tw = h * f, w * f
    font = load_font(font_size_for(max(tw, 160)))
    lh = line_height(font)
    n_lines = len(frame_labels(result, 0))
    title_h = lh + 2 * _GAP
    cap_h = n_lines * lh + _GAP
    width = max(k * tw + (k + 1) * _GAP, 240)
    canvas = Image.new("RGB", (width, title_h + th + cap_h + _GAP), _BG)
    draw = ImageDraw.Draw(canvas)
    title = (f"{result.method} ({result.regime}): {result.source_name} -> {result.target_name}, "
             f"{result.stop_reason}")
    draw.text((_GAP, _GAP), fit_text(title, font, width - 2 * _GAP), fill=_FG, font=font)
    for i in range(k):
        x = _GAP + i * (tw + _GAP)
        canvas.paste(to_pil(u8[i], f, rgb=True), (x, title_h))
        hit = result.scores[i].top1_index == result.target
        for j, line in enumerate(frame_labels(result, i)):
            color = (0, 120, 0) if (hit and j == 2) else _FG
            draw.text((x, title_h + th + 2 + j * lh), fit_text(line, font, tw), fill=color, font=font)
    path = Path(path)
    canvas.save(path, format="PNG", optimize=True)
    return path


# --------------------------------------------------------------------------------- comparison
def _named(results: Mapping[str, MorphResult] | Sequence[MorphResult]) -> list[tuple[str, MorphResult]]:
    """Results with unique row names (dict keys, or each result's method, numbered on repeats)."""
    if isinstance(results, Mapping):
        items = [(str(k), v) for k, v in results.items()]
    else:
        items, seen = [], {}
        for r in results:
            seen[r.method] = seen.get(r.method, 0) + 1
            items.append((r.method if seen[r.method] == 1 else f"{r.method} #{seen[r.method]}", r))
    if not items:
        raise ValueError("no results to compare; pass at least one MorphResult")
    return items


def nearest_indices(k: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over ``k`` frames (first and last always included).

    Examples
    --------
    >>> nearest_indices(5, 3)
    [0, 2, 4]
    >>> nearest_indices(2, 4)
    [0, 0, 1, 1]
    """
    if n == 1:
        return [k - 1]
    return [int(i) for i in np.rint(np.linspace(0, k - 1, n))]


def compare_filmstrip(
    results: Mapping[str, MorphResult] | Sequence[MorphResult],
    path: str | Path,
    title: str | None = None,
    columns: int | None = None,
    min_side: int = 96,
) -> Path:
    """Write one PNG with one filmstrip row per method.

    The left of each row names the method and gives its final L2, final target probability and
    final top-1 class; each frame has a one-line ``p``/``L2`` caption under it. Methods with
    different frame counts are resampled to the same number of columns by nearest index, so the
    first and last frame of every method are always shown.

    Parameters
    ----------
    results
        ``{name: MorphResult}`` (e.g. from :func:`steerlens.compare`) or a list of results (rows
        are then named by ``result.method``).
    path
        Output PNG path.
    title
        Optional title line at the top.
    columns
        Number of frame columns; default: the largest frame count among the results.
    min_side
        Smallest tile side in pixels (nearest-neighbour upscaling).

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> results = steerlens.compare(model, image, "7")                 # doctest: +SKIP
    >>> compare_filmstrip(results, "out/compare.png", title="3 -> 7")   # doctest: +SKIP
    PosixPath('out/compare.png')
    """
    items = _named(results)
    frames = [to_uint8(frames_hwc(r)) for _, r in items]
    n = columns or max(f.shape[0] for f in frames)
    h = max(f.shape[1] for f in frames)
    w = max(f.shape[2] for f in frames)
    fac = upscale_factor(h, w, min_side)
    th, tw = h * fac, w * fac
    font = load_font(font_size_for(max(tw, 176)))
    lh = line_height(font)
    label_w = max(170, int(max(font.getlength(name) for name, _ in items)) + 2 * _GAP)
    label_w = min(label_w, 320)
    row_h = max(th + lh + _GAP, 4 * lh) + _GAP
    title_h = lh + 2 * _GAP if title else _GAP
    width = label_w + n * (tw + _GAP) + _GAP
    canvas = Image.new("RGB", (width, title_h + len(items) * row_h), _BG)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((_GAP, _GAP), fit_text(title, font, width - 2 * _GAP), fill=_FG, font=font)
    for row, ((name, r), u8) in enumerate(zip(items, frames)):
        y = title_h + row * row_h
        fin = r.final
        lines = [name, f"L2 {fin.l2:.3f}", f"p {r.scores[0].p_target:.3f} -> {fin.p_target:.3f}",
                 f"top-1: {fin.top1_name}"]
        for j, line in enumerate(lines):
            color = (0, 120, 0) if (j == 3 and r.succeeded) else _FG
            draw.text((_GAP, y + j * lh), fit_text(line, font, label_w - 2 * _GAP), fill=color,
                      font=font)
        for col, k in enumerate(nearest_indices(u8.shape[0], n)):
            x = label_w + col * (tw + _GAP)
            tile = to_pil(u8[k], 1, rgb=True).resize((tw, th), Image.Resampling.NEAREST)
            canvas.paste(tile, (x, y))
            cap = f"p {r.scores[k].p_target:.2f} L2 {r.scores[k].l2:.2f}"
            draw.text((x, y + th + 1), fit_text(cap, font, tw), fill=_FG, font=font)
    path = Path(path)
    canvas.save(path, format="PNG", optimize=True)
    return path


def comparison_markdown(results: Mapping[str, MorphResult]) -> str:
    """``compare.md``: where the shared L2 budget came from, which methods did not reach it (or
    stopped at an overshoot), then :func:`comparison_table`.

    Examples
    --------
    >>> print(comparison_markdown(results).splitlines()[0])             # doctest: +SKIP
    Shared budget: pixel L2 = 2.000, given with --budget.
    """
    first = next(iter(results.values()))
    budget = first.settings.get("matched_l2_budget")
    source = first.settings.get("budget_source", "")
    lines = [f"Shared budget: pixel L2 = {budget:.3f}, {source}." if budget is not None
             else "No shared budget (each method ran to its own goal)."]
    missed = [m for m, r in results.items() if not r.reached]
    over = [m for m, r in results.items() if overshoot_note(r) != "-"]
    if missed:
        lines.append(f"Did not reach the budget: {', '.join(missed)} (their final L2 is below it).")
    if over:
        lines.append(f"Stopped at or after an overshoot (p_target peaked, then fell): {', '.join(over)}.")
    return "\n\n".join(lines) + "\n\n" + comparison_table(results)


#: a final p_target this far below the morph's own peak counts as an overshoot in the tables
OVERSHOOT_DROP = 0.05


def overshoot_note(result: MorphResult, drop: float = OVERSHOOT_DROP) -> str:
    """The overshoot cell of a comparison: the schedule's own overshoot, or any frame whose
    p_target beats the final frame's by more than ``drop`` (the morph rose, then fell back:
    paper.md §5.4), else ``"-"``.

    A shared budget runs every method to the same L2, past its own peak if need be, so the
    schedule's overshoot flag alone misses a method that rose to 0.54 and ended at 0.28.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> curve = [NS(p_target=p, amplification=a) for p, a in [(0.1, 0), (0.54, 1), (0.28, 2)]]
    >>> overshoot_note(NS(overshoot=None, scores=curve, final=curve[-1]))
    'peak p 0.540 at amp 1, final 0.280'
    >>> overshoot_note(NS(overshoot=None, scores=curve[:2], final=curve[1]))
    '-'
    """
    o = result.overshoot
    if o is not None:
        return f"peak p {o.peak_p_target:.3f} at amp {o.peak_amplification:.4g}"
    peak = max(result.scores, key=lambda s: s.p_target)
    if peak.p_target - result.final.p_target > drop:
        return (f"peak p {peak.p_target:.3f} at amp {peak.amplification:.4g}, "
                f"final {result.final.p_target:.3f}")
    return "-"


def comparison_table(results: Mapping[str, MorphResult] | Sequence[MorphResult]) -> str:
    """A markdown table summarising several morphs of the same image.

    Columns: method, final L2, target probability start -> end, final top-1, whether the morph
    succeeded (final top-1 is the target) and the overshoot (peak) if one was detected.

    Examples
    --------
    >>> print(comparison_table(results))                                # doctest: +SKIP
    | method | final L2 | reached | p_target start -> end | top-1 | succeeded | overshoot |
    |---|---:|---|---|---|---|---|
    | pixel | 2.000 | yes | 0.010 -> 0.930 | 7 | yes | - |
    """
    rows = ["| method | final L2 | reached | p_target start -> end | top-1 | succeeded | overshoot |",
            "|---|---:|---|---|---|---|---|"]
    for name, r in _named(results):
        over = overshoot_note(r)
        cells = [name, f"{r.final.l2:.3f}", "yes" if r.reached else "no",
                 f"{r.scores[0].p_target:.3f} -> {r.final.p_target:.3f}",
                 r.final.top1_name, "yes" if r.succeeded else "no", over]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)
