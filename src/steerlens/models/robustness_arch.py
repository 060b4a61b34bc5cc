"""The ResNet families of MadryLab's ``robustness`` library, in plain torch (no torchvision).

Parameter and buffer names are those of ``robustness/imagenet_models/resnet.py`` (torchvision's
ResNet layout: ``conv1``, ``bn1``, ``layerN.i.{conv,bn}k``, ``layerN.0.downsample.{0,1}``, ``fc``)
and ``robustness/cifar_models/resnet.py`` (3x3 stem, ``layerN.i.shortcut.{0,1}``, ``linear``,
4x4 average pool), so the library's checkpoints load into them with ``strict=True``. Only the
plain forward pass is kept (no ``with_latent`` / ``fake_relu``); ReLUs are out of place, which
gives the same values and gradients.

``IMAGENET_ARCHS`` and ``CIFAR_ARCHS`` name what the library names: ``resnet18/34/50/101/152``,
``wide_resnet50_2`` ... ``wide_resnet50_6``, ``wide_resnet101_2``, ``resnext50_32x4d``,
``resnext101_32x8d`` (ImageNet family) and ``resnet18/34/50/101/152``, ``resnet18wide`` (CIFAR
family; the library has no separate CIFAR WideResNet).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CIFAR_ARCHS", "IMAGENET_ARCHS", "ArchSpec", "CifarResNet", "ImageNetResNet", "build"]


# ----------------------------------------------------------------------------- ImageNet family
class ImageNetBasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual (``expansion = 1``)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, groups: int = 1,
                 base_width: int = 64) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """Block output."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class ImageNetBottleneck(nn.Module):
    """1x1, 3x3 (stride, groups), 1x1 convolutions with a residual (``expansion = 4``)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, groups: int = 1,
                 base_width: int = 64) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """Block output."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class ImageNetResNet(nn.Module):
    """``robustness.imagenet_models.resnet.ResNet``: 7x7 stem, max-pool, four stages, ``fc``.

    Examples
    --------
    >>> net = ImageNetResNet(ImageNetBasicBlock, [1, 1, 1, 1], num_classes=5)
    >>> net(torch.rand(2, 3, 64, 64)).shape
    torch.Size([2, 5])
    >>> sorted(net.state_dict())[:3]
    ['bn1.bias', 'bn1.num_batches_tracked', 'bn1.running_mean']
    """

    def __init__(self, block: type[ImageNetBasicBlock | ImageNetBottleneck],
                 layers: list[int], num_classes: int = 1000, groups: int = 1,
                 width_per_group: int = 64) -> None:
        super().__init__()
        self.inplanes, self.groups, self.base_width = 64, groups, width_per_group
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block: type[ImageNetBasicBlock | ImageNetBottleneck],
                    planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, 1, None, self.groups, self.base_width)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Logits for normalised images."""
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# ----------------------------------------------------------------------------- CIFAR family
class CifarBasicBlock(nn.Module):
    """``robustness.cifar_models.resnet.BasicBlock`` (``shortcut`` instead of ``downsample``)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x: Tensor) -> Tensor:
        """Block output."""
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarBottleneck(nn.Module):
    """``robustness.cifar_models.resnet.Bottleneck``."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x: Tensor) -> Tensor:
        """Block output."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + self.shortcut(x))


def _shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    if stride == 1 and in_planes == out_planes:
        return nn.Sequential()
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride, bias=False),
                         nn.BatchNorm2d(out_planes))


class CifarResNet(nn.Module):
    """``robustness.cifar_models.resnet.ResNet``: 3x3 stem, four stages, 4x4 pool, ``linear``.

    Takes 32x32 images (the 4x4 pool after three stride-2 stages leaves 1x1).

    Examples
    --------
    >>> net = CifarResNet(CifarBasicBlock, [1, 1, 1, 1], num_classes=10, wm=0.25)
    >>> net(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self, block: type[CifarBasicBlock | CifarBottleneck],
                 num_blocks: list[int], num_classes: int = 10, wm: float = 1) -> None:
        super().__init__()
        widths = [int(w * wm) for w in (64, 128, 256, 512)]
        self.in_planes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.layer1 = self._make_layer(block, widths[0], num_blocks[0], 1)
        self.layer2 = self._make_layer(block, widths[1], num_blocks[1], 2)
        self.layer3 = self._make_layer(block, widths[2], num_blocks[2], 2)
        self.layer4 = self._make_layer(block, widths[3], num_blocks[3], 2)
        self.linear = nn.Linear(widths[3] * block.expansion, num_classes)

    def _make_layer(self, block: type[CifarBasicBlock | CifarBottleneck], planes: int,
                    num_blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (num_blocks - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Logits for normalised 32x32 images."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(torch.flatten(F.avg_pool2d(out, 4), 1))


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class ArchSpec:
    """How to build one named architecture: ``build(num_classes) -> nn.Module``."""

    family: str
    build: Callable[[int], nn.Module]
    head: str  # name of the final linear layer ("fc" or "linear")


def _imagenet(block: type, layers: list[int], groups: int = 1, width: int = 64) -> ArchSpec:
    return ArchSpec("imagenet", lambda n: ImageNetResNet(block, layers, n, groups, width), "fc")


def _cifar(block: type, blocks: list[int], wm: float = 1) -> ArchSpec:
    return ArchSpec("cifar", lambda n: CifarResNet(block, blocks, n, wm), "linear")


_R18, _R34, _R50 = [2, 2, 2, 2], [3, 4, 6, 3], [3, 4, 6, 3]
_R101, _R152 = [3, 4, 23, 3], [3, 8, 36, 3]
IMAGENET_ARCHS: dict[str, ArchSpec] = {
    "resnet18": _imagenet(ImageNetBasicBlock, _R18),
    "resnet34": _imagenet(ImageNetBasicBlock, _R34),
    "resnet50": _imagenet(ImageNetBottleneck, _R50),
    "resnet101": _imagenet(ImageNetBottleneck, _R101),
    "resnet152": _imagenet(ImageNetBottleneck, _R152),
    "resnext50_32x4d": _imagenet(ImageNetBottleneck, _R50, 32, 4),
    "resnext101_32x8d": _imagenet(ImageNetBottleneck, _R101, 32, 8),
    **{f"wide_resnet50_{k}": _imagenet(ImageNetBottleneck, _R50, 1, 64 * k) for k in range(2, 7)},
    "wide_resnet101_2": _imagenet(ImageNetBottleneck, _R101, 1, 128),
}
CIFAR_ARCHS: dict[str, ArchSpec] = {
    "resnet18": _cifar(CifarBasicBlock, _R18),
    "resnet34": _cifar(CifarBasicBlock, _R34),
    "resnet50": _cifar(CifarBottleneck, _R50),
    "resnet101": _cifar(CifarBottleneck, _R101),
    "resnet152": _cifar(CifarBottleneck, _R152),
    "resnet18wide": _cifar(CifarBasicBlock, _R18, 5),
}


def build(family: str, arch: str, num_classes: int) -> nn.Module:
    """A freshly initialised network of ``family`` (``"imagenet"`` / ``"cifar"``) and ``arch``.

    Examples
    --------
    >>> n = sum(p.numel() for p in build("imagenet", "resnet50", 1000).parameters())
    >>> n   # torchvision's resnet50 has 25,557,032 parameters
    25557032
    """
    table = IMAGENET_ARCHS if family == "imagenet" else CIFAR_ARCHS
    return table[arch].build(num_classes)
