"""Model loading: the real EfficientNet-Lite0, user TorchScript / factory models, validation."""

from __future__ import annotations

import hashlib
import importlib.util

import pytest
import torch
from torch import nn

from steerlens.errors import ModelError
from steerlens.models import Classifier, list_models, load_model, validate_model
from steerlens.models.efficientnet import default_weights_path

# torch.jit.script is deprecated in torch >= 2.9, but TorchScript files are what users bring.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)

TINY_NET = """
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def build():
    return Tiny()
"""


@pytest.fixture()
def tiny_module(tmp_path, monkeypatch):
    """A real module file on disk with a ``build()`` factory; also importable as ``tinynet``."""
    path = tmp_path / "tinynet.py"
    path.write_text(TINY_NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = importlib.util.spec_from_file_location("tinynet_ref", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(0)
    return path, mod.build()


def _names_file(tmp_path, names):
    p = tmp_path / "classes.txt"
    p.write_text("\n".join(names) + "\n")
    return p


# ----------------------------------------------------------------------------- built-ins
def test_lite0_metadata_and_hash(lite0):
    assert lite0.num_classes == 1000 and lite0.class_names[285] == "Egyptian cat"
    assert lite0.input_size == (224, 224) and lite0.channels == 3
    digest = hashlib.sha256(default_weights_path().read_bytes()).hexdigest()
    assert lite0.spec["weights_sha256"] == digest
    assert not lite0.training and not any(p.requires_grad for p in lite0.parameters())


def test_lite0_recognises_bundled_photos(lite0, chelsea_224):
    from steerlens.data.images import load_builtin

    p_cat = lite0.probabilities(chelsea_224)[0]
    assert set(p_cat.topk(2).indices.tolist()) == {285, 282}  # Egyptian cat, tiger cat
    assert 0.3 < float(p_cat[285]) < 0.5 and 0.25 < float(p_cat[282]) < 0.45
    p_hopper = lite0.probabilities(load_builtin("grace_hopper", size=(224, 224)))[0]
    assert int(p_hopper.argmax()) == 652  # military uniform
    assert float(p_hopper[652]) > 0.35


def test_lite0_input_gradient_is_finite(lite0, chelsea_224):
    x = chelsea_224.clone().requires_grad_(True)
    torch.log_softmax(lite0(x), -1)[0, 282].backward()
    assert torch.isfinite(x.grad).all() and float(x.grad.abs().max()) > 0


def test_list_models():
    infos = {m.name: m for m in list_models()}
    assert {
        "efficientnet-lite0",
        "mnist-cnn",
        "mnist-cnn-robust",
        "fashion-cnn",
        "fashion-cnn-robust",
    } <= set(infos)
    lite = infos["efficientnet-lite0"]
    assert (lite.input_size, lite.channels, lite.num_classes) == ((224, 224), 3, 1000)
    assert (infos["mnist-cnn"].input_size, infos["mnist-cnn"].channels) == ((28, 28), 1)


def test_mnist_builtin(request):
    pytest.importorskip("steerlens.models.training")
    model = request.getfixturevalue("mnist_model")
    assert (model.input_size, model.channels, model.num_classes) == ((28, 28), 1, 10)
    validate_model(model, "cpu")


def test_builtins_reject_user_options(tmp_path):
    with pytest.raises(ModelError, match="trains its own weights"):
        load_model("mnist-cnn", weights=tmp_path / "w.pt")
    with pytest.raises(ModelError, match="defines its own input_size"):
        load_model("efficientnet-lite0", input_size=(32, 32))


def test_unknown_model_suggests_close_names():
    with pytest.raises(ModelError, match="unknown model 'mnist-cn'; did you mean mnist-cnn"):
        load_model("mnist-cn")
    with pytest.raises(ModelError, match="did you mean efficientnet-lite0"):
        load_model("efficientnet-lite")
    with pytest.raises(ModelError, match="name the factory function"):
        load_model("mynet.py")


@pytest.mark.parametrize("hub", ["torchvision", "timm"])
def test_hub_models_need_the_extra(hub):
    if importlib.util.find_spec(hub) is not None:
        pytest.skip(f"{hub} is installed here")
    with pytest.raises(
        ModelError, match=rf"^{hub} is not installed; pip install 'steerlens\[hub\]'"
    ):
        load_model(f"{hub}:resnet18")


# ----------------------------------------------------------------------------- TorchScript
def test_torchscript_round_trip(tmp_path, tiny_module):
    _, net = tiny_module
    path = tmp_path / "tiny.pt"
    torch.jit.script(net).save(str(path))
    model = load_model(
        path, input_size=16, channels=1, class_names=_names_file(tmp_path, ["a", "b", "c"])
    )
    x = torch.rand(2, 1, 16, 16)
    torch.testing.assert_close(model(x), net(x))
    assert model.class_names == ["a", "b", "c"] and model.input_size == (16, 16)
    assert model.spec["weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # Defaults: class names from the output size.
    assert load_model(str(path), channels=1).class_names == ["class_0", "class_1", "class_2"]


def test_state_dict_is_not_torchscript(tmp_path, tiny_module):
    _, net = tiny_module
    path = tmp_path / "weights.pth"
    torch.save(net.state_dict(), path)
    with pytest.raises(
        ModelError, match="is not a TorchScript file .*module:factory with --weights"
    ):
        load_model(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nope.pt")


# ----------------------------------------------------------------------------- factory + weights
@pytest.mark.parametrize("form", ["file", "module"])
def test_factory_with_weights_round_trip(tmp_path, tiny_module, form):
    path, net = tiny_module
    w = tmp_path / "w.pt"
    torch.save(net.state_dict(), w)
    spec = f"{path}:build" if form == "file" else "tinynet:build"
    model = load_model(spec, weights=w, input_size=(12, 20), channels=1, normalize="0.5,0.25")
    x = torch.rand(3, 1, 12, 20)
    torch.testing.assert_close(model(x), net((x - 0.5) / 0.25))
    assert model.spec["weights_sha256"] == hashlib.sha256(w.read_bytes()).hexdigest()
    assert model.class_names == ["class_0", "class_1", "class_2"]


def test_mismatched_weights_one_line_error(tmp_path, tiny_module):
    path, _ = tiny_module
    w = tmp_path / "other.pt"
    torch.save({"something_else.weight": torch.zeros(3)}, w)
    with pytest.raises(ModelError) as info:
        load_model(f"{path}:build", weights=w, channels=1)
    msg = str(info.value)
    assert "\n" not in msg
    assert "missing keys conv.weight, conv.bias, head.weight (+1 more)" in msg
    assert "unexpected keys something_else.weight" in msg and "same architecture" in msg


def test_weights_with_wrong_shapes(tmp_path, tiny_module):
    path, net = tiny_module
    state = net.state_dict()
    state["head.weight"] = torch.zeros(5, 4)
    w = tmp_path / "bad_shape.pt"
    torch.save(state, w)
    with pytest.raises(
        ModelError, match=r"shape mismatch for head.weight \(file \(5, 4\), model \(3, 4\)\)"
    ):
        load_model(f"{path}:build", weights=w, channels=1)


def test_factory_errors(tmp_path, tiny_module):
    path, _ = tiny_module
    with pytest.raises(ModelError, match="no factory function 'biuld'; did you mean build"):
        load_model(f"{path}:biuld")
    with pytest.raises(ModelError, match="cannot import module 'no_such_pkg_xyz'"):
        load_model("no_such_pkg_xyz:build")


def test_normalisation_options(tmp_path, tiny_module):
    path, _ = tiny_module
    model = load_model(f"{path}:build", channels=1, normalize="imagenet")
    x = torch.rand(1, 1, 224, 224)
    torch.testing.assert_close(model(x), model.net((x - 0.449) / 0.226), atol=1e-4, rtol=1e-4)
    with pytest.raises(ModelError, match="normalization 'median' not understood"):
        load_model(f"{path}:build", channels=1, normalize="median")


# ----------------------------------------------------------------------------- validation
class _Images(nn.Module):
    def forward(self, x):
        return x * 2.0  # (N, C, H, W), not logits


class _NaNs(nn.Module):
    def forward(self, x):
        return torch.full((x.shape[0], 4), float("nan"))


def test_validate_rejects_image_shaped_output():
    with pytest.raises(ModelError, match=r"output has shape \(1, 3, 8, 8\); expected logits"):
        validate_model(Classifier(_Images(), ["a"], (8, 8), 3, name="img"), "cpu")


def test_validate_rejects_nan_output():
    with pytest.raises(ModelError, match="output is not finite"):
        validate_model(Classifier(_NaNs(), list("abcd"), (8, 8), 3, name="nan"), "cpu")


def test_validate_rejects_class_count_mismatch_and_bad_input():
    lin = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3))
    with pytest.raises(ModelError, match="outputs 3 logits but has 2 class names"):
        validate_model(Classifier(lin, ["a", "b"], (4, 4), 3), "cpu")
    with pytest.raises(ModelError, match=r"failed on an input of shape \(1, 1, 4, 4\)"):
        validate_model(Classifier(lin, ["a", "b", "c"], (4, 4), 1), "cpu")
    validate_model(Classifier(lin, ["a", "b", "c"], (4, 4), 3), "cpu")


def test_load_model_validates_torchscript(tmp_path):
    p = tmp_path / "nan.pt"
    torch.jit.script(_NaNs()).save(str(p))
    with pytest.raises(ModelError, match="not finite"):
        load_model(p)
