"""User-facing errors.

Every error a user can cause is a :class:`SteerlensError` subclass whose message is one line saying
what is wrong and what to do. The CLI prints ``error: <message>`` and exits with status 2, without a
traceback. Internal bugs raise ordinary Python exceptions.
"""

from __future__ import annotations


class SteerlensError(Exception):
    """Base class for errors caused by user input (bad file, bad flag, bad model...)."""

    exit_code: int = 2


class ImageError(SteerlensError):
    """An image file is missing, empty, corrupt or unusable."""


class ModelError(SteerlensError):
    """A model spec, weights file or model output is unusable."""


class TargetError(SteerlensError):
    """A target class index or name cannot be resolved."""


class ConfigError(SteerlensError):
    """An option or combination of options is invalid."""


def model_label(name: str | None) -> str:
    """How an error names a model: ``model 'resnet'``, or ``the model`` when it has no own name.

    Examples
    --------
    >>> model_label("mnist-cnn"), model_label("model"), model_label("")
    ("model 'mnist-cnn'", 'the model', 'the model')
    """
    return f"model {name!r}" if name and name != "model" else "the model"
