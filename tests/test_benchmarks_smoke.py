"""Smoke test of benchmarks/run.py on its smallest cases (1 repeat): the report is complete and finite.

No timing is asserted here: timing goals are reported by the benchmark, never tested.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

RUN_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("steerlens_bench_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def _finite_numbers(obj, path="report"):
    """Every number in a nested JSON object, with where it is."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return
    if isinstance(obj, (int, float)):
        yield path, float(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _finite_numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _finite_numbers(v, f"{path}[{i}]")


def test_smallest_cases_write_a_complete_finite_report(bench, tmp_path):
    settings = bench.Settings(repeats=1, warmup=0, threads=1)
    device = torch.device("cpu")
    case = bench.MorphCase("mnist-cnn", 28, 4, 1)
    skipped: list[str] = []
    report = {
        "machine": "smoke", "device": "cpu", "device_name": "cpu", "threads": 1, "quick": True,
        "precision": "float32", "channels_last": False, "repeats": 1, "command": "pytest",
        "date": "today", "git_commit": bench.git_commit(), "versions": bench._versions(),
        "load_average": {"start": [0.0], "end": [0.0]}, "skipped": skipped,
        "csp": bench.bench_csp(settings, device, cases=[bench.CspCase(1, 32, 1)]),
    }
    report["morph"], report["live"] = bench.bench_morph(settings, device, cases=[case], skipped=skipped)
    report["memory"] = bench.bench_memory(settings, device, cases=[case], skipped=skipped)
    json_path, md_path = bench.write_report(bench.summarise(report), tmp_path)

    data = json.loads(json_path.read_text())
    assert skipped == []
    for key in ("csp_speedup_vs_plenoptic", "csp_speedup_vs_plenoptic_all", "morph_overhead_ratio",
                "morph_overhead_ratio_all", "csp", "morph", "live", "memory", "git_commit", "command"):
        assert key in data, key
    assert data["csp_speedup_vs_plenoptic_all"] == {"csp-32-gray-b1": data["csp_speedup_vs_plenoptic"]}
    assert list(data["morph_overhead_ratio_all"]) == ["mnist-cnn-28-K4-b1"]
    assert "error" not in data["live"][0], data["live"][0]
    assert data["live"][0]["persistent_ms"] > 0 and data["live"][0]["live_ms"] > 0
    for k in ("morph_ms", "floor_ms", "overhead_ratio", "breakdown_ms"):
        assert k in data["morph"][0]
    for k in ("speedup", "steerlens_recon_max_abs_error", "plenoptic_recon_max_abs_error"):
        assert k in data["csp"][0]
    assert data["csp"][0]["steerlens_recon_max_abs_error"] < 1e-4
    for k in ("morph", "floor"):
        assert data["memory"][0][k]["peak_mib"] > 10  # a real process RSS, not a placeholder
    bad = [(p, v) for p, v in _finite_numbers(data) if not math.isfinite(v) or v < 0]
    assert bad == []
    assert "| csp-32-gray-b1 |" in md_path.read_text()


def test_load_verdict_flags_a_loaded_or_busy_run_and_keeps_its_file_apart(bench, tmp_path):
    from load import BusyProcess, LoadVerdict

    quiet, loaded, busy = LoadVerdict(0.5, 2), LoadVerdict(3.7, 2), LoadVerdict(0.5, 2, busy=True)
    assert quiet.headline and quiet.flag is None and quiet.suffix == ""
    assert not loaded.headline and loaded.flag.startswith("load average 3.7 > 2 cores")
    assert loaded.suffix == "-loaded" and busy.suffix == "-busy" and not busy.headline
    report = {"machine": "smoke", "quick": True, "precision": "float32", "channels_last": False,
              "load_verdict": loaded.as_dict(), "command": "pytest", "date": "today",
              "git_commit": "x", "versions": {"torch": "t", "cuda": None, "plenoptic": None},
              "device_name": "cpu", "threads": 1, "load_average": {"start": [3.7], "end": [3.7]},
              "repeats": 1, "device": "cpu"}
    json_path, md_path = bench.write_report(bench.summarise(report), tmp_path)
    assert json_path.name == "smoke-quick-loaded.json"
    assert json.loads(json_path.read_text())["headline_valid"] is False
    assert "FLAGGED, NOT HEADLINE FIGURES: load average 3.7 > 2 cores" in md_path.read_text()
    with BusyProcess() as proc:
        assert proc.alive
    assert not proc.alive


def test_threads_benchmark_times_paired_rounds_and_restores_the_count(bench):
    import threads as threads_bench

    before = torch.get_num_threads()
    out = threads_bench.paired_rounds(lambda: None, (1, 2), 2)
    assert len(out["seconds"]["1"]) == len(out["seconds"]["2"]) == 2
    assert len(out["load_before"]) == 4 and set(out["speedup"]) == {"2"}
    assert torch.get_num_threads() == before
    assert threads_bench.Case(224, 16).job_size == 224 * 224 * 16 * 12
