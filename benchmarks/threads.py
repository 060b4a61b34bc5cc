"""The thread policy's crossover table: a morph at 1 and 2 torch threads, quiet and beside one busy
process.

Run ``python benchmarks/threads.py [--quick] [--busy] [--repeats N] [--out DIR]``. For every case
(image size x batch; 28² on the built-in MNIST CNN, 64² and 224² on EfficientNet-Lite0, with its
real weights) a one-step csp-phase morph with an explicit schedule (K = 16 at 28², 12 otherwise;
no search runs, so every round does the same work) is timed at each thread count in paired rounds
(1, 2, 1, 2, ...) after a warm-up round, with the 1-minute load average recorded before every
round. ``--busy`` then times the same rounds again next to one single-threaded busy process
(:class:`load.BusyProcess`). The figure per case is the median over rounds of the paired ratio
t(1 thread) / t(2 threads): above 1, two threads paid.

Results: ``benchmarks/results/threads-<machine>[-quick][-loaded].md`` and ``.json``, with the load
verdict of :mod:`load` (a run that started above one load per core is flagged and written under
``-loaded``). The table in ``benchmarks/README.md`` ("Thread policy") is copied from a quiet run;
:mod:`steerlens.threads` cites it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from load import BusyProcess, LoadVerdict, cores, load1, verdict
from run import git_commit, machine_name

from steerlens.api import morph_batch
from steerlens.config import MorphConfig
from steerlens.models.base import Classifier
from steerlens.threads import apply_thread_policy, job_size, unpin

#: (size, batch) cases of the full table, and of --quick
FULL_CASES = [(s, b) for s in (28, 64, 224) for b in (1, 16, 64)]
QUICK_CASES = [(28, 1), (28, 64), (64, 16), (224, 1)]
THREADS = (1, 2)


@dataclass(frozen=True)
class Case:
    """One row of the table: ``batch`` images of ``size``² through the model native to the size.

    Examples
    --------
    >>> Case(28, 64).model_name, Case(28, 64).frames, Case(224, 1).model_name
    ('mnist-cnn', 16, 'efficientnet-lite0')
    """

    size: int
    batch: int

    @property
    def model_name(self) -> str:
        return "mnist-cnn" if self.size == 28 else "efficientnet-lite0"

    @property
    def frames(self) -> int:
        return 16 if self.size == 28 else 12

    @property
    def name(self) -> str:
        return f"{self.size}x{self.size}-b{self.batch}-K{self.frames}"

    @property
    def job_size(self) -> int:
        return job_size(self.size, self.size, self.batch, self.frames)


def load_models() -> dict[str, Classifier]:
    """The two real built-in models (their shipped weights), in eval mode."""
    from steerlens.models import load_model

    return {name: load_model(name).eval().requires_grad_(False)
            for name in ("mnist-cnn", "efficientnet-lite0")}


def morph_fn(case: Case, model: Classifier) -> Callable[[], Any]:
    """One explicit-schedule csp-phase morph of ``case`` (deterministic random images)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(case.batch, model.channels, case.size, case.size, generator=g)
    t = torch.full((case.batch,), 1, dtype=torch.long)
    amps = [float(v) for v in np.linspace(0.0, 3.0, case.frames)]
    cfg = MorphConfig(method="csp-phase", amplification=amps)

    def run() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return morph_batch(model, x, t, cfg)
    return run


def paired_rounds(fn: Callable[[], Any], threads: tuple[int, ...], repeats: int
                  ) -> dict[str, Any]:
    """Time ``fn`` at each thread count in paired rounds (1, 2, 1, 2, ...) after one warm-up.

    Returns the seconds per thread count, the load average before every timed run, and the
    median paired ratio t(1) / t(n) per n.

    Examples
    --------
    >>> out = paired_rounds(lambda: None, (1, 2), 2)
    >>> sorted(out["seconds"]), len(out["load_before"])
    (['1', '2'], 4)
    """
    before = torch.get_num_threads()
    # pinned like ``--threads n``, so the API's own policy does not override the count under test
    pin = lambda n: apply_thread_policy(0, requested=n)
    seconds: dict[str, list[float]] = {str(n): [] for n in threads}
    loads: list[float] = []
    try:
        for n in threads:  # warm-up: allocator, thread pool and caches at every count
            pin(n)
            fn()
        for _ in range(repeats):
            for n in threads:
                pin(n)
                loads.append(load1())
                tic = time.perf_counter()
                fn()
                seconds[str(n)].append(time.perf_counter() - tic)
    finally:
        unpin()
        torch.set_num_threads(before)
    base = seconds[str(threads[0])]
    ratio = {str(n): round(statistics.median(a / b for a, b in zip(base, seconds[str(n)])), 3)
             for n in threads[1:]}
    return {"seconds": seconds, "load_before": loads,
            "median_ms": {k: round(1e3 * statistics.median(v), 1) for k, v in seconds.items()},
            "speedup": ratio}


def measure(cases: list[Case], repeats: int, busy: bool) -> list[dict[str, Any]]:
    """Every case quiet, and (``busy``) again beside one busy process."""
    models = load_models()
    out = []
    for case in cases:
        fn = morph_fn(case, models[case.model_name])
        rec: dict[str, Any] = {"case": case.name, "size": case.size, "batch": case.batch,
                               "frames": case.frames, "model": case.model_name,
                               "job_size": case.job_size}
        rec["quiet"] = paired_rounds(fn, THREADS, repeats)
        if busy:
            with BusyProcess():
                rec["busy"] = paired_rounds(fn, THREADS, repeats)
        _log(f"{case.name}: " + "; ".join(
            f"{mode} 1t {rec[mode]['median_ms']['1']} ms, 2t {rec[mode]['median_ms']['2']} ms, "
            f"1t/2t {rec[mode]['speedup']['2']}" for mode in ("quiet", "busy") if mode in rec))
        out.append(rec)
    return out


def markdown(report: dict[str, Any]) -> str:
    """The crossover table as markdown."""
    v = report["load"]
    lines = [
        f"# Thread crossover — {report['machine']}", "",
        f"- command: `{report['command']}`",
        f"- date: {report['date']}; git {report['git_commit']}; torch {report['torch']}",
        (f"- load average before the run {v['load_before']} on {v['cores']} cores; before each "
         "timed round: see `load_before` in the JSON (the range per case is in the table)"),
        f"- repeats {report['repeats']} paired rounds (1, 2, 1, 2, ...) after one warm-up round",
    ]
    if v["flag"]:
        lines += ["", f"**FLAGGED: {v['flag']}.** The figures below were taken under load.", ""]
    lines += ["", ("Each cell: median ms at 1 thread / 2 threads, and the median paired ratio "
                   "t(1) / t(2) (> 1: two threads paid). *busy*: the same rounds beside one "
                   "single-threaded busy process."), ""]
    busy = any("busy" in r for r in report["cases"])
    head = "| image | batch | K | job size (px·B·K) | quiet 1t / 2t ms | quiet 1t/2t |"
    rule = "|---|---|---|---|---|---|"
    if busy:
        head += " busy 1t / 2t ms | busy 1t/2t |"
        rule += "---|---|"
    lines += [head + " load before rounds |", rule + "---|"]
    for r in report["cases"]:
        row = (f"| {r['size']}² | {r['batch']} | {r['frames']} | {r['job_size']:,} | "
               f"{r['quiet']['median_ms']['1']} / {r['quiet']['median_ms']['2']} | "
               f"{r['quiet']['speedup']['2']} |")
        loads = list(r["quiet"]["load_before"])
        if busy:
            row += (f" {r['busy']['median_ms']['1']} / {r['busy']['median_ms']['2']} | "
                    f"{r['busy']['speedup']['2']} |")
            loads += r["busy"]["load_before"]
        lines.append(row + f" {min(loads):g}–{max(loads):g} |")
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``threads-<machine>[-quick][-loaded].json`` and ``.md`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    v = report["load"]
    loaded = LoadVerdict(v["load_before"], v["cores"]).suffix
    stem = f"threads-{report['machine']}{'-quick' if report['quick'] else ''}{loaded}"
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help=f"cases {QUICK_CASES}, 3 repeats")
    p.add_argument("--busy", action="store_true",
                   help="also time every case beside one single-threaded busy process")
    p.add_argument("--repeats", type=int, default=None, help="paired rounds per case")
    p.add_argument("--cases", default=None, help="e.g. 28x1,224x16 (size x batch)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    if args.cases:
        pairs = [tuple(int(v) for v in c.split("x")) for c in args.cases.split(",")]
    else:
        pairs = QUICK_CASES if args.quick else FULL_CASES
    repeats = args.repeats or (3 if args.quick else 5)
    start = verdict()  # before anything (and before any busy process) runs
    if start.flag:
        _log(f"threads.py: {start.flag}")
    report: dict[str, Any] = {
        "machine": machine_name(torch.device("cpu")), "cores": cores(),
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "git_commit": git_commit(),
        "torch": torch.__version__, "quick": args.quick, "repeats": repeats,
        "load": start.as_dict(),
    }
    report["cases"] = measure([Case(s, b) for s, b in pairs], repeats, args.busy)
    report["load_end"] = load1()
    json_path, md_path = write(report, args.out)
    print(markdown(report))
    _log(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
