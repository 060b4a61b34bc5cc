"""Offline labelled photos: foolbox's 20 ImageNet samples, scikit-image and matplotlib photos, faces.

Nothing is downloaded. The sources are installed packages:

* ``foolbox==3.3.4`` (``pip install --no-deps foolbox==3.3.4``; MIT, the photos under ImageNet
  terms, so they are read from the installed package and never redistributed): 20 ImageNet
  validation photos ``foolbox/data/imagenet_<idx>_<label>.jpg``. The label is parsed from the file
  name; foolbox itself is never imported (it pulls eagerpy and GitPython).
* scikit-image: ``chelsea`` (a cat; ImageNet 285 Egyptian cat), ``coffee`` (967 espresso),
  ``astronaut`` (no ImageNet class fits; labelled ``None``).
* matplotlib: ``grace_hopper.jpg`` (652 military uniform).

Faces for the FER emotion model (``fer-emotion``) are fixed crops, converted to grey with ITU-R 601
luma and squashed to 64x64 with an antialiased bicubic filter (what ``fer`` does after its face
detector): the astronaut (Eileen Collins, smiling: happy 0.98) and Grace Hopper (neutral 0.70,
happy 0.24).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from steerlens.data.images import load_builtin, load_image, to_tensor
from steerlens.errors import ImageError

__all__ = [
    "FACE_CROPS",
    "LabelledPhoto",
    "face_images",
    "foolbox_data_dir",
    "foolbox_imagenet",
    "imagenet_photos",
    "stack",
]

FOOLBOX_HINT = "pip install --no-deps foolbox==3.3.4"
_FOOLBOX_NAME = re.compile(r"^imagenet_(\d+)_(\d+)\.(?:jpe?g|png)$")
#: ImageNet labels of the bundled photos (``None``: no ImageNet class fits).
BUILTIN_LABELS: dict[str, int | None] = {
    "chelsea": 285,
    "coffee": 967,
    "astronaut": None,
    "grace_hopper": 652,
}
#: Face crops ``(left, upper, right, lower)`` in the bundled photos' pixels.
FACE_CROPS: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "astronaut": ("astronaut", (150, 20, 330, 200)),
    "grace_hopper": ("grace_hopper", (130, 60, 430, 400)),
}
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class LabelledPhoto:
    """One offline photo with its ImageNet label.

    Attributes
    ----------
    name
        ``foolbox_00`` ... ``foolbox_19``, or the bundled photo's name.
    image
        ``(1, 3, H, W)`` float32 in ``[0, 1]``, resized and centre-cropped to the requested size.
    label
        ImageNet-1k index (torchvision order), ``None`` where no class fits.
    source
        Where it comes from (a file path, or ``skimage.data.NAME``).
    """

    name: str
    image: Tensor
    label: int | None
    source: str


def foolbox_data_dir() -> Path:
    """The installed ``foolbox/data`` folder, found without importing foolbox.

    Raises
    ------
    ImageError
        foolbox is not installed.

    Examples
    --------
    >>> foolbox_data_dir().name
    'data'
    """
    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        raise ImageError(f"foolbox's sample photos are not installed; {FOOLBOX_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not path.is_dir():
        raise ImageError(f"foolbox is installed but {path} is missing; {FOOLBOX_HINT}")
    return path


def foolbox_imagenet(size: int | tuple[int, int] = 224) -> list[LabelledPhoto]:
    """foolbox's 20 labelled ImageNet photos, label parsed from ``imagenet_<idx>_<label>.jpg``.

    Parameters
    ----------
    size
        Resize (cover) and centre-crop to this size, as :func:`steerlens.load_image` does.

    Examples
    --------
    >>> photos = foolbox_imagenet()
    >>> len(photos), photos[0].name, photos[0].label, tuple(photos[0].image.shape)
    (20, 'foolbox_00', 243, (1, 3, 224, 224))
    """
    files = []
    for path in foolbox_data_dir().iterdir():
        match = _FOOLBOX_NAME.match(path.name)
        if match:
            files.append((int(match[1]), int(match[2]), path))
    files.sort()
    return [
        LabelledPhoto(f"foolbox_{idx:02d}", load_image(path, size=size), label, str(path))
        for idx, label, path in files
    ]


def imagenet_photos(
    size: int | tuple[int, int] = 224, include_unlabelled: bool = False
) -> list[LabelledPhoto]:
    """All offline ImageNet-style photos: foolbox's 20, then chelsea, coffee, grace_hopper.

    Parameters
    ----------
    size
        Output size (resize to cover, centre-crop).
    include_unlabelled
        Also return ``astronaut`` (label ``None``).

    Examples
    --------
    >>> [(p.name, p.label) for p in imagenet_photos()[20:]]
    [('chelsea', 285), ('coffee', 967), ('grace_hopper', 652)]
    """
    photos = foolbox_imagenet(size)
    for name, label in BUILTIN_LABELS.items():
        if label is None and not include_unlabelled:
            continue
        source = "matplotlib grace_hopper.jpg" if name == "grace_hopper" else f"skimage.data.{name}"
        photos.append(LabelledPhoto(name, load_builtin(name, size=size), label, source))
    return photos


def _bundled_rgb(name: str) -> np.ndarray:
    """A bundled photo as ``(H, W, 3)`` float32 in ``[0, 1]`` at its stored size."""
    return load_builtin(name)[0].permute(1, 2, 0).numpy()


def face_images(size: int = 64) -> dict[str, Tensor]:
    """Offline faces for ``fer-emotion``: name -> ``(1, 1, size, size)`` grey in ``[0, 1]``.

    Each crop of :data:`FACE_CROPS` is converted to luma and squashed (not cropped) to
    ``size x size`` with antialiased bicubic resampling.

    Examples
    --------
    >>> faces = face_images()
    >>> sorted(faces), tuple(faces["grace_hopper"].shape)
    (['astronaut', 'grace_hopper'], (1, 1, 64, 64))
    """
    out: dict[str, Tensor] = {}
    for face, (photo, box) in FACE_CROPS.items():
        left, upper, right, lower = box
        grey = _bundled_rgb(photo)[upper:lower, left:right] @ _LUMA
        small = Image.fromarray(np.ascontiguousarray(grey, dtype=np.float32)).resize(
            (size, size), Image.Resampling.BICUBIC
        )
        out[face] = to_tensor(np.clip(np.asarray(small), 0.0, 1.0)[..., None], channels=1)
    return out


def stack(photos: list[LabelledPhoto]) -> tuple[Tensor, list[int | None]]:
    """Batch photos of equal size: ``(N, 3, H, W)`` and their labels.

    Examples
    --------
    >>> x, labels = stack(foolbox_imagenet()[:2])
    >>> tuple(x.shape), labels
    ((2, 3, 224, 224), [243, 559])
    """
    return torch.cat([p.image for p in photos]), [p.label for p in photos]
