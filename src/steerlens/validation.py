"""One home for input, target and model-output checks (plenoptic's ``validate.py``, kornia's
one-line shape checks).

Everything a user hands to the library passes through here before any expensive work, and every
failure is a :class:`~steerlens.errors.SteerlensError` subclass with a one-line message that says
what to do:

- :func:`check_images`: a float ``(B, C, H, W)`` batch in ``[0, 1]``, finite, non-empty, big enough;
- :func:`check_targets`: class indices or names (a float such as ``7.9`` is refused, not truncated);
- :func:`check_logits`: what a model returned is finite ``(N, num_classes)`` logits;
- :func:`check_gradient`: the loss gradient is finite and not identically zero;
- :func:`validate_model`: one forward pass on zeros, checked as above;
- :func:`check_device`: a device name that exists on this machine (every front end's ``--device``).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from steerlens.errors import ConfigError, ImageError, ModelError, TargetError, model_label

#: smallest image side the pyramid and the models accept
MIN_IMAGE_SIDE = 8
#: values this far outside [0, 1] are tolerated as float rounding (e.g. a resampled image)
RANGE_TOLERANCE = 1e-4


def check_images(
    x: Any,
    channels: int | None = None,
    min_side: int = MIN_IMAGE_SIDE,
    name: str = "images",
) -> Tensor:
    """Return ``x`` if it is a usable image batch; raise :class:`ImageError` otherwise.

    Parameters
    ----------
    x
        Candidate ``(B, C, H, W)`` tensor.
    channels
        Required channel count (``None``: 1 or 3).
    min_side
        Smallest allowed height and width.
    name
        How the message names the argument.

    Examples
    --------
    >>> check_images(torch.rand(2, 1, 28, 28), channels=1).shape
    torch.Size([2, 1, 28, 28])
    >>> check_images(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))
    Traceback (most recent call last):
    ...
    steerlens.errors.ImageError: images have dtype torch.uint8; pass floats in [0, 1] (e.g. x.float() / 255)
    """
    if not isinstance(x, Tensor):
        raise ImageError(f"{name} must be a torch tensor (B, C, H, W), got {type(x).__name__}")
    if not x.is_floating_point():
        hint = " (e.g. x.float() / 255)" if x.dtype == torch.uint8 else ""
        raise ImageError(f"{name} have dtype {x.dtype}; pass floats in [0, 1]{hint}")
    if x.dim() != 4:
        raise ImageError(
            f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}; add a batch axis with x[None]"
        )
    b, c, h, w = x.shape
    if b == 0:
        raise ImageError(f"{name} batch is empty; pass at least one image")
    allowed = (channels,) if channels is not None else (1, 3)
    if c not in allowed:
        want = " or ".join(map(str, allowed))
        raise ImageError(f"{name} have {c} channels but {want} are expected; convert the images")
    if min(h, w) < min_side:
        raise ImageError(f"{name} are {h}x{w}; both sides must be at least {min_side} pixels")
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        bad = sorted(set(torch.nonzero(~finite)[:, 0].tolist()))
        raise ImageError(f"{name} contain NaN or infinite values (image {bad[0]}); fix the input")
    lo, hi = float(x.min()), float(x.max())
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        hint = "; divide 8-bit images by 255" if hi > 1.5 else ""
        raise ImageError(f"{name} values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]{hint}")
    return x


def check_targets(targets: Any, batch: int, class_names: Sequence[str]) -> list[int]:
    """Resolve targets to one class index per image; raise :class:`TargetError` on a bad value.

    ``targets`` is one index or name (used for every image), a sequence of them, or an integer
    tensor. Floats, booleans and other types are refused rather than truncated.

    Examples
    --------
    >>> check_targets("b", 2, ["a", "b"])
    [1, 1]
    >>> check_targets([7.9], 1, [str(i) for i in range(10)])
    Traceback (most recent call last):
    ...
    steerlens.errors.TargetError: target 7.9 is a float; give a class index (an integer) or a class name
    """
    from steerlens.targets import resolve_target

    if isinstance(targets, Tensor):
        if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
            raise TargetError(
                f"target tensor has dtype {targets.dtype}; pass integer class indices (torch.long)"
            )
        values: list[Any] = targets.flatten().tolist()
    elif isinstance(targets, (list, tuple)):
        values = list(targets)
    else:
        values = [targets]
    for v in values:
        if isinstance(v, numbers.Real) and not isinstance(v, (numbers.Integral, bool)):
            raise TargetError(
                f"target {v!r} is a float; give a class index (an integer) or a class name"
            )
    if len(values) == 1 and batch > 1:
        values = values * batch
    if len(values) != batch:
        raise TargetError(f"got {len(values)} targets for {batch} images; give one per image or one")
    return [resolve_target(v, class_names) for v in values]


def check_logits(
    out: Any, batch: int | None, num_classes: int | None, name: str = "model", finite: bool = True
) -> Tensor:
    """Return ``out`` if it is finite logits ``(batch, num_classes)``; raise :class:`ModelError`.

    ``batch=None`` / ``num_classes=None`` skip those checks; ``finite=False`` skips the NaN/inf
    check (the only one that synchronises with the device).

    Examples
    --------
    >>> check_logits(torch.zeros(2, 3), 2, 3).shape
    torch.Size([2, 3])
    >>> check_logits(torch.zeros(1, 3), 4, 3)
    Traceback (most recent call last):
    ...
    steerlens.errors.ModelError: the model returned 1 row(s) of logits for a batch of 4 images; it must return one row per image
    """
    if not isinstance(out, Tensor):
        raise ModelError(
            f"{model_label(name)} returned a {type(out).__name__}, not a tensor; "
            "return the logits tensor (N, num_classes) from forward()"
        )
    if out.dim() != 2:
        raise ModelError(
            f"{model_label(name)} output has shape {tuple(out.shape)}; expected logits of shape "
            "(N, num_classes): end the network with a pooled/flattened linear head"
        )
    if batch is not None and out.shape[0] != batch:
        raise ModelError(
            f"{model_label(name)} returned {out.shape[0]} row(s) of logits for a batch of {batch} images; "
            "it must return one row per image"
        )
    if num_classes is not None and out.shape[1] != num_classes:
        raise ModelError(
            f"{model_label(name)} outputs {out.shape[1]} logits but has {num_classes} class names; "
            f"give a class-names file with {out.shape[1]} lines"
        )
    if finite and not bool(torch.isfinite(out).all()):
        raise ModelError(
            f"{model_label(name)} output is not finite (NaN or inf); check its weights and input "
            "normalisation"
        )
    return out


def check_gradient(peak: Tensor, name: str = "model") -> None:
    """Raise :class:`ModelError` unless every image's largest gradient entry is finite and > 0.

    ``peak`` is the ``(B,)`` largest absolute gradient entry per image.

    Examples
    --------
    >>> check_gradient(torch.tensor([0.5, 2.0]))
    >>> check_gradient(torch.tensor([float("nan")]))
    Traceback (most recent call last):
    ...
    steerlens.errors.ModelError: the model's gradient with respect to the image is NaN or infinite (image 0); check for non-differentiable operations (e.g. sqrt or log at 0)
    """
    finite = torch.isfinite(peak)
    if not bool(finite.all()):
        i = int(torch.nonzero(~finite)[0, 0])
        raise ModelError(
            f"{model_label(name)}'s gradient with respect to the image is NaN or infinite (image {i}); "
            "check for non-differentiable operations (e.g. sqrt or log at 0)"
        )
    if not bool((peak > 0).any()):
        raise ModelError(
            f"{model_label(name)}'s gradient with respect to the image is zero; the model must be "
            "differentiable in its input (no argmax, detach or integer casts in forward)"
        )


def zeros_forward(model: Any, device: torch.device | str = "cpu") -> Tensor:
    """Run ``model`` on one all-zeros image of its input size and return the raw output.

    Raises
    ------
    ModelError
        If the forward pass fails.

    Examples
    --------
    >>> from steerlens.models.base import Classifier
    >>> zeros_forward(Classifier(torch.nn.Flatten(), ["a"], (2, 3), 1)).shape
    torch.Size([1, 6])
    """
    shape = (1, model.channels, *model.input_size)
    x = torch.zeros(shape, device=device)
    try:
        with torch.no_grad():
            return model.raw_forward(x) if hasattr(model, "raw_forward") else model(x)
    except Exception as err:  # noqa: BLE001 - a failure in user code is a model problem
        raise ModelError(
            f"{model_label(model.name)} failed on an input of shape {shape} ({describe_exception(err)}); "
            "check its input size and channels"
        ) from None


def validate_model(model: Any, device: torch.device | str = "cpu") -> None:
    """Run one forward pass on zeros and check the output is finite ``(1, num_classes)``.

    Raises
    ------
    ModelError
        One-line message if the forward fails, the output is not 2-D, disagrees with
        ``class_names`` or is not finite.

    Examples
    --------
    >>> from steerlens.models.base import Classifier
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> validate_model(Classifier(net, ["a", "b"], (2, 2), 1))
    >>> validate_model(Classifier(torch.nn.Identity(), ["a"], (2, 2), 1))
    Traceback (most recent call last):
    ...
    steerlens.errors.ModelError: the model output has shape (1, 1, 2, 2); expected logits of shape (N, num_classes): end the network with a pooled/flattened linear head
    """
    check_logits(zeros_forward(model, device), 1, model.num_classes, model.name)


def estimate_morph_bytes(batch: int, channels: int, height: int, width: int, frames: int,
                         orientations: int = 4) -> int:
    """Rough peak memory of a morph: kept frames (rendered, then copied into the results) plus the
    pyramid's coefficients, gradient and edit directions (about 40 bytes per pixel and
    orientation). The classifier's own activations come on top, bounded by the chunk size.

    Examples
    --------
    >>> round(estimate_morph_bytes(1, 3, 224, 224, 12) / 2**20)
    37
    """
    pixels = batch * channels * height * width
    return int(8 * frames * pixels + 40 * orientations * pixels)


def available_memory_bytes(device: torch.device | str = "cpu") -> int | None:
    """Free memory where a morph runs: ``MemAvailable`` on Linux CPUs, free memory on CUDA devices;
    ``None`` where it cannot be read (then no job is refused)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free)
    if dev.type != "cpu":
        return None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(need: int, device: torch.device | str = "cpu", what: str = "this morph") -> None:
    """Raise :class:`~steerlens.errors.ConfigError` if ``need`` bytes exceed 80 % of what is free.

    Examples
    --------
    >>> check_memory(1024)
    >>> check_memory(2**62)
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: this morph needs about 4294967296.0 GB but ... GB are free; use fewer frames, fewer images or smaller images
    """
    from steerlens.errors import ConfigError

    free = available_memory_bytes(device)
    if free is not None and need > 0.8 * free:
        raise ConfigError(
            f"{what} needs about {need / 2**30:.1f} GB but {free / 2**30:.1f} GB are free; use "
            "fewer frames, fewer images or smaller images"
        )


def describe_exception(err: BaseException, limit: int = 200) -> str:
    """One line naming what a user's code raised: ``"RuntimeError: message"``.

    TorchScript wraps the user's exception in a long report whose last ``...Error: ...`` line is
    the useful one; other exceptions give their first line.

    Examples
    --------
    >>> describe_exception(ValueError("bad input\\nmore detail"))
    'ValueError: bad input'
    >>> describe_exception(RuntimeError("The following operation failed...\\n  x = f()\\n"
    ...                                 "RuntimeError: batch too large"))
    'RuntimeError: batch too large'
    """
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    for line in reversed(lines[1:]):
        head, sep, _ = line.partition(": ")
        if sep and head.endswith(("Error", "Exception")) and " " not in head:
            return line[:limit]
    return f"{type(err).__name__}: {lines[0] if lines else ''}"[:limit]


def check_bchw(*xs: Tensor, name: str = "images", error: type[Exception] = ImageError) -> None:
    """Raise ``error`` unless every tensor is a real ``(B, C, H, W)`` batch, all of one shape
    (kornia's ``KORNIA_CHECK_SHAPE`` in one line). Transforms raise :class:`ImageError`, metrics
    comparing two batches pass ``error=ConfigError``.

    Examples
    --------
    >>> check_bchw(torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8))
    >>> check_bchw(torch.zeros(8, 8), name="pyramid input")
    Traceback (most recent call last):
    ...
    steerlens.errors.ImageError: pyramid input must be real (B, C, H, W) batches of the same shape, got (8, 8) torch.float32; add batch/channel dimensions with x[None] or x[None, None]
    """
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) != 1 or xs[0].dim() != 4 or any(x.is_complex() for x in xs):
        got = " and ".join(f"{tuple(x.shape)} {x.dtype}" for x in xs)
        raise error(
            f"{name} must be real (B, C, H, W) batches of the same shape, got {got}; add "
            "batch/channel dimensions with x[None] or x[None, None]"
        )


def check_device(device: str | torch.device, auto: bool = False,
                 local: bool = True) -> torch.device | str:
    """The one device check: a ``torch.device`` that this machine has, or one line saying why not.

    Parameters
    ----------
    device
        ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (and ``auto`` where ``auto`` is true, returned as
        the string ``"auto"``: the caller picks a GPU where there is one).
    auto
        Accept ``auto``.
    local
        Check that the device exists here; ``False`` checks the name only (the work runs on
        other machines, e.g. Dask workers).

    Errors name the parameter ``device`` (``ConfigError.parameter``), which the CLI writes as
    ``--device``.

    Examples
    --------
    >>> str(check_device("cpu")), check_device("auto", auto=True)
    ('cpu', 'auto')
    >>> check_device("tpu")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: unknown device 'tpu'; use cpu, cuda, cuda:N or mps
    """
    if auto and device == "auto":
        return "auto"
    uses = "auto, cpu, cuda, cuda:N or mps" if auto else "cpu, cuda, cuda:N or mps"
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"unknown device {device!r}; use {uses}", "device") from None
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unsupported device {str(device)!r}; use {uses}", "device")
    if not local:
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {str(device)!r} requested but CUDA is not available; use cpu", "device")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {str(device)!r}: there are {torch.cuda.device_count()} CUDA device(s); "
                "use cuda:0 .. cuda:N-1", "device")
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps")
                                    and torch.backends.mps.is_available()):
        raise ConfigError(
            f"device {str(device)!r} requested but MPS is not available; use cpu", "device")
    return dev
