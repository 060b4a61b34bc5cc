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


def test_one_judges_scorer_matches_the_metrics_scores():
    """The scorer gives the numbers of :func:`steerlens.metrics.score_targets`, with the sources'
    probabilities from the same forward pass as the last frames'."""
    import torch

    from steerlens.metrics import score_targets
    from steerlens.runs.judges import joint_success, score_judges

    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    b = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    src, fin, t = torch.rand(5, 1, 4, 4), torch.rand(5, 1, 4, 4), torch.tensor([0, 1, 2, 1, 0])
    ref = score_targets(fin, t, judges={"O": a, "O2": b})
    ours = score_judges({"O": a, "O2": b}, fin, t, source=src)
    for name in ("O", "O2"):
        torch.testing.assert_close(ours[name].p_end, ref.judge_p[name], rtol=1e-6, atol=1e-7)
        assert ours[name].success.tolist() == ref.judge_success[name].tolist()
        start = score_targets(src, t, judges={name: (a if name == "O" else b)}).judge_p[name]
        torch.testing.assert_close(ours[name].p_start, start, rtol=1e-6, atol=1e-7)
    assert joint_success(ours).tolist() == ref.joint_success.tolist()
    assert score_judges({"O": a}, fin, 2)["O"].p_start is None


def test_one_journal_for_batch_and_experiment_folders(tmp_path):
    """A batch's and an experiment's ``cases.jsonl`` follow one rule: torn lines are dropped on
    reading, removed before appending, and NaN is written as null."""
    import json

    from steerlens.batch.store import BatchStore
    from steerlens.experiments.store import CaseStore

    for name, key in (("batch", "case_key"), ("exp", "key")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "cases.jsonl").write_bytes(
            json.dumps({key: "a", "status": "ok"}).encode() + b'\n{"' + key.encode() + b'": "b", "st')
    batch = BatchStore(tmp_path / "batch")
    assert batch.load() == 1 and batch.torn == 1
    batch.repair()
    batch.record({"case_key": "c", "status": "ok", "l2": float("nan")}, {})
    exp = CaseStore(tmp_path / "exp" / "cases.jsonl")
    assert len(exp) == 1 and exp.dropped == 1
    exp.append([{"key": "c", "status": "ok", "l2": float("nan")}])
    for name in ("batch", "exp"):
        lines = (tmp_path / name / "cases.jsonl").read_text().splitlines()
        assert len(lines) == 2 and json.loads(lines[1])["l2"] is None


def test_the_resume_rule_reruns_recorded_chunks_whole():
    from steerlens.experiments import plan_batches
    from steerlens.runs.resume import chunks_to_run

    assert plan_batches is chunks_to_run
    chunks = {"a": ["a", "b"], "b": ["a", "b"], "c": ["c"]}
    assert chunks_to_run(["a", "b", "c"], {"b"}, chunks.get, 2) == [["a", "b"]]
    assert chunks_to_run(["a", "b", "c", "d", "e"], {"d", "e", "a"}, chunks.get, 1) == [
        ["a", "b"], ["d"], ["e"]]
