"""Warp methods: ``flow`` (a displacement field on a control grid, moved along its gradient) and
``csp-motion`` (the csp-phase direction fitted with one displacement field, rendered as a warp).

Both edit the flow transform's control grids, so every frame's displacement field is exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from steerlens.methods.base import Direction, Method, Settings

if TYPE_CHECKING:
    from steerlens.motion import MotionReadout
    from steerlens.transforms.base import Transform

__all__ = ["CspMotion", "Flow", "WarpMethod"]


class WarpMethod(Method):
    """Edits of a :class:`~steerlens.transforms.flow.FlowTransform` (``flow_grid``,
    ``flow_levels``, ``flow_padding``; a warp moves every channel, so ``color`` does not apply).

    Examples
    --------
    >>> from steerlens.config import MorphConfig
    >>> Flow().make_transform(MorphConfig(method="flow", flow_grid=6), 3)
    FlowTransform(grid=6, levels=1, padding='border')
    """

    transform_name = "flow"
    exact_field = True
    #: a step moves the largest control point by 0.25 px (100 steps reach 25 px; 0.05 px steps
    #: capped motion at 5 px)
    default_step = 0.25

    def make_transform(self, settings: Settings, channels: int) -> Transform:
        from steerlens.transforms import make_transform

        return make_transform("flow", grid=settings.flow_grid, levels=settings.flow_levels,
                              padding=settings.flow_padding)

    def check(self, settings: Settings) -> None:
        """Levels against grid: the transform checks, in one line."""
        from steerlens.transforms.flow import FlowTransform

        FlowTransform(settings.flow_grid, settings.flow_levels, settings.flow_padding)

    def readout(self, transform: Transform, direction: Direction, settings: Settings,
                reanalysed: bool = False) -> MotionReadout | None:
        """The field the control grids describe, exactly (no fit, no explained share)."""
        from steerlens.motion import MotionReadout

        return MotionReadout(direction.coeffs.image_shape, None)


class Flow(WarpMethod):
    """``flow``: move the control points of a smooth displacement field along their gradient."""

    name = "flow"
    edit = "additive"
    help = "smooth warp: a displacement field on a control grid, moved along its gradient"


class CspMotion(WarpMethod):
    """``csp-motion``: the csp-phase direction at the current image, fitted with one displacement
    field (:func:`steerlens.gradient.motion_direction`) and rendered as a warp."""

    name = "csp-motion"
    edit = "motion"
    help = "the csp-phase direction fitted with one displacement field, rendered as a warp"
    fitted_motion = True
