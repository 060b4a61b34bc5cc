"""Run a plan's pending chunks on an executor and record what comes back.

The driver alone writes the output folder: the executor (:mod:`steerlens.runs.executor`,
in-process or Dask) yields each chunk's outcomes as they finish, the driver writes the case
folders and journal lines, and rewrites the table at the end (also when interrupted, so the table
always matches the journal). Each worker process loads the model once
(:func:`steerlens.batch.worker.load_cached`).

``InProcess``, ``DaskExecutor``, ``deferred_signals`` and ``import_distributed`` are re-exported
from :mod:`steerlens.runs.executor` under their old names.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from steerlens.batch.plan import Plan
from steerlens.batch.store import BatchStore
from steerlens.batch.worker import ChunkTask, ModelRef, run_chunk
from steerlens.runs.executor import (
    DaskExecutor,
    InProcess,
    RunError,
    deferred_signals,
    import_distributed,
)
from steerlens.runs.resume import chunks_to_run

__all__ = [
    "BatchError",
    "BatchReport",
    "DaskExecutor",
    "InProcess",
    "deferred_signals",
    "import_distributed",
    "run_plan",
]


class BatchError(RunError):
    """A batch stopped: ``--fail-fast`` on a failed case, or a full disk (a chunk that kept killing
    workers raises the executor's :class:`~steerlens.runs.executor.RunError`, its base)."""


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
                for _task, outcomes in ex.run(run_chunk, tasks):
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
