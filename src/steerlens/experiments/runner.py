"""Run a named experiment: matched-budget morphs, per-case metrics, a resumable journal, reports.

For every dataset, driver, regime, budget, variant and method, the pending sources go through
:func:`~steerlens.api.morph_batch` in batches of ``spec.batch_size`` (each source gets its own
amplification, searched to the same final pixel L2); each batch's endpoints are scored
(:mod:`steerlens.experiments.scoring`) and its records appended to ``<out>/cases.jsonl`` at once.
The batches go through the runs engine's executor (:class:`steerlens.runs.executor.InProcess`,
as ``steerlens batch`` chunks do): the executor computes, this module records (the journal lines
and the kept morphs).

Resuming is exact. Before each ``morph_batch`` call the ordered list of its case keys goes to
``<out>/batches.jsonl`` (:class:`~steerlens.experiments.store.BatchLog`), and every record names its
batch. A case's numbers depend in the last bits on the other images of its batch (batched
convolutions), and those bits can flip a search decision, so a rerun recomputes a missing case in
exactly its recorded batch (storing only the missing records): an interrupted and resumed run gives
the numbers of an uninterrupted one. A torn last line of a journal is dropped on resume.

The morphs of a few figure sources per group are kept as data in ``<out>/cache/kept/*.npz``
(:mod:`steerlens.experiments.kept`; never a pickle); unreadable ones are recomputed the same way.
Finally :func:`steerlens.experiments.report.write_outputs` writes ``results.json``,
``results.md``, ``README.md`` and ``figures/``.
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from steerlens.errors import ConfigError
from steerlens.experiments.figures import cell_slug
from steerlens.experiments.kept import load_kept, save_kept
from steerlens.experiments.report import write_outputs
from steerlens.experiments.scoring import score_endpoints
from steerlens.experiments.sources import (
    SourceSet,
    dataset_split,
    load_driver,
    load_judges,
    select_sources,
)
from steerlens.experiments.specs import ExperimentSpec, Variant
from steerlens.experiments.store import BatchLog, CaseStore, batch_id, case_key
from steerlens.experiments.summary import summarise
from steerlens.models.base import Classifier
from steerlens.outputs import TMP_PREFIX, check_writable
from steerlens.result import MorphResult
from steerlens.runs.executor import InProcess
from steerlens.runs.resume import chunks_to_run

__all__ = ["ExperimentReport", "kept_path", "plan_batches", "run_experiment"]

Cell = tuple[Any, ...]


@dataclass
class ExperimentReport:
    """What :func:`run_experiment` did.

    Attributes
    ----------
    name, out
        Experiment name and results folder.
    rows
        Summary rows (:func:`steerlens.experiments.summary.summarise`).
    n_cases, n_new
        Cases in the summary, and cases computed by this run (the rest came from the journal).
    skipped
        ``dataset -> reason`` for datasets that could not run (e.g. Fashion-MNIST not installed).
    runtime_s
        Wall time of this run.
    files
        Files written.
    """

    name: str
    out: Path
    rows: list[dict[str, Any]]
    n_cases: int
    n_new: int
    skipped: dict[str, str] = field(default_factory=dict)
    runtime_s: float = 0.0
    files: list[Path] = field(default_factory=list)


def _targets(driver: Classifier, sources: SourceSet, idx: list[int]) -> torch.Tensor:
    """Fixed targets where given, else the driver's runner-up class."""
    x = sources.x[idx]
    with torch.no_grad():
        p = torch.softmax(driver(x).float(), -1)
    runner_up = p.topk(2, dim=-1).indices[:, 1]
    fixed = sources.targets[idx]
    return torch.where(fixed >= 0, fixed, runner_up)


def _morph(driver: Classifier, x: torch.Tensor, t: torch.Tensor, cfg: Any) -> list[MorphResult]:
    from steerlens.api import morph_batch

    with warnings.catch_warnings():
        # runner-up targets never equal the top-1, but a showcase pair may; it is recorded anyway
        warnings.filterwarnings("ignore", message="target equals the source")
        return morph_batch(driver, x, t, cfg)


def _ground_truth(
    sources: SourceSet, idx: list[int], t: torch.Tensor, points: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    if sources.family is None:
        return None
    from steerlens.data.synthetic import ground_truth_path, ground_truth_transform

    params = sources.subset_params(idx)
    assert params is not None
    x = sources.x[idx]
    return (
        ground_truth_transform(x, params, t, sources.family),
        ground_truth_path(x, params, t, sources.family, n_points=points),
    )


#: what one chunk gives back: (results, records, morph s, score s)
_Computed = tuple[list[MorphResult], list[dict[str, Any]], float, float]


def _run_batch(
    driver: Classifier,
    judges: dict[str, Classifier],
    sources: SourceSet,
    idx: list[int],
    cfg: Any,
    spec: ExperimentSpec,
    budget: float,
) -> _Computed:
    """One ``morph_batch`` call on sources ``idx`` and its scores: (results, records, morph s, score s).

    Targets, morphs and scores are all computed over exactly this batch.
    """
    t = _targets(driver, sources, idx)
    tic = time.perf_counter()
    results = _morph(driver, sources.x[idx], t, cfg)
    morph_s = time.perf_counter() - tic
    tic = time.perf_counter()
    gt = _ground_truth(sources, idx, t, spec.scoring.path_points)
    recs = score_endpoints(results, sources.x[idx], t, driver, judges, budget, spec.scoring, gt)
    return results, recs, morph_s, time.perf_counter() - tic


@dataclass(frozen=True)
class _Chunk:
    """One ``morph_batch`` call of a group: its case keys in order and their source indices."""

    keys: tuple[str, ...]
    idx: tuple[int, ...]


def _compute(
    driver: Classifier,
    judges: dict[str, Classifier],
    sources: SourceSet,
    cfg: Any,
    spec: ExperimentSpec,
    budget: float,
    chunk: _Chunk,
) -> _Computed:
    """The function the executor runs per chunk: :func:`_run_batch` on its sources."""
    return _run_batch(driver, judges, sources, list(chunk.idx), cfg, spec, budget)


def _journal(log: BatchLog, say: Callable[[str], None], chunk: _Chunk) -> None:
    """Before a chunk runs: its composition (and torch's thread count) goes to ``batches.jsonl``."""
    threads = torch.get_num_threads()
    bid = log.record(chunk.keys, torch_threads=threads)
    old = log.records[bid].get("torch_threads")
    if old is not None and old != threads:
        say(f"batch {bid} first ran with {old} torch threads, now {threads}: its "
            "recomputed numbers may differ in the last bits")


def _groups(spec: ExperimentSpec) -> list[tuple[str, str, float, Variant, str]]:
    out = []
    for driver in spec.drivers:
        for regime in spec.regimes:
            for budget in spec.budgets:
                for variant in spec.variants:
                    for method in spec.methods:
                        if variant.methods is None or method in variant.methods:
                            out.append((driver, regime, budget, variant, method))
    return out


def _budget_scale(spec: ExperimentSpec, sources: SourceSet) -> float:
    """1, or the median true-change L2 of a synthetic family (``spec.relative_budgets``)."""
    if not spec.relative_budgets:
        return 1.0
    if sources.family is None:
        raise ConfigError("relative budgets need a synthetic family (its true change sets the scale)")
    idx = list(range(len(sources)))
    gt = _ground_truth(sources, idx, sources.targets, 2)
    assert gt is not None
    return float((gt[0] - sources.x).flatten(1).norm(dim=1).median())


def _check_same_weights(store: CaseStore, dataset: str, driver_name: str, model: Any) -> None:
    """Refuse to resume a results folder whose cases came from other weights of the same driver.

    Trained models are cached per machine (``STEERLENS_CACHE_DIR``); two caches can hold different
    weights under the same name, and mixing them in one table would compare different drivers.
    """
    sha = model.spec.get("weights_sha256")
    if not sha:
        return
    for rec in store.values():
        old = rec.get("driver_sha256")
        if rec.get("dataset") == dataset and rec.get("driver") == driver_name and old and old != sha:
            raise ConfigError(
                f"{dataset} {driver_name} driver weights ({sha[:12]}) differ from those of the cached "
                f"cases ({old[:12]}); use the same STEERLENS_CACHE_DIR as before or a fresh --out"
            )


def _remove_stale_temporaries(out: Path) -> None:
    """Temporary files and folders a killed run left beside its outputs (never the journals)."""
    for folder in (out, out / "figures", out / "cache" / "kept"):
        for p in folder.glob(f"{TMP_PREFIX}*") if folder.is_dir() else ():
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def kept_path(out: Path, cell: Cell, method: str) -> Path:
    """Where the kept morphs of one group live: ``<out>/cache/kept/<cell>__<method>.npz``.

    Examples
    --------
    >>> kept_path(Path("r"), ("mnist", "standard", "one-step", 2.0, "default"), "pixel").name
    'mnist_standard_one-step_L2-2_default__pixel.npz'
    """
    return out / "cache" / "kept" / f"{cell_slug(cell)}__{method}.npz"


#: the resume rule of every run (:func:`steerlens.runs.resume.chunks_to_run`), under its old name
plan_batches = chunks_to_run


def _recorded_batch(store: CaseStore, log: BatchLog) -> Callable[[str], list[str] | None]:
    def lookup(key: str) -> list[str] | None:
        bid = store.records[key].get("batch") if key in store else log.batch_of(key)
        rec = log.records.get(bid) if bid else None
        return list(rec["keys"]) if rec else None

    return lookup


def run_experiment(
    spec: ExperimentSpec,
    out: str | Path,
    command: str | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
) -> ExperimentReport:
    """Run (or resume) an experiment and write its results under ``out``.

    Parameters
    ----------
    spec
        The experiment grid (:func:`steerlens.experiments.specs.default_spec`).
    out
        Results folder; ``out/cases.jsonl`` and ``out/batches.jsonl`` journal finished cases and
        batch compositions between runs.
    command
        The command line to record in the README (default: ``sys.argv``).
    progress
        Show a progress bar over groups of cases.
    echo
        Where to print one-line messages (skipped datasets, repaired journals...); default: nowhere.

    Returns
    -------
    ExperimentReport

    Raises
    ------
    ConfigError
        An invalid spec or an unwritable ``out`` (checked before anything is created), or cached
        cases made with other driver weights.

    Examples
    --------
    >>> from steerlens.experiments import default_spec, run_experiment
    >>> rep = run_experiment(default_spec("mnist", quick=True), "results/mnist-quick")  # doctest: +SKIP
    >>> rep.rows[0]["metrics"]["E_warp_gain"]["estimate"]                                # doctest: +SKIP
    0.71
    """
    from tqdm.auto import tqdm

    spec.validate()
    say = echo or (lambda _m: None)
    out = check_writable(Path(out))
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out)
    t_start = time.perf_counter()
    store = CaseStore(out / "cases.jsonl")
    log = BatchLog(out / "batches.jsonl")
    for j in (store, log):
        if j.dropped:
            say(f"dropped {j.dropped} torn line(s) of {j.path.name}; their cases are recomputed")
    recorded = _recorded_batch(store, log)
    skipped: dict[str, str] = {}
    wanted: set[str] = set()
    n_new = 0
    groups = _groups(spec)
    bar = tqdm(total=len(spec.datasets) * len(groups), desc=spec.name, disable=not progress)
    with InProcess() as ex:  # experiments run in this process (models in memory)
        for dataset in spec.datasets:
            try:
                split = dataset_split(dataset)
            except ConfigError as exc:
                skipped[dataset] = str(exc)
                say(f"skipping {dataset}: {exc}")
                bar.update(len(groups))
                continue
            sources = select_sources(dataset, spec.sources, split, spec.showcase)
            fam_split = split if dataset.startswith("synthetic-") else None
            drivers = {d: load_driver(dataset, d, fam_split, progress) for d in spec.drivers}
            judges = load_judges(dataset, fam_split, progress)
            for name, model in drivers.items():
                _check_same_weights(store, dataset, name, model)
            samples = [i for i, k in enumerate(sources.kinds) if k == "sample"]
            shows = [i for i, k in enumerate(sources.kinds) if k == "showcase"]
            figure = set(samples[: spec.figure_sources]) | set(shows)
            scale = _budget_scale(spec, sources)
            for driver_name, regime, rel_budget, variant, method in groups:
                budget = round(rel_budget * scale, 3)
                bar.set_postfix_str(f"{dataset} {driver_name} {regime} L2={budget:g} {variant.name} {method}")
                cap = spec.live_sources if regime == "live" and spec.live_sources else None
                use = (samples[:cap] if cap else samples) + shows
                index = {
                    case_key(dataset, driver_name, regime, budget, method, variant.name, sources.ids[i]): i
                    for i in use
                }
                wanted.update(index)
                cell = (dataset, driver_name, regime, budget, variant.name)
                kpath = kept_path(out, cell, method)
                kept = load_kept(kpath)
                needed = {
                    k for k, i in index.items()
                    if k not in store or (i in figure and sources.ids[i] not in kept)
                }
                if not needed:
                    bar.update(1)
                    continue
                driver = drivers[driver_name]
                cfg = spec.config(method, regime, budget, variant, tuple(sources.x.shape[-2:]))
                compute = partial(_compute, driver, judges, sources, cfg, spec, budget)
                journal = partial(_journal, log, say)
                chunks = (
                    _Chunk(tuple(keys), tuple(index[k] for k in keys))
                    for keys in chunks_to_run(list(index), needed, recorded, spec.batch_size)
                )
                for chunk, (results, recs, morph_s, score_s) in ex.run(compute, chunks, journal):
                    # the recording step: the new cases to cases.jsonl, the figure morphs to kept/
                    keys, idx = chunk.keys, chunk.idx
                    bid = batch_id(keys)
                    threads = torch.get_num_threads()
                    new = []
                    for k, i, rec, res in zip(keys, idx, recs, results):
                        if k in store:
                            continue
                        rec.update(
                            key=k,
                            experiment=spec.name,
                            dataset=dataset,
                            driver=driver_name,
                            driver_model=driver.name,
                            driver_sha256=driver.spec.get("weights_sha256"),
                            regime=regime,
                            budget=budget,
                            variant=variant.name,
                            method=method,
                            source_id=sources.ids[i],
                            kind=sources.kinds[i],
                            label=int(sources.labels[i]),
                            batch=bid,
                            torch_threads=res.runtime.get("torch_threads", threads),
                            morph_s=morph_s / len(idx),
                            score_s=score_s / len(idx),
                            live_steps=res.timings.get("live_steps"),
                        )
                        new.append(rec)
                    keep = {sources.ids[i]: r for i, r in zip(idx, results) if i in figure}
                    if keep:
                        kept.update(keep)
                        save_kept(kpath, kept)
                    store.append(new)
                    n_new += len(new)
                bar.update(1)
    bar.close()
    records = _records_to_report(store, wanted)
    rows = summarise(records, n_boot=spec.n_boot)
    files = write_outputs(
        spec, out, records, rows, skipped, command, time.perf_counter() - t_start, n_new,
        _load_kept_cells(out, records),
    )
    return ExperimentReport(
        name=spec.name,
        out=out,
        rows=rows,
        n_cases=sum(1 for r in records if r.get("kind") == "sample"),
        n_new=n_new,
        skipped=skipped,
        runtime_s=time.perf_counter() - t_start,
        files=files,
    )


def _group_of(rec: dict[str, Any]) -> Cell:
    return (rec["dataset"], rec["driver"], rec["regime"], rec["budget"], rec["variant"], rec["method"])


def _records_to_report(store: CaseStore, wanted: set[str]) -> list[dict[str, Any]]:
    """This run's cases, plus the groups earlier invocations filled that this run did not cover.

    So a results folder filled by several invocations (e.g. one-step first, then the live regime
    on fewer sources) reports all of them; groups this run covers use exactly its sources.
    """
    mine = [store.records[k] for k in sorted(wanted) if k in store]
    covered = {_group_of(r) for r in mine}
    others = [r for k, r in sorted(store.records.items())
              if k not in wanted and _group_of(r) not in covered]
    return mine + others


def _method_order(m: str) -> int:
    from steerlens.config import COMPARE_METHODS

    return COMPARE_METHODS.index(m) if m in COMPARE_METHODS else len(COMPARE_METHODS)


def _load_kept_cells(out: Path, records: list[dict[str, Any]]) -> dict[Cell, dict[str, dict[str, MorphResult]]]:
    """``cell -> source id -> method -> MorphResult`` of the kept morphs of the reported cases."""
    cells: dict[Cell, set[str]] = {}
    for r in records:
        cells.setdefault((r["dataset"], r["driver"], r["regime"], r["budget"], r["variant"]), set()).add(
            r["method"]
        )
    kept: dict[Cell, dict[str, dict[str, MorphResult]]] = {}
    for cell, methods in cells.items():
        by_source: dict[str, dict[str, MorphResult]] = {}
        for m in sorted(methods, key=_method_order):
            for sid, res in load_kept(kept_path(out, cell, m)).items():
                by_source.setdefault(sid, {})[m] = res
        kept[cell] = by_source
    return kept
