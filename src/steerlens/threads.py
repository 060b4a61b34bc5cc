"""How many CPU threads torch uses for a job: the thread policy.

torch's default is one intra-op thread per core. On a machine where another process already holds
a core, that default makes small-tensor work many times slower than one thread (the threads wait
on each other at every operation), and steerlens's jobs are mostly small tensors. The policy:

1. an explicit count wins: ``--threads N`` (front ends pass it as ``requested``), else the
   ``STEERLENS_THREADS`` environment variable (``auto`` = the policy);
2. a caller who already chose (``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` set, or
   ``torch.set_num_threads`` called after steerlens was imported) is left alone by the API;
3. otherwise the job's size (image pixels x batch x frames, :func:`job_size`) decides: one thread
   below :data:`PIXELS_PER_THREAD` x 2, and at most one thread per :data:`PIXELS_PER_THREAD`
   above it, never more than the cores that are free (:func:`free_cores`: the affinity mask minus
   the cores other processes kept busy since the last reading, :func:`others_load`).

Batch and Dask workers run one thread each (:func:`worker_threads`) and get their parallelism
from running several processes.

The threshold comes from a measurement: the crossover table (image size x batch x threads 1 and
2, quiet and beside one busy process) in ``benchmarks/README.md`` ("Thread policy"), written by
``benchmarks/threads.py``. Change :data:`PIXELS_PER_THREAD` only with a new table.

Examples
--------
>>> policy_threads(job_size(28, 28, batch=64, frames=16), free=2)
2
>>> policy_threads(job_size(28, 28, batch=1, frames=4), free=2)   # 3,136 px·B·K
1
>>> policy_threads(job_size(224, 224, batch=16, frames=12), free=1)
1
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch

from steerlens.errors import ConfigError

#: environment variable holding a thread count (or ``auto``)
ENV_VAR = "STEERLENS_THREADS"
#: environment variables through which a caller has already chosen torch's thread count
CALLER_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: pixels x batch x frames of work per intra-op thread: a job gets a second thread from twice this
#: size. Half the smallest job where a second thread paid on a quiet 2-core machine (28² x 1 x 16 =
#: 12,544 px·B·K ran 1.14x faster on two threads; 600 k and up 1.2-1.4x; benchmarks/README.md,
#: "Thread policy"), so on a quiet machine nearly every job gets the free cores; beside a busy
#: process the free-cores cap keeps it on one thread, which won there by 1.6-2.9x
PIXELS_PER_THREAD = 6_000
#: the most threads :func:`parse_threads` accepts
MAX_THREADS = 1024
#: time constant of the kernel's 1-minute load average, seconds
LOAD_WINDOW_S = 60.0


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and where it came from.

    Attributes
    ----------
    threads
        torch's intra-op thread count for the job.
    source
        ``--threads``, ``STEERLENS_THREADS``, ``policy``, ``worker default`` or ``caller`` (the
        caller set torch's count and it was left alone).
    job_size, free_cores
        What the policy read (``None`` when it did not decide).
    """

    threads: int
    source: str
    job_size: int | None = None
    free_cores: int | None = None

    def as_dict(self) -> dict[str, object]:
        """For ``result.json``'s ``runtime`` and the batch table."""
        return asdict(self)


def parse_threads(value: object, name: str = ENV_VAR) -> int | None:
    """A thread count from a flag or the environment: ``None`` for unset or ``auto``.

    Examples
    --------
    >>> parse_threads("4"), parse_threads(" auto "), parse_threads(None), parse_threads(2)
    (4, None, None, 2)
    >>> parse_threads("two")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: STEERLENS_THREADS must be a whole number of threads from 1 to 1024 or 'auto', got 'two'
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "auto"):
            return None
        n = int(text) if text.isdigit() else None
    elif isinstance(value, int) and not isinstance(value, bool):
        n = value
    else:
        n = None
    if n is None or not 1 <= n <= MAX_THREADS:
        raise ConfigError(f"{name} must be a whole number of threads from 1 to {MAX_THREADS} "
                          f"or 'auto', got {value!r}")
    return n


def job_size(height: int, width: int, batch: int = 1, frames: int = 1) -> int:
    """The policy's measure of a job: image pixels x batch x frames.

    Examples
    --------
    >>> job_size(28, 28, batch=64, frames=16)
    802816
    """
    return int(height) * int(width) * max(int(batch), 1) * max(int(frames), 1)


def cores() -> int:
    """Cores this process may run on (its affinity mask), else ``os.cpu_count()``
    (:func:`steerlens.provenance.cpu_cores`).

    Examples
    --------
    >>> cores() >= 1
    True
    """
    from steerlens.provenance import cpu_cores

    return cpu_cores()


class _OwnLoad:
    """This process's share of the 1-minute load average, estimated the way the kernel averages.

    The load average counts this process's running threads too; a long-running caller that used two
    threads would otherwise read its own work as another process's and fall back to one thread.
    The estimate is an exponential average (time constant :data:`LOAD_WINDOW_S`) of this process's
    CPU use between calls, started from its average CPU use since it began.
    """

    def __init__(self) -> None:
        self.wall: float | None = None
        self.cpu = 0.0
        self.load = 0.0

    def __call__(self) -> float:
        wall, cpu = time.monotonic(), time.process_time()
        if self.wall is None:
            age = _process_age()
            use = cpu / age if age > 0 else 0.0
            self.load = use * (1.0 - math.exp(-age / LOAD_WINDOW_S))
        else:
            dt = wall - self.wall
            if dt > 0:
                decay = math.exp(-dt / LOAD_WINDOW_S)
                self.load = self.load * decay + (cpu - self.cpu) / dt * (1.0 - decay)
        self.wall, self.cpu = wall, cpu
        return self.load


def _process_age() -> float:
    """Seconds since this process started (Linux ``/proc``; 0 where unknown)."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return 0.0


own_load = _OwnLoad()


def free_cores(others: float | None = None, n_cores: int | None = None) -> int:
    """Cores not held by other processes: the affinity mask minus ``others`` (cores busy with
    other processes), rounded, at least 1.

    ``others`` defaults to :func:`others_load`.

    Examples
    --------
    >>> free_cores(others=0.1, n_cores=2), free_cores(others=0.9, n_cores=2)
    (2, 1)
    >>> free_cores(others=9.0, n_cores=4)
    1
    """
    n = cores() if n_cores is None else n_cores
    busy = others_load() if others is None else others
    return max(1, min(n, round(n - busy)))


def others_load() -> float:
    """Cores other processes keep busy now: their CPU use since the last reading
    (:data:`steerlens.cpu_load.recent_load`, from ``/proc/stat``), else the 1-minute load average
    minus this process's own share (:func:`load_average_others`).

    A reading over a window longer than :data:`steerlens.cpu_load.STALE_WINDOW_S` (a notebook
    idle for minutes) describes the past: the smaller of it and the load-average estimate is kept.
    The load average alone is a poor guide: it lags by a minute and counts tasks waiting on disk
    (0.6-0.9 on an idle 2-core VM), so it is the fallback, not the rule.

    Examples
    --------
    >>> others_load() >= 0
    True
    """
    from steerlens.cpu_load import STALE_WINDOW_S, recent_load

    reading = recent_load()
    if reading is None:
        return load_average_others()
    busy, window = reading
    return min(busy, load_average_others()) if window > STALE_WINDOW_S else busy


def load_average_others(load: float | None = None, own: float | None = None) -> float:
    """The 1-minute load average that is not this process's own (:class:`_OwnLoad`), at least 0.

    Examples
    --------
    >>> load_average_others(load=2.0, own=1.9) < 0.11, load_average_others(load=0.5, own=0.9)
    (True, 0.0)
    """
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(load - (own_load() if own is None else own), 0.0)


def policy_threads(size: int, free: int) -> int:
    """Threads for a job of ``size`` (:func:`job_size`) with ``free`` cores: one thread per
    :data:`PIXELS_PER_THREAD`, at least 1, at most ``free``.

    Examples
    --------
    >>> policy_threads(11_999, 2), policy_threads(12_000, 2), policy_threads(30_000, 8)
    (1, 2, 5)
    """
    return max(1, min(int(free), size // PIXELS_PER_THREAD))


# ----------------------------------------------------------------------------- process state
_baseline = torch.get_num_threads()  # torch's count when steerlens was imported
_pinned: ThreadChoice | None = None  # a front end's choice for the whole process
_last_set: int | None = None  # the last count this module set


def _set(n: int) -> None:
    global _last_set
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    _last_set = n


def _caller_choice() -> ThreadChoice | None:
    """The count the process already committed to, if any: a front end's pin, ``STEERLENS_THREADS``,
    ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` or a ``torch.set_num_threads`` call of the caller's."""
    if _pinned is not None:
        return _pinned
    env = parse_threads(os.environ.get(ENV_VAR))
    if env is not None:
        return ThreadChoice(env, ENV_VAR)
    current = torch.get_num_threads()
    if any(os.environ.get(v) for v in CALLER_ENV_VARS) or current not in (_baseline, _last_set):
        return ThreadChoice(current, "caller")
    return None


def choose(size: int, requested: object = None) -> ThreadChoice:
    """The thread count for a job of ``size``, without setting it: ``requested`` (a ``--threads``
    value), else ``STEERLENS_THREADS``, else the policy.

    Examples
    --------
    >>> choose(802816, requested="3")
    ThreadChoice(threads=3, source='--threads', job_size=None, free_cores=None)
    """
    n = parse_threads(requested, "--threads")
    if n is not None:
        return ThreadChoice(n, "--threads")
    env = parse_threads(os.environ.get(ENV_VAR))
    if env is not None:
        return ThreadChoice(env, ENV_VAR)
    free = free_cores()
    return ThreadChoice(policy_threads(size, free), "policy", size, free)


def apply_thread_policy(size: int, requested: object = None) -> ThreadChoice:
    """Front ends (CLI): choose the count for the process's job (:func:`choose`), set it and pin it,
    so the API calls that follow keep it.

    ``requested`` is the ``--threads`` value (``None`` or ``"auto"``: not given). An invalid value
    raises a one-line :class:`~steerlens.errors.ConfigError`.

    Examples
    --------
    >>> apply_thread_policy(job_size(28, 28), requested=1).threads
    1
    >>> unpin()
    """
    global _pinned
    choice = choose(size, requested)
    _set(choice.threads)
    _pinned = choice
    return choice


def worker_threads(requested: object = None) -> int:
    """Threads of one batch or Dask worker process: ``requested``, else ``STEERLENS_THREADS``,
    else 1 (workers get their parallelism from running several processes).

    Examples
    --------
    >>> worker_threads(), worker_threads("2")
    (1, 2)
    """
    n = parse_threads(requested, "--threads")
    if n is None:
        n = parse_threads(os.environ.get(ENV_VAR))
    return 1 if n is None else n


def apply_worker_threads(requested: object = None) -> ThreadChoice:
    """Set and pin :func:`worker_threads` in a worker process (call it once when it starts).

    Examples
    --------
    >>> apply_worker_threads().source
    'worker default'
    >>> unpin()
    """
    global _pinned
    if parse_threads(requested, "--threads") is not None:
        source = "--threads"
    elif parse_threads(os.environ.get(ENV_VAR)) is not None:
        source = ENV_VAR
    else:
        source = "worker default"
    n = worker_threads(requested)
    _set(n)
    _pinned = ThreadChoice(n, source)
    return _pinned


def unpin() -> None:
    """Forget a front end's pin (tests; a long-lived process switching jobs)."""
    global _pinned
    _pinned = None


@contextmanager
def thread_policy(size: int) -> Iterator[ThreadChoice]:
    """The API's use of the policy: for the duration of one call, the count the caller chose (see
    :func:`_caller_choice`), else the policy's for a job of ``size``; torch's previous count is
    restored afterwards, so a library call leaves no global change behind.

    Examples
    --------
    >>> before = torch.get_num_threads()
    >>> with thread_policy(job_size(28, 28)) as c:
    ...     c.threads == torch.get_num_threads()
    True
    >>> torch.get_num_threads() == before
    True
    """
    committed = _caller_choice()
    if committed is not None:
        if committed.source != "caller":
            _set(committed.threads)
        yield committed
        return
    previous = torch.get_num_threads()
    free = free_cores()
    choice = ThreadChoice(policy_threads(size, free), "policy", size, free)
    _set(choice.threads)
    try:
        yield choice
    finally:
        _set(previous)
