"""MadryLab ``robustness`` checkpoints, made here in the library's exact formats, and RobustBench specs.

The checkpoints are what ``robustness.train.train_model`` writes: ``{"model": AttackerModel
state, "optimizer", "schedule", "epoch", "amp", "adv_prec1"}`` through ``torch.save(...,
pickle_module=dill)`` (dill where it is installed), with the ``module.`` DataParallel prefix, the
``normalizer`` / ``attacker.normalize`` buffers and the classifier twice (``model.`` and
``attacker.model.``); older variants (``state_dict`` key, the pre-1.6 non-zip format, a training
``argparse.Namespace``) too. The networks are random with non-trivial BatchNorm statistics, so a
wrong key, a missing normaliser or the wrong mean/std changes the logits.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

import steerlens
from steerlens.cli import main
from steerlens.errors import ModelError
from steerlens.models import load_model
from steerlens.models.robustness_arch import build
from steerlens.models.robustness_ckpt import guess_arch, read_checkpoint

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _net(family: str, arch: str, classes: int, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = build(family, arch, classes).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.num_batches_tracked.fill_(1234)
    return net


def _attacker_state(net, mean, std, parallel: bool = True, twice: bool = True) -> dict:
    """The state dict of robustness's (DataParallel-wrapped) AttackerModel around ``net``."""
    m = torch.tensor(mean)[:, None, None]
    s = torch.tensor(std)[:, None, None]
    pre = "module." if parallel else ""
    sd = {f"{pre}normalizer.new_mean": m, f"{pre}normalizer.new_std": s}
    sd.update({f"{pre}model.{k}": v.clone() for k, v in net.state_dict().items()})
    if twice:
        sd.update({f"{pre}attacker.normalize.new_mean": m.clone(),
                   f"{pre}attacker.normalize.new_std": s.clone()})
        sd.update({f"{pre}attacker.model.{k}": v.clone() for k, v in net.state_dict().items()})
    return sd


def _sd_info(state: dict, net, key: str = "model", **extra) -> dict:
    """robustness.train's ``sd_info``: an SGD optimizer state and StepLR schedule as saved."""
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=50, gamma=0.1)
    return {key: state, "optimizer": opt.state_dict(), "schedule": sched.state_dict(),
            "epoch": 150, "amp": None, "adv_prec1": torch.tensor(51.25), **extra}


def _pickle_module(name: str):
    if name == "dill":
        return pytest.importorskip("dill")
    return pickle


def _manual(net, x, mean, std):
    m, s = torch.tensor(mean)[:, None, None], torch.tensor(std)[:, None, None]
    with torch.no_grad():
        return net((x - m) / s)


@pytest.fixture(scope="module")
def cifar_ckpt(tmp_path_factory):
    """robustness CIFAR ResNet-18 (random), saved as robustness saves it; a non-default mean/std."""
    net = _net("cifar", "resnet18", 10)
    mean, std = (0.3, 0.4, 0.5), (0.25, 0.2, 0.3)  # not CIFAR's: proves the file's are used
    path = tmp_path_factory.mktemp("ck") / "cifar_l2_0_5.pt"
    pm = importlib.import_module("dill") if importlib.util.find_spec("dill") else pickle
    torch.save(_sd_info(_attacker_state(net, mean, std), net), path, pickle_module=pm)
    return path, net, mean, std


@pytest.fixture(scope="module")
def photo32(tmp_path_factory):
    from skimage import data

    p = tmp_path_factory.mktemp("img") / "chelsea32.png"
    Image.fromarray(data.chelsea()).resize((32, 32), Image.Resampling.BICUBIC).save(p)
    return p


# ----------------------------------------------------------------------------- formats
FORMATS = {
    # name: (container key, DataParallel prefix, classifier twice, zip format, pickle module, extra)
    "robustness-train-dill": ("model", True, True, True, "dill", {}),
    "robustness-train-pickle": ("model", True, True, True, "pickle", {}),
    "legacy-state_dict-nonzip": ("state_dict", True, True, False, "pickle", {}),
    "with-args-namespace": ("model", True, True, True, "pickle",
                            {"args": argparse.Namespace(arch="resnet18", eps=0.5, constraint="2")}),
    "no-dataparallel-prefix": ("model", False, True, True, "pickle", {}),
    "model-prefix-only": ("model", True, False, True, "pickle", {}),
}


@pytest.mark.parametrize("form", list(FORMATS))
def test_each_format_loads_strictly_with_the_normaliser_inside(form, tmp_path):
    key, parallel, twice, zipped, pm, extra = FORMATS[form]
    net = _net("cifar", "resnet18", 10, seed=1)
    state = _attacker_state(net, CIFAR_MEAN, CIFAR_STD, parallel=parallel, twice=twice)
    path = tmp_path / "ck.pt"
    torch.save(_sd_info(state, net, key, **extra), path, pickle_module=_pickle_module(pm),
               _use_new_zipfile_serialization=zipped)
    clf = load_model(f"robustness:cifar:resnet18:{path}")
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = clf(x)
    want = _manual(net, x, CIFAR_MEAN, CIFAR_STD)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)
    # without the normaliser the logits differ 100x more than the tolerance: the check means something
    with torch.no_grad():
        assert (net(x) - want).abs().max() > 1e-3
    assert clf.input_size == (32, 32) and clf.class_names[3] == "cat"
    assert clf.spec["epoch"] == 150 and clf.spec["adv_prec1"] == pytest.approx(51.25)
    assert clf.spec["source"] == "robustness" and len(clf.spec["weights_sha256"]) == 64


def test_attacker_model_prefix_alone_and_a_bare_state_dict(tmp_path):
    net = _net("cifar", "resnet18", 10, seed=2)
    x = torch.rand(2, 3, 32, 32)
    want = _manual(net, x, CIFAR_MEAN, CIFAR_STD)
    only_attacker = {k: v for k, v in _attacker_state(net, CIFAR_MEAN, CIFAR_STD).items()
                     if k.startswith("module.attacker.")}
    torch.save({"model": only_attacker, "epoch": 3}, tmp_path / "a.pt")
    torch.save(net.state_dict(), tmp_path / "bare.pt")  # no normaliser: the dataset's is used
    # pre-0.4.1 BatchNorm had no step counters: they are filled, everything else stays strict
    old = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"model": old}, tmp_path / "old.pt")
    for name in ("a.pt", "bare.pt", "old.pt"):
        clf = load_model(f"robustness:cifar:resnet18:{tmp_path / name}")
        with torch.no_grad():
            assert torch.allclose(clf(x), want, atol=1e-5, rtol=1e-5), name
    assert "dataset default" in clf.spec["input_normalization"]


def test_file_normaliser_is_the_one_applied(cifar_ckpt):
    path, net, mean, std = cifar_ckpt
    clf = load_model(f"robustness:cifar:resnet18:{path}")
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        got = clf(x)
    assert torch.allclose(got, _manual(net, x, mean, std), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got, _manual(net, x, CIFAR_MEAN, CIFAR_STD), atol=1e-3)
    assert "from the checkpoint" in clf.spec["input_normalization"]


def test_imagenet_resnet18_checkpoint_full_and_small_input(tmp_path, photo32):
    net = _net("imagenet", "resnet18", 1000, seed=3)
    path = tmp_path / "resnet18_l2_eps3.ckpt"
    torch.save(_sd_info(_attacker_state(net, IMAGENET_MEAN, IMAGENET_STD), net), path)
    clf = load_model(f"robustness:imagenet:resnet18:{path}")
    assert clf.input_size == (224, 224) and clf.class_names[285] == "Egyptian cat"
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(clf(x), _manual(net, x, IMAGENET_MEAN, IMAGENET_STD), atol=1e-4)
    small = load_model(f"robustness:imagenet:resnet18:{path}", input_size=64)
    res = steerlens.morph(small, photo32, "tiger cat", method="pixel", frames=3, regime="one-step")
    assert res.frames.shape == (3, 3, 64, 64)
    assert res.scores[-1].p_target > res.scores[0].p_target


def test_architectures_match_the_reference_parameter_counts():
    """Counts of torchvision's ResNets (same layout as robustness's ImageNet models) and of the
    library's CIFAR ResNet-18; built on the meta device (shapes only)."""
    want = {("imagenet", "resnet18", 1000): 11_689_512, ("imagenet", "resnet50", 1000): 25_557_032,
            ("imagenet", "wide_resnet50_2", 1000): 68_883_240,
            ("imagenet", "resnext50_32x4d", 1000): 25_028_904,
            ("cifar", "resnet18", 10): 11_173_962}
    for (family, arch, n), count in want.items():
        with torch.device("meta"):
            net = build(family, arch, n)
        assert sum(p.numel() for p in net.parameters()) == count, arch
    with torch.device("meta"):
        keys = set(build("imagenet", "resnet50", 1000).state_dict())
    assert {"layer1.0.downsample.0.weight", "layer4.2.bn3.running_var", "fc.bias"} <= keys
    with torch.device("meta"):
        keys = set(build("cifar", "resnet50", 10).state_dict())
    assert {"layer2.0.shortcut.1.weight", "linear.weight"} <= keys


def test_morph_through_the_api_and_the_cli(cifar_ckpt, photo32, tmp_path, capsys):
    path, *_ = cifar_ckpt
    spec = f"robustness:cifar:resnet18:{path}"
    res = steerlens.morph(load_model(spec), photo32, "dog", frames=4)
    assert res.frames.shape[0] == 4 and np.isfinite(res.p_target).all()
    out = tmp_path / "out"
    rc = main(["morph", str(photo32), "--model", spec, "--target", "dog", "--frames", "3",
               "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 0, err
    man = json.loads((out / "result.json").read_text())
    assert man["model"]["source"] == "robustness" and man["model"]["arch"] == "resnet18"
    assert man["target"] == 5 and len(man["frames"]) == 3


# ----------------------------------------------------------------------------- errors
def _one_line(err: ModelError) -> str:
    text = str(err)
    assert "\n" not in text and text
    return text


def test_wrong_forms_are_one_line_errors(cifar_ckpt, tmp_path):
    path, *_ = cifar_ckpt
    cases = {
        f"robustness:resnet18:{path}": "names no dataset; put it first: robustness:imagenet:",
        "robustness:cifar:resnet18": "write robustness:DATASET:ARCH:PATH",
        f"robustness:svhn:resnet18:{path}": "unknown robustness dataset 'svhn'",
        f"robustness:cifar:resnet19:{path}": "did you mean resnet18",
        f"robustness:cifar:wide_resnet50_2:{path}": "no cifar architecture 'wide_resnet50_2'",
        f"robustness:cifar:resnet18:{tmp_path / 'nope.ckpt'}": "does not exist",
        f"robustness:imagenet:resnet50:{path}": "it looks like robustness:cifar:resnet18:PATH",
        f"robustness:cifar:resnet50:{path}": "it looks like robustness:cifar:resnet18:PATH",
        "robustbench:cifar10:Linf": "write robustbench:DATASET:THREAT:NAME",
        "robustbench:mnist:Linf:X": "unknown RobustBench dataset 'mnist'",
    }
    for spec, expected in cases.items():
        with pytest.raises(ModelError) as info:
            load_model(spec)
        assert expected in _one_line(info.value), (spec, str(info.value))
    with pytest.raises(ModelError, match="carry their own weights"):
        load_model(f"robustness:cifar:resnet18:{path}", weights=path)


def test_a_pickle_with_code_is_refused_unrun(tmp_path):
    marker = tmp_path / "PWNED"

    class Plant:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    net = _net("cifar", "resnet18", 10)
    path = tmp_path / "evil.pt"
    torch.save({"model": _attacker_state(net, CIFAR_MEAN, CIFAR_STD), "args": Plant()}, path)
    with pytest.raises(ModelError) as info:
        load_model(f"robustness:cifar:resnet18:{path}")
    assert "cannot read weights file" in _one_line(info.value)
    assert not marker.exists()
    with pytest.raises(ModelError):
        read_checkpoint(path)
    assert not marker.exists()


def test_guess_arch_names_the_family_and_architecture():
    assert guess_arch(_net("imagenet", "resnet18", 7).state_dict()) == "imagenet:resnet18"
    assert guess_arch({"foo": torch.zeros(1)}) is None


@pytest.mark.skipif(importlib.util.find_spec("robustbench") is not None,
                    reason="robustbench is installed here: this checks the message without it")
def test_robustbench_without_the_package_is_one_line():
    with pytest.raises(ModelError) as info:
        load_model("robustbench:cifar10:Linf:Carmon2019Unlabeled")
    assert "pip install robustbench" in _one_line(info.value)
