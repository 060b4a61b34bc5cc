"""Add a smile: neutral -> happy with the FER mini-Xception (``fer-emotion``) on the offline faces.

Grace Hopper (neutral 0.70, happy 0.24) is morphed to happy; the astronaut (already happy 0.98) is
morphed the other way, to neutral ("remove the smile"). For each face, each
method (flow, csp-motion, csp-phase, pixel) and regime (one-step, persistent) at one pixel-L2
budget, the morph is saved under ``results/faces/<face>/<regime>-<method>/`` (morph.gif,
filmstrip.png, curves.png, arrows.png for the motion methods, frames.npz, result.json) and one row
goes into the table.

Run::

    .venv/bin/python results/faces/run.py > results/faces/table.md
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time
from pathlib import Path

import torch

import steerlens
from steerlens.data.photos import face_images

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="flow,csp-motion,csp-phase,pixel")
    ap.add_argument("--regimes", default="one-step,persistent")
    ap.add_argument("--faces", default="grace_hopper:happy,astronaut:neutral",
                    help="face:target pairs")
    ap.add_argument("--budget", type=float, default=3.0, help="pixel L2 on the 64x64 grey face")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = steerlens.load_model("fer-emotion")
    faces = face_images()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    print(f"# Faces with fer-emotion (L2 budget {args.budget:g} on 64x64 grey)\n")
    print(f"commit {commit}; {platform.processor() or platform.machine()}; 1 thread; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| face | regime | method | p(target) source -> final | top-1 source -> final | L2 | "
          "max / mean displacement (px) | reached | seconds |")
    print("|---|---|---|---|---|---:|---:|---:|---:|")
    for pair in args.faces.split(","):
        face, target_name = pair.split(":")
        x, target = faces[face], model.class_names.index(target_name)
        for regime in args.regimes.split(","):
            for method in args.methods.split(","):
                t0 = time.perf_counter()
                cfg = steerlens.MorphConfig(method=method, regime=regime, l2_budget=args.budget,
                                            frames=args.frames)
                res = steerlens.morph_batch(model, x, [target], cfg)[0]
                res.save(Path(args.out) / face / f"{regime}-{method}")
                s0, s1 = res.scores[0], res.final
                disp = ("-" if s1.max_displacement is None
                        else f"{s1.max_displacement:.2f} / {s1.mean_displacement:.2f}")
                print(f"| {face} -> {target_name} | {regime} | {method} | {s0.p_target:.3f} -> {s1.p_target:.3f} | "
                      f"{s0.top1_name} -> {s1.top1_name} | {s1.l2:.2f} | {disp} | {res.reached} | "
                      f"{time.perf_counter() - t0:.1f} |", flush=True)


if __name__ == "__main__":
    main()
