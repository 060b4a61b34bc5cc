"""Run a plan's pending chunks in this process or on Dask, and record what comes back.

The driver alone writes the output folder: executors yield each chunk's outcomes as they finish,
the driver writes the case folders and journal lines, and rewrites the table at the end (also when
interrupted, so the table always matches the journal).

Executors:

- :class:`InProcess`: chunks one after the other in this process (the model is loaded once).
- :class:`DaskExecutor`: ``--workers N`` starts a ``LocalCluster`` of N single-threaded worker
  processes bound to 127.0.0.1 with the dashboard off; ``--scheduler tcp://HOST:PORT`` (or a
  scheduler file) uses a running cluster. Each worker process loads the model once
  (:func:`steerlens.batch.worker.load_cached`). A chunk whose worker dies is rerun elsewhere by
  Dask with the same composition, so its numbers do not change.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from steerlens.batch.plan import Plan
from steerlens.batch.store import BatchStore
from steerlens.batch.worker import CaseOutcome, ChunkTask, ModelRef, run_chunk
from steerlens.errors import ConfigError, SteerlensError
from steerlens.runs.resume import chunks_to_run

__all__ = ["BatchError", "BatchReport", "DaskExecutor", "InProcess", "run_plan"]


class BatchError(SteerlensError):
    """A batch stopped: ``--fail-fast`` on a failed case, or a chunk that kept killing workers."""


@dataclass
class BatchReport:
    """What one ``run_plan`` call did."""

    cases: int
    pending: int
    new: int
    failed: int
    runtime_s: float
    files: list[Path] = field(default_factory=list)
    #: how ``--limit`` chose the images, in words ("" when every image was used)
    selection: str = ""


class InProcess:
    """Run chunks one by one in this process.

    Examples
    --------
    >>> with InProcess() as ex:
    ...     ex.describe()
    'in-process'
    """

    def __enter__(self) -> Self:
        import torch

        self._threads = torch.get_num_threads()  # chunks set their own; the caller gets its back
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        from steerlens.threads import unpin

        torch.set_num_threads(self._threads)
        unpin()

    def describe(self) -> str:
        """One line for the log."""
        return "in-process"

    def run(self, tasks: Sequence[ChunkTask]) -> Iterator[list[CaseOutcome]]:
        """Yield each chunk's outcomes in order."""
        for task in tasks:
            yield run_chunk(task)


class DaskExecutor:
    """Run chunks on a Dask cluster: a new local one (``workers``) or a running one (``scheduler``).

    Parameters
    ----------
    workers
        Start a ``LocalCluster`` with this many worker processes (one thread each, 127.0.0.1 only,
        no dashboard).
    scheduler
        ``tcp://HOST:PORT`` of a running scheduler, or the path of its scheduler file.
    resources
        Dask worker resources each chunk needs, e.g. ``{"GPU": 1}`` (start workers with
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

    def run(self, tasks: Sequence[ChunkTask]) -> Iterator[list[CaseOutcome]]:
        """Submit every chunk; yield outcomes as chunks finish (in any order)."""
        distributed = import_distributed()
        token = uuid.uuid4().hex[:8]
        waiting = {}
        for t in tasks:
            fut = self.client.submit(run_chunk, t, key=f"steerlens-{token}-{t.chunk_id}",
                                     pure=False, resources=self.resources)
            waiting[fut.key] = fut
        try:
            for fut in distributed.as_completed(list(waiting.values())):
                waiting.pop(fut.key, None)  # dropping the last reference frees the worker's copy
                try:
                    outcomes = fut.result()
                except distributed.KilledWorker:
                    raise BatchError(
                        f"chunk {fut.key} killed the workers running it repeatedly (out of "
                        "memory?); use a smaller --batch-size and rerun"
                    ) from None
                yield outcomes
        finally:
            for fut in waiting.values():
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
    from steerlens.batch.inputs import printable
    from steerlens.batch.scheduler import check_scheduler

    address = check_scheduler(scheduler)
    try:
        return distributed.Client(address, timeout="30s")
    except Exception as e:  # noqa: BLE001 - it answered a moment ago; whatever broke is one line
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"cannot connect to the Dask scheduler {printable(scheduler)} ({printable(first)}); "
            "check that it runs and the address"
        ) from None


def run_plan(
    plan: Plan,
    store: BatchStore,
    executor: InProcess | DaskExecutor,
    model: ModelRef,
    judges: Sequence[tuple[str, ModelRef]] = (),
    device: str = "auto",
    threads: int = 1,
    artefacts: str = "final",
    fail_fast: bool = False,
    retry_failed: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    finish: Callable[[BatchStore], list[Path]] | None = None,
) -> BatchReport:
    """Run every chunk that holds an unfinished case and record the new cases.

    A chunk is always run whole (same composition as in the first run) and only its unfinished
    cases are recorded, so a case appears once however often its chunk runs.

    Parameters
    ----------
    plan
        Cases and chunks (:func:`~steerlens.batch.plan.make_plan`).
    store
        The output folder, already claimed and loaded.
    executor
        :class:`InProcess` or :class:`DaskExecutor`, entered by this function.
    model, judges
        How workers load the driver and the judges.
    device, threads
        Per worker.
    artefacts
        ``none``, ``final`` or ``all``.
    fail_fast
        Stop at the first failed case (:class:`BatchError`).
    retry_failed
        Rerun cases recorded as failed.
    progress, echo
        Progress bar and log lines.
    finish
        Called with the store after the run, also when it is interrupted: writes the table and
        summary; returns the files written.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    chunk_of = {c.key: ch for ch in plan.chunks for c in ch.cases}
    order = list(chunk_of)
    pending = {k for k in order if not store.done(k, artefacts, retry_failed)}
    # the plan fixed every chunk, so the resume rule only picks them: those with a pending case
    runs = chunks_to_run(order, pending, lambda k: [c.key for c in chunk_of[k].cases], len(order) or 1)
    todo = [chunk_of[keys[0]] for keys in runs]
    tasks = [
        ChunkTask(
            chunk_id=ch.chunk_id,
            cases=ch.cases,
            config=plan.groups[ch.group].config,
            settings_hash=plan.groups[ch.group].settings_hash,
            model=model,
            judges=tuple(judges),
            device=device,
            threads=threads,
            artefacts=artefacts,
        )
        for ch in todo
    ]
    new = failed = 0
    files: list[Path] = []
    bar = None
    failure: BaseException | None = None
    try:
        if tasks:
            with executor as ex:
                echo(f"running {len(pending)} cases in {len(tasks)} chunks on {ex.describe()}")
                bar = tqdm(total=len(pending), unit="case", disable=not progress,
                           dynamic_ncols=True, desc="batch", smoothing=0.1)
                for outcomes in ex.run(tasks):
                    for o in outcomes:
                        key = o.row["case_key"]
                        if key not in pending:
                            continue  # finished in an earlier run; its chunk ran for the others
                        with deferred_signals():  # a case is recorded whole or not at all
                            store.record(o.row, o.files)
                        pending.discard(key)
                        new += 1
                        bar.update(1)
                        if o.row["status"] != "ok":
                            failed += 1
                            if fail_fast:
                                raise BatchError(
                                    f"case {o.row['image']} ({o.row['method']}) failed: "
                                    f"{o.row['error']}; stopped by --fail-fast after {new} new cases"
                                )
    except BaseException as e:
        failure = e
        raise
    finally:
        if bar is not None:
            bar.close()
        if finish is not None and store.rows:
            with deferred_signals():
                try:
                    files = finish(store)
                except OSError:
                    # the table cannot be written either (a full disk): the first error is the one
                    # to report; the journal is intact and the next run writes the table
                    if failure is None:
                        raise
    return BatchReport(len(plan.cases), len(pending) + new, new, failed,
                       time.perf_counter() - t0, files)


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


def default_threads(workers: int | None, scheduler: str | None) -> int:
    """Torch threads per worker: 1 everywhere (``STEERLENS_THREADS`` overrides), so parallelism
    comes from worker processes. Small-tensor morphs run 5-10x slower with 2 threads than with 1
    on a busy 2-core machine (the crossover table in ``benchmarks/README.md``).

    Examples
    --------
    >>> default_threads(None, "tcp://127.0.0.1:8786")
    1
    """
    from steerlens.threads import worker_threads

    return worker_threads()
