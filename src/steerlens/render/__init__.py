"""Renderers: turn a :class:`~steerlens.result.MorphResult` into files people can look at.

Renderers only read a result (frames, per-frame scores, manifest); they never call back into the
transform or the model.

Examples
--------
>>> from steerlens.render import save_result
>>> paths = save_result(result, Path("out/cat"))                       # doctest: +SKIP
>>> sorted(paths)                                                       # doctest: +SKIP
['curves', 'filmstrip', 'frames', 'gif', 'manifest']
"""

from __future__ import annotations

from steerlens.render.arrows import save_arrows
from steerlens.render.comparison import write_comparison
from steerlens.render.filmstrip import (
    compare_filmstrip,
    comparison_markdown,
    comparison_table,
    filmstrip,
)
from steerlens.render.gif import read_gif_frames, save_gif
from steerlens.render.plots import plot_curves
from steerlens.render.save import ARTEFACTS, gallery_html, save_frames_npz, save_result

__all__ = [
    "ARTEFACTS",
    "compare_filmstrip",
    "comparison_markdown",
    "comparison_table",
    "filmstrip",
    "gallery_html",
    "plot_curves",
    "read_gif_frames",
    "save_arrows",
    "save_frames_npz",
    "save_gif",
    "save_result",
    "write_comparison",
]
