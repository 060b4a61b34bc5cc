"""What the CLI's commands share: quiet output, the seed/device set-up, and loading a model and
an image for it. Every check here runs before any expensive work, with a one-line error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from steerlens.config import check_seed
from steerlens.data.images import MAX_IMAGE_PIXELS
from steerlens.errors import ConfigError

__all__ = ["MAX_INPUT_SIDE", "echo", "load_model_for", "model_and_image", "parse_size", "setup"]

#: largest ``--input-size`` side for user models unless ``--max-pixels`` allows more
MAX_INPUT_SIDE = 4096

_STATE = {"quiet": False}


def echo(msg: str) -> None:
    """Print ``msg`` unless the command runs with ``--quiet``."""
    if not _STATE["quiet"]:
        typer.echo(msg)


def setup(quiet: bool, seed: int, device: str) -> Any:
    """Quiet flag, seed and device, checked before any work: one line for each bad value.

    Returns the ``torch.device``.
    """
    import torch

    from steerlens.validation import check_device

    _STATE["quiet"] = quiet
    check_seed(seed)
    dev = check_device(device)
    torch.manual_seed(seed)
    return dev


def parse_size(value: str | None, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int] | None:
    """``--input-size`` as ``(H, W)``: ``'H,W'``, ``'HxW'`` or one number.

    Examples
    --------
    >>> parse_size("28"), parse_size("32x48"), parse_size(None)
    ((28, 28), (32, 48), None)
    """
    if value is None:
        return None
    fields = [v.strip() for v in value.replace("x", ",").split(",")]
    try:
        parts = [int(v) for v in fields]
    except ValueError:
        raise ConfigError(f"--input-size must be 'H,W' or one number, got {value!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 8:
        raise ConfigError(f"--input-size must be 'H,W' with both at least 8, got {value!r}")
    if max(parts) > MAX_INPUT_SIDE or parts[0] * parts[1] > max_pixels:
        raise ConfigError(
            f"--input-size {value} is too large (at most {MAX_INPUT_SIDE} px per side and "
            f"{max_pixels / 1e6:.0f} megapixels); use a smaller size"
        )
    return parts[0], parts[1]


def load_model_for(model: str, weights: Path | None, device: Any, quiet: bool,
                   input_size: str | None = None, channels: int | None = None,
                   class_names: Path | None = None, normalize: str | None = None,
                   max_pixels: int = MAX_IMAGE_PIXELS) -> Any:
    """Load ``--model`` with the user-model options (files checked first)."""
    from steerlens.models import load_model

    if weights is not None and not weights.exists():
        raise ConfigError(f"weights file {weights} does not exist; check the --weights path")
    if class_names is not None and not class_names.exists():
        raise ConfigError(f"class-names file {class_names} does not exist; check the --class-names path")
    extra = {k: v for k, v in {"input_size": parse_size(input_size, max_pixels), "channels": channels,
                               "class_names": class_names, "normalize": normalize}.items()
             if v is not None}
    return load_model(model, weights=weights, device=device, progress=not quiet, **extra)


def model_and_image(image: Path, model: str, weights: Path | None, device: Any, quiet: bool,
                    input_size: str | None, channels: int | None, class_names: Path | None,
                    normalize: str | None, max_pixels: int, video: bool) -> tuple[Any, Any]:
    """The image's header and PyAV (for ``--video``) are checked before the model loads; then the
    model, and the image sized for it."""
    from steerlens.data.images import fit_image, inspect_image
    from steerlens.validation import MIN_IMAGE_SIDE

    inspect_image(image, max_pixels=max_pixels)
    if video:
        from steerlens.render.video import require_av

        require_av()
    clf = load_model_for(model, weights, device, quiet, input_size, channels, class_names,
                         normalize, max_pixels)
    x = fit_image(image, clf, min_size=MIN_IMAGE_SIDE, max_pixels=max_pixels)
    return clf, x
