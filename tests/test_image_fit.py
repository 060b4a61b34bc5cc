"""One image fit: the same photo gives the same frames through every front end.

A JPEG written from scikit-image's ``chelsea`` (a 451x300 colour cat) goes into the grey 28x28
``mnist-cnn`` through the API (as a path, a PIL image, a NumPy array and a tensor), the CLI
``morph``, ``batch`` over a folder holding it, and the web app (an upload over HTTP through
FastAPI's TestClient). Every route fits it with :func:`steerlens.data.images.fit_image`, so the
frames agree to 1e-5; before that function the tensor route gave a 451x300 image and ``batch``
and the app fitted tensors with other filters.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import steerlens
from steerlens.cli.main import main
from steerlens.data.images import fit_image, load_image

TARGET = "3"
FRAMES = 3
TOL = 1e-5
pytestmark = pytest.mark.filterwarnings("ignore:a 451x300 colour image:UserWarning")


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """The cat as a JPEG, alone in its folder (the batch input)."""
    from skimage import data

    folder = tmp_path_factory.mktemp("photo")
    path = folder / "chelsea.jpg"
    Image.fromarray(data.chelsea()).save(path, quality=90)
    return path


@pytest.fixture(scope="module")
def api_frames(photo, mnist_model) -> dict[str, np.ndarray]:
    """Frames from the API for each kind of input, as ``(K, H, W, C)`` float32."""
    with Image.open(photo) as img:
        pil = img.copy()
    arr = np.array(pil)
    inputs = {
        "path": photo,
        "str": str(photo),
        "pil": pil,
        "array": arr,
        "tensor": torch.from_numpy(arr).permute(2, 0, 1).float() / 255.0,
    }
    return {kind: steerlens.morph(mnist_model, image, TARGET, frames=FRAMES).frames
            .permute(0, 2, 3, 1).numpy() for kind, image in inputs.items()}


def _npz_frames(path: Path) -> np.ndarray:
    with np.load(path) as z:
        return z["frames_float32"]


def test_every_kind_of_input_fits_to_the_same_pixels(photo):
    """The fit itself: path, PIL, array and tensor give one (1, 1, 28, 28) input, and each warns
    that a colour photo shrunk into a grey digit model is far from its domain."""
    ref = load_image(photo, size=(28, 28), channels=1)
    with Image.open(photo) as img:
        pil = img.copy()
    arr = np.array(pil)
    tensor = torch.from_numpy(arr).permute(2, 0, 1).float() / 255.0
    for image in (photo, pil, arr, tensor, tensor[None]):
        with pytest.warns(UserWarning, match=r"451x300 colour image is shrunk 10\.7x to 28x28 "
                                             "and made grey"):
            x = fit_image(image, (28, 28), 1)
        assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
        assert float((x - ref).abs().max()) < 1e-6
    # the luma weights, not the channel mean: a pure-green picture is 0.587 grey
    green = np.zeros((40, 40, 3), np.uint8)
    green[..., 1] = 255
    with pytest.warns(UserWarning, match="made grey"):
        assert float(fit_image(green, 28, 1).mean()) == pytest.approx(0.587, abs=1e-6)


def test_a_tensor_that_already_fits_is_used_as_given():
    x = torch.rand(4, 1, 28, 28)
    assert fit_image(x, (28, 28), 1).data_ptr() == x.data_ptr()


def test_the_api_gives_the_same_frames_for_every_kind_of_input(api_frames):
    ref = api_frames["path"]
    assert ref.shape == (FRAMES, 28, 28, 1)
    assert float(np.ptp(ref[-1] - ref[0])) > 0.01  # the morph moved the image
    for kind, frames in api_frames.items():
        np.testing.assert_allclose(frames, ref, atol=TOL, rtol=0, err_msg=kind)


def test_cli_morph_gives_the_api_frames(photo, api_frames, tmp_path):
    out = tmp_path / "morph"
    rc = main(["morph", str(photo), "-m", "mnist-cnn", "-t", TARGET, "--frames", str(FRAMES),
               "-o", str(out), "-q"])
    assert rc in (0, None)
    np.testing.assert_allclose(_npz_frames(out / "frames.npz"), api_frames["path"], atol=TOL, rtol=0)


def test_batch_gives_the_api_frames(photo, api_frames, tmp_path):
    out = tmp_path / "batch"
    rc = main(["batch", str(photo.parent), "-m", "mnist-cnn", "-t", TARGET, "--frames", str(FRAMES),
               "--artefacts", "all", "--threads", "1", "-o", str(out), "-q"])
    assert rc in (0, None)
    saved = sorted(out.rglob("frames.npz"))
    assert len(saved) == 1, saved
    np.testing.assert_allclose(_npz_frames(saved[0]), api_frames["path"], atol=TOL, rtol=0)


def test_the_app_gives_the_api_frames(photo, api_frames, tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from steerlens.web.app import AppConfig, create_app

    app = create_app(AppConfig(models=["mnist-cnn"], runs_dir=tmp_path / "runs"))
    with TestClient(app, base_url="http://localhost") as client:
        page = client.get("/").text
        token = re.search(r'<input type="hidden" name="token" value="([^"]+)">', page).group(1)
        resp = client.post("/runs", data={"token": token, "model": "mnist-cnn", "target": TARGET,
                                          "frames": str(FRAMES)},
                           files={"upload": ("chelsea.jpg", photo.read_bytes(), "image/jpeg")})
        assert resp.status_code == 202, resp.text[:500]
        run_id = re.search(r'data-run="([0-9a-f]{32})"', resp.text).group(1)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = re.search(r'data-state="(\w+)"', client.get(f"/runs/{run_id}").text)
            if state and state.group(1) in ("done", "error"):
                break
            time.sleep(0.1)
        assert state and state.group(1) == "done"
        npz = client.get(f"/runs/{run_id}/files/frames.npz")
        assert npz.status_code == 200
    path = tmp_path / "app-frames.npz"
    path.write_bytes(npz.content)
    np.testing.assert_allclose(_npz_frames(path), api_frames["path"], atol=TOL, rtol=0)
