"""The pixel baseline: an additive step along the pixel gradient (``pixel``)."""

from __future__ import annotations

from steerlens.methods.base import Method

__all__ = ["Pixel"]


class Pixel(Method):
    """``pixel``: add the normalised descent direction to the pixels (identity transform).

    Examples
    --------
    >>> Pixel().edit, Pixel().has_phase_statistics, Pixel().default_step
    ('additive', False, 0.05)
    """

    name = "pixel"
    transform_name = "pixel"
    edit = "additive"
    help = "baseline: additive step along the pixel gradient"
    default_step = 0.05
