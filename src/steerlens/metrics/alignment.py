"""How well an edit follows the known true change of a synthetic family.

For the families in :mod:`steerlens.data.synthetic` the correct counterfactual ``x_gt`` of a source
is known (same object, target class's factor), and so is the whole path of renders from the source
to it. Definitions, with ``e = x_edit - x_src`` and ``d = x_gt - x_src`` (flattened per image):

``cosine``
    ``<e, d> / (|e| |d|)``: direction agreement with the full true change; 1 for ``x_edit = x_gt``,
    about 0 for unrelated noise, negative when the edit goes the other way.
``projection``
    ``<e, d> / |d|^2``: how far along the true change the edit goes (1 at ``x_gt``).
``moves_toward_target``
    ``|x_edit - x_gt| < |x_src - x_gt|``; ``distance_ratio`` is the ratio of those distances.
``path_share`` (needs ``path``)
    Share of the edit explained by the true transformation:
    ``clamp(1 - min_s |x_edit - P(s)|^2 / |e|^2, 0, 1)``, where ``P`` is the true path (piecewise
    linear between ``path`` renders, ``P(0) = x_src``, ``P(1) = x_gt``). It credits partial morphs
    that the endpoint cosine misses: a small step of a blob along the true translation is almost
    orthogonal to ``x_gt - x_src`` (the blob has not reached the target yet) but lies on the path,
    so ``path_share`` is about 1 and ``path_progress`` (the minimising ``s``) is small.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from steerlens.errors import ConfigError
from steerlens.validation import check_bchw

__all__ = ["GroundTruthAlignment", "ground_truth_alignment", "moves_toward_target"]


@dataclass
class GroundTruthAlignment:
    """Per-image agreement between an edit and the true change (see the module docstring).

    Attributes
    ----------
    cosine, projection, distance_ratio
        ``(N,)`` floats.
    moves_toward_target
        ``(N,)`` bool.
    path_share, path_progress
        ``(N,)`` floats, or ``None`` when no path was given.
    """

    cosine: Tensor
    projection: Tensor
    moves_toward_target: Tensor
    distance_ratio: Tensor
    path_share: Tensor | None = None
    path_progress: Tensor | None = None


def moves_toward_target(x_src: Tensor, x_edit: Tensor, x_gt: Tensor) -> Tensor:
    """``(N,)`` bool: the edit is closer (L2) to the true counterfactual than the source is.

    Examples
    --------
    >>> s, g = torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4)
    >>> moves_toward_target(s, torch.stack([g[0] * 0.3, -g[1] * 0.3]), g).tolist()
    [True, False]
    """
    _check(x_src, x_edit, x_gt)
    d_edit = (x_edit - x_gt).flatten(1).norm(dim=1)
    d_src = (x_src - x_gt).flatten(1).norm(dim=1)
    return d_edit < d_src


def ground_truth_alignment(
    x_src: Tensor, x_edit: Tensor, x_gt: Tensor, path: Tensor | None = None
) -> GroundTruthAlignment:
    """Agreement of edits with the true change (cosine, projection, path share).

    Parameters
    ----------
    x_src, x_edit, x_gt
        ``(N, C, H, W)`` sources, their edits and the true counterfactuals
        (:func:`steerlens.data.synthetic.ground_truth_transform`).
    path
        Optional ``(N, K, C, H, W)`` renders along the true change
        (:func:`steerlens.data.synthetic.ground_truth_path`), equally spaced from source to
        ``x_gt``; enables ``path_share`` and ``path_progress``.

    Returns
    -------
    GroundTruthAlignment

    Examples
    --------
    >>> from steerlens.data.synthetic import make_family, ground_truth_transform
    >>> s = make_family("translation", 3, seed=0)
    >>> gt = ground_truth_transform(s.x, s.params, 1 - s.y, "translation")
    >>> a = ground_truth_alignment(s.x, gt, gt)
    >>> [round(v, 3) for v in a.cosine.tolist()], a.moves_toward_target.tolist()
    ([1.0, 1.0, 1.0], [True, True, True])
    """
    _check(x_src, x_edit, x_gt)
    e = (x_edit - x_src).flatten(1).double()
    d = (x_gt - x_src).flatten(1).double()
    e_n, d_n = e.norm(dim=1), d.norm(dim=1)
    dot = (e * d).sum(1)
    cosine = dot / (e_n * d_n).clamp_min(1e-30)
    projection = dot / d_n.pow(2).clamp_min(1e-30)
    ratio = (x_edit - x_gt).flatten(1).double().norm(dim=1) / d_n.clamp_min(1e-30)
    share = progress = None
    if path is not None:
        share, progress = _path_fit(x_edit, x_src, path)
    return GroundTruthAlignment(
        cosine=cosine.float(),
        projection=projection.float(),
        moves_toward_target=ratio < 1.0,
        distance_ratio=ratio.float(),
        path_share=share,
        path_progress=progress,
    )


def _path_fit(x_edit: Tensor, x_src: Tensor, path: Tensor) -> tuple[Tensor, Tensor]:
    n, k = path.shape[:2]
    if path.dim() != 5 or n != x_edit.shape[0] or path.shape[2:] != x_edit.shape[1:] or k < 2:
        raise ConfigError(
            f"path must be (N, K>=2, C, H, W) matching the images, got {tuple(path.shape)}"
        )
    p = path.flatten(2).double()  # (N, K, D)
    x = x_edit.flatten(1).double().unsqueeze(1)  # (N, 1, D)
    a, b = p[:, :-1], p[:, 1:]  # segment ends
    ab = b - a
    t = (((x - a) * ab).sum(-1) / ab.pow(2).sum(-1).clamp_min(1e-30)).clamp(0.0, 1.0)
    dist2 = (x - (a + t.unsqueeze(-1) * ab)).pow(2).sum(-1)  # (N, K-1)
    best, seg = dist2.min(dim=1)
    progress = (seg.double() + t.gather(1, seg.view(-1, 1)).squeeze(1)) / (k - 1)
    energy = (x_edit - x_src).flatten(1).double().pow(2).sum(1)
    share = (1.0 - best / energy.clamp_min(1e-30)).clamp(0.0, 1.0)
    share = torch.where(energy > 0, share, torch.full_like(share, float("nan")))
    return share.float(), progress.float()


def _check(*xs: Tensor) -> None:
    check_bchw(*xs, error=ConfigError)
