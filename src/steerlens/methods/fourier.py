"""Fourier methods: ``fourier-phase``, ``fourier-amplitude``, ``fourier-joint`` (rfft2 bands, so
frames stay real; no displacement read-out)."""

from __future__ import annotations

from steerlens.methods.base import Method

__all__ = ["FourierAmplitude", "FourierJoint", "FourierMethod", "FourierPhase"]


class FourierMethod(Method):
    """Edits of the image's 2-D real Fourier transform (``color`` applies).

    Examples
    --------
    >>> FourierPhase().transform_name, FourierPhase().has_phase_statistics
    ('fourier', True)
    """

    transform_name = "fourier"


class FourierPhase(FourierMethod):
    """``fourier-phase``: a phase-only edit of the Fourier coefficients."""

    name = "fourier-phase"
    edit = "phase"
    help = "phase-only edit of the image's Fourier coefficients"
    default_step = 0.5


class FourierAmplitude(FourierMethod):
    """``fourier-amplitude``: a log-amplitude-only edit of the Fourier coefficients."""

    name = "fourier-amplitude"
    edit = "amplitude"
    help = "log-amplitude-only edit of the image's Fourier coefficients"
    default_step = 0.1


class FourierJoint(FourierMethod):
    """``fourier-joint``: Fourier phase and log-amplitude together."""

    name = "fourier-joint"
    edit = "joint"
    help = "Fourier phase and log-amplitude together (amplitude x amplitude_weight)"
    default_step = 0.5
