"""Invertible image representations: complex steerable pyramid, Fourier, pixel, colour wrappers.

All share the :class:`~steerlens.transforms.base.Transform` interface (``analyze`` -> :class:`Coeffs`,
``synthesize`` -> images); :func:`make_transform` builds one by name.
"""

from __future__ import annotations

from typing import Any

from steerlens.errors import ConfigError
from steerlens.transforms.base import Coeffs, Transform, reconstruction_error
from steerlens.transforms.color import Luminance, rgb_to_yiq, yiq_to_rgb
from steerlens.transforms.flow import FlowTransform
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
    "FlowTransform",
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
TRANSFORMS: tuple[str, ...] = ("csp", "fourier", "pixel", "flow")
#: options each transform takes
TRANSFORM_OPTIONS: dict[str, set[str]] = {
    "csp": {"scales", "orientations", "twidth", "tight_frame", "padding"},
    "flow": {"grid", "levels", "padding"},
    "fourier": set(),
    "pixel": set(),
}
COLORS: tuple[str, ...] = ("rgb", "luminance")


def make_transform(name: str, color: str = "rgb", **kw: Any) -> Transform:
    """Build a transform by name.

    Parameters
    ----------
    name
        ``"csp"`` (complex steerable pyramid), ``"fourier"``, ``"pixel"`` or ``"flow"`` (a
        displacement field on a control grid; always warps every channel).
    color
        ``"rgb"``: the transform runs on every channel; ``"luminance"``: on the Y channel of YIQ
        only, chroma kept fixed (grayscale images pass through unchanged).
    **kw
        Options of :class:`SteerablePyramid` (``scales``, ``orientations``, ``twidth``,
        ``tight_frame``, ``padding``) for ``"csp"``, of :class:`FlowTransform` (``grid``,
        ``levels``, ``padding``) for ``"flow"``.

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
    allowed = TRANSFORM_OPTIONS[name]
    unknown = sorted(set(kw) - allowed)
    if unknown and not allowed:
        raise ConfigError(
            f"option(s) {', '.join(unknown)} do not apply to the {name!r} transform; drop them"
        )
    if unknown:
        raise ConfigError(
            f"unknown {name} option(s) {', '.join(unknown)}; valid: {', '.join(sorted(allowed))}"
        )
    if name == "flow":
        return FlowTransform(**kw)  # a warp moves every channel: no luminance mode
    if name == "csp":
        inner: Transform = SteerablePyramid(**kw)
    elif name == "fourier":
        inner = FourierTransform()
    else:
        inner = PixelTransform()
    return Luminance(inner) if color == "luminance" else inner
