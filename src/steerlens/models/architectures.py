"""Small image classifiers for 28x28 / 32x32 grey or RGB inputs, trainable on CPU in seconds.

Three architectures that differ in kind, so a morph that fools one is unlikely to fool the others
by accident:

=============== ============================================================ =================
name            layers                                                       role
=============== ============================================================ =================
``cnn``         conv3x3(16)-pool-conv3x3(32)-pool-flatten-fc128-fc           driver (gradients)
``resnet-mini`` conv stem, 3 residual stages (width w, 2w, 4w) with BN,      judge
                global average pool, linear
``mlp``         flatten-fc512-fc512-fc (no convolution, no weight sharing)   judge
=============== ============================================================ =================

The driver keeps a flatten + FC head: a global-average-pool head trained much worse in the
measurements of ``offline-data.md`` (91 % vs 96.7 % on MNIST-4k). All networks take inputs in
``[0, 1]``; the residual net normalises itself with batch norm, the others learn any offset.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ARCHITECTURES", "MLP", "ResNetMini", "SmallCNN", "build"]


class SmallCNN(nn.Module):
    """conv-pool-conv-pool-fc-fc classifier (the driver model).

    Parameters
    ----------
    in_channels, num_classes
        Input channels (1 or 3) and number of logits.
    image_size
        ``(H, W)``; both must be divisible by 4.
    width
        Channels of the first conv; the second has ``2 * width``.
    hidden
        Units of the hidden fully connected layer.

    Examples
    --------
    >>> import torch
    >>> SmallCNN(1, 10, (28, 28))(torch.rand(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: tuple[int, int],
        width: int = 16,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        h, w = image_size
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * width * (h // 4) * (w // 4), hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Logits for ``x`` of shape ``(N, C, H, W)``."""
        return self.head(self.features(x))


class _Block(nn.Module):
    """Pre-activation-free basic residual block: conv-BN-ReLU-conv-BN + shortcut, ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ResNetMini(nn.Module):
    """A three-stage residual network with a global-average-pool head (a judge).

    The stem halves the resolution (28 -> 14) to keep CPU training to seconds; stages run at
    14, 7 and 4 pixels with ``width``, ``2 * width`` and ``4 * width`` channels.

    Examples
    --------
    >>> import torch
    >>> ResNetMini(3, 10, (32, 32))(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self, in_channels: int, num_classes: int, image_size: tuple[int, int], width: int = 16
    ) -> None:
        super().__init__()
        del image_size  # global average pooling makes the net size-agnostic
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.stages = nn.Sequential(
            _Block(width, width, 1),
            _Block(width, 2 * width, 2),
            _Block(2 * width, 4 * width, 2),
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Logits for ``x`` of shape ``(N, C, H, W)``."""
        return self.head(self.stages(self.stem(x)))


class MLP(nn.Module):
    """Two hidden layers of ``width`` ReLU units on the flattened image (a judge).

    Examples
    --------
    >>> import torch
    >>> MLP(1, 10, (28, 28))(torch.rand(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self, in_channels: int, num_classes: int, image_size: tuple[int, int], width: int = 512
    ) -> None:
        super().__init__()
        h, w = image_size
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * h * w, width),
            nn.ReLU(),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Linear(width, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Logits for ``x`` of shape ``(N, C, H, W)``."""
        return self.net(x)


ARCHITECTURES: dict[str, type[nn.Module]] = {
    "cnn": SmallCNN,
    "resnet-mini": ResNetMini,
    "mlp": MLP,
}


def build(
    arch: str, in_channels: int, num_classes: int, image_size: int | tuple[int, int]
) -> nn.Module:
    """Instantiate architecture ``arch`` (weights from the current torch RNG state).

    Parameters
    ----------
    arch
        One of ``"cnn"``, ``"resnet-mini"``, ``"mlp"``.
    in_channels
        1 (grey) or 3 (RGB).
    num_classes
        Number of output logits.
    image_size
        ``H`` (square) or ``(H, W)``. ``"cnn"`` needs both divisible by 4.

    Examples
    --------
    >>> import torch
    >>> net = build("cnn", 1, 10, 28)
    >>> net(torch.rand(1, 1, 28, 28)).shape
    torch.Size([1, 10])
    """
    from steerlens.errors import ConfigError

    if arch not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {arch!r}; use one of {sorted(ARCHITECTURES)}")
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if in_channels not in (1, 3):
        raise ConfigError(f"in_channels must be 1 or 3 (got {in_channels})")
    if arch == "cnn" and (size[0] % 4 or size[1] % 4):
        raise ConfigError(f"the 'cnn' architecture needs H and W divisible by 4 (got {size})")
    return ARCHITECTURES[arch](in_channels, num_classes, (int(size[0]), int(size[1])))
