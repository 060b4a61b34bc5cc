"""The shared runs engine (:mod:`steerlens.runs`): one dataset registry, judges scorer, journal and
resume rule under both ``steerlens batch`` and ``steerlens experiment``."""

from __future__ import annotations

import pytest

from steerlens.errors import ConfigError


def test_batch_and_experiments_load_datasets_through_one_registry():
    """Batch's ``mnist:test`` images and the experiment's ``mnist`` sources are the same tensors."""
    from steerlens.batch.inputs import DATASETS, load_dataset
    from steerlens.experiments.sources import dataset_split, select_sources
    from steerlens.runs.datasets import IMAGE_DATASETS

    assert DATASETS == IMAGE_DATASETS == ("mnist", "fashion-mnist")
    a, b = load_dataset("mnist:test"), dataset_split("mnist")
    assert a.x_test.shape == (1000, 1, 28, 28)
    assert (a.x_test == b.x_test).all() and a.class_names == b.class_names
    src = select_sources("mnist", 2, showcase=False)
    first = int(src.ids[0].split("-")[1])
    assert (src.x[0] == a.x_test[first]).all()


def test_registry_refuses_unknown_names_with_one_line():
    from steerlens.runs.datasets import check_dataset_name, parse_dataset_ref

    with pytest.raises(ConfigError, match="unknown dataset 'cifar'"):
        check_dataset_name("cifar")
    with pytest.raises(ConfigError, match="unknown synthetic family 'blob'"):
        check_dataset_name("synthetic-blob")
    assert parse_dataset_ref("Fashion-MNIST:train") == ("fashion-mnist", "train")
