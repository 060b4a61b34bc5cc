"""Issue 17's busy-machine goal: N MNIST morphs through ``steerlens batch`` beside one busy
single-threaded process, against the same run on a quiet machine (goal: within 1.3x).

Rounds are interleaved (quiet, busy, quiet, busy, ...) so a drift of the machine's speed hits both;
each round is a fresh ``steerlens batch`` process into a fresh folder, with the CLI's defaults (one
torch thread per worker, in-process). The load average is recorded before every round; a run that
starts above one load per core is flagged and written as ``-loaded``.

Usage::

    .venv/bin/python benchmarks/busy_batch.py              # 1000 morphs, 2 rounds each
    .venv/bin/python benchmarks/busy_batch.py --cases 200 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from load import BusyProcess, load1, verdict

from steerlens.provenance import cpu_cores, cpu_model, git_commit


def one_run(n: int, out: Path) -> float:
    """Seconds of one ``steerlens batch mnist --limit n`` into ``out``."""
    cmd = [str(Path(sys.executable).parent / "steerlens"), "batch", "mnist", "--limit", str(n),
           "-m", "mnist-cnn", "--methods", "csp-phase", "--budgets", "2", "-o", str(out), "-q"]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "STEERLENS_THREADS")}
    tic = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - tic


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args()
    start = verdict(busy=False)
    quiet, busy, loads = [], [], []
    with tempfile.TemporaryDirectory(prefix="steerlens-busy-batch-") as d:
        one_run(50, Path(d) / "warm")  # first-use costs (imports, model load) out of the rounds
        for r in range(args.rounds):
            loads.append(load1())
            quiet.append(one_run(args.cases, Path(d) / f"quiet{r}"))
            loads.append(load1())
            with BusyProcess():
                time.sleep(1.0)  # let the busy process take its core
                busy.append(one_run(args.cases, Path(d) / f"busy{r}"))
    ratio = statistics.median(b / q for b, q in zip(busy, quiet, strict=True))
    machine = f"{cpu_model().lower().replace(' ', '-').replace('(r)', '')[:40]}-{cpu_cores()}c"
    record = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "commit": git_commit(HERE), "machine": machine, "cases": args.cases,
        "quiet_s": [round(t, 2) for t in quiet], "busy_s": [round(t, 2) for t in busy],
        "ratio_busy_over_quiet": round(ratio, 3), "goal": 1.3, "met": ratio <= 1.3,
        "load_before_rounds": loads, "verdict": start.as_dict(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"busy-batch-{machine}{start.suffix}"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [f"# steerlens batch beside one busy process ({machine})", ""]
    if start.flag:
        lines += [f"**FLAGGED, NOT HEADLINE FIGURES**: {start.flag}", ""]
    lines += [
        f"- command: `{record['command']}`; commit {record['commit']}",
        f"- {args.cases} MNIST morphs (mnist-cnn, csp-phase, L2 = 2), CLI defaults (1 torch thread)",
        f"- load average before each round: {loads}",
        "",
        "| round | quiet s | busy s | busy / quiet |",
        "|---|---|---|---|",
        *[f"| {r + 1} | {q:.1f} | {b:.1f} | {b / q:.2f} |" for r, (q, b) in
          enumerate(zip(quiet, busy, strict=True))],
        "",
        f"**median busy / quiet: {ratio:.2f}** (goal <= 1.3: {'met' if ratio <= 1.3 else 'missed'})",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
