"""Curves of a morph against amplification: target/source probability and pixel L2."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:  # annotations only: result.py calls into render (MorphResult.save)
    from steerlens.result import MorphResult



def first_target_frame(result: MorphResult) -> int | None:
    """Index of the first frame whose driver top-1 is the target, or ``None``.

    Examples
    --------
    >>> first_target_frame(result)                                      # doctest: +SKIP
    7
    """
    for k, s in enumerate(result.scores):
        if s.top1_index == result.target:
            return k
    return None


def plot_curves(result: MorphResult, path: str | Path, dpi: int = 120) -> Path:
    """Write a two-panel PNG: probabilities (top) and pixel L2 (bottom) against amplification.

    The top panel shows the driver's target and source probabilities (and any judges' target
    probabilities, dashed). Both panels mark the first frame whose top-1 is the target (green
    dotted line) and, if the result records an overshoot, the peak before the collapse (red
    dashed line and star).

    Parameters
    ----------
    result
        The morph to plot.
    path
        Output PNG path.
    dpi
        Resolution of the PNG.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> plot_curves(result, "out/curves.png")                           # doctest: +SKIP
    PosixPath('out/curves.png')
    """
    amp = np.asarray(result.amplifications, dtype=float)
    p_t = np.array([s.p_target for s in result.scores])
    p_s = np.array([s.p_source for s in result.scores])
    l2 = np.array([s.l2 for s in result.scores])

    # A bare Figure with an Agg canvas: no pyplot global state, safe in threads and servers.
    fig = Figure(figsize=(6.4, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax_p, ax_l = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    ax_p.plot(amp, p_t, "o-", color="tab:blue", ms=3, label=f"p(target = {result.target_name})")
    ax_p.plot(amp, p_s, "s-", color="tab:orange", ms=3, label=f"p(source = {result.source_name})")
    for name, vals in result.judges.items():
        if len(vals) == len(amp):
            ax_p.plot(amp, vals, "--", lw=1, label=f"judge {name}: p(target)")
    ax_p.set_ylim(-0.02, 1.02)
    ax_p.set_ylabel("probability")
    ax_p.set_title(f"{result.method} ({result.regime}): {result.source_name} -> "
                   f"{result.target_name}", fontsize=10)
    ax_l.plot(amp, l2, "o-", color="tab:gray", ms=3)
    ax_l.set_ylabel("pixel L2 to source")
    ax_l.set_xlabel("amplification")

    k = first_target_frame(result)
    if k is not None:
        for ax in (ax_p, ax_l):
            ax.axvline(amp[k], color="tab:green", ls=":", lw=1.5)
        ax_p.plot([], [], color="tab:green", ls=":", label=f"top-1 = target (frame {k})")
    o = result.overshoot
    if o is not None:
        for ax in (ax_p, ax_l):
            ax.axvline(o.peak_amplification, color="tab:red", ls="--", lw=1)
        ax_p.plot([o.peak_amplification], [o.peak_p_target], "*", color="tab:red", ms=12,
                  label=f"overshoot peak p {o.peak_p_target:.3f}")
    ax_p.legend(fontsize=8, loc="best")
    for ax in (ax_p, ax_l):
        ax.grid(alpha=0.3)
    path = Path(path)
    fig.savefig(path, dpi=dpi, format="png")
    return path
