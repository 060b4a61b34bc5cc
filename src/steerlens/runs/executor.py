"""Run a function over tasks in this process or on Dask, yielding each result as it comes back.

The executor only runs: the caller (the driver) records what comes back, so one process alone
writes the output folder. ``steerlens batch`` runs its chunks through it (:func:`~steerlens.batch.
engine.run_plan`), ``steerlens experiment`` its ``morph_batch`` calls
(:func:`~steerlens.experiments.runner.run_experiment`).

Executors (context managers with ``describe()`` and ``run(fn, tasks, on_submit=None)``):

- :class:`InProcess`: tasks one after the other in this process, in order.
- :class:`DaskExecutor`: a ``LocalCluster`` of N single-threaded worker processes bound to
  127.0.0.1 with the dashboard off, or a running cluster (``tcp://HOST:PORT`` or a scheduler
  file). A task whose worker dies is rerun elsewhere by Dask with the same input, so its numbers
  do not change; ``fn`` and the tasks must pickle.

:func:`deferred_signals` holds SIGINT/SIGTERM back while the driver records one result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Self, TypeVar

from steerlens.errors import ConfigError, SteerlensError
from steerlens.runs.files import printable
from steerlens.runs.scheduler import check_scheduler

__all__ = ["DaskExecutor", "InProcess", "RunError", "deferred_signals", "import_distributed"]

T = TypeVar("T")
R = TypeVar("R")


class RunError(SteerlensError):
    """A run stopped: a task that kept killing the workers running it (and the front ends' own
    stops, e.g. ``steerlens batch --fail-fast``)."""


def _name(task: object, i: int) -> str:
    """A task's name in Dask keys and messages: its ``chunk_id`` when it has one, else its index."""
    return str(getattr(task, "chunk_id", i))


class InProcess:
    """Run tasks one by one in this process, in order.

    Torch's thread count is restored on exit (a task may set its own), and a worker's thread pin
    (:func:`steerlens.threads.apply_worker_threads`) is dropped.

    Examples
    --------
    >>> with InProcess() as ex:
    ...     ex.describe(), list(ex.run(len, ["ab", "c"]))
    ('in-process', [('ab', 2), ('c', 1)])
    """

    def __enter__(self) -> Self:
        import torch

        self._threads = torch.get_num_threads()  # tasks set their own; the caller gets its back
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        from steerlens.threads import unpin

        torch.set_num_threads(self._threads)
        unpin()

    def describe(self) -> str:
        """One line for the log."""
        return "in-process"

    def run(
        self,
        fn: Callable[[T], R],
        tasks: Iterable[T],
        on_submit: Callable[[T], None] | None = None,
    ) -> Iterator[tuple[T, R]]:
        """Yield ``(task, fn(task))`` for each task in order.

        ``tasks`` is drawn lazily and ``on_submit(task)`` is called just before the task runs
        (e.g. to journal a chunk's composition before it is computed).
        """
        for task in tasks:
            if on_submit is not None:
                on_submit(task)
            yield task, fn(task)


class DaskExecutor:
    """Run tasks on a Dask cluster: a new local one (``workers``) or a running one (``scheduler``).

    Parameters
    ----------
    workers
        Start a ``LocalCluster`` with this many worker processes (one thread each, 127.0.0.1 only,
        no dashboard).
    scheduler
        ``tcp://HOST:PORT`` of a running scheduler, or the path of its scheduler file.
    resources
        Dask worker resources each task needs, e.g. ``{"GPU": 1}`` (start workers with
        ``--resources GPU=1``).
    dashboard
        Dashboard address for a local cluster (``None``: off).
    """

    def __init__(
        self,
        workers: int | None = None,
        scheduler: str | None = None,
        resources: dict[str, float] | None = None,
        dashboard: str | None = None,
    ) -> None:
        if (workers is None) == (scheduler is None):
            raise ConfigError("give either --workers N or --scheduler ADDRESS, not both")
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self.scheduler = scheduler
        self.resources = resources or None
        self.dashboard = dashboard
        self.client: Any = None
        self.cluster: Any = None

    def __enter__(self) -> Self:
        distributed = import_distributed()
        if self.workers is not None:
            import dask

            # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off
            # glibc's adaptive mmap threshold: every large torch buffer is then mapped and faulted
            # in anew, and a Lite0 chunk took 2-2.5x as long (benchmarks/results/batch-*.md)
            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                self.cluster = self._local_cluster(distributed)
            self.client = distributed.Client(self.cluster)
        else:
            self.client = _connect(distributed, self.scheduler)
        return self

    def _local_cluster(self, distributed: Any) -> Any:
        return distributed.LocalCluster(
            n_workers=self.workers,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=self.dashboard,
            silence_logs=logging.ERROR,
            worker_dashboard_address=None,
        )

    def __exit__(self, *exc: object) -> None:
        if self.cluster is not None and self.client is not None:
            # a worker's heartbeat racing the scheduler's shutdown logs a harmless traceback
            with contextlib.suppress(Exception):
                self.client.run(_quiet_logs)
        for thing in (self.client, self.cluster):
            if thing is not None:
                with contextlib.suppress(Exception):  # closing must not hide the real error
                    thing.close()

    def describe(self) -> str:
        """One line for the log."""
        n = len(self.client.scheduler_info().get("workers", {})) if self.client else 0
        where = f"local cluster of {self.workers}" if self.workers else f"cluster {self.scheduler}"
        return f"dask ({where}, {n} workers)"

    def run(
        self,
        fn: Callable[[T], R],
        tasks: Iterable[T],
        on_submit: Callable[[T], None] | None = None,
    ) -> Iterator[tuple[T, R]]:
        """Submit every task (``on_submit(task)`` first); yield ``(task, fn(task))`` as tasks
        finish, in any order."""
        distributed = import_distributed()
        token = uuid.uuid4().hex[:8]
        waiting: dict[str, tuple[Any, T]] = {}
        for i, t in enumerate(tasks):
            if on_submit is not None:
                on_submit(t)
            fut = self.client.submit(fn, t, key=f"steerlens-{token}-{_name(t, i)}",
                                     pure=False, resources=self.resources)
            waiting[fut.key] = (fut, t)
        try:
            for fut in distributed.as_completed([f for f, _ in waiting.values()]):
                _, task = waiting.pop(fut.key)  # dropping the last reference frees the worker's copy
                try:
                    result = fut.result()
                except distributed.KilledWorker:
                    raise RunError(
                        f"chunk {fut.key} killed the workers running it repeatedly (out of "
                        "memory?); use a smaller --batch-size and rerun"
                    ) from None
                yield task, result
        finally:
            for fut, _ in waiting.values():
                fut.cancel()


def _quiet_logs() -> None:
    """Silence Dask's loggers in a local worker that is about to be closed."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


def import_distributed() -> Any:
    """``dask.distributed``, or a one-line error saying how to install it."""
    try:
        from dask import distributed
    except ImportError:
        raise ConfigError(
            "--workers/--scheduler need Dask; install it with: pip install 'steerlens[batch]'"
        ) from None
    return distributed


def _connect(distributed: Any, scheduler: str) -> Any:
    """A client of the scheduler ``scheduler`` names, checked first (one line if there is none)."""
    address = check_scheduler(scheduler)
    try:
        return distributed.Client(address, timeout="30s")
    except Exception as e:  # noqa: BLE001 - it answered a moment ago; whatever broke is one line
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"cannot connect to the Dask scheduler {printable(scheduler)} ({printable(first)}); "
            "check that it runs and the address"
        ) from None


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back while a block runs, then deliver them to the previous handler.

    The CLI turns these signals into exceptions; raised in the middle of writing a case folder or
    a journal line, they would leave a torn line or a temporary folder behind. Outside the main
    thread (where handlers cannot be changed) the block runs unprotected.

    Examples
    --------
    >>> with deferred_signals():
    ...     x = 1
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    watched = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in watched}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if caught:
            handler = old[caught[0]]
            if callable(handler):
                handler(caught[0], None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), caught[0])
