"""MP4 output (H.264, yuv420p, even sizes) of real MNIST morphs, decoded back with PyAV.

Playback in Chromium is checked in ``test_web_browser.py`` (the app's MP4 download).
"""

from __future__ import annotations

import numpy as np
import pytest

av = pytest.importorskip("av")

from steerlens.render.video import save_compare_mp4, save_mp4, write_mp4


@pytest.fixture(scope="module")
def mnist_morphs():
    import steerlens
    from steerlens.demo import demo_image

    model = steerlens.load_model("mnist-cnn", progress=False)
    x = demo_image("mnist:3", model)
    return steerlens.compare(model, x, "8", methods=["pixel", "csp-phase"], frames=5)


def _decode(path) -> tuple[dict, np.ndarray]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        info = {"codec": s.codec_context.name, "pix_fmt": s.codec_context.pix_fmt,
                "width": s.width, "height": s.height, "fps": float(s.average_rate)}
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(s)])
    return info, frames


def test_save_mp4_is_h264_yuv420p_and_matches_the_frames(mnist_morphs, tmp_path):
    res = mnist_morphs["pixel"]
    path = save_mp4(res, tmp_path / "morph.mp4", fps=5)
    info, frames = _decode(path)
    assert info == {"codec": "h264", "pix_fmt": "yuv420p", "width": 252, "height": 252, "fps": 5.0}
    assert frames.shape == (5, 252, 252, 3)
    # frame k of the video is frame k of the morph, upscaled x9 (H.264 at crf 18: small error)
    want = np.rint(res.frames[:, 0].numpy() * 255)
    got = frames[:, 4::9, 4::9, :].astype(np.float64).mean(axis=3)
    assert np.abs(got - want).mean() < 4.0
    assert np.abs(got[-1] - want[0]).mean() > np.abs(got[-1] - want[-1]).mean()


def test_odd_sizes_are_padded_to_even(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 31, 45, 3), dtype=np.uint8)
    info, out = _decode(write_mp4(frames, tmp_path / "odd.mp4"))
    assert (info["width"], info["height"]) == (46, 32) and out.shape[0] == 3


def test_compare_mp4_puts_methods_side_by_side(mnist_morphs, tmp_path):
    info, frames = _decode(save_compare_mp4(mnist_morphs, tmp_path / "compare.mp4"))
    assert (info["width"], info["height"]) == (2 * 252 + 4, 252)
    assert frames.shape[0] == 5
    gap = frames[:, :, 253:255].astype(np.float64)
    assert gap.mean() > 240  # white separator between the methods
    left, right = frames[-1, :, :252].astype(float), frames[-1, :, 256:].astype(float)
    assert np.abs(left - right).mean() > 1.0  # two different morphs, not one copied


def test_bad_frames_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\(K, H, W, 3\)"):
        write_mp4(np.zeros((2, 8, 8), np.uint8), tmp_path / "x.mp4")
