"""Invertible image representations: complex steerable pyramid, Fourier, pixel, colour wrappers.

All share the :class:`~steerlens.transforms.base.Transform` interface (``analyze`` -> :class:`Coeffs`,
``synthesize`` -> images); :func:`make_transform` builds one by name.
"""

from __future__ import annotations

from typing import Any

from steerlens.errors import ConfigError
from steerlens.transforms.base import Coeffs, Transform, reconstruction_error
from steerlens.transforms.color import Luminance, rgb_to_yiq, yiq_to_rgb
from steerlens.transforms.fourier import FourierTransform
from steerlens.transforms.pixel import PixelTransform
from steerlens.transforms.pyramid import (
    PyramidFilters,
    SteerablePyramid,
    clear_filter_cache,
    max_scales,
    pyramid_filters,
)

__all__ = [
    "TRANSFORMS",
    "Coeffs",
    "FourierTransform",
    "Luminance",
    "PixelTransform",
    "PyramidFilters",
    "SteerablePyramid",
    "Transform",
    "clear_filter_cache",
    "make_transform",
    "max_scales",
    "pyramid_filters",
    "reconstruction_error",
    "rgb_to_yiq",
    "yiq_to_rgb",
]

#: transform names accepted by :func:`make_transform`
TRANSFORMS: tuple[str, ...] = ("csp", "fourier", "pixel")
COLORS: tuple[str, ...] = ("rgb", "luminance")


def make_transform(name: str, color: str = "rgb", **kw: Any) -> Transform:
    """Build a transform by name.

    Parameters
    ----------
    name
        ``"csp"`` (complex steerable pyramid), ``"fourier"`` or ``"pixel"``.
    color
        ``"rgb"``: the transform runs on every channel; ``"luminance"``: on the Y channel of YIQ
        only, chroma kept fixed (grayscale images pass through unchanged).
    **kw
        Options of :class:`SteerablePyramid` (``scales``, ``orientations``, ``twidth``,
        ``tight_frame``, ``padding``); only valid for ``"csp"``.

    Returns
    -------
    Transform
        The transform (wrapped in :class:`Luminance` when ``color="luminance"``).

    Examples
    --------
    >>> make_transform("csp", scales=3, orientations=6)
    SteerablePyramid(scales=3, orientations=6, twidth=1, tight_frame=False, padding='reflect')
    >>> make_transform("fourier", color="luminance")
    Luminance(FourierTransform())
    """
    if name not in TRANSFORMS:
        raise ConfigError(f"unknown transform {name!r}; choose one of {', '.join(TRANSFORMS)}")
    if color not in COLORS:
        raise ConfigError(f"color must be 'rgb' or 'luminance', got {color!r}")
    if name != "csp" and kw:
        raise ConfigError(
            f"option(s) {', '.join(sorted(kw))} only apply to the csp transform, "
            f"not {name!r}; drop them"
        )
    if name == "csp":
        allowed = {"scales", "orientations", "twidth", "tight_frame", "padding"}
        unknown = sorted(set(kw) - allowed)
        if unknown:
            raise ConfigError(
                f"unknown csp option(s) {', '.join(unknown)}; valid: {', '.join(sorted(allowed))}"
            )
        inner: Transform = SteerablePyramid(**kw)
    elif name == "fourier":
        inner = FourierTransform()
    else:
        inner = PixelTransform()
    return Luminance(inner) if color == "luminance" else inner
