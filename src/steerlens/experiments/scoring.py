"""Per-case metrics of matched-budget morph endpoints (one flat JSON record per case).

Every record describes the final frame of one morph: driver target probability and success, each
judge's target success and joint success, attainment of the L2 budget, pixel L2, SSIM, COUT, the
smooth-warp compatibility E (warp-only and warp + gain), the per-scale share of the edit's energy,
and for synthetic families the agreement with the exact counterfactual.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from steerlens.models.base import Classifier
from steerlens.result import MorphResult
from steerlens.runs.judges import joint_success, score_judges

__all__ = ["ScoringOptions", "score_endpoints"]


@dataclass
class ScoringOptions:
    """Cost knobs of :func:`score_endpoints`.

    Attributes
    ----------
    warp_steps
        Adam steps of each :func:`~steerlens.metrics.warp.warp_fit` (paper-like fits: 300).
    cout
        Compute COUT under the driver (51 forward passes per image).
    path_points
        Renders along the synthetic ground-truth path (for ``path_share``).
    """

    warp_steps: int = 300
    cout: bool = True
    path_points: int = 33


def _f(v: Any) -> float | None:
    """JSON-safe float (NaN/inf -> ``None``)."""
    x = float(v)
    return x if math.isfinite(x) else None


def _f_or_none(v: float | None) -> float | None:
    return None if v is None else _f(v)


def score_endpoints(
    results: Sequence[MorphResult],
    source: Tensor,
    target: Tensor,
    driver: Classifier,
    judges: Mapping[str, Classifier],
    budget: float,
    options: ScoringOptions | None = None,
    ground_truth: tuple[Tensor, Tensor] | None = None,
) -> list[dict[str, Any]]:
    """Score the final frames of a batch of morphs of the same sources.

    Parameters
    ----------
    results
        One :class:`MorphResult` per source (same order as ``source``).
    source
        ``(N, C, H, W)`` source images.
    target
        ``(N,)`` target classes.
    driver
        The model whose gradient made the edits.
    judges
        Independent classifiers by name (never differentiated).
    budget
        The requested pixel L2 (for the relative L2 error).
    options
        :class:`ScoringOptions`.
    ground_truth
        ``(x_gt, path)`` for synthetic families: the exact counterfactuals ``(N, C, H, W)`` and the
        true path ``(N, K, C, H, W)``.

    Returns
    -------
    list of dict
        One flat, JSON-serialisable record per case.

    Examples
    --------
    >>> recs = score_endpoints(results, x, t, driver, judges, 2.0)   # doctest: +SKIP
    >>> recs[0]["E_warp_gain"], recs[0]["attained"]                   # doctest: +SKIP
    (0.74, True)
    """
    from steerlens.metrics import (
        cout,
        ground_truth_alignment,
        per_scale_energy,
        pixel_l2,
        score_targets,
        ssim,
        warp_fit,
    )

    opt = options or ScoringOptions()
    src = source.detach().cpu().float()
    fin = torch.stack([r.frames[-1] for r in results]).float()
    t = target.cpu().long()
    scores = score_targets(fin, t, driver=driver)
    judged = score_judges(judges, fin, t)
    joint = joint_success(judged)
    l2 = pixel_l2(src, fin)
    sim = ssim(src, fin)
    e_w = warp_fit(src, fin, gain=False, steps=opt.warp_steps).E
    e_g = warp_fit(src, fin, gain=True, steps=opt.warp_steps).E
    energy = per_scale_energy(fin - src)
    src_class = torch.tensor([r.source_class for r in results])
    c = cout(driver, src, fin, t, src_class).cout if opt.cout else None
    gt = None
    if ground_truth is not None:
        gt = ground_truth_alignment(src, fin, ground_truth[0], ground_truth[1])

    recs = []
    for i, r in enumerate(results):
        rec: dict[str, Any] = {
            "source_class": int(r.source_class),
            "target": int(t[i]),
            "stop_reason": r.stop_reason,
            "attained": r.reached,
            "amplification": _f(r.final.amplification),
            "overshoot": r.overshoot is not None,
            "p0": _f(r.scores[0].p_target),
            "driver_p": _f(scores.driver_p[i]),  # type: ignore[index]
            "driver_success": bool(scores.driver_success[i]),  # type: ignore[index]
            "joint_success": bool(joint[i]) if joint is not None else None,
            "l2": _f(l2[i]),
            "l2_rel_err": _f(abs(float(l2[i]) - budget) / budget),
            "ssim": _f(sim[i]),
            "E_warp": _f(e_w[i]),
            "E_warp_gain": _f(e_g[i]),
            "scale_share": [_f(v) for v in energy.share[i].tolist()],
            "scale_labels": list(energy.labels),
            "max_abs_dphi": _f(r.final.max_abs_dphi),
            "frac_wrapped": _f(r.final.frac_wrapped),
            # motion read-outs (None for methods without a displacement field)
            "mean_displacement": _f_or_none(r.final.mean_displacement),
            "max_displacement": _f_or_none(r.final.max_displacement),
            "phase_explained": _f_or_none(r.final.phase_explained),
        }
        for name, js in judged.items():
            rec[f"judge_p_{name}"] = _f(js.p_end[i])
            rec[f"judge_success_{name}"] = bool(js.success[i])
        if c is not None:
            rec["cout"] = _f(c[i])
        if gt is not None:
            rec["gt_cosine"] = _f(gt.cosine[i])
            rec["gt_projection"] = _f(gt.projection[i])
            rec["gt_distance_ratio"] = _f(gt.distance_ratio[i])
            rec["moves_toward_target"] = bool(gt.moves_toward_target[i])
            if gt.path_share is not None and gt.path_progress is not None:
                rec["path_share"] = _f(gt.path_share[i])
                rec["path_progress"] = _f(gt.path_progress[i])
        recs.append(rec)
    return recs
