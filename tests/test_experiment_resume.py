"""An interrupted and resumed experiment equals an uninterrupted one, to 1e-6 on every number.

A case's numbers depend in the last bits on the other images of its ``morph_batch`` call, so the
runner journals each batch's composition (``batches.jsonl``) and recomputes a missing case in
exactly its recorded batch. Small protocol: six MNIST digits, csp-phase, one-step, four frames,
batches of two (three batches).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest
import torch

from steerlens.experiments import CaseStore, ScoringOptions, default_spec, run_experiment
from steerlens.experiments.kept import load_kept

#: per-run timings: the only fields allowed to differ between two runs
TIMINGS = {"morph_s", "score_s"}


def _spec():
    return replace(
        default_spec("mnist", quick=True),
        sources=6,
        methods=["csp-phase"],
        regimes=["one-step"],
        drivers=["standard"],
        showcase=False,
        frames=4,
        batch_size=2,
        figure_sources=1,
        n_boot=50,
        scoring=ScoringOptions(warp_steps=20, cout=False, path_points=3),
    )


def _records(out):
    return {r["key"]: r for r in (json.loads(x) for x in (out / "cases.jsonl").read_text().splitlines())}


def _assert_same(a, b, where="record"):
    """Equal structure, floats within 1e-6, everything else identical."""
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            if k not in TIMINGS:
                _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and not isinstance(a, bool):
        assert isinstance(b, float) and math.isclose(a, b, rel_tol=0, abs_tol=1e-6), (where, a, b)
    else:
        assert a == b, (where, a, b)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "whole"
    report = run_experiment(_spec(), out, progress=False)
    assert report.n_new == 6
    return out


def test_batches_are_journalled(uninterrupted):
    recs = _records(uninterrupted)
    log = [json.loads(x) for x in (uninterrupted / "batches.jsonl").read_text().splitlines()]
    assert [len(b["keys"]) for b in log] == [2, 2, 2]
    assert all(b["torch_threads"] == torch.get_num_threads() for b in log)
    for b in log:  # every record names the batch it ran in, and that batch lists it
        assert all(recs[k]["batch"] == b["batch"] for k in b["keys"])
    runs = json.loads((uninterrupted / "runs.jsonl").read_text().splitlines()[-1])
    assert runs["torch_threads"] == torch.get_num_threads() and runs["new_cases_this_run"] == 6
    machine = json.loads((uninterrupted / "results.json").read_text())["provenance"]["machine"]
    assert machine["torch_threads"] == torch.get_num_threads()


def test_torn_last_line_is_dropped_and_its_case_recomputed_in_its_batch(uninterrupted, tmp_path):
    out = tmp_path / "torn"
    shutil.copytree(uninterrupted, out)
    lines = (out / "cases.jsonl").read_text().splitlines()
    # killed while appending the last batch's two records: one whole, the other cut in half
    last = json.loads((out / "batches.jsonl").read_text().splitlines()[-1])["keys"]
    assert [json.loads(x)["key"] for x in lines[-2:]] == last
    keep, torn = lines[:-1], lines[-1]
    (out / "cases.jsonl").write_text("\n".join(keep) + "\n" + torn[: len(torn) // 2])
    # and the kept morph of the figure source (first batch) is lost: recomputed in its batch too
    (out / "cache" / "kept").joinpath(
        "mnist_standard_one-step_L2-2_default__csp-phase.npz").unlink()

    # what a kill during an atomic write leaves: hidden temporaries beside the outputs
    (out / ".steerlens-tmp-half").mkdir()
    (out / "cache" / "kept" / ".steerlens-tmp-half").write_bytes(b"PK\x03\x04 half a zip")

    store = CaseStore(out / "cases.jsonl")
    assert store.dropped == 1 and len(store) == 5
    assert (out / "cases.jsonl").read_text() == "\n".join(keep) + "\n"  # rewritten without it

    report = run_experiment(_spec(), out, progress=False)
    assert report.n_new == 1
    assert not list(out.rglob(".steerlens-tmp-*"))
    _assert_same(_records(uninterrupted), _records(out))
    a = load_kept(uninterrupted / "cache/kept/mnist_standard_one-step_L2-2_default__csp-phase.npz")
    b = load_kept(out / "cache/kept/mnist_standard_one-step_L2-2_default__csp-phase.npz")
    assert list(a) == list(b) == ["test-0000"]
    assert torch.allclose(a["test-0000"].frames, b["test-0000"].frames, rtol=0, atol=1e-6)
    summary = [json.loads((o / "results.json").read_text())["summary"] for o in (uninterrupted, out)]
    _assert_same(summary[0], summary[1], "summary")


KILL_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    from dataclasses import replace
    import torch
    torch.set_num_threads({threads})
    from steerlens.experiments import ScoringOptions, default_spec, run_experiment
    from steerlens.experiments.store import CaseStore, JsonlJournal

    appends = []
    real_append = JsonlJournal.append

    def append(self, records):
        records = list(records)
        if isinstance(self, CaseStore) and records:
            appends.append(1)
            if len(appends) == 2:  # second batch: one record and half the next, then die hard
                one, two = (json.dumps(r) + "\\n" for r in records)
                with open(self.path, "a") as f:
                    f.write(one + two[: len(two) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
        real_append(self, records)

    JsonlJournal.append = append
    spec = replace(default_spec("mnist", quick=True), sources=6, methods=["csp-phase"],
                   regimes=["one-step"], drivers=["standard"], showcase=False, frames=4,
                   batch_size=2, figure_sources=1, n_boot=50,
                   scoring=ScoringOptions(warp_steps=20, cout=False, path_points=3))
    run_experiment(spec, sys.argv[1], progress=False)
""")


def test_killed_run_resumes_to_the_uninterrupted_numbers(uninterrupted, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT.format(threads=torch.get_num_threads()), str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]  # SIGKILL mid-write
    text = (out / "cases.jsonl").read_text()
    assert not text.endswith("\n") and len(text.splitlines()) == 4  # 3 records + a torn line
    assert not (out / "results.json").exists()  # reports come at the end, never half-written
    assert len((out / "batches.jsonl").read_text().splitlines()) == 2  # batch 2 was journalled

    # the torn case is recomputed with its recorded batch mate, the third batch as planned
    report = run_experiment(_spec(), out, progress=False)
    assert report.n_new == 3
    _assert_same(_records(uninterrupted), _records(out))
    assert (out / "cases.jsonl").read_text().endswith("\n")
    assert all(json.loads(x) for x in (out / "cases.jsonl").read_text().splitlines())
