"""What a new user meets first (issue 15, item 5): the version, the README's example files, the
help text, warnings for images far from a model's domain, a persistent run that stops with its
budget unspent, overshoot in compare.md, and errors that name the model once."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from steerlens.cli import main


def test_version(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("steerlens 0.1.0 (torch ") and out.count("\n") == 1


def test_samples_writes_the_readme_files_from_installed_packages(tmp_path, capsys):
    assert main(["samples", str(tmp_path)]) == 0
    with Image.open(tmp_path / "cat.jpg") as cat, Image.open(tmp_path / "digit.png") as digit:
        assert cat.size == (451, 300) and digit.size == (28, 28) and digit.mode == "L"
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == [
        "astronaut.jpg", "cat.jpg", "coffee.jpg", "rocket.jpg"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder


def test_help_shows_the_extra_to_install(capsys):
    assert main(["morph", "--help"]) == 0
    assert "pip install 'steerlens[video]'" in " ".join(capsys.readouterr().out.split())


def test_a_colour_photo_into_the_digit_model_is_warned_about(tmp_path, mnist_model):
    from skimage import data

    import steerlens

    photo = tmp_path / "cat.jpg"
    Image.fromarray(data.chelsea()).save(photo)
    with pytest.warns(UserWarning, match=r"451x300 colour image is shrunk 10\.7x to 28x28 and "
                                         r"made grey; it is far from the images"):
        steerlens.load_image(photo, size=28, channels=1)
    digit = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(digit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        steerlens.load_image(digit, size=28, channels=1)  # a digit-like image: no warning


def test_persistent_run_that_runs_out_of_steps_says_what_to_raise(mnist_model, mnist_split):
    import steerlens

    x = mnist_split.x_test[:1]
    cfg = steerlens.MorphConfig(regime="persistent", l2_budget=9.0, max_steps=20)
    res = steerlens.morph_batch(mnist_model, x, [8], cfg)[0]
    assert not res.reached and res.final.l2 < 9.0
    assert res.settings["persistent_steps_taken"] == 20
    assert res.stop_reason.startswith("not reached: L2 >= 9 after 20 steps of 0.5 (L2 ")
    assert res.stop_reason.endswith("raise max_steps or step_size to spend it")
    more = steerlens.morph_batch(mnist_model, x, [8], cfg.__class__(
        regime="persistent", l2_budget=9.0, max_steps=60))[0]
    assert more.final.l2 > res.final.l2  # more steps spend more of the budget
    assert "summed step size 10" in res.summary()  # not an "amplification" in this regime


def test_compare_table_flags_a_peak_that_fell_back(mnist_model, mnist_split):
    import steerlens
    from steerlens.render.filmstrip import comparison_markdown

    x = mnist_split.x_test[:1]
    res = steerlens.morph_batch(mnist_model, x, [8], steerlens.MorphConfig(
        amplification=[0, 0.5, 1, 2, 4, 8, 16, 32, 64]))[0]
    p = [s.p_target for s in res.scores]
    assert max(p) - p[-1] > 0.05, p  # this explicit schedule rises, then falls back
    md = comparison_markdown({"csp-phase": res})
    assert "Stopped at or after an overshoot (p_target peaked, then fell): csp-phase." in md
    assert f"final {p[-1]:.3f}" in md


def test_an_unnamed_model_is_called_the_model():
    from steerlens.errors import ModelError
    from steerlens.models.base import Classifier

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    clf = Classifier(Broken(), ["a", "b"], (8, 8), 1)
    with pytest.raises(ModelError, match=r"^the model raised RuntimeError"):
        clf(torch.zeros(1, 1, 8, 8))
