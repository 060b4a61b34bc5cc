"""Persistent-regime CSP edits on 30 synthetic-translation sources under four configurations.

Run from the repository root: ``.venv/bin/python results/checks/normalisation_on_translation.py``
(uses ``STEERLENS_CACHE_DIR``, default ``.cache/steerlens``, for the trained models). Prints the
driver success count and the median ground-truth path share per (variant, method).
"""

import collections
import json
import os
import statistics
import tempfile
import warnings
from dataclasses import replace

os.environ.setdefault("STEERLENS_CACHE_DIR", os.path.abspath(".cache/steerlens"))
warnings.simplefilter("ignore")

import torch

from steerlens.experiments import default_spec, run_experiment
from steerlens.experiments.scoring import ScoringOptions
from steerlens.experiments.specs import Variant

torch.set_num_threads(1)
spec = replace(
    default_spec("synthetic"), datasets=["synthetic-translation"], sources=30, regimes=["persistent"],
    methods=["csp-phase", "csp-joint"],
    variants=[Variant("default"), Variant("motion", {"normalization": "motion"}),
              Variant("per-scale", {"normalization": "per-scale"}), Variant("margin", {"loss": "margin"})],
    scoring=ScoringOptions(warp_steps=60), n_boot=100, figure_sources=0,
)
with tempfile.TemporaryDirectory() as out:
    run_experiment(spec, out, progress=False)
    with open(os.path.join(out, "cases.jsonl")) as f:
        recs = [json.loads(line) for line in f]
groups = collections.defaultdict(list)
for r in recs:
    groups[(r["variant"], r["method"])].append(r)
print("| variant | method | driver success /30 | median GT path share |\n|---|---|---|---|")
for (variant, method), rs in sorted(groups.items()):
    share = statistics.median(r["path_share"] for r in rs)
    print(f"| {variant} | {method} | {sum(r['driver_success'] for r in rs)} | {share:.3f} |")
