"""Throughput of ``steerlens batch``: in-process vs local Dask workers, and the batch-64 overhead.

Run ``python benchmarks/batch.py [--quick] [--workers 2] [--device cpu|cuda]``. It measures, on real
data (MNIST test digits as PNG files, the bundled photos and their mirror images for
EfficientNet-Lite0):

1. cases/s of a whole ``steerlens batch`` run (``run_batch``: reading, hashing, morphing, journal,
   table; ``--artefacts none``, csp-phase, runner-up targets, auto schedule) in this process and on a
   local Dask cluster of ``--workers`` processes, from a cold start (cluster start and model loads
   included) and in steady state (first chunk excluded);
2. the morph overhead of the MNIST CNN at batch 64 against the classifier-only floor, exactly as
   ``benchmarks/run.py`` measures it (explicit K = 16 schedule, one forward+backward plus K
   forwards in the same chunks, interleaved repeats, median of paired ratios);
3. a projection of cases/hour on N workers from the single-worker rate and the measured scaling.

Results go to ``benchmarks/results/batch-<machine>.md`` (and ``.json``) with the command, the git
commit and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

# benchmarks/run.py: the same floor, timing and machine helpers as the main benchmark
from load import BusyProcess, verdict
from run import (
    amplification_list,
    classifier_floor,
    git_commit,
    machine_name,
    paired_ratio,
    time_interleaved,
)

import steerlens
from steerlens.batch import run_batch
from steerlens.data.images import save_image


def write_digits(root: Path, n: int) -> Path:
    """``n`` MNIST test digits as PNG files."""
    from steerlens.data.mnist import load_mnist

    sp = load_mnist()
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        save_image(sp.x_test[i], root / f"d{i:04d}.png")
    return root


def write_photos(root: Path, n: int) -> Path:
    """``n`` photos: the bundled demo photos and their mirror images, as PNG files at 256²."""
    from steerlens.data.images import builtin_images, load_builtin

    root.mkdir(parents=True, exist_ok=True)
    k = 0
    for flip in (False, True):
        for name in builtin_images():
            if k == n:
                return root
            x = load_builtin(name, size=(256, 256), channels=3)
            save_image(x.flip(-1) if flip else x, root / f"{name}{'-flip' if flip else ''}.png")
            k += 1
    return root


def batch_rate(inp: Path, model: str, batch: int, workers: int | None, device: str,
               threads: int) -> dict:
    """One cold ``run_batch``; cases/s overall and after the first finished chunk."""
    stamps: list[float] = []
    with tempfile.TemporaryDirectory(prefix="steerlens-bench-") as d:
        t0 = time.perf_counter()
        report = run_batch(inp, model, Path(d) / "out", batch_size=batch, artefacts="none",
                           workers=workers, device=device, threads=threads, progress=False,
                           echo=lambda m: stamps.append(time.perf_counter()))
        wall = time.perf_counter() - t0
        import pyarrow.parquet as pq

        rows = pq.read_table(Path(d) / "out" / "results.parquet").to_pylist()
    chunk = [r["time_case_s"] * r["chunk_len"] for r in rows if r["chunk_pos"] == 0]
    n = report.cases
    first = stamps[-1] - t0 if stamps else 0.0  # the "running ..." line: inputs read, pool started
    return {
        "model": model, "cases": n, "batch": batch, "workers": workers or 0, "threads": threads,
        "wall_s": wall, "cases_per_s": n / wall, "setup_s": first,
        "steady_cases_per_s": n / max(wall - first, 1e-9),
        "morph_s_per_chunk_median": statistics.median(chunk) if chunk else None,
        "failed": report.failed,
    }


def overhead_64(device: str, repeats: int) -> dict:
    """Morph / classifier floor for the MNIST CNN at batch 64 (K = 16), as in benchmarks/run.py."""
    from steerlens.data.mnist import load_mnist

    model = steerlens.load_model("mnist-cnn", device=device, progress=False)
    x = load_mnist().x_test[:64].to(device)
    with torch.no_grad():
        t = torch.softmax(model(x), -1).topk(2).indices[:, 1]
    cfg = steerlens.MorphConfig(method="csp-phase", amplification=amplification_list(16))
    import warnings

    def morph() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            steerlens.morph_batch(model, x, t, cfg, device=device)

    def floor() -> None:
        classifier_floor(model, x, t, 16, cfg.chunk_size)

    times = time_interleaved({"morph": morph, "floor": floor}, repeats=repeats, warmup=1,
                             device=torch.device(device))
    cpu = cpu_interleaved({"morph": morph, "floor": floor}, repeats) if device == "cpu" else None
    return {
        "batch": 64, "frames": 16, "morph_ms": 1000 * statistics.median(times["morph"]),
        "floor_ms": 1000 * statistics.median(times["floor"]),
        "ratio": paired_ratio(times["morph"], times["floor"]), "repeats": repeats,
        "cpu_morph_ms": None if cpu is None else 1000 * statistics.median(cpu["morph"]),
        "cpu_floor_ms": None if cpu is None else 1000 * statistics.median(cpu["floor"]),
        "cpu_ratio": None if cpu is None else paired_ratio(cpu["morph"], cpu["floor"]),
    }


def cpu_interleaved(fns: dict, repeats: int) -> dict[str, list[float]]:
    """CPU seconds of this process per call, interleaved like ``time_interleaved``.

    With one torch thread this counts the work done, not the time spent waiting for cores that
    other jobs hold, so the ratio survives a busy shared machine better than wall-clock.
    """
    names = list(fns)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for n in names if r % 2 == 0 else names[::-1]:
            tic = time.process_time()
            fns[n]()
            out[n].append(time.process_time() - tic)
    return out


def projection(rows: list[dict], workers: int) -> list[dict]:
    """cases/hour on N workers = N x (steady single-worker rate) x (measured scaling efficiency)."""
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        one = next(r for r in rows if r["model"] == model and r["workers"] == 0 and r["threads"] == 1)
        many = next((r for r in rows if r["model"] == model and r["workers"] == workers), None)
        eff = None if many is None else many["steady_cases_per_s"] / (one["steady_cases_per_s"] * workers)
        out.append({"model": model, "single_rate": one["steady_cases_per_s"],
                    "efficiency": eff,
                    "per_hour": {n: 3600 * one["steady_cases_per_s"]
                                 * (1 if n == 1 else n * min(1.0, eff or 1.0))
                                 for n in (1, 4, 16, 64)}})
    return out


def markdown(rep: dict) -> str:
    lines = [
        f"# steerlens batch throughput — {rep['machine']}", "",
        f"- command: `{rep['command']}`",
        f"- git {rep['git_commit']}; torch {torch.__version__}; {rep['date']}; device {rep['device']}",
        (f"- {rep['cores']} cores; 1-minute load average {rep['load_average'][0]} at the start, "
         f"{rep['load_average'][1]} at the end (other jobs running on the machine skew every "
         "figure, the multi-process ones most)"),
        *([f"- **FLAGGED, NOT HEADLINE FIGURES: {rep['load_verdict']['flag']}.**"]
          if rep.get("load_verdict", {}).get("flag") else []),
        ("- every run: csp-phase, one-step, runner-up target, auto schedule (goal p 0.9), "
         "`--artefacts none`, cold start (Dask cluster start and model loads included)"), "",
        "| model | cases | batch | engine | threads/worker | wall s | cases/s (cold) | setup s | cases/s (steady) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rep["throughput"]:
        engine = "in-process" if not r["workers"] else f"Dask, {r['workers']} local workers"
        lines.append(
            f"| {r['model']} | {r['cases']} | {r['batch']} | {engine} | {r['threads']} | "
            f"{r['wall_s']:.1f} | {r['cases_per_s']:.2f} | {r['setup_s']:.1f} | "
            f"{r['steady_cases_per_s']:.2f} |"
        )
    o = rep["overhead"]
    lines += [
        "", "## Morph overhead at batch 64 (MNIST CNN, 28², K = 16, as in benchmarks/run.py)", "",
        "| clock | morph ms | classifier floor ms | ratio (median of paired) | goal |",
        "|---|---|---|---|---|",
        f"| wall | {o['morph_ms']:.0f} | {o['floor_ms']:.0f} | {o['ratio']:.2f} | ≤ 1.5 |",
    ]
    if o.get("cpu_ratio") is not None:
        lines.append(f"| process CPU | {o['cpu_morph_ms']:.0f} | {o['cpu_floor_ms']:.0f} | "
                     f"{o['cpu_ratio']:.2f} | ≤ 1.5 |")
    lines += [
        "",
        f"(torch threads: {rep['overhead_threads']})", "",
        "## Projection: cases/hour on N workers", "",
        ("N × the steady rate of one single-threaded process × (for N > 1) the scaling "
         "efficiency measured here (steady rate of the Dask workers / (workers × that rate), "
         "capped at 1). On a GPU machine run `python benchmarks/batch.py --device cuda` to get the single-GPU "
         "rate this projection needs; the CPU figures below are what was measured."), "",
        "| model | one process, 1 thread: cases/s | efficiency | N = 1 | N = 4 | N = 16 | N = 64 |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in rep["projection"]:
        eff = "–" if p["efficiency"] is None else f"{p['efficiency']:.2f}"
        per = " | ".join(f"{v:,.0f}" for v in p["per_hour"].values())
        lines.append(f"| {p['model']} | {p['single_rate']:.2f} | {eff} | {per} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer cases (a smoke run)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--digits", type=int, default=256)
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the overhead measurement")
    ap.add_argument("--busy", action="store_true",
                    help="run beside one single-threaded busy process (flagged, written as -busy)")
    ap.add_argument("--out", type=Path, default=None, help="results file stem (default: results/batch-<machine>)")
    args = ap.parse_args(argv)
    if args.quick:
        args.digits, args.photos, args.repeats = 64, 4, 3
    start = verdict(args.busy)  # before anything runs (and before the busy process starts)
    load_start = os.getloadavg()[0]
    cores = torch.get_num_threads()
    per_worker = max(1, cores // args.workers)
    rows = []
    busy = BusyProcess() if args.busy else nullcontext()
    with busy, tempfile.TemporaryDirectory(prefix="steerlens-bench-data-") as d:
        digits = write_digits(Path(d) / "digits", args.digits)
        photos = write_photos(Path(d) / "photos", args.photos)
        for model, inp, batch in (("mnist-cnn", digits, 64), ("efficientnet-lite0", photos, 4)):
            steerlens.load_model(model, progress=False)  # trained/cached before timing
            runs = [(None, 1), (args.workers, per_worker)] + ([(None, cores)] if cores > 1 else [])
            for workers, threads in runs:
                r = batch_rate(inp, model, batch, workers, args.device, threads)
                print(json.dumps(r), file=sys.stderr, flush=True)
                rows.append(r)
        torch.set_num_threads(args.threads)
        overhead = overhead_64(args.device, args.repeats)
    rep = {
        "machine": machine_name(torch.device(args.device)),
        "command": "python benchmarks/batch.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "git_commit": git_commit(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "device": args.device,
        "cores": os.cpu_count(),
        "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "throughput": rows,
        "overhead": overhead,
        "load_verdict": start.as_dict(),
        "overhead_threads": args.threads,
    }
    rep["projection"] = projection(rows, args.workers)
    stem = args.out or ROOT / "benchmarks" / "results" / f"batch-{rep['machine']}{'-quick' if args.quick else ''}{start.suffix}"
    Path(f"{stem}.json").write_text(json.dumps(rep, indent=2, default=str) + "\n")
    Path(f"{stem}.md").write_text(markdown(rep))
    print(markdown(rep))
    return rep


if __name__ == "__main__":  # the guard Dask's spawned workers need
    main()
