"""The demo gallery, on its MNIST cases (the EfficientNet-Lite0 cases run in `make demo`)."""

from __future__ import annotations

import json

import pytest

from steerlens.demo import DEMO_CASES, run_demo


def test_demo_gallery_on_mnist_cases(tmp_path, mnist_model):
    cases = [c for c in DEMO_CASES if c.slug in ("mnist-3-to-8", "mnist-1-to-7-persistent")]
    assert len(cases) == 2
    lines: list[str] = []
    index = run_demo(tmp_path / "demo", progress=False, echo=lines.append, cases=cases)
    html = index.read_text()
    for c in cases:
        man = json.loads((tmp_path / "demo" / c.slug / "result.json").read_text())
        assert man["regime"] == c.regime
        assert man["frames"][-1]["p_target"] > man["frames"][0]["p_target"]
        assert f"{c.slug}/morph.gif" in html
    persistent = json.loads((tmp_path / "demo" / "mnist-1-to-7-persistent" / "result.json").read_text())
    assert persistent["frames"][-1]["l2"] == pytest.approx(4.0, rel=0.01)
    assert (tmp_path / "demo" / "compare-mnist-3-to-8" / "compare.png").is_file()
    assert len(lines) == 2 and all(c.slug in line for c, line in zip(cases, lines))
