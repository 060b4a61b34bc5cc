"""Image loading: every pixel format we promise, resizing, built-in photos and bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from steerlens.data.images import (
    builtin_images,
    load_builtin,
    load_image,
    save_image,
    to_tensor,
)
from steerlens.errors import ImageError


def test_grayscale_png_to_rgb_and_gray(tmp_path):
    a = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (48, 1))  # 48x64 horizontal ramp
    p = tmp_path / "gray.png"
    Image.fromarray(a).save(p)
    x3 = load_image(p, channels=3)
    x1 = load_image(p, channels=1)
    assert x3.shape == (1, 3, 48, 64) and x1.shape == (1, 1, 48, 64)
    assert x3.dtype == torch.float32
    np.testing.assert_allclose(x1[0, 0].numpy(), a / 255.0, atol=1e-6)
    assert torch.equal(x3[:, 0], x3[:, 2]) and torch.equal(x3[:, :1], x1)


def test_rgba_is_composited_on_white(tmp_path):
    a = np.zeros((10, 12, 4), np.uint8)
    a[..., 0] = 255  # pure red...
    a[:, :6, 3] = 255  # ...opaque on the left
    a[:, 6:, 3] = 0  # fully transparent on the right
    a[0, 0, 3] = 128  # one half-transparent pixel
    p = tmp_path / "rgba.png"
    Image.fromarray(a, "RGBA").save(p)
    x = load_image(p)[0]
    np.testing.assert_allclose(x[:, 5, 2].numpy(), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(x[:, 5, 8].numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(x[:, 0, 0].numpy(), [1.0, 127 / 255, 127 / 255], atol=1e-6)


def test_palette_image(tmp_path):
    img = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), "P")
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    p = tmp_path / "pal.png"
    img.save(p)
    x = load_image(p)[0]
    np.testing.assert_allclose(x[:, 0, 0].numpy(), [1, 0, 0])
    np.testing.assert_allclose(x[:, 0, 1].numpy(), [0, 0, 1])


def test_16bit_png_keeps_precision(tmp_path):
    a = (np.arange(32 * 40).reshape(32, 40) * 51).astype(np.uint16)  # up to 65229
    p = tmp_path / "deep.png"
    Image.fromarray(a).save(p)
    assert Image.open(p).mode == "I;16"
    x = load_image(p, channels=1)[0, 0].numpy()
    np.testing.assert_allclose(x, a / 65535.0, atol=1e-6)
    assert len(np.unique(x)) == a.size  # far more than 256 levels survive


def test_jpeg_resize_and_centre_crop(tmp_path):
    from skimage import data

    a = np.asarray(data.coffee())  # 400x600
    p = tmp_path / "coffee.jpg"
    Image.fromarray(a).save(p, quality=95)
    x = load_image(p, size=(100, 100))
    assert x.shape == (1, 3, 100, 100)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    # Reference: Pillow bicubic resize of the shorter side to 100, then a centre crop.
    ref = (
        Image.open(p)
        .convert("RGB")
        .resize((150, 100), Image.Resampling.BICUBIC)
        .crop((25, 0, 125, 100))
    )
    ref = np.asarray(ref, np.float32).transpose(2, 0, 1) / 255.0
    # Pillow's 8-bit path rounds between its two passes; ours stays in float.
    diff = np.abs(x[0].numpy() - ref)
    assert diff.mean() < 0.002 and diff.max() < 0.02
    # Non-square targets cover the output too.
    assert load_image(p, size=(50, 120)).shape == (1, 3, 50, 120)


def test_to_tensor_layouts_and_dtypes():
    hwc = np.full((4, 5, 3), 255, np.uint8)
    assert to_tensor(hwc).shape == (1, 3, 4, 5) and float(to_tensor(hwc).min()) == 1.0
    chw = np.zeros((3, 4, 5), np.float32)
    assert to_tensor(chw).shape == (1, 3, 4, 5)
    assert float(to_tensor(np.full((2, 2), 65535, np.uint16)).max()) == 1.0
    assert to_tensor(Image.new("L", (7, 3), 128), channels=3).shape == (1, 3, 3, 7)
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        to_tensor(np.full((4, 4), 2.0))


def test_save_then_load_round_trip(tmp_path):
    x = torch.rand(1, 3, 16, 24)
    p = save_image(x, tmp_path / "sub" / "x.png")
    y = load_image(p)
    assert (y - x).abs().max() <= 0.5 / 255 + 1e-6


def test_builtin_photos_offline():
    names = builtin_images()
    assert {"chelsea", "coffee", "astronaut", "rocket", "grace_hopper"} <= set(names)
    cat = load_builtin("chelsea", size=(224, 224))
    hopper = load_builtin("grace_hopper", size=(64, 64), channels=1)
    assert cat.shape == (1, 3, 224, 224) and hopper.shape == (1, 1, 64, 64)
    assert 0.3 < float(cat.mean()) < 0.7
    assert torch.equal(load_image("builtin:chelsea", size=(224, 224)), cat)
    with pytest.raises(ImageError, match="did you mean 'chelsea'"):
        load_builtin("chelsey")


# ----------------------------------------------------------------------------- bad files
def _one_line_error(path, needle, **kw):
    with pytest.raises(ImageError) as info:
        load_image(path, **kw)
    msg = str(info.value)
    assert "\n" not in msg and needle in msg and str(path) in msg
    return msg


def test_missing_file(tmp_path):
    _one_line_error(tmp_path / "nope.png", "does not exist")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    _one_line_error(p, "empty")


def test_directory(tmp_path):
    _one_line_error(tmp_path, "directory")


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xd8\xff\xe0 this is not really a jpeg" * 10, b"hello, I am a text file\n"],
)
def test_corrupt_or_not_an_image(tmp_path, payload):
    p = tmp_path / "bad.jpg"
    p.write_bytes(payload)
    assert "re-save it as PNG or JPEG" in _one_line_error(p, "cannot read")


def test_truncated_png(tmp_path):
    p = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(p)
    p.write_bytes(p.read_bytes()[:400])
    _one_line_error(p, "cannot read")


def test_too_small_for_min_size(tmp_path):
    p = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(p)
    msg = _one_line_error(p, "too small", size=(28, 28), min_size=8)
    assert "6x4 px" in msg and "at least 8 px" in msg
    assert load_image(p, size=(28, 28), min_size=4).shape == (1, 3, 28, 28)
