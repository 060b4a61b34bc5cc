"""Colour handling: run a transform on luminance only (YIQ), keeping chroma fixed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from steerlens.errors import ImageError
from steerlens.transforms.base import Coeffs, Transform

#: NTSC RGB -> YIQ matrix (rows: Y, I, Q)
RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ]
)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)  # exact inverse, so RGB -> YIQ -> RGB round-trips


def _mix(x: Tensor, matrix: np.ndarray) -> Tensor:
    m = torch.as_tensor(matrix, dtype=x.dtype, device=x.device)
    return torch.einsum("ij,njhw->nihw", m, x)


def rgb_to_yiq(x: Tensor) -> Tensor:
    """Convert ``(N, 3, H, W)`` RGB to YIQ (Y in channel 0).

    Examples
    --------
    >>> import torch
    >>> rgb_to_yiq(torch.ones(1, 3, 1, 1)).flatten().round(decimals=4).tolist()
    [1.0, 0.0, 0.0]
    """
    return _mix(x, RGB_TO_YIQ)


def yiq_to_rgb(x: Tensor) -> Tensor:
    """Convert ``(N, 3, H, W)`` YIQ back to RGB.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    >>> bool(torch.allclose(yiq_to_rgb(rgb_to_yiq(x)), x))
    True
    """
    return _mix(x, YIQ_TO_RGB)


class Luminance:
    """Apply ``inner`` to the luminance (Y of YIQ) of RGB images; chroma (I, Q) is kept as is.

    RGB input ``(B, 3, H, W)`` becomes Y ``(B, 1, H, W)`` for the inner transform; the I and Q
    planes are stored in ``residuals["chroma"]`` ``(B, 2, H, W)`` so band edits change brightness
    structure only. Grayscale input ``(B, 1, H, W)`` passes straight through to ``inner``.

    Parameters
    ----------
    inner
        The transform to run on luminance.

    Examples
    --------
    >>> import torch
    >>> from steerlens.transforms.pyramid import SteerablePyramid
    >>> t = Luminance(SteerablePyramid(scales=2))
    >>> x = torch.rand(1, 3, 32, 32)
    >>> c = t.analyze(x)
    >>> c.bands[0].shape[1], tuple(c.residuals["chroma"].shape)
    (1, (1, 2, 32, 32))
    >>> bool((t.synthesize(c) - x).abs().max() < 1e-5)
    True
    """

    def __init__(self, inner: Transform) -> None:
        self.inner = inner
        self.name = inner.name
        self.is_complex = inner.is_complex

    def __repr__(self) -> str:
        return f"Luminance({self.inner!r})"

    def analyze(self, x: Tensor) -> Coeffs:
        """Analyse the luminance of ``x`` (RGB) or ``x`` itself (grayscale).

        Examples
        --------
        >>> import torch
        >>> from steerlens.transforms.pixel import PixelTransform
        >>> sorted(Luminance(PixelTransform()).analyze(torch.rand(1, 3, 4, 4)).residuals)
        ['chroma']
        """
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ImageError(
                f"luminance colour mode needs (B, 1, H, W) or (B, 3, H, W) images, got "
                f"{tuple(x.shape)}; use color='rgb' for other channel counts"
            )
        if x.shape[1] == 1:
            return self.inner.analyze(x)
        if not x.is_floating_point():
            x = x.float()
        yiq = rgb_to_yiq(x)
        coeffs = self.inner.analyze(yiq[:, :1])
        if "chroma" in coeffs.residuals:
            raise ValueError("inner transform already uses the residual name 'chroma'")
        return replace(coeffs, residuals={**coeffs.residuals, "chroma": yiq[:, 1:]})

    def synthesize(self, coeffs: Coeffs) -> Tensor:
        """Rebuild RGB from luminance coefficients and the stored chroma (or pass through).

        Examples
        --------
        >>> import torch
        >>> from steerlens.transforms.pixel import PixelTransform
        >>> t = Luminance(PixelTransform())
        >>> x = torch.rand(2, 3, 4, 4, dtype=torch.float64)
        >>> bool(torch.allclose(t.synthesize(t.analyze(x)), x))
        True
        """
        if "chroma" not in coeffs.residuals:
            return self.inner.synthesize(coeffs)
        residuals = dict(coeffs.residuals)
        chroma = residuals.pop("chroma")
        y = self.inner.synthesize(replace(coeffs, residuals=residuals))
        if chroma.shape[0] != y.shape[0]:
            chroma = chroma.expand(y.shape[0], *chroma.shape[1:])
        return yiq_to_rgb(torch.cat([y, chroma.to(y.dtype)], dim=1))
