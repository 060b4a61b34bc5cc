"""The reports of an experiment: ``results.json``, ``results.md``, ``README.md`` and figures.

They read the per-case records and summary rows only (never a model); provenance (command, git
commit, machine, torch thread count, date) comes from :mod:`steerlens.provenance`. Everything is
written through :mod:`steerlens.outputs` (atomic, strict JSON).
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from steerlens.experiments.figures import bar_charts, filmstrips
from steerlens.experiments.specs import ExperimentSpec
from steerlens.experiments.summary import markdown_tables
from steerlens.outputs import atomic_dir, dumps_json, write_json, write_text_atomic
from steerlens.provenance import machine_info, source_commit
from steerlens.result import MorphResult

__all__ = ["write_outputs"]


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


def _history(path: Path, line: dict[str, Any]) -> list[dict[str, Any]]:
    """The invocations recorded in ``runs.jsonl`` plus ``line``; the file is rewritten atomically."""
    old = []
    if path.is_file():
        for x in path.read_bytes().decode("utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(x)
            except json.JSONDecodeError:
                continue  # a torn line of a file written by an older version
            if isinstance(rec, dict):
                old.append(rec)
    history = [*old, line]
    write_text_atomic(path, "".join(dumps_json(h, indent=None) + "\n" for h in history))
    return history


def write_outputs(
    spec: ExperimentSpec,
    out: Path,
    records: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    skipped: dict[str, str],
    command: str | None,
    runtime: float,
    n_new: int,
    kept: Mapping[tuple[Any, ...], Mapping[str, Mapping[str, MorphResult]]],
) -> list[Path]:
    """Write ``results.json``, ``results.md``, ``README.md``, ``runs.jsonl`` and ``figures/``.

    Every file is written atomically (strict JSON, no NaN); the figures are rendered into a
    temporary folder and moved into ``figures/`` one by one.

    Parameters
    ----------
    spec, out
        The experiment and its results folder.
    records, rows
        Per-case records and their summary rows.
    skipped
        ``dataset -> reason`` for datasets that could not run.
    command
        Command line for the README (default: ``sys.argv``).
    runtime, n_new
        Wall time and new cases of this invocation.
    kept
        ``cell -> source id -> method -> MorphResult`` for the filmstrips.

    Returns
    -------
    list of Path
        The files written.

    Examples
    --------
    >>> files = write_outputs(spec, out, records, rows, {}, None, 12.0, 14, kept)  # doctest: +SKIP
    >>> [p.name for p in files][:3]                                               # doctest: +SKIP
    ['results.json', 'results.md', 'README.md']
    """
    from steerlens.experiments.goals import goal_report

    fig_dir = out / "figures"
    with atomic_dir(fig_dir, merge=True) as tmp:
        bars = bar_charts(rows, tmp) if rows else []
        strips = filmstrips(kept, tmp) if records else []
    bars, strips = [fig_dir / p.name for p in bars], [fig_dir / p.name for p in strips]
    tables = markdown_tables(rows) if rows else "(no cases)\n"
    runtimes = _runtime_table(records)
    compute_s = sum(r["morph_s"] + r["score_s"] for r in runtimes)
    provenance = {
        "command": command or " ".join(["steerlens", *sys.argv[1:]]),
        "git_commit": source_commit(),
        "machine": machine_info(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runtime_this_run_s": round(runtime, 1),
        "compute_all_cases_s": round(compute_s, 1),
        "new_cases_this_run": n_new,
    }
    history = _history(out / "runs.jsonl", {
        **{k: provenance[k] for k in (
            "command", "git_commit", "date", "runtime_this_run_s", "new_cases_this_run")},
        "torch_threads": provenance["machine"]["torch_threads"],
    })
    goals = goal_report(spec.name, rows, records)
    spec_d = asdict(spec)
    write_json(out / "results.json", {
        "spec": spec_d, "provenance": provenance, "skipped": skipped, "summary": rows,
        "goals": goals["checks"], "runtime_per_group": runtimes,
    }, indent=1)
    write_text_atomic(out / "results.md", tables)
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
        "paired differences against `pixel`: `results.json`. `batches.jsonl` lists the cases of "
        "every `morph_batch` call: a case's numbers depend in the last bits on its batch mates, "
        "so a resumed run recomputes a missing case in its recorded batch."),
        "",
    ]
    write_text_atomic(out / "README.md", "\n".join(readme))
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
