"""The typed result of a morph: frames, per-frame scores, settings and provenance.

Renderers, metrics and experiments read a :class:`MorphResult`; they never call back into the
transform or the model's gradient. A result is built once and not changed afterwards: its fields
cannot be reassigned and its dictionaries are read-only; a front end that adds something (the
image's name, its own timing, judges' scores) gets a new result from :meth:`MorphResult.replace`,
:meth:`~MorphResult.with_settings` or :meth:`~MorphResult.with_timings`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch
from torch import Tensor

from steerlens.verdict import Verdict, judge_frames


@dataclass
class FrameScore:
    """Scores of one rendered (clipped) frame under the driver model.

    Attributes
    ----------
    amplification
        Amplification used to render this frame (0 for the source reconstruction).
    p_target, p_source
        Driver softmax probability of the target and of the source class.
    top1_index, top1_name
        Driver's top-1 class on this frame.
    l2
        Pixel L2 distance to the source image (all channels, values in [0, 1]).
    max_abs_dphi
        Largest absolute phase change applied to any coefficient (radians; 0 for non-phase edits).
    frac_wrapped
        Fraction of edited coefficients whose phase moved by more than pi.
    mean_displacement, max_displacement
        Mean and largest length (pixels) of the frame's displacement field: the warp itself for
        ``flow`` and ``csp-motion``, the field that best explains the phase change for CSP phase
        edits (:mod:`steerlens.motion`); ``None`` for methods without one.
    phase_explained
        Share of the frame's phase change that one displacement field explains (CSP phase edits;
        for ``csp-motion``, of the csp-phase gradient it was fitted to); ``None`` otherwise.
    """

    amplification: float
    p_target: float
    p_source: float
    top1_index: int
    top1_name: str
    l2: float
    max_abs_dphi: float = 0.0
    frac_wrapped: float = 0.0
    mean_displacement: float | None = None
    max_displacement: float | None = None
    phase_explained: float | None = None


@dataclass
class Overshoot:
    """Set when the target probability peaked and fell before reaching the goal (paper.md §5.4)."""

    peak_amplification: float
    peak_p_target: float
    goal: str
    message: str


class ReadOnlyDict(dict):  # type: ignore[type-arg]
    """A ``dict`` that refuses changes: the settings, timings and other tables of a result.

    Reading, iterating, ``dict(d)``, JSON, pickling and copying work as for a ``dict``.

    Examples
    --------
    >>> d = ReadOnlyDict(a=1)
    >>> d["a"], {**d, "b": 2}
    (1, {'a': 1, 'b': 2})
    >>> d["b"] = 2
    Traceback (most recent call last):
    ...
    TypeError: a MorphResult is read-only: make a new one with .replace(), .with_settings() or .with_timings()
    """

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a MorphResult is read-only: make a new one with .replace(), "
                        ".with_settings() or .with_timings()")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return (type(self), (dict(self),))


#: the fields held as :class:`ReadOnlyDict`
_TABLES = ("settings", "model_spec", "timings", "judges", "runtime")
#: the fields :attr:`MorphResult.verdict` is computed from (a new value drops the cached verdict)
_VERDICT_FIELDS = ("frames", "source", "scores", "displacement")

_REQUIRED = object()


class _AfterPending:
    """A :class:`MorphResult` field whose value waits for the result's pending read-outs
    (:meth:`MorphResult.defer`): reading it runs them first. Assignment stores as usual."""

    def __init__(self, default: Any = _REQUIRED) -> None:
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:  # the class attribute: the dataclass default (none for a required field)
            if self.default is _REQUIRED:
                raise AttributeError(self.slot[1:])
            return self.default
        obj._run_pending()
        return obj.__dict__[self.slot]

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value


@dataclass(frozen=True)
class MorphResult:
    """Everything a morph produced, built once (read-only afterwards: see :meth:`replace`).

    Attributes
    ----------
    frames
        ``(K, C, H, W)`` rendered, clipped frames in [0, 1]; ``frames[0]`` is amplification 0.
    source
        ``(C, H, W)`` the source image as given to the model.
    amplifications
        One amplification per frame.
    scores
        One :class:`FrameScore` per frame.
    target, target_name, source_class, source_name
        Target class and the driver's top-1 class on the source.
    method
        The method's name, a key of :data:`steerlens.methods.METHODS` (``help(steerlens.morph)``
        and :func:`steerlens.methods.method_help` list every method with a line of help).
    regime
        A key of :data:`steerlens.regimes.REGIMES`: ``one-step`` (the paper's frozen gradient),
        ``live`` or ``persistent``.
    settings
        Every option that shaped the result (transform, normalisation, schedule, seed...).
    model_spec
        Model provenance (name, how loaded, SHA-256 of weights...).
    timings
        Seconds spent per stage.
    overshoot
        Set when the target probability peaked and collapsed before the goal.
    stop_reason
        Why the schedule ended, in words (``"explicit"``, ``"reached p_target >= 0.9"``...).
    reached
        Whether the goal was met: ``auto`` schedules, the ``goal_p`` or ``l2_budget`` searched
        for (with a budget in the persistent regime, the budget); explicit schedules, whether the
        last frame's ``p_target`` reaches ``goal_p``. Read this, not ``stop_reason``.
    displacement
        ``(2, H, W)`` the last frame's displacement field in pixels (``dx, dy``), where the method
        has one (see :class:`FrameScore`); ``None`` otherwise. Drawn as arrows by ``save``.
    runtime
        Where it ran: torch version, torch's CPU thread count (results can differ in the last bit
        between thread counts) and the device.
    judges
        Optional per-frame probabilities of the target under independent judge models.
    """

    frames: Tensor
    source: Tensor
    amplifications: list[float]
    scores: list[FrameScore] = _AfterPending()  # type: ignore[assignment]
    target: int
    target_name: str
    source_class: int
    source_name: str
    method: str
    regime: str = "one-step"
    settings: dict[str, Any] = field(default_factory=dict)
    model_spec: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    overshoot: Overshoot | None = None
    stop_reason: str = "explicit"
    judges: dict[str, list[float]] = field(default_factory=dict)
    reached: bool = False
    runtime: dict[str, Any] = field(default_factory=dict)
    displacement: Tensor | None = _AfterPending(None)  # type: ignore[assignment]

    __hash__ = None  # type: ignore[assignment]  # holds tensors and tables: not hashable

    def __post_init__(self) -> None:
        for name in _TABLES:
            object.__setattr__(self, name, ReadOnlyDict(getattr(self, name)))

    # --------------------------------------------------------------- new results
    def replace(self, **changes: Any) -> MorphResult:
        """A new result with ``changes`` to its fields; this one is unchanged.

        Unlike :func:`dataclasses.replace`, pending motion read-outs stay pending (shared by both
        results; filling them is idempotent) unless ``scores`` or ``displacement`` is replaced.

        Examples
        --------
        >>> s = FrameScore(0.0, 0.1, 0.9, 3, "3", 0.0)
        >>> r = MorphResult(torch.zeros(1, 1, 4, 4), torch.zeros(1, 4, 4), [0.0], [s], 8, "8", 3,
        ...                 "3", "pixel")
        >>> r.replace(reached=True).reached, r.reached
        (True, False)
        """
        names = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(f"MorphResult has no field(s) {', '.join(unknown)}")
        if "scores" in changes or "displacement" in changes:
            self._run_pending()
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        for name, value in changes.items():
            object.__setattr__(new, name, ReadOnlyDict(value) if name in _TABLES else value)
        if any(name in changes for name in _VERDICT_FIELDS):
            new.__dict__.pop("verdict", None)
        return new

    def with_settings(self, **settings: Any) -> MorphResult:
        """A new result whose ``settings`` also hold ``settings`` (e.g. the image's name).

        Examples
        --------
        >>> s = FrameScore(0.0, 0.1, 0.9, 3, "3", 0.0)
        >>> r = MorphResult(torch.zeros(1, 1, 4, 4), torch.zeros(1, 4, 4), [0.0], [s], 8, "8", 3,
        ...                 "3", "pixel", settings={"seed": 0})
        >>> dict(r.with_settings(image="cat.jpg").settings), dict(r.settings)
        ({'seed': 0, 'image': 'cat.jpg'}, {'seed': 0})
        """
        return self.replace(settings={**self.settings, **settings})

    def with_timings(self, **timings: float) -> MorphResult:
        """A new result whose ``timings`` also hold ``timings`` (seconds or counts per stage)."""
        return self.replace(timings={**self.timings, **timings})

    # ----------------------------------------------------------------- read-outs
    def defer(self, fill: Callable[[list[FrameScore]], Tensor | None]) -> None:
        """Leave the motion read-outs for later: ``fill(scores)`` sets the scores' displacement
        and ``phase_explained`` fields and returns the displacement field; it runs the first time
        ``scores``, ``displacement`` (or anything built on them) is read
        (:mod:`steerlens.regimes.readouts`). Part of building a result: the values a reader sees
        are the same whenever they are filled."""
        self.__dict__["_pending"] = fill

    def _run_pending(self) -> None:
        fill = self.__dict__.pop("_pending", None)
        if fill is not None:
            self.__dict__["_displacement"] = fill(self.__dict__["_scores"])

    def __getstate__(self) -> dict[str, Any]:
        self._run_pending()  # a pickled result carries values, not the batch's coefficients
        return dict(self.__dict__)

    # ----------------------------------------------------------------- views
    @property
    def final(self) -> FrameScore:
        """Scores of the last frame."""
        return self.scores[-1]

    @property
    def p_target(self) -> np.ndarray:
        """Target probability per frame."""
        return np.array([s.p_target for s in self.scores])

    @property
    def l2(self) -> np.ndarray:
        """Pixel L2 to the source per frame."""
        return np.array([s.l2 for s in self.scores])

    @property
    def succeeded(self) -> bool:
        """Whether the driver's top-1 on the last frame is the target."""
        return self.final.top1_index == self.target

    @cached_property
    def verdict(self) -> Verdict:
        """Whether the driver's decision changed while the image stayed visibly the same (SSIM of
        the last frame to the source, :mod:`steerlens.verdict`); computed once, on first use.

        ``verdict.looks_adversarial`` flags it, ``verdict.message`` says it in words; ``summary()``,
        ``result.json``, the report, the app and ``batch`` tables show it.

        Examples
        --------
        >>> s0 = FrameScore(0.0, 0.1, 0.9, 3, "3", 0.0)
        >>> s1 = FrameScore(1.0, 0.6, 0.3, 8, "8", 0.01)
        >>> x = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0))
        >>> r = MorphResult(torch.stack([x, x + 0.001]), x, [0.0, 1.0], [s0, s1], 8, "8", 3, "3",
        ...                 "pixel")
        >>> r.verdict.looks_adversarial, r.verdict.ssim > 0.99
        (True, True)
        """
        s0, s1 = self.scores[0], self.final
        return judge_frames(self.source, self.frames[-1], s0.top1_index, s1.top1_index,
                            s1.max_displacement)

    def summary(self) -> str:
        """One-line human summary, e.g. for the CLI.

        The amount in brackets is the final frame's amplification for a one-step morph; for the
        iterative regimes (``live``, ``persistent``) it is the sum of the normalised step sizes
        taken (e.g. radians of largest phase change per step, summed).
        """
        s0, s1 = self.scores[0], self.final
        # an iterative regime's "amplification" is the sum of its normalised step sizes
        amount = "amplification" if self.regime == "one-step" else "summed step size"
        line = (
            f"{self.method}: p({self.target_name}) {s0.p_target:.3f} -> {s1.p_target:.3f}, "
            f"top-1 {s0.top1_name!r} -> {s1.top1_name!r}, L2 {s1.l2:.3f} "
            f"({amount} {s1.amplification:.4g}, {self.stop_reason})"
        )
        if self.overshoot is not None:
            line += f"; OVERSHOOT: {self.overshoot.message}"
        if self.verdict.looks_adversarial:
            line += f"; {self.verdict.message}"
        return line

    def _repr_html_(self) -> str:
        """The report's view of this morph (frame slider, curves, arrows), for Jupyter."""
        # the one upward arrow of the engine, declared in pyproject's import contracts
        from steerlens.notebook import result_html

        return result_html(self)

    def _notebook_view(self, view_id: str):
        """The report's view of this morph under ``view_id`` (for :func:`steerlens.show`)."""
        from steerlens.notebook import result_view

        return result_view(self, view_id)

    # ------------------------------------------------------------ manifests
    def manifest(self) -> dict[str, Any]:
        """JSON-serialisable description of the result (everything except pixel arrays)."""
        from steerlens import __version__

        return {
            "steerlens_version": __version__,
            "method": self.method,
            "regime": self.regime,
            "target": self.target,
            "target_name": self.target_name,
            "source_class": self.source_class,
            "source_name": self.source_name,
            "amplifications": list(map(float, self.amplifications)),
            "frames": [asdict(s) for s in self.scores],
            "succeeded": self.succeeded,
            "stop_reason": self.stop_reason,
            "reached": self.reached,
            "overshoot": asdict(self.overshoot) if self.overshoot else None,
            "verdict": self.verdict.as_dict(),
            "settings": _jsonable(self.settings),
            "model": _jsonable(self.model_spec),
            "timings_s": {k: round(float(v), 6) for k, v in self.timings.items()},
            "runtime": _jsonable(self.runtime),
            "judges": self.judges,
            "image_shape": list(self.frames.shape[1:]),
        }

    def save(self, out_dir: str | Path, overlay: bool = True, gif_arrows: bool = False
             ) -> dict[str, Path]:
        """Write GIF, filmstrip PNG, curve plot PNG, ``frames.npz`` and ``result.json`` (and
        ``arrows.png`` when the method has a displacement field; ``gif_arrows`` draws it on the
        GIF's frames too).

        Files are written to a temporary sibling directory first and moved into place, so a failure
        never leaves a half-written output directory.

        Returns
        -------
        dict
            Name of each artefact -> path.
        """
        from steerlens.render import save_result

        return save_result(self, Path(out_dir), overlay=overlay, gif_arrows=gif_arrows)

    def to_numpy(self) -> np.ndarray:
        """Frames as ``(K, H, W, C)`` float32 in [0, 1]."""
        return self.frames.detach().cpu().permute(0, 2, 3, 1).float().numpy()


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return repr(obj)
