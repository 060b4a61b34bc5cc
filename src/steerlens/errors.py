"""User-facing errors.

Every error a user can cause is a :class:`SteerlensError` subclass whose message is one line saying
what is wrong and what to do. The CLI prints ``error: <message>`` and exits with status 2, without a
traceback. Internal bugs raise ordinary Python exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping


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
    """An option or combination of options is invalid.

    Library code names options by their API parameter (``l2_budget``); ``parameter`` says which
    one the message is about and ``also`` which others it names, so that each front end can write
    them its own way (:meth:`named`): the CLI as flags (``--budget``), the app as form fields.

    Examples
    --------
    >>> e = ConfigError("l2_budget must be a positive L2 distance, got -1", parameter="l2_budget")
    >>> e.named({"l2_budget": "--budget"})
    '--budget must be a positive L2 distance, got -1'
    >>> ConfigError("frames 9 is over the limit of 4; raise max_frames", "frames",
    ...             also=("max_frames",)).named({"frames": "--frames", "max_frames": "--max-frames"})
    '--frames 9 is over the limit of 4; raise --max-frames'
    """

    def __init__(self, message: str, parameter: str | None = None,
                 also: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.also = tuple(also)

    def __reduce__(self):  # keep the parameter names through pickling (Dask workers)
        return type(self), (str(self), self.parameter, self.also)

    def named(self, names: Mapping[str, str]) -> str:
        """The message with each parameter it names written as ``names`` maps it.

        Only the first mention of each parameter is rewritten (it leads the message; later words
        such as the value given are left alone), and only where it stands as a whole word.
        """
        text = str(self)
        for param in (self.parameter, *self.also):
            if param and param in names:
                pattern = rf"(?<![\w-]){re.escape(param)}(?![\w-])"
                text = re.sub(pattern, lambda _m, new=names[param]: new, text, count=1)
        return text


def model_label(name: str | None) -> str:
    """How an error names a model: ``model 'resnet'``, or ``the model`` when it has no own name.

    Examples
    --------
    >>> model_label("mnist-cnn"), model_label("model"), model_label("")
    ("model 'mnist-cnn'", 'the model', 'the model')
    """
    return f"model {name!r}" if name and name != "model" else "the model"
