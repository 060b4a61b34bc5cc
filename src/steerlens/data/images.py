"""Load, convert and save images as float tensors in ``[0, 1]`` of shape ``(1, C, H, W)``.

Decoding goes through Pillow. Conventions:

* Transparency (RGBA, LA, palette images with a transparent colour) is composited onto **white**,
  the way viewers and browsers show it, so a transparent background does not turn black.
* 16-bit images (Pillow modes ``I;16*`` and ``I``) are scaled by 1/65535; 8-bit by 1/255.
* EXIF orientation is applied, so phone photos come out upright.
* Resizing scales the image so it covers ``size`` and centre-crops the rest (torchvision's
  ``Resize(min(size))`` + ``CenterCrop(size)`` for square sizes), with Pillow's antialiased
  bicubic filter applied to float data, so 16-bit precision survives.
* Grayscale uses ITU-R 601 luma ``0.299 R + 0.587 G + 0.114 B``; gray to RGB repeats the channel.

:func:`fit_image` is the one way a path, PIL image, array or tensor becomes a model's input; every
front end (API, CLI, batch, app, demos) calls it, so the same picture gives the same pixels
wherever it goes in.

Bundled demo photos (:func:`builtin_images`) come from scikit-image and matplotlib, which are
installed with steerlens, so nothing is downloaded.
"""

from __future__ import annotations

import difflib
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeAlias

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from steerlens.errors import ImageError

Size = tuple[int, int]
#: what :func:`fit_image` takes: a file path (or ``"builtin:NAME"``), a PIL image, an array or a tensor
ImageLike: TypeAlias = "str | Path | Image.Image | np.ndarray | Tensor"
#: largest image (in pixels, as stored) :func:`load_image` decodes unless told otherwise: 40 MP,
#: about 0.5 GB as float32 RGB. A small PNG can hold a huge image (a 519 kB file decodes to
#: 13000 x 13000 px, 5.4 GB), so the size is checked from the header, before decoding.
MAX_IMAGE_PIXELS = 40_000_000
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_BUILTIN_PREFIX = "builtin:"


# ----------------------------------------------------------------------------- loading
def load_image(
    path: str | Path,
    size: Size | int | None = None,
    channels: int | None = 3,
    min_size: int | None = None,
    max_pixels: int | None = MAX_IMAGE_PIXELS,
) -> Tensor:
    """Read an image file as a ``(1, C, H, W)`` float32 tensor in ``[0, 1]``.

    Parameters
    ----------
    path
        Image file (anything Pillow reads: PNG, JPEG, TIFF, BMP, WebP, GIF...). ``"builtin:NAME"``
        loads a bundled demo photo (see :func:`builtin_images`) unless a file of that name exists.
    size
        ``(H, W)`` (or one int for a square) to resize and centre-crop to; ``None`` keeps the size.
    channels
        1 (grayscale) or 3 (RGB); ``None`` keeps the file's (1 or 3).
    min_size
        Smallest allowed side of the image *as stored*, e.g. what a pyramid needs.
    max_pixels
        Largest allowed ``width * height`` as stored (checked from the file header, before
        decoding); ``None`` disables the limit. Default :data:`MAX_IMAGE_PIXELS`.

    Returns
    -------
    Tensor
        ``(1, channels, H, W)``, float32, values in ``[0, 1]``.

    Raises
    ------
    ImageError
        Missing, empty, corrupt or too small file (one-line message saying what to do).

    Examples
    --------
    >>> from PIL import Image
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "gray.png")
    >>> Image.fromarray(np.full((30, 40), 255, np.uint8)).save(p)
    >>> x = load_image(p, size=(16, 16), channels=3)
    >>> tuple(x.shape), float(x.min())
    ((1, 3, 16, 16), 1.0)
    """
    p = Path(path)
    if str(path).startswith(_BUILTIN_PREFIX) and not p.exists():
        return load_builtin(str(path)[len(_BUILTIN_PREFIX) :], size=size, channels=channels)
    with _opened(p, max_pixels) as img:
        img.load()
        img = ImageOps.exif_transpose(img)
        arr = _pil_to_float(img)
    if min_size is not None and min(arr.shape[:2]) < min_size:
        raise ImageError(
            f"image {p} is {arr.shape[1]}x{arr.shape[0]} px, too small (at least {min_size} px "
            "per side needed); use a larger image"
        )
    return _finish(arr, size, channels)


def inspect_image(path: str | Path, max_pixels: int | None = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """Check an image file from its header only (no decoding) and return its ``(width, height)``.

    Raises the same one-line :class:`ImageError` as :func:`load_image` for missing, empty,
    special (FIFO, device), unrecognised or oversized files, before any expensive work starts.

    Examples
    --------
    >>> from PIL import Image
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "big.png")
    >>> Image.new("1", (9000, 9000)).save(p)
    >>> inspect_image(p, max_pixels=10**6)
    Traceback (most recent call last):
    ...
    steerlens.errors.ImageError: image ... is 9000x9000 px (81 megapixels), over the limit of 1; downscale it first or raise the limit (--max-pixels)
    """
    p = Path(path)
    if str(path).startswith(_BUILTIN_PREFIX) and not p.exists():
        return tuple(load_builtin(str(path)[len(_BUILTIN_PREFIX):]).shape[-1:-3:-1])
    with _opened(p, max_pixels) as img:
        return img.size


def to_tensor(image: np.ndarray | Image.Image, channels: int | None = None) -> Tensor:
    """Convert an array or PIL image to a ``(1, C, H, W)`` float32 tensor in ``[0, 1]``.

    Parameters
    ----------
    image
        PIL image, or array shaped ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)`` with C in 1, 3, 4.
        Integer arrays are scaled by their type's range (uint8: 255, uint16: 65535); float arrays
        must already be in ``[0, 1]``. A fourth channel is alpha and is composited onto white.
    channels
        Convert to 1 or 3 channels; ``None`` keeps 1 or 3.

    Examples
    --------
    >>> import numpy as np
    >>> to_tensor(np.full((4, 5, 3), 255, np.uint8)).shape
    torch.Size([1, 3, 4, 5])
    """
    if isinstance(image, Image.Image):
        arr = _pil_to_float(image)
    else:
        arr = _array_to_float(np.asarray(image))
    return _finish(arr, None, channels)


def save_image(image: Tensor | np.ndarray, path: str | Path) -> Path:
    """Write an image in ``[0, 1]`` as an 8-bit file; the format follows the extension.

    Parameters
    ----------
    image
        ``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)`` with C in 1 or 3; values are clipped to [0, 1].
    path
        Output file; parent directories are created.

    Examples
    --------
    >>> import torch, tempfile, os
    >>> p = save_image(torch.ones(1, 3, 8, 8), os.path.join(tempfile.mkdtemp(), "white.png"))
    >>> load_image(p).shape
    torch.Size([1, 3, 8, 8])
    """
    x = image.detach().float().cpu().numpy() if isinstance(image, Tensor) else np.asarray(image)
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"save_image takes one image, got a batch of {x.shape[0]}")
        x = x[0]
    if x.ndim == 3:
        x = x[0] if x.shape[0] == 1 else np.moveaxis(x, 0, -1)
    u8 = np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(u8).save(out)
    return out


# ----------------------------------------------------------------------------- the one fit
class ModelInput(Protocol):
    """Anything that says what images it takes, e.g. a :class:`~steerlens.models.base.Classifier`."""

    input_size: tuple[int, int]
    channels: int


def fit_image(
    image: ImageLike,
    model: ModelInput | Size | int | None,
    channels: int | None = None,
    *,
    min_size: int | None = None,
    max_pixels: int | None = MAX_IMAGE_PIXELS,
) -> Tensor:
    """Turn a path, PIL image, array or tensor into a model's input: ``(B, C, H, W)`` in ``[0, 1]``.

    The one image fit of steerlens: the API, the CLI, ``batch``, the app and the demos all call it,
    so a photo gives the same pixels whichever way it comes in. Every kind of input takes the same
    route: decode to float ``(H, W, C)`` in ``[0, 1]`` (transparency onto white, integers scaled by
    their range, PIL images turned upright by their EXIF orientation), warn if the picture is far
    from the model's domain (:func:`domain_warning`), convert the channels (ITU-R 601 luma for
    grey, repetition for RGB), then scale to cover the input size and centre-crop.

    **Resampling: Pillow's bicubic filter on float data, antialiased by widening the kernel when
    shrinking.** Chosen by measurement (``benchmarks/image_fit.py``, results in
    ``benchmarks/results/image-fit.md``): on 8 bundled colour photos shrunk to 224x224 and 28x28 it
    is closest to a Lanczos reference (47.0 / 41.1 dB PSNR, SSIM 0.998 / 0.996) and, among the
    candidates that do not define the reference, to an exact box average at integer factors
    (44.9 / 39.1 dB); antialiased bilinear (what ``batch`` used for tensors) scores 38.8 / 33.4 dB
    against Lanczos, bilinear without antialiasing (the app's) 37.2 / 23.3 dB, and area averaging
    37.1 / 35.9 dB (it also degrades to nearest-neighbour when enlarging, e.g. MNIST into a 224 px
    model). It costs tens of milliseconds for a 2-megapixel photo, negligible beside a morph. It is
    also what files already went through, so file inputs did not change.

    Parameters
    ----------
    image
        A file path (``"builtin:NAME"`` for a bundled photo, see :func:`builtin_images`), a PIL
        image, an array ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)`` (integers scaled by their range,
        floats in ``[0, 1]``), or a float tensor ``(H, W)``, ``(C, H, W)`` or ``(B, C, H, W)`` in
        ``[0, 1]``. C is 1, 3 or 4 (alpha, composited onto white).
    model
        A model with ``input_size`` and ``channels`` (a
        :class:`~steerlens.models.base.Classifier`), or the ``(H, W)`` size (one int: square);
        ``None`` keeps the size.
    channels
        1 or 3; default: the model's, else the image's (1 or 3).
    min_size
        Smallest allowed side of the image before fitting; ``None``: no limit.
    max_pixels
        Largest image file decoded (checked from its header); see :func:`load_image`.

    Returns
    -------
    Tensor
        ``(B, C, H, W)`` float32 on the CPU (a tensor's device is kept when it already fits);
        ``B`` is 1 except for a batched tensor. A tensor that already has the model's size and
        channels is returned unchanged (as float32).

    Raises
    ------
    ImageError
        Unreadable or too small images, unsupported shapes, values outside ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> photo = np.random.default_rng(0).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    >>> a = fit_image(photo, (28, 28), 3)
    >>> b = fit_image(torch.from_numpy(photo).permute(2, 0, 1) / 255.0, (28, 28), 3)
    >>> tuple(a.shape), bool((a - b).abs().max() < 1e-6)
    ((1, 3, 28, 28), True)
    >>> x = torch.rand(2, 1, 28, 28)  # already fits: the same pixels, not a copy
    >>> fit_image(x, (28, 28), 1).data_ptr() == x.data_ptr()
    True
    """
    if model is None or isinstance(model, (int, tuple, list)):
        size = _as_size(model)
    else:
        size = _as_size(model.input_size)
        channels = model.channels if channels is None else channels
    if isinstance(image, (str, Path)):
        return load_image(image, size=size, channels=channels, min_size=min_size,
                          max_pixels=max_pixels)
    if isinstance(image, Tensor):
        return _fit_tensor(image, size, channels, min_size)
    if isinstance(image, Image.Image):
        arr = _pil_to_float(ImageOps.exif_transpose(image))
    elif isinstance(image, np.ndarray):
        arr = _array_to_float(image)
    else:
        raise ImageError(
            f"cannot use a {type(image).__name__} as an image; pass a path, PIL image, array or "
            "tensor"
        )
    _check_min(arr.shape[:2], min_size, "image")
    return _finish(arr, size, channels)


def _as_size(size: Size | int | list[int] | None) -> Size | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    return (int(size[0]), int(size[1]))


def _fit_tensor(x: Tensor, size: Size | None, channels: int | None, min_size: int | None) -> Tensor:
    """A tensor, per image through the same float route as arrays, unless it already fits."""
    if x.dim() in (2, 3):
        x = x.reshape((1,) * (4 - x.dim()) + tuple(x.shape))
    if x.dim() != 4:
        raise ImageError(f"image tensor has shape {tuple(x.shape)}; expected (H, W), (C, H, W) or "
                         "(B, C, H, W)")
    x = x.detach()
    _check_min(tuple(x.shape[-2:]), min_size, "image")
    same_size = size is None or tuple(x.shape[-2:]) == size
    same_channels = (channels is None and x.shape[1] in (1, 3)) or x.shape[1] == channels
    if same_size and same_channels and x.is_floating_point():
        return x if x.dtype == torch.float32 else x.float()
    if x.is_floating_point():
        x = x.float()
    arrays = x.cpu().numpy().transpose(0, 2, 3, 1)
    return torch.cat([_finish(_array_to_float(a), size, channels) for a in arrays])


def _check_min(hw: tuple[int, ...], min_size: int | None, name: str) -> None:
    if min_size is not None and min(hw) < min_size:
        raise ImageError(
            f"{name} is {hw[1]}x{hw[0]} px, too small (at least {min_size} px per side needed); "
            "use a larger image"
        )


# ----------------------------------------------------------------------------- built-in photos
def builtin_images() -> dict[str, Callable[[], np.ndarray | Path]]:
    """Bundled demo photos: name -> loader returning an array or a file path (no downloads).

    ``chelsea`` (a cat; EfficientNet-Lite0 says Egyptian cat), ``coffee`` (espresso), ``astronaut``,
    ``rocket``, ``camera`` (grayscale) from scikit-image, and ``grace_hopper`` (military uniform)
    from matplotlib's sample data.

    Examples
    --------
    >>> sorted(builtin_images())[:3]
    ['astronaut', 'camera', 'chelsea']
    """

    def skimage_loader(name: str) -> Callable[[], np.ndarray]:
        def load() -> np.ndarray:
            from skimage import data

            return np.asarray(getattr(data, name)())

        return load

    def grace_hopper() -> Path:
        from matplotlib import cbook

        return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))

    images: dict[str, Callable[[], np.ndarray | Path]] = {
        name: skimage_loader(name)
        for name in ("astronaut", "camera", "chelsea", "coffee", "rocket")
    }
    images["grace_hopper"] = grace_hopper
    return images


def load_builtin(name: str, size: Size | int | None = None, channels: int = 3) -> Tensor:
    """Load a bundled demo photo (see :func:`builtin_images`) through :func:`fit_image`.

    Examples
    --------
    >>> load_builtin("chelsea", size=(224, 224)).shape
    torch.Size([1, 3, 224, 224])
    """
    images = builtin_images()
    if name not in images:
        close = difflib.get_close_matches(name, images, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ImageError(
            f"unknown built-in image {name!r}; {hint}choose one of {', '.join(sorted(images))}"
        )
    return fit_image(images[name](), size, channels)


# ----------------------------------------------------------------------------- internals
def _check_file(p: Path) -> None:
    if not p.exists():
        raise ImageError(f"image file {p} does not exist; check the path")
    if p.is_dir():
        raise ImageError(f"{p} is a directory, not an image file; pass one image file")
    if not p.is_file():
        raise ImageError(f"{p} is not a regular file (a FIFO, socket or device); pass an image file")
    if p.stat().st_size == 0:
        raise ImageError(f"image file {p} is empty (0 bytes); re-export or re-download it")


@contextmanager
def _opened(p: Path, max_pixels: int | None) -> Iterator[Image.Image]:
    """Open ``p`` with Pillow after the file checks, size-checked from the header; every decoding
    failure inside the block becomes one :class:`ImageError` line."""
    _check_file(p)
    try:
        with warnings.catch_warnings():
            # our own limit (checked next, from the header) replaces Pillow's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(p)
        with img:
            _check_pixels(p, img.size, max_pixels)
            yield img
    except Image.DecompressionBombError:
        raise ImageError(
            f"image {p} is too large to decode safely (a decompression bomb?); downscale it "
            "first (e.g. to 4096 px)"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        # UnidentifiedImageError is an OSError too: test it first.
        if isinstance(err, UnidentifiedImageError):
            reason = "not a recognised image format"
        elif isinstance(err, OSError):
            reason = f"truncated or corrupt ({_first_line(err)})"
        else:
            reason = f"corrupt ({_first_line(err)})"
        raise ImageError(f"cannot read image {p}: {reason}; re-save it as PNG or JPEG") from None


def _check_pixels(p: Path, size: tuple[int, int], max_pixels: int | None) -> None:
    w, h = size
    if max_pixels is not None and w * h > max_pixels:
        raise ImageError(
            f"image {p} is {w}x{h} px ({w * h / 1e6:.0f} megapixels), over the limit of "
            f"{max_pixels / 1e6:.0f}; downscale it first or raise the limit (--max-pixels)"
        )


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _pil_to_float(img: Image.Image) -> np.ndarray:
    """Decode any Pillow mode to ``(H, W, C)`` float32 in [0, 1] with C in 1 or 3."""
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img).astype(np.float32)
        arr /= 65535.0
        return np.clip(arr, 0.0, 1.0, out=arr)[..., None]
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        if arr.size and np.nanmax(arr) > 1.0:
            arr = arr / 255.0
        return np.clip(np.nan_to_num(arr), 0.0, 1.0)[..., None]
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info
    if has_alpha:
        return _composite_white(_unit_float(img.convert("RGBA")))
    if mode in ("1", "L") or (mode == "P" and img.palette is not None and img.palette.mode == "L"):
        return _unit_float(img.convert("L"))[..., None]
    return _unit_float(img.convert("RGB"))


def _unit_float(img: Image.Image) -> np.ndarray:
    """An 8-bit Pillow image as float32 in [0, 1], divided in place: one float copy, not two
    (a 25-megapixel RGB photo: 300 MB less at the peak)."""
    arr = np.asarray(img, dtype=np.float32)
    if not arr.flags.writeable:
        arr = arr.copy()
    arr /= 255.0
    return arr


def _composite_white(rgba: np.ndarray) -> np.ndarray:
    """``(H, W, 4)`` -> ``(H, W, 3)`` onto white, ``rgb * alpha + (1 - alpha)``, in place."""
    alpha = rgba[..., 3:4]
    rgb = rgba[..., :3]
    rgb *= alpha
    rgb += 1.0 - alpha
    return rgb


def _array_to_float(arr: np.ndarray) -> np.ndarray:
    """Array in any common layout/dtype -> ``(H, W, C)`` float32 in [0, 1], C in 1 or 3."""
    if arr.ndim == 2:
        arr = arr[..., None]
    elif arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4) and arr.shape[0] in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4):
        raise ImageError(
            f"image array has shape {arr.shape}; expected (H, W), (H, W, C) or (C, H, W), C in 1, 3, 4"
        )
    if arr.dtype == bool:
        out = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.integer):
        out = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    else:
        out = arr.astype(np.float32)
        if out.size and (not np.isfinite(out).all() or out.min() < 0.0 or out.max() > 1.0):
            raise ImageError(
                "float image values must be finite and in [0, 1]; divide 8-bit data by 255"
            )
    if out.shape[-1] == 4:
        out = _composite_white(out)
    return np.clip(out, 0.0, 1.0)


#: a colour image whose mean chroma (max - min over RGB) exceeds this is called colourful
COLOUR_CHROMA = 0.08
#: shrinking more than this per side into a small input (<= 64 px) leaves little of the picture
DOMAIN_SHRINK = 6.0


def domain_warning(arr: np.ndarray, size: tuple[int, int] | None, channels: int | None) -> str | None:
    """Why an image is far from what a small or grey model saw in training, or ``None``.

    A colour photo fed to a grey 28x28 digit classifier is squashed into a blur the model has
    never seen; its probabilities still look like a result. Two signs are flagged: a colourful
    image going into a one-channel model, and a large image shrunk more than
    :data:`DOMAIN_SHRINK` times per side into an input of at most 64 px.

    Examples
    --------
    >>> photo = np.random.default_rng(0).random((300, 400, 3)).astype(np.float32)
    >>> domain_warning(photo, (28, 28), 1)
    'a 400x300 colour image is shrunk 10.7x to 28x28 and made grey; it is far from the images this model was trained on, so its scores say little about them'
    >>> domain_warning(photo[:28, :28], (28, 28), 3) is None
    True
    """
    h, w = arr.shape[:2]
    colourful = arr.shape[-1] == 3 and _mean_chroma(arr) > COLOUR_CHROMA
    shrink = min(h / size[0], w / size[1]) if size is not None else 1.0
    tiny_input = size is not None and max(size) <= 64
    signs = []
    if tiny_input and shrink > DOMAIN_SHRINK:
        signs.append(f"shrunk {shrink:.1f}x to {size[1]}x{size[0]}")
    if channels == 1 and colourful:
        signs.append("made grey")
    if not signs:
        return None
    kind = "colour " if colourful else ""
    return (
        f"a {w}x{h} {kind}image is {' and '.join(signs)}; it is far from the images this model "
        "was trained on, so its scores say little about them"
    )


def _caller_level() -> int:
    """The ``stacklevel`` of the first caller outside this module, so a warning names the front
    end's line however deep inside the fit it was raised."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    return level


def _mean_chroma(arr: np.ndarray, rows_per_block: int = 256) -> float:
    """Mean of ``max - min`` over RGB, a block of rows at a time (no full-size temporaries: a
    25-megapixel photo would need 200 MB more)."""
    h, w = arr.shape[:2]
    total = 0.0
    for top in range(0, h, rows_per_block):
        block = arr[top:top + rows_per_block]
        total += float((block.max(-1) - block.min(-1)).sum(dtype=np.float64))
    return total / max(1, h * w)


def _finish(arr: np.ndarray, size: Size | int | None, channels: int | None) -> Tensor:
    if channels is not None and channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    target = (size, size) if isinstance(size, int) else (tuple(size) if size is not None else None)
    why = domain_warning(arr, target, channels)
    if why is not None:
        warnings.warn(why, stacklevel=_caller_level())
    if channels == 1 and arr.shape[-1] == 3:
        arr = (arr @ _LUMA)[..., None]
    elif channels == 3 and arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    if size is not None:
        arr = _resize_crop(arr, (size, size) if isinstance(size, int) else tuple(size))
    x = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32))
    return x[None]


def _resize_crop(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale so the image covers ``size`` (H, W), then centre-crop; bicubic, antialiased."""
    th, tw = int(size[0]), int(size[1])
    h, w = arr.shape[:2]
    if (h, w) == (th, tw):
        return arr
    scale = max(th / h, tw / w)
    nh, nw = max(th, round(h * scale)), max(tw, round(w * scale))
    top, left = round((nh - th) / 2.0), round((nw - tw) / 2.0)
    sy, sx = nh / h, nw / w
    box = (left / sx, top / sy, (left + tw) / sx, (top + th) / sy)
    chans = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(arr[..., c], dtype=np.float32)).resize(
                (tw, th), Image.Resampling.BICUBIC, box=box
            )
        )
        for c in range(arr.shape[-1])
    ]
    return np.clip(np.stack(chans, axis=-1), 0.0, 1.0)
