"""steerlens: phase-based extrapolation morphs for image classifiers (arXiv 2506.02300).

The public API is loaded lazily, so ``import steerlens`` stays cheap; every name resolves to a
function or class (never to a module: no module is named like a public function).

Examples
--------
>>> import steerlens
>>> callable(steerlens.morph) and callable(steerlens.morph_batch)
True
>>> model = steerlens.load_model("efficientnet-lite0")                  # doctest: +SKIP
>>> result = steerlens.morph(model, "cat.jpg", "tiger cat")              # doctest: +SKIP
>>> print(result.summary()); result.save("out/cat")                      # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_PUBLIC: dict[str, str] = {
    "morph": "steerlens.api",
    "morph_batch": "steerlens.api",
    "compare": "steerlens.api",
    "load_model": "steerlens.models",
    "load_image": "steerlens.data.images",
    "make_transform": "steerlens.transforms",
    "MorphConfig": "steerlens.config",
    "MorphResult": "steerlens.result",
    "FrameScore": "steerlens.result",
    "Classifier": "steerlens.models.base",
    "SteerlensError": "steerlens.errors",
}

__all__ = [
    "Classifier", "FrameScore", "MorphConfig", "MorphResult", "SteerlensError", "__version__",
    "compare", "load_image", "load_model", "make_transform", "morph", "morph_batch",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use and cache the name in the package namespace."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'steerlens' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
