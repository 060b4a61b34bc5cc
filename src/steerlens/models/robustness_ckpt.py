"""``robustness:DATASET:ARCH:PATH``: checkpoints of MadryLab's ``robustness`` library.

The library saves ``{"model": state_dict, "optimizer": ..., "schedule": ..., "epoch": int,
"amp": ..., "nat_prec1"/"adv_prec1": tensor}`` (older files: ``"state_dict"`` instead of
``"model"``) with ``torch.save(..., pickle_module=dill)``. The state dict is the library's
``AttackerModel``, usually wrapped in ``DataParallel``, so its keys read::

    module.normalizer.new_mean / new_std          (3, 1, 1) buffers: the dataset's mean and std
    module.model.<network keys>                   the classifier
    module.attacker.normalize.new_mean / new_std  the same normaliser again
    module.attacker.model.<network keys>          the same classifier again

The file is read through :func:`steerlens.models.weights.read_weights` (``weights_only=True``):
tensors, containers and numbers, plus ``argparse.Namespace`` (plain attributes) for files that
store their training arguments; anything else in the pickle is refused, never run. The network is
rebuilt from :mod:`steerlens.models.robustness_arch` and loaded with ``strict=True``; the
normaliser's mean/std from the file are applied inside the
:class:`~steerlens.models.base.Classifier` (the library also clamps to ``[0, 1]`` first, which
changes nothing for steerlens's images, already in ``[0, 1]``).

``DATASET`` is ``imagenet``, ``restricted_imagenet``, ``cifar`` (alias ``cifar10``) or ``cinic``;
it fixes the architecture family, the input size (224 or 32) and the class names. ``ARCH`` is a
name the library uses for that family (:data:`IMAGENET_ARCHS`, :data:`CIFAR_ARCHS`).
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from steerlens.errors import ModelError
from steerlens.models.base import Classifier
from steerlens.models.hashing import file_sha256
from steerlens.models.normalization import AffineNorm
from steerlens.models.robustness_arch import CIFAR_ARCHS, IMAGENET_ARCHS, build
from steerlens.models.weights import read_weights, state_dict_mismatch

__all__ = ["DATASETS", "FORM", "RobustnessCheckpoint", "guess_arch", "load_robustness",
           "read_checkpoint"]

FORM = "robustness:DATASET:ARCH:PATH, e.g. robustness:imagenet:resnet50:resnet50_l2_eps3.ckpt"
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck")
#: classes of robustness's RestrictedImageNet (its ``RESTRICTED_IMAGNET_RANGES``, in order)
RESTRICTED_NAMES = ("dog", "cat", "frog", "turtle", "bird", "primate", "fish", "crab", "insect")
#: plain-data classes a training checkpoint may hold besides tensors (its arguments)
CHECKPOINT_GLOBALS: tuple[type, ...] = (argparse.Namespace,)


def _imagenet_names() -> list[str]:
    from steerlens.models.efficientnet import imagenet_class_names

    return imagenet_class_names()


@dataclass(frozen=True)
class DatasetInfo:
    """What a ``robustness`` dataset fixes: architecture family, input size, mean/std, classes."""

    family: str
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    names: Callable[[], list[str]] = field(repr=False)


DATASETS: dict[str, DatasetInfo] = {
    "imagenet": DatasetInfo("imagenet", 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                            _imagenet_names),
    "restricted_imagenet": DatasetInfo("imagenet", 224, (0.4717, 0.4499, 0.3837),
                                       (0.2600, 0.2516, 0.2575), lambda: list(RESTRICTED_NAMES)),
    "cifar": DatasetInfo("cifar", 32, (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010),
                         lambda: list(CIFAR10_NAMES)),
    "cinic": DatasetInfo("cifar", 32, (0.47889522, 0.47227842, 0.43047404),
                         (0.24205776, 0.23828046, 0.25874835), lambda: list(CIFAR10_NAMES)),
}
_ALIASES = {"cifar10": "cifar", "cifar-10": "cifar", "restrictedimagenet": "restricted_imagenet"}


@dataclass(frozen=True)
class RobustnessCheckpoint:
    """The parts of a ``robustness`` checkpoint steerlens uses.

    Attributes
    ----------
    state
        The classifier's state dict, prefixes removed.
    mean, std
        The normaliser's buffers as 3 floats each; ``None`` when the file has no normaliser.
    meta
        ``epoch`` and the recorded accuracies, when present (for the provenance record).
    """

    state: dict[str, Tensor]
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    meta: dict[str, Any]


def read_checkpoint(path: str | Path) -> RobustnessCheckpoint:
    """Read a ``robustness`` checkpoint (``weights_only=True``) and split it into its parts.

    Accepts the library's files (``model`` or ``state_dict`` holding the ``AttackerModel``'s state,
    with or without the ``module.`` prefix) and a bare state dict of the network alone.

    Examples
    --------
    >>> import os, tempfile
    >>> from steerlens.models.robustness_arch import build
    >>> net = build("cifar", "resnet18", 10)
    >>> sd = {f"module.model.{k}": v for k, v in net.state_dict().items()}
    >>> sd["module.normalizer.new_mean"] = torch.tensor([0.4914, 0.4822, 0.4465])[:, None, None]
    >>> sd["module.normalizer.new_std"] = torch.tensor([0.2023, 0.1994, 0.2010])[:, None, None]
    >>> p = os.path.join(tempfile.mkdtemp(), "ck.pt")
    >>> torch.save({"model": sd, "epoch": 7}, p)
    >>> ck = read_checkpoint(p)
    >>> [round(m, 4) for m in ck.mean], ck.meta["epoch"], "linear.weight" in ck.state
    ([0.4914, 0.4822, 0.4465], 7, True)
    """
    p = Path(path)
    obj = read_weights(p, safe_globals=CHECKPOINT_GLOBALS)
    if not isinstance(obj, Mapping):
        raise ModelError(
            f"{p} holds a {type(obj).__name__}, not a robustness checkpoint; it must be a dict "
            "with 'model' or 'state_dict'"
        )
    meta: dict[str, Any] = {}
    if _is_state(obj):
        state = dict(obj)
    else:
        key = "model" if "model" in obj else "state_dict" if "state_dict" in obj else None
        if key is None or not _is_state(obj[key]):
            raise ModelError(
                f"{p} has no 'model' or 'state_dict' of tensors (keys: {_few(list(obj))}); "
                "give a checkpoint saved by the robustness library"
            )
        state = dict(obj[key])
        for k in ("epoch", "nat_prec1", "adv_prec1"):
            v = obj.get(k)
            if isinstance(v, Tensor) and v.numel() == 1:
                v = v.item()
            if isinstance(v, (int, float)):
                meta[k] = v
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return _split(state, p, meta)


def _split(state: dict[str, Tensor], p: Path, meta: dict[str, Any]) -> RobustnessCheckpoint:
    groups: dict[str, dict[str, Tensor]] = {"model.": {}, "attacker.model.": {}}
    norms: dict[str, dict[str, Tensor]] = {"normalizer.": {}, "attacker.normalize.": {}}
    bare: dict[str, Tensor] = {}
    for k, v in state.items():
        for prefix, bucket in (*groups.items(), *norms.items()):
            if k.startswith(prefix):
                bucket[k[len(prefix):]] = v
                break
        else:
            bare[k] = v
    net = groups["model."] or groups["attacker.model."]
    if net and bare:
        raise ModelError(
            f"{p} has keys outside the robustness model ({_few(list(bare))}); give a checkpoint "
            "saved by the robustness library"
        )
    net = net or bare
    mean = std = None
    for norm in norms.values():
        if "new_mean" in norm and "new_std" in norm:
            mean = tuple(float(v) for v in norm["new_mean"].reshape(-1))
            std = tuple(float(v) for v in norm["new_std"].reshape(-1))
            break
    return RobustnessCheckpoint(net, mean, std, meta)


def guess_arch(state: Mapping[str, Tensor]) -> str | None:
    """The ``DATASET-family:ARCH`` a network state dict looks like, or ``None``.

    Examples
    --------
    >>> from steerlens.models.robustness_arch import build
    >>> guess_arch(build("imagenet", "resnet50", 10).state_dict())
    'imagenet:resnet50'
    >>> guess_arch(build("cifar", "resnet18wide", 10).state_dict())
    'cifar:resnet18wide'
    """
    keys = set(state)
    for family, table in (("imagenet", IMAGENET_ARCHS), ("cifar", CIFAR_ARCHS)):
        head = "fc.weight" if family == "imagenet" else "linear.weight"
        if head not in state:
            continue
        for name, spec in table.items():
            with torch.device("meta"):  # shapes only: no memory, no initialisation
                own = spec.build(int(state[head].shape[0])).state_dict()
            needed = set(own) - _counters(own)
            if needed <= keys <= set(own) and all(
                tuple(state[k].shape) == tuple(own[k].shape) for k in keys
            ):
                return f"{family}:{name}"
    return None


def _counters(state: Mapping[str, Tensor]) -> set[str]:
    return {k for k in state if k.endswith("num_batches_tracked")}


def load_robustness(rest: str) -> Classifier:
    """Load ``robustness:DATASET:ARCH:PATH`` (``rest`` is what follows ``robustness:``).

    Parameters
    ----------
    rest
        ``DATASET:ARCH:PATH``; the path may itself contain ``:``.

    Returns
    -------
    Classifier
        The network with the checkpoint's normaliser inside; ``spec`` records the dataset,
        architecture, file hash, epoch and recorded accuracies.

    Raises
    ------
    ModelError
        A wrong spec form, unknown dataset or architecture, an unreadable file, a pickle holding
        anything beyond plain data, or weights that do not fit the architecture (the message
        names the architecture they look like).

    Examples
    --------
    >>> clf = load_robustness("imagenet:resnet50:resnet50_l2_eps3.ckpt")   # doctest: +SKIP
    >>> clf.input_size, clf.class_names[285]                               # doctest: +SKIP
    ((224, 224), 'Egyptian cat')
    """
    dataset, arch, path = _parse(rest)
    info = DATASETS[dataset]
    table = IMAGENET_ARCHS if info.family == "imagenet" else CIFAR_ARCHS
    ck = read_checkpoint(path)
    head = f"{table[arch].head}.weight"
    if head not in ck.state:
        guess = guess_arch(ck.state)
        hint = f"it looks like robustness:{guess}:PATH" if guess else "check the dataset and arch"
        raise ModelError(
            f"{path} has no {head}, so it is not a robustness {dataset} {arch} checkpoint; {hint}"
        )
    num_classes = int(ck.state[head].shape[0])
    net = build(info.family, arch, num_classes)
    _load_strict(net, ck.state, path, f"robustness {dataset} {arch}")
    mean, std = ck.mean or info.mean, ck.std or info.std
    if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
        raise ModelError(f"{path} has a normaliser of the wrong shape or with std <= 0; fix it")
    names = info.names()
    if len(names) != num_classes:
        names = [f"class_{i}" for i in range(num_classes)]
    spec: dict[str, Any] = {
        "source": "robustness",
        "dataset": dataset,
        "arch": arch,
        "path": str(path),
        "weights_sha256": file_sha256(path),
        "input_normalization": (
            f"mean={[round(m, 6) for m in mean]}, std={[round(v, 6) for v in std]} "
            f"({'from the checkpoint' if ck.mean else 'dataset default; no normaliser in file'})"
        ),
        **ck.meta,
    }
    return Classifier(
        net,
        names,
        (info.size, info.size),
        3,
        normalize=AffineNorm([1.0 / s for s in std], [-m / s for m, s in zip(mean, std)]),
        name=f"robustness-{dataset}-{arch}",
        spec=spec,
    )


def _parse(rest: str) -> tuple[str, str, Path]:
    parts = rest.split(":", 2)
    if len(parts) < 3 or not all(p.strip() for p in parts):
        known = IMAGENET_ARCHS.keys() | CIFAR_ARCHS.keys()
        if len(parts) >= 2 and parts[0].strip().lower() in known:
            raise ModelError(
                f"robustness:{rest} names no dataset; put it first: "
                f"robustness:imagenet:{rest} or robustness:cifar:{rest}"
            )
        raise ModelError(f"robustness:{rest} is not a robustness spec; write {FORM}")
    dataset = _ALIASES.get(parts[0].strip().lower(), parts[0].strip().lower())
    arch, path = parts[1].strip().lower(), Path(parts[2].strip()).expanduser()
    if dataset not in DATASETS:
        raise ModelError(
            f"unknown robustness dataset {parts[0]!r}; use one of {', '.join(DATASETS)}"
        )
    table = IMAGENET_ARCHS if DATASETS[dataset].family == "imagenet" else CIFAR_ARCHS
    if arch not in table:
        close = difflib.get_close_matches(arch, list(table), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ModelError(
            f"robustness has no {dataset} architecture {parts[1]!r}; {hint}use one of "
            f"{', '.join(table)}"
        )
    if not path.is_file():
        raise ModelError(f"checkpoint {path} does not exist; check the path in the spec")
    return dataset, arch, path


def _load_strict(net: nn.Module, state: dict[str, Tensor], path: Path, what: str) -> None:
    """``strict=True`` load; BatchNorm step counters (absent from pre-0.4.1 files) are filled."""
    own = net.state_dict()
    given, state = state, dict(state)
    for k in _counters(own) - set(state):
        state[k] = torch.zeros((), dtype=torch.long)
    missing, unexpected, wrong = state_dict_mismatch(own, state)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected {_few(unexpected)}")
        if wrong:
            k = wrong[0]
            parts.append(f"{k} is {tuple(state[k].shape)}, not {tuple(own[k].shape)}")
        guess = guess_arch(given)
        hint = f"it looks like robustness:{guess}:PATH" if guess else "check the dataset and arch"
        raise ModelError(f"{path} does not fit {what}: {'; '.join(parts)}; {hint}")
    net.load_state_dict(state, strict=True)


def _is_state(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()
    )


def _few(keys: list[Any], n: int = 3) -> str:
    keys = [str(k) for k in keys]
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more
