"""The plain image datasets by name: ``mnist`` and ``fashion-mnist``, loaded as a :class:`Split`.

The one table of loaders, below the models (which train on them by name) and the runs registry
(:mod:`steerlens.runs.datasets`, which adds the synthetic families and batch refs).
"""

from __future__ import annotations

from collections.abc import Callable

from steerlens.data.mnist import Split

__all__ = ["IMAGE_DATASETS", "image_loaders"]

#: datasets loaded from files shipped by other packages
IMAGE_DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist")


def image_loaders() -> dict[str, Callable[[], Split]]:
    """``name -> loader`` of the :data:`IMAGE_DATASETS` (imported only when asked for).

    Examples
    --------
    >>> sorted(image_loaders()) == sorted(IMAGE_DATASETS)
    True
    """
    from steerlens.data.fashion_mnist import load_fashion_mnist
    from steerlens.data.mnist import load_mnist

    return {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist}
