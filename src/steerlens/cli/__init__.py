"""The ``steerlens`` command line.

- :mod:`steerlens.cli.main`: the Typer app, :func:`main` (the console script), one-line errors and
  signals (:mod:`steerlens.cli.signals`);
- :mod:`steerlens.cli.options`: options generated from :class:`~steerlens.config.MorphConfig`;
- one module per command group: :mod:`~steerlens.cli.morph` (morph, compare, demo, models,
  samples), :mod:`~steerlens.cli.evaluate` (train, experiment), :mod:`~steerlens.cli.view`
  (report, serve); ``batch`` lives in :mod:`steerlens.cli_batch` for now.

The private names below are thin re-exports for :mod:`steerlens.cli_batch` and older callers;
new code imports from the modules above (and ``write_comparison`` from :mod:`steerlens.render`).
"""

from steerlens.cli.common import echo as _echo
from steerlens.cli.common import load_model_for as _load
from steerlens.cli.common import model_and_image as _model_and_image
from steerlens.cli.common import parse_size as _parse_size
from steerlens.cli.common import setup as _setup
from steerlens.cli.main import app, main
from steerlens.cli.signals import Interrupted, Terminated
from steerlens.option import parse_amplification as _parse_amplification

__all__ = ["Interrupted", "Terminated", "app", "main", "write_comparison"]

# re-exported for steerlens.cli_batch until it moves onto the generated options
_REEXPORTS = (_echo, _load, _model_and_image, _parse_amplification, _parse_size, _setup)


def __getattr__(name: str):
    """``write_comparison`` on first use: the renderers (matplotlib) stay out of CLI start-up."""
    if name == "write_comparison":
        from steerlens.render.comparison import write_comparison

        return write_comparison
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
