"""``hf:`` models through the real transformers loading code, offline.

Tiny random-weight ViT and ConvNeXt classifiers are saved with ``save_pretrained`` into a temporary
folder next to a ``preprocessor_config.json`` as their image processors write it; steerlens loads
them with ``AutoModelForImageClassification`` and is checked against the model run by hand (the
processor's normalisation applied manually), against finite differences, and through the API, the
CLI's ``morph`` and ``batch``, and the app. Hub ids are checked for the one-line offline error.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

transformers = pytest.importorskip("transformers")

import steerlens
from steerlens.cli import main
from steerlens.errors import ModelError
from steerlens.models import load_model

VIT_LABELS = {0: "cat", 1: "dog", 2: "fox"}
CNX_LABELS = {0: "tabby", 1: "lynx", 2: "tiger", 3: "leopard"}
VIT_PRE = {  # as ViTImageProcessor.save_pretrained writes it (size scaled down)
    "do_normalize": True, "do_rescale": True, "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    "image_processor_type": "ViTImageProcessor", "resample": 2,
    "rescale_factor": 0.00392156862745098, "size": {"height": 32, "width": 32},
}
CNX_PRE = {  # as ConvNextImageProcessor writes it
    "crop_pct": 0.875, "do_normalize": True, "do_rescale": True, "do_resize": True,
    "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
    "image_processor_type": "ConvNextImageProcessor", "resample": 3,
    "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 32},
}


def _save(model, folder, pre: dict | None):
    model.save_pretrained(folder)
    if pre is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(pre, indent=2))
    return folder


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.ViTConfig(
        image_size=32, patch_size=8, num_channels=3, hidden_size=24, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=48, num_labels=3, id2label=VIT_LABELS,
        label2id={v: k for k, v in VIT_LABELS.items()},
    )
    return _save(transformers.ViTForImageClassification(cfg).eval(),
                 tmp_path_factory.mktemp("hf") / "tiny-vit", VIT_PRE)


@pytest.fixture(scope="module")
def convnext_dir(tmp_path_factory):
    torch.manual_seed(1)
    cfg = transformers.ConvNextConfig(
        num_channels=3, hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, num_labels=4,
        id2label=CNX_LABELS, label2id={v: k for k, v in CNX_LABELS.items()}, image_size=32,
    )
    return _save(transformers.ConvNextForImageClassification(cfg).eval(),
                 tmp_path_factory.mktemp("hf") / "tiny-convnext", CNX_PRE)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two real photos (scikit-image), as files."""
    from skimage import data

    root = tmp_path_factory.mktemp("photos")
    for name in ("chelsea", "coffee"):
        Image.fromarray(getattr(data, name)()).resize((48, 40)).save(root / f"{name}.png")
    return root


def _by_hand(folder, x: torch.Tensor, pre: dict) -> torch.Tensor:
    """The model as transformers runs it, with the processor's rescale+normalise done by hand."""
    model = transformers.AutoModelForImageClassification.from_pretrained(folder).eval()
    mean = torch.tensor(pre["image_mean"])[:, None, None]
    std = torch.tensor(pre["image_std"])[:, None, None]
    pixels = (x * 255 * pre["rescale_factor"] - mean) / std
    with torch.no_grad():
        return model(pixel_values=pixels).logits


@pytest.mark.parametrize("which", ["vit", "convnext"])
def test_loads_with_the_processor_settings_inside(which, vit_dir, convnext_dir):
    folder, pre, labels = ((vit_dir, VIT_PRE, VIT_LABELS) if which == "vit"
                           else (convnext_dir, CNX_PRE, CNX_LABELS))
    clf = load_model(f"hf:{folder}")
    assert clf.input_size == (32, 32) and clf.channels == 3
    assert clf.class_names == [labels[i] for i in range(len(labels))]
    assert clf.spec["source"] == "huggingface" and len(clf.spec["weights_sha256"]) == 64
    assert clf.spec["resample"] == ("bilinear" if which == "vit" else "bicubic")
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = clf(x)
    want = _by_hand(folder, x, pre)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-4)
    with torch.no_grad():  # the raw [0, 1] image gives other logits: normalisation is inside
        assert (clf.net(x) - want).abs().max() > 1e-3


def test_phase_gradient_matches_finite_differences(vit_dir):
    """The project's check (tests/test_gradient.py) on a real transformers ViT, in float64."""
    from steerlens.gradient import coefficient_gradient, target_loss
    from steerlens.transforms import make_transform

    model = load_model(f"hf:{vit_dir}").double()
    tr = make_transform("csp", scales=2, orientations=4)
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    coeffs = tr.analyze(x)
    target = torch.tensor([1])
    grads, _, _ = coefficient_gradient(model, tr, coeffs, target)

    def loss_with(band: int, idx: int, h: float) -> float:
        bands = [b.clone() for b in coeffs.bands]
        flat = bands[band].reshape(-1)
        flat[idx] = flat[idx] * torch.exp(torch.tensor(1j * h, dtype=torch.complex128))
        with torch.no_grad():
            out = model(tr.synthesize(coeffs.with_bands(bands)))
        return float(target_loss(out, target, None)[0])

    checked = 0
    for bi, (c, g) in enumerate(zip(coeffs.bands, grads)):
        analytic = (torch.conj(c) * g).imag.reshape(-1)
        for j in torch.argsort(analytic.abs(), descending=True)[:4].tolist():
            h = 1e-5
            numeric = (loss_with(bi, j, h) - loss_with(bi, j, -h)) / (2 * h)
            assert numeric == pytest.approx(float(analytic[j]), rel=1e-4, abs=1e-9)
            checked += 1
    assert checked >= 8


def test_morph_through_the_api(convnext_dir, photos):
    res = steerlens.morph(load_model(f"hf:{convnext_dir}"), photos / "chelsea.png", "lynx",
                          method="pixel", frames=3)
    assert res.frames.shape == (3, 3, 32, 32) and res.target_name == "lynx"
    assert res.scores[-1].p_target > res.scores[0].p_target
    assert res.model_spec["source"] == "huggingface"


def test_morph_and_batch_through_the_cli(vit_dir, photos, tmp_path, capsys):
    out = tmp_path / "morph"
    rc = main(["morph", str(photos / "coffee.png"), "--model", f"hf:{vit_dir}", "--target", "fox",
               "--frames", "3", "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    man = json.loads((out / "result.json").read_text())
    assert man["target"] == 2 and len(man["frames"]) == 3
    assert man["model"]["source"] == "huggingface" and man["model"]["resample"] == "bilinear"

    pq = pytest.importorskip("pyarrow.parquet")
    runs = tmp_path / "batch"
    rc = main(["batch", str(photos), "-m", f"hf:{vit_dir}", "-o", str(runs), "-q",
               "--threads", "1"])
    assert rc == 0, capsys.readouterr().err
    rows = pq.read_table(runs / "results.parquet").to_pylist()
    assert sorted(r["status"] for r in rows) == ["ok", "ok"]
    assert {r["target"] for r in rows} <= {0, 1, 2}


def test_the_app_serves_an_hf_model(vit_dir, tmp_path):
    pytest.importorskip("fastapi")
    httpx = pytest.importorskip("httpx")
    import re

    from steerlens.web.app import AppConfig, create_app
    from steerlens.web.server import BackgroundServer

    spec = f"hf:{vit_dir}"
    app = create_app(AppConfig(models=[spec], runs_dir=tmp_path / "runs0"))
    assert app.state.pool.class_names(spec) == ["cat", "dog", "fox"]

    cfg = AppConfig(models=[spec], runs_dir=tmp_path / "runs")
    with BackgroundServer(cfg, preload=True) as srv:
        page = httpx.get(srv.url + "/", timeout=10).text
        token = re.search(r'name="token" value="([^"]+)"', page).group(1)
        buf = np.asarray(Image.new("RGB", (40, 40), (200, 120, 40)))
        import io

        png = io.BytesIO()
        Image.fromarray(buf).save(png, format="PNG")
        resp = httpx.post(srv.url + "/runs",
                          data={"token": token, "model": spec, "target": "dog", "frames": "3"},
                          files={"upload": ("orange.png", png.getvalue(), "image/png")},
                          timeout=30)
        assert resp.status_code == 202, resp.text[:500]
        run_id = re.search(r'data-run="([0-9a-f]{32})"', resp.text).group(1)
        deadline, state = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            text = httpx.get(f"{srv.url}/runs/{run_id}", timeout=10).text
            m = re.search(r'data-state="(\w+)"', text)
            state = m.group(1) if m else None
            if state in ("done", "error"):
                break
            time.sleep(0.1)
        assert state == "done", text[-800:]


# ----------------------------------------------------------------------------- errors
def _one_line(err: BaseException) -> str:
    text = str(err)
    assert text and "\n" not in text
    return text


OFFLINE = "is not in the local Hugging Face cache and the network is unreachable"


def test_uncached_hub_id_offline_mode_is_one_line_at_once(monkeypatch):
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    t0 = time.monotonic()
    with pytest.raises(ModelError) as info:
        load_model("hf:steerlens-tests/no-such-model")
    assert OFFLINE in _one_line(info.value) and "pass a local folder" in str(info.value)
    assert time.monotonic() - t0 < 10


def test_uncached_hub_id_without_a_route_is_one_line_at_once(monkeypatch):
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    t0 = time.monotonic()
    with pytest.raises(ModelError) as info:
        load_model("hf:steerlens-tests/no-such-model")
    assert OFFLINE in _one_line(info.value)
    assert time.monotonic() - t0 < 10


def test_missing_extra_is_one_line(monkeypatch, vit_dir):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    with pytest.raises(ModelError) as info:
        load_model(f"hf:{vit_dir}")
    assert "pip install 'steerlens[hf]'" in _one_line(info.value)


def test_bad_folders_are_one_line(tmp_path, vit_dir):
    torch.manual_seed(0)
    base = transformers.ViTModel(transformers.ViTConfig(
        image_size=32, patch_size=8, hidden_size=24, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=48))
    headless = _save(base, tmp_path / "headless", VIT_PRE)
    no_pre = tmp_path / "no-pre"
    no_pre.mkdir()
    for f in vit_dir.iterdir():
        if f.name != "preprocessor_config.json":
            (no_pre / f.name).write_bytes(f.read_bytes())
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = {
        f"hf:{headless}": "no trained classification head",
        f"hf:{no_pre}": "has no preprocessor_config.json",
        f"hf:{empty}": "is not a saved transformers model",
        "hf:": "hf: needs a model",
        "hf:not a/valid id!": "neither a folder nor a Hugging Face id",
    }
    for spec, expected in cases.items():
        with pytest.raises(ModelError) as info:
            load_model(spec)
        assert expected in _one_line(info.value), (spec, str(info.value))
    with pytest.raises(ModelError, match="carry their own weights"):
        load_model(f"hf:{vit_dir}", weights=vit_dir / "model.safetensors")
