"""Success-vs-budget curves per method and regime, and success at equal perceptual change.

Reads an experiment's ``cases.jsonl`` (sources only, showcase pairs left out) and writes
``curves-<driver>.png`` (driver success, both-judge agreement, median E warp+gain and median SSIM against the
L2 budget; one line per method, solid one-step, dashed persistent) and ``curves.md``: the same
numbers as a table, plus each method's success interpolated at equal SSIM to the source (0.9, 0.8,
0.7). SSIM, not MS-SSIM: pytorch-msssim's MS-SSIM needs images of more than 160 px per side, and
these are 28 px.

Run: ``.venv/bin/python results/checks/motion_curves.py results/motion-mnist``
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SSIM_LEVELS = (0.9, 0.8, 0.7)


def load(folder: Path) -> dict[str, dict[tuple[str, str, float], list[dict]]]:
    """Case records per driver, grouped by (method, regime, budget)."""
    groups: dict[str, dict[tuple[str, str, float], list[dict]]] = defaultdict(lambda: defaultdict(list))
    for line in (folder / "cases.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("kind", "sample") == "sample":
            # one set of curves per dataset and driver (the synthetic experiment has three datasets)
            name = rec["driver"] if rec["dataset"] in ("mnist", "fashion-mnist") else \
                f"{rec['dataset']}-{rec['driver']}"
            groups[name][(rec["method"], rec["regime"], float(rec["budget"]))].append(rec)
    return groups


def cell(recs: list[dict]) -> dict[str, float]:
    """Per-cell summary: success counts as fractions, medians of E and SSIM."""
    med = lambda k: statistics.median(r[k] for r in recs if r.get(k) is not None)
    return {
        "n": len(recs),
        "driver": sum(r["driver_success"] for r in recs) / len(recs),
        "both": sum(bool(r["joint_success"]) for r in recs) / len(recs),
        "E": med("E_warp_gain"),
        "ssim": med("ssim"),
    }


def at_equal_ssim(budgets: list[float], cells: list[dict], level: float, key: str) -> float | None:
    """``key`` success interpolated where the median SSIM crosses ``level`` (None if never)."""
    s = np.array([c["ssim"] for c in cells])
    v = np.array([c[key] for c in cells])
    for i in range(len(s) - 1):
        if (s[i] - level) * (s[i + 1] - level) <= 0 and s[i] != s[i + 1]:
            t = (s[i] - level) / (s[i] - s[i + 1])
            return float(v[i] + t * (v[i + 1] - v[i]))
    return None


def main(folder: Path) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    lines = [f"# {folder.name}: success against budget and at equal SSIM", "",
             (f"`.venv/bin/python results/checks/motion_curves.py {folder}` (commit {commit}); cells: "
             "driver top-1 = target / both judges / median E warp+gain / median SSIM"), ""]
    for driver, groups in sorted(load(folder).items()):
        lines += report(folder, driver, groups)
    (folder / "curves.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def report(folder: Path, driver: str, groups: dict[tuple[str, str, float], list[dict]]) -> list[str]:
    """Figure ``curves-<driver>.png`` and the markdown lines of one driver."""
    methods = sorted({k[0] for k in groups})
    regimes = sorted({k[1] for k in groups})
    budgets = sorted({k[2] for k in groups})
    table = {k: cell(v) for k, v in groups.items()}
    fig = Figure(figsize=(14, 3.6))
    FigureCanvasAgg(fig)
    panels = [("driver", "driver top-1 = target"), ("both", "both judges agree"),
              ("E", "median E warp+gain"), ("ssim", "median SSIM to source")]
    colours = dict(zip(methods, ["C0", "C1", "C2", "C3", "C4", "C5", "C6"]))
    for j, (key, title) in enumerate(panels):
        ax = fig.add_subplot(1, 4, j + 1)
        for m in methods:
            for r in regimes:
                pts = [(b, table[(m, r, b)][key]) for b in budgets if (m, r, b) in table]
                if pts:
                    ax.plot(*zip(*pts), color=colours[m], ls="-" if r == "one-step" else "--",
                            marker="o", ms=3, label=f"{m} ({r})")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("L2 budget")
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=6)
    fig.suptitle(f"{folder.name}, {driver} driver: solid one-step, dashed persistent", fontsize=10)
    fig.tight_layout()
    fig.savefig(folder / f"curves-{driver}.png", dpi=110)
    lines = [f"## {driver} driver ({next(iter(table.values()))['n']} sources)", "",
             f"![curves](curves-{driver}.png)", ""]
    for r in regimes:
        lines += [f"### {r}", "", "| method | " + " | ".join(f"L2 = {b:g}" for b in budgets) + " |",
                  "|---|" + "---|" * len(budgets)]
        for m in methods:
            cells = [table.get((m, r, b)) for b in budgets]
            lines.append(f"| {m} | " + " | ".join(
                f"{c['driver']:.0%} / {c['both']:.0%} / {c['E']:.2f} / {c['ssim']:.2f}" if c else "-"
                for c in cells) + " |")
        lines += ["", (f"Success at equal SSIM ({r}; driver / both judges, interpolated between budgets; "
                  "'-' where the median SSIM never reaches the level):"), "",
                  "| method | " + " | ".join(f"SSIM {lv}" for lv in SSIM_LEVELS) + " |",
                  "|---|" + "---|" * len(SSIM_LEVELS)]
        for m in methods:
            cells = [table[(m, r, b)] for b in budgets if (m, r, b) in table]
            bs = [b for b in budgets if (m, r, b) in table]
            row = []
            for lv in SSIM_LEVELS:
                d, j = (at_equal_ssim(bs, cells, lv, k) for k in ("driver", "both"))
                row.append("-" if d is None else f"{d:.0%} / {j:.0%}")
            lines.append(f"| {m} | " + " | ".join(row) + " |")
        lines.append("")
    return lines


if __name__ == "__main__":
    main(Path(sys.argv[1]))
