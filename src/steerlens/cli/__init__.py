"""The ``steerlens`` command line.

- :mod:`steerlens.cli.main`: the Typer app, :func:`main` (the console script), one-line errors and
  signals (:mod:`steerlens.cli.signals`);
- :mod:`steerlens.cli.options`: options generated from :class:`~steerlens.config.MorphConfig`;
- one module per command group: :mod:`~steerlens.cli.morph` (morph, compare, demo, models,
  samples), :mod:`~steerlens.cli.evaluate` (train, experiment), :mod:`~steerlens.cli.view`
  (report, serve), :mod:`~steerlens.cli.batch` (batch).

``write_comparison`` is re-exported for older callers; new code imports it from
:mod:`steerlens.render`.
"""

from steerlens.cli.main import app, main
from steerlens.cli.signals import Interrupted, Terminated

__all__ = ["Interrupted", "Terminated", "app", "main", "write_comparison"]


def __getattr__(name: str):
    """``write_comparison`` on first use: the renderers (matplotlib) stay out of CLI start-up."""
    if name == "write_comparison":
        from steerlens.render.comparison import write_comparison

        return write_comparison
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
