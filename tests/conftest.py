"""Shared fixtures: real images and real (small, shipped or quickly trained) models, and the tiers.

The model cache goes to a per-session directory unless STEERLENS_CACHE_DIR is set (the Makefile
sets it to .cache/steerlens so trained models are reused between runs).

Tiers: ``make test`` runs everything; ``make test-fast`` (``-m "not slow"``) skips every test marked
``slow``, by hand or because its module is in :data:`SLOW_MODULES`.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("STEERLENS_CACHE_DIR", tempfile.mkdtemp(prefix="steerlens-cache-"))

#: Modules in the full tier only: each spends 30 s to 3 min of test time on real subprocess CLIs,
#: servers, Dask clusters, hostile file systems or training (pytest --durations=150 on 2 cores,
#: 2026-12-03: batch_hostile 184 s, web_hostile 123 s, report_hostile 90 s, batch_faults 79 s,
#: bad_inputs 72 s, pickle_safety 53 s, web_app 47 s, readouts 32 s, training 31 s,
#: experiment_resume 30 s, golden 18 s, web_browser 15 s; readme runs every README example).
SLOW_MODULES = frozenset({
    "test_batch_hostile.py", "test_web_hostile.py", "test_report_hostile.py",
    "test_batch_faults.py", "test_bad_inputs.py", "test_pickle_safety.py", "test_web_app.py",
    "test_readouts.py", "test_training.py", "test_experiment_resume.py", "test_golden.py",
    "test_web_browser.py", "test_readme.py",
})


def pytest_collection_modifyitems(config, items):
    """Mark every test of a :data:`SLOW_MODULES` module ``slow`` (the fast tier skips them)."""
    for item in items:
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def mnist_split():
    from steerlens.data.mnist import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def mnist_model():
    from steerlens.models import load_model

    return load_model("mnist-cnn", progress=False)


@pytest.fixture(scope="session")
def lite0():
    from steerlens.models import load_model

    return load_model("efficientnet-lite0")


@pytest.fixture(scope="session")
def chelsea_224():
    from steerlens.data.images import load_builtin

    return load_builtin("chelsea", size=(224, 224), channels=3)


@pytest.fixture()
def photo_path(tmp_path):
    """A real photo the project does not bundle as a demo image (skimage's coffee), as a JPEG."""
    from PIL import Image
    from skimage import data

    p = tmp_path / "coffee.jpg"
    Image.fromarray(np.asarray(data.coffee())).save(p, quality=92)
    return p
