"""Summaries of per-case records: medians and counts with paired 95 % source bootstrap intervals.

Cases are grouped into *cells* (dataset, driver, regime, budget, variant); inside a cell every
method is measured on the same sources, so one :func:`~steerlens.metrics.paired_bootstrap` per
metric resamples the same sources for all methods (paper.md §5.2) and also gives paired
method-minus-reference differences. Only ordinary sources count (showcase pairs are figures only).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from steerlens.metrics import paired_bootstrap

__all__ = ["METRICS", "Metric", "cell_key", "markdown_tables", "summarise"]


@dataclass(frozen=True)
class Metric:
    """One summarised metric.

    Attributes
    ----------
    key
        Record field (``judge_success_*`` fields are expanded per judge).
    label
        Column label.
    stat
        ``"median"`` or ``"count"`` (sum of a boolean over sources).
    percent
        Show the value as a percentage.
    """

    key: str
    label: str
    stat: str
    percent: bool = False


METRICS: tuple[Metric, ...] = (
    Metric("attained", "attained", "count"),
    Metric("driver_p", "median G p", "median", True),
    Metric("driver_success", "G success", "count"),
    Metric("judge_success_O", "O target", "count"),
    Metric("judge_success_O2", "O2 target", "count"),
    Metric("joint_success", "both", "count"),
    Metric("l2", "median L2", "median"),
    Metric("ssim", "SSIM", "median"),
    Metric("cout", "COUT", "median"),
    Metric("E_warp", "E warp", "median", True),
    Metric("E_warp_gain", "E warp+gain", "median", True),
    Metric("path_share", "GT path share", "median"),
    Metric("gt_cosine", "GT cosine", "median"),
    Metric("moves_toward_target", "toward GT", "count"),
)

CELL_FIELDS = ("dataset", "driver", "regime", "budget", "variant")


def cell_key(rec: dict[str, Any]) -> tuple[Any, ...]:
    """``(dataset, driver, regime, budget, variant)`` of a record."""
    return tuple(rec[k] for k in CELL_FIELDS)


def _method_rank(method: str) -> tuple[int, str]:
    """Paper order (pixel, Fourier, CSP phase / amplitude / joint), then the rest by name."""
    from steerlens.config import COMPARE_METHODS

    order = COMPARE_METHODS.index(method) if method in COMPARE_METHODS else len(COMPARE_METHODS)
    return order, method


def _values(recs: dict[str, dict[str, Any]], ids: list[str], key: str) -> np.ndarray:
    out = []
    for i in ids:
        v = recs[i].get(key)
        out.append(np.nan if v is None else float(v))
    return np.asarray(out, dtype=float)


def summarise(
    records: Sequence[dict[str, Any]], n_boot: int = 2000, reference: str = "pixel"
) -> list[dict[str, Any]]:
    """One summary row per (cell, method) with estimates, intervals and paired differences.

    Parameters
    ----------
    records
        Per-case records (see :func:`steerlens.experiments.scoring.score_endpoints`) with the
        identifying fields ``dataset, driver, regime, budget, variant, method, source_id, kind``.
    n_boot
        Bootstrap draws.
    reference
        Method whose values are subtracted in ``differences`` (if present in the cell).

    Returns
    -------
    list of dict
        ``{dataset, driver, regime, budget, variant, method, n, metrics: {key: {estimate, low,
        high, stat}}, differences: {key: {estimate, low, high}}}``.

    Examples
    --------
    >>> recs = [dict(dataset="d", driver="s", regime="r", budget=1.0, variant="v", method=m,
    ...              source_id=str(i), kind="sample", l2=1.0 + (m == "b"), attained=True)
    ...         for m in "ab" for i in range(5)]
    >>> rows = summarise(recs, n_boot=50)
    >>> [(r["method"], r["metrics"]["l2"]["estimate"]) for r in rows]
    [('a', 1.0), ('b', 2.0)]
    """
    cells: dict[tuple[Any, ...], dict[str, dict[str, dict[str, Any]]]] = defaultdict(dict)
    for r in records:
        if r.get("kind", "sample") != "sample":
            continue
        cells[cell_key(r)].setdefault(r["method"], {})[r["source_id"]] = r
    rows = []
    for cell in sorted(cells, key=lambda c: tuple(str(v) for v in c)):
        by_method = cells[cell]
        methods = sorted(by_method, key=_method_rank)
        common = sorted(set.intersection(*(set(v) for v in by_method.values())))
        if not common:
            continue
        present = [m for m in METRICS if any(m.key in by_method[x][common[0]] for x in methods)]
        stats: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in methods}
        diffs: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in methods}
        for metric in present:
            vals = {m: _values(by_method[m], common, metric.key) for m in methods}
            if all(np.isnan(v).all() for v in vals.values()):
                continue
            fn = np.median if metric.stat == "median" else np.sum
            ref = reference if reference in methods else methods[0]
            pairs = [(m, ref) for m in methods if m != ref]
            finite = {m: v for m, v in vals.items() if not np.isnan(v).all()}
            if ref not in finite:
                pairs = []
            pb = paired_bootstrap(finite, stat=fn, n=n_boot, pairs=[p for p in pairs if p[0] in finite])
            for m, ci in pb.methods.items():
                stats[m][metric.key] = {
                    "estimate": ci.estimate, "low": ci.low, "high": ci.high, "stat": metric.stat,
                    "n": ci.n_obs,
                }
            for (a, _b), ci in pb.differences.items():
                diffs[a][metric.key] = {"estimate": ci.estimate, "low": ci.low, "high": ci.high}
        for m in methods:
            share = np.array(
                [by_method[m][i].get("scale_share") or [] for i in common], dtype=float
            )
            rows.append({
                **dict(zip(CELL_FIELDS, cell)),
                "method": m,
                "n": len(common),
                "metrics": stats[m],
                "differences": diffs[m],
                "reference": reference if reference in methods else methods[0],
                "scale_share_median": (
                    np.nanmedian(share, axis=0).tolist() if share.ndim == 2 and share.size else []
                ),
                "scale_labels": by_method[m][common[0]].get("scale_labels", []),
            })
    return rows


def _fmt(cell: dict[str, Any] | None, metric: Metric, ci: bool) -> str:
    if cell is None:
        return "–"
    est, lo, hi = cell["estimate"], cell["low"], cell["high"]
    if metric.stat == "count":
        s = f"{round(est)}/{cell['n']}"
        return s + (f" [{lo:.0f}, {hi:.0f}]" if ci else "")
    if metric.percent:
        if abs(est) < 1e-3:
            s = f"{100 * est:.2g}%"
        else:
            s = f"{100 * est:.1f}%"
        return s + (f" [{100 * lo:.1f}, {100 * hi:.1f}]" if ci else "")
    return f"{est:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if ci else "")


#: metrics shown with their interval in the markdown tables (the rest: estimate only)
CI_METRICS = {"driver_p", "joint_success", "E_warp_gain", "path_share"}


def markdown_tables(rows: Sequence[dict[str, Any]]) -> str:
    """One markdown table per cell: methods as rows, metrics as columns (intervals in brackets).

    Examples
    --------
    >>> recs = [dict(dataset="d", driver="s", regime="r", budget=1.0, variant="v", method="a",
    ...              source_id=str(i), kind="sample", l2=1.0, attained=True) for i in range(3)]
    >>> print(markdown_tables(summarise(recs, n_boot=20)).splitlines()[0])
    ### d · driver s · r · L2 = 1 · v
    """
    cells: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        cells[cell_key(r)].append(r)
    parts = []
    for cell, rs in cells.items():
        ds, drv, reg, b, var = cell
        cols = [m for m in METRICS if any(m.key in r["metrics"] for r in rs)]
        head = f"### {ds} · driver {drv} · {reg} · L2 = {b:g} · {var}"
        lines = [head, "", "| method | " + " | ".join(m.label for m in cols) + " |",
                 "|---|" + "---|" * len(cols)]
        for r in rs:
            vals = [_fmt(r["metrics"].get(m.key), m, m.key in CI_METRICS) for m in cols]
            lines.append(f"| {r['method']} | " + " | ".join(vals) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
