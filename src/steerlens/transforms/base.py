"""The transform interface shared by the CSP, Fourier and pixel representations.

A transform turns an image batch ``x`` of shape ``(B, C, H, W)`` into :class:`Coeffs`: a list of
*editable bands* (complex for CSP/Fourier, real for the pixel transform) and a dict of real
*residuals* that morphs never edit. ``synthesize(analyze(x))`` reconstructs ``x``.

Every band and residual tensor has the batch as its first dimension and the colour channel as its
second, so a morph renders K frames by repeating coefficients along dimension 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor


@dataclass
class Coeffs:
    """Coefficients of an image batch in some transform.

    Parameters
    ----------
    bands
        Editable tensors, each ``(N, C, ...)``. Complex for CSP (``(N, C, O, h, w)`` per scale,
        finest first) and Fourier (``(N, C, H, W//2+1)``); real for pixel (``(N, C, H, W)``).
    residuals
        Real tensors that edits keep at their source values (CSP high/low-pass, chroma planes).
    image_shape
        ``(H, W)`` of the image the coefficients came from (before any padding).
    band_info
        One dict per band describing it, e.g. ``{"scale": 0, "orientations": 4}``; used by band
        selection and displacement read-outs.

    Examples
    --------
    >>> import torch
    >>> c = Coeffs(bands=[torch.ones(1, 1, 4, 4)], residuals={}, image_shape=(4, 4))
    >>> c.repeat(3).bands[0].shape
    torch.Size([3, 1, 4, 4])
    """

    bands: list[Tensor]
    residuals: dict[str, Tensor]
    image_shape: tuple[int, int]
    band_info: list[dict[str, Any]] = field(default_factory=list)

    @property
    def batch_size(self) -> int:
        """Leading (batch) dimension shared by all tensors."""
        return self.bands[0].shape[0]

    def map(self, fn: Callable[[Tensor], Tensor], residuals: bool = True) -> Coeffs:
        """Apply ``fn`` to every band (and residual, unless ``residuals=False``)."""
        res = {k: fn(v) for k, v in self.residuals.items()} if residuals else dict(self.residuals)
        return replace(self, bands=[fn(b) for b in self.bands], residuals=res)

    def with_bands(self, bands: list[Tensor], repeat_residuals: bool = True) -> Coeffs:
        """Same coefficients with ``bands`` replaced.

        Residuals are repeated to the new batch size, unless ``repeat_residuals=False`` (for a
        transform whose ``broadcasts_residuals`` is true, so each source's residuals are transformed
        once for all its frames).
        """
        n = bands[0].shape[0]
        res = (
            {k: _expand_batch(v, n) for k, v in self.residuals.items()}
            if repeat_residuals
            else dict(self.residuals)
        )
        return replace(self, bands=list(bands), residuals=res)

    def repeat(self, k: int) -> Coeffs:
        """Repeat each batch element ``k`` times along dimension 0 (frame-major: ``k`` blocks)."""
        return self.map(lambda t: t.repeat(k, *([1] * (t.dim() - 1))))

    def detach(self) -> Coeffs:
        """Detached copy (no autograd history)."""
        return self.map(lambda t: t.detach())


def _expand_batch(t: Tensor, n: int) -> Tensor:
    if t.shape[0] == n:
        return t
    if n % t.shape[0] != 0:
        raise ValueError(f"cannot broadcast residual batch {t.shape[0]} to {n}")
    return t.repeat(n // t.shape[0], *([1] * (t.dim() - 1)))


@runtime_checkable
class Transform(Protocol):
    """Invertible, differentiable image representation.

    ``analyze`` and ``synthesize`` must accept any batch size, any device and float32/float64, and
    be differentiable. ``is_complex`` says whether bands are complex (phase/amplitude edits are
    defined) or real (additive edits only).
    """

    name: str
    is_complex: bool

    def analyze(self, x: Tensor) -> Coeffs:  # pragma: no cover - protocol
        ...

    def synthesize(self, coeffs: Coeffs) -> Tensor:  # pragma: no cover - protocol
        ...


def reconstruction_error(transform: Transform, x: Tensor) -> float:
    """Max absolute error of ``synthesize(analyze(x))`` against ``x``.

    Examples
    --------
    >>> import torch
    >>> from steerlens.transforms import PixelTransform
    >>> reconstruction_error(PixelTransform(), torch.rand(1, 1, 8, 8))
    0.0
    """
    with torch.no_grad():
        return float((transform.synthesize(transform.analyze(x)) - x).abs().max())
