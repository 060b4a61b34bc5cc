"""What every regime takes (:class:`MorphProblem`) and returns (:class:`Trajectory`), and the one
conversion from a trajectory to per-image :class:`~steerlens.result.MorphResult` objects.

A regime is a function ``run(problem, timings) -> Trajectory``. The three regimes (one-step, live,
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
from steerlens.models.base import Classifier
from steerlens.motion import MotionReadout, field_magnitude_stats
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
    # motion read-outs (steerlens.motion), for the methods that have a displacement field
    mean_displacement: Tensor | None = None  # (K, B) px
    max_displacement: Tensor | None = None  # (K, B) px
    phase_explained: Tensor | None = None  # (K, B) share of the phase change the field explains
    displacement: Tensor | None = None  # (B, 2, H, W) the last frame's field, px

    def set_motion(self, mean: Tensor, peak: Tensor, explained: Tensor | None,
                   final_field: Tensor) -> None:
        """Record the per-frame displacement statistics ``(K, B)`` and the final field."""
        self.mean_displacement, self.max_displacement = mean, peak
        self.phase_explained, self.displacement = explained, final_field


Regime = Callable[[MorphProblem, dict[str, float]], Trajectory]

#: iterative regimes' default step per edit mode, in normalised units (max change per step)
DEFAULT_STEP = {"phase": 0.5, "joint": 0.5, "amplitude": 0.1, "additive": 0.05, "motion": 0.25}
#: ... and per transform where the edit mode's default does not fit: a flow step moves the
#: largest control point by 0.25 px (100 steps reach 25 px; 0.05 px steps capped motion at 5 px)
DEFAULT_STEP_BY_TRANSFORM = {"flow": 0.25}


def goal_text(config: MorphConfig) -> str:
    """The ``auto`` goal in words, as stop reasons print it."""
    if config.l2_budget is not None:
        return f"L2 >= {config.l2_budget:.4g}"
    return f"p_target >= {config.goal_p}"


def to_results(problem: MorphProblem, traj: Trajectory, regime: str) -> list[MorphResult]:
    """One :class:`MorphResult` per image of ``traj``."""
    cfg, model = problem.config, problem.model
    names = model.class_names
    settings = cfg.to_dict()
    lengths = traj.lengths.tolist()
    reached = traj.reached.tolist()
    out = []
    for i in range(problem.x0.shape[0]):
        n = int(lengths[i]) + 1
        idx = torch.arange(n)
        if traj.subsample and n > cfg.frames:
            idx = torch.linspace(0, n - 1, cfg.frames).round().long()
        t, s = int(problem.target[i]), int(problem.source[i])
        probs = traj.probs[idx.to(traj.probs.device), i]
        # one transfer per field (not one device sync per frame and field)
        cols = zip(traj.amplification[idx, i].tolist(), probs[:, t].tolist(), probs[:, s].tolist(),
                   probs.argmax(-1).tolist(), traj.l2[idx, i].tolist(),
                   traj.max_abs_dphi[idx, i].tolist(), traj.frac_wrapped[idx, i].tolist(),
                   *(_column(v, idx, i) for v in (traj.mean_displacement, traj.max_displacement,
                                                  traj.phase_explained)))
        scores = [
            FrameScore(amplification=a, p_target=pt, p_source=ps, top1_index=k, top1_name=names[k],
                       l2=l2, max_abs_dphi=dphi, frac_wrapped=wrapped, mean_displacement=md,
                       max_displacement=xd, phase_explained=ex)
            for a, pt, ps, k, l2, dphi, wrapped, md, xd, ex in cols
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
            settings=_settings_copy(settings),
            model_spec=dict(model.spec),
            stop_reason=traj.stop_reason[i],
            overshoot=traj.overshoot[i],
            reached=bool(reached[i]),
            displacement=None if traj.displacement is None else traj.displacement[i].detach().cpu(),
        )
        res.settings.update(traj.settings)
        if traj.per_image_settings is not None:
            res.settings.update(traj.per_image_settings[i])
        out.append(res)
    return out


def _column(values: Tensor | None, idx: Tensor, i: int) -> list[float | None]:
    """Image ``i``'s entries of a ``(K, B)`` read-out at frames ``idx`` (``None`` where absent)."""
    if values is None:
        return [None] * len(idx)
    return values[idx.to(values.device), i].tolist()


def _settings_copy(base: dict[str, Any]) -> dict[str, Any]:
    """Per-result copy of a config dict (its list/dict values copied one level deep, which is all
    a :class:`MorphConfig` holds), instead of a fresh ``asdict`` per result (0.4 ms each)."""
    return {k: type(v)(v) if isinstance(v, (list, dict)) else v for k, v in base.items()}


def iterative_steps(config: MorphConfig, max_steps: int) -> tuple[float, list[float]]:
    """Step size and per-step sizes of an iterative regime.

    ``auto`` takes ``max_steps`` steps of ``config.step_size`` (default: :data:`DEFAULT_STEP` of
    the edit mode); an explicit schedule takes one step per gap between consecutive amplifications.

    Examples
    --------
    >>> iterative_steps(MorphConfig(amplification=[0, 1, 3]), 100)
    (0.5, [1.0, 2.0])
    """
    step = config.step_size or DEFAULT_STEP_BY_TRANSFORM.get(
        config.transform_name, DEFAULT_STEP[config.edit])
    if isinstance(config.amplification, str):
        return step, [step] * max_steps
    a = [float(v) for v in config.amplification]
    return step, [max(a[k + 1] - a[k], 0.0) for k in range(len(a) - 1)]


class MotionTrack:
    """Per-step displacement statistics of an iterative run (nothing when the method has no field).

    ``step(edit, explained, active)`` reads the field of the accumulated edit (flow: displacement
    increments; CSP: phase increments, refitted every step) and freezes images that stopped.
    """

    def __init__(self, readout: MotionReadout | None, first: EditDirection) -> None:
        self.readout = readout
        if readout is None:
            return
        b = first.unit.shape[0]
        zeros = torch.zeros(b, device=first.unit.device)
        self.mean, self.peak = [zeros], [zeros]
        # an explained share exists for CSP phase fits and for csp-motion's own fit; plain flow has none
        has_share = readout.fit is not None or first.motion_explained is not None
        start = first.motion_explained if first.motion_explained is not None else zeros
        self.explained = [start] if has_share else None
        self.field: Tensor | None = None

    def step(self, edit: list[Tensor | None], explained: Tensor | None, active: Tensor) -> None:
        if self.readout is None:
            return
        field, fitted = self.readout(edit)
        explained = explained if explained is not None else fitted
        mean, peak = field_magnitude_stats(field)
        self.mean.append(torch.where(active, mean, self.mean[-1]))
        self.peak.append(torch.where(active, peak, self.peak[-1]))
        if self.explained is not None and explained is not None:
            self.explained.append(torch.where(active, explained.to(mean), self.explained[-1]))
        keep = active.view(-1, 1, 1, 1)
        self.field = field if self.field is None else torch.where(keep, field, self.field)

    def finish(self, traj: Trajectory) -> None:
        if self.readout is None or self.field is None:
            return
        explained = torch.stack(self.explained, 0) if self.explained is not None else None
        traj.set_motion(torch.stack(self.mean, 0), torch.stack(self.peak, 0), explained, self.field)
