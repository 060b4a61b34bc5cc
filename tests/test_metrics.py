"""Metrics with known answers: warp compatibility E, image metrics, COUT, alignment, bootstrap."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from steerlens.data.synthetic import (
    ground_truth_flow,
    ground_truth_path,
    ground_truth_transform,
    make_family,
)
from steerlens.errors import ConfigError, TargetError
from steerlens.metrics import (
    bootstrap_ci,
    cout,
    cout_result,
    ground_truth_alignment,
    moves_toward_target,
    ms_ssim,
    paired_bootstrap,
    per_scale_energy,
    pixel_l2,
    score_targets,
    ssim,
    target_probability,
    warp_fit,
    warp_fit_result,
    warp_image,
)
from steerlens.models.base import Classifier
from steerlens.result import FrameScore, MorphResult

torch.set_num_threads(1)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def blobs() -> torch.Tensor:
    """Four smooth images: Gaussian blobs on black, 32x32."""
    return make_family("translation", 4, seed=0).x


def _shift(x: torch.Tensor, dx: float, dy: float = 0.0) -> torch.Tensor:
    flow = torch.zeros(x.shape[0], 2, *x.shape[-2:])
    flow[:, 0], flow[:, 1] = dx, dy
    return warp_image(x, flow)


# ------------------------------------------------------------------------------------------ warp
def test_warp_image_identity_and_integer_shift() -> None:
    x = torch.rand(2, 3, 9, 11, generator=_gen())
    assert torch.allclose(warp_image(x, torch.zeros(2, 2, 9, 11)), x, atol=1e-6)
    shifted = _shift(x, 2.0)
    assert torch.allclose(shifted[..., :-2], x[..., 2:], atol=1e-6)  # sample 2 px to the right
    assert torch.allclose(shifted[..., -1], x[..., -1], atol=1e-6)  # border padding


def test_translation_is_explained_by_a_warp(blobs: torch.Tensor) -> None:
    edit = _shift(blobs, 2.0, -1.0)
    fit = warp_fit(blobs, edit, steps=120)
    assert fit.E.min() >= 0.9
    assert fit.E_raw.min() >= 0.9
    # The fitted backward flow recovers the shift where the image has structure.
    mask = blobs[:, 0] > 0.2
    assert fit.flow[:, 0][mask].sub(2.0).abs().median() < 0.2
    assert fit.flow[:, 1][mask].add(1.0).abs().median() < 0.2
    assert fit.gain is None
    assert torch.allclose(fit.residual, edit - fit.y_hat)
    fit_g = warp_fit(blobs, edit, gain=True, steps=120)
    assert fit_g.E.min() >= 0.9 and fit_g.gain is not None


def test_noise_is_not_explained(blobs: torch.Tensor) -> None:
    noisy = blobs + 0.05 * torch.randn(blobs.shape, generator=_gen(1))
    fit = warp_fit(blobs, noisy, steps=120)
    assert fit.E.max() <= 0.1


def test_brightness_needs_the_gain_field() -> None:
    x = 0.7 * make_family("scale", 4, seed=0).x  # flat-topped disks
    bright = 1.3 * x
    e_warp = warp_fit(x, bright, steps=120).E
    e_gain = warp_fit(x, bright, gain=True, steps=120).E
    # A warp cannot create values above the source maximum; a smooth gain explains it all.
    assert e_warp.max() <= 0.35
    assert e_gain.min() >= 0.95


def test_warp_fit_edge_cases(blobs: torch.Tensor) -> None:
    fit = warp_fit(blobs, blobs.clone(), steps=3)
    assert torch.isnan(fit.E).all()  # no edit: E undefined
    with pytest.raises(ConfigError, match="same shape"):
        warp_fit(blobs, blobs[:2])


def _morph_result(src: torch.Tensor, frames: torch.Tensor) -> MorphResult:
    scores = [FrameScore(float(i), 0.5, 0.5, 0, "left", 0.0) for i in range(frames.shape[0])]
    return MorphResult(
        frames=frames,
        source=src,
        amplifications=[float(i) for i in range(frames.shape[0])],
        scores=scores,
        target=1,
        target_name="right",
        source_class=0,
        source_name="left",
        method="pixel",
    )


def test_warp_fit_on_a_morph_result(blobs: torch.Tensor) -> None:
    src = blobs[0]
    frames = torch.stack([src, _shift(src[None], 1.0)[0], _shift(src[None], 2.0)[0]])
    fit = warp_fit_result(_morph_result(src, frames), frames=[1, 2], steps=90)
    assert fit.E.shape == (2,) and fit.E.min() >= 0.9


# ----------------------------------------------------------------------------------------- image
def test_pixel_l2_and_ssim() -> None:
    x = torch.rand(3, 1, 28, 28, generator=_gen(2))
    assert torch.allclose(pixel_l2(x, x + 0.1), torch.full((3,), 2.8), atol=1e-5)
    assert torch.allclose(ssim(x, x), torch.ones(3))
    noisy = (x + 0.2 * torch.randn(x.shape, generator=_gen(3))).clamp(0, 1)
    s_noisy = ssim(x, noisy)
    assert (s_noisy < 0.9).all() and (s_noisy > 0.0).all()
    # Tiny images still work (window shrinks to fit).
    t = torch.rand(2, 1, 6, 6, generator=_gen(4))
    assert torch.allclose(ssim(t, t), torch.ones(2))


def test_ms_ssim_and_small_image_fallback() -> None:
    big = torch.rand(2, 1, 176, 176, generator=_gen(5))
    assert torch.allclose(ms_ssim(big, big), torch.ones(2), atol=1e-5)
    noisy = (big + 0.1 * torch.randn(big.shape, generator=_gen(6))).clamp(0, 1)
    assert not torch.allclose(ms_ssim(big, noisy), ssim(big, noisy))
    small = torch.rand(2, 1, 28, 28, generator=_gen(7))
    small_noisy = (small + 0.1).clamp(0, 1)
    assert torch.equal(ms_ssim(small, small_noisy), ssim(small, small_noisy))


def test_per_scale_energy_localises_frequency() -> None:
    fine = torch.ones(1, 1, 32, 32)
    fine[..., ::2] = -1.0  # Nyquist grating
    coarse = make_family("translation", 1, seed=0).x * 0.1  # smooth blob
    se_fine, se_coarse = per_scale_energy(fine), per_scale_energy(coarse)
    assert se_fine.labels == ["scale 0", "scale 1", "scale 2", "lowpass"]
    assert se_fine.share[0, 0] > 0.95
    assert int(se_coarse.share[0].argmax()) >= 2
    assert torch.allclose(se_fine.share.sum(1), torch.ones(1))
    assert torch.isnan(per_scale_energy(torch.zeros(1, 1, 16, 16)).share).all()


# -------------------------------------------------------------------------------- classification
def _left_right_classifier() -> Classifier:
    """Logits (4 * mean of left half, 4 * mean of right half) of a 32x32 gray image."""
    w = torch.zeros(2, 1, 32, 32)
    w[0, ..., :16] = 4.0 / 512
    w[1, ..., 16:] = 4.0 / 512
    lin = nn.Linear(1024, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(w.flatten(1) * 40.0)
    return Classifier(
        nn.Sequential(nn.Flatten(), lin), ["left", "right"], (32, 32), 1, name="left-right"
    )


def test_driver_and_judges() -> None:
    clf = _left_right_classifier()
    s = make_family("translation", 6, seed=0)
    gt = ground_truth_transform(s.x, s.params, 1 - s.y, "translation")
    p_src = target_probability(clf, s.x, 1 - s.y)
    p_gt = target_probability(clf, gt, 1 - s.y)
    assert p_src.max() < 0.1 and p_gt.min() > 0.9
    flipped = Classifier(
        clf.net, ["left", "right"], (32, 32), 1, normalize=lambda x: x.flip(-1), name="mirror"
    )
    sc = score_targets(gt, 1 - s.y, driver=clf, judges={"O": clf, "mirror": flipped})
    assert sc.driver_success.all() and sc.judge_success["O"].all()
    assert not sc.judge_success["mirror"].any() and not sc.joint_success.any()
    with pytest.raises(TargetError):
        target_probability(clf, s.x, 2)


def test_cout_known_answers() -> None:
    clf = _left_right_classifier()
    s = make_family("translation", 4, seed=0)
    t = 1 - s.y
    gt = ground_truth_transform(s.x, s.params, t, "translation")
    good = cout(clf, s.x, gt, t)
    # 1024 pixels in groups of 1024 // 50 = 20: 0, 20, ..., 1020, then the last 4 -> 53 points.
    assert good.fractions[0] == 0 and good.fractions[-1] == 1 and len(good.fractions) == 53
    assert float(good.fractions[1]) == pytest.approx(20 / 1024)
    # Curves start at the source and end at the counterfactual.
    assert torch.allclose(good.p_target[:, 0], target_probability(clf, s.x, t), atol=1e-6)
    assert torch.allclose(good.p_target[:, -1], target_probability(clf, gt, t), atol=1e-6)
    assert good.cout.min() > 0.5
    # Swapping source and target negates COUT exactly (two-class softmax).
    back = cout(clf, s.x, gt, s.y, source=t)
    assert torch.allclose(back.cout, -good.cout, atol=1e-6)


def test_cout_matches_a_hand_computed_transition() -> None:
    # 1x1x2x2 image, linear two-class model; n_steps=4 -> one pixel per step.
    lin = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]]))
    model = nn.Sequential(nn.Flatten(), lin)
    x = torch.zeros(1, 1, 2, 2)
    edit = torch.tensor([[[[0.4, -1.0], [0.1, 0.2]]]])  # order by |diff|: 1, 0, 3, 2
    r = cout(model, x, edit, target=1, source=0, n_steps=4)
    logits = [0.0, -2.0, -2.0 + 0.4, -2.0 + 0.4 + 0.8, -2.0 + 0.4 + 0.8 + 0.3]
    p1 = [1 / (1 + math.exp(-z)) for z in logits]
    auc1 = sum((a + b) / 2 * 0.25 for a, b in itertools.pairwise(p1))
    auc0 = 1.0 - auc1
    assert r.p_target[0].tolist() == pytest.approx(p1, abs=1e-6)
    assert float(r.cout[0]) == pytest.approx(auc1 - auc0, abs=1e-6)


def test_cout_on_a_morph_result() -> None:
    clf = _left_right_classifier()
    s = make_family("translation", 2, seed=0)
    i = int((s.y == 0).nonzero()[0])
    src = s.x[i]
    gt = ground_truth_transform(s.x, s.params, 1, "translation")[i]
    r = cout_result(_morph_result(src, torch.stack([src, gt])), clf)
    assert r.cout.shape == (1,) and float(r.cout[0]) > 0.5


# ------------------------------------------------------------------------------------- alignment
def test_alignment_known_answers() -> None:
    s = make_family("translation", 6, seed=1)
    t = 1 - s.y
    gt = ground_truth_transform(s.x, s.params, t, "translation")
    path = ground_truth_path(s.x, s.params, t, "translation", n_points=17)
    a = ground_truth_alignment(s.x, gt, gt, path=path)
    assert torch.allclose(a.cosine, torch.ones(6)) and torch.allclose(a.projection, torch.ones(6))
    assert a.path_share.min() > 0.999 and a.path_progress.min() > 0.999
    assert a.moves_toward_target.all()

    noise = s.x + 0.05 * torch.randn(s.x.shape, generator=_gen(8))
    n = ground_truth_alignment(s.x, noise, gt, path=path)
    assert n.cosine.abs().max() <= 0.1 and n.path_share.max() <= 0.1
    assert not n.moves_toward_target.any()

    # A small step along the true flow (0.65 px of a 13 px move): nearly orthogonal to the
    # endpoint change, but on the true path.
    flow = ground_truth_flow(s.x, s.params, t, "translation")
    step = warp_image(s.x, 0.05 * flow)
    st = ground_truth_alignment(s.x, step, gt, path=path)
    assert st.path_share.min() >= 0.9
    assert (st.path_progress - 0.05).abs().max() < 0.02
    assert st.cosine.abs().max() < 0.2

    # Moving the other way is not on the true path.
    away = warp_image(s.x, -0.2 * flow)
    assert ground_truth_alignment(s.x, away, gt, path=path).path_share.max() < 0.1
    d = gt - s.x
    assert moves_toward_target(s.x, s.x + 0.3 * d, gt).all()
    assert not moves_toward_target(s.x, s.x - 0.3 * d, gt).any()


# ------------------------------------------------------------------------------------- bootstrap
def test_bootstrap_ci_contains_median_and_shrinks() -> None:
    rng = np.random.default_rng(0)
    small = rng.normal(size=50)
    large = rng.normal(size=1600)
    ci_s, ci_l = bootstrap_ci(small), bootstrap_ci(large)
    assert ci_s.low <= np.median(small) <= ci_s.high
    assert ci_l.low <= np.median(large) <= ci_l.high
    assert ci_s.estimate == pytest.approx(float(np.median(small)))
    assert ci_l.width < ci_s.width / 3  # ~ 1/sqrt(n): 32x more data -> ~5.7x narrower
    assert bootstrap_ci(small).low == ci_s.low  # fixed seed: reproducible
    assert bootstrap_ci(small, alpha=0.5).width < ci_s.width
    with_nan = np.append(small, np.nan)
    assert bootstrap_ci(with_nan).estimate == ci_s.estimate  # NaNs dropped


def test_cluster_and_paired_bootstrap() -> None:
    rng = np.random.default_rng(1)
    per_source = rng.normal(size=30)
    values = np.repeat(per_source, 10)  # 10 identical targets per source
    clusters = np.repeat(np.arange(30), 10)
    naive = bootstrap_ci(values, stat=np.mean)
    clustered = bootstrap_ci(values, stat=np.mean, clusters=clusters)
    assert clustered.n_obs == 30 and naive.n_obs == 300
    assert clustered.width > 2.5 * naive.width  # pseudo-replication makes the naive CI too narrow

    base = rng.normal(size=300)
    other = base + 0.2 + 0.01 * rng.normal(size=300)
    pb = paired_bootstrap({"pixel": base, "csp": other}, stat=np.mean)
    d = pb.differences[("pixel", "csp")]
    # Paired resampling cancels the shared between-source spread: a tight interval near -0.2.
    assert d.estimate == pytest.approx(-0.2, abs=0.002) and d.low < d.estimate < d.high
    assert d.width < 0.005
    assert pb.methods["pixel"].width > 20 * d.width
    assert pb.methods["pixel"].estimate == pytest.approx(float(np.mean(base)))
    with pytest.raises(ConfigError):
        paired_bootstrap({"a": np.ones(3), "b": np.ones(4)})
