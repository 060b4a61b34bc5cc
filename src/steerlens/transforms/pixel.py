"""Pixel "transform": the identity, so edits are plain additive pixel changes."""

from __future__ import annotations

from torch import Tensor

from steerlens.transforms.base import Coeffs
from steerlens.validation import check_bchw


class PixelTransform:
    """Identity transform: one real band holding the image itself.

    Phase and amplitude edits are not defined (``is_complex`` is False); only additive edits are.

    Examples
    --------
    >>> import torch
    >>> t = PixelTransform()
    >>> x = torch.rand(1, 3, 5, 5)
    >>> bool(torch.equal(t.synthesize(t.analyze(x)), x))
    True
    """

    name = "pixel"
    is_complex = False

    def __repr__(self) -> str:
        return "PixelTransform()"

    def analyze(self, x: Tensor) -> Coeffs:
        """Wrap an image batch ``(B, C, H, W)`` as coefficients (no copy).

        Examples
        --------
        >>> import torch
        >>> PixelTransform().analyze(torch.zeros(1, 1, 2, 3)).band_info
        [{'kind': 'pixel', 'shape': (2, 3)}]
        """
        check_bchw(x, name="the image batch")
        shape = (int(x.shape[-2]), int(x.shape[-1]))
        return Coeffs(
            bands=[x],
            residuals={},
            image_shape=shape,
            band_info=[{"kind": "pixel", "shape": shape}],
        )

    def synthesize(self, coeffs: Coeffs) -> Tensor:
        """Return the (edited) band as the image.

        Examples
        --------
        >>> import torch
        >>> t = PixelTransform()
        >>> t.synthesize(t.analyze(torch.ones(1, 1, 1, 2)))
        tensor([[[[1., 1.]]]])
        """
        return coeffs.bands[0]
