"""Shared fixtures: real images and real (small, quickly trained) models.

The model cache goes to a per-session directory unless STEERLENS_CACHE_DIR is set (the Makefile
sets it to .cache/steerlens so trained models are reused between runs).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("STEERLENS_CACHE_DIR", tempfile.mkdtemp(prefix="steerlens-cache-"))


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
