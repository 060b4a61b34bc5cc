"""What :func:`steerlens.compare` returns: one :class:`~steerlens.result.MorphResult` per method.

A :class:`Comparison` is a read-only mapping, method -> result, so ``for m, r in res.items()`` and
``res["csp-phase"]`` work as on the ``dict`` it replaces; it adds the shared budget, a summary and
an inline view in Jupyter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from steerlens.result import MorphResult

__all__ = ["Comparison"]


class Comparison(Mapping[str, MorphResult]):
    """Several methods on one image at one pixel-L2 budget, in the order they were run.

    Parameters
    ----------
    results
        Method name -> result.

    Examples
    --------
    >>> import torch
    >>> from steerlens.result import FrameScore
    >>> s = FrameScore(0.0, 0.1, 0.9, 3, "3", 0.0)
    >>> r = MorphResult(torch.zeros(1, 1, 4, 4), torch.zeros(1, 4, 4), [0.0], [s], 8, "8", 3,
    ...                 "3", "pixel", settings={"matched_l2_budget": 2.0})
    >>> c = Comparison({"pixel": r})
    >>> list(c), c["pixel"] is r, c.budget
    (['pixel'], True, 2.0)
    """

    def __init__(self, results: Mapping[str, MorphResult]) -> None:
        self._results = dict(results)

    def __getitem__(self, method: str) -> MorphResult:
        return self._results[method]

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)

    def __repr__(self) -> str:
        return f"Comparison({', '.join(self._results)}; budget {self.budget})"

    @property
    def budget(self) -> float | None:
        """The shared pixel L2 budget (``matched_l2_budget`` of the results), if any."""
        for r in self._results.values():
            value = r.settings.get("matched_l2_budget")
            if value is not None:
                return float(value)
        return None

    def summary(self) -> str:
        """One :meth:`~steerlens.result.MorphResult.summary` line per method."""
        return "\n".join(r.summary() for r in self._results.values())

    def _repr_html_(self) -> str:
        """The report's comparison view (one slider moves every method), for Jupyter."""
        # the engine's one upward arrow, declared in pyproject's import contracts
        from steerlens.notebook import comparison_html

        return comparison_html(self)

    def _notebook_view(self, view_id: str):
        """The report's comparison view under ``view_id`` (for :func:`steerlens.show`)."""
        from steerlens.notebook import comparison_view

        return comparison_view(self, view_id)
