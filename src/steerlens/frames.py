"""Render and score frames of a one-step extrapolation.

Frame k of image b uses ``c = c0 * exp(beta * d_eta) * exp(i * alpha * d_phi)`` with
``alpha = amplification[k, b] * unit[b]`` and ``beta = amplitude_weight * alpha`` for joint edits.
Frames are synthesised, clipped to [0, 1] and scored on the clipped image (paper.md §7.6), in
chunks of ``chunk_size`` frames so memory stays bounded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
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


#: complex coefficients edited and synthesised at once when rendering frames on the CPU (8 MB of
#: complex64). Rendering every frame's bands in one tensor (58 MB at 224² RGB, K = 12) spends much
#: of its time in page faults: glibc serves blocks above 32 MB with a fresh ``mmap`` each call.
#: Groups this size reuse the same buffers: bands + synthesis + clip took 54 against 87 ms over 20
#: interleaved rounds (76 against 103 in a slower run; 2 CPU cores, benchmarks/hotpaths.py), with
#: bit-identical frames.
GROUP_COEFFICIENTS = 1 << 20
#: the same on other devices (512 MB of complex64): the CUDA caching allocator has no page-fault
#: cost, so groups there are large (fewer, bigger kernels) and only bound the memory.
DEVICE_GROUP_COEFFICIENTS = 1 << 26


def group_coefficients_for(device: torch.device) -> int:
    """Coefficients edited and synthesised per group when rendering frames on ``device``.

    Examples
    --------
    >>> group_coefficients_for(torch.device("cpu"))
    1048576
    """
    return GROUP_COEFFICIENTS if device.type == "cpu" else DEVICE_GROUP_COEFFICIENTS


def edited_bands(direction: EditDirection, amps: Tensor, amplitude_weight: float) -> list[Tensor]:
    """Edited bands for amplifications ``amps`` of shape ``(K, B)``, flattened to ``(K*B, ...)``.

    All K frames at once; :func:`iter_edited_bands` yields them in memory-sized groups instead.

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
    ((_, _, bands),) = iter_edited_bands(direction, amps, amplitude_weight, group_coefficients=None)
    return bands


def iter_edited_bands(
    direction: EditDirection,
    amps: Tensor,
    amplitude_weight: float,
    group_coefficients: int | None = GROUP_COEFFICIENTS,
) -> Iterator[tuple[int, int, list[Tensor]]]:
    """Edited bands for amplifications ``amps`` ``(K, B)``, in groups of consecutive frames.

    Yields ``(start, stop, bands)`` with each band flattened to ``((stop - start) * B, ...)``. A group
    holds as many frames as fit in ``group_coefficients`` complex coefficients (at least one
    frame; ``None``: all K in one group). The buffers are reused: a yielded group is valid only
    until the next one is requested, so consume (synthesise) it first.

    Examples
    --------
    >>> import torch
    >>> from steerlens.transforms.base import Coeffs
    >>> c = Coeffs([torch.ones(1, 1, 2, 2, dtype=torch.complex64)], {}, (2, 2))
    >>> d = EditDirection(c, [torch.ones(1, 1, 2, 2)], [None], torch.ones(1),
    ...                   torch.zeros(1), torch.ones(1), torch.zeros(1))
    >>> amps = torch.tensor([[0.0], [math.pi / 2], [math.pi]])
    >>> [(s, e, round(g[0][-1, 0, 0, 0].real.item(), 3)) for s, e, g in iter_edited_bands(d, amps, 0.5, 4)]
    [(0, 1, 1.0), (1, 2, -0.0), (2, 3, -1.0)]
    """
    k, b = amps.shape
    alpha = amps * direction.unit.to(amps)[None, :]
    step = _common_step(alpha)
    bands = direction.coeffs.bands
    per_frame = b * sum(c0[0].numel() for c0 in bands)
    group = k if group_coefficients is None else max(1, min(k, group_coefficients // max(per_frame, 1)))
    from_zero = step is not None and bool((alpha[0] == 0).all())  # one device sync, not one per band
    progressions = [
        _Progression(c0, dphi, deta, alpha, step, amplitude_weight, group, from_zero)
        if c0.is_complex() and step is not None and not (dphi is None and deta is None)
        else None
        for c0, dphi, deta in zip(bands, direction.phase, direction.log_amplitude)
    ]
    for start in range(0, k, group):
        stop = min(start + group, k)
        n = stop - start
        out = []
        for i, (c0, dphi, deta) in enumerate(zip(bands, direction.phase, direction.log_amplitude)):
            if progressions[i] is not None:
                band = progressions[i].frames(start, stop)
            elif (dphi is None and deta is None) or (not c0.is_complex() and dphi is None):
                band = c0.expand(n, *c0.shape)
            else:
                shape = (n, b) + (1,) * (c0.dim() - 1)
                a = alpha[start:stop].reshape(shape).to(c0.real.dtype if c0.is_complex() else c0.dtype)
                band = (
                    _rotate(direction.polar[i], dphi, deta, a, amplitude_weight)
                    if c0.is_complex()
                    else c0.unsqueeze(0) + a * dphi.unsqueeze(0)  # real (pixel) band: additive edit
                )
            out.append(band.reshape(n * b, *c0.shape[1:]))
        yield start, stop, out


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


class _Progression:
    """One band's frames at evenly spaced amplifications: frame k = frame k-1 times a fixed factor.

    A rendered schedule is linear, so one complex multiply per frame replaces a cos/sin pass per
    frame (32 ms against 79 ms for K = 12 on 800k coefficients, 2 CPU cores; benchmarks/hotpaths.py),
    and a schedule starting at 0 needs no amplitude/phase split of ``c0`` at all. The float32 product
    drifts by about k * 1e-7 relative, well inside the rendering's own rounding. Frames are produced
    group by group into one reused ``(group, B, ...)`` buffer; the chain carries across groups.
    """

    def __init__(self, c0: Tensor, dphi: Tensor | None, deta: Tensor | None, alpha: Tensor,
                 step: Tensor, weight: float, group: int, from_zero: bool) -> None:
        b = alpha.shape[1]
        view = (1, b) + (1,) * (c0.dim() - 1)
        unit = (torch.ones((), dtype=c0.real.dtype, device=c0.device),
                torch.zeros((), dtype=c0.real.dtype, device=c0.device))
        self.c0 = c0
        self.factor = _rotate(unit, dphi, deta, step.view(view).to(c0.real.dtype), weight)[0]
        self.first = (
            None if from_zero
            else _rotate(unit, dphi, deta, alpha[0].view(view).to(c0.real.dtype), weight)[0]
        )
        self.buffer = torch.empty((group, *c0.shape), dtype=c0.dtype, device=c0.device)
        self.last: Tensor | None = None

    def frames(self, start: int, stop: int) -> Tensor:
        """Frames ``start..stop-1`` as ``(stop - start, B, ...)``; call with consecutive ranges."""
        out = self.buffer[: stop - start]
        for j in range(stop - start):
            if start + j == 0:
                if self.first is None:
                    out[0].copy_(self.c0)
                else:
                    torch.mul(self.c0, self.first, out=out[0])
            else:
                torch.mul(out[j - 1] if j else self.last, self.factor, out=out[j])
        self.last = out[stop - start - 1]
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
    """Frames ``(K, B, C, H, W)`` for amplifications ``amps`` ``(K, B)``, synthesised and clipped.

    Bands are edited and synthesised group by group (:func:`iter_edited_bands`), so memory stays
    bounded by one group whatever K: :data:`GROUP_COEFFICIENTS` on the CPU,
    :data:`DEVICE_GROUP_COEFFICIENTS` elsewhere.
    """
    k, b = amps.shape
    shared = bool(getattr(transform, "broadcasts_residuals", False))
    group = group_coefficients_for(amps.device)
    out: Tensor | None = None
    for start, stop, bands in iter_edited_bands(direction, amps, amplitude_weight, group):
        x = transform.synthesize(direction.coeffs.with_bands(bands, repeat_residuals=not shared))
        if out is None:
            out = torch.empty((k, b, *x.shape[1:]), dtype=x.dtype, device=x.device)
        torch.clamp(x.view(stop - start, b, *x.shape[1:]), 0, 1, out=out[start:stop])
    assert out is not None
    return out


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
    reuse_source_logits: bool = True,
) -> FrameBatch:
    """Synthesise, clip and score frames for amplifications ``amps`` ``(K, B)``.

    Parameters
    ----------
    source
        ``(B, C, H, W)`` the images L2 is measured against.
    keep_frames
        If False, frames are not returned (saves memory during schedule searches).
    reuse_source_logits
        If the first frame is unedited (``amps[0] == 0`` for every image) and ``direction.logits``
        holds the gradient pass's logits, that frame's probabilities are taken from them instead of
        running the classifier again. The gradient pass scored the same coefficients' synthesis
        before the [0, 1] clip, which differs from the clipped frame by float rounding (~1e-6).
    """
    k, b = amps.shape
    per_chunk = max(1, chunk_size // max(b, 1))
    known = (
        direction.logits
        if reuse_source_logits and direction.logits is not None and k and bool((amps[0] == 0).all())
        else None
    )
    # Kept frames are rendered in one pass (one running product over the whole schedule, frames
    # grouped by coefficient count) and scored in classifier chunks; otherwise each chunk is
    # rendered on its own so memory stays bounded by a chunk.
    every = clipped_frames(transform, direction, amps, amplitude_weight) if keep_frames else None
    probs, l2s = [], []
    for s in range(0, k, per_chunk):
        a = amps[s : s + per_chunk]
        x = every[s : s + per_chunk] if every is not None else clipped_frames(
            transform, direction, a, amplitude_weight)
        skip = 1 if (s == 0 and known is not None) else 0
        parts = [torch.softmax(known.float(), -1)[None]] if skip else []
        if a.shape[0] > skip:
            scored = model(x[skip:].flatten(0, 1)).float()
            parts.append(torch.softmax(scored, -1).view(a.shape[0] - skip, b, -1))
        probs.append(torch.cat(parts, 0) if len(parts) > 1 else parts[0])
        l2s.append(pixel_l2(x, source))
    max_dphi, wrapped = phase_stats(direction, amps)
    return FrameBatch(
        frames=every if every is not None else torch.empty(0),
        probs=torch.cat(probs, 0),
        l2=torch.cat(l2s, 0),
        max_abs_dphi=max_dphi,
        frac_wrapped=wrapped,
    )
