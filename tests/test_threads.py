"""The thread policy (:mod:`steerlens.threads`): choices for given job sizes and free cores, the
flag / environment overrides, one-line errors for invalid counts, and the API leaving torch's
count as it found it."""

from __future__ import annotations

import math
import subprocess
import sys
import time
import warnings

import pytest
import torch

from steerlens import cpu_load, threads
from steerlens.errors import ConfigError
from steerlens.threads import (
    ENV_VAR,
    PIXELS_PER_THREAD,
    apply_thread_policy,
    apply_worker_threads,
    choose,
    free_cores,
    job_size,
    load_average_others,
    parse_threads,
    policy_threads,
    thread_policy,
    worker_threads,
)


@pytest.fixture(autouse=True)
def clean_state(monkeypatch):
    """No thread variables from the test runner's environment; torch's count and pins restored."""
    for var in (ENV_VAR, *threads.CALLER_ENV_VARS):
        monkeypatch.delenv(var, raising=False)
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_baseline", before)
    monkeypatch.setattr(threads, "_last_set", None)
    threads.unpin()
    yield
    threads.unpin()
    torch.set_num_threads(before)


@pytest.mark.parametrize(("size", "batch", "frames", "free", "expected"), [
    (28, 1, 4, 2, 1),       # a 4-frame MNIST morph: 3,136 px·B·K
    (28, 1, 16, 2, 2),      # an MNIST morph: 12,544 (two threads paid 1.14x, quiet)
    (28, 1, 16, 1, 1),      # ... with one core free (one thread won 1.6x beside a busy process)
    (28, 64, 16, 2, 2),     # an MNIST batch of 64: 802,816
    (224, 1, 12, 2, 2),     # Lite0 at batch 1: 602,112
    (224, 16, 12, 1, 1),    # 9,633,792 with one core free
    (224, 64, 12, 16, 16),  # 38.5 M on a 16-core machine: capped by the free cores
    (28, 1, 12, 64, 1),     # 9,408 on 64 free cores: under two threads' worth
    (28, 1, 32, 64, 4),     # 25,088: one thread per 6,000
])
def test_policy_choices_for_given_sizes(size, batch, frames, free, expected):
    assert policy_threads(job_size(size, size, batch, frames), free) == expected


def test_one_thread_below_twice_the_per_thread_size():
    assert policy_threads(2 * PIXELS_PER_THREAD - 1, 8) == 1
    assert policy_threads(2 * PIXELS_PER_THREAD, 8) == 2


@pytest.mark.parametrize(("others", "cores", "expected"), [
    (0.05, 2, 2),   # quiet
    (0.4, 2, 2),    # a little background work
    (1.0, 2, 1),    # one busy process beside us
    (5.5, 2, 1),    # overloaded: never below one
    (3.2, 8, 5),
])
def test_free_cores_subtract_what_other_processes_use(others, cores, expected):
    assert free_cores(others=others, n_cores=cores) == expected


@pytest.mark.parametrize(("load", "own", "expected"), [
    (0.05, 0.0, 0.05), (1.0, 0.0, 1.0), (2.0, 1.9, 0.1), (0.5, 0.9, 0.0),
])
def test_load_average_fallback_subtracts_our_own_share(load, own, expected):
    assert load_average_others(load=load, own=own) == pytest.approx(expected)


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@pytest.mark.skipif(cpu_load.sample() is None, reason="needs Linux /proc/stat")
def test_a_busy_process_beside_us_is_counted_and_our_own_work_is_not():
    """Real processes: a single-threaded busy child shows as about one core busy, and the busy
    ticks include this process's own spin, which is what is subtracted (other test workers may add
    load, so only lower bounds are asserted)."""
    before = cpu_load.sample()
    spin = "import time\nend = time.monotonic() + 1.2\nwhile time.monotonic() < end: pass"
    child = subprocess.Popen([sys.executable, "-c", spin])
    child.wait()
    after = cpu_load.sample()
    others = cpu_load.others_busy(before, after)
    assert others is not None and others >= 0.6 * 1.2 / (after.wall - before.wall)  # ~1 core
    before = cpu_load.sample()
    _spin(0.6)
    after = cpu_load.sample()
    ours = after.own - before.own
    assert ours > 0.4
    # /proc/stat's ticks saw our spin (so subtracting process_time removes it, not more)
    assert after.busy - before.busy >= 0.8 * ours


def test_a_short_window_repeats_the_last_reading():
    reading = cpu_load.RecentLoad()
    if reading.previous is None:
        pytest.skip("needs Linux /proc/stat")
    assert reading() is None  # just started: no window yet
    time.sleep(0.25)
    first = reading()
    assert first is not None and first[1] >= cpu_load.MIN_WINDOW_S
    assert reading() == first  # microseconds later: the same reading, not a 0-length window


def test_own_load_estimate_averages_cpu_use_like_the_kernel(monkeypatch):
    clock = {"wall": 100.0, "cpu": 10.0}
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(threads.time, "process_time", lambda: clock["cpu"])
    monkeypatch.setattr(threads, "_process_age", lambda: 20.0)  # 10 s of CPU in 20 s: half a core
    est = threads._OwnLoad()
    assert est() == pytest.approx(0.5 * (1 - math.exp(-20 / 60)))
    clock["wall"] += 600.0  # ten minutes at two full cores: the average reaches 2
    clock["cpu"] += 1200.0
    assert est() == pytest.approx(2.0, abs=1e-3)
    clock["wall"] += 60.0  # then a minute idle: it decays by e
    assert est() == pytest.approx(2.0 / math.e, rel=1e-3)


@pytest.mark.parametrize(("value", "expected"), [("3", 3), (" 1 ", 1), ("auto", None), ("", None),
                                                 (None, None), (4, 4)])
def test_parse_threads_accepts_counts_and_auto(value, expected):
    assert parse_threads(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "2000", "3 threads", True, 0])
def test_invalid_counts_give_a_one_line_config_error(value):
    with pytest.raises(ConfigError) as err:
        parse_threads(value)
    msg = str(err.value)
    assert "\n" not in msg and ENV_VAR in msg and repr(value) in msg


def test_invalid_environment_value_is_a_one_line_config_error(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "lots")
    with pytest.raises(ConfigError, match=r"^STEERLENS_THREADS must be .* got 'lots'$"):
        choose(job_size(28, 28))
    with pytest.raises(ConfigError, match="--threads must be"):
        choose(job_size(28, 28), requested="0")


def test_flag_beats_environment_beats_policy(monkeypatch):
    size = job_size(224, 224, 64, 12)
    monkeypatch.setattr(threads, "free_cores", lambda: 2)
    assert choose(size) == threads.ThreadChoice(2, "policy", size, 2)
    assert choose(job_size(28, 28)).threads == 1
    monkeypatch.setenv(ENV_VAR, "3")
    assert choose(size) == threads.ThreadChoice(3, ENV_VAR)
    assert choose(size, requested=1) == threads.ThreadChoice(1, "--threads")
    monkeypatch.setenv(ENV_VAR, "auto")
    assert choose(size).source == "policy"


def test_apply_sets_and_pins_the_count_for_the_api(monkeypatch):
    monkeypatch.setattr(threads, "free_cores", lambda: 2)
    choice = apply_thread_policy(job_size(28, 28), requested="2")
    assert choice.threads == 2 and torch.get_num_threads() == 2
    with thread_policy(job_size(28, 28)) as inner:  # the API keeps the front end's choice
        assert inner.source == "--threads" and torch.get_num_threads() == 2


def test_workers_default_to_one_thread(monkeypatch):
    assert worker_threads() == 1 and worker_threads("3") == 3
    monkeypatch.setenv(ENV_VAR, "2")
    assert worker_threads() == 2 and worker_threads(1) == 1
    monkeypatch.delenv(ENV_VAR)
    choice = apply_worker_threads()
    assert choice == threads.ThreadChoice(1, "worker default") and torch.get_num_threads() == 1
    monkeypatch.setenv(ENV_VAR, "bad")
    with pytest.raises(ConfigError):
        worker_threads()


def test_the_api_policy_restores_the_previous_count(monkeypatch):
    monkeypatch.setattr(threads, "free_cores", lambda: 2)
    torch.set_num_threads(2)
    monkeypatch.setattr(threads, "_baseline", 2)
    with thread_policy(job_size(28, 28, 1, 4)) as c:
        assert c.source == "policy" and c.threads == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_a_caller_choice_is_left_alone(monkeypatch):
    monkeypatch.setattr(threads, "free_cores", lambda: 2)
    monkeypatch.setattr(threads, "_baseline", 2)
    torch.set_num_threads(3)  # the caller's own torch.set_num_threads
    with thread_policy(job_size(28, 28)) as c:
        assert c == threads.ThreadChoice(3, "caller") and torch.get_num_threads() == 3
    torch.set_num_threads(2)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    with thread_policy(job_size(28, 28)) as c:
        assert c.source == "caller" and torch.get_num_threads() == 2


def test_morph_records_the_policy_in_runtime(monkeypatch):
    from steerlens import MorphConfig, morph_batch
    from steerlens.models.base import Classifier

    monkeypatch.setattr(threads, "free_cores", lambda: 2)
    torch.set_num_threads(2)
    monkeypatch.setattr(threads, "_baseline", 2)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 2))
    clf = Classifier(net, ["a", "b"], (16, 16), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random net may already favour the target
        res = morph_batch(clf, torch.rand(1, 1, 16, 16), [1], MorphConfig(amplification=[0, 1]))
    rt = res[0].runtime
    assert rt["torch_threads"] == 1
    assert rt["thread_policy"] == {"threads": 1, "source": "policy", "job_size": 512, "free_cores": 2}
    assert torch.get_num_threads() == 2

