"""Global Fourier transform: one complex band, the image's real 2-D spectrum."""

from __future__ import annotations

import torch
from torch import Tensor

from steerlens.transforms.base import Coeffs
from steerlens.validation import check_bchw


class FourierTransform:
    """``rfft2`` of the image (``norm="ortho"``) as a single editable complex band.

    Bands are ``[rfft2(x)]`` of shape ``(N, C, H, W // 2 + 1)``; there are no residuals, and
    synthesis is ``irfft2(band, s=(H, W))`` so frames are always real.

    Notes
    -----
    Every coefficient is editable, including the DC term (index ``[..., 0, 0]``, the image mean
    times ``sqrt(H * W)``): a phase edit there can flip or scale the mean brightness. The DC term,
    and for even sizes the Nyquist row/column, must be Hermitian for a real image; ``irfft2``
    keeps only their Hermitian part, so phase edits on them act through their real part only.

    Examples
    --------
    >>> import torch
    >>> t = FourierTransform()
    >>> x = torch.rand(2, 3, 9, 10)
    >>> c = t.analyze(x)
    >>> tuple(c.bands[0].shape)
    (2, 3, 9, 6)
    >>> bool(torch.allclose(t.synthesize(c), x, atol=1e-6))
    True
    """

    name = "fourier"
    is_complex = True

    def __repr__(self) -> str:
        return "FourierTransform()"

    def analyze(self, x: Tensor) -> Coeffs:
        """Real 2-D FFT of an image batch ``(B, C, H, W)``.

        Examples
        --------
        >>> import torch
        >>> FourierTransform().analyze(torch.ones(1, 1, 4, 4)).bands[0][0, 0, 0, 0]
        tensor(4.+0.j)
        """
        check_bchw(x, name="the image batch")
        x = x if x.dtype in (torch.float32, torch.float64) else x.float()
        h, w = x.shape[-2:]
        band = torch.fft.rfft2(x, norm="ortho")
        info = {"kind": "fourier", "shape": (int(h), int(w) // 2 + 1)}
        return Coeffs(bands=[band], residuals={}, image_shape=(int(h), int(w)), band_info=[info])

    def synthesize(self, coeffs: Coeffs) -> Tensor:
        """Inverse real FFT back to ``(N, C, H, W)``.

        Examples
        --------
        >>> import torch
        >>> t = FourierTransform()
        >>> x = torch.rand(1, 1, 5, 4)
        >>> float((t.synthesize(t.analyze(x)) - x).abs().max()) < 1e-6
        True
        """
        return torch.fft.irfft2(coeffs.bands[0], s=coeffs.image_shape, norm="ortho")
