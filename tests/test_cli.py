"""End-to-end CLI runs on real images and models, and one test per bad-input case.

Each command runs in-process through ``steerlens.cli.main`` (the console script's entry point).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from steerlens.cli import main

PROMISED = {"morph.gif", "filmstrip.png", "curves.png", "frames.npz", "result.json"}


@pytest.fixture()
def digit_png(tmp_path, mnist_split):
    p = tmp_path / "digit3.png"
    idx = int((mnist_split.y_test == 3).nonzero()[0, 0])
    Image.fromarray((mnist_split.x_test[idx, 0].numpy() * 255).astype(np.uint8)).save(p)
    return p


def _run(capsys, *args):
    code = main([str(a) for a in args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_morph_mnist_writes_every_file(tmp_path, digit_png, mnist_model, capsys):
    out = tmp_path / "out"
    code, _stdout, err = _run(capsys, "morph", digit_png, "--model", "mnist-cnn", "--target", "8",
                             "--frames", "5", "--out", out, "--quiet")
    assert code == 0, err
    assert PROMISED <= {p.name for p in out.iterdir()}
    man = json.loads((out / "result.json").read_text())
    assert man["target"] == 8 and len(man["frames"]) == 5
    assert man["frames"][-1]["p_target"] > man["frames"][0]["p_target"]
    assert man["model"]["weights_sha256"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".steerlens-")]


def test_morph_persistent_regime_on_a_budget(tmp_path, digit_png, mnist_model, capsys):
    out = tmp_path / "out"
    code, _, err = _run(capsys, "morph", digit_png, "--model", "mnist-cnn", "--target", "8",
                        "--regime", "persistent", "--budget", "1.5", "--frames", "4", "--out", out,
                        "--quiet")
    assert code == 0, err
    man = json.loads((out / "result.json").read_text())
    assert man["regime"] == "persistent" and len(man["frames"]) <= 4
    assert man["frames"][-1]["l2"] == pytest.approx(1.5, rel=0.01)
    assert man["frames"][-1]["p_target"] > man["frames"][0]["p_target"]


@pytest.mark.slow
def test_morph_lite0_on_unseen_photo(tmp_path, photo_path, lite0, capsys):
    out = tmp_path / "coffee"
    code, _, err = _run(capsys, "morph", photo_path, "--model", "efficientnet-lite0",
                        "--target", "cup", "--frames", "4", "--out", out, "--quiet")
    assert code == 0, err
    man = json.loads((out / "result.json").read_text())
    assert man["frames"][-1]["p_target"] > man["frames"][0]["p_target"]
    assert PROMISED <= {p.name for p in out.iterdir()}


def test_compare_writes_filmstrip_and_table(tmp_path, digit_png, mnist_model, capsys):
    out = tmp_path / "cmp"
    code, _, err = _run(capsys, "compare", digit_png, "-m", "mnist-cnn", "-t", "8",
                        "--methods", "pixel,csp-phase,fourier-phase", "--frames", "4", "-o", out, "-q")
    assert code == 0, err
    assert {"compare.png", "compare.md", "compare.json", "pixel", "csp-phase"} <= {p.name for p in out.iterdir()}
    data = json.loads((out / "compare.json").read_text())
    l2 = [m["frames"][-1]["l2"] for m in data.values()]
    assert max(l2) - min(l2) <= 0.02 * max(l2)


def test_models_lists_builtins(capsys):
    code, out, _ = _run(capsys, "models")
    assert code == 0 and "efficientnet-lite0" in out and "mnist-cnn" in out


# ----------------------------------------------------------------------------- bad input
def _assert_clean_error(code, err, out_dir, needle):
    assert code == 2
    lines = [l for l in err.strip().splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and needle.lower() in lines[0].lower(), err
    assert "Traceback" not in err
    assert not out_dir.exists()


def test_missing_image(tmp_path, capsys):
    out = tmp_path / "o"
    code, _, err = _run(capsys, "morph", tmp_path / "nope.png", "-m", "mnist-cnn", "-t", "8", "-o", out)
    _assert_clean_error(code, err, out, "does not exist")


def test_empty_image(tmp_path, mnist_model, capsys):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    out = tmp_path / "o"
    code, _, err = _run(capsys, "morph", p, "-m", "mnist-cnn", "-t", "8", "-o", out)
    _assert_clean_error(code, err, out, "empty")


def test_corrupt_image(tmp_path, mnist_model, capsys):
    p = tmp_path / "bad.jpg"
    p.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 10)
    out = tmp_path / "o"
    code, _, err = _run(capsys, "morph", p, "-m", "mnist-cnn", "-t", "8", "-o", out)
    _assert_clean_error(code, err, out, "image")


def test_image_too_small_for_pyramid(tmp_path, capsys):
    import torch

    from steerlens.errors import ConfigError
    from steerlens.transforms import make_transform

    with pytest.raises(ConfigError, match="too small"):
        make_transform("csp", scales=3).analyze(torch.rand(1, 1, 6, 6))
    p = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(p)
    out = tmp_path / "o"
    code, _, err = _run(capsys, "morph", p, "-m", "mnist-cnn", "-t", "8", "-o", out)
    _assert_clean_error(code, err, out, "small")


def test_unknown_model_suggests(tmp_path, digit_png, capsys):
    out = tmp_path / "o"
    code, _, err = _run(capsys, "morph", digit_png, "-m", "mnist-cn", "-t", "8", "-o", out)
    _assert_clean_error(code, err, out, "mnist-cnn")


def test_unknown_class_name_suggests(tmp_path, digit_png, mnist_model, capsys):
    out = tmp_path / "o"
    code, _, err = _run(capsys, "morph", digit_png, "-m", "mnist-cnn", "-t", "eigth", "-o", out)
    _assert_clean_error(code, err, out, "8")


def test_weights_that_do_not_match(tmp_path, digit_png, capsys):
    import torch

    mod = tmp_path / "mymodel.py"
    mod.write_text(
        "import torch\n"
        "def build():\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(224*224*3, 10))\n"
    )
    w = tmp_path / "w.pt"
    torch.save({"something_else.weight": torch.zeros(3)}, w)
    out = tmp_path / "o"
    code, _, err = _run(capsys, "morph", digit_png, "-m", f"{mod}:build", "--weights", w, "-t", "1", "-o", out)
    _assert_clean_error(code, err, out, "weights")


def test_model_output_not_logits(tmp_path, digit_png, capsys):
    import torch

    class Bad(torch.nn.Module):
        def forward(self, x):
            return x  # (N, C, H, W), not (N, classes)

    p = tmp_path / "bad.pt"
    torch.jit.script(Bad()).save(str(p))
    out = tmp_path / "o"
    code, _, err = _run(capsys, "morph", digit_png, "-m", p, "-t", "1", "-o", out)
    _assert_clean_error(code, err, out, "output")


def test_model_output_not_finite(tmp_path, digit_png, capsys):
    import torch

    class NaNs(torch.nn.Module):
        def forward(self, x):
            return torch.full((x.shape[0], 10), float("nan"))

    p = tmp_path / "nan.pt"
    torch.jit.script(NaNs()).save(str(p))
    out = tmp_path / "o"
    code, _, err = _run(capsys, "morph", digit_png, "-m", p, "-t", "1", "-o", out)
    _assert_clean_error(code, err, out, "finite")


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--frames", "1"], "frames"),
        (["--budget", "-1"], "budget"),
        (["--method", "csp-phaze"], "csp-phase"),
        (["--amplification", "1,x"], "amplification"),
        (["--regime", "sometimes"], "regime"),
        (["--frames", "abc"], "frames"),
        (["--no-such-flag"], "no-such-flag"),
    ],
)
def test_invalid_flags(tmp_path, digit_png, flags, needle, capsys):
    out = tmp_path / "o"
    code, _, err = _run(capsys, "morph", digit_png, "-m", "mnist-cnn", "-t", "8", "-o", out, *flags)
    _assert_clean_error(code, err, out, needle)


def test_target_equal_to_top1_is_allowed_with_warning(tmp_path, digit_png, mnist_model, capsys):
    out = tmp_path / "o"
    code, _, err = _run(capsys, "morph", digit_png, "-m", "mnist-cnn", "-t", "3", "--frames", "3",
                        "--amplification", "0,0.1,0.2", "-o", out, "-q")
    assert code == 0
    assert "warning" in err.lower() and "top-1" in err
    assert (out / "result.json").exists()


def test_user_module_factory_with_options(tmp_path, digit_png, capsys):
    """A user's own model (module:factory + weights) at its own input size, channels and names."""
    import torch

    mod = tmp_path / "tinynet.py"
    mod.write_text(
        "import torch\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),\n"
        "                               torch.nn.Flatten(), torch.nn.Linear(4 * 32 * 32, 3))\n"
    )
    import importlib.util

    spec = importlib.util.spec_from_file_location("tinynet", mod)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    w = tmp_path / "w.pt"
    torch.save(m.build().state_dict(), w)
    names = tmp_path / "names.txt"
    names.write_text("round\nstraight\ncurly\n")
    out = tmp_path / "o"
    code, _, err = _run(capsys, "morph", digit_png, "-m", f"{mod}:build", "--weights", w,
                        "--input-size", "32", "--channels", "1", "--class-names", names,
                        "-t", "Curly", "--frames", "3", "-o", out, "-q")
    assert code == 0, err
    man = json.loads((out / "result.json").read_text())
    assert man["target_name"] == "curly" and man["image_shape"] == [1, 32, 32]
    assert man["frames"][-1]["p_target"] > man["frames"][0]["p_target"]
