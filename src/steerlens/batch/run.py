"""``run_batch``: the whole of ``steerlens batch`` as one Python call.

Reads the input, loads the driver once on this machine (for its classes and weights hash), plans
the cases, claims the output folder, runs the pending chunks in-process or on Dask, and writes the
table, CSV and summary.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from steerlens.batch.engine import BatchError, BatchReport, default_threads, run_plan
from steerlens.batch.inputs import InputSet, read_inputs
from steerlens.batch.plan import Plan, TargetRule, make_plan, parse_target_rule
from steerlens.batch.store import BatchStore
from steerlens.batch.summary import summary_markdown
from steerlens.batch.worker import ARTEFACT_LEVELS, ModelRef, load_cached, remember
from steerlens.config import MorphConfig
from steerlens.errors import ConfigError
from steerlens.outputs import check_writable, write_text_atomic
from steerlens.runs.executor import DaskExecutor, InProcess, import_distributed
from steerlens.runs.files import printable
from steerlens.runs.scheduler import check_scheduler

__all__ = ["run_batch"]


def run_batch(
    source: str | Path,
    model: str,
    out: str | Path,
    *,
    target: str | None = None,
    max_targets: int = 10,
    methods: Sequence[str] = ("csp-phase",),
    regimes: Sequence[str] = ("one-step",),
    budgets: Sequence[float | None] = (None,),
    config: MorphConfig | None = None,
    weights: str | None = None,
    model_options: dict[str, Any] | None = None,
    judges: Sequence[str] = (),
    layout: str = "auto",
    limit: int | None = None,
    batch_size: int = 16,
    artefacts: str = "final",
    workers: int | None = None,
    scheduler: str | None = None,
    resources: dict[str, float] | None = None,
    device: str = "auto",
    threads: int | None = None,
    fail_fast: bool = False,
    retry_failed: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    command: str | None = None,
) -> BatchReport:
    """Morph every image of ``source`` toward its targets with every method, regime and budget.

    Parameters
    ----------
    source
        A folder of images, an ImageFolder, a ``.csv``/``.jsonl`` manifest or a built-in dataset
        (see :func:`steerlens.batch.inputs.read_inputs`).
    model
        The driver (anything :func:`steerlens.load_model` takes).
    out
        Output folder (see :mod:`steerlens.batch.store`); a rerun resumes it.
    target
        A class name or index, ``runner-up``, ``all`` or ``manifest`` (default: the manifest's
        targets if it has them, else ``runner-up``).
    max_targets
        Cap for ``all``.
    methods, regimes, budgets
        The grid of settings; ``None`` as a budget aims at ``config.goal_p``.
    config
        Every other morph option (``method``, ``regime`` and ``l2_budget`` are taken from the grid).
    weights, model_options
        State dict and user-model options (``input_size``, ``channels``, ``class_names``,
        ``normalize``).
    judges
        Models scored on the source and the last frame (never differentiated).
    layout, limit
        Folder layout (``auto``, ``folder``, ``imagefolder``) and the number of images to keep.
    batch_size
        Cases per ``morph_batch`` call (and per chunk).
    artefacts
        ``none``, ``final`` (result.json, final.png, source.png) or ``all`` (GIF, filmstrip, curves,
        frames.npz, result.json).
    workers, scheduler, resources
        Dask: a local cluster of ``workers`` processes, or a running ``scheduler``; ``resources``
        each chunk needs (e.g. ``{"GPU": 1}``).
    device, threads
        Device of each worker (``auto``: a GPU where the worker has one, else the CPU; recorded
        per row) and its torch threads (default: see
        :func:`~steerlens.batch.engine.default_threads`).
    fail_fast, retry_failed
        Stop at the first failed case; rerun cases recorded as failed.
    progress, echo, command
        Progress bar, log function, and the command line quoted in the summary.

    Returns
    -------
    BatchReport
        Case counts, runtime and the files written.

    Raises
    ------
    SteerlensError
        One line for anything the user can fix: bad input, an unreachable ``scheduler``, a full
        disk (:class:`~steerlens.batch.engine.BatchError`). A folder this call created holds no
        output afterwards unless a case was recorded in it (then a rerun resumes it).

    Examples
    --------
    >>> report = run_batch("photos/", "efficientnet-lite0", "out/audit", target="tiger cat",
    ...                    methods=["csp-phase", "pixel"], budgets=[10.0])  # doctest: +SKIP
    """
    if artefacts not in ARTEFACT_LEVELS:
        raise ConfigError(f"--artefacts must be one of {', '.join(ARTEFACT_LEVELS)}, got {artefacts!r}")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    out = check_writable(out)
    executor = (
        DaskExecutor(workers, scheduler, resources) if workers is not None or scheduler is not None
        else InProcess()
    )
    if isinstance(executor, DaskExecutor):
        import_distributed()  # one-line error before any work when Dask is missing
        if scheduler is not None:
            check_scheduler(scheduler)  # one line before the model is loaded or --out is touched
    base = (config or MorphConfig()).validate()
    options = tuple(sorted((k, v if not isinstance(v, Path) else str(v))
                           for k, v in (model_options or {}).items() if v is not None))
    ref = ModelRef(str(model), None if weights is None else str(weights), options)
    driver = load_cached(ref, "cpu")
    sha = driver.spec.get("weights_sha256")
    ref = ModelRef(ref.spec, ref.weights, ref.options, sha)
    remember(ref, driver, "cpu")
    judge_refs = []
    for spec in judges:
        jref = ModelRef(str(spec))
        judge = load_cached(jref, "cpu")
        if judge.num_classes != driver.num_classes:
            raise ConfigError(
                f"judge {spec} has {judge.num_classes} classes, the driver {driver.num_classes}; "
                "judges must predict the same classes"
            )
        jref = ModelRef(jref.spec, None, (), judge.spec.get("weights_sha256"))
        remember(jref, judge, "cpu")
        judge_refs.append((_column_name(judge.name), jref))
    inputs = read_inputs(source, driver.class_names, layout=layout, limit=limit, exclude=Path(out),
                         seed=base.seed)
    rule = parse_target_rule(target, driver.class_names, inputs.items, max_targets)
    plan = make_plan(
        inputs, rule, driver.class_names, sha or "unhashed", base, list(methods), list(regimes),
        list(budgets), batch_size, {n: r.sha256 for n, r in judge_refs},
        (driver.channels, *driver.input_size),
    )
    plan.identity["model"] = driver.name
    store = BatchStore(out)
    made = _missing_folders(store.out)  # --out and the parents this call will create
    try:
        try:
            store.claim(plan.identity)
        except BaseException:
            _remove_empty(made)  # only empty folders (another driver may have made them since)
            raise
        with store.locked():
            try:
                return _run_locked(
                    store, plan, inputs, rule, executor, ref, judge_refs, driver.name,
                    device=device, threads=threads or default_threads(workers, scheduler),
                    artefacts=artefacts, fail_fast=fail_fast, retry_failed=retry_failed,
                    progress=progress, echo=echo, command=command,
                )
            except BaseException:
                if made and not store.rows:  # nothing recorded: leave no folder behind
                    shutil.rmtree(store.out, ignore_errors=True)
                    _remove_empty(made)
                raise
    except OSError as e:
        if not _out_of_space(e):
            raise
        raise BatchError(_out_of_space_message(e, out, bool(store.rows))) from None


def _run_locked(
    store: BatchStore, plan: Plan, inputs: InputSet, rule: TargetRule,
    executor: InProcess | DaskExecutor, ref: ModelRef, judge_refs: list[tuple[str, ModelRef]],
    model_name: str, *,
    device: str, threads: int, artefacts: str, fail_fast: bool, retry_failed: bool, progress: bool,
    echo: Callable[[str], None], command: str | None,
) -> BatchReport:
    """The part of :func:`run_batch` that runs with the output folder locked."""
    store.load()
    if store.torn:
        echo(f"dropped {store.torn} torn journal line(s) of an interrupted run; their cases are rerun")
        store.repair()  # the journal rule of every run: torn lines go before anything is appended
    taken = f"; took {inputs.selection}" if inputs.selection else ""
    echo(
        f"{len(inputs.items)} images ({inputs.kind}{taken}), target {rule.label()}, "
        f"{len(plan.groups)} setting(s) -> {len(plan.cases)} cases in {len(plan.chunks)} chunks"
        + (f" ({plan.duplicates} duplicate images skipped)" if plan.duplicates else "")
    )
    keys = {c.key for c in plan.cases}
    source = f"{inputs.source}: {inputs.selection}" if inputs.selection else None

    def finish(st: BatchStore) -> list[Path]:
        files = st.write_table(keys)
        text = summary_markdown(st.table_rows(keys), model_name, command, source)
        files.append(write_text_atomic(st.out / "summary.md", text))
        return files

    report = run_plan(
        plan, store, executor, ref, judge_refs, device=device, threads=threads,
        artefacts=artefacts, fail_fast=fail_fast, retry_failed=retry_failed, progress=progress,
        echo=echo, finish=finish,
    )
    if not report.files:
        report.files = finish(store)
    report.selection = inputs.selection
    return report


#: errno values that mean "the disk (or the file-size limit) is full"
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _out_of_space(e: OSError) -> bool:
    """Whether ``e`` says a write ran out of space (also pyarrow's errors, which carry no errno)."""
    if e.errno in _NO_SPACE:
        return True
    text = str(e)
    return any(os.strerror(n) in text for n in _NO_SPACE)


def _out_of_space_message(e: OSError, out: Path, kept: bool) -> str:
    """One line for a write that ran out of space or past the file-size limit."""
    where = printable(e.filename) if getattr(e, "filename", None) else f"--out {printable(out)}"
    then = "finished cases are kept; " if kept else "nothing was left behind; "
    if e.errno == errno.EFBIG or os.strerror(errno.EFBIG) in str(e):
        return (f"cannot write {where}: {os.strerror(errno.EFBIG)} (the file-size limit, ulimit -f); "
                f"{then}raise the limit or choose another --out and rerun the same command")
    reason = e.strerror or next((os.strerror(n) for n in _NO_SPACE if os.strerror(n) in str(e)), "")
    return (f"no space left writing {where} ({reason or 'disk full'}); {then}free space or choose "
            "another --out and rerun the same command")


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    made = []
    for p in (folder, *folder.absolute().parents):
        if p.exists():
            break
        made.append(p)
    return made


def _remove_empty(folders: list[Path]) -> None:
    """Remove each of ``folders`` (deepest first) that is empty; never anything inside one."""
    for folder in folders:
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError:  # not empty: someone else's now
            return


def _column_name(name: str) -> str:
    """Judge name as a column fragment: ``mnist-cnn-robust`` -> ``mnist_cnn_robust``."""
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
