"""The models an app instance may run: a fixed list, each loaded once, on first use.

Only names given at start-up can be loaded; a request can never make the server open a file or
import a module it names. User models (``serve --model`` specs with their ``--input-size``,
``--channels``, ``--class-names``, ``--normalize``) are loaded by the command line at start-up,
through the loader ``morph`` uses, and handed over already loaded (``loaded``).
"""

from __future__ import annotations

import threading
from typing import Any

from steerlens.errors import ModelError


class ModelPool:
    """Lazily loaded, shared classifiers, restricted to ``names``.

    Parameters
    ----------
    names
        Model names the pool may serve (built-in names are loaded on first use).
    device
        Torch device of the models it loads.
    loaded
        Models already loaded, by name (added to ``names``).

    Examples
    --------
    >>> pool = ModelPool(["mnist-cnn"])
    >>> pool.get("resnet")
    Traceback (most recent call last):
    ...
    steerlens.errors.ModelError: unknown model 'resnet'; this server runs: mnist-cnn
    """

    def __init__(self, names: list[str], device: str = "cpu",
                 loaded: dict[str, Any] | None = None) -> None:
        self.names = list(dict.fromkeys([*names, *(loaded or {})]))
        self.device = device
        self._models: dict[str, Any] = dict(loaded or {})
        self._locks = {n: threading.Lock() for n in self.names}

    def get(self, name: str) -> Any:
        """The loaded model called ``name``; :class:`ModelError` for a name not served here."""
        if name not in self._locks:
            raise ModelError(
                f"unknown model {str(name)[:80]!r}; this server runs: {', '.join(self.names)}"
            )
        with self._locks[name]:
            if name not in self._models:
                from steerlens.models import load_model

                model = load_model(name, device=self.device, progress=False)
                model.eval()
                self._models[name] = model
            return self._models[name]

    def class_names(self, name: str) -> list[str]:
        """Class names of a served model (loads it if needed)."""
        return list(self.get(name).class_names)
