"""Synthetic families: seeding, the class factor each family is built on, and ground truth."""

from __future__ import annotations

import math

import pytest
import torch

from steerlens.data.mnist import Split
from steerlens.data.synthetic import (
    FAMILIES,
    ground_truth_flow,
    ground_truth_path,
    ground_truth_transform,
    load_split,
    make_family,
    render,
)
from steerlens.errors import ConfigError
from steerlens.metrics.warp import warp_image


def _centroid(x: torch.Tensor) -> torch.Tensor:
    """(N, 2) intensity-weighted (x, y) centroid of single-channel images."""
    _n, _, h, w = x.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij"
    )
    m = x[:, 0]
    tot = m.sum((1, 2))
    return torch.stack([(m * xs).sum((1, 2)) / tot, (m * ys).sum((1, 2)) / tot], dim=1)


def _orientation_deg(x: torch.Tensor) -> torch.Tensor:
    """(N,) principal-axis angle in degrees, in [0, 180), from second moments."""
    _n, _, h, w = x.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij"
    )
    m = x[:, 0]
    c = _centroid(x)
    dx = xs - c[:, 0, None, None]
    dy = ys - c[:, 1, None, None]
    tot = m.sum((1, 2))
    mxx, myy = (m * dx * dx).sum((1, 2)) / tot, (m * dy * dy).sum((1, 2)) / tot
    mxy = (m * dx * dy).sum((1, 2)) / tot
    return torch.rad2deg(0.5 * torch.atan2(2 * mxy, mxx - myy)) % 180.0


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_seeded_and_in_range(name: str) -> None:
    a = make_family(name, 12, seed=5, noise=0.05, texture=True)
    b = make_family(name, 12, seed=5, noise=0.05, texture=True)
    c = make_family(name, 12, seed=6, noise=0.05, texture=True)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)
    assert a.x.shape == (12, 1, 32, 32) and a.x.dtype == torch.float32
    assert float(a.x.min()) >= 0.0 and float(a.x.max()) <= 1.0
    # Balanced classes; rendering the stored parameters reproduces the images exactly.
    k = len(a.class_names)
    assert torch.bincount(a.y, minlength=k).tolist() == [12 // k] * k
    assert torch.allclose(render(a.params, a.y, name), a.x)


def test_translation_classes_differ_by_13px() -> None:
    s = make_family("translation", 40, seed=0)
    left = ground_truth_transform(s.x, s.params, 0, "translation")
    right = ground_truth_transform(s.x, s.params, 1, "translation")
    shift = _centroid(right) - _centroid(left)
    # Same nuisances, class factor 9.5 -> 22.5 px: centroid moves 13 px in x, 0 in y (tails of
    # blobs near the border are clipped, hence the tolerance).
    assert shift[:, 0].sub(13.0).abs().max() < 0.3
    assert shift[:, 1].abs().max() < 1e-3
    # At size 64 the offset scales to 26 px.
    big = make_family("translation", 6, size=64, seed=0)
    d = _centroid(ground_truth_transform(big.x, big.params, 1, "translation")) - _centroid(
        ground_truth_transform(big.x, big.params, 0, "translation")
    )
    assert d[:, 0].sub(26.0).abs().max() < 0.6


def test_rotation_scale_shape_factors() -> None:
    r = make_family("rotation", 20, seed=1)
    ang = _orientation_deg(r.x)
    expected = (r.params["factor"] + r.params["jangle"]) % 180.0
    diff = (ang - expected + 90.0) % 180.0 - 90.0
    assert diff.abs().max() < 1.0

    s = make_family("scale", 20, seed=1)
    small = ground_truth_transform(s.x, s.params, 0, "scale").sum((1, 2, 3))
    large = ground_truth_transform(s.x, s.params, 1, "scale").sum((1, 2, 3))
    assert (large / small).sub(4.0).abs().max() < 0.05  # radius x2 -> area x4

    q = make_family("shape", 20, seed=1)
    disk = ground_truth_transform(q.x, q.params, 0, "shape")
    square = ground_truth_transform(q.x, q.params, 1, "shape")
    area_d, area_s = disk.sum((1, 2, 3)), square.sum((1, 2, 3))
    assert (area_d / area_s).sub(1.0).abs().max() < 0.03  # equal area
    # Soft edges add a little curvature bias to the rendered area (measured <= 4.3 %).
    assert (area_d / (q.params["amp"] * q.params["area"])).sub(1.0).abs().max() < 0.06
    # ...but different shapes: the square reaches further along its diagonals.
    assert (disk - square).abs().sum((1, 2, 3)).min() > 3.0


@pytest.mark.parametrize("name", ["translation", "rotation", "scale"])
def test_ground_truth_flow_maps_source_onto_counterfactual(name: str) -> None:
    s = make_family(name, 10, seed=2)
    t = 1 - s.y
    gt = ground_truth_transform(s.x, s.params, t, name)
    flow = ground_truth_flow(s.x, s.params, t, name)
    assert flow is not None and flow.shape == (10, 2, 32, 32)
    warped = warp_image(s.x, flow)
    rel = (warped - gt).pow(2).sum((1, 2, 3)) / (gt - s.x).pow(2).sum((1, 2, 3))
    assert rel.max() < 0.02
    assert ground_truth_flow(s.x, s.params, s.y, name).abs().max() < 1e-5  # same class: no motion


def test_ground_truth_keeps_noise_and_texture() -> None:
    s = make_family("translation", 8, seed=3, noise=0.1, texture=True)
    gt = ground_truth_transform(s.x, s.params, 1 - s.y, "translation")
    # A class-0 sample sent to class 1 equals the class-1 rendering of the same nuisances, and
    # sending it back returns the source exactly.
    back = ground_truth_transform(gt, s.params, s.y, "translation")
    assert torch.allclose(back, s.x, atol=1e-6)
    # Far from both object positions the pixels (texture + noise) are untouched.
    cx = s.params["factor"] + s.params["jx"]
    cx_t = torch.where(s.y == 0, cx + 13.0, cx - 13.0)
    xs = torch.arange(32.0)
    far = ((xs - cx[:, None]).abs() > 10) & ((xs - cx_t[:, None]).abs() > 10)
    diff = (gt - s.x).abs()[:, 0].amax(1)  # (N, W) max over rows
    assert diff[far].max() < 1e-3
    assert (gt - s.x).abs().max() > 0.4


def test_shape_control_has_no_flow_and_rotation4() -> None:
    q = make_family("shape", 4, seed=0)
    assert ground_truth_flow(q.x, q.params, 1 - q.y, "shape") is None
    r4 = make_family("rotation4", 8, seed=0)
    assert r4.class_names == ["0deg", "45deg", "90deg", "135deg"]
    gt = ground_truth_transform(r4.x, r4.params, 2, "rotation4")
    ang = _orientation_deg(gt)
    diff = (ang - (90.0 + r4.params["jangle"]) + 90.0) % 180.0 - 90.0
    assert diff.abs().max() < 1.0


def test_path_endpoints_and_rgb() -> None:
    s = make_family("scale", 3, seed=4, channels=3, texture=True)
    assert s.x.shape == (3, 3, 32, 32)
    gt = ground_truth_transform(s.x, s.params, 1 - s.y, "scale")
    path = ground_truth_path(s.x, s.params, 1 - s.y, "scale", n_points=5)
    assert path.shape == (3, 5, 3, 32, 32)
    assert torch.allclose(path[:, 0], s.x) and torch.allclose(path[:, -1], gt)
    # The object's colour differs between channels (RGB, not gray replicated).
    assert (s.x[:, 0] - s.x[:, 1]).abs().max() > 0.05


def test_load_split_is_a_training_split() -> None:
    sp = load_split("rotation", 20, 10, seed=0)
    assert isinstance(sp, Split)
    assert sp.x_train.shape == (20, 1, 32, 32) and sp.x_test.shape == (10, 1, 32, 32)
    assert sp.class_names == ["horizontal", "vertical"] and sp.name == "synthetic-rotation"
    assert not torch.equal(sp.x_train[:10], sp.x_test)
    assert torch.equal(load_split("rotation", 20, 10, seed=0).x_test, sp.x_test)


def test_bad_arguments_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown synthetic family"):
        make_family("spiral", 4)
    with pytest.raises(ConfigError, match="channels 1 or 3"):
        make_family("shape", 4, channels=2)
    s = make_family("shape", 4)
    with pytest.raises(ConfigError, match="target class out of range"):
        ground_truth_transform(s.x, s.params, 2, "shape")
    with pytest.raises(ConfigError, match="parameters for 4"):
        ground_truth_transform(s.x[:2], s.params, 1, "shape")
    assert math.isclose(float(s.params["noise"][0]), 0.0)
