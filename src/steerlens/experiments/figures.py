"""Figures of an experiment: bar charts of every summarised metric, and matched-L2 filmstrips.

Bar charts read the summary rows (:func:`steerlens.experiments.summary.summarise`); filmstrips read
the :class:`~steerlens.result.MorphResult` s kept for a few sources per group. Both only read
results, never the models.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from steerlens.experiments.summary import METRICS, cell_key
from steerlens.result import MorphResult

__all__ = ["bar_charts", "cell_slug", "filmstrips"]


def cell_slug(cell: Sequence[Any]) -> str:
    """File-name-safe name of a cell, e.g. ``mnist_standard_one-step_L2-2_default``.

    Examples
    --------
    >>> cell_slug(("mnist", "robust", "live", 2.0, "per-scale/coarse"))
    'mnist_robust_live_L2-2_per-scale-coarse'
    """
    ds, drv, reg, b, var = cell
    raw = f"{ds}_{drv}_{reg}_L2-{b:g}_{var}"
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in raw)


def bar_charts(rows: Sequence[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """One PNG per cell: a panel per metric, one bar per method with its 95 % interval.

    Examples
    --------
    >>> paths = bar_charts(summarise(records), "results/mnist/figures")   # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cells: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        cells[cell_key(r)].append(r)
    paths = []
    for cell, rs in cells.items():
        metrics = [m for m in METRICS if any(m.key in r["metrics"] for r in rs)]
        ncol = 4
        nrow = -(-len(metrics) // ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False)
        names = [r["method"] for r in rs]
        for ax, m in zip(axes.flat, metrics):
            est, err_lo, err_hi = [], [], []
            for r in rs:
                c = r["metrics"].get(m.key)
                e = c["estimate"] if c else float("nan")
                est.append(e)
                err_lo.append(max(0.0, e - c["low"]) if c else 0.0)
                err_hi.append(max(0.0, c["high"] - e) if c else 0.0)
            ax.bar(range(len(rs)), est, yerr=[err_lo, err_hi], capsize=3, color="#4c72b0")
            ax.set_xticks(range(len(rs)))
            ax.set_xticklabels(names, rotation=35, ha="right", fontsize=7)
            unit = f" (of {rs[0]['n']})" if m.stat == "count" else ""
            ax.set_title(m.label + unit, fontsize=9)
            ax.tick_params(axis="y", labelsize=7)
        for ax in list(axes.flat)[len(metrics):]:
            ax.axis("off")
        ds, drv, reg, b, var = cell
        fig.suptitle(f"{ds} · driver {drv} · {reg} · L2 = {b:g} · {var} (95% bootstrap)", fontsize=10)
        fig.tight_layout()
        p = out / f"bars_{cell_slug(cell)}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def filmstrips(
    kept: Mapping[tuple[Any, ...], Mapping[str, Mapping[str, MorphResult]]],
    out_dir: str | Path,
) -> list[Path]:
    """One compare-filmstrip per (cell, source): a row per method, all at the same final L2.

    Parameters
    ----------
    kept
        ``cell -> source id -> method -> MorphResult``.
    out_dir
        Folder for the PNGs.
    """
    from steerlens.render import compare_filmstrip

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for cell, by_source in kept.items():
        for sid, by_method in by_source.items():
            if not by_method:
                continue
            any_r = next(iter(by_method.values()))
            ds, drv, reg, b, var = cell
            title = (
                f"{ds} {sid}: {any_r.source_name} -> {any_r.target_name} · driver {drv} · {reg} · "
                f"L2 = {b:g} · {var}"
            )
            p = out / f"filmstrip_{cell_slug(cell)}_{sid}.png"
            compare_filmstrip(dict(by_method), p, title=title)
            paths.append(p)
    return paths
