"""Median ground-truth path share and driver success per family, method, regime and L2 budget, from
``results/motion-synthetic-sweep/cases.jsonl`` (the goal: >= 0.8 for the best of flow / csp-motion,
pixel <= 0.3 as the contrast).

Run: ``.venv/bin/python results/checks/synthetic_sweep_table.py > results/motion-synthetic-sweep/sweep.md``
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[1] / "motion-synthetic-sweep"


def main() -> None:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for line in (FOLDER / "cases.jsonl").read_text().splitlines():
        r = json.loads(line)
        groups[(r["dataset"], r["regime"], r["method"], float(r["budget"]))].append(r)
    budgets = sorted({k[3] for k in groups})
    print("# Synthetic families at pixel L2 budgets: median GT path share (driver success)\n")
    print("`steerlens experiment synthetic --absolute-budgets --budgets 1,2,4,6,8 --methods "
          "pixel,csp-phase,flow,csp-motion --regimes one-step,persistent --datasets "
          "synthetic-translation,synthetic-rotation,synthetic-scale --sources 50 --out "
          "results/motion-synthetic-sweep --threads 1 -q`, then this script; 50 held-out sources "
          "per family, standard driver\n")
    for dataset in sorted({k[0] for k in groups}):
        for regime in ("one-step", "persistent"):
            print(f"## {dataset}, {regime}\n")
            print("| method | " + " | ".join(f"L2 = {b:g}" for b in budgets) + " |")
            print("|---|" + "---|" * len(budgets))
            for method in ("pixel", "csp-phase", "flow", "csp-motion"):
                cells = []
                for b in budgets:
                    recs = groups.get((dataset, regime, method, b), [])
                    shares = [r["path_share"] for r in recs if r.get("path_share") is not None]
                    ok = sum(r["driver_success"] for r in recs)
                    cells.append(f"{statistics.median(shares):.2f} ({ok}/{len(recs)})" if shares else "-")
                print(f"| {method} | " + " | ".join(cells) + " |")
            print()


if __name__ == "__main__":
    main()
