"""``torchvision:NAME`` and ``timm:NAME`` models, behind the optional extra ``steerlens[hub]``.

Pretrained weights are downloaded by those libraries unless a local state dict is given (read with
``weights_only=True``, see :mod:`steerlens.models.weights`). Without the extra, a one-line
:class:`~steerlens.errors.ModelError` says what to install.
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path
from typing import Any

from steerlens.errors import ModelError
from steerlens.models.base import Classifier
from steerlens.models.hashing import file_sha256
from steerlens.models.normalization import AffineNorm
from steerlens.models.weights import first_line, load_state_dict_file

__all__ = ["HUB_HINT", "load_timm", "load_torchvision"]

HUB_HINT = "pip install 'steerlens[hub]'"


def _import_optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ModelError(
            f"{name} is not installed; {HUB_HINT} (or pip install {name}) to use {name}:NAME models"
        ) from None


def load_torchvision(name: str, weights: str | Path | None) -> Classifier:
    """A torchvision classifier with its weights' class names, crop size and mean/std.

    Parameters
    ----------
    name
        A ``torchvision.models.list_models()`` name, e.g. ``"resnet50"``.
    weights
        Local state dict instead of the default pretrained weights (downloaded by torchvision).

    Returns
    -------
    Classifier

    Examples
    --------
    >>> load_torchvision("resnet50", None).input_size   # doctest: +SKIP
    (224, 224)
    """
    _import_optional("torchvision")
    tv_models = importlib.import_module("torchvision.models")
    try:
        weight_enum = tv_models.get_model_weights(name)
    except (ValueError, KeyError):
        close = difflib.get_close_matches(name, tv_models.list_models(), n=3)
        hint = (
            f"did you mean {', '.join(close)}?" if close else "see torchvision.models.list_models()"
        )
        raise ModelError(f"torchvision has no model {name!r}; {hint}") from None
    default = weight_enum.DEFAULT
    try:
        net = tv_models.get_model(name, weights=None if weights is not None else default)
    except Exception as err:  # noqa: BLE001 - any failure here is the user's file
        raise ModelError(
            f"torchvision could not build {name} ({first_line(err)}); check your internet "
            "connection or pass --weights with a local state dict"
        ) from None
    spec: dict[str, Any] = {"source": "torchvision", "model": name}
    if weights is not None:
        load_state_dict_file(net, weights, f"torchvision:{name}")
        spec.update(weights=str(weights), weights_sha256=file_sha256(weights))
    else:
        spec["weights"] = str(default)
    preset = default.transforms()
    crop = int(preset.crop_size[0])
    return Classifier(
        net,
        list(default.meta["categories"]),
        (crop, crop),
        3,
        normalize=AffineNorm(
            [1.0 / s for s in preset.std], [-m / s for m, s in zip(preset.mean, preset.std)]
        ),
        name=name,
        spec={**spec, "input_normalization": "mean/std of the weights' preset"},
    )


def load_timm(name: str, weights: str | Path | None) -> Classifier:
    """A timm classifier with its data config's input size and mean/std.

    Parameters
    ----------
    name
        A ``timm.list_models()`` name, e.g. ``"resnet18"``.
    weights
        Local state dict instead of the pretrained weights (downloaded by timm).

    Returns
    -------
    Classifier
        ImageNet class names when the model has 1000 outputs.

    Examples
    --------
    >>> load_timm("resnet18", None).num_classes   # doctest: +SKIP
    1000
    """
    timm = _import_optional("timm")
    try:
        net = timm.create_model(name, pretrained=weights is None)
    except RuntimeError as err:
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = (
            f"did you mean {', '.join(close)}?" if close else "check the name and your connection"
        )
        raise ModelError(f"timm could not create {name!r} ({first_line(err)}); {hint}") from None
    spec: dict[str, Any] = {"source": "timm", "model": name}
    if weights is not None:
        load_state_dict_file(net, weights, f"timm:{name}")
        spec.update(weights=str(weights), weights_sha256=file_sha256(weights))
    cfg = timm.data.resolve_data_config({}, model=net)
    _, h, w = cfg["input_size"]
    mean, std = cfg["mean"], cfg["std"]
    names: list[str] = []
    if getattr(net, "num_classes", None) == 1000:
        from steerlens.models.efficientnet import imagenet_class_names

        names = imagenet_class_names()
    return Classifier(
        net,
        names,
        (int(h), int(w)),
        3,
        normalize=AffineNorm([1.0 / s for s in std], [-m / s for m, s in zip(mean, std)]),
        name=name,
        spec={**spec, "input_normalization": f"mean={list(mean)}, std={list(std)}"},
    )
