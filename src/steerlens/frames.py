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


def polar_to_complex(gain: Tensor, angle: Tensor) -> Tensor:
    """``gain * exp(i * angle)`` as a complex tensor (same result as :func:`torch.polar`).

    On the CPU, ``torch.polar`` is not vectorised: writing ``cos`` and ``sin`` straight into the
    real and imaginary slots of the output and scaling in place measured 79 ms against 106 ms
    for 9.6M coefficients on 2 cores (torch 2.13; benchmarks/hotpaths.py). Other devices use ``torch.polar``.

    Examples
    --------
    >>> import torch
    >>> z = polar_to_complex(torch.tensor([2.0]), torch.tensor([math.pi / 2]))
    >>> round(z.real.item(), 6) + 0.0, round(z.imag.item(), 6)
    (0.0, 2.0)
    """
    gain, angle = torch.broadcast_tensors(gain, angle)
    if angle.device.type != "cpu":
        return torch.polar(gain.contiguous(), angle.contiguous())
    out = torch.empty(*angle.shape, 2, dtype=angle.dtype, device=angle.device)
    torch.cos(angle, out=out[..., 0])
    torch.sin(angle, out=out[..., 1])
    out.mul_(gain.unsqueeze(-1))
    return torch.view_as_complex(out)


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
    step = _common_step(alpha)
    out = []
    for i, (c0, dphi, deta) in enumerate(
        zip(direction.coeffs.bands, direction.phase, direction.log_amplitude)
    ):
        shape = (k, b) + (1,) * (c0.dim() - 1)
        a = alpha.view(shape).to(c0.real.dtype if c0.is_complex() else c0.dtype)
        if not c0.is_complex():  # real (pixel) band: additive edit
            band = c0.unsqueeze(0) + a * dphi.unsqueeze(0) if dphi is not None else c0.expand(k, *c0.shape)
        elif dphi is None and deta is None:
            band = c0.expand(k, *c0.shape)
        elif step is not None:
            band = _progression(c0, dphi, deta, alpha, step, amplitude_weight)
        else:
            band = _rotate(direction.polar[i], dphi, deta, a, amplitude_weight)
        out.append(band.reshape(k * b, *c0.shape[1:]))
    return out


def _common_step(alpha: Tensor) -> Tensor | None:
    """Per-image step ``(B,)`` if every column of ``alpha`` ``(K, B)`` is an arithmetic progression."""
    if alpha.shape[0] < 3:
        return None
    diffs = alpha[1:] - alpha[:-1]
    tol = 1e-6 * float(alpha.abs().max().clamp_min(1e-30))
    if float((diffs - diffs[:1]).abs().max()) > tol:
        return None
    return diffs[0]


def _rotate(
    polar: tuple[Tensor, Tensor], dphi: Tensor | None, deta: Tensor | None, a: Tensor, weight: float
) -> Tensor:
    """Bands ``|c0| exp(w a d_eta) exp(i (angle c0 + a d_phi))`` for amplifications ``a`` ``(K, B, 1..)``."""
    amp0, phase0 = polar
    angle = phase0.unsqueeze(0) if dphi is None else torch.addcmul(phase0.unsqueeze(0), dphi.unsqueeze(0), a)
    gain = amp0.unsqueeze(0)
    if deta is not None:
        gain = gain * torch.exp(deta.unsqueeze(0) * (a * (weight if dphi is not None else 1.0)))
    return polar_to_complex(gain, angle)


def _progression(
    c0: Tensor, dphi: Tensor | None, deta: Tensor | None, alpha: Tensor, step: Tensor, weight: float
) -> Tensor:
    """Bands for evenly spaced amplifications: frame k = frame k-1 times one fixed complex factor.

    A rendered schedule is linear, so one complex multiply per frame replaces a cos/sin pass per
    frame (32 ms against 79 ms for K = 12 on 800k coefficients, 2 CPU cores; benchmarks/hotpaths.py),
    and a schedule starting at 0 needs no amplitude/phase split of ``c0`` at all. The float32 product
    drifts by about k * 1e-7 relative, well inside the rendering's own rounding.
    """
    k, b = alpha.shape
    view = (1, b) + (1,) * (c0.dim() - 1)
    unit = (torch.ones((), dtype=c0.real.dtype, device=c0.device),
            torch.zeros((), dtype=c0.real.dtype, device=c0.device))
    factor = _rotate(unit, dphi, deta, step.view(view).to(c0.real.dtype), weight)[0]
    out = torch.empty((k, *c0.shape), dtype=c0.dtype, device=c0.device)
    if bool((alpha[0] == 0).all()):
        out[0] = c0
    else:
        torch.mul(c0, _rotate(unit, dphi, deta, alpha[0].view(view).to(c0.real.dtype), weight)[0],
                  out=out[0])
    for kk in range(1, k):
        torch.mul(out[kk - 1], factor, out=out[kk])
    return out


def phase_stats(direction: EditDirection, amps: Tensor) -> tuple[Tensor, Tensor]:
    """Largest |delta phi| and the fraction of edited coefficients moved past pi, per (K, B)."""
    k, b = amps.shape
    alpha = (amps * direction.unit.to(amps)[None, :]).abs()
    if not any(p is not None for p in direction.phase) or not direction.coeffs.bands[0].is_complex():
        z = torch.zeros(k, b, device=amps.device)
        return z, z
    # coefficients with alpha * |p| > pi, i.e. |p| > pi / alpha, counted per (K, B); frames whose
    # largest |delta phi| stays below pi (most of them) skip the band entirely. A sort of every band
    # cost 69 ms against 0.9 ms for this on 800k coefficients, K = 12 (benchmarks/hotpaths.py).
    thresh = math.pi / alpha.clamp_min(1e-30)  # (K, B)
    wrapped = torch.zeros(k, b, device=amps.device)
    count = torch.zeros(b, device=amps.device)
    peaks = []
    for p, m in zip(direction.phase, direction.edited_mask):
        if p is None:
            continue
        mag = p.abs().flatten(1).to(amps)
        count += (m.flatten(1).sum(1) if m is not None else torch.full((b,), mag.shape[1])).to(count)
        band_peak = mag.amax(1)
        peaks.append(band_peak)
        for kk in torch.nonzero((band_peak[None, :] > thresh).any(1)).flatten().tolist():
            wrapped[kk] += (mag > thresh[kk][:, None]).sum(1).to(wrapped)
    max_dphi = alpha * torch.stack(peaks, 0).amax(0)[None, :]
    return max_dphi, wrapped / count.clamp_min(1)[None, :]


def pixel_l2(x: Tensor, source: Tensor) -> Tensor:
    """Pixel L2 distance of images ``x`` ``(..., B, C, H, W)`` to ``source`` ``(B, C, H, W)``."""
    return (x - source).flatten(-3).norm(dim=-1)


@torch.no_grad()
def clipped_frames(
    transform: Transform, direction: EditDirection, amps: Tensor, amplitude_weight: float
) -> Tensor:
    """Frames ``(K, B, C, H, W)`` for amplifications ``amps`` ``(K, B)``, synthesised and clipped."""
    k, b = amps.shape
    shared = bool(getattr(transform, "broadcasts_residuals", False))
    bands = edited_bands(direction, amps, amplitude_weight)
    x = transform.synthesize(direction.coeffs.with_bands(bands, repeat_residuals=not shared))
    return x.clamp(0, 1).view(k, b, *x.shape[1:])


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
        x = clipped_frames(transform, direction, a, amplitude_weight)
        p = torch.softmax(model(x.flatten(0, 1)).float(), -1).view(a.shape[0], b, -1)
        l2s.append(pixel_l2(x, source))
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
