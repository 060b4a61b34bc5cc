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

__all__ = ["REGIMES", "MorphProblem", "Regime", "Trajectory", "run_regime", "to_results"]


def run_regime(name: str, problem: MorphProblem, timings: dict[str, float] | None = None,
               runtime: dict[str, Any] | None = None) -> list[MorphResult]:
    """Run regime ``name`` on ``problem`` and return one result per image; ``timings`` (the
    caller's stages, read and not changed) and ``runtime`` go into every result."""
    return to_results(problem, REGIMES[name](problem), name, timings, runtime)
