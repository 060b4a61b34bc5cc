"""Amplification schedules: explicit lists, and ``auto`` search for a probability or L2 goal.

One-step extrapolation is not monotone: the target probability rises, peaks, then collapses as
phases wrap (paper.md §5.4). The search therefore evaluates a geometric grid in one batch, takes the
first grid point that meets the goal, and refines that bracket by batched bisection. When the
probability peaks and falls before the goal, the search stops at the peak and reports an overshoot.
The search is vectorised over a batch of images, each with its own bracket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

#: normalised amplification grid used to bracket the goal (global-max units: radians, log-amp or
#: pixel value of the largest single change)
GRID_LOW, GRID_HIGH, GRID_POINTS = 1e-3, 200.0, 24
REFINE_ROUNDS, REFINE_POINTS = 5, 3


@dataclass
class SearchOutcome:
    """Per-image result of an ``auto`` search."""

    amplification: Tensor  # (B,) chosen amplification (normalised units)
    reached: Tensor  # (B,) bool: the goal was met
    overshoot: Tensor  # (B,) bool: p_target peaked and fell before the goal
    peak_amplification: Tensor  # (B,)
    peak_value: Tensor  # (B,) best metric seen
    evaluations: int


Evaluate = Callable[[Tensor], tuple[Tensor, Tensor]]
"""Maps amplifications (K, B) to (p_target, l2), each (K, B)."""


def search_amplification(
    evaluate: Evaluate,
    batch: int,
    goal_p: float | None = None,
    l2_budget: float | None = None,
    device: torch.device | str = "cpu",
    grid: Tensor | None = None,
) -> SearchOutcome:
    """Smallest amplification whose frame reaches ``goal_p`` (or ``l2_budget``), per image.

    Parameters
    ----------
    evaluate
        Renders and scores frames for a ``(K, B)`` amplification tensor, returning
        ``(p_target, l2)`` of shape ``(K, B)``.
    batch
        Number of images B.
    goal_p, l2_budget
        Exactly one goal: target probability, or pixel-L2 distance to the source.
    grid
        Increasing 1-D tensor of amplifications to bracket with (default: geometric
        ``GRID_LOW..GRID_HIGH``).

    Examples
    --------
    >>> import torch
    >>> f = lambda a: (torch.sigmoid(a - 3.0), a)          # p rises with a; L2 = a
    >>> out = search_amplification(f, 1, l2_budget=2.0)
    >>> round(float(out.amplification[0]), 3)
    2.0
    """
    if (goal_p is None) == (l2_budget is None):
        raise ValueError("give exactly one of goal_p and l2_budget")
    if grid is None:
        grid = torch.logspace(
            torch.log10(torch.tensor(GRID_LOW)), torch.log10(torch.tensor(GRID_HIGH)), GRID_POINTS
        )
    grid = grid.to(device)
    amps = grid[:, None].expand(-1, batch).contiguous()
    p, l2 = evaluate(amps)
    evaluations = amps.numel()
    metric = p if goal_p is not None else l2
    goal = goal_p if goal_p is not None else l2_budget
    meets = metric >= goal
    reached = meets.any(0)
    first = torch.where(reached, meets.float().argmax(0), torch.full_like(reached, len(grid) - 1, dtype=torch.long))

    # peak of the target probability up to the first success (or over the whole grid)
    k_idx = torch.arange(len(grid), device=device)[:, None]
    p_masked = torch.where(k_idx <= first[None, :], p, torch.full_like(p, -1.0))
    peak_idx = p_masked.argmax(0)
    cols = torch.arange(batch, device=device)
    peak_p = p[peak_idx, cols]
    peak_amp = grid[peak_idx]
    # Overshoot: probability goal missed and the curve fell clearly after its peak.
    fell = p[-1] < 0.9 * peak_p
    overshoot = (~reached) & fell & (peak_idx < len(grid) - 1) if goal_p is not None else torch.zeros_like(reached)

    lo = torch.where(first > 0, grid[(first - 1).clamp_min(0)], torch.zeros_like(grid[first]))
    hi = grid[first]
    for _ in range(REFINE_ROUNDS):
        active = reached
        if not bool(active.any()):
            break
        frac = torch.arange(1, REFINE_POINTS + 1, device=device, dtype=grid.dtype) / (REFINE_POINTS + 1)
        cand = lo[None, :] + frac[:, None] * (hi - lo)[None, :]  # (R, B)
        cp, cl2 = evaluate(cand)
        evaluations += cand.numel()
        cm = (cp if goal_p is not None else cl2) >= goal
        any_ok = cm.any(0) & active
        j = cm.float().argmax(0)
        new_hi = torch.where(any_ok, cand[j, cols], hi)
        prev = torch.where(j > 0, cand[(j - 1).clamp_min(0), cols], lo)
        new_lo = torch.where(any_ok, prev, torch.where(active, cand[-1], lo))
        lo, hi = new_lo, new_hi
        better = cp.amax(0) > peak_p
        peak_p = torch.where(better, cp.amax(0), peak_p)
        peak_amp = torch.where(better, cand[cp.argmax(0), cols], peak_amp)

    if goal_p is not None and bool((~reached).any()):
        # refine the peak of the missed images between the grid neighbours of their grid peak
        g_lo = grid[(peak_idx - 1).clamp_min(0)]
        g_hi = grid[(peak_idx + 1).clamp_max(len(grid) - 1)]
        for _ in range(2):
            frac = torch.linspace(0, 1, REFINE_POINTS + 2, device=device, dtype=grid.dtype)[1:-1]
            cand = g_lo[None, :] + frac[:, None] * (g_hi - g_lo)[None, :]
            cp, _ = evaluate(cand)
            evaluations += cand.numel()
            j = cp.argmax(0)
            better = (~reached) & (cp[j, cols] > peak_p)
            peak_p = torch.where(better, cp[j, cols], peak_p)
            peak_amp = torch.where(better, cand[j, cols], peak_amp)
            step = (g_hi - g_lo) / (REFINE_POINTS + 1)
            g_lo, g_hi = (peak_amp - step).clamp_min(0), peak_amp + step
    if goal_p is not None:
        chosen = torch.where(reached, hi, peak_amp)
    else:
        chosen = torch.where(reached, hi, grid[-1].expand(batch))
        if l2_budget is not None:
            chosen = torch.where(reached, _interpolate_budget(evaluate, lo, hi, l2_budget, reached), chosen)
            evaluations += 2 * batch
    return SearchOutcome(chosen, reached, overshoot, peak_amp, peak_p, evaluations)


def _interpolate_budget(evaluate: Evaluate, lo: Tensor, hi: Tensor, budget: float, ok: Tensor) -> Tensor:
    """Final linear interpolation of L2 between the bracket ends, so the budget is met closely."""
    _, l2 = evaluate(torch.stack([lo, hi], 0))
    l_lo, l_hi = l2[0], l2[1]
    t = ((budget - l_lo) / (l_hi - l_lo).clamp_min(1e-12)).clamp(0, 1)
    return torch.where(ok, lo + t * (hi - lo), hi)


def bisect_to_budget(
    l2_at: Callable[[Tensor], Tensor], budget: float, batch: int, device: torch.device | str, rounds: int
) -> Tensor:
    """Per image, the smallest fraction ``s`` in (0, 1] (to ``2**-rounds``) with ``l2_at(s) >= budget``.

    ``l2_at`` maps a ``(B,)`` fraction to the ``(B,)`` pixel L2 of the step scaled by it. Used to
    shrink the last step of an iterative run onto an L2 budget.

    Examples
    --------
    >>> import torch
    >>> float(bisect_to_budget(lambda s: 4.0 * s, 1.0, 1, "cpu", rounds=20)[0])  # L2 = 4 s
    0.25
    """
    lo = torch.zeros(batch, device=device)
    hi = torch.ones(batch, device=device)
    for _ in range(rounds):
        mid = (lo + hi) / 2
        ok = l2_at(mid) >= budget
        hi = torch.where(ok, mid, hi)
        lo = torch.where(ok, lo, mid)
    return hi


def linear_schedule(final: Tensor, frames: int) -> Tensor:
    """``(frames, B)`` amplifications from 0 to ``final`` (per image), evenly spaced.

    Examples
    --------
    >>> linear_schedule(torch.tensor([2.0]), 3)[:, 0].tolist()
    [0.0, 1.0, 2.0]
    """
    t = torch.linspace(0, 1, frames, device=final.device, dtype=final.dtype)
    return t[:, None] * final[None, :]


def detect_overshoot(p_target: Tensor, drop: float = 0.5) -> tuple[bool, int]:
    """Whether a per-frame target-probability curve peaks inside and then falls below
    ``drop`` x its peak by the last frame. Returns ``(overshoot, peak_index)``.

    Examples
    --------
    >>> detect_overshoot(torch.tensor([0.1, 0.8, 0.2]))
    (True, 1)
    """
    peak = int(torch.argmax(p_target))
    last = len(p_target) - 1
    return bool(peak < last and p_target[-1] < drop * p_target[peak]), peak
