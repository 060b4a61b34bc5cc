"""The paper's regime: one gradient at the source, extrapolated linearly (``regime="one-step"``).

Frames ``c_k = c0 * exp(beta_k * d_eta) * exp(i * alpha_k * d_phi)`` for a schedule of
amplifications ``alpha_k``: explicit, or ``auto`` (the smallest amplification reaching ``goal_p`` or
the L2 budget, stopping at the target probability's peak when it overshoots; see
:mod:`steerlens.schedule`).
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from steerlens.frames import render_frames
from steerlens.methods.registry import get_method
from steerlens.regimes.base import MorphProblem, Trajectory, goal_text
from steerlens.regimes.readouts import OneStepMotion
from steerlens.result import Overshoot
from steerlens.schedule import detect_overshoot, linear_schedule, search_amplification


def run(problem: MorphProblem) -> Trajectory:
    """Search (or take) the schedule, then render and score every frame in one pass."""
    model, transform, x, t = problem.model, problem.transform, problem.x0, problem.target
    cfg, direction = problem.config, problem.direction
    b = x.shape[0]
    cols = torch.arange(b, device=x.device)

    def evaluate(amps: Tensor) -> tuple[Tensor, Tensor]:
        fb = render_frames(model, transform, direction, x, amps, cfg.amplitude_weight,
                           cfg.chunk_size, keep_frames=False)
        return fb.probs[:, cols, t], fb.l2

    timings: dict[str, float] = {}
    stop_reason = ["explicit"] * b
    overshoot: list[Overshoot | None] = [None] * b
    reached = torch.zeros(b, dtype=torch.bool)
    tic = time.perf_counter()
    auto = isinstance(cfg.amplification, str)
    if auto:
        goal_p = None if cfg.l2_budget is not None else cfg.goal_p
        out = search_amplification(evaluate, b, goal_p=goal_p, l2_budget=cfg.l2_budget, device=x.device)
        amps = linear_schedule(out.amplification, cfg.frames)
        goal = goal_text(cfg)
        reached = out.reached.cpu()
        for i in range(b):
            if bool(out.reached[i]):
                stop_reason[i] = "reached " + goal
            elif bool(out.overshoot[i]):
                stop_reason[i] = "stopped at p_target peak (overshoot)"
                overshoot[i] = Overshoot(
                    peak_amplification=float(out.peak_amplification[i] * direction.unit[i]),
                    peak_p_target=float(out.peak_value[i]),
                    goal=goal,
                    message=(
                        f"p_target peaked at {float(out.peak_value[i]):.3f} and fell before reaching "
                        f"{goal}; frames stop at the peak (one-step extrapolation overshoots)"
                    ),
                )
            else:
                stop_reason[i] = f"goal not reached ({goal}); largest amplification searched"
        timings["search_evaluations"] = float(out.evaluations)
    else:
        user = torch.tensor([float(a) for a in cfg.amplification], device=x.device)[:, None]
        amps = (user / direction.unit[None, :]).expand(-1, b).contiguous()
    timings["schedule"] = time.perf_counter() - tic
    tic = time.perf_counter()
    fb = render_frames(model, transform, direction, x, amps, cfg.amplitude_weight, cfg.chunk_size)
    timings["render"] = time.perf_counter() - tic
    user_amps = amps * direction.unit[None, :]
    if not auto:
        reached = (fb.probs[-1, cols, t] >= cfg.goal_p).cpu()
    for i in range(b):  # a rendered curve that peaks and falls is flagged whatever the schedule
        overshoot[i] = overshoot[i] or _explicit_overshoot(fb.probs[:, i, t[i]], user_amps[:, i])
    per_image = [
        {"raw_max_phase_gradient": float(direction.raw_max_phase[i]),
         "raw_max_log_amplitude_gradient": float(direction.raw_max_log_amplitude[i]),
         "source_loss": float(direction.loss[i])}
        for i in range(b)
    ]
    k = amps.shape[0]
    traj = Trajectory(
        frames=fb.frames, probs=fb.probs, l2=fb.l2, amplification=user_amps,
        max_abs_dphi=fb.max_abs_dphi, frac_wrapped=fb.frac_wrapped, reached=reached,
        lengths=torch.full((b,), k - 1), stop_reason=stop_reason, overshoot=overshoot,
        per_image_settings=per_image, timings=timings,
    )
    readout = get_method(cfg.method).readout(transform, direction, cfg)
    if readout is not None:  # fields scale linearly with the amplification along a one-step path
        traj.motion = OneStepMotion(readout, direction, user_amps)
    return traj


def _explicit_overshoot(p_target: Tensor, amplification: Tensor) -> Overshoot | None:
    """An explicit schedule's overshoot: ``p_target`` peaked inside and fell below half its peak."""
    over, peak = detect_overshoot(p_target.detach().double().cpu())
    if not over:
        return None
    p = p_target.tolist()
    a = float(amplification[peak])
    return Overshoot(
        peak_amplification=a,
        peak_p_target=p[peak],
        goal="explicit schedule",
        message=(
            f"p_target peaked at {p[peak]:.3f} (frame {peak}, amplification {a:.4g}) "
            f"and fell to {p[-1]:.3f} by the last frame"
        ),
    )
