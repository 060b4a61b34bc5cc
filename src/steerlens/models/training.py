"""Train the small built-in classifiers (standard and L2-PGD adversarially robust) and cache them.

* Adam with a cosine learning-rate decay to 0 over all steps, cross-entropy, seeded init /
  shuffling / PGD starts, so the same seed on CPU with the same thread count gives bit-identical
  weights. Hyper-parameters per (dataset, architecture, robust): :mod:`steerlens.models.recipes`.
* ``robust=True`` is Madry-style adversarial training: every batch is replaced by its L2-PGD
  adversary (random start in the ball, ``pgd_steps`` normalised-gradient steps of size
  ``2.5 * eps / pgd_steps``, projected to the ``eps`` ball and clipped to ``[0, 1]``;
  :func:`~steerlens.models.robust.pgd_l2`). With ``eps = 2`` the robust MNIST CNN keeps 96.4 %
  clean accuracy and 65 % robust accuracy, against 28 % for the standard one.
* Every model, standard or robust, is evaluated on its clean test accuracy and its robust accuracy
  under a 10-step L2-PGD attack (no random start) at the same ``eps``, on a fixed seeded subset of
  500 test images.

:func:`get_or_train` returns a model from the trained-model cache (:mod:`steerlens.models.cache`)
or trains and caches it first. The attack and accuracy helpers and the cache folder are
re-exported here (``accuracy``, ``pgd_l2``, ``robust_accuracy``, ``model_cache_dir``).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from steerlens.data.datasets import IMAGE_DATASETS, image_loaders
from steerlens.data.mnist import Split
from steerlens.errors import ConfigError
from steerlens.models.architectures import ARCHITECTURES, build
from steerlens.models.base import Classifier
from steerlens.models.cache import (
    data_fingerprint,
    load_cached,
    load_packaged,
    model_cache_dir,
    save_cached,
    wrap_cached,
)
from steerlens.models.recipes import RECIPES, Recipe, resolve_recipe
from steerlens.models.robust import accuracy, pgd_l2, robust_accuracy

__all__ = [
    "DATASETS",
    "JUDGES",
    "RECIPES",
    "TRAINING_VERSION",
    "Recipe",
    "accuracy",
    "get_judges",
    "get_or_train",
    "model_cache_dir",
    "model_name",
    "pgd_l2",
    "robust_accuracy",
    "train_classifier",
]

#: Bump when the training code changes in a way that changes weights: invalidates old caches.
#: 2: the built-in models ship in the package (weights trained once, the same on every CPU).
TRAINING_VERSION = 2
#: Judges: (architecture, seed). Never used for gradients, only to score frames independently.
JUDGES: tuple[tuple[str, int], ...] = (("resnet-mini", 1), ("mlp", 2))


#: Dataset names :func:`get_or_train` accepts as strings (:mod:`steerlens.data.datasets`).
DATASETS: tuple[str, ...] = IMAGE_DATASETS


# ---------------------------------------------------------------------------------- training
def train_classifier(
    split: Split,
    arch: str = "cnn",
    robust: bool = False,
    seed: int = 0,
    epochs: int | None = None,
    eps: float | None = None,
    *,
    batch_size: int | None = None,
    lr: float | None = None,
    pgd_steps: int | None = None,
    max_train: int | None = None,
    eval_n: int = 500,
    eval_steps: int = 10,
    progress: bool = False,
    desc: str | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train architecture ``arch`` on ``split`` (standard or L2-PGD adversarial training).

    Any dataset works as long as it is a :class:`~steerlens.data.mnist.Split` of images in
    ``[0, 1]``; unset hyper-parameters come from :data:`RECIPES` (keyed by ``split.name``) or
    :class:`Recipe` defaults with :func:`~steerlens.models.recipes.default_eps`.

    Parameters
    ----------
    split
        Training and test data.
    arch
        ``"cnn"``, ``"resnet-mini"`` or ``"mlp"`` (see :mod:`steerlens.models.architectures`).
    robust
        Adversarial training (Madry-style L2-PGD) instead of standard training.
    seed
        Seeds weight init, shuffling and PGD random starts. The global torch RNG is untouched.
    epochs, eps, batch_size, lr, pgd_steps, max_train
        Override the recipe (see :class:`Recipe`).
    eval_n, eval_steps
        Robust accuracy is measured on ``eval_n`` fixed test images with ``eval_steps`` PGD steps.
    progress
        Show a tqdm bar over training batches.
    desc
        Label of the progress bar.

    Returns
    -------
    net : nn.Module
        The trained network in eval mode, taking images in ``[0, 1]``.
    metrics : dict
        ``clean_acc``, ``robust_acc`` (both on the test set), ``eps``, ``eval_n``,
        ``eval_steps``, ``train_time_s`` (wall), ``train_cpu_s`` (process CPU time, all
        threads), ``threads``, ``final_loss``, ``n_train`` and the resolved recipe.

    Examples
    --------
    >>> from steerlens.data.mnist import load_mnist
    >>> net, m = train_classifier(load_mnist().train_subset(500), epochs=1, eval_n=50)
    >>> sorted(k for k in m if k.endswith("acc"))
    ['clean_acc', 'robust_acc']
    """
    from tqdm.auto import tqdm

    recipe = resolve_recipe(
        _base_name(split.name),
        arch,
        robust,
        split.channels,
        split.image_size,
        epochs=epochs,
        eps=eps,
        batch_size=batch_size,
        lr=lr,
        pgd_steps=pgd_steps,
        max_train=max_train,
    )
    data = split.train_subset(recipe.max_train, seed) if recipe.max_train else split
    x_tr, y_tr = data.x_train.float(), data.y_train.long()
    n = len(y_tr)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build(arch, split.channels, split.num_classes, split.image_size)
    opt = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    n_batches = math.ceil(n / recipe.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, recipe.epochs * n_batches)
    t0, c0 = time.perf_counter(), time.process_time()
    bar = tqdm(
        total=recipe.epochs * n_batches,
        desc=desc or f"training {split.name}-{arch}{'-robust' if robust else ''}",
        disable=not progress,
        leave=False,
    )
    loss_ema = float("nan")
    try:
        for _ in range(recipe.epochs):
            perm = torch.randperm(n, generator=gen)
            for i in range(0, n, recipe.batch_size):
                idx = perm[i : i + recipe.batch_size]
                xb, yb = x_tr[idx], y_tr[idx]
                if robust:
                    net.eval()
                    xb = pgd_l2(
                        net, xb, yb, recipe.eps, recipe.pgd_steps, random_start=True, generator=gen
                    )
                net.train()
                loss = F.cross_entropy(net(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                lv = float(loss.detach())
                loss_ema = lv if math.isnan(loss_ema) else 0.95 * loss_ema + 0.05 * lv
                bar.update(1)
                bar.set_postfix(loss=f"{loss_ema:.3f}", refresh=False)
    finally:
        bar.close()
    train_time, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    net.eval()
    eval_idx = torch.randperm(len(split.y_test), generator=torch.Generator().manual_seed(0))
    eval_idx = eval_idx[: min(eval_n, len(eval_idx))]
    metrics: dict[str, Any] = {
        "clean_acc": accuracy(net, split.x_test, split.y_test),
        "robust_acc": robust_accuracy(
            net, split.x_test[eval_idx], split.y_test[eval_idx], recipe.eps, eval_steps
        ),
        "eps": recipe.eps,
        "eval_n": len(eval_idx),
        "eval_steps": eval_steps,
        "train_time_s": round(train_time, 3),
        "train_cpu_s": round(train_cpu, 3),
        "threads": torch.get_num_threads(),
        "final_loss": round(loss_ema, 5),
        "n_train": n,
        "recipe": asdict(recipe),
    }
    return net, metrics


# ----------------------------------------------------------------------------------- cache
def _base_name(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def model_name(dataset: str, arch: str, robust: bool = False, seed: int = 0) -> str:
    """Display name of a trained model, e.g. ``"mnist-cnn"`` or ``"mnist-cnn-robust"``.

    Examples
    --------
    >>> model_name("mnist", "cnn", robust=True), model_name("mnist", "mlp", seed=2)
    ('mnist-cnn-robust', 'mnist-mlp-seed2')
    """
    return f"{dataset}-{arch}" + ("-robust" if robust else "") + (f"-seed{seed}" if seed else "")


def _resolve_dataset(
    dataset: str | Split | Callable[[], Split],
) -> tuple[str, Callable[[], Split], Split | None]:
    """(name, loader, already-loaded split or None)."""
    if isinstance(dataset, Split):
        return _base_name(dataset.name), lambda: dataset, dataset
    if isinstance(dataset, str):
        key = _base_name(dataset)
        loaders = image_loaders()
        if key not in loaders:
            raise ConfigError(
                f"unknown dataset {dataset!r}; use one of {list(DATASETS)} or pass a Split"
            )
        return key, loaders[key], None
    if callable(dataset):
        split = dataset()
        if not isinstance(split, Split):
            raise ConfigError(f"dataset callable returned {type(split).__name__}, not a Split")
        return _base_name(split.name), lambda: split, split
    raise ConfigError(
        f"dataset must be a name, a Split or a callable (got {type(dataset).__name__})"
    )


def get_or_train(
    dataset: str | Split | Callable[[], Split],
    arch: str = "cnn",
    robust: bool = False,
    seed: int = 0,
    progress: bool = True,
    *,
    epochs: int | None = None,
    eps: float | None = None,
    max_train: int | None = None,
    name: str | None = None,
    retrain: bool = False,
) -> Classifier:
    """A trained classifier from the cache, training (and caching) it first if needed.

    Parameters
    ----------
    dataset
        ``"mnist"`` or ``"fashion-mnist"``, or any :class:`~steerlens.data.mnist.Split` (or a
        callable returning one, e.g. a synthetic family). Splits are cached under a fingerprint
        of their data, so a changed dataset retrains.
    arch
        ``"cnn"`` (driver), ``"resnet-mini"`` or ``"mlp"``.
    robust
        L2-PGD adversarially trained model.
    seed
        Training seed.
    progress
        Show a progress bar while training.
    epochs, eps, max_train
        Override the recipe (part of the cache key).
    name
        Model name (default from :func:`model_name`, e.g. ``"mnist-cnn-robust"``).
    retrain
        Ignore and overwrite an existing cache entry.

    Returns
    -------
    Classifier
        In eval mode, parameters frozen, ``spec`` = the cached metadata (dataset, arch, robust,
        eps, seed, epochs, clean_acc, robust_acc, train_time_s, torch_version, weights_sha256...).

    Examples
    --------
    >>> clf = get_or_train("mnist", progress=False)  # doctest: +SKIP
    >>> clf.name, clf.spec["clean_acc"] > 0.95  # doctest: +SKIP
    ('mnist-cnn', True)
    """
    if arch not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {arch!r}; use one of {sorted(ARCHITECTURES)}")
    ds_name, load, split = _resolve_dataset(dataset)
    overrides = {"epochs": epochs, "eps": eps, "max_train": max_train}
    key: dict[str, Any] = {
        "dataset": ds_name,
        "arch": arch,
        "robust": bool(robust),
        "seed": int(seed),
        "overrides": {k: v for k, v in overrides.items() if v is not None},
        "training_version": TRAINING_VERSION,
    }
    if split is not None:  # even a Split named "mnist" may hold other data: key on its content
        key["data_sha256"] = data_fingerprint(split)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    display = name or model_name(ds_name, arch, robust, seed)
    cache = model_cache_dir()
    stem = cache / f"{model_name(ds_name, arch, robust, seed)}-{digest}"
    if not retrain:
        # the user's own retrained entry first, then the weights shipped in the package
        cached = load_cached(stem) or load_packaged(stem.name)
        if cached is not None:
            if name:
                cached.name = name
                cached.spec["name"] = name
            return cached

    split = split if split is not None else load()
    net, metrics = train_classifier(
        split, arch, robust, seed, progress=progress, desc=f"training {display}", **overrides
    )
    recipe = metrics["recipe"]
    meta: dict[str, Any] = {
        "name": display,
        "dataset": ds_name,
        "dataset_source": split.source,
        "arch": arch,
        "robust": bool(robust),
        "eps": recipe["eps"] if robust else None,
        "eval_eps": metrics["eps"],
        "seed": int(seed),
        "epochs": recipe["epochs"],
        "batch_size": recipe["batch_size"],
        "lr": recipe["lr"],
        "pgd_steps": recipe["pgd_steps"] if robust else None,
        "n_train": metrics["n_train"],
        "clean_acc": metrics["clean_acc"],
        "robust_acc": metrics["robust_acc"],
        "robust_eval": {"n": metrics["eval_n"], "steps": metrics["eval_steps"], "norm": "L2"},
        "train_time_s": metrics["train_time_s"],
        "train_cpu_s": metrics["train_cpu_s"],
        "torch_version": torch.__version__,
        "torch_threads": metrics["threads"],
        "training_version": TRAINING_VERSION,
        "cache_key": key,
        "class_names": list(split.class_names),
        "input_size": list(split.image_size),
        "channels": split.channels,
    }
    return wrap_cached(net, save_cached(stem, net, meta))


def get_judges(
    dataset: str | Split | Callable[[], Split], progress: bool = True
) -> list[Classifier]:
    """The two judge models of ``dataset``: ``resnet-mini`` (seed 1) and ``mlp`` (seed 2).

    Judges score frames independently of the driver and are never used for gradients; their
    architectures differ from the driver's and from each other.

    Examples
    --------
    >>> [j.name for j in get_judges("mnist", progress=False)]  # doctest: +SKIP
    ['mnist-judge-resnet-mini', 'mnist-judge-mlp']
    """
    if not isinstance(dataset, (str, Split)) and callable(dataset):
        dataset = dataset()  # build a generated dataset once, not once per judge
    ds_name = _resolve_dataset(dataset)[0] if isinstance(dataset, Split) else _base_name(dataset)
    judges = []
    for arch, seed in JUDGES:
        clf = get_or_train(dataset, arch, robust=False, seed=seed, progress=progress)
        label = f"{ds_name}-judge-{arch}"
        clf.name = label
        clf.spec["name"] = label
        clf.spec["role"] = "judge"
        judges.append(clf)
    return judges
