"""Issue 10's MNIST goals, measured directly: driver success and both-judge agreement at L2 = 2
and 6 for the motion methods (flow, csp-motion) beside pixel and csp-phase, one-step and
persistent, on 100 class-balanced held-out MNIST sources with runner-up targets.

Run: ``.venv/bin/python results/checks/motion_goals.py [--sources 100] > results/checks/motion_goals.md``
"""

from __future__ import annotations

import argparse
import subprocess
import time

import torch

import steerlens
from steerlens.experiments.sources import load_driver, load_judges, select_sources


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", type=int, default=100)
    ap.add_argument("--budgets", default="2,6")
    ap.add_argument("--methods", default="pixel,csp-phase,flow,csp-motion")
    ap.add_argument("--regimes", default="one-step,persistent")
    ap.add_argument("--driver", default="standard")
    args = ap.parse_args()
    torch.set_num_threads(1)
    src = select_sources("mnist", args.sources, showcase=False)
    driver = load_driver("mnist", args.driver, progress=False)
    judges = load_judges("mnist", progress=False)
    with torch.no_grad():
        targets = driver(src.x).topk(2).indices[:, 1]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    print(f"# Motion goals on MNIST ({args.sources} held-out sources, runner-up targets, "
          f"{args.driver} driver)\n")
    print(f"command: `.venv/bin/python results/checks/motion_goals.py --sources {args.sources} "
          f"--budgets {args.budgets} --methods {args.methods} --regimes {args.regimes} "
          f"--driver {args.driver}`; commit {commit}; 1 thread\n")
    print("| regime | L2 | method | driver top-1 = target | both judges | reached budget | "
          "median max displacement (px) | median phase explained | seconds |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for regime in args.regimes.split(","):
        for budget in [float(b) for b in args.budgets.split(",")]:
            for method in args.methods.split(","):
                t0 = time.perf_counter()
                cfg = steerlens.MorphConfig(method=method, regime=regime, l2_budget=budget, frames=6)
                res = steerlens.morph_batch(driver, src.x, targets, cfg)
                final = torch.stack([r.frames[-1] for r in res])
                with torch.no_grad():
                    votes = [j(final).argmax(-1) == targets for j in judges.values()]
                both = int((votes[0] & votes[1]).sum())
                driver_ok = sum(r.succeeded for r in res)
                reached = sum(r.reached for r in res)
                disp = [r.final.max_displacement for r in res if r.final.max_displacement is not None]
                expl = [r.final.phase_explained for r in res if r.final.phase_explained is not None]
                med = (lambda v: f"{sorted(v)[len(v) // 2]:.2f}" if v else "-")
                print(f"| {regime} | {budget:g} | {method} | {driver_ok} | {both} | {reached} | "
                      f"{med(disp)} | {med(expl)} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
