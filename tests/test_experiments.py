"""End-to-end test of the evaluation experiments on real data and real (cached) models.

One quick MNIST experiment (4 sources + 3 showcase pairs, L2 = 2, pixel vs CSP phase, one-step,
standard driver) writes its JSON, markdown, README and figures; the numbers must be sane (L2 matched
within 2 % where attained, probabilities in [0, 1], E in [0, 1]), and a rerun must skip every
finished case.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from steerlens.errors import ConfigError
from steerlens.experiments import (
    CaseStore,
    ScoringOptions,
    default_spec,
    goal_score,
    run_experiment,
    select_sources,
    summarise,
    sweep_variants,
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    spec = replace(
        default_spec("mnist", quick=True),
        methods=["pixel", "csp-phase"],
        regimes=["one-step"],
        drivers=["standard"],
        scoring=ScoringOptions(warp_steps=40, cout=True),
        n_boot=100,
    )
    out = tmp_path_factory.mktemp("exp") / "mnist-quick"
    report = run_experiment(spec, out, command="steerlens experiment mnist --quick", progress=False)
    return spec, out, report


def test_quick_experiment_writes_results(quick_run):
    _, out, report = quick_run
    for name in ("results.json", "results.md", "README.md", "cases.jsonl", "runs.jsonl"):
        assert (out / name).is_file(), name
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert any(f.startswith("bars_mnist_standard_one-step_L2-2") for f in figures)
    # one matched-L2 filmstrip per figure source: first sample + the three showcase pairs
    assert sum(f.startswith("filmstrip_") for f in figures) == 4
    readme = (out / "README.md").read_text()
    assert "steerlens experiment mnist --quick" in readme and "git commit" in readme
    data = json.loads((out / "results.json").read_text())
    assert {r["method"] for r in data["summary"]} == {"pixel", "csp-phase"}
    assert all(r["n"] == 4 for r in data["summary"])
    assert report.n_cases == 8 and report.n_new == 14  # 2 methods x (4 sources + 3 showcase)


def test_quick_experiment_numbers_are_sane(quick_run):
    out = quick_run[1]
    recs = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    assert len(recs) == 14
    for r in recs:
        if r["attained"]:
            assert abs(r["l2"] - 2.0) / 2.0 <= 0.02, r
        for key in ("driver_p", "p0", "judge_p_O", "judge_p_O2"):
            assert 0.0 <= r[key] <= 1.0
        assert r["target"] != r["source_class"] or r["kind"] == "showcase"
        assert 0.0 <= r["E_warp"] <= 1.0 and 0.0 <= r["E_warp_gain"] <= 1.0
        assert -1.0 <= r["cout"] <= 1.0 and -1.0 <= r["ssim"] <= 1.0
        assert abs(sum(r["scale_share"]) - 1.0) < 1e-4
        assert r["joint_success"] == (r["judge_success_O"] and r["judge_success_O2"])
    # both methods reach L2 = 2 on these digits, and the gain field can only help the warp fit
    assert sum(r["attained"] for r in recs) >= 12
    assert np.median([r["E_warp_gain"] - r["E_warp"] for r in recs]) >= 0.0
    # showcase pairs keep their fixed targets
    show = {r["source_id"].split("-")[1]: r["target"] for r in recs if r["kind"] == "showcase"}
    assert show == {"3to8": 8, "5to6": 6, "1to7": 7}


def test_rerun_skips_completed_cases(quick_run):
    spec, out, _ = quick_run
    before = (out / "cases.jsonl").read_text()
    report = run_experiment(spec, out, progress=False)
    assert report.n_new == 0 and report.n_cases == 8
    assert (out / "cases.jsonl").read_text() == before
    # a larger run only computes the new sources (and survives a torn last line)
    with open(out / "cases.jsonl", "a") as f:
        f.write('{"key": "torn')
    assert len(CaseStore(out / "cases.jsonl")) == 14


def test_summary_pairs_methods_and_counts():
    recs = [
        {"dataset": "d", "driver": "s", "regime": "one-step", "budget": 2.0, "variant": "v",
         "method": m, "source_id": f"s{i}", "kind": "sample", "attained": True,
         "joint_success": i % 2 == 0, "E_warp_gain": 0.5 + 0.1 * (m == "csp-phase") + 0.01 * i}
        for m in ("pixel", "csp-phase") for i in range(10)
    ]
    rows = summarise(recs, n_boot=200)
    by = {r["method"]: r for r in rows}
    assert by["pixel"]["metrics"]["joint_success"]["estimate"] == 5
    assert by["csp-phase"]["metrics"]["E_warp_gain"]["estimate"] == pytest.approx(0.645)
    diff = by["csp-phase"]["differences"]["E_warp_gain"]
    # identical resamples for both methods: the paired difference has no spread
    assert diff["estimate"] == pytest.approx(0.1) and diff["high"] - diff["low"] < 1e-9
    # no driver metric (0), joint 5/10 >= the 10 % goal (1), E 0.645 of the 0.8 goal
    assert goal_score(by["csp-phase"]) == pytest.approx((0.0 + 1.0 + 0.645 / 0.8) / 3)


def test_sources_and_sweep_grid():
    s = select_sources("mnist", 20)
    assert len(s) == 23 and s.kinds.count("showcase") == 3
    assert torch.bincount(s.labels[:20], minlength=10).tolist() == [2] * 10
    names = [v.name for v in sweep_variants()]
    assert "per-scale/coarse" in names and "motion/all" in names
    spec = default_spec("sweep")
    cfg = spec.config("csp-phase", "one-step", 2.0, sweep_variants()[1], (28, 28))
    assert cfg.scales == [1] and cfg.normalization == "global-max"
    with pytest.raises(ConfigError, match="unknown experiment"):
        default_spec("imagenet")


def test_cli_train_and_experiment_errors(quick_run, capsys):
    from steerlens.cli import main

    # the quick run trained (or loaded) the standard MNIST driver: this is a cache hit
    assert main(["train", "mnist", "--quiet"]) == 0
    line = capsys.readouterr().out.strip()
    clean = float(line.split("clean accuracy ")[1].split("%")[0])
    robust = float(line.split("robust accuracy ")[1].split("%")[0])
    assert line.startswith("mnist-cnn:") and clean > 95.0 and 0.0 <= robust < clean
    assert main(["experiment", "imagenet"]) == 2
    assert "unknown experiment" in capsys.readouterr().err
    assert main(["experiment", "mnist", "--quick", "--regimes", "frozen"]) == 2
    assert main(["train", "synthetic-blobs"]) == 2
    assert "unknown synthetic family" in capsys.readouterr().err


def test_resume_refuses_cases_from_other_driver_weights(quick_run, tmp_path):
    """Cached cases made with different weights of the same driver must not be mixed in."""
    spec, out, _ = quick_run
    recs = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()
            if line.startswith("{") and line.endswith("}")]
    assert all(len(r["driver_sha256"]) == 64 for r in recs)
    other = tmp_path / "other"
    other.mkdir()
    recs[0]["driver_sha256"] = "0" * 64
    (other / "cases.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    with pytest.raises(ConfigError, match="driver weights"):
        run_experiment(spec, other, progress=False)


@pytest.mark.parametrize("budgets", ["nan", "inf", "-inf", "-1", "0", "1,nan", "", "two"])
def test_experiment_refuses_bad_budgets_before_writing(budgets, tmp_path, capsys):
    """A bad --budgets gets one error line and exit 2, and leaves no results folder behind."""
    from steerlens.cli import main

    out = tmp_path / "never"
    assert main(["experiment", "mnist", "--quick", "--budgets", budgets, "--out", str(out)]) == 2
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --budgets must be"), lines
    assert not out.exists() and list(tmp_path.iterdir()) == []
