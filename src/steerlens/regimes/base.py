"""What every regime takes (:class:`MorphProblem`) and returns (:class:`Trajectory`), and the one
conversion from a trajectory to per-image :class:`~steerlens.result.MorphResult` objects.

A regime is a function ``run(problem) -> Trajectory``; the trajectory carries the regime's stage
timings (nothing is passed in to be filled). The three regimes (one-step, live,
persistent; paper.md §2.6) differ only in how they produce the frames; reading the frames into
results (per-image frame selection, scores, settings, ``reached``) happens once, here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from steerlens.config import MorphConfig
from steerlens.gradient import EditDirection
from steerlens.methods.registry import get_method
from steerlens.models.base import Classifier
from steerlens.motion import MotionReadout
from steerlens.regimes.readouts import BatchReadouts, LazyMotion, TrackedMotion
from steerlens.result import FrameScore, MorphResult, Overshoot
from steerlens.transforms.base import Transform


@dataclass
class MorphProblem:
    """Everything a regime needs: the batch, its targets and the direction at the source.

    Attributes
    ----------
    x0
        ``(B, C, H, W)`` source images in [0, 1].
    target, source
        ``(B,)`` target classes and the driver's top-1 class of each source.
    direction
        :func:`~steerlens.gradient.edit_direction` at the source (the first update of every regime).
    """

    model: Classifier
    transform: Transform
    x0: Tensor
    target: Tensor
    source: Tensor
    config: MorphConfig
    direction: EditDirection
    progress: bool = False


@dataclass
class Trajectory:
    """The frames a regime produced for a batch, shaped ``(K, B, ...)``, and how each image ended.

    Image ``i``'s states are ``0..lengths[i]``; later entries are frozen copies. With
    ``subsample=True`` a trajectory longer than ``config.frames`` is thinned evenly to that many
    frames (the iterative regimes' ``auto`` runs).
    """

    frames: Tensor  # (K, B, C, H, W) clipped images
    probs: Tensor  # (K, B, classes)
    l2: Tensor  # (K, B)
    amplification: Tensor  # (K, B) cumulative amplification in the user's units
    max_abs_dphi: Tensor  # (K, B)
    frac_wrapped: Tensor  # (K, B)
    reached: Tensor  # (B,) bool: the regime's goal was met
    lengths: Tensor  # (B,) last state of each image
    stop_reason: list[str]
    overshoot: list[Overshoot | None]
    subsample: bool = False
    settings: dict[str, Any] = field(default_factory=dict)  # added to every image's settings
    per_image_settings: list[dict[str, Any]] | None = None
    # motion read-outs (steerlens.motion), for the methods that have a displacement field: computed
    # when a result is first read (steerlens.regimes.readouts)
    motion: LazyMotion | None = None
    #: seconds (and counts) of the regime's stages, e.g. ``render``, ``schedule``
    timings: dict[str, float] = field(default_factory=dict)


Regime = Callable[[MorphProblem], Trajectory]


def goal_text(config: MorphConfig) -> str:
    """The ``auto`` goal in words, as stop reasons print it."""
    if config.l2_budget is not None:
        return f"L2 >= {config.l2_budget:.4g}"
    return f"p_target >= {config.goal_p}"


def to_results(problem: MorphProblem, traj: Trajectory, regime: str,
               timings: dict[str, float] | None = None,
               runtime: dict[str, Any] | None = None) -> list[MorphResult]:
    """One :class:`MorphResult` per image of ``traj``, built once: its settings are the config's,
    the trajectory's and the image's own; its timings the caller's ``timings`` (e.g. the analysis
    and the gradient) and the regime's; ``runtime`` where it ran."""
    cfg, model = problem.config, problem.model
    names = model.class_names
    settings = {**cfg.to_dict(), **traj.settings}
    stage_timings = {**(timings or {}), **traj.timings}
    lengths = traj.lengths.tolist()
    reached = traj.reached.tolist()
    batch = problem.x0.shape[0]
    # every per-frame field moved to Python once for the whole batch, (B, K) lists (a transfer
    # per field and image cost 4.9 ms of a 149 ms MNIST batch-64 morph)
    images = torch.arange(batch, device=traj.probs.device)
    targets = problem.target.to(traj.probs.device)
    sources = problem.source.to(traj.probs.device)
    columns = [t.transpose(0, 1).tolist() for t in (
        traj.amplification, traj.probs[:, images, targets], traj.probs[:, images, sources],
        traj.probs.argmax(-1), traj.l2, traj.max_abs_dphi, traj.frac_wrapped)]
    target_list, source_list = problem.target.tolist(), problem.source.tolist()
    out = []
    kept = []
    for i in range(batch):
        n = int(lengths[i]) + 1
        idx = torch.arange(n)
        if traj.subsample and n > cfg.frames:
            idx = torch.linspace(0, n - 1, cfg.frames).round().long()
        kept.append(idx)
        t, s = int(target_list[i]), int(source_list[i])
        rows = idx.tolist()
        cols = zip(*([col[i][j] for j in rows] for col in columns))
        scores = [
            FrameScore(amplification=a, p_target=pt, p_source=ps, top1_index=k, top1_name=names[k],
                       l2=l2, max_abs_dphi=dphi, frac_wrapped=wrapped)
            for a, pt, ps, k, l2, dphi, wrapped in cols
        ]
        res = MorphResult(
            # every frame kept: a view (no copy of the (K, C, H, W) block), as before the refactor
            frames=(traj.frames[:, i] if n == traj.frames.shape[0] and not traj.subsample
                    else traj.frames[idx.to(traj.frames.device), i]).detach().cpu(),
            source=problem.x0[i].detach().cpu(),
            amplifications=[sc.amplification for sc in scores],
            scores=scores,
            target=t,
            target_name=names[t],
            source_class=s,
            source_name=names[s],
            method=cfg.method,
            regime=regime,
            settings=(_settings_copy(settings) if traj.per_image_settings is None
                      else {**_settings_copy(settings), **traj.per_image_settings[i]}),
            model_spec=dict(model.spec),
            stop_reason=traj.stop_reason[i],
            overshoot=traj.overshoot[i],
            reached=bool(reached[i]),
            timings=stage_timings,
            runtime=runtime or {},
        )
        out.append(res)
    if traj.motion is not None:  # fitted for the whole batch when any result is first read
        readouts = BatchReadouts(traj.motion, kept, [int(v) for v in lengths])
        for i, res in enumerate(out):
            res.defer(readouts.filler(i))
    return out


def _settings_copy(base: dict[str, Any]) -> dict[str, Any]:
    """Per-result copy of a config dict (its list/dict values copied one level deep, which is all
    a :class:`MorphConfig` holds), instead of a fresh ``asdict`` per result (0.4 ms each)."""
    return {k: type(v)(v) if isinstance(v, (list, dict)) else v for k, v in base.items()}


def iterative_steps(config: MorphConfig, max_steps: int) -> tuple[float, list[float]]:
    """Step size and per-step sizes of an iterative regime.

    ``auto`` takes ``max_steps`` steps of ``config.step_size`` (default: the method's
    :attr:`~steerlens.methods.Method.default_step`); an explicit schedule takes one step per gap
    between consecutive amplifications.

    Examples
    --------
    >>> iterative_steps(MorphConfig(amplification=[0, 1, 3]), 100)
    (0.5, [1.0, 2.0])
    """
    step = config.step_size or get_method(config.method).default_step
    if isinstance(config.amplification, str):
        return step, [step] * max_steps
    a = [float(v) for v in config.amplification]
    return step, [max(a[k + 1] - a[k], 0.0) for k in range(len(a) - 1)]


class MotionTrack:
    """Per-step displacement read-outs of an iterative run (nothing when the method has no field).

    ``step(edit, explained)`` records what the read-out needs of the accumulated edit (flow:
    displacement increments; CSP: phase increments, refitted every step); the fields and their
    statistics are computed when a result is read (:class:`~steerlens.regimes.readouts.TrackedMotion`).
    """

    def __init__(self, readout: MotionReadout | None, first: EditDirection) -> None:
        self.track = None if readout is None else TrackedMotion(readout, first)

    def step(self, edit: list[Tensor | None], explained: Tensor | None) -> None:
        if self.track is not None:
            self.track.step(edit, explained)

    def finish(self, traj: Trajectory) -> None:
        if self.track is not None and self.track.steps:
            traj.motion = self.track
