"""Natural images, judged: EfficientNet-Lite0 drives every method at matched pixel-L2 budgets on the
offline labelled photos; EfficientNet-Lite1 and Lite2 (never differentiated) judge the final frames.

Sources: foolbox's 20 labelled ImageNet photos (224x224, resized and centre-cropped), optionally
plus chelsea, coffee and grace_hopper (``--photos all``). Targets: the driver's runner-up class on
the source. Each (regime, budget, method) cell is one :func:`steerlens.morph_batch` over all photos.

The persistent regime runs at most ``--steps`` steps (default 24) of ``--step-scale`` x the
library's default step size (default 4x, pixel 6x), by setting
``steerlens.regimes.persistent.MAX_PERSISTENT_STEPS`` (the library's default is 100 steps; on two
shared CPU cores that is about ten minutes per cell for 20 photos at 224x224), so its "reached
budget" count says how many photos got to the budget within that cap.

Run (see README.md for the exact commands behind ``table.md``)::

    .venv/bin/python results/imagenet-judges/run.py --regimes one-step --json one-step.json
    .venv/bin/python results/imagenet-judges/run.py --regimes persistent --json persistent.json
    .venv/bin/python results/imagenet-judges/run.py --report one-step.json persistent.json > table.md
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path
from statistics import median

import torch

import steerlens
from steerlens.data.photos import foolbox_imagenet, imagenet_photos, stack
from steerlens.models.efficientnet import load_imagenet_judge
from steerlens.regimes import persistent

METHODS = "pixel,fourier-phase,csp-phase,csp-joint,flow,csp-motion"
MOTION = ("flow", "csp-motion")


def run(args: argparse.Namespace) -> list[dict]:
    """Morph every photo with every (regime, budget, method); one record per cell."""
    torch.set_num_threads(args.threads)
    photos = imagenet_photos(224) if args.photos == "all" else foolbox_imagenet(224)
    x, _labels = stack(photos)
    driver = steerlens.load_model("efficientnet-lite0")
    judges = {"lite1": load_imagenet_judge("efficientnet-lite1"),
              "lite2": load_imagenet_judge("efficientnet-lite2")}
    with torch.no_grad():
        logits = driver(x)
    source_top1 = logits.argmax(1)
    targets = logits.topk(2).indices[:, 1]
    persistent.MAX_PERSISTENT_STEPS = args.steps  # read by persistent.run at call time
    records = []
    for regime in args.regimes.split(","):
        for budget in [float(b) for b in args.budgets.split(",")]:
            for method in args.methods.split(","):
                t0 = time.perf_counter()
                step = None
                if regime == "persistent":
                    from steerlens.methods import get_method

                    step = _step_scale(args.step_scale, method) * get_method(method).default_step
                cfg = steerlens.MorphConfig(method=method, regime=regime, l2_budget=budget,
                                            frames=args.frames, step_size=step)
                res = steerlens.morph_batch(driver, x, targets, cfg)
                final = torch.stack([r.frames[-1] for r in res]).float()
                with torch.no_grad():
                    votes = {n: (j(final).argmax(1) == targets) for n, j in judges.items()}
                both = votes["lite1"] & votes["lite2"]
                rec = {
                    "regime": regime, "budget": budget, "method": method, "n": len(res),
                    "step_size": step, "max_steps": args.steps if regime == "persistent" else None,
                    "driver_success": sum(r.succeeded for r in res),
                    "lite1": int(votes["lite1"].sum()), "lite2": int(votes["lite2"].sum()),
                    "both_judges": int(both.sum()),
                    "reached": sum(r.reached for r in res),
                    "median_p_target": median(r.final.p_target for r in res),
                    "median_l2": median(r.final.l2 for r in res),
                    "median_max_displacement": (
                        median(r.final.max_displacement for r in res)
                        if method in MOTION and res[0].final.max_displacement is not None else None),
                    "median_phase_explained": (
                        median(v for r in res if (v := r.final.phase_explained) is not None)
                        if any(r.final.phase_explained is not None for r in res) else None),
                    "seconds": time.perf_counter() - t0,
                    "per_photo": [
                        {"name": p.name, "label": p.label, "source_top1": int(s), "target": int(t),
                         "driver": bool(r.succeeded), "lite1": bool(v1), "lite2": bool(v2),
                         "p_target": r.final.p_target, "l2": r.final.l2}
                        for p, s, t, r, v1, v2 in zip(photos, source_top1, targets, res,
                                                      votes["lite1"], votes["lite2"])
                    ],
                }
                records.append(rec)
                print(f"{regime} L2={budget:g} {method}: driver {rec['driver_success']}/{len(res)}, "
                      f"both judges {rec['both_judges']}, {rec['seconds']:.0f} s", flush=True)
    return records


def _step_scale(spec: str, method: str) -> float:
    """``"4"`` (every method) or ``"4,pixel=6"`` (a default, then per-method overrides)."""
    scale = 1.0
    for item in spec.split(","):
        name, _, value = item.rpartition("=")
        if not name or name == method:
            scale = float(value)
    return scale


def report(paths: list[str]) -> str:
    """Markdown table of the records in ``paths`` (later files replace earlier cells)."""
    data = [json.loads(Path(p).read_text()) for p in paths]
    cells: dict[tuple, dict] = {}
    for d in data:
        for r in d["records"]:
            cells[(r["regime"], r["budget"], r["method"])] = r
    order = {m: i for i, m in enumerate(METHODS.split(","))}
    recs = sorted(cells.values(), key=lambda r: (r["regime"] != "one-step", r["budget"],
                                                   order.get(r["method"], 99)))
    lines = [
        (f"# ImageNet judges: Lite0 driver, Lite1 + Lite2 judges ({recs[0]['n']} photos, "
         "runner-up targets)\n"),
        *(f"- `{p}`: commit {d['meta']['commit']}; {d['meta']['machine']}; torch threads "
          f"{d['meta']['threads']}; {d['meta']['date']}" for p, d in zip(paths, data)),
        "",
        ("| regime | L2 | method | persistent steps x step | driver top-1 = target | Lite1 | "
         "Lite2 | both judges | median final p_target | median final L2 | reached budget | "
         "median max displacement (px) | seconds |"),
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in recs:
        disp = r["median_max_displacement"]
        steps = "-" if r["max_steps"] is None else f"<= {r['max_steps']} x {r['step_size']:g}"
        lines.append(
            f"| {r['regime']} | {r['budget']:g} | {r['method']} | {steps} | "
            f"{r['driver_success']} | {r['lite1']} | {r['lite2']} | {r['both_judges']} | "
            f"{r['median_p_target']:.3f} | {r['median_l2']:.1f} | {r['reached']} | "
            f"{'-' if disp is None else f'{disp:.2f}'} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=METHODS)
    ap.add_argument("--regimes", default="one-step,persistent")
    ap.add_argument("--budgets", default="10,30")
    ap.add_argument("--photos", choices=("foolbox", "all"), default="foolbox")
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--steps", type=int, default=24, help="persistent regime: most steps")
    ap.add_argument("--step-scale", default="4,pixel=6",
                    help="persistent regime: step size as a multiple of the library default, "
                         "e.g. '4' or '4,pixel=6'")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="write the records here")
    ap.add_argument("--report", nargs="+", default=None, help="print the table of these JSONs")
    args = ap.parse_args()
    if args.report:
        print(report(args.report), end="")
        return
    records = run(args)
    meta = {
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, check=False).stdout.strip(),
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
        "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "args": vars(args),
    }
    out = json.dumps({"meta": meta, "records": records}, indent=1)
    if args.json:
        Path(args.json).write_text(out)
    else:
        print(out)


if __name__ == "__main__":
    main()
