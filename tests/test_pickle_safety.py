"""No file a user or a results folder controls is ever unpickled.

A planted pickle whose ``__reduce__`` creates a marker file goes into every place steerlens reads
files from: the trained-model cache, an experiment's kept-results cache (and its journal), a
``--weights`` state dict and a ``--model`` TorchScript file. Each is run through the real command
line (``steerlens.cli.main``): the marker never appears, and the command either fails with exit
code 2 and one ``error:`` line (user files) or recovers by recomputing (caches). A control shows
the payload is live: unpickling it the unsafe way does create the marker.
"""

from __future__ import annotations

import ast
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from steerlens.cli import main
from steerlens.experiments.kept import load_kept
from steerlens.models.hashing import file_sha256
from steerlens.models.weights import read_weights

SRC = Path(__file__).resolve().parents[1] / "src"


class Plant:
    """Unpickling this runs ``open(marker, "w")``: the marker file appears."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _payloads(marker: Path, where: Path) -> dict[str, Path]:
    """The plant as a raw pickle and as a ``torch.save`` zip archive."""
    where.mkdir(parents=True, exist_ok=True)
    raw, archive = where / "raw.pkl", where / "archive.pt"
    raw.write_bytes(pickle.dumps(Plant(marker)))
    torch.save(Plant(marker), archive)
    return {"raw": raw, "torch-zip": archive}


@pytest.fixture()
def marker(tmp_path):
    return tmp_path / "PWNED"


@pytest.fixture()
def digit_png(tmp_path, mnist_split):
    from PIL import Image

    p = tmp_path / "digit.png"
    img = (mnist_split.x_test[0, 0].numpy() * 255).round().astype(np.uint8)
    Image.fromarray(img).save(p)
    return p


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_the_payload_is_live(marker, tmp_path):
    """Control: the unsafe way (plain pickle) runs the payload, so the tests below mean something."""
    paths = _payloads(marker, tmp_path / "p")
    pickle.loads(paths["raw"].read_bytes())
    assert marker.exists()


@pytest.mark.parametrize("form", ["raw", "torch-zip"])
def test_model_cache_plant_is_refused_and_the_shipped_weights_used(form, marker, tmp_path,
                                                                   monkeypatch, capsys):
    """A pickle planted as the cached mnist-cnn weights (metadata hash updated to match): never
    run; the entry is reported as damaged and the weights shipped in the package are used."""
    from steerlens.models import load_model
    from steerlens.models.cache import PACKAGED_DIR

    shipped = load_model("mnist-cnn", progress=False)
    stem_name = Path(shipped.spec["weights_file"]).stem
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    meta = json.loads((PACKAGED_DIR / f"{stem_name}.json").read_text())
    planted = cache / "models" / f"{stem_name}.pt"
    shutil.copy(_payloads(marker, tmp_path / "p")[form], planted)
    meta["weights_sha256"] = file_sha256(planted)  # so the loader gets as far as reading it
    (cache / "models" / f"{stem_name}.json").write_text(json.dumps(meta))
    monkeypatch.setenv("STEERLENS_CACHE_DIR", str(cache))

    assert main(["train", "mnist", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert not marker.exists()
    assert "damaged model cache" in captured.err
    clean = float(captured.out.split("clean accuracy ")[1].split("%")[0])
    assert clean == pytest.approx(100 * meta["clean_acc"], abs=0.05)  # the shipped model
    # --retrain replaces the planted file with plain weights that match their metadata
    assert main(["train", "mnist", "--quiet", "--retrain"]) == 0
    assert not marker.exists()
    fresh = json.loads((cache / "models" / f"{stem_name}.json").read_text())
    assert fresh["weights_sha256"] == file_sha256(planted)
    assert set(read_weights(planted)) == set(shipped.net.state_dict())


def test_experiment_cache_plant_is_ignored_and_recomputed(marker, tmp_path, capsys):
    """Pickles planted as kept results (old ``.pt`` and new ``.npz`` names) and in the journal."""
    out = tmp_path / "exp"
    argv = ["experiment", "mnist", "--quick", "--sources", "1", "--methods", "pixel",
            "--regimes", "one-step", "--drivers", "standard", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    kept_dir = out / "cache" / "kept"
    kept_file = kept_dir / "mnist_standard_one-step_L2-2_default__pixel.npz"
    first = load_kept(kept_file)
    assert len(first) == 4  # the sample and the three showcase pairs
    cases_before = (out / "cases.jsonl").read_text()

    payloads = _payloads(marker, tmp_path / "p")
    shutil.copy(payloads["raw"], kept_file)
    shutil.copy(payloads["torch-zip"], kept_dir / "mnist_standard_one-step_L2-2_default__pixel.pt")
    with open(out / "cases.jsonl", "ab") as f:
        f.write(payloads["raw"].read_bytes())
    capsys.readouterr()

    assert main(argv) == 0
    err = capsys.readouterr().err
    assert not marker.exists()
    assert "ignoring unreadable kept results" in err
    # the journal lost only the planted bytes; the kept morphs were recomputed in their recorded
    # batch, so they equal the first run's to the last bit
    assert (out / "cases.jsonl").read_text() == cases_before
    again = load_kept(kept_file)
    assert sorted(again) == sorted(first)
    for sid, res in again.items():
        assert torch.equal(res.frames, first[sid].frames)
        assert res.final.l2 == pytest.approx(first[sid].final.l2, abs=1e-6)
    recs = {json.loads(line)["source_id"]: json.loads(line) for line in cases_before.splitlines()}
    for sid, res in again.items():
        assert res.final.l2 == pytest.approx(recs[sid]["l2"], abs=1e-6)
    strips = sorted(p.name for p in (out / "figures").glob("filmstrip_*.png"))
    assert len(strips) == 4


@pytest.mark.parametrize("form", ["raw", "torch-zip"])
def test_weights_plant_fails_with_one_line(form, marker, tmp_path, digit_png, capsys):
    """``--model file.py:build --weights <pickle>``: refused by the weights-only reader."""
    factory = tmp_path / "digitnet.py"
    factory.write_text(
        "from torch import nn\n\n\ndef build():\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))\n"
    )
    weights = _payloads(marker, tmp_path / "p")[form]
    rc = main(["morph", str(digit_png), "--model", f"{factory}:build", "--weights", str(weights),
               "--input-size", "28", "--channels", "1", "-t", "3", "--out",
               str(tmp_path / "out"), "--quiet"])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2 and not marker.exists()
    assert f"cannot read weights file {weights}" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("form", ["raw", "torch-zip"])
def test_model_plant_fails_with_one_line(form, marker, tmp_path, digit_png, capsys):
    """``--model <pickle>.pt``: TorchScript's own loader refuses it; nothing is unpickled."""
    model = tmp_path / "model.pt"
    shutil.copy(_payloads(marker, tmp_path / "p")[form], model)
    rc = main(["morph", str(digit_png), "--model", str(model), "-t", "3", "--out",
               str(tmp_path / "out"), "--quiet"])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2 and not marker.exists()
    assert f"{model} is not a TorchScript file" in line


def _unsafe_calls(path: Path) -> list[str]:
    """Calls in ``path`` that could unpickle arbitrary objects."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("pickle", "_pickle", "dill"):
            found += [f"from {node.module} import {a.name}" for a in node.names
                      if a.name in ("load", "loads", "Unpickler")]
        if not isinstance(node, ast.Call):
            continue
        func = ast.unparse(node.func)
        kw = {k.arg: ast.unparse(k.value) for k in node.keywords}
        if func.split(".")[-1] in ("load", "loads", "Unpickler") and func.split(".")[0] in (
            "pickle", "_pickle", "cPickle", "dill", "joblib", "shelve", "marshal"
        ):
            found.append(func)
        if func == "torch.load" and kw.get("weights_only") != "True":
            found.append(f"torch.load without weights_only=True at line {node.lineno}")
        if func in ("np.load", "numpy.load") and kw.get("allow_pickle", "False") != "False":
            found.append(f"{func}(allow_pickle={kw['allow_pickle']}) at line {node.lineno}")
    return found


def test_no_unsafe_unpickling_in_src():
    """No ``weights_only=False``, ``pickle.load(s)`` or pickling ``np.load`` anywhere in src/."""
    offenders = {}
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        bad = [s for s in ("weights_only=False", "pickle.load(", "pickle.loads(",
                           "allow_pickle=True") if s in text]
        bad += _unsafe_calls(path)
        if bad:
            offenders[str(path.relative_to(SRC))] = bad
    assert offenders == {}
    # and the one torch.load call steerlens has is the weights-only reader
    loads = [
        f"{p.relative_to(SRC)}:{n.lineno}" for p in sorted(SRC.rglob("*.py"))
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "torch.load"
    ]
    assert len(loads) == 1 and loads[0].startswith("steerlens/models/weights.py:")
