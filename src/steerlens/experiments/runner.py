"""Run a named experiment: matched-budget morphs, per-case metrics, resumable cache, reports.

For every dataset, driver, regime, budget, variant and method, all pending sources go through
:func:`~steerlens.api.morph_batch` together (each source gets its own amplification, searched to
the same final pixel L2), their endpoints are scored (:mod:`steerlens.experiments.scoring`), and
the records are appended to ``<out>/cases.jsonl`` at once. A rerun skips every case already in the
file. Finally the run writes, under ``<out>``:

``results.json``
    Spec, provenance, summary rows (estimates, 95 % paired bootstrap intervals, differences
    against the pixel method) and the runtime per group.
``results.md``
    One markdown table per cell.
``README.md``
    Exact command, git commit, machine, date, runtime, what was cut, the tables and the figures.
``figures/``
    Bar charts of every metric with intervals, and matched-L2 filmstrips of a few sources.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from steerlens.errors import ConfigError
from steerlens.experiments.figures import bar_charts, cell_slug, filmstrips
from steerlens.experiments.scoring import score_endpoints
from steerlens.experiments.sources import (
    SourceSet,
    dataset_split,
    load_driver,
    load_judges,
    select_sources,
)
from steerlens.experiments.specs import ExperimentSpec, Variant
from steerlens.experiments.store import CaseStore, case_key
from steerlens.experiments.summary import markdown_tables, summarise
from steerlens.models.base import Classifier
from steerlens.result import MorphResult

__all__ = ["ExperimentReport", "git_commit", "machine_info", "run_experiment"]


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
        Cases in the summary, and cases computed by this run (the rest came from the cache).
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


def git_commit(start: str | Path = ".") -> str:
    """Commit hash of the checkout containing ``start``, read from ``.git`` (no git process).

    Returns ``"unknown"`` outside a git checkout or before the first commit.

    Examples
    --------
    >>> len(git_commit())  # doctest: +SKIP
    40
    """
    here = Path(start).resolve()
    for d in [here, *here.parents]:
        g = d / ".git"
        if not g.exists():
            continue
        try:
            if g.is_file():  # worktree or submodule: "gitdir: <path>"
                g = (d / g.read_text().split(":", 1)[1].strip()).resolve()
            common = g
            if (g / "commondir").is_file():
                common = (g / (g / "commondir").read_text().strip()).resolve()
            head = (g / "HEAD").read_text().strip()
            if not head.startswith("ref:"):
                return head
            ref = head.split(":", 1)[1].strip()
            for root in (g, common):
                if (root / ref).is_file():
                    return (root / ref).read_text().strip()
                packed = root / "packed-refs"
                if packed.is_file():
                    for line in packed.read_text().splitlines():
                        if line.endswith(" " + ref):
                            return line.split()[0]
        except OSError:
            pass
        return "unknown"
    return "unknown"


def _commit() -> str:
    c = git_commit(Path.cwd())
    return c if c != "unknown" else git_commit(Path(__file__).parent)


def machine_info() -> dict[str, Any]:
    """Host, CPU, thread count and library versions, for the results README."""
    from steerlens import __version__

    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "steerlens": __version__,
        "cuda": torch.cuda.is_available(),
    }


def _targets(driver: Classifier, sources: SourceSet, idx: list[int]) -> torch.Tensor:
    """Fixed targets where given, else the driver's runner-up class."""
    x = sources.x[idx]
    with torch.no_grad():
        p = torch.softmax(driver(x).float(), -1)
    runner_up = p.topk(2, dim=-1).indices[:, 1]
    fixed = sources.targets[idx]
    return torch.where(fixed >= 0, fixed, runner_up)


def _morph(
    driver: Classifier, x: torch.Tensor, t: torch.Tensor, spec: ExperimentSpec, cfg: Any
) -> list[MorphResult]:
    from steerlens.api import morph_batch

    out: list[MorphResult] = []
    with warnings.catch_warnings():
        # runner-up targets never equal the top-1, but a showcase pair may; it is recorded anyway
        warnings.filterwarnings("ignore", message="target equals the source")
        for i in range(0, x.shape[0], spec.batch_size):
            out += morph_batch(driver, x[i : i + spec.batch_size], t[i : i + spec.batch_size], cfg)
    return out


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


def _kept_path(out: Path, cell: tuple[Any, ...], method: str) -> Path:
    return out / "cache" / "kept" / f"{cell_slug(cell)}__{method}.pt"


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
        Results folder; ``out/cases.jsonl`` caches finished cases between runs.
    command
        The command line to record in the README (default: ``sys.argv``).
    progress
        Show a progress bar over groups of cases.
    echo
        Where to print one-line messages (skipped datasets...); default: nowhere.

    Returns
    -------
    ExperimentReport

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
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory; choose another path")
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    store = CaseStore(out / "cases.jsonl")
    skipped: dict[str, str] = {}
    wanted: set[str] = set()
    n_new = 0
    groups = _groups(spec)
    bar = tqdm(total=len(spec.datasets) * len(groups), desc=spec.name, disable=not progress)
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
        scale = _budget_scale(spec, sources)
        for driver_name, regime, rel_budget, variant, method in groups:
            budget = round(rel_budget * scale, 3)
            bar.set_postfix_str(f"{dataset} {driver_name} {regime} L2={budget:g} {variant.name} {method}")
            cap = spec.live_sources if regime == "live" and spec.live_sources else None
            use = (samples[:cap] if cap else samples) + shows
            keys = {
                sources.ids[i]: case_key(
                    dataset, driver_name, regime, budget, method, variant.name, sources.ids[i]
                )
                for i in use
            }
            wanted.update(keys.values())
            idx = [i for i in use if keys[sources.ids[i]] not in store]
            if not idx:
                bar.update(1)
                continue
            driver = drivers[driver_name]
            cfg = spec.config(method, regime, budget, variant, tuple(sources.x.shape[-2:]))
            t = _targets(driver, sources, idx)
            tic = time.perf_counter()
            results = _morph(driver, sources.x[idx], t, spec, cfg)
            morph_s = time.perf_counter() - tic
            tic = time.perf_counter()
            gt = _ground_truth(sources, idx, t, spec.scoring.path_points)
            recs = score_endpoints(
                results, sources.x[idx], t, driver, judges, budget, spec.scoring, gt
            )
            score_s = time.perf_counter() - tic
            for i, rec, res in zip(idx, recs, results):
                sid = sources.ids[i]
                rec.update(
                    key=keys[sid],
                    experiment=spec.name,
                    dataset=dataset,
                    driver=driver_name,
                    driver_model=driver.name,
                    driver_sha256=driver.spec.get("weights_sha256"),
                    regime=regime,
                    budget=budget,
                    variant=variant.name,
                    method=method,
                    source_id=sid,
                    kind=sources.kinds[i],
                    label=int(sources.labels[i]),
                    morph_s=morph_s / len(idx),
                    score_s=score_s / len(idx),
                    live_steps=res.timings.get("live_steps"),
                )
            _keep(out, (dataset, driver_name, regime, budget, variant.name), method,
                  {sources.ids[i]: r for i, r in zip(idx, results)
                   if sources.kinds[i] == "showcase" or i in samples[: spec.figure_sources]})
            store.append(recs)
            n_new += len(recs)
            bar.update(1)
    bar.close()
    records = _records_to_report(store, wanted)
    rows = summarise(records, n_boot=spec.n_boot)
    files = _write_outputs(spec, out, records, rows, skipped, command, time.perf_counter() - t_start, n_new)
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


def _group_of(rec: dict[str, Any]) -> tuple[Any, ...]:
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


def _keep(out: Path, cell: tuple[Any, ...], method: str, results: dict[str, MorphResult]) -> None:
    """Merge a group's figure sources into its kept-results file (for the filmstrips)."""
    if not results:
        return
    p = _kept_path(out, cell, method)
    p.parent.mkdir(parents=True, exist_ok=True)
    old: dict[str, MorphResult] = torch.load(p, weights_only=False) if p.is_file() else {}
    # frames are views into the whole batch's storage: copy them, or torch.save writes it all
    old.update({
        k: replace(r, frames=r.frames.detach().clone(), source=r.source.detach().clone())
        for k, r in results.items()
    })
    tmp = p.with_suffix(".tmp")
    torch.save(old, tmp)
    os.replace(tmp, p)


def _load_kept(
    out: Path, records: list[dict[str, Any]]
) -> dict[tuple[Any, ...], dict[str, dict[str, MorphResult]]]:
    cells: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    for r in records:
        cells[(r["dataset"], r["driver"], r["regime"], r["budget"], r["variant"])].add(r["method"])
    kept: dict[tuple[Any, ...], dict[str, dict[str, MorphResult]]] = {}
    for cell, methods in cells.items():
        by_source: dict[str, dict[str, MorphResult]] = defaultdict(dict)
        for m in sorted(methods, key=_method_order):
            p = _kept_path(out, cell, m)
            if p.is_file():
                for sid, res in torch.load(p, weights_only=False).items():
                    by_source[sid][m] = res
        kept[cell] = dict(by_source)
    return kept


def _method_order(m: str) -> int:
    from steerlens.config import COMPARE_METHODS

    return COMPARE_METHODS.index(m) if m in COMPARE_METHODS else len(COMPARE_METHODS)


def _runtime_table(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["dataset"], r["driver"], r["regime"], r["budget"], r["variant"], r["method"])].append(r)
    out = []
    for g, rs in groups.items():
        out.append({
            **dict(zip(("dataset", "driver", "regime", "budget", "variant", "method"), g)),
            "cases": len(rs),
            "morph_s": round(sum(r.get("morph_s", 0.0) for r in rs), 2),
            "score_s": round(sum(r.get("score_s", 0.0) for r in rs), 2),
        })
    return out


def _write_outputs(
    spec: ExperimentSpec,
    out: Path,
    records: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    skipped: dict[str, str],
    command: str | None,
    runtime: float,
    n_new: int,
) -> list[Path]:
    from steerlens.experiments.goals import goal_report

    fig_dir = out / "figures"
    bars = bar_charts(rows, fig_dir) if rows else []
    strips = filmstrips(_load_kept(out, records), fig_dir) if records else []
    tables = markdown_tables(rows) if rows else "(no cases)\n"
    runtimes = _runtime_table(records)
    compute_s = sum(r["morph_s"] + r["score_s"] for r in runtimes)
    provenance = {
        "command": command or " ".join(["steerlens", *sys.argv[1:]]),
        "git_commit": _commit(),
        "machine": machine_info(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runtime_this_run_s": round(runtime, 1),
        "compute_all_cases_s": round(compute_s, 1),
        "new_cases_this_run": n_new,
    }
    history_path = out / "runs.jsonl"
    with open(history_path, "a") as f:
        f.write(json.dumps({k: provenance[k] for k in (
            "command", "git_commit", "date", "runtime_this_run_s", "new_cases_this_run")}) + "\n")
    history = [json.loads(x) for x in history_path.read_text().splitlines() if x.strip()]
    goals = goal_report(spec.name, rows, records)
    spec_d = asdict(spec)
    (out / "results.json").write_text(json.dumps(
        {"spec": spec_d, "provenance": provenance, "skipped": skipped, "summary": rows,
         "goals": goals["checks"], "runtime_per_group": runtimes},
        indent=1, allow_nan=False, default=str,
    ))
    (out / "results.md").write_text(tables)
    cuts = _cuts(spec, records, skipped)
    readme = [
        f"# Experiment `{spec.name}`",
        "",
        f"- command: `{provenance['command']}`",
        f"- git commit: `{provenance['git_commit']}`",
        (f"- machine: {provenance['machine']['host']}, {provenance['machine']['platform']}, "
        f"{provenance['machine']['cpu_count']} CPUs, torch {provenance['machine']['torch']} "
        f"({provenance['machine']['torch_threads']} threads), steerlens "
        f"{provenance['machine']['steerlens']}"),
        f"- date: {provenance['date']}",
        (f"- runtime of this invocation: {runtime:.0f} s ({n_new} new cases; the rest from "
        f"`cases.jsonl`); compute of all cases (morph + metrics): {compute_s:.0f} s"),
        "",
        "Invocations that filled `cases.jsonl` (each resumes the previous; `runs.jsonl`):",
        "",
        *[f"- `{h['command']}` at {h['date']}: {h['new_cases_this_run']} new cases, "
          f"{h['runtime_this_run_s']:.0f} s" for h in history],
        "",
        "## Protocol",
        "",
        f"- datasets: {', '.join(spec.datasets)}; {spec.sources} held-out sources each"
        + (" plus the showcase pairs (filmstrips only)" if spec.showcase else ""),
        f"- methods: {', '.join(spec.methods)}; variants: "
        + ", ".join(f"`{v.name}` {v.overrides or ''}" for v in spec.variants),
        (f"- budgets (final pixel L2, every method matched by `MorphConfig(l2_budget=B)`): "
        f"{', '.join(f'{b:g}' for b in spec.budgets)}"
        f"{' x the median true-change L2 of each family' if spec.relative_budgets else ''}; "
        f"regimes: {', '.join(spec.regimes)}; "
        f"drivers: {', '.join(spec.drivers)}"),
        ("- target: the driver's runner-up class (synthetic: the other class); judges O "
        "(resnet-mini) and O2 (mlp) are never differentiated"),
        ("- a case is *attained* when the method reached the budget (`reached` in its "
        "result); every case is scored on its final frame, attained or not"),
        (f"- intervals: 95 % percentile bootstrap over sources, {spec.n_boot} draws, seed 20261006, "
        "the same resampled sources for every method of a table (paired); counts are out of n"),
        (f"- E: `warp_fit` on the final frame, 8x8 control grid, {spec.scoring.warp_steps} Adam "
        "steps, clamped to [0, 1]; COUT under the driver, 50 pixel groups"),
        "",
        "## What was cut",
        "",
        *([f"- {c}" for c in cuts] or ["- nothing: the full protocol ran"]),
        "",
        "## Goals",
        "",
        goals["markdown"],
        "",
        "## Results",
        "",
        tables,
        "## Figures",
        "",
        *[f"- [{p.name}](figures/{p.name})" for p in [*bars, *strips]],
        "",
        ("Per-case records: `cases.jsonl` (one JSON object per case); summary with intervals and "
        "paired differences against `pixel`: `results.json`."),
        "",
    ]
    (out / "README.md").write_text("\n".join(readme))
    return [out / "results.json", out / "results.md", out / "README.md", *bars, *strips]


def _cuts(spec: ExperimentSpec, records: list[dict[str, Any]], skipped: dict[str, str]) -> list[str]:
    """What the reported cases leave out of the experiment's full protocol."""
    from steerlens.experiments.specs import EXPERIMENTS

    full = EXPERIMENTS[spec.name]() if spec.name in EXPERIMENTS else spec
    samples = [r for r in records if r.get("kind") == "sample"]
    cuts = []
    for attr, field_ in (("methods", "method"), ("regimes", "regime"), ("drivers", "driver")):
        present = {r[field_] for r in samples}
        missing = [v for v in getattr(full, attr) if v not in present]
        if missing:
            cuts.append(f"{attr} not run: {', '.join(map(str, missing))}")
    if not spec.relative_budgets:
        present_b = {r["budget"] for r in samples}
        missing_b = [b for b in full.budgets if b not in present_b]
        if missing_b:
            cuts.append(f"budgets not run: {', '.join(f'{b:g}' for b in missing_b)}")
    counts: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    for r in samples:
        counts[(r["dataset"], r["regime"], r["driver"], r["budget"])].add(r["source_id"])
    for key in sorted(counts, key=str):
        n = len(counts[key])
        if n < full.sources:
            ds, reg, drv, b = key
            cuts.append(
                f"{ds} · {reg} · driver {drv} · L2 = {b:g}: {n} sources instead of {full.sources}"
            )
    missing_pairs = []
    present_cells = {(r["dataset"], r["regime"], r["driver"], r["budget"]) for r in samples}
    regs = {r["regime"] for r in samples}
    for ds in {r["dataset"] for r in samples}:
        for reg in regs:
            for drv in {r["driver"] for r in samples}:
                for b in {r["budget"] for r in samples if r["dataset"] == ds}:
                    if (ds, reg, drv, b) not in present_cells:
                        missing_pairs.append(f"{ds} · {reg} · driver {drv} · L2 = {b:g}")
    if missing_pairs:
        cuts.append("combinations not run: " + "; ".join(sorted(missing_pairs)))
    if spec.name == "sweep":
        cuts.append("colour mode not swept: MNIST digits are grey, so luminance and rgb coincide")
    for ds, why in skipped.items():
        cuts.append(f"dataset {ds} skipped: {why}")
    return cuts
