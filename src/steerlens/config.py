"""Method names and the options that define an edit.

A *method* names a transform and an edit mode, e.g. ``csp-phase`` = complex steerable pyramid,
phase-only edit (the paper's main method). :class:`MorphConfig` holds every option that shapes a morph;
it is written verbatim into ``result.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from steerlens.errors import ConfigError
from steerlens.methods.registry import METHODS, get_method
from steerlens.option import Option, check_value, option_of, parse_amplification

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
#: CSP padding modes (:class:`~steerlens.transforms.pyramid.SteerablePyramid` checks the same)
CSP_PADDINGS = ("reflect", "periodic", "none")
#: what a flow warp reads outside the image (:class:`~steerlens.transforms.flow.FlowTransform`)
FLOW_PADDINGS = ("border", "zeros", "reflection")

__all__ = ["COMPARE_METHODS", "MAX_FRAMES", "MAX_SEED", "METHODS", "NORMALIZATIONS", "REGIMES",
           "SIDE_BY_SIDE_METHODS", "MorphConfig", "Option", "check_seed", "defaults", "options",
           "parse_amplification", "parse_method"]


def parse_method(method: str) -> tuple[str, str]:
    """Split a method name into ``(transform, edit)`` (a view of
    :func:`steerlens.methods.get_method`, which gives the method itself).

    Examples
    --------
    >>> parse_method("csp-phase")
    ('csp', 'phase')
    """
    m = get_method(method)
    return m.transform_name, m.edit


def _meta(*args: Any, **kwargs: Any) -> dict[str, Option]:
    """An :class:`~steerlens.option.Option` as ``dataclasses.field`` metadata."""
    return Option(*args, **kwargs).metadata()


@dataclass
class MorphConfig:
    """Every option of a morph, each declared once: default, kind, range, help and CLI flag.

    The declarations below are the only place an option is described: the CLI's options
    (``morph``, ``compare``, ``batch``, ``experiment``), the app's form fields and
    :meth:`validate` are all generated from them (see ``docs/contributing.md``, "Adding an
    option"). :func:`options` lists them.

    Parameters
    ----------
    method
        A name in :data:`steerlens.methods.METHODS` (the registry; ``METHODS`` here is the same
        dict). ``csp-phase`` is the paper's method.
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
    readout_grid
        Control points per side of the displacement field that the ``phase_explained`` read-out
        fits (default 8); separate from ``flow_grid``, which shapes the ``flow`` methods' edit.
    color
        ``"rgb"`` (each channel decomposed and edited) or ``"luminance"`` (YIQ; Y edited, I/Q fixed).
    regime
        ``"one-step"`` (the paper's frozen gradient, extrapolated), ``"live"`` (re-analyse the
        current frame and recompute the gradient every step, capped at ``step_size`` per step) or
        ``"persistent"`` (recompute the gradient every step but accumulate the edit on the source's
        coefficients; with ``l2_budget``, projected onto the budget: :mod:`steerlens.regimes.persistent`).
    step_size
        Iterative regimes: amplification per step (e.g. max phase change per step in radians).
    max_steps
        Iterative regimes: at most this many steps; ``None`` = the regime's own (persistent 100,
        live 200).
    chunk_size
        Frames synthesised and scored per batch.
    seed
        Seed of the run's random generator (only used by randomised options and controls).
    """

    method: str = field(default="csp-phase", metadata=_meta(
        " | ".join(METHODS), "--method", "choice", choices=tuple(METHODS), form="method"))
    frames: int = field(default=12, metadata=_meta(
        "Number of frames (>= 2).", "--frames", "int", low=2, form="frames"))
    amplification: str | list[float] = field(default="auto", metadata=_meta(
        "'auto' or comma-separated amplifications.", "--amplification", "amplification"))
    goal_p: float = field(default=0.9, metadata=_meta(
        "Target probability that 'auto' aims for.", "--goal-p", "float", low=0, high=1,
        low_open=True, high_open=True, must="lie strictly between 0 and 1"))
    l2_budget: float | None = field(default=None, metadata=_meta(
        "Aim 'auto' at this pixel-L2 distance to the source instead of --goal-p (compare: every "
        "method's final L2; default there: csp-phase's L2 at --goal-p).", "--budget", "float",
        low=0, low_open=True, optional=True, must="be a positive L2 distance", form="budget",
        label="L2 budget"))
    loss: Literal["nll", "margin"] = field(default="nll", metadata=_meta(
        "nll (target NLL) or margin (source - target logit).", "--loss", "choice",
        choices=("nll", "margin")))
    normalization: Normalization = field(default="global-max", metadata=_meta(
        " | ".join(NORMALIZATIONS), "--normalization", "choice", choices=NORMALIZATIONS))
    amplitude_weight: float = field(default=0.5, metadata=_meta(
        "Joint edits: log-amplitude amplification / phase amplification.", "--amplitude-weight",
        "float"))
    amplitude_floor: float = field(default=0.01, metadata=_meta(
        "Coefficients below this fraction of their band's peak amplitude are not edited.",
        "--amplitude-floor", "float", low=0, high=1, high_open=True))
    scales: list[int] | None = field(default=None, metadata=_meta(
        "Edit only these CSP scales (0 = finest), e.g. 1,2 (default: all).", "--scales", "ints",
        optional=True))
    orientations: list[int] | None = field(default=None, metadata=_meta(
        "Edit only these CSP orientations, e.g. 0,2 (default: all).", "--orientations", "ints",
        optional=True))
    n_scales: int | str = field(default="auto", metadata=_meta(
        "CSP scales: 'auto' (as many as the image allows) or a number.", "--n-scales", "count"))
    n_orientations: int = field(default=4, metadata=_meta(
        "CSP orientations.", "--n-orientations", "int", low=1, high=16))
    twidth: int = field(default=1, metadata=_meta(
        "CSP transition width (octaves).", "--twidth", "int", low=1))
    padding: str = field(default="reflect", metadata=_meta(
        "CSP padding: reflect | periodic | none.", "--padding", "choice",
        choices=CSP_PADDINGS))
    flow_grid: int = field(default=8, metadata=_meta(
        "flow / csp-motion: control points per side of the displacement grid.", "--flow-grid",
        "int", low=2))
    flow_levels: int = field(default=1, metadata=_meta(
        "flow: coarse-to-fine grids summed (1 = one grid).", "--flow-levels", "int", low=1,
        high=4))
    flow_padding: str = field(default="border", metadata=_meta(
        "flow / csp-motion: border | zeros | reflection (what the warp reads outside the image).",
        "--flow-padding", "choice", choices=FLOW_PADDINGS))
    phase_consistency: bool = field(default=True, metadata=_meta(
        "CSP phase edits: fit the displacement field that best explains each frame's phase "
        "change (a few ms).", "--phase-consistency", "bool", off_flag="--no-phase-consistency",
        form="phase_consistency", label="phase read-out"))
    readout_grid: int = field(default=8, metadata=_meta(
        "CSP phase edits: control points per side of the displacement field fitted by the "
        "phase_explained read-out.", "--readout-grid", "int", low=2))
    color: Literal["rgb", "luminance"] = field(default="rgb", metadata=_meta(
        "rgb (per channel) or luminance (YIQ Y only).", "--color", "choice",
        choices=("rgb", "luminance")))
    regime: Literal["one-step", "live", "persistent"] = field(default="one-step", metadata=_meta(
        "one-step (the paper's), live (re-analyse each step) or persistent (accumulate on the "
        "source coefficients; projected onto --budget).", "--regime", "choice", choices=REGIMES,
        form="regime"))
    step_size: float | None = field(default=None, metadata=_meta(
        "Iterative regimes: amplification per step (default: the regime's own).", "--step-size",
        "float", low=0, low_open=True, optional=True))
    max_steps: int | None = field(default=None, metadata=_meta(
        "Iterative regimes: at most this many steps (default: the regime's own, persistent 100, "
        "live 200).", "--max-steps", "int", low=1, optional=True))
    chunk_size: int = field(default=16, metadata=_meta(
        "Frames synthesised and scored per pass.", "--frame-chunk", "int", low=1))
    seed: int = field(default=0, metadata=_meta(
        "Random seed (0..2**63-1).", "--seed", "int", low=0, high=MAX_SEED,
        must="be in 0..2**63-1"))

    def validate(self, max_frames: int = MAX_FRAMES) -> MorphConfig:
        """Check every option against its declaration; raise :class:`ConfigError` with a one-line
        fix on a bad value. Errors name the parameter (``l2_budget``), and carry it as
        ``ConfigError.parameter`` so a front end can name its own flag instead.

        ``max_frames`` is the frame-count limit (:data:`MAX_FRAMES` unless raised).

        Examples
        --------
        >>> MorphConfig(l2_budget=float("nan")).validate()
        Traceback (most recent call last):
        ...
        steerlens.errors.ConfigError: l2_budget must be a finite number, got nan
        >>> MorphConfig(l2_budget=-1).validate()
        Traceback (most recent call last):
        ...
        steerlens.errors.ConfigError: l2_budget must be a positive L2 distance, got -1
        """
        auto = self.amplification == "auto"
        for f in fields(self):
            option = option_of(f)
            if option is None:
                continue
            value = getattr(self, f.name)
            if f.name == "method":
                parse_method(value)  # any case; unknown names get suggestions
                continue
            # with an explicit amplification list, ``frames`` is ignored: its type is still checked
            check_value(f.name, option, value, ranged=auto or f.name != "frames")
        n = self.frames if auto else len(self.amplification)
        if n > max_frames:
            what = f"frames {n}" if auto else f"amplification has {n} values, which"
            raise ConfigError(
                f"{what} is over the limit of {max_frames}; use fewer frames or raise the "
                "limit (max_frames)", "frames" if auto else "amplification", also=("max_frames",))
        get_method(self.method).check(self)  # e.g. flow: levels against grid, in one line
        return self

    def make_transform(self, channels: int):
        """The transform this config asks for, for images with ``channels`` channels (luminance
        mode only applies to RGB; a flow warp always moves every channel).

        Examples
        --------
        >>> MorphConfig(method="flow", flow_grid=6).make_transform(3)
        FlowTransform(grid=6, levels=1, padding='border')
        """
        return get_method(self.method).make_transform(self, channels)

    @property
    def transform_name(self) -> str:
        """The method's transform: ``csp``, ``fourier``, ``pixel`` or ``flow``."""
        return get_method(self.method).transform_name

    @property
    def edit(self) -> str:
        """The method's edit: ``phase``, ``amplitude``, ``joint``, ``additive`` or ``motion``."""
        return get_method(self.method).edit

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for manifests."""
        return asdict(self)


def options() -> dict[str, Option]:
    """Every option of :class:`MorphConfig`, parameter name -> :class:`~steerlens.option.Option`,
    in declaration order.

    Examples
    --------
    >>> opts = options()
    >>> opts["l2_budget"].flag, opts["chunk_size"].flag, len(opts)
    ('--budget', '--frame-chunk', 26)
    """
    return {f.name: opt for f in fields(MorphConfig) if (opt := option_of(f)) is not None}


def defaults() -> dict[str, Any]:
    """Every option's default, parameter name -> value.

    Examples
    --------
    >>> defaults()["frames"], defaults()["readout_grid"], defaults()["max_steps"]
    (12, 8, None)
    """
    base = MorphConfig()
    return {name: getattr(base, name) for name in options()}


def check_seed(seed: object, name: str = "seed") -> int:
    """The one seed check (``MorphConfig.validate`` and every front end's own ``--seed``).

    Examples
    --------
    >>> check_seed(7)
    7
    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: seed must be in 0..2**63-1, got -1
    """
    check_value(name, options()["seed"], seed)
    return int(seed)  # type: ignore[arg-type]
