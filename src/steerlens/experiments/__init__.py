"""Evaluation experiments: matched-budget method comparisons with paper-style tables and figures.

``steerlens experiment NAME`` (``mnist``, ``fashion-mnist``, ``synthetic``, ``sweep``) runs
:func:`run_experiment` on :func:`default_spec` ``(NAME)``; results go to ``results/NAME/``.

Examples
--------
>>> from steerlens.experiments import default_spec, run_experiment
>>> spec = default_spec("mnist", quick=True)
>>> spec.sources, spec.budgets
(4, [2.0])
>>> report = run_experiment(spec, "results/mnist-quick")   # doctest: +SKIP
"""

from steerlens.experiments.goals import goal_report, goal_score, sweep_ranking
from steerlens.experiments.runner import ExperimentReport, plan_batches, run_experiment
from steerlens.experiments.scoring import ScoringOptions, score_endpoints
from steerlens.experiments.sources import SourceSet, dataset_split, select_sources
from steerlens.experiments.specs import (
    EXPERIMENTS,
    ExperimentSpec,
    Variant,
    default_spec,
    sweep_variants,
)
from steerlens.experiments.store import BatchLog, CaseStore, case_key
from steerlens.experiments.summary import markdown_tables, summarise
from steerlens.provenance import git_commit, machine_info

__all__ = [
    "EXPERIMENTS",
    "BatchLog",
    "CaseStore",
    "ExperimentReport",
    "ExperimentSpec",
    "ScoringOptions",
    "SourceSet",
    "Variant",
    "case_key",
    "dataset_split",
    "default_spec",
    "git_commit",
    "goal_report",
    "goal_score",
    "machine_info",
    "markdown_tables",
    "plan_batches",
    "run_experiment",
    "score_endpoints",
    "select_sources",
    "summarise",
    "sweep_ranking",
    "sweep_variants",
]
