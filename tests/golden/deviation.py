"""Worst deviation from ``outputs.json`` per (input, regime, field): how the golden tolerances
in ``tests/test_golden.py`` were sized. Run it under other kernels to see another CPU's rounding::

    ATEN_CPU_CAPABILITY=default .venv/bin/python tests/golden/deviation.py
    ATEN_CPU_CAPABILITY=avx2 .venv/bin/python tests/golden/deviation.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import make_golden


def main() -> None:
    ref = json.loads((HERE / "outputs.json").read_text())["cases"]
    worst: dict[str, tuple[float, float, str]] = {}
    for key, run, model, x, targets, cfg in make_golden.cases():
        now = make_golden.summarise(run(model, x, targets, cfg))
        inputs, _, regime = key.split("/")
        for i, (r, n) in enumerate(zip(ref[key], now, strict=True)):
            for field in ("amplifications", "p_target", "p_source", "l2"):
                a, b = np.asarray(n[field]), np.asarray(r[field])
                diff = np.abs(a - b)
                absolute, relative = float(diff.max()), float((diff / (np.abs(b) + 1e-3)).max())
                slot = f"{inputs}/{regime}/{field}"
                if relative > worst.get(slot, (0.0, 0.0, ""))[1]:
                    worst[slot] = (absolute, relative, f"{key} image {i}")
            if n["top1"] != r["top1"]:
                print(f"top-1 differs: {key} image {i}")
    for slot, (absolute, relative, where) in sorted(worst.items()):
        print(f"{slot:32s} abs {absolute:.3g}  rel {relative:.3g}  ({where})")


if __name__ == "__main__":
    main()
