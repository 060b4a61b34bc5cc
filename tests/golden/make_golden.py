"""Record the reference outputs that the refactor-invariance test (tests/test_golden.py) holds.

Run on the commit whose outputs are the reference (the golden file records it)::

    .venv/bin/python tests/golden/make_golden.py tests/golden/outputs.json

Fixed inputs: four MNIST test digits (mnist-cnn, ``auto`` schedules) and the bundled cat photo
(EfficientNet-Lite0, a short explicit schedule so the iterative regimes stay cheap); every method
and every regime. One thread, so the numbers do not depend on the machine's core count.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)

METHODS = ["csp-phase", "csp-amplitude", "csp-joint", "fourier-phase", "fourier-amplitude",
           "fourier-joint", "pixel"]
REGIMES = ["one-step", "live", "persistent"]
DIGITS = [0, 101, 202, 303]  # indices into the held-out MNIST test split
DIGIT_TARGETS = [8, 9, 4, 0]
CAT_AMPS = [0.0, 0.3, 0.6]


def _api():
    import steerlens

    try:
        return steerlens.morph_batch, steerlens.MorphConfig
    except RecursionError:  # the pre-refactor package could not expose morph_batch at top level
        from steerlens.methods import MorphConfig
        from steerlens.morph import morph_batch

        return morph_batch, MorphConfig


def cases():
    """Yield ``(key, model, images, targets, config)`` for every golden case."""
    from steerlens.data.images import load_builtin
    from steerlens.data.mnist import load_mnist
    from steerlens.models import load_model

    morph_batch, MorphConfig = _api()
    split = load_mnist()
    digits = split.x_test[DIGITS]
    mnist = load_model("mnist-cnn", progress=False)
    lite0 = load_model("efficientnet-lite0")
    cat = load_builtin("chelsea", size=(224, 224), channels=3)
    for method in METHODS:
        for regime in REGIMES:
            cfg = MorphConfig(method=method, regime=regime, frames=6, l2_budget=1.5)
            yield f"mnist/{method}/{regime}", morph_batch, mnist, digits, DIGIT_TARGETS, cfg
            cfg = MorphConfig(method=method, regime=regime, amplification=list(CAT_AMPS))
            yield f"cat/{method}/{regime}", morph_batch, lite0, cat, ["lynx"], cfg


def summarise(results) -> list[dict]:
    """Numbers that pin a result: every per-frame score and the frames' sum and hash."""
    out = []
    for r in results:
        frames = r.frames.contiguous().numpy()
        out.append({
            "amplifications": [s.amplification for s in r.scores],
            "p_target": [s.p_target for s in r.scores],
            "p_source": [s.p_source for s in r.scores],
            "l2": [s.l2 for s in r.scores],
            "top1": [s.top1_index for s in r.scores],
            "frames_sum": float(frames.astype("float64").sum()),
            "frames_sha256": hashlib.sha256(frames.tobytes()).hexdigest(),
        })
    return out


def main(path: str) -> None:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    golden = {"commit": commit, "threads": 1, "cases": {}}
    for key, run, model, x, targets, cfg in cases():
        golden["cases"][key] = summarise(run(model, x, targets, cfg))
        print(key, file=sys.stderr)
    Path(path).write_text(json.dumps(golden, indent=1, allow_nan=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
