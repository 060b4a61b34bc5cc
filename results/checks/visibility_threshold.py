"""When does a morph's last frame stop looking like its source? SSIM and largest displacement of
real morphs, with side-by-side pictures to look at, behind :data:`steerlens.verdict.UNCHANGED_SSIM`.

EfficientNet-Lite0 on six photos (the four of ``steerlens samples``, matplotlib's Grace Hopper and
scikit-image's camera), target ``lemon``, persistent csp-phase / pixel / flow at L2 = 5, 10, 20;
mnist-cnn-robust on the first held-out MNIST 0, 1, ..., 7 (runner-up targets), persistent at
L2 = 2, 4, 6. Writes ``<out>/<case>.png`` (source | last frame | 5x the absolute difference) and
prints the Markdown table.

Run: ``.venv/bin/python results/checks/visibility_threshold.py /tmp/vis > table.md`` (``--table
/tmp/vis/rows.json`` prints the table of a finished run again).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import steerlens
from steerlens.data.images import load_builtin
from steerlens.data.mnist import load_mnist
from steerlens.metrics.image import ssim

PHOTOS = ["chelsea", "coffee", "astronaut", "rocket", "grace_hopper", "camera"]
METHODS = ["csp-phase", "pixel", "flow"]


def side_by_side(src: torch.Tensor, last: torch.Tensor, scale: int) -> Image.Image:
    a = src.permute(1, 2, 0).numpy()
    b = last.permute(1, 2, 0).numpy()
    d = np.clip(5 * np.abs(a - b), 0, 1)
    row = np.concatenate([a, np.ones_like(a[:, :4]), b, np.ones_like(a[:, :4]), d], axis=1)
    img = Image.fromarray(np.round(row * 255).astype(np.uint8).squeeze())
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST)


def run(model, x, targets, names, budgets, out: Path, scale: int, rows: list) -> None:
    for method in METHODS:
        for budget in budgets:
            cfg = steerlens.MorphConfig(method=method, regime="persistent", l2_budget=budget, frames=4)
            for name, r in zip(names, steerlens.morph_batch(model, x, targets, cfg), strict=True):
                s = float(ssim(r.frames[:1], r.frames[-1:])[0])
                case = f"{model.name}-{name}-{method}-{budget:g}"
                side_by_side(r.frames[0], r.frames[-1], scale).save(out / f"{case}.png")
                rows.append({"case": case, "model": model.name, "image": name, "method": method,
                             "budget": budget, "l2": r.final.l2, "ssim": s,
                             "max_disp": r.final.max_displacement,
                             "top1": [r.scores[0].top1_name, r.final.top1_name]})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)


def main() -> None:
    torch.set_num_threads(1)
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/visibility")
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    mnist = steerlens.load_model("mnist-cnn-robust", progress=False)
    split = load_mnist()
    idx = [int((split.y_test == d).nonzero()[0, 0]) for d in range(8)]
    xd = split.x_test[idx]
    with torch.no_grad():
        td = mnist(xd).topk(2).indices[:, 1].tolist()
    run(mnist, xd, td, [f"digit{d}" for d in range(8)], [2.0, 4.0, 6.0],
        out, 6, rows)
    lite0 = steerlens.load_model("efficientnet-lite0", progress=False)
    xp = torch.cat([load_builtin(p, size=(224, 224)) for p in PHOTOS])
    run(lite0, xp, [951] * len(PHOTOS), PHOTOS, [5.0, 10.0, 20.0], out, 1, rows)
    (out / "rows.json").write_text(json.dumps(rows, indent=1))
    print(table(rows))


def table(rows: list[dict]) -> str:
    """The Markdown table of ``rows``, most similar first, with the verdict at the threshold."""
    from steerlens.verdict import UNCHANGED_SSIM

    lines = [("| model | image | method | L2 | SSIM | largest displacement (px) | top-1 source -> "
              "last | flagged |"), "|---|---|---|---:|---:|---:|---|---|"]
    for r in sorted(rows, key=lambda r: -r["ssim"]):
        disp = "" if r["max_disp"] is None else f"{r['max_disp']:.2f}"
        changed = r["top1"][0] != r["top1"][1]
        flag = "yes" if changed and r["ssim"] >= UNCHANGED_SSIM else ""
        lines.append(f"| {r['model']} | {r['image']} | {r['method']} | {r['l2']:.2f} | "
                     f"{r['ssim']:.3f} | {disp} | {r['top1'][0]} -> {r['top1'][1]} | {flag} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--table":  # the table of a finished run's rows.json
        print(table(json.loads(Path(sys.argv[2]).read_text())))
    else:
        main()
