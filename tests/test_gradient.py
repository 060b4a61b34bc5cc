"""Coefficient-space gradients against finite differences, and the complex-autograd convention."""

from __future__ import annotations

import itertools

import pytest
import torch

from steerlens.config import MorphConfig
from steerlens.gradient import coefficient_gradient, edit_direction, target_loss
from steerlens.models.base import Classifier
from steerlens.transforms import make_transform


def test_complex_autograd_convention():
    """PyTorch returns dL/dRe + i dL/dIm: for L = |z|^2 that is 2z (paper.md §2.3)."""
    z = torch.tensor([1.5 - 0.5j], dtype=torch.complex128, requires_grad=True)
    (z.abs() ** 2).sum().backward()
    assert torch.allclose(z.grad, 2 * z.detach())


def _tiny_model(seed: int = 0) -> Classifier:
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(),
        torch.nn.Linear(4 * 16 * 16, 3),
    ).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.3)
    return Classifier(net, ["a", "b", "c"], (16, 16), 1)


@pytest.mark.parametrize("which", ["phase", "log_amplitude"])
def test_phase_and_log_amplitude_gradients_match_finite_differences(which):
    torch.manual_seed(0)
    model = _tiny_model()
    tr = make_transform("csp", scales=2, orientations=4)
    x = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    coeffs = tr.analyze(x)
    target = torch.tensor([2])
    grads, _, _ = coefficient_gradient(model, tr, coeffs, target)

    def loss_with(band_idx: int, flat_idx: int, h: float) -> float:
        bands = [b.clone() for b in coeffs.bands]
        flat = bands[band_idx].reshape(-1)
        arg = torch.tensor(1j * h, dtype=torch.complex128) if which == "phase" else torch.tensor(h, dtype=torch.float64)
        factor = torch.exp(arg)
        flat[flat_idx] = flat[flat_idx] * factor.to(flat.dtype)
        with torch.no_grad():
            out = model(tr.synthesize(coeffs.with_bands(bands)))
        return float(target_loss(out, target, None)[0])

    checked = 0
    for bi, (c, g) in enumerate(zip(coeffs.bands, grads)):
        prod = torch.conj(c) * g
        analytic = (prod.imag if which == "phase" else prod.real).reshape(-1)
        for j in torch.argsort(analytic.abs(), descending=True)[:3].tolist():
            h = 1e-5
            fd = (loss_with(bi, j, h) - loss_with(bi, j, -h)) / (2 * h)
            assert fd == pytest.approx(float(analytic[j]), rel=1e-4, abs=1e-9)
            checked += 1
    assert checked == 6


def test_normalised_direction_has_unit_max_and_descends():
    model = _tiny_model().float()
    tr = make_transform("csp", scales=2)
    x = torch.rand(1, 1, 16, 16)
    t = torch.tensor([1])
    d = edit_direction(model, tr, x, t, MorphConfig())
    peak = max(float(p.abs().max()) for p in d.phase if p is not None)
    assert peak == pytest.approx(1.0)
    assert all(a is None for a in d.log_amplitude)  # phase-only by default
    # a small step along the descent direction lowers the loss
    from steerlens.frames import edited_bands

    with torch.no_grad():
        x1 = tr.synthesize(d.coeffs.with_bands(edited_bands(d, torch.tensor([[0.05]]), 0.5)))
        l0 = target_loss(model(x), t, None)
        l1 = target_loss(model(x1), t, None)
    assert float(l1) < float(l0)


def test_band_selection_leaves_other_scales_untouched():
    model = _tiny_model().float()
    tr = make_transform("csp", scales=2)
    d = edit_direction(model, tr, torch.rand(1, 1, 16, 16), torch.tensor([0]),
                       MorphConfig(scales=[1], orientations=[0, 2]))
    assert float(d.phase[0].abs().max()) == 0.0
    assert float(d.phase[1][:, :, [1, 3]].abs().max()) == 0.0
    assert float(d.phase[1][:, :, [0, 2]].abs().max()) > 0.0


@pytest.mark.parametrize("method", ["csp-phase", "csp-amplitude", "csp-joint"])
@pytest.mark.parametrize("schedule", ["uneven", "linear"])
def test_edited_bands_match_the_closed_form(method, schedule):
    """Frame k's band is c0 * exp(w * a * d_eta) * exp(i * a * d_phi) (frames.py docstring).

    ``linear`` exercises the fast path for evenly spaced amplifications (a running product).
    """
    from steerlens.frames import edited_bands

    model = _tiny_model().float()
    tr = make_transform("csp", scales=2)
    d = edit_direction(model, tr, torch.rand(2, 1, 16, 16), torch.tensor([1, 2]),
                       MorphConfig(method=method))
    if schedule == "linear":
        amps = torch.stack([torch.linspace(0, 3.0, 16), torch.linspace(0.5, 40.0, 16)], 1)
    else:
        amps = torch.tensor([[0.0, 0.3], [1.5, 4.0], [1.6, 9.0]])
    bands = edited_bands(d, amps, 0.5)
    weight = 0.5 if method == "csp-joint" else 1.0
    for c0, dphi, deta, got in zip(d.coeffs.bands, d.phase, d.log_amplitude, bands):
        if not c0.is_complex():
            continue
        for k in range(amps.shape[0]):
            for b in range(2):
                a = float(amps[k, b])
                want = c0[b].to(torch.complex128)
                if dphi is not None:
                    want = want * torch.exp(1j * a * dphi[b].double())
                if deta is not None:
                    want = want * torch.exp(weight * a * deta[b].double())
                err = (got[k * 2 + b].to(torch.complex128) - want).abs().max()
                assert float(err) < 1e-5 * max(1.0, float(want.abs().max()))


@pytest.mark.parametrize("method", ["csp-phase", "csp-joint", "pixel"])
@pytest.mark.parametrize("schedule", ["uneven", "linear"])
@pytest.mark.parametrize("group", [1, 3])
def test_grouped_bands_equal_all_frames_at_once(method, schedule, group):
    """Frames rendered group by group into reused buffers equal the all-at-once bands exactly,
    including the running product carried across group boundaries."""
    from steerlens.frames import clipped_frames, edited_bands, iter_edited_bands

    model = _tiny_model().float()
    tr = make_transform("pixel" if method == "pixel" else "csp", **({} if method == "pixel" else {"scales": 2}))
    d = edit_direction(model, tr, torch.rand(2, 1, 16, 16), torch.tensor([1, 2]),
                       MorphConfig(method=method))
    if schedule == "linear":
        amps = torch.stack([torch.linspace(0, 3.0, 7), torch.linspace(0.5, 40.0, 7)], 1)
    else:
        amps = torch.tensor([[0.0, 0.3], [1.5, 4.0], [1.6, 9.0], [0.2, 0.1]])
    whole = edited_bands(d, amps, 0.5)
    per_frame = 2 * sum(c[0].numel() for c in d.coeffs.bands)
    seen = []
    for start, stop, bands in iter_edited_bands(d, amps, 0.5, group_coefficients=group * per_frame):
        assert stop - start <= group
        seen.append((start, stop))
        for got, want in zip(bands, whole):
            assert torch.equal(got, want[start * 2 : stop * 2])
    assert seen[0][0] == 0 and seen[-1][1] == amps.shape[0]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(seen))
    frames = clipped_frames(tr, d, amps, 0.5)
    direct = tr.synthesize(d.coeffs.with_bands(whole)).clamp(0, 1).view(amps.shape[0], 2, 1, 16, 16)
    assert torch.allclose(frames, direct, atol=1e-6)


def test_phase_stats_count_wrapped_coefficients_exactly():
    from steerlens.frames import phase_stats

    model = _tiny_model().float()
    tr = make_transform("csp", scales=2)
    d = edit_direction(model, tr, torch.rand(1, 1, 16, 16), torch.tensor([1]), MorphConfig())
    amps = torch.tensor([[0.5], [4.0], [40.0]])
    max_dphi, wrapped = phase_stats(d, amps)
    mags = torch.cat([p.abs()[m].flatten() for p, m in zip(d.phase, d.edited_mask) if p is not None])
    assert float(max_dphi[2, 0]) == pytest.approx(40.0)  # global-max normalisation: peak |d_phi| = 1
    for k, a in enumerate([0.5, 4.0, 40.0]):
        assert float(wrapped[k, 0]) == pytest.approx(float((a * mags > torch.pi).float().mean()))
    assert float(wrapped[0, 0]) == 0.0 and float(wrapped[2, 0]) > float(wrapped[1, 0]) > 0.0
