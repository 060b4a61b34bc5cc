"""Models: the :class:`Classifier` wrapper, built-ins, and loaders for user models.

Examples
--------
>>> from steerlens.models import load_model, list_models
>>> model = load_model("efficientnet-lite0")
>>> model.num_classes
1000
"""

from __future__ import annotations

from steerlens.models.base import Classifier
from steerlens.models.loaders import load_model
from steerlens.models.registry import ModelInfo, list_models
from steerlens.validation import validate_model

__all__ = ["Classifier", "ModelInfo", "list_models", "load_model", "validate_model"]
