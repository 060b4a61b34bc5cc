"""``robustbench:DATASET:THREAT:NAME``: RobustBench model-zoo classifiers, by name.

``robustbench.utils.load_model`` builds the model and downloads its checkpoint on first use (from
Google Drive or the Hugging Face Hub) into ``<steerlens cache>/models/robustbench``; later loads
read that folder. RobustBench models take images in ``[0, 1]`` and normalise inside, so no
normaliser is added here. RobustBench reads checkpoints with a plain ``torch.load``, which is
``weights_only=True`` from torch 2.6 on: an older torch, or ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
set, is refused rather than let it unpickle arbitrary objects.

Needs ``pip install robustbench`` (which pulls torchvision and timm, so a torchvision that matches
the installed torch) and, until the checkpoint is cached, the network. This path is code only in
steerlens's own tests: neither is available offline.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from steerlens.errors import ModelError
from steerlens.models.base import Classifier
from steerlens.models.weights import first_line

__all__ = ["FORM", "load_robustbench"]

FORM = "robustbench:DATASET:THREAT:NAME, e.g. robustbench:cifar10:Linf:Carmon2019Unlabeled"
#: dataset -> (input size, number of classes)
DATASETS = {"cifar10": (32, 10), "cifar100": (32, 100), "imagenet": (224, 1000)}
THREATS = {"linf": "Linf", "l2": "L2", "corruptions": "corruptions"}


def load_robustbench(rest: str) -> Classifier:
    """Load ``robustbench:DATASET:THREAT:NAME`` (``rest`` is what follows ``robustbench:``).

    Parameters
    ----------
    rest
        ``DATASET:THREAT:NAME`` with DATASET ``cifar10``, ``cifar100`` or ``imagenet`` and
        THREAT ``Linf``, ``L2`` or ``corruptions``.

    Returns
    -------
    Classifier

    Raises
    ------
    ModelError
        A wrong form, robustbench missing or not importable, an unknown name, no network for an
        uncached model, or a torch whose ``torch.load`` would not be ``weights_only``.

    Examples
    --------
    >>> clf = load_robustbench("cifar10:Linf:Carmon2019Unlabeled")   # doctest: +SKIP
    >>> clf.input_size, clf.class_names[3]                           # doctest: +SKIP
    ((32, 32), 'cat')
    """
    dataset, threat, name = _parse(rest)
    _require_weights_only()
    try:
        from robustbench.utils import load_model as rb_load
    except Exception as err:  # noqa: BLE001 - ImportError, or torchvision failing to import
        raise ModelError(
            f"robustbench cannot be imported ({first_line(err)}); pip install robustbench "
            "(with a torchvision that matches your torch) to use robustbench: models"
        ) from None
    from steerlens.models.cache import model_cache_dir

    folder = model_cache_dir() / "robustbench"
    try:
        net = rb_load(model_name=name, model_dir=str(folder), dataset=dataset,
                      threat_model=threat)
    except KeyError:
        raise ModelError(
            f"RobustBench has no {dataset} {threat} model {name!r}; see "
            "https://robustbench.github.io for the names"
        ) from None
    except Exception as err:  # noqa: BLE001 - download and checkpoint failures alike
        raise ModelError(
            f"RobustBench could not load {name} ({first_line(err)}); it downloads the checkpoint "
            f"on first use, so run once with internet (it is kept in {folder})"
        ) from None
    size, num_classes = DATASETS[dataset]
    names: list[str] = [f"class_{i}" for i in range(num_classes)]
    if dataset == "cifar10":
        from steerlens.models.robustness_ckpt import CIFAR10_NAMES

        names = list(CIFAR10_NAMES)
    elif dataset == "imagenet":
        from steerlens.models.efficientnet import imagenet_class_names

        names = imagenet_class_names()
    spec: dict[str, Any] = {"source": "robustbench", "dataset": dataset, "threat_model": threat,
                            "model": name, "input_normalization": "inside the RobustBench model"}
    return Classifier(net, names, (size, size), 3, name=name, spec=spec)


def _parse(rest: str) -> tuple[str, str, str]:
    parts = [p.strip() for p in rest.split(":")]
    if len(parts) != 3 or not all(parts):
        raise ModelError(f"robustbench:{rest} is not a RobustBench spec; write {FORM}")
    dataset, threat, name = parts[0].lower().replace("-", ""), parts[1].lower(), parts[2]
    if dataset not in DATASETS:
        raise ModelError(
            f"unknown RobustBench dataset {parts[0]!r}; use one of {', '.join(DATASETS)}"
        )
    if threat not in THREATS:
        raise ModelError(
            f"unknown RobustBench threat model {parts[1]!r}; use one of {', '.join(THREATS.values())}"
        )
    return dataset, THREATS[threat], name


def _require_weights_only() -> None:
    major, minor = (int(v) for v in torch.__version__.split(".")[:2])
    forced = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "").strip().lower()
    if (major, minor) < (2, 6) or forced in ("1", "true", "yes", "on"):
        raise ModelError(
            "robustbench: models need torch >= 2.6 without TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD, so "
            "that RobustBench's torch.load reads weights only; upgrade torch or unset that variable"
        )
