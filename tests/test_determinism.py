"""Same seed and thread count -> byte-identical artefacts (apart from timings), and result.json
records the thread count that made them."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from steerlens.cli import main


def test_two_runs_write_identical_files(tmp_path, mnist_split, mnist_model, capsys):
    digit = tmp_path / "digit.png"
    Image.fromarray((mnist_split.x_test[7, 0].numpy() * 255).astype(np.uint8)).save(digit)
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        args = ["morph", str(digit), "-m", "mnist-cnn", "-t", "3", "--regime", "persistent",
                "--budget", "1.5", "--frames", "6", "--seed", "7", "-o", str(out), "-q"]
        assert main(args) == 0, capsys.readouterr().err
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == sorted(p.name for p in outs[1].iterdir())
    for name in names:
        a, b = (out / name for out in outs)
        if name == "result.json":
            ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
            assert ja.pop("timings_s").keys() == jb.pop("timings_s").keys()
            assert ja == jb
            assert ja["runtime"]["torch_threads"] == torch.get_num_threads()
            assert ja["settings"]["seed"] == 7
        else:
            assert a.read_bytes() == b.read_bytes(), name
