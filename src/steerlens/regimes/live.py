"""The iterative reference regime (``regime="live"``): re-analyse the current frame and recompute
the gradient at every step.

Each step moves by ``step_size`` normalised units (e.g. a phase cap in radians). A run stops per
image when ``goal_p`` (or ``l2_budget``, met exactly by bisecting the last step) is reached, or after
the explicit schedule's steps. The phase statistics are those of the phase rotation applied so far
(the sum of every step's edit), since a re-analysed frame has no fixed reference phase.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from steerlens.frames import clipped_frames, phase_stats, pixel_l2, render_frames
from steerlens.gradient import EditDirection, edit_direction
from steerlens.methods.registry import get_method
from steerlens.regimes.base import MorphProblem, MotionTrack, Trajectory, goal_text, iterative_steps
from steerlens.regimes.persistent import add_step, increments_like
from steerlens.schedule import bisect_to_budget

MAX_LIVE_STEPS = 200


def run(problem: MorphProblem) -> Trajectory:
    """Step from the source, re-analysing each accepted frame."""
    model, transform, x0, t = problem.model, problem.transform, problem.x0, problem.target
    cfg, src, d0 = problem.config, problem.source, problem.direction
    b = x0.shape[0]
    cols = torch.arange(b, device=x0.device)
    auto = isinstance(cfg.amplification, str)
    step, steps = iterative_steps(cfg, cfg.max_steps or MAX_LIVE_STEPS)
    zero = torch.zeros(1, b, device=x0.device)
    tic = time.perf_counter()
    first = render_frames(model, transform, d0, x0, zero, cfg.amplitude_weight, cfg.chunk_size)
    traj_x, traj_p, traj_l2 = [first.frames[0]], [first.probs[0]], [first.l2[0]]
    cum = [torch.zeros(b, device=x0.device)]
    applied = increments_like(d0)  # phase rotation applied so far, for the phase statistics
    ones = torch.ones(1, b, device=x0.device)
    traj_dphi, traj_wrap = [torch.zeros(b, device=x0.device)], [torch.zeros(b, device=x0.device)]
    # a re-analysed frame has no fixed reference phase: only warps (exact fields) get one here
    readout = get_method(cfg.method).readout(transform, d0, cfg, reanalysed=True)
    motion = MotionTrack(readout, d0)
    active = torch.ones(b, dtype=torch.bool, device=x0.device)
    taken = torch.zeros(b, dtype=torch.long, device=x0.device)
    x = first.frames[0]
    reached = torch.zeros(b, dtype=torch.bool, device=x0.device)
    from tqdm.auto import tqdm

    for n, s in enumerate(tqdm(steps, disable=not problem.progress, desc="live steps", leave=False)):
        if not bool(active.any()):
            break
        # frame 0 is the source's reconstruction, so the source's direction serves the first step
        d = d0 if n == 0 else edit_direction(model, transform, x, t, cfg, source=src)
        amps = torch.full((1, b), s, device=x0.device)
        fb = render_frames(model, transform, d, x0, amps, cfg.amplitude_weight, cfg.chunk_size)
        nx, p, l2 = fb.frames[0], fb.probs[0], fb.l2[0]
        if cfg.l2_budget is not None and auto:
            over = active & (l2 >= cfg.l2_budget)
            if bool(over.any()):
                nx, p, l2, frac = _bisect_step(problem, d, s, over, nx, p, l2)
                amps = amps * torch.where(over, frac, torch.ones_like(frac))[None]
        keep = active[:, None, None, None]
        taken += active.long()
        size = torch.where(active, amps[0], torch.zeros_like(amps[0]))
        add_step(applied, d, size, cfg.amplitude_weight)
        dphi, wrapped = phase_stats(applied, ones)
        x = torch.where(keep, nx, x)
        traj_x.append(x)
        traj_p.append(torch.where(active[:, None], p, traj_p[-1]))
        traj_l2.append(torch.where(active, l2, traj_l2[-1]))
        traj_dphi.append(torch.where(active, dphi[0], traj_dphi[-1]))
        traj_wrap.append(torch.where(active, wrapped[0], traj_wrap[-1]))
        motion.step(applied.phase, d.motion_explained)
        cum.append(cum[-1] + size)
        if auto:
            done = (l2 >= cfg.l2_budget - 1e-6) if cfg.l2_budget is not None else (p[cols, t] >= cfg.goal_p)
            reached |= active & done
            active &= ~done
    if not auto:  # an explicit schedule "reaches" when its last frame meets the probability goal
        reached = traj_p[-1][cols, t] >= cfg.goal_p
    timings = {"live_steps": float(len(traj_x) - 1), "render": time.perf_counter() - tic}
    reason = [
        ("reached " if ok else "not reached: ") + goal_text(cfg) if auto else "explicit"
        for ok in reached.tolist()
    ]
    traj = Trajectory(
        frames=torch.stack(traj_x, 0), probs=torch.stack(traj_p, 0), l2=torch.stack(traj_l2, 0),
        amplification=torch.stack(cum, 0), max_abs_dphi=torch.stack(traj_dphi, 0),
        frac_wrapped=torch.stack(traj_wrap, 0), reached=reached.cpu(), lengths=taken.cpu(),
        stop_reason=reason, overshoot=[None] * b, subsample=auto,
        settings={"live_step_size": step},
        per_image_settings=[{"live_steps_taken": int(n)} for n in taken.tolist()],
        timings=timings,
    )
    motion.finish(traj)
    return traj


def _bisect_step(
    problem: MorphProblem, d: EditDirection, s: float, over: Tensor, nx: Tensor, p: Tensor,
    l2: Tensor, rounds: int = 12,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Shrink the last step of the images in ``over`` so their L2 meets the budget exactly."""
    transform, x0, cfg = problem.transform, problem.x0, problem.config

    def l2_at(frac: Tensor) -> Tensor:  # rendering only: the classifier scores the final step once
        return pixel_l2(clipped_frames(transform, d, (frac * s)[None], cfg.amplitude_weight)[0], x0)

    hi = bisect_to_budget(l2_at, cfg.l2_budget, x0.shape[0], x0.device, rounds)
    fb = render_frames(problem.model, transform, d, x0, (hi * s)[None], cfg.amplitude_weight,
                       cfg.chunk_size)
    sel = over[:, None, None, None]
    frac = torch.where(over, hi, torch.ones_like(hi))
    return (
        torch.where(sel, fb.frames[0], nx),
        torch.where(over[:, None], fb.probs[0], p),
        torch.where(over, fb.l2[0], l2),
        frac,
    )
