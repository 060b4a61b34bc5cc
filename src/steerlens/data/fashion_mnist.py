"""Fashion-MNIST (60,000 train / 10,000 test) from Debian's ``dataset-fashion-mnist`` package.

The package installs the original IDX files (MIT licence, Zalando Research) under
``/usr/share/datasets/fashion-mnist``. Nothing is downloaded: if the files are missing the loader
says how to install them. ``STEERLENS_FASHION_MNIST_DIR`` points the loader at another folder
holding the same four ``.gz`` files.
"""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import numpy as np
import torch

from steerlens.data.mnist import Split
from steerlens.errors import ConfigError

__all__ = ["DEFAULT_DIR", "FASHION_MNIST_CLASSES", "fashion_mnist_available", "load_fashion_mnist"]

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES: list[str] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
_FILES = {
    "x_train": ("train-images-idx3-ubyte.gz", 2051),
    "y_train": ("train-labels-idx1-ubyte.gz", 2049),
    "x_test": ("t10k-images-idx3-ubyte.gz", 2051),
    "y_test": ("t10k-labels-idx1-ubyte.gz", 2049),
}


def _resolve_dir(root: str | os.PathLike | None) -> Path:
    if root is not None:
        return Path(root)
    return Path(os.environ.get("STEERLENS_FASHION_MNIST_DIR", DEFAULT_DIR))


def fashion_mnist_available(root: str | os.PathLike | None = None) -> bool:
    """Whether the four Fashion-MNIST files exist (in ``root`` or the default folder).

    Examples
    --------
    >>> isinstance(fashion_mnist_available(), bool)
    True
    """
    d = _resolve_dir(root)
    return all((d / f).is_file() for f, _ in _FILES.values())


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse a gzipped IDX file (big-endian header: magic, dims..., then uint8 data)."""
    try:
        with gzip.open(path) as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise ConfigError(
            f"cannot read Fashion-MNIST file {path} ({exc}); reinstall it with: "
            "sudo apt-get install --reinstall dataset-fashion-mnist"
        ) from None
    ndim = magic & 0xFF
    header = np.frombuffer(raw, dtype=">i4", count=1 + ndim)
    if int(header[0]) != magic:
        raise ConfigError(f"{path} is not an IDX file of the expected kind (magic {header[0]})")
    shape = tuple(int(s) for s in header[1:])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 * (1 + ndim))
    if data.size != int(np.prod(shape)):
        raise ConfigError(
            f"{path} is truncated; reinstall it with: sudo apt-get install "
            "--reinstall dataset-fashion-mnist"
        )
    return data.reshape(shape)


@functools.lru_cache(maxsize=2)
def _raw(root: Path) -> dict[str, np.ndarray]:
    return {key: _read_idx(root / f, magic) for key, (f, magic) in _FILES.items()}


def load_fashion_mnist(root: str | os.PathLike | None = None) -> Split:
    """The full Fashion-MNIST dataset, with its official train/test division.

    Parameters
    ----------
    root
        Folder holding the four IDX ``.gz`` files. Default: ``$STEERLENS_FASHION_MNIST_DIR`` or
        ``/usr/share/datasets/fashion-mnist``.

    Returns
    -------
    Split
        60,000 train and 10,000 test images ``(N, 1, 28, 28)`` float32 in ``[0, 1]``, int64 labels,
        class names ``"T-shirt/top"``, ``"Trouser"``, ...

    Raises
    ------
    ConfigError
        If the files are missing or corrupt (with the command that installs them).

    Examples
    --------
    >>> sp = load_fashion_mnist()  # doctest: +SKIP
    >>> sp.x_train.shape, sp.class_names[9]  # doctest: +SKIP
    (torch.Size([60000, 1, 28, 28]), 'Ankle boot')
    """
    d = _resolve_dir(root).resolve()
    if not fashion_mnist_available(d):
        raise ConfigError(
            f"Fashion-MNIST not found at {d}; install it with: "
            "sudo apt-get install dataset-fashion-mnist"
        )
    raw = _raw(d)

    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1)

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.int64))

    return Split(
        x_train=images(raw["x_train"]),
        y_train=labels(raw["y_train"]),
        x_test=images(raw["x_test"]),
        y_test=labels(raw["y_test"]),
        class_names=list(FASHION_MNIST_CLASSES),
        name="fashion-mnist",
        source=f"Fashion-MNIST (Zalando Research, MIT) IDX files from {d} "
        "(Debian dataset-fashion-mnist); official 60k/10k split",
    )
