"""The motion lens: the flow transform, the phase–displacement fit, ``flow`` and ``csp-motion``
morphs, per-frame displacement read-outs and arrows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import steerlens
from steerlens.cli import main
from steerlens.gradient import coefficient_gradient
from steerlens.motion import PhaseMotionFit, local_frequency
from steerlens.transforms import make_transform
from steerlens.transforms.flow import FlowTransform, warp


def _smooth_image(size: int = 96, channels: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, channels, size + 8, size + 8, generator=g)
    return F.avg_pool2d(x, 9, 1)[..., :size, :size]


def test_flow_transform_shifts_and_is_identity_at_zero():
    t = FlowTransform(grid=6)
    x = _smooth_image(32)
    c = t.analyze(x)
    assert (t.synthesize(c) - x).abs().max() < 1e-5
    c.bands[0][:, 1] = 2.0  # two pixels down, everywhere
    y = t.synthesize(c)
    assert torch.allclose(y[..., 2:, :], x[..., :-2, :], atol=1e-5)


def test_flow_levels_sum_their_grids():
    t = FlowTransform(grid=8, levels=2)
    c = t.analyze(_smooth_image(32))
    assert [b.shape[-1] for b in c.bands] == [8, 4]
    c.bands[1][:, 0] = 1.5  # the coarse grid alone moves everything by 1.5 px
    field = t.displacement(c)
    assert torch.allclose(field[:, 0], torch.full_like(field[:, 0], 1.5), atol=1e-5)


def test_flow_gradient_matches_finite_differences(mnist_model, mnist_split):
    """d loss / d control point from autograd agrees with central differences."""
    t = FlowTransform(grid=4)
    x = mnist_split.x_test[:1].double()
    model = mnist_model.double()
    try:
        coeffs = t.analyze(x)
        coeffs.bands[0] = torch.randn(coeffs.bands[0].shape, dtype=torch.float64,
                                      generator=torch.Generator().manual_seed(1)) * 0.5
        target = torch.tensor([8])
        grads, _, _ = coefficient_gradient(model, t, coeffs, target)
        eps = 1e-5
        for idx in [(0, 0, 1, 2), (0, 1, 2, 1), (0, 0, 3, 3)]:
            plus, minus = coeffs.bands[0].clone(), coeffs.bands[0].clone()
            plus[idx] += eps
            minus[idx] -= eps
            lp = coefficient_gradient(model, t, coeffs.with_bands([plus]), target)[1]
            lm = coefficient_gradient(model, t, coeffs.with_bands([minus]), target)[1]
            fd = float((lp - lm) / (2 * eps))
            assert grads[0][idx].item() == pytest.approx(fd, rel=1e-4, abs=1e-7)
    finally:
        model.float()


def test_local_frequency_of_a_wave():
    xs = torch.arange(32.0)
    wave = torch.exp(1j * (0.7 * xs[None, :] - 0.3 * xs[:, None]))
    wx, wy = local_frequency(wave, (2.0, 2.0))  # a band at half resolution: per image pixel
    assert wx.mean().item() == pytest.approx(0.35, abs=1e-5)
    assert wy.mean().item() == pytest.approx(-0.15, abs=1e-5)


def test_phase_fit_recovers_a_known_translation():
    """The field that explains the phase change of a shifted image is that shift."""
    x = _smooth_image(96)
    csp = make_transform("csp")
    c0 = csp.analyze(x)
    d = torch.zeros(1, 2, 96, 96)
    d[:, 0], d[:, 1] = 0.6, -0.3
    c1 = csp.analyze(warp(x, d))
    dphi = [torch.angle(b1 * torch.conj(b0)) for b0, b1 in zip(c0.bands, c1.bands)]
    masks = [b.abs() > 0.01 * b.abs().flatten(2).amax(2)[..., None, None, None] for b in c0.bands]
    g, explained = PhaseMotionFit.build(c0, masks, 8).solve(dphi)
    dense = F.interpolate(g, size=(96, 96), mode="bicubic", align_corners=True)
    inner = dense[..., 16:-16, 16:-16]
    assert inner[:, 0].mean().item() == pytest.approx(0.6, abs=0.04)
    assert inner[:, 1].mean().item() == pytest.approx(-0.3, abs=0.04)
    assert float(explained) > 0.85


@pytest.mark.parametrize("method", ["flow", "csp-motion"])
@pytest.mark.parametrize("regime", ["one-step", "persistent"])
def test_motion_methods_move_toward_the_target(method, regime, mnist_model, mnist_split):
    x = mnist_split.x_test[:6]
    target = mnist_model(x).topk(2).indices[:, 1]
    res = steerlens.morph_batch(mnist_model, x, target,
                                steerlens.MorphConfig(method=method, regime=regime, l2_budget=4.0,
                                                      frames=5))
    rises = [r.final.p_target > r.scores[0].p_target for r in res]
    assert sum(rises) >= 5
    for r, src in zip(res, x):
        assert r.final.l2 == pytest.approx(4.0, rel=0.02) or not r.reached
        # a warp resamples the source: it cannot create intensity beyond the source's range
        assert float(r.frames.max()) <= float(src.max()) + 1e-5
        assert r.scores[0].max_displacement == 0.0
        assert r.final.max_displacement > 0.2 and r.final.mean_displacement > 0
        assert r.displacement is not None and r.displacement.shape == (2, 28, 28)
        length = r.displacement.norm(dim=0)
        assert float(length.max()) == pytest.approx(r.final.max_displacement, rel=1e-4)
        if method == "csp-motion":
            assert all(0 <= s.phase_explained <= 1 for s in r.scores)


def test_flow_amplification_is_the_largest_control_point_displacement(mnist_model, mnist_split):
    x = mnist_split.x_test[:2]
    res = steerlens.morph_batch(mnist_model, x, [8, 3],
                                steerlens.MorphConfig(method="flow", amplification=[0, 1.0, 2.0]))
    for r in res:
        # the dense field's largest length lies between the largest component and sqrt(2) of it
        peak = r.final.max_displacement
        assert 1.0 <= peak <= 2.0 * 2**0.5 + 1e-4
        assert r.scores[1].max_displacement == pytest.approx(peak / 2, rel=1e-5)


def test_csp_phase_frames_report_their_phase_consistency(mnist_model, mnist_split):
    res = steerlens.morph(mnist_model, mnist_split.x_test[0], 8, "csp-phase", l2_budget=2.0)
    explained = [s.phase_explained for s in res.scores]
    assert all(e is not None and 0 <= e <= 1 for e in explained)
    assert max(explained) - min(explained) < 1e-6  # one-step: the same edit, scaled
    assert res.displacement is not None
    off = steerlens.morph(mnist_model, mnist_split.x_test[0], 8, "csp-phase", l2_budget=2.0,
                          phase_consistency=False)
    assert off.displacement is None and off.final.phase_explained is None
    assert torch.equal(off.frames, res.frames)  # a read-out only: the morph itself is unchanged
    pixel = steerlens.morph(mnist_model, mnist_split.x_test[0], 8, "pixel", l2_budget=2.0)
    assert pixel.displacement is None and pixel.final.phase_explained is None


@pytest.mark.parametrize("size", [28, 224])
def test_cli_writes_arrows_for_motion_methods(size, tmp_path, mnist_split, capsys):
    img = tmp_path / "in.png"
    if size == 28:
        Image.fromarray((mnist_split.x_test[3, 0].numpy() * 255).astype(np.uint8)).save(img)
        args = ["-m", "mnist-cnn", "-t", "8", "--budget", "4"]
    else:
        from skimage import data

        Image.fromarray(data.chelsea()).save(img)
        args = ["-m", "efficientnet-lite0", "-t", "tiger cat", "--budget", "15", "--frames", "4"]
    out = tmp_path / "out"
    code = main(["morph", str(img), *args, "--method", "flow", "--gif-arrows", "-o", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    with Image.open(out / "arrows.png") as im:
        assert min(im.size) >= 400
    man = json.loads((out / "result.json").read_text())
    assert man["frames"][-1]["max_displacement"] > 0
    with np.load(out / "frames.npz") as z:
        assert z["displacement"].shape == (2, size, size)
