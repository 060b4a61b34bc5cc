"""Renderers: every artefact of a real MorphResult is written, readable and atomic."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence
from skimage import data
from skimage.transform import resize

from steerlens.render import (
    compare_filmstrip,
    comparison_markdown,
    comparison_table,
    filmstrip,
    gallery_html,
    plot_curves,
    save_result,
)
from steerlens.render import save as save_mod
from steerlens.render.filmstrip import nearest_indices, to_uint8, upscale_factor
from steerlens.result import FrameScore, MorphResult, Overshoot

ARTEFACT_NAMES = {"morph.gif", "filmstrip.png", "curves.png", "frames.npz", "result.json"}


def make_result(k: int = 6, size: int = 32, rgb: bool = True, method: str = "pixel",
                overshoot: bool = False) -> MorphResult:
    """A morph of a real photo: the image slides right and cross-fades into its mirror."""
    img = data.astronaut() if rgb else data.camera()
    img = resize(img, (size, size), anti_aliasing=True).astype(np.float32)
    if img.ndim == 2:
        img = img[..., None]
    src = torch.from_numpy(img).permute(2, 0, 1)
    amps = np.linspace(0.0, 2.0, k)
    frames = []
    for a in amps:
        t = a / amps[-1]
        moved = torch.roll(src, shifts=round(3 * t), dims=2)
        frames.append(((1 - t) * moved + t * src.flip(2)).clamp(0, 1))
    x = torch.stack(frames)
    p_t = 0.02 + 0.9 * (amps / amps[-1]) ** 2
    scores = []
    for i, a in enumerate(amps):
        l2 = float(torch.linalg.vector_norm(x[i] - src))
        hit = p_t[i] > 0.5
        scores.append(FrameScore(float(a), float(p_t[i]), float(1 - p_t[i]), 7 if hit else 3,
                                 "seven" if hit else "three", l2))
    over = Overshoot(1.2, 0.8, "p_target >= 0.9", "peaked at 0.8") if overshoot else None
    return MorphResult(frames=x, source=src, amplifications=[float(a) for a in amps], scores=scores,
                       target=7, target_name="seven", source_class=3, source_name="three",
                       method=method, overshoot=over, settings={"seed": 0})


def no_temp_left(parent) -> bool:
    return not [p for p in parent.iterdir() if p.name.startswith(".steerlens-")]


@pytest.mark.parametrize("rgb", [True, False], ids=["rgb", "gray"])
def test_save_result_writes_every_artefact(tmp_path, rgb):
    k, size = 6, 28
    res = make_result(k=k, size=size, rgb=rgb)
    out = tmp_path / "nested" / "morph"
    paths = save_result(res, out)
    assert {p.name for p in paths.values()} == ARTEFACT_NAMES
    assert all(p.parent == out and p.stat().st_size > 0 for p in paths.values())
    assert no_temp_left(out.parent)

    with Image.open(paths["gif"]) as gif:
        assert gif.n_frames == k
        assert min(gif.size) >= 192
        assert gif.info["loop"] == 0
        durations = [fr.info["duration"] for fr in ImageSequence.Iterator(gif)]
    assert durations[0] == 200 and durations[-1] > durations[0]

    # First GIF frame: the source upscaled x7 (nearest) on top, caption band below.
    with Image.open(paths["gif"]) as gif:
        first = np.asarray(gif.convert("RGB")).astype(int)
    u8 = to_uint8(res.to_numpy())
    big = np.repeat(np.repeat(u8[0], 7, 0), 7, 1).astype(int)
    big = np.repeat(big, 3, 2) if big.shape[2] == 1 else big
    assert first.shape[1] == 7 * size and first.shape[0] > 7 * size
    err = np.abs(first[: 7 * size] - big).mean()
    assert err < (0.5 if not rgb else 6.0), err  # gray is exact; RGB goes through a 256-colour palette

    npz = np.load(paths["frames"])
    assert npz["frames_uint8"].dtype == np.uint8 and npz["frames_float32"].dtype == np.float32
    assert npz["frames_uint8"].shape == (k, size, size, 3 if rgb else 1)
    assert np.abs(npz["frames_uint8"] / 255.0 - res.to_numpy()).max() <= 0.5 / 255 + 1e-6
    np.testing.assert_array_equal(npz["frames_float32"], res.to_numpy())
    np.testing.assert_allclose(npz["amplifications"], res.amplifications)
    np.testing.assert_allclose(npz["p_target"], res.p_target)
    np.testing.assert_allclose(npz["l2"], res.l2)
    np.testing.assert_allclose(npz["p_source"], [s.p_source for s in res.scores])

    man = json.loads(paths["manifest"].read_text())
    assert man["amplifications"] == pytest.approx(res.amplifications)
    assert [f["p_target"] for f in man["frames"]] == pytest.approx(list(res.p_target))
    assert man["image_shape"] == [3 if rgb else 1, size, size]


def test_gif_overlay_adds_a_caption_band(tmp_path):
    res = make_result(k=4, size=32)
    with_o = save_result(res, tmp_path / "a", overlay=True)["gif"]
    without = save_result(res, tmp_path / "b", overlay=False)["gif"]
    with Image.open(with_o) as a, Image.open(without) as b:
        assert b.size == (192, 192)  # 32 * 6
        assert a.size[0] == 192 and a.size[1] > 192 + 15
        assert a.n_frames == b.n_frames == 4
        band = np.asarray(a.convert("L"))[192:]
    assert band.max() > 200  # white caption text on the black band


def test_filmstrip_width_grows_with_frames(tmp_path):
    sizes = {}
    for k in (3, 6):
        with Image.open(filmstrip(make_result(k=k), tmp_path / f"f{k}.png")) as im:
            sizes[k] = im.size
    tile = 32 * 4 + 4  # 32 px upscaled x4 to 128, plus the gap
    assert sizes[6][0] - sizes[3][0] == 3 * tile
    assert sizes[6][1] == sizes[3][1]


def test_nan_frames_raise_before_writing(tmp_path):
    res = make_result(k=4)
    res.frames[2, 0, 5, 5] = float("nan")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="NaN"):
        save_result(res, out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_failing_writer_leaves_nothing_behind(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(save_mod, "plot_curves", boom)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"):
        save_result(make_result(k=4), out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []

    # An existing output directory keeps its old content when a save fails.
    out.mkdir()
    (out / "morph.gif").write_bytes(b"old")
    with pytest.raises(RuntimeError):
        save_result(make_result(k=4), out)
    assert (out / "morph.gif").read_bytes() == b"old"
    assert sorted(p.name for p in out.iterdir()) == ["morph.gif"]
    assert no_temp_left(tmp_path)


def test_existing_dir_keeps_foreign_files_and_replaces_ours(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "morph.gif").write_bytes(b"old")
    res = make_result(k=5)
    res.save(out)  # MorphResult.save goes through save_result
    assert (out / "notes.txt").read_text() == "mine"
    with Image.open(out / "morph.gif") as gif:
        assert gif.n_frames == 5
    assert {p.name for p in out.iterdir()} == ARTEFACT_NAMES | {"notes.txt"}
    assert no_temp_left(tmp_path)


def test_curves_mark_the_overshoot(tmp_path):
    red = np.array([214, 39, 40])  # matplotlib's tab:red, used only for the overshoot marks

    def red_pixels(path):
        arr = np.asarray(Image.open(path).convert("RGB")).astype(int)
        return int((np.abs(arr - red).sum(axis=2) < 10).sum())

    plain = plot_curves(make_result(k=6), tmp_path / "plain.png")
    marked = plot_curves(make_result(k=6, overshoot=True), tmp_path / "marked.png")
    assert red_pixels(plain) == 0
    assert red_pixels(marked) > 50


def test_compare_filmstrip_one_row_per_method(tmp_path):
    methods = ["pixel", "csp-phase", "fourier-phase"]
    heights, widths = [], []
    for n in (1, 2, 3):
        results = {m: make_result(k=5, method=m) for m in methods[:n]}
        with Image.open(compare_filmstrip(results, tmp_path / f"c{n}.png", title="3 -> 7")) as im:
            heights.append(im.size[1])
            widths.append(im.size[0])
    row = heights[1] - heights[0]
    assert row > 96 and heights[2] - heights[1] == row
    assert len(set(widths)) == 1

    # Different frame counts are resampled to the same number of columns.
    mixed = [make_result(k=5, method="pixel"), make_result(k=3, method="pixel")]
    with Image.open(compare_filmstrip(mixed, tmp_path / "mixed.png", title="3 -> 7")) as im:
        assert im.size == (widths[1], heights[1])


def test_comparison_table_rows():
    results = {"pixel": make_result(k=4), "csp-phase": make_result(k=4, overshoot=True)}
    lines = comparison_table(results).splitlines()
    assert len(lines) == 2 + 2
    assert lines[0].startswith("| method | final L2 |")
    pix = lines[2].split(" | ")
    assert pix[0] == "| pixel" and float(pix[1]) == pytest.approx(results["pixel"].final.l2, abs=1e-3)
    assert pix[2] == "no"  # make_result's results carry reached=False
    assert pix[3] == "0.020 -> 0.920" and pix[4] == "seven" and pix[5] == "yes"
    assert "peak p 0.800 at amp 1.2" in lines[3]


def test_comparison_markdown_states_the_budget_and_flags_misses():
    results = {"pixel": make_result(k=4).replace(reached=True),
               "csp-phase": make_result(k=4, overshoot=True)}
    results = {m: r.with_settings(matched_l2_budget=2.0, budget_source="given with --budget")
               for m, r in results.items()}
    lines = comparison_markdown(results).split("\n\n")
    assert lines[0] == "Shared budget: pixel L2 = 2.000, given with --budget."
    assert lines[1] == "Did not reach the budget: csp-phase (their final L2 is below it)."
    assert lines[2].startswith("Stopped at or after an overshoot") and "csp-phase" in lines[2]


def test_gallery_html(tmp_path):
    save_result(make_result(k=3), tmp_path / "a&b")
    index = gallery_html([("a&b: pixel <morph>", tmp_path / "a&b" / "morph.gif")],
                         tmp_path / "index.html")
    text = index.read_text()
    assert 'src="a&amp;b/morph.gif"' in text
    assert "<b>a&amp;b</b>: pixel &lt;morph&gt;" in text


def test_pixel_helpers():
    assert to_uint8(np.array([0.0, 0.4 / 255, 0.499, 1.2, -1.0])).tolist() == [0, 0, 127, 255, 0]
    assert upscale_factor(28, 28, 192) == 7 and upscale_factor(300, 200, 192) == 1
    assert upscale_factor(4, 4000, 192) == 1  # capped: the long side would explode
    assert nearest_indices(5, 3) == [0, 2, 4] and nearest_indices(3, 5) == [0, 0, 1, 2, 2]
