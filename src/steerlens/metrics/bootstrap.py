"""Percentile bootstrap confidence intervals, single and paired across methods.

Follows the paper's protocol (paper.md §5.2): pointwise 95 % percentile bootstrap over source
images (clusters), 2,000 draws, seed 20261006, and the *same* resampled sources for every method
and budget, so that differences between methods are paired. Not adjusted for multiplicity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from steerlens.errors import ConfigError

__all__ = ["BootstrapCI", "PairedBootstrap", "bootstrap_ci", "paired_bootstrap"]

Stat = Callable[..., float]
PAPER_SEED = 20261006


@dataclass
class BootstrapCI:
    """A point estimate with its percentile bootstrap interval.

    Attributes
    ----------
    estimate
        ``stat`` of the observed values.
    low, high
        ``alpha/2`` and ``1 - alpha/2`` percentiles of the bootstrap distribution.
    alpha
        Two-sided error level (0.05 -> 95 % interval).
    n_boot
        Number of bootstrap draws.
    n_obs
        Number of observations (or clusters) resampled.
    """

    estimate: float
    low: float
    high: float
    alpha: float
    n_boot: int
    n_obs: int

    @property
    def width(self) -> float:
        """``high - low``."""
        return self.high - self.low

    def __str__(self) -> str:
        return f"{self.estimate:.4g} [{self.low:.4g}, {self.high:.4g}]"


@dataclass
class PairedBootstrap:
    """Intervals for several methods and their pairwise differences on the same resamples.

    Attributes
    ----------
    methods
        Method name -> :class:`BootstrapCI` of ``stat``.
    differences
        ``(a, b)`` -> :class:`BootstrapCI` of ``stat(a) - stat(b)``.
    """

    methods: dict[str, BootstrapCI]
    differences: dict[tuple[str, str], BootstrapCI]


def _apply(stat: Stat, samples: np.ndarray) -> np.ndarray:
    """``stat`` of every row of ``samples`` (vectorised when ``stat`` takes ``axis``)."""
    try:
        out = np.asarray(stat(samples, axis=1), dtype=float)
        if out.shape == (samples.shape[0],):
            return out
    except TypeError:
        pass
    return np.array([stat(row) for row in samples], dtype=float)


def _draws(
    m: int, n_boot: int, seed: int, clusters: ArrayLike | None
) -> list[np.ndarray] | np.ndarray:
    """Row indices of each bootstrap draw (an ``(n_boot, m)`` array, or a list for clusters)."""
    rng = np.random.default_rng(seed)
    if clusters is None:
        return rng.integers(0, m, size=(n_boot, m))
    labels = np.asarray(clusters)
    if labels.shape != (m,):
        raise ConfigError(f"clusters must give one label per value ({m}), got shape {labels.shape}")
    _, inverse = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(inverse == c) for c in range(inverse.max() + 1)]
    picks = rng.integers(0, len(members), size=(n_boot, len(members)))
    return [np.concatenate([members[c] for c in row]) for row in picks]


def bootstrap_ci(
    values: ArrayLike,
    stat: Stat = np.median,
    n: int = 2000,
    seed: int = PAPER_SEED,
    alpha: float = 0.05,
    clusters: ArrayLike | None = None,
) -> BootstrapCI:
    """Percentile bootstrap interval of ``stat(values)``.

    Parameters
    ----------
    values
        1-D observations; NaNs are dropped first (e.g. E of an empty edit).
    stat
        Statistic; vectorised if it accepts ``axis=1`` (``np.median``, ``np.mean``...).
    n
        Bootstrap draws.
    seed
        Seed of the resampling (paper: 20261006).
    alpha
        Two-sided level: the interval spans the ``alpha/2`` to ``1 - alpha/2`` percentiles.
    clusters
        Optional cluster label per value (e.g. the source image of each target): whole clusters
        are resampled (paper: "source-cluster" bootstrap).

    Returns
    -------
    BootstrapCI

    Examples
    --------
    >>> ci = bootstrap_ci(np.arange(101.0))
    >>> ci.estimate, ci.low < 50 < ci.high
    (50.0, True)
    """
    return paired_bootstrap({"values": values}, stat, n, seed, alpha, clusters).methods["values"]


def paired_bootstrap(
    values: Mapping[str, ArrayLike],
    stat: Stat = np.median,
    n: int = 2000,
    seed: int = PAPER_SEED,
    alpha: float = 0.05,
    clusters: ArrayLike | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> PairedBootstrap:
    """Bootstrap several methods measured on the same sources, with the same resamples.

    Parameters
    ----------
    values
        Method name -> 1-D values, all aligned on the same sources (row ``i`` is the same source
        for every method). Rows where any method is NaN are dropped for all.
    stat, n, seed, alpha, clusters
        As in :func:`bootstrap_ci`.
    pairs
        Method pairs ``(a, b)`` whose difference ``stat(a) - stat(b)`` gets an interval (each draw
        uses the same resampled rows for ``a`` and ``b``); default every ordered pair in the
        given method order, ``a`` before ``b``.

    Returns
    -------
    PairedBootstrap

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> base = rng.normal(size=200)
    >>> pb = paired_bootstrap({"pixel": base, "csp": base + 0.5})
    >>> d = pb.differences[("pixel", "csp")]
    >>> round(d.estimate, 6), d.high < 0
    (-0.5, True)
    """
    names = list(values)
    if not names:
        raise ConfigError("paired_bootstrap needs at least one method")
    cols = [np.asarray(values[k], dtype=float).ravel() for k in names]
    if len({c.size for c in cols}) != 1:
        raise ConfigError("paired_bootstrap needs the same number of values (sources) per method")
    mat = np.stack(cols)  # (methods, m)
    keep = ~np.isnan(mat).any(0)
    mat = mat[:, keep]
    if mat.shape[1] == 0:
        raise ConfigError("bootstrap: no source has finite values (check the metric's output)")
    if not 0 < alpha < 1 or n < 1:
        raise ConfigError(f"bootstrap needs 0 < alpha < 1 and n >= 1 (got {alpha}, {n})")
    cl = None if clusters is None else np.asarray(clusters).ravel()[keep]
    draws = _draws(mat.shape[1], n, seed, cl)
    n_obs = mat.shape[1] if cl is None else len(np.unique(cl))
    if isinstance(draws, np.ndarray):
        boot = {k: _apply(stat, mat[i][draws]) for i, k in enumerate(names)}
    else:
        boot = {k: np.array([stat(mat[i][d]) for d in draws]) for i, k in enumerate(names)}
    est = {k: float(stat(mat[i])) for i, k in enumerate(names)}

    def ci(point: float, dist: np.ndarray) -> BootstrapCI:
        lo, hi = np.quantile(dist, [alpha / 2, 1 - alpha / 2])
        return BootstrapCI(point, float(lo), float(hi), alpha, len(dist), n_obs)

    if pairs is None:
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    for a, b in pairs:
        if a not in est or b not in est:
            raise ConfigError(f"unknown method in pair {(a, b)}; methods are {names}")
    return PairedBootstrap(
        methods={k: ci(est[k], boot[k]) for k in names},
        differences={(a, b): ci(est[a] - est[b], boot[a] - boot[b]) for a, b in pairs},
    )
