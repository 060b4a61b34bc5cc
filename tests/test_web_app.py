"""The web app over real HTTP (uvicorn on 127.0.0.1): limits, bad input, paths, queue, expiry.

Raw paths go through ``http.client`` so that ``../`` and encoded slashes reach the server exactly
as written (httpx would normalise them first).
"""

from __future__ import annotations

import http.client
import io
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from steerlens.errors import ImageError
from steerlens.web.app import AppConfig
from steerlens.web.jobs import QueueFull, RunQueue
from steerlens.web.runs import MARKER
from steerlens.web.server import BackgroundServer, free_port
from steerlens.web.uploads import UploadLimits

LIMITS = UploadLimits(max_bytes=200_000, max_pixels=1_000_000)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    cfg = AppConfig(models=["mnist-cnn"], runs_dir=tmp_path_factory.mktemp("runs"), limits=LIMITS)
    with BackgroundServer(cfg, preload=True) as s:
        yield s


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _token(srv) -> str:
    """The form token, read from the app's own page as a browser would."""
    page = httpx.get(srv.url + "/", timeout=10).text
    return re.search(r'<input type="hidden" name="token" value="([^"]+)">', page).group(1)


def _post(srv, fields: dict, upload: tuple[str, bytes] | None = None) -> httpx.Response:
    files = {"upload": (upload[0], upload[1], "image/png")} if upload else None
    return httpx.post(srv.url + "/runs", data={"token": _token(srv)} | fields, files=files,
                      timeout=30)


def _run_id(resp: httpx.Response) -> str:
    return re.search(r'data-run="([0-9a-f]{32})"', resp.text).group(1)


def _wait_done(srv, run_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = httpx.get(f"{srv.url}/runs/{run_id}", timeout=10).text
        state = re.search(r'data-state="(\w+)"', text)
        if state and state.group(1) in ("done", "error"):
            return text
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


def _raw_get(srv, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    conn.putrequest("GET", path, skip_host=False, skip_accept_encoding=True)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def _error_line(resp: httpx.Response) -> str:
    m = re.search(r'<p class="error" role="alert">(.*?)</p>', resp.text, re.DOTALL)
    assert m, resp.text[:300]
    import html

    return html.unescape(m.group(1))


@pytest.fixture(scope="module")
def done_run(srv) -> str:
    resp = _post(srv, {"model": "mnist-cnn", "target": "8", "image": "mnist:3", "frames": "4"})
    assert resp.status_code == 202
    run_id = _run_id(resp)
    assert 'data-state="done"' in _wait_done(srv, run_id)
    return run_id


# ----------------------------------------------------------------------------- paths
def test_no_path_outside_run_folders(srv, done_run):
    status, body = _raw_get(srv, f"/runs/{done_run}/files/result.json")
    assert status == 200 and b'"target_name": "8"' in body
    attempts = [
        f"/runs/{done_run}/files/../../../../etc/passwd",
        f"/runs/{done_run}/files/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        f"/runs/{done_run}/files/%2e%2e%2f%2e%2e%2fapp.py",
        f"/runs/{done_run}/files/%2Fetc%2Fpasswd",
        f"/runs/{done_run}/files//etc/passwd",
        f"/runs/{done_run}/files/{MARKER}",
        f"/runs/{done_run}/files/%2e%2e",
        f"/runs/..%2F{done_run}/files/result.json",
        "/runs/%2Fetc/files/passwd",
        "/runs/../../etc/passwd",
        "/static/..%2Fapp.py",
        "/static/%2e%2e%2f%2e%2e%2fcli.py",
        "/static/../web/app.py",
        "//etc/passwd",
        "/etc/passwd",
        "/" + "/".join([".."] * 8) + "/etc/passwd",
    ]
    for path in attempts:
        status, body = _raw_get(srv, path)
        assert status in (400, 404, 405), (path, status)
        assert b"root:" not in body and b"import " not in body, path


# ----------------------------------------------------------------------------- uploads
def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width x height`` pixels, with one tiny data chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def test_upload_limits_and_bad_images(srv, tmp_path):
    base = {"model": "mnist-cnn", "target": "8"}
    rng = np.random.default_rng(0)
    big = _png(rng.integers(0, 256, (400, 400), dtype=np.uint8))  # ~160 kB of noise... and more
    big = big + b"\0" * max(0, LIMITS.max_bytes + 1 - len(big))
    resp = _post(srv, base, ("big.png", big))
    assert resp.status_code == 413
    assert "over the upload limit of 0.2 MB" in _error_line(resp)

    resp = _post(srv, base, ("bomb.png", _bomb_png(100_000, 100_000)))
    assert resp.status_code == 400
    line = _error_line(resp)
    assert line == ("error: image bomb.png has 10000.0 megapixels, over the limit of 1.0 "
                    "megapixels; downscale it (e.g. to 1024 px) first")
    resp = _post(srv, base, ("wide.png", _bomb_png(2000, 1000)))  # under Pillow's limit, over ours
    assert _error_line(resp) == ("error: image wide.png has 2.0 megapixels, over the limit of 1.0 "
                                 "megapixels; downscale it (e.g. to 1024 px) first")

    resp = _post(srv, base, ("notes.png", b"this is not an image\n"))
    assert _error_line(resp) == (
        "error: cannot read image notes.png: not a recognised image format; re-save it as PNG or JPEG"
    )

    # a truncated PNG: the header reads, the pixels do not; the app says what the CLI says
    good = _png(rng.integers(0, 256, (28, 28), dtype=np.uint8))
    cut = good[: len(good) // 2]
    resp = _post(srv, base, ("cut.png", cut))
    assert resp.status_code == 400
    local = tmp_path / "cut.png"
    local.write_bytes(cut)
    from steerlens.data.images import load_image

    with pytest.raises(ImageError) as cli_err:
        load_image(local, size=(28, 28), channels=1)
    assert _error_line(resp) == "error: " + str(cli_err.value).replace(str(local), "cut.png")
    assert str(tmp_path) not in resp.text and "steerlens-upload" not in resp.text

    resp = _post(srv, base, ("empty.png", b""))
    assert resp.status_code == 400  # an empty file field counts as no upload: the bundled image...
    assert "choose a bundled image" in _error_line(resp) or "empty" in _error_line(resp)


def test_unknown_models_targets_and_options(srv):
    cases = [
        ({"model": "resnet50"}, "error: unknown model 'resnet50'; this server runs: mnist-cnn"),
        ({"model": "/etc/passwd"}, "error: unknown model '/etc/passwd'; this server runs: mnist-cnn"),
        ({"target": "eight"}, None),
        ({"target": "12"}, None),
        # the same checks and wording as the CLI and the library (MorphConfig's declarations),
        # naming the form's fields
        ({"frames": "1000"}, ("error: frames 1000 is over the limit of 24; use fewer frames or "
                              "raise the limit (the server's max_frames)")),
        ({"frames": "1"}, "error: frames must be at least 2, got 1"),
        ({"frames": "x"}, "error: frames must be an integer, got 'x'"),
        ({"budget": "-1"}, "error: budget must be a positive L2 distance, got -1"),
        ({"budget": "nan"}, "error: budget must be a finite number, got nan"),
        ({"regime": "sometimes"}, ("error: regime must be one of one-step, live, persistent, "
                                   "got 'sometimes'")),
        ({"phase_consistency": "maybe"}, "error: phase_consistency must be on or off, got 'maybe'"),
        ({"method": "bogus"}, None),
        ({"image": "../../etc/passwd"}, "error: choose a bundled image or upload one"),
    ]
    from steerlens.errors import SteerlensError
    from steerlens.targets import resolve_target

    for override, expected in cases:
        fields = {"model": "mnist-cnn", "target": "8", "image": "mnist:3"} | override
        resp = _post(srv, fields)
        assert resp.status_code == 400, override
        line = _error_line(resp)
        if "target" in override:
            with pytest.raises(SteerlensError) as e:
                resolve_target(override["target"], [str(d) for d in range(10)])
            expected = f"error: {e.value}"
        if expected is not None:
            assert line == expected
        else:
            assert line.startswith("error: unknown method 'bogus'")
        assert "\n" not in line


def test_pages_make_no_outbound_requests(srv):
    resp = httpx.get(srv.url + "/")
    assert resp.headers["content-security-policy"].startswith("default-src 'self';")
    assert "default-src &#39;self&#39;" in resp.text  # and in the page itself
    assert not re.search(r"""(src|href|hx-get|hx-post)=["']?(https?:)?//""", resp.text)
    js = httpx.get(srv.url + "/static/htmx.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")


# ----------------------------------------------------------------------------- runs
def test_client_disconnect_mid_run_and_mid_upload(srv):
    def runs() -> set[str]:
        return {p.name for p in srv.app.state.store.root.iterdir() if re.fullmatch("[0-9a-f]{32}", p.name)}

    before = runs()
    body = (
        b"--xx\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n"
        + _token(srv).encode() + b"\r\n"
        b"--xx\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nmnist-cnn\r\n"
        b"--xx\r\nContent-Disposition: form-data; name=\"target\"\r\n\r\n8\r\n"
        b"--xx\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nmnist:5\r\n"
        b"--xx\r\nContent-Disposition: form-data; name=\"frames\"\r\n\r\n4\r\n--xx--\r\n"
    )
    head = (f"POST /runs HTTP/1.1\r\nHost: {srv.host}\r\nContent-Type: multipart/form-data; "
            f"boundary=xx\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    # 1. the client goes away half-way through its upload
    with socket.create_connection((srv.host, srv.port)) as s:
        s.sendall(head + body[: len(body) // 2])
    # 2. the client sends a whole run and leaves without reading the answer
    with socket.create_connection((srv.host, srv.port)) as s:
        s.sendall(head + body)
        s.shutdown(socket.SHUT_RDWR)
    deadline = time.monotonic() + 30
    new: set[str] = set()
    while not new and time.monotonic() < deadline:
        new = runs() - before
        time.sleep(0.05)
    assert len(new) == 1  # the half upload made no run
    text = _wait_done(srv, new.pop())
    assert 'data-state="done"' in text and "mnist:5" in text
    assert httpx.get(srv.url + "/healthz").text == "ok"


def test_runs_expire(srv):
    resp = _post(srv, {"model": "mnist-cnn", "target": "2", "image": "mnist:7", "frames": "3"})
    run_id = _run_id(resp)
    _wait_done(srv, run_id)
    folder = srv.app.state.store.root / run_id
    old = time.time() - srv.app.state.store.ttl_s - 10
    os.utime(folder / MARKER, (old, old))
    resp = httpx.get(f"{srv.url}/runs/{run_id}")
    assert resp.status_code == 404
    assert _error_line(resp) == "error: this run has expired; run it again"
    assert not folder.exists()
    assert httpx.get(f"{srv.url}/runs/{run_id}/files/result.json").status_code == 404


def test_queue_one_run_per_model_with_positions():
    q = RunQueue(max_waiting=3)
    gate = threading.Event()
    active: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}
    order: list[str] = []

    def work(model: str, name: str, wait: bool):
        def run():
            active[model] += 1
            peak[model] = max(peak[model], active[model])
            if wait:
                gate.wait(10)
            order.append(name)
            active[model] -= 1

        return run

    jobs = [q.submit("a", f"a{i}", work("a", f"a{i}", i == 0)) for i in range(3)]
    deadline = time.monotonic() + 5
    while jobs[0].state != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [q.position(j)[0] for j in jobs] == [0, 1, 2]
    assert q.position(jobs[2]) == (2, 2)
    jobs.append(q.submit("a", "a3", work("a", "a3", False)))
    assert q.position(jobs[3]) == (3, 3)
    with pytest.raises(QueueFull, match="3 runs are already waiting for a"):
        q.submit("a", "a4", work("a", "a4", False))
    other = q.submit("b", "b0", work("b", "b0", False))  # another model does not wait for "a"
    assert q.wait("b0", timeout=5).state == "done" and jobs[0].state == "running"
    gate.set()
    assert [q.wait(j.id, timeout=5).state for j in jobs] == ["done"] * 4
    assert order == ["b0", "a0", "a1", "a2", "a3"] and other.state == "done"
    assert peak == {"a": 1, "b": 1}


def test_failed_run_reports_one_line():
    q = RunQueue()

    def boom():
        raise ImageError("image x.png is broken; re-save it\nsecond line")

    job = q.submit("m", "f" * 32, boom)
    assert q.wait(job.id, timeout=5).state == "error"
    assert job.message == "image x.png is broken; re-save it"


# ----------------------------------------------------------------------------- the command
def _listening_address(port: int) -> str | None:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.rsplit(":", 1)
            if int(hexport, 16) == port and state == "0A":  # LISTEN
                return addr
    return None


def _serve(args: list[str], port: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "steerlens"), "serve", "--only", "--model", "mnist-cnn",
         "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    line = proc.stdout.readline()  # "loaded ...; serving http://..." once the models are in
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).text == "ok":
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, line


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs /proc/net/tcp (Linux)")
def test_serve_binds_loopback_unless_host_given():
    port = free_port()
    proc, line = _serve([], port)
    try:
        assert f"serving http://127.0.0.1:{port}/" in line
        assert _listening_address(port) == "0100007F"  # 127.0.0.1
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert "warning" not in err and err.strip() == ""
    assert proc.returncode == 0 and out.strip().endswith("stopped")  # a clean stop, not an error

    port = free_port()
    proc, _ = _serve(["--host", "0.0.0.0"], port)
    try:
        assert _listening_address(port) == "00000000"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert err.splitlines()[0].startswith("warning: binding to 0.0.0.0: anyone who can reach")


def test_waiting_run_shows_its_position(srv):
    gate = threading.Event()
    queue = srv.app.state.queue
    blocker = queue.submit("mnist-cnn", "0" * 32, lambda: gate.wait(20))
    try:
        resp = _post(srv, {"model": "mnist-cnn", "target": "8", "image": "mnist:1", "frames": "3"})
        assert resp.status_code == 202
        assert 'data-state="queued"' in resp.text
        assert re.search(r'position <span class="position">1</span> of 1\b', resp.text)
        run_id = _run_id(resp)
        assert 'data-state="queued"' in httpx.get(f"{srv.url}/runs/{run_id}").text
    finally:
        gate.set()
    assert queue.wait(blocker.id, timeout=10).state == "done"
    assert 'data-state="done"' in _wait_done(srv, run_id)


# ----------------------------------------------------------------------------- arrows
def test_arrows_start_hidden_when_the_field_explains_little(srv, done_run):
    """The arrows start shown only if one field explains at least half of the phase change."""
    import json

    from steerlens.web.views import ARROWS_MIN_EXPLAINED

    status, body = _raw_get(srv, f"/runs/{done_run}/files/result.json")
    assert status == 200
    explained = json.loads(body)["frames"][-1]["phase_explained"]
    page = httpx.get(f"{srv.url}/runs/{done_run}").text
    box = re.search(r'<input type="checkbox" class="show-arrows"( checked)?>', page)
    frame = re.search(r'<div class="frame( no-arrows)?" data-k="0"', page)
    assert box and frame and "one field explains" in page
    shown = explained >= ARROWS_MIN_EXPLAINED
    print(f"\nMNIST 3 -> 8, csp-phase: one field explains {explained:.3f}; arrows shown: {shown}")
    assert (box.group(1) is not None, frame.group(1) is None) == (shown, shown), explained


def test_arrows_default_follows_the_explained_share():
    from steerlens.web.jobs import Job
    from steerlens.web.render import render
    from steerlens.web.views import morph_view

    frames = np.zeros((2, 8, 8, 1), np.uint8)
    for explained, shown in ((0.02, False), (0.49, False), (0.5, True), (0.93, True),
                             (None, True)):
        rows = [{"p_target": 0.1, "phase_explained": explained}] * 2
        view = morph_view({"frames": rows}, frames, "m", arrows="M0 0l1 1")
        job = Job(id="0" * 32, model="m", work=lambda: None, state="running", stage="frames")
        html = render("app_run.html", job=job, position=0, waiting=0, view=view, files={})
        assert ('class="show-arrows" checked' in html) == shown, explained
        assert ('class="frame no-arrows"' in html) == (not shown), explained
