"""Evaluation metrics for morphs: image closeness, smooth-warp compatibility E, classifier scores
(driver, judges, COUT), agreement with synthetic ground truth, and bootstrap intervals.

Every metric takes ``(N, C, H, W)`` batches (or a :class:`~steerlens.result.MorphResult`) and
returns one value per image, so experiments can score hundreds of endpoints at once.
"""

from steerlens.metrics.alignment import (
    GroundTruthAlignment,
    ground_truth_alignment,
    moves_toward_target,
)
from steerlens.metrics.bootstrap import (
    BootstrapCI,
    PairedBootstrap,
    bootstrap_ci,
    paired_bootstrap,
)
from steerlens.metrics.classification import (
    CoutResult,
    TargetScores,
    cout,
    cout_result,
    probabilities,
    score_targets,
    target_probability,
    target_success,
)
from steerlens.metrics.image import (
    ScaleEnergy,
    ms_ssim,
    ms_ssim_min_size,
    per_scale_energy,
    pixel_l2,
    ssim,
)
from steerlens.metrics.warp import WarpFit, upsample_grid, warp_fit, warp_fit_result, warp_image

__all__ = [
    "BootstrapCI",
    "CoutResult",
    "GroundTruthAlignment",
    "PairedBootstrap",
    "ScaleEnergy",
    "TargetScores",
    "WarpFit",
    "bootstrap_ci",
    "cout",
    "cout_result",
    "ground_truth_alignment",
    "moves_toward_target",
    "ms_ssim",
    "ms_ssim_min_size",
    "paired_bootstrap",
    "per_scale_energy",
    "pixel_l2",
    "probabilities",
    "score_targets",
    "ssim",
    "target_probability",
    "target_success",
    "upsample_grid",
    "warp_fit",
    "warp_fit_result",
    "warp_image",
]
