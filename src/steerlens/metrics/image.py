"""Image-space closeness of an edit to its source: L2, SSIM, MS-SSIM, per-scale edit energy.

All functions take ``(N, C, H, W)`` batches and return one value per image (``(N,)``), so they work
on a morph's frames (``result.frames`` against ``result.source``) as well as on experiment batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytorch_msssim
import torch
import torch.nn.functional as F
from torch import Tensor

from steerlens.errors import ConfigError
from steerlens.validation import check_bchw

__all__ = ["ScaleEnergy", "ms_ssim", "ms_ssim_min_size", "per_scale_energy", "pixel_l2", "ssim"]

_MS_SSIM_LEVELS = 5  # pytorch-msssim's default weights have five levels


def _check_pair(x: Tensor, y: Tensor) -> None:
    check_bchw(x, y, error=ConfigError)


def pixel_l2(x: Tensor, y: Tensor) -> Tensor:
    """Euclidean distance per image over all channels and pixels (values in ``[0, 1]``).

    Examples
    --------
    >>> x = torch.zeros(2, 1, 4, 4)
    >>> pixel_l2(x, x + 0.5).tolist()
    [2.0, 2.0]
    """
    _check_pair(x, y)
    return (x.float() - y.float()).flatten(1).norm(dim=1)


def _win(size: int, win_size: int) -> int:
    """Largest odd Gaussian window <= ``win_size`` that fits in ``size`` pixels (at least 3)."""
    w = min(win_size, size if size % 2 == 1 else size - 1)
    return max(3, w)


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0, win_size: int = 11) -> Tensor:
    """Structural similarity per image (Gaussian window, sigma 1.5; pytorch-msssim).

    For images smaller than ``win_size`` the window shrinks to the largest odd size that fits.

    Examples
    --------
    >>> x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    >>> ssim(x, x).tolist()
    [1.0, 1.0, 1.0]
    """
    _check_pair(x, y)
    w = _win(min(x.shape[-2:]), win_size)
    return pytorch_msssim.ssim(
        x.float(), y.float(), data_range=data_range, size_average=False, win_size=w
    )


def ms_ssim_min_size(win_size: int = 11) -> int:
    """Smallest image side for which :func:`ms_ssim` computes true five-level MS-SSIM.

    pytorch-msssim needs ``min(H, W) > (win_size - 1) * 16`` (161 pixels for the default window).

    Examples
    --------
    >>> ms_ssim_min_size()
    161
    """
    return (win_size - 1) * 2 ** (_MS_SSIM_LEVELS - 1) + 1


def ms_ssim(x: Tensor, y: Tensor, data_range: float = 1.0, win_size: int = 11) -> Tensor:
    """Multi-scale SSIM per image (five levels, Wang et al. 2003 weights; pytorch-msssim).

    MS-SSIM halves the image four times, so it needs ``min(H, W) >= ms_ssim_min_size(win_size)``
    (161 px by default). **For smaller images (MNIST, CelebA 64x64, the synthetic families) this
    returns single-scale** :func:`ssim` instead -- report it as SSIM there.

    Examples
    --------
    >>> x = torch.rand(2, 3, 192, 192, generator=torch.Generator().manual_seed(0))
    >>> [round(v, 4) for v in ms_ssim(x, x).tolist()]
    [1.0, 1.0]
    """
    _check_pair(x, y)
    if min(x.shape[-2:]) < ms_ssim_min_size(win_size):
        return ssim(x, y, data_range=data_range, win_size=win_size)
    return pytorch_msssim.ms_ssim(
        x.float(), y.float(), data_range=data_range, size_average=False, win_size=win_size
    )


@dataclass
class ScaleEnergy:
    """Energy of an edit in each band of a multi-scale decomposition.

    Attributes
    ----------
    energy
        ``(N, K)`` squared norm of the edit in each band, finest first, low-pass last.
    share
        ``(N, K)`` ``energy`` divided by its row sum (NaN for an empty edit).
    labels
        One name per column, e.g. ``["scale 0", "scale 1", "lowpass"]``.
    """

    energy: Tensor
    share: Tensor
    labels: list[str]


def _blur(x: Tensor, sigma: float) -> Tensor:
    r = max(1, round(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    xp = F.pad(x, (r, r, r, r), mode="reflect" if min(x.shape[-2:]) > r else "replicate")
    xp = F.conv2d(xp, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(xp, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def per_scale_energy(edit: Tensor, n_scales: int | None = None) -> ScaleEnergy:
    """Split an edit ``x_edit - x_src`` into octave bands and measure each band's energy.

    The decomposition is an undecimated difference-of-Gaussians (Laplacian-like) pyramid at full
    resolution: ``band_0 = e - G_1 e``, ``band_k = G_k e - G_{k+1} e`` and ``lowpass = G_n e``, where
    ``G_k`` is a Gaussian blur with ``sigma = 2^(k-1)`` pixels. The bands sum exactly to the edit, for
    any image size. They are not orthogonal, so band energies need not add up to ``||e||^2``; use
    ``share`` to compare edits. (A tight-frame CSP would give exactly additive energies; this
    module stays independent of the transform used to make the edit.)

    Parameters
    ----------
    edit
        ``(N, C, H, W)`` difference images.
    n_scales
        Number of band-pass scales; default ``floor(log2(min(H, W))) - 2`` (as plenoptic's
        ``height="auto"``), at least 1.

    Returns
    -------
    ScaleEnergy

    Examples
    --------
    >>> e = torch.ones(1, 1, 32, 32); e[..., ::2] = -1.0  # finest possible grating
    >>> se = per_scale_energy(e)
    >>> se.labels, int(se.share[0].argmax())
    (['scale 0', 'scale 1', 'scale 2', 'lowpass'], 0)
    """
    check_bchw(edit, name="per_scale_energy's input", error=ConfigError)
    size = min(edit.shape[-2:])
    if n_scales is None:
        n_scales = max(1, int(torch.log2(torch.tensor(float(size))).floor()) - 2)
    e = edit.float()
    levels = [e] + [_blur(e, 2.0 ** (k - 1)) for k in range(1, n_scales + 1)]
    bands = [levels[k] - levels[k + 1] for k in range(n_scales)] + [levels[-1]]
    energy = torch.stack([b.pow(2).flatten(1).sum(1) for b in bands], dim=1)
    total = energy.sum(1, keepdim=True)
    share = torch.where(total > 0, energy / total.clamp_min(1e-30), torch.nan)
    labels = [f"scale {k}" for k in range(n_scales)] + ["lowpass"]
    return ScaleEnergy(energy=energy, share=share, labels=labels)
