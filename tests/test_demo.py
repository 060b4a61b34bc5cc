"""The demo gallery, on its MNIST cases (the EfficientNet-Lite0 cases run in `make demo`)."""

from __future__ import annotations

import json

import pytest

from steerlens.demo import DEMO_CASES, MOTION_CASES, run_demo


def test_demo_gallery_on_mnist_cases(tmp_path, mnist_model):
    cases = [c for c in DEMO_CASES if c.slug in ("mnist-3-to-8", "mnist-1-to-7-persistent")]
    assert len(cases) == 2
    motion = [m for m in MOTION_CASES if m.slug == "motion-mnist-1-to-4"]
    lines: list[str] = []
    index = run_demo(tmp_path / "demo", progress=False, echo=lines.append, cases=cases,
                     motion_cases=motion)
    html = index.read_text()
    for c in cases:
        man = json.loads((tmp_path / "demo" / c.slug / "result.json").read_text())
        assert man["regime"] == c.regime
        assert man["frames"][-1]["p_target"] > man["frames"][0]["p_target"]
        assert f"{c.slug}/morph.gif" in html
    persistent = json.loads((tmp_path / "demo" / "mnist-1-to-7-persistent" / "result.json").read_text())
    assert persistent["frames"][-1]["l2"] == pytest.approx(4.0, rel=0.01)
    assert (tmp_path / "demo" / "compare-mnist-3-to-8" / "compare.png").is_file()
    assert len(lines) == 3 and all(c.slug in line for c, line in zip(cases, lines))
    # the motion-lens row: four methods at one matched budget, arrows for the two motion methods
    row = tmp_path / "demo" / "motion-mnist-1-to-4"
    assert "motion-mnist-1-to-4/compare.png" in html
    for m in ("pixel", "csp-phase", "flow", "csp-motion"):
        man = json.loads((row / m / "result.json").read_text())
        assert man["frames"][-1]["l2"] == pytest.approx(6.0, rel=0.02)
    assert (row / "flow" / "arrows.png").is_file() and "motion-mnist-1-to-4/flow/arrows.png" in html
    assert lines[2].startswith("motion-mnist-1-to-4")
