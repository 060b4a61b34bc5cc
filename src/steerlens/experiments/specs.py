"""What each named experiment runs: datasets, sources, budgets, methods, regimes, drivers, variants.

The protocol follows the authors' revision (paper.md §5.1-5.3): every method is taken to the same
final pixel L2 (``MorphConfig(l2_budget=B)``), targets are the driver's runner-up class, and
summaries are medians / counts with paired 95 % source bootstrap intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from steerlens.config import COMPARE_METHODS, REGIMES, MorphConfig, parse_method
from steerlens.errors import ConfigError
from steerlens.experiments.scoring import ScoringOptions
from steerlens.experiments.sources import DRIVERS, SYNTHETIC_FAMILIES, check_dataset_name

__all__ = ["EXPERIMENTS", "ExperimentSpec", "Variant", "default_spec", "sweep_variants"]



@dataclass(frozen=True)
class Variant:
    """A named set of :class:`~steerlens.config.MorphConfig` overrides applied to every method.

    Attributes
    ----------
    name
        Short name used in case keys and tables, e.g. ``"default"`` or ``"per-scale/coarse"``.
    overrides
        MorphConfig fields, e.g. ``{"normalization": "per-scale", "scales": [1]}``.
    methods
        Restrict the variant to these methods (``None``: all of the experiment's methods).
    """

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    methods: tuple[str, ...] | None = None


@dataclass
class ExperimentSpec:
    """Everything one experiment run covers.

    Attributes
    ----------
    name
        Experiment name (``mnist``, ``fashion-mnist``, ``synthetic``, ``sweep``).
    datasets
        Dataset names (``synthetic-<family>`` for the families).
    sources
        Ordinary sources per dataset (summaries are over these).
    budgets
        Final pixel L2 budgets.
    methods, regimes, drivers
        Grid to run (drivers: ``standard`` / ``robust``).
    variants
        Config variants (the sweep's grid; ``[Variant("default")]`` otherwise).
    live_sources
        Cap on the sources of the live regime (it is much slower); ``None``: all.
    showcase
        Add the dataset's showcase pairs (figures only).
    frames
        Frames per morph (only the final one is scored; the rest feed the filmstrips).
    batch_size
        Sources per :func:`~steerlens.api.morph_batch` call.
    n_boot
        Bootstrap draws per interval.
    scoring
        Metric cost knobs.
    figure_sources
        Ordinary sources (first ones) that also get filmstrips, besides the showcase pairs.
    relative_budgets
        Synthetic families only: ``budgets`` are multiples of the median ground-truth change
        ``median |x_gt - x_src|`` of the family's sources (so every family is asked for the same
        share of its true morph); the resolved absolute L2 is what the cases record.
    """

    name: str
    datasets: list[str]
    sources: int
    budgets: list[float]
    methods: list[str]
    regimes: list[str]
    drivers: list[str]
    variants: list[Variant] = field(default_factory=lambda: [Variant("default")])
    live_sources: int | None = None
    showcase: bool = True
    frames: int = 8
    batch_size: int = 150
    n_boot: int = 2000
    scoring: ScoringOptions = field(default_factory=ScoringOptions)
    figure_sources: int = 2
    relative_budgets: bool = False

    def validate(self) -> ExperimentSpec:
        """Check the grid; raise :class:`ConfigError` with a one-line fix."""
        for m in self.methods:
            parse_method(m)
        for r in self.regimes:
            if r not in REGIMES:
                raise ConfigError(f"unknown regime {r!r}; use {', '.join(REGIMES)}")
        for d in self.drivers:
            if d not in DRIVERS:
                raise ConfigError(f"unknown driver {d!r}; use standard and/or robust")
        if not self.budgets or not all(math.isfinite(b) and b > 0 for b in self.budgets):
            raise ConfigError(
                f"--budgets must be positive finite L2 distances, e.g. 1,2; got "
                f"{','.join(f'{b:g}' for b in self.budgets) or 'none'}"
            )
        for d in self.datasets:
            check_dataset_name(d)
        if self.sources < 1:
            raise ConfigError(f"--sources must be at least 1, got {self.sources}")
        for v in self.variants:
            ov = {k: val for k, val in v.overrides.items() if k != "scales"}
            MorphConfig(**{**ov, "l2_budget": 1.0}).validate()
        return self

    def config(
        self, method: str, regime: str, budget: float, variant: Variant, size: tuple[int, int]
    ) -> MorphConfig:
        """The MorphConfig of one group of cases on images of ``size`` (H, W).

        ``scales="coarse"`` in a variant means every CSP scale except the finest (0).
        """
        ov = dict(variant.overrides)
        if ov.get("scales") == "coarse":
            from steerlens.transforms import max_scales

            n = ov.get("n_scales", "auto")
            n = max_scales(*size) if n == "auto" else int(n)
            ov["scales"] = list(range(1, n)) if n > 1 else [0]
        return MorphConfig(
            method=method, regime=regime, l2_budget=budget, frames=self.frames, **ov
        ).validate()


def sweep_variants() -> list[Variant]:
    """The sweep grid: normalisation x band selection for the CSP phase, joint and amplitude edits.

    Colour mode does not apply to the grey MNIST digits (``luminance`` equals ``rgb`` there).
    ``motion`` only rescales the phase gradient, so it is not run for the amplitude edit.

    Examples
    --------
    >>> [v.name for v in sweep_variants()][:3]
    ['global-max/all', 'global-max/coarse', 'per-scale/all']
    """
    out = []
    for norm in ("global-max", "per-scale", "motion"):
        for bands, scales in (("all", None), ("coarse", "coarse")):
            methods = ("csp-phase", "csp-joint") if norm == "motion" else None
            ov: dict[str, Any] = {"normalization": norm}
            if scales is not None:
                ov["scales"] = scales
            out.append(Variant(f"{norm}/{bands}", ov, methods))
    return out


def default_spec(name: str, quick: bool = False) -> ExperimentSpec:
    """The protocol of a named experiment (``--quick``: a few sources, one budget, cheap metrics).

    Examples
    --------
    >>> s = default_spec("mnist")
    >>> s.sources, s.budgets, s.drivers
    (300, [1.0, 2.0], ['standard', 'robust'])
    >>> default_spec("synthetic", quick=True).datasets[:2]
    ['synthetic-translation', 'synthetic-rotation']
    """
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    spec = EXPERIMENTS[name]()
    if quick:
        spec = replace(
            spec,
            sources=4,
            budgets=spec.budgets[-1:],
            live_sources=None,
            n_boot=200,
            scoring=ScoringOptions(warp_steps=60, cout=True, path_points=9),
            figure_sources=1,
            frames=6,
        )
    return spec


def _mnist_like(name: str) -> ExperimentSpec:
    return ExperimentSpec(
        name=name,
        datasets=[name],
        sources=300,
        budgets=[1.0, 2.0],
        methods=list(COMPARE_METHODS),
        regimes=["one-step", "persistent", "live"],
        drivers=["standard", "robust"],
    )


def _synthetic() -> ExperimentSpec:
    return ExperimentSpec(
        name="synthetic",
        datasets=[f"synthetic-{f}" for f in SYNTHETIC_FAMILIES],
        sources=100,
        budgets=[0.75],
        methods=list(COMPARE_METHODS),
        regimes=["one-step", "persistent", "live"],
        drivers=["standard"],
        showcase=False,
        relative_budgets=True,
    )


def _sweep() -> ExperimentSpec:
    return ExperimentSpec(
        name="sweep",
        datasets=["mnist"],
        sources=100,
        budgets=[2.0],
        methods=["csp-phase", "csp-joint", "csp-amplitude"],
        regimes=["one-step"],
        drivers=["standard"],
        variants=sweep_variants(),
        showcase=False,
        figure_sources=1,
    )


EXPERIMENTS = {
    "mnist": lambda: _mnist_like("mnist"),
    "fashion-mnist": lambda: _mnist_like("fashion-mnist"),
    "synthetic": _synthetic,
    "sweep": _sweep,
}
