"""Persistent-coordinates regime: iterate on increments anchored to the source's coefficients.

The authors' later revision (paper.md §2.6) compares methods at matched pixel budgets in
*persistent coordinates*: the gradient is recomputed at every step, but the update is accumulated
into increments ``(delta_phi, delta_eta)`` of the **source's** decomposition, so amplitudes and
residuals never drift the way a re-analysed (``live``) frame's do::

    c_n = c_0 * exp(delta_eta_n + i * delta_phi_n)        (pixel: x_n = x_0 + delta_n)

Each step adds ``step_size`` times the normalised descent direction at ``c_n`` (the same direction
:func:`steerlens.gradient.edit_direction` gives the one-step regime, so all three regimes share
their first update exactly). With an L2 budget the increments are projected back onto the budget
whenever a step leaves it, by scaling them with a bisected factor in (0, 1] — projected gradient
descent whose constraint is the rendered (clipped) image's pixel L2. The run stops per image once
the budget is met *and* ``p_target >= goal_p``, or after ``max_steps``; without a budget it stops at
``goal_p``.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from steerlens.config import MorphConfig
from steerlens.frames import clipped_frames, edited_bands, phase_stats, pixel_l2
from steerlens.gradient import EditDirection, edit_direction
from steerlens.methods.registry import get_method
from steerlens.models.base import Classifier
from steerlens.regimes.base import MorphProblem, MotionTrack, Trajectory, goal_text, iterative_steps
from steerlens.schedule import bisect_to_budget
from steerlens.transforms.base import Coeffs, Transform

#: steps of the persistent regime when the schedule is ``auto``
MAX_PERSISTENT_STEPS = 100


def run(problem: MorphProblem) -> Trajectory:
    """The persistent regime on a batch, with ``auto`` stop reasons (see the module docstring)."""
    cfg = problem.config
    step, steps = iterative_steps(cfg, cfg.max_steps or MAX_PERSISTENT_STEPS)
    tic = time.perf_counter()
    tr = persistent_trajectory(problem.model, problem.transform, problem.x0, problem.target,
                               problem.source, cfg, problem.direction, steps, problem.progress)
    tr.timings = {"persistent_steps": float(tr.frames.shape[0] - 1),
                  "render": time.perf_counter() - tic}
    tr.settings["persistent_step_size"] = step
    tr.per_image_settings = [{"persistent_steps_taken": int(n)} for n in tr.lengths.tolist()]
    if isinstance(cfg.amplification, str):
        cols = torch.arange(tr.probs.shape[1], device=tr.probs.device)
        p_final = tr.probs[tr.lengths.to(tr.probs.device), cols, problem.target].tolist()
        l2_final = tr.l2[tr.lengths.to(tr.l2.device), cols.to(tr.l2.device)].tolist()
        for i, ok in enumerate(tr.reached.tolist()):
            if cfg.l2_budget is None:
                tr.stop_reason[i] = ("reached " if ok else "not reached: ") + goal_text(cfg)
                continue
            hit = p_final[i] >= cfg.goal_p
            # "reached" = the budget was met (the comparison's attainment), whatever p_target did
            tr.stop_reason[i] = (
                f"reached L2 >= {cfg.l2_budget:.4g} and p_target >= {cfg.goal_p}" if ok and hit else
                f"reached L2 >= {cfg.l2_budget:.4g}; p_target {p_final[i]:.3f} < {cfg.goal_p} "
                f"after {len(steps)} steps" if ok else
                f"not reached: L2 >= {cfg.l2_budget:.4g} after {len(steps)} steps of "
                f"{step:.3g} (L2 {l2_final[i]:.3g}); raise max_steps or step_size to spend it"
            )
    return tr


def increments_like(direction: EditDirection) -> EditDirection:
    """Zero increments with the layout of ``direction`` (``unit = 1``), to be accumulated in place."""
    zeros = [None if p is None else torch.zeros_like(p) for p in direction.phase]
    zeros_eta = [None if e is None else torch.zeros_like(e) for e in direction.log_amplitude]
    b = direction.unit.shape[0]
    ones = torch.ones(b, device=direction.unit.device)
    return EditDirection(direction.coeffs, zeros, zeros_eta, ones, direction.loss,
                         direction.raw_max_phase, direction.raw_max_log_amplitude,
                         direction.edited_mask)


def add_step(inc: EditDirection, d: EditDirection, size: Tensor, amplitude_weight: float) -> None:
    """``inc += size * d`` per image, with the joint edit's amplitude weight on ``delta_eta``."""
    scale = size * d.unit.to(size)
    joint = any(p is not None for p in d.phase) and any(e is not None for e in d.log_amplitude)
    for acc, step in zip(inc.phase, d.phase):
        if acc is not None and step is not None:
            acc.add_(step * scale.view(-1, *([1] * (step.dim() - 1))))
    w = amplitude_weight if joint else 1.0
    for acc, step in zip(inc.log_amplitude, d.log_amplitude):
        if acc is not None and step is not None:
            acc.add_(step * (w * scale).view(-1, *([1] * (step.dim() - 1))))


def clip_additive(inc: EditDirection) -> None:
    """Keep additive (pixel) increments inside the image box: ``0 <= x0 + delta <= 1``.

    Without it, increments pushing saturated pixels further out of range pile up unseen (the
    rendered frame is clipped) and waste the budget; projected gradient methods do the same.
    Displacement bands (``flow``) are real but are not pixel values: they are left alone.
    """
    info = inc.coeffs.band_info or [{}] * len(inc.coeffs.bands)
    for c0, delta, meta in zip(inc.coeffs.bands, inc.phase, info):
        if delta is not None and not c0.is_complex() and meta.get("kind") != "flow":
            torch.clamp(c0 + delta, 0, 1, out=delta).sub_(c0)


def scale_increments(inc: EditDirection, s: Tensor) -> None:
    """Multiply every increment of image ``b`` by ``s[b]`` in place (the budget projection)."""
    for t in [*inc.phase, *inc.log_amplitude]:
        if t is not None:
            t.mul_(s.view(-1, *([1] * (t.dim() - 1))).to(t))


def project_to_budget(
    transform: Transform, inc: EditDirection, x0: Tensor, budget: float, over: Tensor, rounds: int = 14
) -> None:
    """Shrink the increments of the images in ``over`` so their rendered L2 meets ``budget``."""

    def l2_at(scale: Tensor) -> Tensor:
        return pixel_l2(clipped_frames(transform, inc, scale[None, :], 1.0)[0], x0)

    s = bisect_to_budget(l2_at, budget, x0.shape[0], x0.device, rounds)
    scale_increments(inc, torch.where(over, s, torch.ones_like(s)))


def current_state(transform: Transform, inc: EditDirection) -> tuple[Coeffs, Tensor]:
    """The edited coefficients ``c0 * exp(delta_eta + i delta_phi)`` and their clipped image."""
    b = inc.unit.shape[0]
    with torch.no_grad():
        coeffs = inc.coeffs.with_bands(edited_bands(inc, torch.ones(1, b, device=inc.unit.device), 1.0))
        return coeffs, transform.synthesize(coeffs).clamp(0, 1)


@torch.no_grad()
def persistent_trajectory(
    model: Classifier,
    transform: Transform,
    x0: Tensor,
    target: Tensor,
    source: Tensor,
    config: MorphConfig,
    first: EditDirection,
    steps: list[float],
    progress: bool = False,
) -> Trajectory:
    """Run the persistent regime from the source direction ``first`` over step sizes ``steps``.

    Parameters
    ----------
    x0
        ``(B, C, H, W)`` source images.
    first
        :func:`edit_direction` at the source (its coefficients anchor every step).
    steps
        Normalised step size of each step (``auto`` passes ``MAX_PERSISTENT_STEPS`` equal steps).

    Examples
    --------
    >>> import torch
    >>> from steerlens.models.base import Classifier
    >>> from steerlens.transforms import make_transform
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 2))
    >>> clf = Classifier(net, ["a", "b"], (16, 16), 1)
    >>> tr, x, t = make_transform("csp", scales=2), torch.rand(1, 1, 16, 16), torch.tensor([1])
    >>> cfg = MorphConfig(regime="persistent", l2_budget=0.5)
    >>> d0 = edit_direction(clf, tr, x, t, cfg)
    >>> traj = persistent_trajectory(clf, tr, x, t, torch.tensor([0]), cfg, d0, [0.2] * 30)
    >>> round(float(traj.l2[-1, 0]), 3), bool(traj.probs[-1, 0, 1] > traj.probs[0, 0, 1])
    (0.5, True)
    """
    b = x0.shape[0]
    cols = torch.arange(b, device=x0.device)
    budget = config.l2_budget
    auto = isinstance(config.amplification, str)
    inc = increments_like(first)
    _, frame0 = current_state(transform, inc)
    # frame 0 is the unedited source, already scored by the gradient pass (up to float rounding)
    p = torch.softmax((first.logits if first.logits is not None else model(frame0)).float(), -1)
    traj_x, traj_p = [frame0], [p]
    traj_l2 = [pixel_l2(frame0, x0)]
    cum = [torch.zeros(b, device=x0.device)]
    ones = torch.ones(1, b, device=x0.device)
    traj_dphi, traj_wrap = [torch.zeros(b, device=x0.device)], [torch.zeros(b, device=x0.device)]
    motion = MotionTrack(get_method(config.method).readout(transform, first, config), first)
    active = torch.ones(b, dtype=torch.bool, device=x0.device)
    taken = torch.zeros(b, dtype=torch.long, device=x0.device)
    reached = torch.zeros(b, dtype=torch.bool, device=x0.device)
    d = first
    current = None
    from tqdm.auto import tqdm

    for s in tqdm(steps, disable=not progress, desc="persistent steps", leave=False):
        if not bool(active.any()):
            break
        if current is not None:  # the first step uses the source's direction (shared with one-step)
            d = edit_direction(model, transform, x0, target, config, source=source, coeffs=current)
        size = torch.where(active, torch.full((b,), float(s), device=x0.device), torch.zeros(b, device=x0.device))
        add_step(inc, d, size, config.amplitude_weight)
        clip_additive(inc)
        current, x = current_state(transform, inc)
        l2 = pixel_l2(x, x0)
        if budget is not None and auto:
            over = active & (l2 > budget)
            if bool(over.any()):
                project_to_budget(transform, inc, x0, budget, over)
                current, x = current_state(transform, inc)
                l2 = pixel_l2(x, x0)
        p = torch.softmax(model(x).float(), -1)
        keep = active[:, None, None, None]
        taken += active.long()
        traj_x.append(torch.where(keep, x, traj_x[-1]))
        traj_p.append(torch.where(active[:, None], p, traj_p[-1]))
        traj_l2.append(torch.where(active, l2, traj_l2[-1]))
        dphi, wrapped = phase_stats(inc, ones)  # the increments are the phase change itself
        traj_dphi.append(torch.where(active, dphi[0], traj_dphi[-1]))
        traj_wrap.append(torch.where(active, wrapped[0], traj_wrap[-1]))
        motion.step(inc.phase, d.motion_explained)
        cum.append(cum[-1] + size)
        if auto:
            good = p[cols, target] >= config.goal_p
            done = good & (l2 >= budget - 1e-4) if budget is not None else good
            reached |= active & done
            active &= ~done
    if auto and budget is not None:
        # with a budget, "reached" means the budget was met (the comparison's attainment)
        reached = torch.stack(traj_l2, 0)[-1] >= budget - 1e-4
    if not auto:  # an explicit schedule "reaches" when its last frame meets the probability goal
        reached = traj_p[-1][cols, target] >= config.goal_p
    traj = Trajectory(
        frames=torch.stack(traj_x, 0), probs=torch.stack(traj_p, 0), l2=torch.stack(traj_l2, 0),
        amplification=torch.stack(cum, 0), max_abs_dphi=torch.stack(traj_dphi, 0),
        frac_wrapped=torch.stack(traj_wrap, 0), reached=reached.cpu(), lengths=taken.cpu(),
        stop_reason=["explicit"] * b, overshoot=[None] * b, subsample=auto,
    )
    motion.finish(traj)
    return traj
