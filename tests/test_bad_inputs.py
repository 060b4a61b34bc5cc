"""The bad-input suite: every way a user can get a command or an API call wrong.

Each CLI case runs through ``steerlens.cli.main`` (the console script's entry point) and must end
with exit code 2, exactly one line on stderr that starts with ``error:`` and names the problem, no
traceback, no output folder and no temporary folder left beside it. Each API case must raise the
right :class:`~steerlens.errors.SteerlensError` subclass with a one-line message. The signal cases
run the real console script in a subprocess.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import steerlens
from steerlens.cli import main
from steerlens.errors import ConfigError, ImageError, ModelError, TargetError

STEERLENS = Path(sys.executable).with_name("steerlens")


# ----------------------------------------------------------------------------- user models
class OneRow(torch.nn.Module):
    """Returns one row of logits whatever the batch."""

    def forward(self, x):
        return x.mean(dim=(1, 2, 3)).sum().reshape(1, 1).repeat(1, 10)


class RaisesOnBatches(torch.nn.Module):
    """Fine on one image (so it loads), raises on batches, as some user code does."""

    def forward(self, x):
        if x.shape[0] > 1:
            raise RuntimeError("batch too large for this model")
        return x.flatten(1)[:, :10] * 2.0


class NaNGradient(torch.nn.Module):
    """Finite logits, NaN input gradient (sqrt at 0)."""

    def forward(self, x):
        z = torch.sqrt(x - x)
        return z.flatten(1)[:, :10] + x.flatten(1)[:, :10]


class NotDifferentiable(torch.nn.Module):
    """Logits computed from a detached input: no gradient reaches the image."""

    def forward(self, x):
        return x.detach().flatten(1)[:, :10] * 3.0


class ThreeD(torch.nn.Module):
    def forward(self, x):
        return x[:, 0, :10, :10]


class Infinite(torch.nn.Module):
    def forward(self, x):
        return torch.full((x.shape[0], 10), float("inf"))


class Payload:
    """A pickle that would create a marker file if anything ever unpickled it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def files(tmp_path_factory, mnist_split):
    """Every bad (and one good) input file, made once for the module."""
    d = tmp_path_factory.mktemp("inputs")
    f = {}
    digit = (mnist_split.x_test[0, 0].numpy() * 255).astype(np.uint8)
    f["digit"] = d / "digit.png"
    Image.fromarray(digit).save(f["digit"])
    f["empty"] = d / "empty.png"
    f["empty"].write_bytes(b"")
    f["text"] = d / "notes.png"
    f["text"].write_text("this is not an image\n")
    f["truncated"] = d / "truncated.png"
    f["truncated"].write_bytes(f["digit"].read_bytes()[:60])
    f["tiny"] = d / "tiny.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(f["tiny"])
    f["fifo"] = d / "pipe.png"
    os.mkfifo(f["fifo"])
    f["bomb1"] = d / "bomb-1bit.png"  # 18 kB on disk, 144 megapixels
    Image.new("1", (12000, 12000)).save(f["bomb1"])
    f["bomb_rgb"] = d / "bomb-rgb.png"  # 0.5 MB on disk, 169 megapixels, 5.4 GB as floats
    Image.new("RGB", (13000, 13000)).save(f["bomb_rgb"])
    f["file"] = d / "a-file"
    f["file"].write_text("x")
    f["garbage_model"] = d / "garbage.pt"
    f["garbage_model"].write_bytes(os.urandom(256))
    f["marker"] = d / "PWNED"
    f["pickle_model"] = d / "evil.pt"
    f["pickle_model"].write_bytes(pickle.dumps(Payload(f["marker"])))
    f["pickle_weights"] = d / "evil-weights.pt"
    torch.save({"x": Payload(f["marker"])}, f["pickle_weights"])
    for name, cls in [("one_row", OneRow), ("raises", RaisesOnBatches), ("nan_grad", NaNGradient),
                      ("no_grad", NotDifferentiable), ("three_d", ThreeD), ("inf", Infinite)]:
        f[name] = d / f"{name}.pt"
        torch.jit.script(cls()).save(str(f[name]))
    f["module"] = d / "mynets.py"
    f["module"].write_text(
        "import torch\n"
        "def build():\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))\n"
    )
    return f


def _image(f, key):
    return str(f[key]) if key in f else key


# each case: (id, argv template, needle in the message). "{x}" placeholders name entries of
# `files`; "{out}" is the output folder that must not appear.
M = ["morph", "{digit}", "-m", "mnist-cnn", "-t", "8", "-o", "{out}", "-q"]
CLI_CASES = [
    # flags
    ("frames-1", M + ["--frames", "1"], "--frames"),
    ("frames-0", M + ["--frames", "0"], "--frames"),
    ("frames-huge", M + ["--frames", "100000"], "--max-frames"),
    ("frames-text", M + ["--frames", "abc"], "frames"),
    ("amp-nan", M + ["--amplification", "nan"], "finite"),
    ("amp-inf", M + ["--amplification", "inf"], "finite"),
    ("amp-0-inf", M + ["--amplification", "0,inf"], "finite"),
    ("amp-empty-field", M + ["--amplification", "1,,2"], "empty field"),
    ("amp-trailing-comma", M + ["--amplification", "0,1,"], "empty field"),
    ("amp-negative", M + ["--amplification", "-1,2"], "non-negative"),
    ("amp-decreasing", M + ["--amplification", "2,1"], "increasing"),
    ("amp-word", M + ["--amplification", "lots"], "amplification"),
    ("budget-nan", M + ["--budget", "nan"], "finite"),
    ("budget-inf", M + ["--budget", "inf"], "finite"),
    ("budget-negative", M + ["--budget", "-1"], "positive"),
    ("budget-zero", M + ["--budget", "0"], "positive"),
    ("goal-above-1", M + ["--goal-p", "1.5"], "--goal-p"),
    ("goal-nan", M + ["--goal-p", "nan"], "finite"),
    ("goal-zero", M + ["--goal-p", "0"], "--goal-p"),
    ("method-typo", M + ["--method", "csp-phaze"], "csp-phase"),
    ("regime-unknown", M + ["--regime", "sometimes"], "--regime"),
    ("normalization-unknown", M + ["--normalization", "max"], "--normalization"),
    ("color-unknown", M + ["--color", "cmyk"], "--color"),
    ("loss-unknown", M + ["--loss", "hinge"], "--loss"),
    ("seed-negative", M + ["--seed", "-1"], "--seed"),
    ("seed-2-70", M + ["--seed", str(2**70)], "--seed"),
    ("device-mps", M + ["--device", "mps"], "MPS"),
    ("device-tpu", M + ["--device", "tpu"], "--device"),
    ("device-cuda", M + ["--device", "cuda"], "CUDA"),
    ("device-cuda-7", M + ["--device", "cuda:7"], "CUDA"),
    ("flag-unknown", M + ["--frobnicate"], "frobnicate"),
    ("target-missing", ["morph", "{digit}", "-m", "mnist-cnn", "-o", "{out}"], "target"),
    # output folder
    ("out-proc", ["morph", "{digit}", "-m", "mnist-cnn", "-t", "8", "-o", "/proc/steerlens-x"],
     "not writable"),
    ("out-under-file", ["morph", "{digit}", "-m", "mnist-cnn", "-t", "8", "-o", "{file}/sub"],
     "is a file"),
    ("out-is-file", ["morph", "{digit}", "-m", "mnist-cnn", "-t", "8", "-o", "{file}"],
     "not a folder"),
    # images
    ("image-missing", ["morph", "nope.png", "-m", "mnist-cnn", "-t", "8", "-o", "{out}"],
     "does not exist"),
    ("image-folder", ["morph", "{dir}", "-m", "mnist-cnn", "-t", "8", "-o", "{out}"], "directory"),
    ("image-empty", ["morph", "{empty}", "-m", "mnist-cnn", "-t", "8", "-o", "{out}"], "empty"),
    ("image-text", ["morph", "{text}", "-m", "mnist-cnn", "-t", "8", "-o", "{out}"],
     "not a recognised image"),
    ("image-truncated", ["morph", "{truncated}", "-m", "mnist-cnn", "-t", "8", "-o", "{out}"],
     "corrupt"),
    ("image-tiny", ["morph", "{tiny}", "-m", "mnist-cnn", "-t", "8", "-o", "{out}"], "too small"),
    ("image-fifo", ["morph", "{fifo}", "-m", "mnist-cnn", "-t", "8", "-o", "{out}"],
     "not a regular file"),
    ("image-dev-null", ["morph", "/dev/null", "-m", "mnist-cnn", "-t", "8", "-o", "{out}"],
     "not a regular file"),
    ("image-bomb-1bit", ["morph", "{bomb1}", "-m", "mnist-cnn", "-t", "8", "-o", "{out}"],
     "megapixels"),
    ("image-bomb-rgb", ["morph", "{bomb_rgb}", "-m", "mnist-cnn", "-t", "8", "-o", "{out}"],
     "megapixels"),
    ("image-over-own-limit", M + ["--max-pixels", "100"], "megapixels"),
    # targets
    ("target-out-of-range", ["morph", "{digit}", "-m", "mnist-cnn", "-t", "10", "-o", "{out}"],
     "out of range"),
    ("target-negative", ["morph", "{digit}", "-m", "mnist-cnn", "-t", "-1", "-o", "{out}"],
     "target"),
    ("target-unknown-name", ["morph", "{digit}", "-m", "mnist-cnn", "-t", "cat", "-o", "{out}"],
     "cat"),
    ("target-empty", ["morph", "{digit}", "-m", "mnist-cnn", "-t", " ", "-o", "{out}"], "empty"),
    # models
    ("model-unknown", ["morph", "{digit}", "-m", "resnet-9000", "-t", "1", "-o", "{out}"],
     "resnet-9000"),
    ("model-garbage-file", ["morph", "{digit}", "-m", "{garbage_model}", "-t", "1", "-o", "{out}"],
     "garbage.pt"),
    ("model-pickle", ["morph", "{digit}", "-m", "{pickle_model}", "-t", "1", "-o", "{out}"],
     "evil.pt"),
    ("model-one-row", ["morph", "{digit}", "-m", "{one_row}", "-t", "1", "-o", "{out}"],
     "one row per image"),
    ("model-raises", ["morph", "{digit}", "-m", "{raises}", "-t", "1", "-o", "{out}"],
     "batch too large"),
    ("model-nan-gradient", ["morph", "{digit}", "-m", "{nan_grad}", "-t", "1", "-o", "{out}"],
     "gradient"),
    ("model-no-gradient", ["morph", "{digit}", "-m", "{no_grad}", "-t", "1", "-o", "{out}"],
     "differentiated"),
    ("model-3d-output", ["morph", "{digit}", "-m", "{three_d}", "-t", "1", "-o", "{out}"],
     "shape"),
    ("model-inf-output", ["morph", "{digit}", "-m", "{inf}", "-t", "1", "-o", "{out}"],
     "not finite"),
    ("model-module-missing", ["morph", "{digit}", "-m", "no_such_pkg.nets:build", "-t", "1",
                              "-o", "{out}"], "no_such_pkg"),
    ("weights-missing", ["morph", "{digit}", "-m", "mynets:build", "--weights", "nope.pt",
                         "-t", "1", "-o", "{out}"], "does not exist"),
    ("weights-pickle", ["morph", "{digit}", "-m", "mynets:build", "--weights", "{pickle_weights}",
                        "--input-size", "28", "--channels", "1", "-t", "1", "-o", "{out}"],
     "weights"),
    ("input-size-huge", ["morph", "{digit}", "-m", "mynets:build", "--input-size", "100000",
                         "-t", "1", "-o", "{out}"], "--input-size"),
    ("input-size-text", ["morph", "{digit}", "-m", "mynets:build", "--input-size", "big",
                         "-t", "1", "-o", "{out}"], "--input-size"),
    ("class-names-missing", ["morph", "{digit}", "-m", "mynets:build", "--class-names",
                             "nope.txt", "-t", "1", "-o", "{out}"], "class-names"),
    # compare, demo, experiment
    ("compare-empty-method", ["compare", "{digit}", "-m", "mnist-cnn", "-t", "8", "-o", "{out}",
                              "--methods", "pixel,,csp-phase"], "empty field"),
    ("compare-unknown-method", ["compare", "{digit}", "-m", "mnist-cnn", "-t", "8", "-o", "{out}",
                                "--methods", "pixel,warp"], "warp"),
    ("compare-duplicate-method", ["compare", "{digit}", "-m", "mnist-cnn", "-t", "8", "-o",
                                  "{out}", "--methods", "pixel,pixel"], "twice"),
    ("compare-budget-nan", ["compare", "{digit}", "-m", "mnist-cnn", "-t", "8", "-o", "{out}",
                            "--budget", "nan"], "finite"),
    ("compare-frames-1", ["compare", "{digit}", "-m", "mnist-cnn", "-t", "8", "-o", "{out}",
                          "--frames", "1"], "--frames"),
    ("compare-fifo", ["compare", "{fifo}", "-m", "mnist-cnn", "-t", "8", "-o", "{out}"],
     "not a regular file"),
    ("demo-out-proc", ["demo", "-o", "/proc/steerlens-demo"], "not writable"),
    ("demo-device-mps", ["demo", "-o", "{out}", "--device", "mps"], "MPS"),
    ("experiment-budget-nan", ["experiment", "mnist", "--out", "{out}", "--budgets", "nan"],
     "finite"),
    ("experiment-budget-inf", ["experiment", "mnist", "--out", "{out}", "--budgets", "1,inf"],
     "finite"),
    ("experiment-unknown", ["experiment", "imagenet-21k", "--out", "{out}"], "imagenet-21k"),
]


def _fill(template: list[str], files: dict, tmp_path: Path) -> list[str]:
    subst = {k: str(v) for k, v in files.items()} | {"out": str(tmp_path / "out"),
                                                    "dir": str(tmp_path)}
    return [t.format(**subst) if "{" in t else t for t in template]


@pytest.mark.parametrize("argv, needle", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input(argv, needle, files, tmp_path, capsys, monkeypatch, mnist_model):
    monkeypatch.chdir(files["module"].parent)  # so `mynets:build` imports and relative paths miss
    monkeypatch.syspath_prepend(str(files["module"].parent))
    before = set(tmp_path.iterdir())
    code = main(_fill(argv, files, tmp_path))
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert needle.lower() in lines[0].lower(), lines[0]
    assert set(tmp_path.iterdir()) == before  # no output folder, no temporary folder
    assert not files["marker"].exists()  # no pickle ever ran


# ----------------------------------------------------------------------------- API cases
@pytest.fixture(scope="module")
def digits(mnist_split):
    return mnist_split.x_test[:2]


def _cfg(**kw):
    return steerlens.MorphConfig(frames=3, **kw)


API_CASES = [
    ("uint8-batch", lambda d, m: steerlens.morph_batch(m, (d * 255).to(torch.uint8), 8, _cfg()),
     ImageError, "x.float() / 255"),
    ("values-0-2", lambda d, m: steerlens.morph_batch(m, d * 2, 8, _cfg()), ImageError, "[0, 1]"),
    ("values-0-255-float", lambda d, m: steerlens.morph_batch(m, d * 255, 8, _cfg()), ImageError,
     "divide 8-bit"),
    ("rgb-for-gray-model", lambda d, m: steerlens.morph_batch(m, d.repeat(1, 3, 1, 1), 8, _cfg()),
     ImageError, "channels"),
    ("three-d", lambda d, m: steerlens.morph_batch(m, d[0], 8, _cfg()), ImageError, "(B, C, H, W)"),
    ("empty", lambda d, m: steerlens.morph_batch(m, d[:0], 8, _cfg()), ImageError, "empty"),
    ("too-small", lambda d, m: steerlens.morph_batch(m, d[:, :, :4, :4], 8, _cfg()), ImageError,
     "at least"),
    ("nan-input", lambda d, m: steerlens.morph_batch(m, d * float("nan"), 8, _cfg()), ImageError,
     "NaN"),
    ("numpy-input", lambda d, m: steerlens.morph_batch(m, d.numpy(), 8, _cfg()), ImageError,
     "torch tensor"),
    ("float-target", lambda d, m: steerlens.morph_batch(m, d, [7.9, 1], _cfg()), TargetError,
     "float"),
    ("float-tensor-target", lambda d, m: steerlens.morph_batch(m, d, torch.tensor([7.0, 1.0]),
                                                               _cfg()), TargetError, "dtype"),
    ("target-count", lambda d, m: steerlens.morph_batch(m, d, [1, 2, 3], _cfg()), TargetError,
     "3 targets for 2 images"),
    ("target-name", lambda d, m: steerlens.morph_batch(m, d, "seven", _cfg()), TargetError,
     "seven"),
    ("target-range", lambda d, m: steerlens.morph_batch(m, d, 12, _cfg()), TargetError, "12"),
    ("target-bool", lambda d, m: steerlens.morph_batch(m, d, True, _cfg()), TargetError, "True"),
    ("config-dict", lambda d, m: steerlens.morph_batch(m, d, 8, {"frames": 3}), ConfigError,
     "MorphConfig"),
    ("morph-unknown-option", lambda d, m: steerlens.morph(m, d[0], 8, framez=3), ConfigError,
     "framez"),
    ("morph-budget-nan", lambda d, m: steerlens.morph(m, d[0], 8, l2_budget=float("nan")),
     ConfigError, "finite"),
    # library errors name the API parameter; the CLI writes its flag instead
    ("morph-frames-huge", lambda d, m: steerlens.morph(m, d[0], 8, frames=10**6), ConfigError,
     "(max_frames)"),
    ("morph-two-images", lambda d, m: steerlens.morph(m, d, 8), ConfigError, "morph_batch"),
    ("morph-seed-huge", lambda d, m: steerlens.morph(m, d[0], 8, seed=2**70), ConfigError,
     "seed must be in 0..2**63-1"),
]


@pytest.mark.parametrize("case", [c for c in API_CASES if c[2] is not None], ids=lambda c: c[0])
def test_api_bad_input(case, digits, mnist_model):
    _, call, error, needle = case
    with pytest.raises(error) as info:
        call(digits, mnist_model)
    msg = str(info.value)
    assert "\n" not in msg and needle in msg, msg


def test_api_memory_estimate_refuses_a_job_that_cannot_fit(lite0):
    x = torch.rand(64, 3, 224, 224)  # 64 photos x 1000 frames: about 77 GB of frames alone
    with pytest.raises(ConfigError, match="GB but"):
        steerlens.morph_batch(lite0, x, "lynx", steerlens.MorphConfig(frames=1000))


@pytest.mark.parametrize("key, needle", [("fifo", "not a regular file"), ("bomb1", "megapixels"),
                                         ("text", "not a recognised"), ("empty", "empty")])
def test_api_load_image_bad_files(key, needle, files):
    with pytest.raises(ImageError, match=needle):
        steerlens.load_image(files[key])


@pytest.mark.parametrize("key, needle", [("one_row", "one row per image"),
                                         ("raises", "batch too large"),
                                         ("nan_grad", "gradient")])
def test_api_misbehaving_models(key, needle, files, digits):
    model = steerlens.load_model(str(files[key]), input_size=(28, 28), channels=1)
    with pytest.raises(ModelError, match=needle):
        steerlens.morph_batch(model, digits, 1, _cfg())


def test_config_wins_unless_a_method_is_named(digits, mnist_model):
    cfg = steerlens.MorphConfig(method="pixel", frames=3, amplification=[0, 0.1, 0.2])
    assert steerlens.morph(mnist_model, digits[0], 8, config=cfg).method == "pixel"
    named = steerlens.morph(mnist_model, digits[0], 8, "csp-joint", config=cfg)
    assert named.method == "csp-joint"


# ----------------------------------------------------------------------------- signals
SIGNAL_CASES = [
    ("morph", ["morph", "cat.jpg", "-t", "lynx", "--regime", "persistent", "--budget", "30"]),
    ("compare", ["compare", "cat.jpg", "-t", "lynx"]),
    ("demo", ["demo"]),
    ("experiment", ["experiment", "mnist", "--regimes", "persistent", "--budgets", "1,2"]),
]


def _wait_for_handlers(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until the command has installed its SIGTERM handler (``SigCgt`` in /proc), so a slow,
    loaded machine does not signal it while it is still importing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        caught = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("SigCgt")), 16)
        if caught & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.05)
    raise AssertionError("the command never installed its signal handlers")


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["sigint", "sigterm"])
@pytest.mark.parametrize("argv", [c[1] for c in SIGNAL_CASES], ids=[c[0] for c in SIGNAL_CASES])
def test_signal_leaves_nothing(argv, sig, code, tmp_path):
    from skimage import data

    Image.fromarray(data.chelsea()).save(tmp_path / "cat.jpg")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([str(STEERLENS), *argv, "--out", str(out), "--quiet"], cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True, env=env)
    _wait_for_handlers(proc)
    time.sleep(3.0)  # inside the work: model loaded, morphing or writing
    assert proc.poll() is None, "the command finished before the signal; make it longer"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert proc.returncode == code, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != "cat.jpg")
    if argv[0] != "experiment":
        assert leftovers == [], leftovers
        return
    # an experiment keeps its journal to resume from, and nothing else half-written
    assert leftovers in ([], ["out"]), leftovers
    temp = [p for p in tmp_path.rglob(".steerlens-tmp-*")]
    assert temp == [], temp
    for journal in out.rglob("*.jsonl"):
        for line in journal.read_text().splitlines():
            json.loads(line)  # no torn line
