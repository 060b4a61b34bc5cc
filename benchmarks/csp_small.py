"""Why CSP analysis + synthesis is under 2x plenoptic at small sizes: each half timed alone, with
glibc's default allocator and with one that keeps freed memory (no page faults on reuse).

Run ``python benchmarks/csp_small.py [--threads N] [--rounds R]``. It runs itself twice as a
subprocess, once as is and once with ``GLIBC_TUNABLES`` raising malloc's trim and mmap thresholds
(256 MB / 32 MB), and prints one markdown table. Each process times steerlens's ``analyze`` and
``synthesize`` and plenoptic's ``forward`` and ``recon_pyr`` at 64² and 32² grey, batch 1 and 32,
interleaved (median of ``R`` rounds). Both libraries run the same FFTs at these sizes, so what
separates them is the rest: temporaries, copies, ``fftshift`` and the page faults of freshly
mapped memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

TUNED = "glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=33554432"
CASES = [(64, 1), (64, 32), (32, 1), (32, 32)]


def interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median ms of each function, run in alternating order after one warm-up call each."""
    for f in fns.values():
        f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(rounds):
        for k in list(fns) if r % 2 == 0 else list(fns)[::-1]:
            tic = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - tic)
    return {k: round(statistics.median(v) * 1e3, 3) for k, v in times.items()}


def measure(rounds: int) -> list[dict]:
    """This process's timings for every case."""
    import torch
    from plenoptic.process import SteerablePyramidFreq

    from steerlens.transforms.pyramid import SteerablePyramid, max_scales

    rows = []
    for size, batch in CASES:
        x = torch.rand(batch, 1, size, size, generator=torch.Generator().manual_seed(1))
        ours = SteerablePyramid(padding="none")
        theirs = SteerablePyramidFreq((size, size), height=max_scales(size, size), order=3,
                                      is_complex=True)
        with torch.no_grad():
            c, pc = ours.analyze(x), theirs(x)
            ms = interleaved({"ours analyze": lambda: ours.analyze(x),
                              "ours synthesize": lambda: ours.synthesize(c),
                              "plenoptic forward": lambda: theirs(x),
                              "plenoptic recon": lambda: theirs.recon_pyr(pc)}, rounds)
        ours_ms = ms["ours analyze"] + ms["ours synthesize"]
        theirs_ms = ms["plenoptic forward"] + ms["plenoptic recon"]
        rows.append({"case": f"{size}² b{batch}", **ms, "speed-up": round(theirs_ms / ours_ms, 2)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(measure(args.rounds)))
        return 0
    print(f"threads {args.threads}, {args.rounds} interleaved rounds, load before "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
    print("| allocator | case | ours analyze | ours synthesize | plenoptic forward | "
          "plenoptic recon | speed-up |\n|---|---|---|---|---|---|---|")
    for label, extra in (("glibc default", {}), ("glibc, freed memory kept", {"GLIBC_TUNABLES": TUNED})):
        out = subprocess.run([sys.executable, __file__, "--child", "--threads", str(args.threads),
                              "--rounds", str(args.rounds)], env={**os.environ, **extra},
                             capture_output=True, text=True, check=True).stdout
        for row in json.loads(out.strip().splitlines()[-1]):
            print(f"| {label} | {row['case']} | {row['ours analyze']} | {row['ours synthesize']} | "
                  f"{row['plenoptic forward']} | {row['plenoptic recon']} | {row['speed-up']}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
