"""Transforms: exact reconstruction, agreement with plenoptic, gradients, colour, caching, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from skimage import data

from steerlens.errors import ConfigError, ImageError
from steerlens.transforms import (
    Coeffs,
    FourierTransform,
    Luminance,
    PixelTransform,
    SteerablePyramid,
    Transform,
    make_transform,
    max_scales,
    pyramid_filters,
    reconstruction_error,
    rgb_to_yiq,
)

SIZES = [(32, 32), (28, 28), (64, 48), (33, 45)]
EVEN_SIZES = [(32, 32), (28, 28), (64, 48)]
SCALES = [1, 2, "auto"]
ORIENTATIONS = [2, 4, 6]


def _photo(h: int, w: int, channels: int = 1, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A crop of a natural photo (skimage's chelsea) in [0, 1], shape (1, C, h, w)."""
    img = data.chelsea().astype(np.float64) / 255.0  # (300, 451, 3)
    crop = img[40 : 40 + h, 120 : 120 + w]
    x = torch.tensor(crop, dtype=dtype).permute(2, 0, 1)[None]
    return x if channels == 3 else x.mean(1, keepdim=True)


@pytest.fixture(scope="module")
def plenoptic():
    return pytest.importorskip("plenoptic")


def _plenoptic_coeffs(po, x, scales, orientations, tight_frame=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyr = po.process.SteerablePyramidFreq(
            tuple(x.shape[-2:]),
            height=scales,
            order=orientations - 1,
            is_complex=True,
            downsample=True,
            tight_frame=tight_frame,
        )
    return pyr.to(x.dtype)(x)


def _max_diff(ours: Coeffs, ref, relative: bool) -> float:
    """Max |ours - ref| over all bands and residuals (optionally relative to each tensor's peak)."""
    pairs = [(ours.bands[i], ref[i]) for i in range(len(ours.bands))]
    pairs += [(ours.residuals["highpass"], ref["residual_highpass"])]
    pairs += [(ours.residuals["lowpass"], ref["residual_lowpass"])]
    worst = 0.0
    for a, b in pairs:
        assert a.shape == b.shape
        d = float((a - b).abs().max())
        worst = max(worst, d / max(1.0, float(b.abs().max())) if relative else d)
    return worst


# ---------------------------------------------------------------- reconstruction


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("scales", SCALES)
@pytest.mark.parametrize("orientations", ORIENTATIONS)
def test_pyramid_reconstruction_float32(size, scales, orientations):
    x = _photo(*size)
    pyr = SteerablePyramid(scales=scales, orientations=orientations)
    assert reconstruction_error(pyr, x) <= 1e-5


def test_pyramid_reconstruction_224_rgb_batch():
    x = torch.cat([_photo(224, 224, channels=3), torch.rand(1, 3, 224, 224)])
    pyr = SteerablePyramid()
    c = pyr.analyze(x)
    assert len(c.bands) == 5 == max_scales(224, 224)
    assert float((pyr.synthesize(c) - x).abs().max()) <= 1e-5


@pytest.mark.parametrize("orientations", [1, 4, 16])
@pytest.mark.parametrize("size", [(32, 32), (33, 45)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("tight_frame", [False, True])
def test_pyramid_reconstruction_float64_exact(orientations, size, tight_frame):
    x = _photo(*size, dtype=torch.float64)
    pyr = SteerablePyramid(orientations=orientations, tight_frame=tight_frame)
    c = pyr.analyze(x)
    assert c.bands[0].dtype == torch.complex128
    assert reconstruction_error(pyr, x) <= 1e-10


@pytest.mark.parametrize("padding", ["reflect", "periodic"])
def test_odd_sizes_are_padded_to_even_and_cropped_back(padding):
    x = _photo(33, 45)
    pyr = SteerablePyramid(scales=2, padding=padding)
    c = pyr.analyze(x)
    assert c.image_shape == (33, 45)
    assert c.residuals["highpass"].shape[-2:] == (34, 46)
    assert [tuple(b.shape) for b in c.bands] == [(1, 1, 4, 34, 46), (1, 1, 4, 17, 23)]
    assert [i["shape"] for i in c.band_info] == [(34, 46), (17, 23)]
    out = pyr.synthesize(c)
    assert out.shape == x.shape
    assert float((out - x).abs().max()) <= 1e-5


def test_tight_frame_preserves_energy():
    x = _photo(32, 32, dtype=torch.float64)
    c = SteerablePyramid(scales=2, tight_frame=True).analyze(x)
    energy = sum(float(b.abs().pow(2).sum()) for b in c.bands)
    energy += sum(float(r.pow(2).sum()) for r in c.residuals.values())
    assert energy == pytest.approx(float(x.pow(2).sum()), rel=1e-4)


# ---------------------------------------------------------------- plenoptic agreement


@pytest.mark.parametrize("size", EVEN_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("scales", SCALES)
@pytest.mark.parametrize("orientations", ORIENTATIONS)
@pytest.mark.parametrize("padding", ["none", "periodic"])
def test_pyramid_matches_plenoptic(plenoptic, size, scales, orientations, padding):
    x = torch.cat([_photo(*size), torch.rand(1, 1, *size)])
    ours = SteerablePyramid(scales=scales, orientations=orientations, padding=padding).analyze(x)
    ref = _plenoptic_coeffs(plenoptic, x, scales, orientations)
    assert _max_diff(ours, ref, relative=False) <= 1e-5


@pytest.mark.parametrize("tight_frame", [False, True])
def test_pyramid_matches_plenoptic_224(plenoptic, tight_frame):
    x = _photo(224, 224, channels=3)
    ours = SteerablePyramid(tight_frame=tight_frame, padding="none").analyze(x)
    ref = _plenoptic_coeffs(plenoptic, x, "auto", 4, tight_frame=tight_frame)
    # coarse non-tight coefficients reach ~700, where float32 spacing alone is 6e-5: compare
    # relative to each tensor's peak (plain absolute difference wherever the peak is <= 1)
    assert _max_diff(ours, ref, relative=True) <= 1e-5


def test_pyramid_matches_plenoptic_float64(plenoptic):
    x = torch.rand(2, 1, 64, 48, dtype=torch.float64)
    ours = SteerablePyramid(orientations=6, padding="none").analyze(x)
    ref = _plenoptic_coeffs(plenoptic, x, "auto", 6)
    # plenoptic stores its masks in float32 even when cast to float64
    assert _max_diff(ours, ref, relative=True) <= 1e-6


# ---------------------------------------------------------------- gradients and batching


def test_gradcheck_analyze_synthesize():
    x = torch.rand(1, 1, 16, 16, dtype=torch.float64, requires_grad=True)
    pyr = SteerablePyramid(orientations=2)
    gen = torch.Generator().manual_seed(0)
    shapes = [b.shape for b in pyr.analyze(x.detach()).bands]
    phases = [torch.exp(1j * torch.rand(s, generator=gen, dtype=torch.float64)) for s in shapes]

    def edited(img: torch.Tensor) -> torch.Tensor:
        c = pyr.analyze(img)
        return pyr.synthesize(c.with_bands([b * p for b, p in zip(c.bands, phases)]))

    assert torch.autograd.gradcheck(lambda img: pyr.synthesize(pyr.analyze(img)), (x,))
    assert torch.autograd.gradcheck(edited, (x,))


def test_gradcheck_wrt_complex_bands():
    x = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    pyr = SteerablePyramid(scales=1, orientations=2)
    c = pyr.analyze(x)
    band = c.bands[0].detach().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda b: pyr.synthesize(c.with_bands([b])), (band,), fast_mode=True
    )


def test_batched_frames_match_individual_synthesis():
    x = torch.cat([_photo(32, 32, channels=3), torch.rand(1, 3, 32, 32)])
    pyr = SteerablePyramid(scales=2)
    c = pyr.analyze(x)
    k = 3
    rep = c.repeat(k)
    alphas = torch.tensor([0.0, 0.5, 1.0]).repeat_interleave(2)  # frame-major blocks of the batch
    bands = [b * torch.exp(1j * alphas.view(-1, 1, 1, 1, 1)) for b in rep.bands]
    frames = pyr.synthesize(rep.with_bands(bands))
    assert frames.shape == (k * 2, 3, 32, 32)
    assert float((frames[:2] - x).abs().max()) <= 1e-5
    single = pyr.synthesize(c.with_bands([b * math.e ** (0.5j) for b in c.bands]))
    assert float((frames[2:4] - single).abs().max()) <= 1e-6
    assert float((frames[2:4] - x).abs().max()) > 1e-2  # the phase edit really changed the image
    # residuals kept at the source batch (2) serve all 3 frames of each source, identically
    shared = pyr.synthesize(c.with_bands(bands, repeat_residuals=False))
    assert pyr.broadcasts_residuals and c.residuals["highpass"].shape[0] == 2
    assert float((shared - frames).abs().max()) <= 1e-6
    # and stay differentiable with respect to the bands
    leaves = [b.detach().clone().requires_grad_(True) for b in bands]
    pyr.synthesize(c.with_bands(leaves, repeat_residuals=False)).square().sum().backward()
    assert all(bool(torch.isfinite(t.grad).all()) and float(t.grad.abs().max()) > 0 for t in leaves)


def test_bands_broadcast_over_residual_batch():
    x = _photo(32, 32)
    pyr = SteerablePyramid(scales=2)
    c = pyr.analyze(x)
    wide = Coeffs(
        bands=[b.repeat(4, 1, 1, 1, 1) for b in c.bands],
        residuals=c.residuals,
        image_shape=c.image_shape,
    )
    out = pyr.synthesize(wide)
    assert out.shape == (4, 1, 32, 32)
    assert float((out - x).abs().max()) <= 1e-5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_pyramid_on_cuda():
    x = _photo(64, 48, channels=3).cuda()
    pyr = SteerablePyramid()
    c = pyr.analyze(x)
    assert c.bands[0].device.type == "cuda"
    assert reconstruction_error(pyr, x) <= 1e-5
    cpu = pyr.analyze(x.cpu())
    assert float((c.bands[-1].cpu() - cpu.bands[-1]).abs().max()) <= 1e-5


# ---------------------------------------------------------------- band description, cache, errors


def test_band_info_frequency_is_the_radial_peak_of_each_band():
    f = pyramid_filters((128, 128), scales=4, orientations=4, dtype=torch.float64)
    info = SteerablePyramid(orientations=4).band_info(f.shapes)
    for s, entry in enumerate(info):
        power = f.analysis[s].abs().pow(2).sum(0)[0]  # along the kx axis of grid s
        h = power.shape[0]
        peak = int(power[: h // 2].argmax()) / 128  # cycles per full-resolution pixel
        assert entry["scale"] == s and entry["orientations"] == 4
        assert entry["frequency"] == pytest.approx(peak)
        assert entry["frequency"] == pytest.approx(0.25 / 2**s)


def test_filter_cache_returns_same_objects():
    pyr = SteerablePyramid(scales=2, orientations=4)
    f1 = pyramid_filters((32, 32), 2, 4)
    pyr.analyze(torch.rand(1, 1, 32, 32))
    f2 = pyramid_filters((32, 32), 2, 4)
    assert f1 is f2
    assert f1.analysis[0] is f2.analysis[0]
    f64 = pyramid_filters((32, 32), 2, 4, dtype=torch.float64)
    assert f64 is not f1 and f64.analysis[0].dtype == torch.complex128


def test_max_scales_and_auto():
    assert [max_scales(224, 224), max_scales(32, 32), max_scales(64, 48), max_scales(31, 64)] == [
        5,
        3,
        3,
        3,
    ]
    assert len(SteerablePyramid().analyze(torch.rand(1, 1, 28, 28)).bands) == 2


def test_too_many_scales_is_a_config_error():
    with pytest.raises(ConfigError, match="too small for 4 pyramid scales .at most 3.; use fewer"):
        SteerablePyramid(scales=4).analyze(torch.rand(1, 1, 32, 32))
    with pytest.raises(ConfigError, match="too small"):
        SteerablePyramid().analyze(torch.rand(1, 1, 6, 6))


@pytest.mark.parametrize(
    "kwargs",
    [{"orientations": 0}, {"orientations": 17}, {"scales": 0}, {"padding": "zero"}, {"twidth": 0}],
)
def test_invalid_pyramid_options(kwargs):
    with pytest.raises(ConfigError):
        SteerablePyramid(**kwargs)


def test_padding_none_needs_even_size_and_inputs_must_be_4d():
    with pytest.raises(ConfigError, match="even image size"):
        SteerablePyramid(padding="none").analyze(torch.rand(1, 1, 33, 32))
    with pytest.raises(ImageError, match=r"\(B, C, H, W\)"):
        SteerablePyramid().analyze(torch.rand(32, 32))


# ---------------------------------------------------------------- Fourier and pixel


@pytest.mark.parametrize("size", [(32, 32), (33, 45)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_fourier_exact_reconstruction_and_real_frames(size):
    x = _photo(*size, channels=3, dtype=torch.float64)
    t = FourierTransform()
    c = t.analyze(x)
    assert c.bands[0].shape == (1, 3, size[0], size[1] // 2 + 1)
    assert c.residuals == {} and t.is_complex
    assert reconstruction_error(t, x) <= 1e-12
    # phase edits keep frames real
    edited = t.synthesize(c.with_bands([c.bands[0] * torch.exp(1j * torch.rand(c.bands[0].shape))]))
    assert not edited.is_complex() and edited.shape == x.shape
    assert float((edited - x).abs().max()) > 1e-3


def test_fourier_dc_term_is_scaled_mean():
    x = torch.rand(1, 1, 8, 6, dtype=torch.float64)
    dc = FourierTransform().analyze(x).bands[0][0, 0, 0, 0]
    assert float(dc.real) == pytest.approx(float(x.mean()) * math.sqrt(48))


def test_pixel_is_identity():
    x = torch.rand(2, 3, 7, 5)
    t = PixelTransform()
    c = t.analyze(x)
    assert not t.is_complex and not c.bands[0].is_complex()
    assert torch.equal(t.synthesize(c), x)
    assert reconstruction_error(t, x) == 0.0


# ---------------------------------------------------------------- colour


def test_luminance_reconstructs_rgb_photo():
    x = _photo(64, 64, channels=3)
    t = Luminance(SteerablePyramid())
    c = t.analyze(x)
    assert c.bands[0].shape[1] == 1
    assert c.residuals["chroma"].shape == (1, 2, 64, 64)
    assert reconstruction_error(t, x) <= 1e-5


def test_luminance_edits_leave_chroma_unchanged():
    x = _photo(64, 64, channels=3, dtype=torch.float64)
    t = Luminance(SteerablePyramid(scales=3))
    c = t.analyze(x)
    out = t.synthesize(c.with_bands([b * torch.exp(0.8j * torch.ones(())) for b in c.bands]))
    before, after = rgb_to_yiq(x), rgb_to_yiq(out)
    assert float((after[:, 1:] - before[:, 1:]).abs().max()) <= 1e-10
    assert float((after[:, :1] - before[:, :1]).abs().max()) > 1e-2


def test_luminance_passes_grayscale_through():
    x = _photo(32, 32)
    inner = SteerablePyramid(scales=2)
    c = Luminance(inner).analyze(x)
    ref = inner.analyze(x)
    assert "chroma" not in c.residuals
    assert all(torch.equal(a, b) for a, b in zip(c.bands, ref.bands))
    assert reconstruction_error(Luminance(inner), x) <= 1e-5
    with pytest.raises(ImageError, match="luminance"):
        Luminance(inner).analyze(torch.rand(1, 2, 32, 32))


# ---------------------------------------------------------------- factory


def test_make_transform():
    csp = make_transform("csp", scales=2, orientations=6, padding="periodic")
    assert isinstance(csp, SteerablePyramid) and isinstance(csp, Transform)
    assert (csp.scales, csp.orientations, csp.padding) == (2, 6, "periodic")
    assert isinstance(make_transform("fourier"), FourierTransform)
    lum = make_transform("pixel", color="luminance")
    assert isinstance(lum, Luminance) and lum.name == "pixel" and not lum.is_complex
    with pytest.raises(ConfigError, match="unknown transform"):
        make_transform("wavelet")
    with pytest.raises(ConfigError, match="do not apply to the .fourier. transform"):
        make_transform("fourier", scales=2)
    with pytest.raises(ConfigError, match="color"):
        make_transform("csp", color="hsv")
