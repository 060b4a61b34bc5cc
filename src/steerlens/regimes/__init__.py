"""Editing regimes behind one interface (paper.md §2.6).

Every regime is a function ``run(problem) -> Trajectory`` (:mod:`steerlens.regimes.base`);
:func:`run_regime` picks one by name and turns its trajectory into results, built once.

- ``one-step`` (:mod:`~steerlens.regimes.one_step`): the paper's frozen gradient, extrapolated.
- ``live`` (:mod:`~steerlens.regimes.live`): re-analyse and recompute the gradient every step.
- ``persistent`` (:mod:`~steerlens.regimes.persistent`): recompute the gradient, accumulate the
  edit on the source's coefficients, projected onto the L2 budget.
"""

from __future__ import annotations

from typing import Any

from steerlens.regimes import live, one_step, persistent
from steerlens.regimes.base import MorphProblem, Regime, Trajectory, to_results
from steerlens.result import MorphResult

#: regime name -> implementation
REGIMES: dict[str, Regime] = {
    "one-step": one_step.run,
    "live": live.run,
    "persistent": persistent.run,
}

#: regime name -> one line of help (the CLI's and the API's)
REGIME_HELP: dict[str, str] = {
    "one-step": "the paper's: one gradient at the source, extrapolated (frozen)",
    "live": "re-analyse the current frame and recompute the gradient every step",
    "persistent": "recompute the gradient every step, accumulate it on the source's coefficients",
}

__all__ = ["REGIMES", "REGIME_HELP", "MorphProblem", "Regime", "Trajectory", "regime_help",
           "run_regime", "to_results"]


def regime_help(indent: str = "") -> str:
    """One line per regime, ``name: help``, each line starting with ``indent``.

    Examples
    --------
    >>> print(regime_help("- ").splitlines()[1])
    - live: re-analyse the current frame and recompute the gradient every step
    """
    return "\n".join(f"{indent}{name}: {REGIME_HELP[name]}" for name in REGIMES)


def run_regime(name: str, problem: MorphProblem, timings: dict[str, float] | None = None,
               runtime: dict[str, Any] | None = None) -> list[MorphResult]:
    """Run regime ``name`` on ``problem`` and return one result per image; ``timings`` (the
    caller's stages, read and not changed) and ``runtime`` go into every result."""
    return to_results(problem, REGIMES[name](problem), name, timings, runtime)
