"""Record the motion read-outs (``phase_explained``, mean / max displacement per frame and the final
displacement field's length) on the golden inputs, as the reference that
``tests/test_readouts.py`` holds the lazy read-outs to (agreement within 0.02).

Run on the commit whose read-outs are the reference (the file records it)::

    .venv/bin/python tests/golden/make_readouts.py tests/golden/readouts.json

Inputs: those of :mod:`make_golden` (four MNIST digits with ``auto`` schedules at L2 1.5; the cat
photo on EfficientNet-Lite0 with a short explicit schedule), for the methods with a displacement
field and every regime; one thread.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_golden

torch.set_num_threads(1)

METHODS = ["csp-phase", "csp-joint", "flow", "csp-motion"]


def cases():
    """Yield ``(key, model, images, targets, config)`` for every read-out case."""
    from steerlens.data.images import load_builtin
    from steerlens.data.mnist import load_mnist
    from steerlens.models import load_model

    morph_batch, MorphConfig = make_golden._api()
    digits = load_mnist().x_test[make_golden.DIGITS]
    mnist = load_model("mnist-cnn", progress=False)
    lite0 = load_model("efficientnet-lite0")
    cat = load_builtin("chelsea", size=(224, 224), channels=3)
    for method in METHODS:
        for regime in make_golden.REGIMES:
            cfg = MorphConfig(method=method, regime=regime, frames=6, l2_budget=1.5)
            yield f"mnist/{method}/{regime}", morph_batch, mnist, digits, make_golden.DIGIT_TARGETS, cfg
            cfg = MorphConfig(method=method, regime=regime, amplification=list(make_golden.CAT_AMPS))
            yield f"cat/{method}/{regime}", morph_batch, lite0, cat, ["lynx"], cfg


def summarise(results) -> list[dict]:
    """The read-outs of every frame, and the final field's mean and largest length."""
    out = []
    for r in results:
        field = r.displacement
        length = None if field is None else field.norm(dim=0)
        out.append({
            "phase_explained": [s.phase_explained for s in r.scores],
            "mean_displacement": [s.mean_displacement for s in r.scores],
            "max_displacement": [s.max_displacement for s in r.scores],
            "field_mean": None if length is None else float(length.mean()),
            "field_max": None if length is None else float(length.max()),
        })
    return out


def main(path: str) -> None:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    ref = {"commit": commit, "threads": 1, "cases": {}}
    for key, run, model, x, targets, cfg in cases():
        ref["cases"][key] = summarise(run(model, x, targets, cfg))
        print(key, file=sys.stderr)
    Path(path).write_text(json.dumps(ref, indent=1, allow_nan=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
