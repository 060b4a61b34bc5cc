"""What the motion read-out (``phase_explained`` and the implied displacement) costs a morph, against
the classifier floor of ``benchmarks/run.py``.

Run ``python benchmarks/readout_overhead.py [--repeats N] [--threads N] [--busy]``. Cases: the MNIST
CNN (its real weights) at batch 64, K = 16 and EfficientNet-Lite0 224², K = 12, batch 1; csp-phase
with an explicit schedule (no search). Variants, interleaved in paired rounds after a warm-up:

- ``morph``: defaults, nothing read (the read-out is computed when a result is read);
- ``morph+read``: defaults, then every result's final ``phase_explained`` read (the fit runs);
- ``morph-off``: ``phase_consistency=False``;
- ``floor`` / ``floor K-1``: one forward+backward and K (K-1) forwards, as in ``run.py``.

It uses only the public API, so the same file measures an older checkout too
(``PYTHONPATH=<old>/src python benchmarks/readout_overhead.py``; ``morph+read`` is then the old
eager morph plus a read). Results are printed as markdown with the load verdict of :mod:`load`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from load import BusyProcess, load1, verdict

import steerlens
from steerlens import MorphConfig, morph_batch
from steerlens.models import load_model
from steerlens.threads import job_size, thread_policy

CASES = [("mnist-cnn", 28, 16, 64), ("efficientnet-lite0", 224, 12, 1)]


def floor(model, x, target, frames: int, chunk_size: int) -> None:
    """One forward+backward w.r.t. ``x`` and ``frames`` forwards, chunked like a morph."""
    xg = x.detach().clone().requires_grad_(True)
    torch.autograd.grad(F.cross_entropy(model(xg).float(), target).sum(), xg)
    per_chunk = max(1, chunk_size // x.shape[0])
    with torch.no_grad():
        for s in range(0, frames, per_chunk):
            torch.softmax(model(x.repeat(min(per_chunk, frames - s), 1, 1, 1)).float(), -1)


def measure(name: str, size: int, frames: int, batch: int, repeats: int) -> dict:
    model = load_model(name).eval().requires_grad_(False)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, model.channels, size, size, generator=g)
    t = torch.full((batch,), 1, dtype=torch.long)
    cfg = MorphConfig(amplification=[float(v) for v in np.linspace(0, 3, frames)])
    off = replace(cfg, phase_consistency=False)

    def floored(k: int) -> None:
        # on the threads the morph's policy picks for the same job (or the pinned --threads)
        with thread_policy(job_size(size, size, batch, frames)):
            floor(model, x, t, k, cfg.chunk_size)

    def read() -> None:
        for r in morph_batch(model, x, t, cfg):
            r.final.phase_explained  # noqa: B018 - the read is the point

    fns = {
        "morph": lambda: morph_batch(model, x, t, cfg),
        "morph+read": read,
        "morph-off": lambda: morph_batch(model, x, t, off),
        "floor": lambda: floored(frames),
        "floor K-1": lambda: floored(frames - 1),
    }
    names = list(fns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in names:
            fns[n]()
        secs: dict[str, list[float]] = {n: [] for n in names}
        loads = []
        for r in range(repeats):
            for n in names if r % 2 == 0 else names[::-1]:
                loads.append(load1())
                tic = time.perf_counter()
                fns[n]()
                secs[n].append(time.perf_counter() - tic)

    def ratio(a: str, b: str) -> float:
        return round(statistics.median(p / q for p, q in zip(secs[a], secs[b])), 3)

    return {"case": f"{name}-{size}-K{frames}-b{batch}",
            "ms": {n: round(1e3 * statistics.median(v), 1) for n, v in secs.items()},
            "vs_floor": {n: ratio(n, "floor") for n in names[:3]},
            "vs_floor_k1": {n: ratio(n, "floor K-1") for n in names[:3]},
            "load": (min(loads), max(loads)),
            "threads": morph_batch(model, x, t, cfg)[0].runtime.get("torch_threads")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads for every variant (default: the thread policy, per case)")
    p.add_argument("--busy", action="store_true", help="beside one single-threaded busy process")
    args = p.parse_args(argv)
    v = verdict(args.busy)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = args.threads or "policy"
    print(f"steerlens from {Path(steerlens.__file__).parent}; threads {threads}; "
          f"load before {v.load_before} on {v.cores} cores" + (f"; FLAGGED: {v.flag}" if v.flag else ""))
    print("\n| case | variant | ms | / floor | / floor K-1 | load during | threads |\n"
          "|---|---|---|---|---|---|---|")
    with BusyProcess() if args.busy else nullcontext():
        for case in CASES:
            rec = measure(*case, args.repeats)
            for n in ("morph", "morph+read", "morph-off"):
                print(f"| {rec['case']} | {n} | {rec['ms'][n]} | {rec['vs_floor'][n]} | "
                      f"{rec['vs_floor_k1'][n]} | {rec['load'][0]:g}–{rec['load'][1]:g} | "
                      f"{rec['threads']} |", flush=True)
            print(f"| {rec['case']} | floor / floor K-1 | {rec['ms']['floor']} / "
                  f"{rec['ms']['floor K-1']} | | | | |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
