"""Say it plainly: a real morph that flips the standard MNIST CNN while the digit looks the same is
flagged in the CLI line, ``result.json``, the report view and a batch table; a visible change is not.
"""

from __future__ import annotations

import json

import pytest
import torch

import steerlens
from steerlens.metrics.image import ssim
from steerlens.verdict import UNCHANGED_SSIM, ssim_pair
from steerlens.web.collect import collect


@pytest.fixture(scope="module")
def flips(mnist_model, mnist_split):
    """Held-out digit 5 pushed to its runner-up by persistent pixel steps at L2 1.5 (the digit
    stays visibly the same, SSIM about 0.96) and at L2 4 by flow (visibly bent)."""
    x = mnist_split.x_test[5:6]
    with torch.no_grad():
        t = mnist_model(x).topk(2).indices[:, 1]
    quiet = steerlens.morph_batch(mnist_model, x, t, steerlens.MorphConfig(
        method="pixel", regime="persistent", l2_budget=1.5, frames=3))[0]
    loud = steerlens.morph_batch(mnist_model, x, t, steerlens.MorphConfig(
        method="flow", l2_budget=4.0, frames=3))[0]
    return quiet, loud


def test_ssim_pair_matches_the_metrics_ssim(mnist_split):
    x = mnist_split.x_test[:2]
    y = (x + 0.1 * torch.rand(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert abs(ssim_pair(x[0], y[0]) - float(ssim(x[:1], y[:1])[0])) < 1e-5


def test_a_flip_without_visible_change_is_said_plainly_everywhere(flips, tmp_path):
    quiet, loud = flips
    v = quiet.verdict
    assert v.decision_changed and v.ssim >= UNCHANGED_SSIM and v.looks_adversarial
    assert quiet.summary().endswith(
        f"decision changed; image visibly unchanged (SSIM {v.ssim:.2f}): this looks like an "
        "adversarial example, not a class change")
    quiet.save(tmp_path / "quiet")
    saved = json.loads((tmp_path / "quiet" / "result.json").read_text())
    assert saved["verdict"]["looks_adversarial"] is True and saved["verdict"]["ssim"] == v.ssim
    view = collect([tmp_path / "quiet"])[0]
    assert view.verdict == v.message
    # the report's template shows it as a flag beside the overshoot one
    from steerlens.web.report import report_html

    assert f'class="overshoot looks-adversarial" role="alert">{v.message}' in report_html(
        [tmp_path / "quiet"])
    # a visible change is not flagged, whatever the decision did
    assert loud.verdict.ssim < UNCHANGED_SSIM and not loud.verdict.looks_adversarial
    assert "adversarial" not in loud.summary()


def test_the_verdict_follows_a_replaced_frame(flips):
    quiet, _ = flips
    assert quiet.verdict.looks_adversarial
    blank = quiet.replace(frames=torch.cat([quiet.frames[:-1], torch.zeros_like(quiet.frames[-1:])]))
    assert not blank.verdict.looks_unchanged and quiet.verdict.looks_unchanged
