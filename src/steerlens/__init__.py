"""steerlens: phase-based extrapolation morphs for image classifiers (arXiv 2506.02300).

Examples
--------
>>> import steerlens
>>> model = steerlens.load_model("efficientnet-lite0")                  # doctest: +SKIP
>>> result = steerlens.morph(model, "cat.jpg", "tiger cat")              # doctest: +SKIP
>>> print(result.summary()); result.save("out/cat")                      # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "Classifier",
    "FrameScore",
    "MorphConfig",
    "MorphResult",
    "SteerlensError",
    "__version__",
    "compare",
    "load_image",
    "load_model",
    "make_transform",
    "morph",
    "morph_batch",
]


def __getattr__(name: str):
    """Lazy public API, so ``import steerlens`` stays cheap."""
    if name in ("morph", "morph_batch", "compare"):
        from steerlens import morph as _m

        return getattr(_m, name)
    if name == "load_model":
        from steerlens.models import load_model

        return load_model
    if name == "load_image":
        from steerlens.data.images import load_image

        return load_image
    if name == "make_transform":
        from steerlens.transforms import make_transform

        return make_transform
    if name == "MorphConfig":
        from steerlens.methods import MorphConfig

        return MorphConfig
    if name in ("MorphResult", "FrameScore"):
        from steerlens import result

        return getattr(result, name)
    if name == "Classifier":
        from steerlens.models.base import Classifier

        return Classifier
    if name == "SteerlensError":
        from steerlens.errors import SteerlensError

        return SteerlensError
    raise AttributeError(f"module 'steerlens' has no attribute {name!r}")
