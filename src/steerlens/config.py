"""Method names and the options that define an edit.

A *method* names a transform and an edit mode, e.g. ``csp-phase`` = complex steerable pyramid,
phase-only edit (the paper's main method). :class:`MorphConfig` holds every option that shapes a morph;
it is written verbatim into ``result.json``.
"""

from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from steerlens.errors import ConfigError

#: method name -> (transform, edit mode)
METHODS: dict[str, tuple[str, str]] = {
    "csp-phase": ("csp", "phase"),
    "csp-amplitude": ("csp", "amplitude"),
    "csp-joint": ("csp", "joint"),
    "fourier-phase": ("fourier", "phase"),
    "fourier-amplitude": ("fourier", "amplitude"),
    "fourier-joint": ("fourier", "joint"),
    "pixel": ("pixel", "additive"),
    "flow": ("flow", "additive"),
    "csp-motion": ("flow", "motion"),
}

#: the methods ``compare`` runs by default (the paper's revision compares these)
COMPARE_METHODS = ["pixel", "fourier-phase", "csp-phase", "csp-amplitude", "csp-joint"]
#: what ``compare`` shows by default: the revision's methods plus the motion lens
SIDE_BY_SIDE_METHODS = [*COMPARE_METHODS, "flow", "csp-motion"]

Normalization = Literal["global-max", "per-scale", "motion", "none"]
NORMALIZATIONS = ("global-max", "per-scale", "motion", "none")
#: editing regimes (paper.md §2.6): frozen one-step extrapolation, live re-analysis, persistent coordinates
REGIMES = ("one-step", "live", "persistent")
#: most frames a morph renders unless ``max_frames`` is raised (each frame is one classifier input)
MAX_FRAMES = 1000
#: seeds are 64-bit (torch.manual_seed's range)
MAX_SEED = 2**63 - 1


def parse_method(method: str) -> tuple[str, str]:
    """Split a method name into ``(transform, edit)``.

    Examples
    --------
    >>> parse_method("csp-phase")
    ('csp', 'phase')
    """
    key = method.strip().lower()
    if key not in METHODS:
        close = difflib.get_close_matches(key, list(METHODS), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"unknown method {method!r}; choose one of {', '.join(METHODS)}.{hint}"
        )
    return METHODS[key]


@dataclass
class MorphConfig:
    """Every option of a morph.

    Parameters
    ----------
    method
        See :data:`METHODS`. ``csp-phase`` is the paper's method.
    frames
        Number of frames K (>= 2); frame 0 is the unedited reconstruction.
    amplification
        ``"auto"`` (search for the smallest amplification reaching ``goal_p`` or ``l2_budget``) or an
        explicit increasing list; with a list, frame k uses the k-th value (``frames`` is ignored).
    goal_p
        Target probability that ``auto`` aims for.
    l2_budget
        If set, ``auto`` aims for this pixel-L2 distance to the source instead of ``goal_p``.
    loss
        ``"nll"`` (target negative log-likelihood, the paper's) or ``"margin"`` (source minus
        target logit).
    normalization
        How the raw gradient is scaled before amplification: ``global-max`` (amplification = largest
        phase change in radians / log-amplitude change / pixel change), ``per-scale`` (each scale
        scaled to its own max), ``motion`` (phase gradient divided by A^2 with a floor, i.e. read as a
        displacement-like step), ``none`` (raw gradient, amplification as in the paper: 30-1000).
    amplitude_weight
        For ``joint`` edits: log-amplitude amplification = ``amplitude_weight`` x phase amplification.
    amplitude_floor
        Coefficients whose amplitude is below this fraction of their band's max amplitude are not
        edited (their phase is ill-defined).
    scales, orientations
        Restrict edits to these CSP scales (0 = finest) / orientations; ``None`` = all.
    n_scales, n_orientations, twidth, padding
        CSP settings (``n_scales`` may be ``"auto"``).
    flow_grid, flow_levels, flow_padding
        ``flow`` method: control points per side of the displacement grid (default 8), number of
        coarse-to-fine grids summed (default 1) and what the warp reads outside the image
        (``border``, the default; ``zeros``; ``reflection``). Amplification is then the largest
        control-point displacement in pixels.
    phase_consistency
        CSP phase edits: fit the one displacement field that best explains each frame's phase
        change and record its share and displacement per frame (:mod:`steerlens.motion`). About
        1.5 ms per morph at 28² and 20-30 ms at 224² or batch 64; ``False`` skips it.
    color
        ``"rgb"`` (each channel decomposed and edited) or ``"luminance"`` (YIQ; Y edited, I/Q fixed).
    regime
        ``"one-step"`` (the paper's frozen gradient, extrapolated), ``"live"`` (re-analyse the
        current frame and recompute the gradient every step, capped at ``step_size`` per step) or
        ``"persistent"`` (recompute the gradient every step but accumulate the edit on the source's
        coefficients; with ``l2_budget``, projected onto the budget: :mod:`steerlens.regimes.persistent`).
    step_size
        Iterative regimes: amplification per step (e.g. max phase change per step in radians).
    chunk_size
        Frames synthesised and scored per batch.
    seed
        Seed of the run's random generator (only used by randomised options and controls).
    """

    method: str = "csp-phase"
    frames: int = 12
    amplification: str | list[float] = "auto"
    goal_p: float = 0.9
    l2_budget: float | None = None
    loss: Literal["nll", "margin"] = "nll"
    normalization: Normalization = "global-max"
    amplitude_weight: float = 0.5
    amplitude_floor: float = 0.01
    scales: list[int] | None = None
    orientations: list[int] | None = None
    n_scales: int | str = "auto"
    n_orientations: int = 4
    twidth: int = 1
    padding: str = "reflect"
    flow_grid: int = 8
    flow_levels: int = 1
    flow_padding: str = "border"
    phase_consistency: bool = True
    color: Literal["rgb", "luminance"] = "rgb"
    regime: Literal["one-step", "live", "persistent"] = "one-step"
    step_size: float | None = None
    chunk_size: int = 16
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self, max_frames: int = MAX_FRAMES) -> MorphConfig:
        """Check option values; raise :class:`ConfigError` with a one-line fix on a bad value.

        ``max_frames`` is the frame-count limit (:data:`MAX_FRAMES` unless raised).

        Examples
        --------
        >>> MorphConfig(l2_budget=float("nan")).validate()
        Traceback (most recent call last):
        ...
        steerlens.errors.ConfigError: --budget must be a finite number, got nan
        """
        parse_method(self.method)
        _integer("--frames", self.frames)
        _integer("--seed", self.seed)
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"--seed must be in 0..2**63-1, got {self.seed}")
        if isinstance(self.amplification, str):
            if self.amplification != "auto":
                raise ConfigError(
                    f"--amplification must be 'auto' or a comma-separated list of numbers, "
                    f"got {self.amplification!r}"
                )
            if self.frames < 2:
                raise ConfigError(f"--frames must be at least 2, got {self.frames}")
            if self.frames > max_frames:
                raise ConfigError(
                    f"--frames {self.frames} is over the limit of {max_frames}; use fewer frames "
                    "or raise the limit (--max-frames)"
                )
        else:
            amps = list(self.amplification)
            for a in amps:
                _finite("--amplification", a)
            if len(amps) < 1 or any(a < 0 for a in amps):
                raise ConfigError("--amplification values must be non-negative numbers")
            if len(amps) > max_frames:
                raise ConfigError(
                    f"--amplification has {len(amps)} values, over the frame limit of "
                    f"{max_frames}; use fewer or raise the limit (--max-frames)"
                )
        _finite("--goal-p", self.goal_p)
        if not 0.0 < self.goal_p < 1.0:
            raise ConfigError(f"--goal-p must lie strictly between 0 and 1, got {self.goal_p}")
        if self.l2_budget is not None:
            _finite("--budget", self.l2_budget)
            if self.l2_budget <= 0:
                raise ConfigError(f"--budget must be a positive L2 distance, got {self.l2_budget}")
        _finite("amplitude weight", self.amplitude_weight)
        if self.step_size is not None:
            _finite("--step-size", self.step_size)
            if self.step_size <= 0:
                raise ConfigError(f"--step-size must be positive, got {self.step_size}")
        if self.loss not in ("nll", "margin"):
            raise ConfigError(f"--loss must be 'nll' or 'margin', got {self.loss!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(
                f"--normalization must be one of {', '.join(NORMALIZATIONS)}, got "
                f"{self.normalization!r}"
            )
        if self.color not in ("rgb", "luminance"):
            raise ConfigError(f"--color must be 'rgb' or 'luminance', got {self.color!r}")
        if self.regime not in REGIMES:
            raise ConfigError(f"--regime must be one of {', '.join(REGIMES)}, got {self.regime!r}")
        if not 1 <= self.n_orientations <= 16:
            raise ConfigError(f"--orientations must be 1..16, got {self.n_orientations}")
        _integer("--flow-grid", self.flow_grid)
        _integer("--flow-levels", self.flow_levels)
        if self.transform_name == "flow":  # the transform checks its own ranges, in one line
            from steerlens.transforms.flow import FlowTransform

            FlowTransform(self.flow_grid, self.flow_levels, self.flow_padding)
        if self.chunk_size < 1:
            raise ConfigError("chunk size must be at least 1")
        if not 0 <= self.amplitude_floor < 1:
            raise ConfigError("amplitude floor must be in [0, 1)")
        return self

    def make_transform(self, channels: int):
        """The transform this config asks for, for images with ``channels`` channels (luminance
        mode only applies to RGB; a flow warp always moves every channel).

        Examples
        --------
        >>> MorphConfig(method="flow", flow_grid=6).make_transform(3)
        FlowTransform(grid=6, levels=1, padding='border')
        """
        from steerlens.transforms import make_transform

        color = self.color if channels == 3 else "rgb"
        if self.transform_name == "flow":
            return make_transform("flow", grid=self.flow_grid, levels=self.flow_levels,
                                  padding=self.flow_padding)
        if self.transform_name == "csp":
            return make_transform("csp", color=color, scales=self.n_scales,
                                  orientations=self.n_orientations, twidth=self.twidth,
                                  padding=self.padding)
        return make_transform(self.transform_name, color=color)

    @property
    def transform_name(self) -> str:
        """``csp``, ``fourier`` or ``pixel``."""
        return parse_method(self.method)[0]

    @property
    def edit(self) -> str:
        """``phase``, ``amplitude``, ``joint`` or ``additive``."""
        return parse_method(self.method)[1]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for manifests."""
        return asdict(self)


def _finite(flag: str, value: object) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"{flag} must be a finite number, got {value!r}")


def _integer(flag: str, value: object) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{flag} must be an integer, got {value!r}")
