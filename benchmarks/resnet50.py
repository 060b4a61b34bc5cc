"""A compact ResNet-50 (He et al. 2016) for cost benchmarks, without torchvision.

The layout matches ``torchvision.models.resnet50`` (v1.5: stride on the 3x3 convolution of each
bottleneck, blocks ``[3, 4, 6, 3]``, 25,557,032 parameters for 1000 classes), so its forward and
backward cost is the same. Weights are random: a benchmark's cost does not depend on them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from steerlens.models.base import Classifier
from steerlens.models.loaders import imagenet_norm


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (strided) -> 1x1 expand (x4), with a projected shortcut when needed."""

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1) -> None:
        super().__init__()
        c_out = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet50(nn.Module):
    """ResNet-50 for ``(N, 3, H, W)`` inputs, ``num_classes`` logits.

    Examples
    --------
    >>> net = ResNet50()
    >>> sum(p.numel() for p in net.parameters())
    25557032
    """

    def __init__(self, num_classes: int = 1000, blocks: tuple[int, ...] = (3, 4, 6, 3)) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        ]
        c_in = 64
        for stage, n in enumerate(blocks):
            width = 64 * 2**stage
            for i in range(n):
                layers.append(Bottleneck(c_in, width, stride=2 if (i == 0 and stage > 0) else 1))
                c_in = width * Bottleneck.expansion
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


def resnet50_classifier(seed: int = 0) -> Classifier:
    """A randomly initialised ResNet-50 wrapped as a steerlens :class:`Classifier` (224x224 RGB).

    Examples
    --------
    >>> clf = resnet50_classifier()
    >>> clf.num_classes, clf.input_size
    (1000, (224, 224))
    """
    torch.manual_seed(seed)
    net = ResNet50().eval()
    names = [f"class {i}" for i in range(1000)]
    clf = Classifier(net, names, (224, 224), 3, normalize=imagenet_norm(), name="resnet50-random",
                     spec={"architecture": "ResNet-50 (random weights, benchmark only)"})
    return clf.eval().requires_grad_(False)
