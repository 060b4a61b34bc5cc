"""Complex steerable pyramid methods: ``csp-phase`` (the paper's), ``csp-amplitude``, ``csp-joint``.

A phase edit of CSP bands has a displacement read-out: the one field that best explains the
phase change (:class:`~steerlens.motion.PhaseMotionFit`), with the share it explains
(``phase_explained``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from steerlens.methods.base import Direction, Method, Settings, color_for

if TYPE_CHECKING:
    from steerlens.motion import MotionReadout
    from steerlens.transforms.base import Transform

__all__ = ["CspAmplitude", "CspJoint", "CspMethod", "CspPhase"]


class CspMethod(Method):
    """Edits of complex steerable pyramid bands (``n_scales``, ``n_orientations``, ``twidth``,
    ``padding``, ``color``); phase edits read out the field that best explains them.

    Examples
    --------
    >>> from steerlens.config import MorphConfig
    >>> CspPhase().make_transform(MorphConfig(n_scales=2, n_orientations=6), 1)
    SteerablePyramid(scales=2, orientations=6, twidth=1, tight_frame=False, padding='reflect')
    """

    transform_name = "csp"

    def make_transform(self, settings: Settings, channels: int) -> Transform:
        from steerlens.transforms import make_transform

        return make_transform("csp", color=color_for(settings, channels), scales=settings.n_scales,
                              orientations=settings.n_orientations, twidth=settings.twidth,
                              padding=settings.padding)

    def readout(self, transform: Transform, direction: Direction, settings: Settings,
                reanalysed: bool = False) -> MotionReadout | None:
        """The fitted field of a phase edit, on a ``readout_grid`` control grid
        (``phase_consistency``; not for re-analysed frames, which have no fixed reference phase)."""
        if reanalysed or not self.edits_phase or not settings.phase_consistency:
            return None
        coeffs, masks = direction.coeffs, direction.edited_mask
        if not (coeffs.band_info and "scale" in coeffs.band_info[0]):
            return None
        from steerlens.motion import MotionReadout, PhaseMotionFit

        grid = settings.readout_grid  # its own option: flow_grid shapes only the warp methods
        return MotionReadout(coeffs.image_shape, lambda: PhaseMotionFit.build(coeffs, masks, grid))


class CspPhase(CspMethod):
    """``csp-phase``: the paper's method, a phase-only edit of the pyramid's bands."""

    name = "csp-phase"
    edit = "phase"
    help = "the paper's method: phase-only edit of complex steerable pyramid bands"
    default_step = 0.5


class CspAmplitude(CspMethod):
    """``csp-amplitude``: a log-amplitude-only edit of the pyramid's bands."""

    name = "csp-amplitude"
    edit = "amplitude"
    help = "log-amplitude-only edit of complex steerable pyramid bands"
    default_step = 0.1


class CspJoint(CspMethod):
    """``csp-joint``: phase and log-amplitude together (amplitude scaled by ``amplitude_weight``)."""

    name = "csp-joint"
    edit = "joint"
    help = "phase and log-amplitude of pyramid bands together (amplitude x amplitude_weight)"
    default_step = 0.5
