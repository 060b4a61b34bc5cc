"""Input normalisation inside a model wrapper: per-channel affine maps and their spellings.

Models take images in ``[0, 1]``; what the network expects (ImageNet mean/std, TF-lite scaling,
MNIST mean/std...) is applied by an :class:`AffineNorm` inside the
:class:`~steerlens.models.base.Classifier`, so it moves with the model across devices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from steerlens.errors import ModelError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "AffineNorm", "imagenet_norm", "parse_normalization"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class AffineNorm(nn.Module):
    """Per-channel ``x * scale + shift`` (moves with the model across devices).

    Examples
    --------
    >>> norm = imagenet_norm()
    >>> round(float(norm(torch.full((1, 3, 1, 1), 0.485))[0, 0]), 6)
    0.0
    """

    def __init__(self, scale: float | Sequence[float], shift: float | Sequence[float]) -> None:
        super().__init__()
        s = torch.as_tensor(scale, dtype=torch.float32).reshape(1, -1, 1, 1)
        b = torch.as_tensor(shift, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.register_buffer("scale", s)
        self.register_buffer("shift", b)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the affine map."""
        return x * self.scale + self.shift


def imagenet_norm(channels: int = 3) -> AffineNorm:
    """torchvision's ImageNet ``(x - mean) / std``; one channel uses the channel averages.

    Examples
    --------
    >>> round(imagenet_norm(1).scale.item(), 3)  # 1 / mean(std)
    4.425
    """
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    if channels == 1:
        mean, std = mean.mean(0, keepdim=True), std.mean(0, keepdim=True)
    return AffineNorm((1.0 / std).tolist(), (-mean / std).tolist())


def parse_normalization(
    value: str | Callable[[Tensor], Tensor] | None, channels: int
) -> Callable[[Tensor], Tensor] | None:
    """Turn ``"none" | "imagenet" | "tflite" | "mean,std"`` (or a callable) into a normaliser.

    ``"mean,std"`` is two numbers for every channel or ``2 * channels`` numbers (all means, then
    all standard deviations), e.g. ``"0.1307,0.3081"`` for MNIST.

    Examples
    --------
    >>> parse_normalization("0.5,0.25", 1)(torch.ones(1, 1, 1, 1)).item()
    2.0
    """
    if value is None or callable(value):
        return value
    key = value.strip().lower()
    if key in ("", "none"):
        return None
    if key == "imagenet":
        return imagenet_norm(channels)
    if key == "tflite":
        return AffineNorm(255.0 / 128.0, -127.0 / 128.0)
    try:
        nums = [float(v) for v in key.split(",")]
    except ValueError:
        nums = []
    if len(nums) not in (2, 2 * channels) or any(s <= 0 for s in nums[len(nums) // 2 :]):
        raise ModelError(
            f"normalization {value!r} not understood; use none, imagenet, tflite or 'mean,std' "
            f"(2 or {2 * channels} numbers, std > 0)"
        )
    half = len(nums) // 2
    mean, std = torch.tensor(nums[:half]), torch.tensor(nums[half:])
    return AffineNorm((1.0 / std).tolist(), (-mean / std).tolist())
