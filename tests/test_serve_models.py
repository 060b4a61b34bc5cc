"""``serve --model`` takes the specs ``morph`` takes: a real TorchScript file (the bundled MNIST CNN,
traced and saved by the test) with ``--input-size``, ``--channels``, ``--class-names`` and
``--normalize``, served by the app (FastAPI's TestClient) and running a morph.
"""

from __future__ import annotations

import json
import re
import time

import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

import steerlens
from steerlens.cli import main
from steerlens.cli.view import served_models
from steerlens.errors import ConfigError
from steerlens.web.app import AppConfig, create_app

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.trace.*` is deprecated:DeprecationWarning")

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    """The built-in MNIST CNN as users bring a model: a TorchScript file and a class-names file."""
    folder = tmp_path_factory.mktemp("user-model")
    net = steerlens.load_model("mnist-cnn", progress=False).net.eval()  # no normaliser inside
    path = folder / "digits.pt"
    torch.jit.trace(net, torch.rand(1, 1, 28, 28)).save(str(path))
    names = folder / "digits.txt"
    names.write_text("\n".join(NAMES) + "\n")
    return path, names


def _wait(client: TestClient, run_id: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = client.get(f"/runs/{run_id}").text
        state = re.search(r'data-state="(\w+)"', text)
        if state and state.group(1) in ("done", "error"):
            return text
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


def test_the_app_runs_a_morph_with_a_torchscript_model_and_its_options(user_model, tmp_path):
    path, names = user_model
    lines: list[str] = []
    served, loaded = served_models([str(path)], only=True, device="cpu", input_size="28",
                                   channels=1, class_names=names, normalize="none",
                                   echo=lines.append)
    assert served == [str(path)] and list(loaded) == [str(path)]
    assert lines == [f"model {path}: 1x28x28, 10 classes"]
    app = create_app(AppConfig(models=served, runs_dir=tmp_path / "runs", loaded=loaded))
    with TestClient(app, base_url="http://localhost") as client:
        page = client.get("/").text
        assert f">{path}</option>" in page  # the form offers the user model
        assert "eight" in client.get("/targets", params={"model": str(path)}).text
        token = re.search(r'<input type="hidden" name="token" value="([^"]+)">', page).group(1)
        resp = client.post("/runs", data={"token": token, "model": str(path), "target": "eight",
                                          "image": "mnist:3", "frames": "4"})
        assert resp.status_code == 202, resp.text[:400]
        run_id = re.search(r'data-run="([0-9a-f]{32})"', resp.text).group(1)
        text = _wait(client, run_id)
        assert 'data-state="done"' in text, text[:600]
        manifest = json.loads(client.get(f"/runs/{run_id}/files/result.json").text)
    # the user's class names and spec reached the result; the morph moved toward "eight"
    assert manifest["target_name"] == "eight" and manifest["source_name"] == "three"
    assert manifest["model"]["weights_sha256"]
    p = [f["p_target"] for f in manifest["frames"]]
    assert p[-1] > p[0] + 0.3
    assert "verdict" in manifest and manifest["verdict"]["ssim"] < 1


def test_user_model_options_need_a_user_model_and_bad_specs_fail_at_start(user_model, tmp_path,
                                                                          capsys):
    path, _ = user_model
    with pytest.raises(ConfigError, match=r"^--input-size applies to a user --model"):
        served_models(["mnist-cnn"], only=False, device="cpu", input_size="28")
    # through the command line: a missing class-names file is one line, exit 2, before binding
    rc = main(["serve", "--model", str(path), "--class-names", str(tmp_path / "none.txt"),
               "--port", "1", "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "class-names file" in err and len(err.strip().splitlines()) == 1
