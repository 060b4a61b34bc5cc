"""Render and score frames of a one-step extrapolation.

Frame k of image b uses ``c = c0 * exp(beta * d_eta) * exp(i * alpha * d_phi)`` with
``alpha = amplification[k, b] * unit[b]`` and ``beta = amplitude_weight * alpha`` for joint edits.
Frames are synthesised, clipped to [0, 1] and scored on the clipped image (paper.md §7.6), in
chunks of ``chunk_size`` frames so memory stays bounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from steerlens.gradient import EditDirection
from steerlens.models.base import Classifier
from steerlens.transforms.base import Transform


@dataclass
class FrameBatch:
    """Frames and their scores, shaped ``(K, B, ...)``."""

    frames: Tensor  # (K, B, C, H, W), clipped
    probs: Tensor  # (K, B, classes)
    l2: Tensor  # (K, B)
    max_abs_dphi: Tensor  # (K, B)
    frac_wrapped: Tensor  # (K, B)


def edited_bands(direction: EditDirection, amps: Tensor, amplitude_weight: float) -> list[Tensor]:
    """Edited bands for amplifications ``amps`` of shape ``(K, B)``, flattened to ``(K*B, ...)``.

    Examples
    --------
    >>> import torch
    >>> from steerlens.transforms.base import Coeffs
    >>> c = Coeffs([torch.ones(1, 1, 2, 2, dtype=torch.complex64)], {}, (2, 2))
    >>> d = EditDirection(c, [torch.ones(1, 1, 2, 2)], [None], torch.ones(1),
    ...                   torch.zeros(1), torch.ones(1), torch.zeros(1))
    >>> edited_bands(d, torch.tensor([[0.0], [math.pi]]), 0.5)[0][1, 0, 0, 0].real.item()
    -1.0
    """
    k, b = amps.shape
    alpha = amps * direction.unit.to(amps)[None, :]
    out = []
    for c0, dphi, deta in zip(direction.coeffs.bands, direction.phase, direction.log_amplitude):
        shape = (k, b) + (1,) * (c0.dim() - 1)
        a = alpha.view(shape).to(c0.real.dtype if c0.is_complex() else c0.dtype)
        if not c0.is_complex():
            band = c0.unsqueeze(0) + a * dphi.unsqueeze(0) if dphi is not None else c0.expand(k, *c0.shape)
        else:
            # torch.polar(gain, angle) is ~4x faster than exp() of a complex tensor (benchmarks/README.md)
            angle = dphi.unsqueeze(0) * a if dphi is not None else None
            gain = None
            if deta is not None:
                weight = amplitude_weight if dphi is not None else 1.0
                gain = torch.exp(deta.unsqueeze(0) * (a * weight))
            if angle is None and gain is None:
                band = c0.expand(k, *c0.shape)
            else:
                if angle is None:
                    angle = torch.zeros_like(gain)
                if gain is None:
                    gain = torch.ones_like(angle)
                band = c0.unsqueeze(0) * torch.polar(gain, angle)
        out.append(band.reshape(k * b, *c0.shape[1:]))
    return out


def phase_stats(direction: EditDirection, amps: Tensor) -> tuple[Tensor, Tensor]:
    """Largest |delta phi| and the fraction of edited coefficients moved past pi, per (K, B)."""
    k, b = amps.shape
    alpha = (amps * direction.unit.to(amps)[None, :]).abs()
    bands = [p for p in direction.phase if p is not None and direction.coeffs.bands[0].is_complex()]
    if not bands:
        z = torch.zeros(k, b, device=amps.device)
        return z, z
    peak = torch.stack([p.abs().flatten(1).amax(1) for p in bands], 0).amax(0).to(amps)
    max_dphi = alpha * peak[None, :]
    wrapped = torch.zeros(k, b, device=amps.device)
    count = torch.zeros(b, device=amps.device)
    for p, m in zip(direction.phase, direction.edited_mask):
        if p is None:
            continue
        mag = p.abs().flatten(1).to(amps)
        n_edit = (m.flatten(1).sum(1) if m is not None else torch.full((b,), mag.shape[1])).to(amps)
        count += n_edit
        # coefficients with alpha*|p| > pi, per (k, b); a comparison per frame is cheaper than a
        # sort of every band (measured on 800k coefficients, K=12: 18 ms vs 100 ms)
        thresh = math.pi / alpha.clamp_min(1e-30)  # (K, B)
        for kk in range(k):
            wrapped[kk] += (mag > thresh[kk][:, None]).sum(1).to(amps)
    return max_dphi, wrapped / count.clamp_min(1)[None, :]


@torch.no_grad()
def render_frames(
    model: Classifier,
    transform: Transform,
    direction: EditDirection,
    source: Tensor,
    amps: Tensor,
    amplitude_weight: float = 0.5,
    chunk_size: int = 16,
    keep_frames: bool = True,
) -> FrameBatch:
    """Synthesise, clip and score frames for amplifications ``amps`` ``(K, B)``.

    Parameters
    ----------
    source
        ``(B, C, H, W)`` the images L2 is measured against.
    keep_frames
        If False, frames are not returned (saves memory during schedule searches).
    """
    k, b = amps.shape
    per_chunk = max(1, chunk_size // max(b, 1))
    frames, probs, l2s = [], [], []
    for s in range(0, k, per_chunk):
        a = amps[s : s + per_chunk]
        bands = edited_bands(direction, a, amplitude_weight)
        x = transform.synthesize(direction.coeffs.with_bands(bands)).clamp(0, 1)
        x = x.view(a.shape[0], b, *x.shape[1:])
        p = torch.softmax(model(x.flatten(0, 1)).float(), -1).view(a.shape[0], b, -1)
        l2s.append((x - source.unsqueeze(0)).flatten(2).norm(dim=2))
        probs.append(p)
        if keep_frames:
            frames.append(x)
    max_dphi, wrapped = phase_stats(direction, amps)
    return FrameBatch(
        frames=torch.cat(frames, 0) if keep_frames else torch.empty(0),
        probs=torch.cat(probs, 0),
        l2=torch.cat(l2s, 0),
        max_abs_dphi=max_dphi,
        frac_wrapped=wrapped,
    )
