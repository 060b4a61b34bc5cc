"""Train the built-in small models once and ship them in the package (``models/pretrained/``).

Every user, test and committed result then uses the same weights on any CPU: training rounds
differently on other CPUs (issue 15), so weights trained on first use made numbers machine-bound.

Usage (from the repository root, after ``make install``; Fashion-MNIST needs Debian's
``dataset-fashion-mnist``)::

    .venv/bin/python scripts/make_pretrained.py

It trains each entry with one thread into a temporary cache (``retrain=True``: nothing is reused)
and copies ``<stem>.pt`` + ``<stem>.json`` into ``src/steerlens/models/pretrained/``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

#: (dataset, arch, robust, seed): the drivers and the judges of both datasets
ENTRIES = [
    ("mnist", "cnn", False, 0),
    ("mnist", "cnn", True, 0),
    ("mnist", "resnet-mini", False, 1),
    ("mnist", "mlp", False, 2),
    ("fashion-mnist", "cnn", False, 0),
    ("fashion-mnist", "cnn", True, 0),
    ("fashion-mnist", "resnet-mini", False, 1),
    ("fashion-mnist", "mlp", False, 2),
]


def main() -> int:
    torch.set_num_threads(1)
    cache = Path(tempfile.mkdtemp(prefix="steerlens-pretrained-"))
    os.environ["STEERLENS_CACHE_DIR"] = str(cache)
    from steerlens.models.cache import PACKAGED_DIR
    from steerlens.models.training import get_or_train

    PACKAGED_DIR.mkdir(exist_ok=True)
    for dataset, arch, robust, seed in ENTRIES:
        clf = get_or_train(dataset, arch, robust=robust, seed=seed, progress=True, retrain=True)
        stem = Path(clf.spec["weights_file"]).stem
        for suffix in (".pt", ".json"):
            shutil.copyfile(cache / "models" / f"{stem}{suffix}", PACKAGED_DIR / f"{stem}{suffix}")
        print(f"{stem}: clean {clf.spec['clean_acc']:.3f} robust {clf.spec['robust_acc']:.3f}")
    shutil.rmtree(cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
