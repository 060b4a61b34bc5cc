"""The batch's ``summary.md``: one line per method, regime and budget.

Examples
--------
>>> rows = [{"method": "pixel", "regime": "one-step", "budget": 2.0, "status": "ok", "reached": True,
...          "succeeded": True, "p_target_start": 0.1, "p_target_end": 0.9, "l2": 2.0,
...          "time_case_s": 0.01}]
>>> print(summary_markdown(rows, "mnist-cnn").splitlines()[-1])
| pixel | one-step | 2 | 1 | 0 | 1 | 1 | 0.100 | 0.900 | 2.000 | 10.0 |
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

__all__ = ["summary_markdown"]


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}" if values else "–"


def summary_markdown(
    rows: Sequence[dict[str, Any]], model: str, command: str | None = None, source: str | None = None
) -> str:
    """Markdown table per (method, regime, budget): cases, failed, reached, top-1 = target, medians.

    Parameters
    ----------
    rows
        Table rows (see :data:`steerlens.batch.store.COLUMNS`).
    model
        Driver name for the heading.
    command
        The command that produced the table, quoted under the heading.
    source
        Which images were taken when not all were (``--limit``), e.g. ``"mnist: 50 of 1000, 5 per
        class over 10 classes (stratified, seed 0)"``; printed under the command.
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r.get("method"), r.get("regime"), r.get("budget")), []).append(r)
    judges = sorted({k[len("judge_"): -len("_top1_end")] for r in rows for k in r
                     if k.startswith("judge_") and k.endswith("_top1_end")})
    lines = [f"# steerlens batch: {model}", ""]
    if command:
        lines += [f"`{command}`", ""]
    if source:
        lines += [f"Images: {source}.", ""]
    lines += [
        ("budget –: no L2 budget (the schedule aims at goal_p, or is explicit); reached: the "
         "schedule met its goal (p_target or L2 budget); top-1: the driver's top-1 on the last "
         "frame is the target; p and L2 are medians over finished cases; ms/case is the morph "
         "time per case inside its batch."),
        "",
    ]
    head = ["method", "regime", "budget", "cases", "failed", "reached", "top-1 = target",
            "p_target start", "p_target end", "L2", "ms/case"]
    head += [f"judge {j} top-1 = target" for j in judges]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (method, regime, budget), rs in sorted(
        groups.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]), -1 if kv[0][2] is None else kv[0][2])
    ):
        ok = [r for r in rs if r.get("status") == "ok"]
        cells = [
            str(method), str(regime), "–" if budget is None else f"{budget:g}", str(len(rs)),
            str(len(rs) - len(ok)), str(sum(bool(r.get("reached")) for r in ok)),
            str(sum(bool(r.get("succeeded")) for r in ok)),
            _median([r["p_target_start"] for r in ok]), _median([r["p_target_end"] for r in ok]),
            _median([r["l2"] for r in ok]),
            f"{1000 * statistics.mean(r['time_case_s'] for r in ok):.1f}" if ok else "–",
        ]
        for j in judges:
            cells.append(str(sum(r.get(f"judge_{j}_top1_end") == r.get("target") for r in ok)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
