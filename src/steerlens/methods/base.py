"""What a method is: one object that knows its transform, its edit direction, its read-outs, its
default step and its help text (:class:`Method`).

The engine asks the method instead of matching its name: :mod:`steerlens.gradient` takes the
per-band descent directions from :meth:`Method.band_direction` / :meth:`Method.additive_direction`,
the regimes take the read-out from :meth:`Method.readout` and the iterative step from
:attr:`Method.default_step`, and :class:`~steerlens.config.MorphConfig` builds the transform with
:meth:`Method.make_transform`. A method sees the morph's options through :class:`Settings` (a
:class:`~steerlens.config.MorphConfig` in practice), so this module imports neither the config
nor the engine and sits below both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:  # type-only: both sit below this module (transforms, motion import neither)
    from torch import Tensor

    from steerlens.motion import MotionReadout
    from steerlens.transforms.base import Coeffs, Transform

#: what a method edits, as the legacy ``(transform, edit)`` pair names it
Edit = Literal["phase", "amplitude", "joint", "additive", "motion"]

__all__ = ["Direction", "Edit", "Method", "Settings"]


class Settings(Protocol):
    """The options a method reads (every :class:`~steerlens.config.MorphConfig` has them)."""

    color: str
    n_scales: int | str
    n_orientations: int
    twidth: int
    padding: str
    flow_grid: int
    flow_levels: int
    flow_padding: str
    normalization: str
    amplitude_floor: float
    phase_consistency: bool
    readout_grid: int


class Direction(Protocol):
    """What a read-out needs of an :class:`~steerlens.gradient.EditDirection`."""

    coeffs: Coeffs
    edited_mask: list[Tensor | None]


class Method:
    """One editing method: a transform, a rule turning the loss gradient into a descent direction,
    its read-outs, its default iterative step and its help text.

    Subclass it (or a family class such as :class:`~steerlens.methods.csp.CspMethod`), give the
    class attributes below, override what differs, and add one instance to
    :data:`steerlens.methods.registry.METHODS` (``docs/contributing.md``, "Adding a method").

    Attributes
    ----------
    name
        The name users type (``--method``, ``MorphConfig.method``), lower case.
    transform_name
        The transform it edits in (``csp``, ``fourier``, ``pixel``, ``flow``).
    edit
        What it edits: ``phase``, ``amplitude``, ``joint`` (both, the amplitude scaled by
        ``amplitude_weight``), ``additive`` (real bands moved along the gradient: pixels, control
        points) or ``motion`` (a displacement field fitted to another method's phase direction).
    help
        One line for the CLI's and the API's help.
    default_step
        Iterative regimes' step when ``step_size`` is not given, in normalised units (the largest
        change per step: radians, log-amplitude, pixel value or pixels of displacement).
    exact_field
        The edit *is* a displacement field, so every frame has its field exactly, in any regime
        (``flow``, ``csp-motion``); otherwise a field is fitted where the method has one.
    fitted_motion
        The direction is the csp-phase direction at the current image fitted with one
        displacement field (:func:`steerlens.gradient.motion_direction`; ``csp-motion``), not a
        rule applied to this method's own bands.

    Examples
    --------
    >>> from steerlens.methods import get_method
    >>> m = get_method("csp-joint")
    >>> m.transform_name, m.edit, m.edits_phase, m.edits_amplitude, m.default_step
    ('csp', 'joint', True, True, 0.5)
    """

    name: str
    transform_name: str
    edit: Edit
    help: str
    default_step: float
    exact_field: bool = False
    fitted_motion: bool = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # ------------------------------------------------------------------ what it edits
    @property
    def edits_phase(self) -> bool:
        """Whether complex bands get a phase direction."""
        return self.edit in ("phase", "joint")

    @property
    def edits_amplitude(self) -> bool:
        """Whether complex bands get a log-amplitude direction."""
        return self.edit in ("amplitude", "joint")

    @property
    def has_phase_statistics(self) -> bool:
        """Whether ``max_abs_dphi`` / ``frac_wrapped`` mean anything (a phase edit of complex bands)."""
        return self.edits_phase

    # ------------------------------------------------------------------ transform
    def make_transform(self, settings: Settings, channels: int) -> Transform:
        """The transform for images with ``channels`` channels (``luminance`` applies to RGB only).

        Examples
        --------
        >>> from steerlens.config import MorphConfig
        >>> from steerlens.methods import get_method
        >>> get_method("fourier-phase").make_transform(MorphConfig(color="luminance"), 3)
        Luminance(FourierTransform())
        """
        from steerlens.transforms import make_transform

        return make_transform(self.transform_name, color=color_for(settings, channels))

    def check(self, settings: Settings) -> None:
        """Raise :class:`~steerlens.errors.ConfigError` on option values this method cannot use
        (called by :meth:`MorphConfig.validate <steerlens.config.MorphConfig.validate>`)."""

    # ------------------------------------------------------------------ edit direction
    def band_direction(self, prod: Tensor, amp: Tensor, band_max: Tensor, mask: Tensor,
                       settings: Settings) -> tuple[Tensor | None, Tensor | None]:
        """Descent directions ``(d_phi, d_eta)`` of one complex band, before normalisation.

        ``prod = conj(c) * g`` (so ``dL/dphi = Im(prod)``, ``dL/dlog A = Re(prod)``), ``amp = |c|``,
        ``band_max`` its per-image peak and ``mask`` the coefficients above the amplitude floor.
        A component the method does not edit is ``None`` (and never computed).
        """
        dphi = deta = None  # only the edited components are computed (800k coefficients each)
        if self.edits_phase:
            dphi = -prod.imag * mask
            if settings.normalization == "motion":
                floor = (settings.amplitude_floor * band_max).clamp_min(1e-12) ** 2
                dphi = dphi / (amp**2 + floor)
        if self.edits_amplitude:
            deta = -prod.real * mask
        return dphi, deta

    def additive_direction(self, grad: Tensor, selection: Tensor | None) -> Tensor:
        """Descent direction of one real band (pixels, control points), before normalisation."""
        return -grad * selection if selection is not None else -grad

    # ------------------------------------------------------------------ read-outs
    def readout(self, transform: Transform, direction: Direction, settings: Settings,
                reanalysed: bool = False) -> MotionReadout | None:
        """The displacement read-out of edits along ``direction`` (``phase_explained``, mean and
        max displacement, the last frame's field), or ``None`` when the method has none.

        ``reanalysed=True`` (the live regime) asks only for fields that need no fixed reference
        phase. The base method has no field.
        """
        return None


def color_for(settings: Settings, channels: int) -> str:
    """``settings.color``, or ``rgb`` for images that are not RGB (luminance needs three channels).

    Examples
    --------
    >>> from steerlens.config import MorphConfig
    >>> color_for(MorphConfig(color="luminance"), 1), color_for(MorphConfig(color="luminance"), 3)
    ('rgb', 'luminance')
    """
    return settings.color if channels == 3 else "rgb"
