"""The refactor-invariance check: every method and regime reproduces the outputs recorded before
the regimes moved into their own package (``tests/golden/outputs.json``, made by
``tests/golden/make_golden.py`` on the commit it records).

Per-frame scores must agree to 1e-5 and the frames' sums to 1e-4 (float noise across machines); on
the machine that recorded them the frames are also bit-identical (same SHA-256), which the closing
note of the refactor reports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))

import make_golden


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((GOLDEN / "outputs.json").read_text())


@pytest.fixture(scope="module")
def current() -> dict:
    return {key: make_golden.summarise(run(model, x, t, cfg))
            for key, run, model, x, t, cfg in make_golden.cases()}


@pytest.mark.slow
def test_every_method_and_regime_reproduces_the_reference(reference, current):
    assert set(current) == set(reference["cases"])
    for key, ref_results in reference["cases"].items():
        for i, (ref, now) in enumerate(zip(ref_results, current[key], strict=True)):
            for field in ("amplifications", "p_target", "p_source", "l2"):
                np.testing.assert_allclose(now[field], ref[field], atol=1e-5, rtol=1e-5,
                                           err_msg=f"{key} image {i} {field}")
            assert now["top1"] == ref["top1"], f"{key} image {i}"
            assert now["frames_sum"] == pytest.approx(ref["frames_sum"], rel=1e-4, abs=1e-3)
