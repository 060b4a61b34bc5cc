"""``steerlens batch`` under faults and on Dask: a SIGKILLed worker, a SIGINTed driver, a running cluster.

Each run is a real ``steerlens`` process on 30 MNIST digits written as PNG files; the reference is
an uninterrupted in-process run with the same chunks and one torch thread, and every faulty run must
reproduce its table (numbers to 1e-6, every case exactly once). Only loopback addresses are used.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from test_batch import assert_same_table, table  # tests/ is on sys.path (pytest's prepend mode)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

N = 30
ARGS = ("-m", "mnist-cnn", "--batch-size", "3", "--threads", "1", "-q")


def steerlens_cmd() -> list[str]:
    script = Path(sys.executable).parent / "steerlens"
    return [str(script)] if script.exists() else [sys.executable, "-m", "steerlens.cli"]


def journal_keys(out: Path) -> list[str]:
    """Case keys of the journal's valid lines (a torn line is skipped, as the store does)."""
    keys = []
    path = out / "cases.jsonl"
    if not path.is_file():
        return keys
    for line in path.read_bytes().splitlines():
        try:
            keys.append(json.loads(line)["case_key"])
        except (ValueError, KeyError):
            continue
    return keys


def wait_for_rows(proc: subprocess.Popen, out: Path, n: int, timeout: float = 120) -> int:
    """Wait until the journal holds ``n`` cases while ``proc`` still runs; return the count."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = len(journal_keys(out))
        if got >= n:
            return got
        if proc.poll() is not None:
            raise AssertionError(f"run ended (rc {proc.returncode}) before {n} cases: {proc.stderr.read()}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"no {n} cases within {timeout} s")


@pytest.fixture(scope="module")
def digits30(tmp_path_factory, mnist_split) -> Path:
    from steerlens.data.images import save_image

    root = tmp_path_factory.mktemp("digits30")
    for i in range(N):
        save_image(mnist_split.x_test[100 + i], root / f"d{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def reference(digits30, tmp_path_factory, mnist_model) -> dict[str, dict]:
    from steerlens.batch import run_batch

    out = tmp_path_factory.mktemp("ref") / "ref"
    run_batch(digits30, "mnist-cnn", out, batch_size=3, threads=1, artefacts="none",
              progress=False, echo=lambda m: None)
    rows = table(out)
    assert len(rows) == N and all(r["status"] == "ok" for r in rows.values())
    return rows


def test_sigkill_a_worker_mid_run(digits30, reference, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [*steerlens_cmd(), "batch", str(digits30), "-o", str(out), *ARGS, "--workers", "2",
         "--artefacts", "all"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        done_at_kill = wait_for_rows(proc, out, 3)
        workers = [
            p for p in psutil.Process(proc.pid).children(recursive=True)
            if "spawn_main" in " ".join(p.cmdline())
        ]
        assert len(workers) == 2, [p.cmdline() for p in workers]
        victim = workers[0]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        assert proc.poll() is None and done_at_kill < N, "the run ended before the kill"
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    keys = journal_keys(out)
    assert len(keys) == len(set(keys)) == N
    rows = table(out)
    assert_same_table(reference, rows)
    assert {r["torch_threads"] for r in rows.values()} == {1}
    assert all((out / r["artefact_dir"] / "morph.gif").is_file() for r in rows.values())


def test_sigint_the_driver_then_resume(digits30, reference, tmp_path):
    out = tmp_path / "interrupted"
    cmd = [*steerlens_cmd(), "batch", str(digits30), "-o", str(out), *ARGS, "--artefacts", "all"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_rows(proc, out, 4)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err  # the CLI's exit status for Ctrl-C
    assert "Traceback" not in err and "rerun the same command to resume" in err
    assert err.strip().splitlines()[-1].startswith("error: interrupted")
    before = journal_keys(out)
    assert 4 <= len(before) < N, err
    partial = table(out)  # written on the way out: exactly the finished cases
    assert sorted(partial) == sorted(set(before)), err
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    # a temporary file the signal caught mid-write is gone once the folder is resumed
    assert not [p for p in out.rglob(".steerlens-tmp-*")], "a temporary file was left behind"
    keys = journal_keys(out)
    assert len(set(keys)) == N and len(keys) == N, "a finished case was recomputed or duplicated"
    assert keys[: len(before)] == before
    assert_same_table(reference, table(out))


def test_existing_cluster_via_scheduler_file(digits30, reference, tmp_path):
    dask = Path(sys.executable).parent / "dask"
    if not dask.exists():
        pytest.skip("the dask command is not installed")
    sched_file = tmp_path / "scheduler.json"
    common = ["--no-dashboard", "--host", "127.0.0.1"]
    sched = subprocess.Popen([str(dask), "scheduler", "--port", "0", "--scheduler-file", str(sched_file),
                              *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        for _ in range(300):
            if sched_file.is_file() and sched_file.stat().st_size:
                break
            time.sleep(0.05)
        worker = subprocess.Popen([str(dask), "worker", "--scheduler-file", str(sched_file),
                                   "--nthreads", "1", "--nworkers", "1", *common],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        out = tmp_path / "cluster"
        subset = tmp_path / "subset"
        subset.mkdir()
        for p in sorted(digits30.glob("*.png"))[:6]:
            shutil.copy(p, subset / p.name)
        run = subprocess.run(
            [*steerlens_cmd(), "batch", str(subset), "-o", str(out), *ARGS, "--scheduler",
             str(sched_file), "--artefacts", "none"],
            check=False, capture_output=True, text=True, timeout=120,
        )
        assert run.returncode == 0, run.stderr
        rows = table(out)
        assert len(rows) == 6
        # the same 6 images form the same first two chunks as in the reference
        assert_same_table({k: reference[k] for k in rows}, rows)
        assert len({r["worker"] for r in rows.values()}) == 1
        # the worker loaded the model for its first chunk only (a per-process cache)
        assert len({r["chunk_id"] for r in rows.values() if r["load_s"] > 0}) == 1
    finally:
        for p in (worker, sched):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
