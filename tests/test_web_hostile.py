"""The app against hostile clients and hostile start-ups, over real HTTP (uvicorn on 127.0.0.1).

Groups (each case asserts the real status, headers and what was or was not created):

* Host headers (DNS rebinding): foreign names refused with the app's error page, own names served.
* Cross-origin writes: foreign ``Origin``/``Sec-Fetch-Site``, a missing or wrong form token, other
  methods: refused, and no run is created.
* Security headers: every response, error pages included, forbids framing and sniffing.
* Body limits: a chunked body is cut off at the limit, spooled data is closed at once, and every
  message states the right size.
* Malformed bodies: the app's own error page and headers, and the server keeps serving.
* Bounded decoding: uploads are decoded one at a time; 8 concurrent 25-megapixel uploads keep a
  real ``steerlens serve`` process under 1.5 GB (read from ``/proc``).
* The runs folder: only folders the app made (its marker) are ever expired.
* Start-up: bad ``--ttl``/limits/``--host``, a port in use, an unresolvable or foreign host: one
  line, exit 2, nothing printed or written; Ctrl-C removes the temporary runs folder.
"""

from __future__ import annotations

import http.client
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from steerlens.web.app import AppConfig
from steerlens.web.runs import MARKER, MARKER_TEXT
from steerlens.web.server import BackgroundServer, free_port
from steerlens.web.uploads import UploadLimits

LIMITS = UploadLimits(max_bytes=1_000_000, max_pixels=25_000_000)
LINUX = Path("/proc/self/fd").is_dir()
STEERLENS = str(Path(sys.executable).parent / "steerlens")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    cfg = AppConfig(models=["mnist-cnn"], runs_dir=tmp_path_factory.mktemp("runs"), limits=LIMITS,
                    max_frames=4)
    with BackgroundServer(cfg, preload=True) as s:
        yield s


@pytest.fixture(scope="module")
def token(srv) -> str:
    page = httpx.get(srv.url + "/", timeout=10).text
    return re.search(r'<input type="hidden" name="token" value="([^"]+)">', page).group(1)


# ----------------------------------------------------------------------------- helpers
def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _smooth_rgb(h: int, w: int) -> np.ndarray:
    """A smooth colour image: ``h*w`` pixels in a small PNG (25 MP: about 0.5 MB)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1),
                     (x + y) * 255 // max(h + w - 2, 1)], -1).astype(np.uint8)


def _runs(srv) -> set[str]:
    root = srv.app.state.store.root
    if root is None or not root.exists():
        return set()
    return {p.name for p in root.iterdir() if re.fullmatch("[0-9a-f]{32}", p.name)}


def _error_line(text: str) -> str:
    import html

    m = re.search(r'<p class="error" role="alert">(.*?)</p>', text, re.DOTALL)
    assert m, text[:300]
    return html.unescape(m.group(1))


def _raw(srv, method: str, path: str, headers: dict[str, str], body: bytes = b"",
         host: str | None = "default") -> tuple[int, dict[str, str], str]:
    """One request through ``http.client`` with exactly these headers (``host=None``: no Host)."""
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=20)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    if host == "default":
        host = f"{srv.host}:{srv.port}"
    if host is not None:
        conn.putheader("Host", host)
    for k, v in headers.items():
        conn.putheader(k, v)
    if body or method not in ("GET", "HEAD"):
        conn.putheader("Content-Length", str(len(body)))
    try:
        conn.endheaders(body or None)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server refused early and closed before the whole body was sent: read its answer
    resp = conn.getresponse()
    data = resp.read().decode("utf-8", "replace")
    out = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    return resp.status, out, data


def _multipart(fields: dict[str, str], upload: tuple[str, bytes] | None = None,
               boundary: str = "hostile0boundary") -> tuple[bytes, str]:
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'
                     f"{v}\r\n".encode())
    if upload:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="upload"; '
                     f'filename="{upload[0]}"\r\nContent-Type: image/png\r\n\r\n'.encode()
                     + upload[1] + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _form(token: str, **extra: str) -> dict[str, str]:
    return {"token": token, "model": "mnist-cnn", "target": "8", "image": "mnist:3",
            "frames": "2"} | extra


def _assert_guarded(headers: dict[str, str], where: str) -> None:
    assert headers.get("x-frame-options") == "DENY", where
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "no-referrer", where
    assert headers.get("cross-origin-resource-policy") == "same-origin", where


def _deleted_fds() -> int:
    """Open descriptors of this process that point at deleted files (spooled uploads)."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").endswith("(deleted)"):
                n += 1
        except OSError:
            pass
    return n


# ----------------------------------------------------------------------------- Host
FOREIGN_HOSTS = [
    "evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}",
    "localhost.evil.example:{port}", "evil.localhost.example", "10.0.0.7:{port}",
    "0.0.0.0:{port}", "192.168.1.1", "[::2]:{port}", "[::1", "127.0.0.1:notaport",
    "127.0.0.1:99999", "user@127.0.0.1:{port}", "127.0.0.1 :{port}", "",
]
OWN_HOSTS = ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "localhost",
             "[::1]:{port}", "localhost.:{port}", "127.0.0.1"]


def test_foreign_host_headers_are_refused(srv):
    for host in FOREIGN_HOSTS:
        h = host.format(port=srv.port)
        for path in ("/", "/targets?model=mnist-cnn", "/static/htmx.min.js", "/healthz"):
            status, headers, body = _raw(srv, "GET", path, {}, host=h)
            assert status == 400, (h, path, status)
            assert _error_line(body).startswith("error: this app answers only to its own address")
            _assert_guarded(headers, h)
    # HTTP/1.0 without any Host: refused by the app too (HTTP/1.1 without Host is refused by h11)
    with socket.create_connection((srv.host, srv.port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    assert raw.startswith(b"HTTP/1.1 400") and b"x-frame-options: deny" in raw.lower()
    assert b"answers only to its own address" in raw


def test_own_host_names_are_served(srv):
    for host in OWN_HOSTS:
        status, headers, body = _raw(srv, "GET", "/healthz", {}, host=host.format(port=srv.port))
        assert (status, body) == (200, "ok"), host
        _assert_guarded(headers, host)


def test_host_refused_for_writes_and_no_run_made(srv, token):
    before = _runs(srv)
    body, ctype = _multipart(_form(token))
    status, _, text = _raw(srv, "POST", "/runs", {"Content-Type": ctype}, body,
                           host=f"rebound.example:{srv.port}")
    assert status == 400 and "answers only to its own address" in _error_line(text)
    assert _runs(srv) == before


# ----------------------------------------------------------------------------- origin
CROSS_ORIGIN = [
    ({"Origin": "http://evil.example"}, "the request comes from http://evil.example"),
    ({"Origin": "null"}, "the request comes from null"),
    ({"Origin": "http://localhost:3000"}, "the request comes from http://localhost:3000"),
    ({"Origin": "http://127.0.0.1"}, "the request comes from http://127.0.0.1,"),
    ({"Origin": "http://127.0.0.1.evil.example:{port}"}, "the request comes from"),
    ({"Origin": "file://"}, "the request comes from file://"),
    ({"Origin": "http://127.0.0.1:{port}/path"}, "the request comes from"),
    ({"Origin": "not a url"}, "the request comes from not a url"),
    ({"Sec-Fetch-Site": "cross-site"}, "another site (Sec-Fetch-Site: cross-site)"),
    ({"Sec-Fetch-Site": "same-site"}, "another site (Sec-Fetch-Site: same-site)"),
    ({"Sec-Fetch-Site": "cross-site", "Origin": "http://127.0.0.1:{port}"}, "another site"),
    ({"Sec-Fetch-Site": "same-origin", "Origin": "http://evil.example"}, "http://evil.example"),
]


def test_cross_origin_writes_are_refused(srv, token):
    before = _runs(srv)
    body, ctype = _multipart(_form(token))
    for extra, expected in CROSS_ORIGIN:
        headers = {k: v.format(port=srv.port) for k, v in extra.items()}
        status, out, text = _raw(srv, "POST", "/runs", {"Content-Type": ctype} | headers, body)
        assert status == 403, (extra, status, text[:200])
        line = _error_line(text)
        assert expected.format(port=srv.port) in line and "\n" not in line, (extra, line)
        _assert_guarded(out, str(extra))
    # the classic CSRF shapes: a text/plain or urlencoded form post from another page
    for ctype_, data in (("text/plain", b"model=mnist-cnn&target=8&image=mnist:3"),
                         ("application/x-www-form-urlencoded",
                          b"model=mnist-cnn&target=8&image=mnist%3A3")):
        status, _, _ = _raw(srv, "POST", "/runs", {"Content-Type": ctype_,
                                                     "Origin": "http://evil.example"}, data)
        assert status == 403
    # other methods are checked for their origin before routing
    for method in ("PUT", "DELETE", "PATCH"):
        status, out, _ = _raw(srv, method, "/runs", {"Origin": "http://evil.example"})
        assert status == 403, method
        _assert_guarded(out, method)
    assert _runs(srv) == before


def test_form_token_is_required(srv, token):
    before = _runs(srv)
    for fields in ({k: v for k, v in _form(token).items() if k != "token"},
                   _form("0" * len(token)), _form(token[:-1]), _form(token + "x"), _form("")):
        body, ctype = _multipart(fields)
        status, out, text = _raw(srv, "POST", "/runs", {"Content-Type": ctype}, body)
        assert status == 403
        assert _error_line(text).startswith("error: this form is not from this server's page")
        _assert_guarded(out, "token")
    # urlencoded without a token (a plain form from anywhere without Origin): refused too
    status, _, _ = _raw(srv, "POST", "/runs",
                        {"Content-Type": "application/x-www-form-urlencoded"},
                        b"model=mnist-cnn&target=8&image=mnist%3A3&frames=2")
    assert status == 403
    assert _runs(srv) == before


def test_own_page_writes_are_accepted(srv, token):
    """What htmx sends from the app's own page (Origin and Sec-Fetch-Site: same-origin) works."""
    body, ctype = _multipart(_form(token))
    for headers in ({"Origin": f"http://{srv.host}:{srv.port}", "Sec-Fetch-Site": "same-origin",
                     "HX-Request": "true"},
                    {"Origin": f"http://localhost:{srv.port}", "Sec-Fetch-Site": "same-origin"},
                    {}):  # a client that is not a browser, with the page's token
        host = f"localhost:{srv.port}" if "localhost" in headers.get("Origin", "") else "default"
        status, out, text = _raw(srv, "POST", "/runs", {"Content-Type": ctype} | headers, body,
                                 host=host)
        assert status == 202, (headers, text[:300])
        _assert_guarded(out, "202")
        run_id = re.search(r'data-run="([0-9a-f]{32})"', text).group(1)
        assert srv.app.state.queue.wait(run_id, timeout=60).state == "done"


# ----------------------------------------------------------------------------- headers
def test_every_response_forbids_framing(srv, token):
    body, ctype = _multipart(_form(token))
    _, _, text = _raw(srv, "POST", "/runs", {"Content-Type": ctype}, body)
    run_id = re.search(r'data-run="([0-9a-f]{32})"', text).group(1)
    srv.app.state.queue.wait(run_id, timeout=60)
    cases = [
        ("GET", "/", {}, b"", 200), ("GET", "/static/htmx.min.js", {}, b"", 200),
        ("GET", "/static/steerlens.css", {}, b"", 200), ("GET", "/static/nope.js", {}, b"", 404),
        ("GET", "/targets?model=mnist-cnn", {}, b"", 200),
        ("GET", "/targets?model=resnet", {}, b"", 400), ("GET", "/healthz", {}, b"", 200),
        ("GET", "/nowhere", {}, b"", 404), ("GET", f"/runs/{run_id}", {}, b"", 200),
        ("GET", f"/runs/{run_id}/downloads", {}, b"", 200),
        ("GET", f"/runs/{run_id}/files/result.json", {}, b"", 200),
        ("GET", f"/runs/{run_id}/files/{MARKER}", {}, b"", 404),
        ("GET", "/runs/" + "0" * 32, {}, b"", 404), ("HEAD", "/", {}, b"", 405),
        ("DELETE", "/runs", {}, b"", 405), ("GET", "/runs", {}, b"", 405),
        ("POST", "/runs", {"Content-Type": "multipart/form-data"}, b"x", 400),
        ("POST", "/runs", {"Content-Type": ctype}, body.replace(b"mnist:3", b"../x"), 400),
        ("POST", "/runs", {"Content-Length": str(10**9)}, b"", 413),
    ]
    for method, path, headers, data, expected in cases:
        if "Content-Length" in headers:  # a claimed size over the limit, refused before reading
            conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
            conn.putrequest(method, path)
            conn.putheader("Content-Length", headers["Content-Length"])
            conn.putheader("Content-Type", ctype)
            conn.endheaders()
            resp = conn.getresponse()
            status, out, text = resp.status, {k.lower(): v for k, v in resp.getheaders()}, \
                resp.read().decode()
            conn.close()
            assert "upload of 1000.0 MB is over the limit of 1.0 MB" in _error_line(text)
        else:
            status, out, text = _raw(srv, method, path, headers, data)
        assert status == expected, (method, path, status, text[:200])
        _assert_guarded(out, f"{method} {path}")
        if status >= 400 and method != "HEAD":
            assert _error_line(text).startswith("error: "), (path, text[:200])
            assert out.get("cache-control") == "no-store"


# ----------------------------------------------------------------------------- body limits
def _chunked_upload(srv, token: str, total: int, chunk: int = 64 * 1024) -> tuple[str, int]:
    """POST a chunked multipart body of about ``total`` bytes of file data; returns (response,
    bytes sent before the server answered or closed)."""
    head = (f"POST /runs HTTP/1.1\r\nHost: {srv.host}:{srv.port}\r\nTransfer-Encoding: chunked"
            "\r\nContent-Type: multipart/form-data; boundary=cc\r\n\r\n").encode()
    prefix, _ = _multipart(_form(token), boundary="cc")
    prefix = prefix[: -len(b"--cc--\r\n")]
    prefix += (b'--cc\r\nContent-Disposition: form-data; name="upload"; filename="big.png"\r\n'
               b"Content-Type: image/png\r\n\r\n")
    got = bytearray()
    s = socket.create_connection((srv.host, srv.port), timeout=20)

    def read() -> None:
        try:
            while data := s.recv(65536):
                got.extend(data)
        except OSError:
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent = 0

    def send_chunk(data: bytes) -> None:
        s.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    try:
        s.sendall(head)
        send_chunk(prefix)
        block = b"\x89PNG" + b"\0" * (chunk - 4)
        while sent < total and not got:
            send_chunk(block)
            sent += len(block)
        if sent >= total:
            send_chunk(b"\r\n--cc--\r\n")
            s.sendall(b"0\r\n\r\n")
    except OSError:  # the server closed the connection: it stopped reading
        pass
    reader.join(timeout=20)
    s.close()
    return got.decode("latin-1"), sent


@pytest.mark.skipif(not LINUX, reason="counts open files in /proc/self/fd (Linux)")
def test_chunked_body_is_cut_at_the_limit_and_spool_closed(srv, token):
    before_runs, before_fds = _runs(srv), _deleted_fds()
    resp, sent = _chunked_upload(srv, token, total=50_000_000)
    assert resp.startswith("HTTP/1.1 413"), resp[:200]
    assert "x-frame-options: DENY" in resp
    line = _error_line(resp)
    m = re.fullmatch(r"error: upload is over the limit of 1\.0 MB \(reading stopped after "
                     r"([0-9.]+) MB\); downscale or compress the image", line)
    assert m, line
    assert LIMITS.max_body < float(m.group(1)) * 1e6 <= LIMITS.max_body + 256 * 1024
    assert sent < 20_000_000  # the client could not push 50 MB: the server stopped reading
    time.sleep(0.2)
    assert _deleted_fds() == before_fds  # the spooled part is closed (and so deleted) at once
    assert _runs(srv) == before_runs
    assert httpx.get(srv.url + "/healthz").text == "ok"


def test_chunked_body_under_the_limit_is_read(srv, token):
    png = _png(_smooth_rgb(64, 64))
    head = (f"POST /runs HTTP/1.1\r\nHost: {srv.host}:{srv.port}\r\nTransfer-Encoding: chunked"
            "\r\nContent-Type: multipart/form-data; boundary=cc\r\nConnection: close\r\n\r\n")
    body, _ = _multipart(_form(token), ("small.png", png), boundary="cc")
    chunks = b"".join(f"{len(body[i:i + 1000]):x}\r\n".encode() + body[i:i + 1000] + b"\r\n"
                      for i in range(0, len(body), 1000)) + b"0\r\n\r\n"
    with socket.create_connection((srv.host, srv.port), timeout=30) as s:
        s.sendall(head.encode() + chunks)
        raw = b""
        while data := s.recv(65536):
            raw += data
    assert raw.startswith(b"HTTP/1.1 202"), raw[:300]
    run_id = re.search(rb'data-run="([0-9a-f]{32})"', raw).group(1).decode()
    assert srv.app.state.queue.wait(run_id, timeout=60).state == "done"


def test_size_messages_state_the_right_size(srv, token):
    # a file just over the limit in a body under the body limit: its exact size
    data = b"\x89PNG" + b"\0" * (LIMITS.max_bytes - 3)
    body, ctype = _multipart(_form(token), ("over.png", data))
    status, out, text = _raw(srv, "POST", "/runs", {"Content-Type": ctype}, body)
    assert status == 413
    assert _error_line(text) == ("error: image file over.png is 1.000001 MB, over the upload "
                                 "limit of 1.0 MB; downscale or compress it")
    # a body whose Content-Length is over the limit: refused before reading, with that size
    big = b"\0" * (LIMITS.max_body + 1)
    status, out, text = _raw(srv, "POST", "/runs", {"Content-Type": ctype}, big)
    assert status == 413 and out.get("connection") == "close"
    assert LIMITS.max_body + 1 == 1_065_537
    assert _error_line(text) == ("error: upload of 1.1 MB is over the limit of 1.0 MB; "
                                 "downscale or compress the image")
    # a file exactly at the limit is not refused for its size (it is not an image)
    body, ctype = _multipart(_form(token), ("at.png", b"\0" * LIMITS.max_bytes))
    status, _, text = _raw(srv, "POST", "/runs", {"Content-Type": ctype}, body)
    assert status == 400 and "not a recognised image format" in _error_line(text)


# ----------------------------------------------------------------------------- malformed bodies
def _malformed(token: str) -> list[tuple[str, dict[str, str], bytes]]:
    good, ctype = _multipart(_form(token))
    fields = "".join(f'--b\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'
                     for i in range(40)) + "--b--\r\n"
    return [
        ("no boundary", {"Content-Type": "multipart/form-data"}, good),
        ("wrong boundary", {"Content-Type": "multipart/form-data; boundary=zzz"}, good),
        ("garbage", {"Content-Type": ctype}, b"\x00\xff" * 100),
        ("truncated", {"Content-Type": ctype}, good[: len(good) // 2]),
        ("no closing boundary", {"Content-Type": ctype}, good[: -len(b"--hostile0boundary--\r\n")]),
        ("part without name", {"Content-Type": "multipart/form-data; boundary=b"},
         b'--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n'),
        ("two files", {"Content-Type": "multipart/form-data; boundary=b"},
         (b'--b\r\nContent-Disposition: form-data; name="a"; filename="a.png"\r\n\r\nx\r\n'
          b'--b\r\nContent-Disposition: form-data; name="b"; filename="b.png"\r\n\r\nx\r\n'
          b"--b--\r\n")),
        ("too many fields", {"Content-Type": "multipart/form-data; boundary=b"}, fields.encode()),
        ("huge field", {"Content-Type": "multipart/form-data; boundary=b"},
         b'--b\r\nContent-Disposition: form-data; name="target"\r\n\r\n' + b"8" * 100_000
         + b"\r\n--b--\r\n"),
        ("json", {"Content-Type": "application/json"}, b'{"model": "mnist-cnn"}'),
        ("text/plain", {"Content-Type": "text/plain"}, b"model=mnist-cnn"),
        ("no content type", {}, b"model=mnist-cnn"),
        ("empty body", {"Content-Type": ctype}, b""),
        ("bad charset", {"Content-Type": ctype.replace(";", "; charset=x-bogus;")}, good[:40]),
        ("urlencoded, too many fields", {"Content-Type": "application/x-www-form-urlencoded"},
         "&".join(f"f{i}=x" for i in range(40)).encode()),
    ]


def test_malformed_bodies_get_the_app_error_page(srv, token):
    before = _runs(srv)
    for name, headers, body in _malformed(token):
        status, out, text = _raw(srv, "POST", "/runs", headers, body)
        assert status in (400, 403), (name, status, text[:200])
        line = _error_line(text)
        assert line.startswith("error: ") and "\n" not in line and "Traceback" not in text, name
        assert out.get("content-type", "").startswith("text/html"), name
        _assert_guarded(out, name)
    assert _runs(srv) == before
    assert httpx.get(srv.url + "/healthz").text == "ok"


# ----------------------------------------------------------------------------- bounded decoding
def test_uploads_are_decoded_one_at_a_time(srv, token):
    png = _png(_smooth_rgb(2000, 2000))
    gate = srv.app.state.gate
    gate.peak = 0
    results: list[int] = []

    def post(i: int) -> None:
        body, ctype = _multipart(_form(token), (f"big{i}.png", png))
        status, _, _ = _raw(srv, "POST", "/runs", {"Content-Type": ctype}, body)
        results.append(status)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == [202] * 8
    assert gate.peak == 1 and gate.active == 0 and gate.waiting == 0
    queue = srv.app.state.queue
    for job in [j for j in list(queue._jobs.values()) if j.state in ("queued", "running")]:
        queue.wait(job.id, timeout=120)  # let the runs finish before the next tests
    # a bomb is refused from its header, before any decoding
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (6000, 6000)).save(buf, format="PNG")  # 36 MP in a few kB
    body, ctype = _multipart(_form(token), ("bomb.png", buf.getvalue()))
    status, _, text = _raw(srv, "POST", "/runs", {"Content-Type": ctype}, body)
    assert status == 400 and _error_line(text) == (
        "error: image bomb.png has 36.0 megapixels, over the limit of 25.0 megapixels; "
        "downscale it (e.g. to 1024 px) first")


def _serve(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([STEERLENS, "serve", "--only", "--model", "mnist-cnn", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ | {"PYTHONUNBUFFERED": "1"} | (env or {}))


def _wait_serving(proc: subprocess.Popen, port: int) -> str:
    line = proc.stdout.readline()
    assert "serving" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).text == "ok":
                return line
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the server did not answer")


def _rss_kb(pid: int, key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} for {pid}")


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="reads RSS from /proc (Linux)")
def test_eight_concurrent_25mp_uploads_stay_under_1_5_gb(tmp_path):
    """A real server process, 8 clients each uploading a 5000x5000 RGB PNG at once."""
    port = free_port()
    proc = _serve(["--port", str(port), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).text == "ok":
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text
        tok = re.search(r'name="token" value="([^"]+)"', page).group(1)
        png = _png(_smooth_rgb(5000, 5000))
        base_kb = _rss_kb(proc.pid)
        samples: list[int] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append(_rss_kb(proc.pid))
                time.sleep(0.02)

        statuses: list[int] = []

        def post(i: int) -> None:
            r = httpx.post(f"http://127.0.0.1:{port}/runs", timeout=300,
                           data=_form(tok), files={"upload": (f"p{i}.png", png, "image/png")})
            statuses.append(r.status_code)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        clients = [threading.Thread(target=post, args=(i,)) for i in range(8)]
        t0 = time.perf_counter()
        for t in clients:
            t.start()
        for t in clients:
            t.join(timeout=300)
        elapsed = time.perf_counter() - t0
        stop.set()
        sampler.join()
        peak_kb = _rss_kb(proc.pid, "VmHWM")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    print(f"\n8 x 25 MP uploads: {len(png) / 1e3:.0f} kB each, {elapsed:.1f} s; server RSS "
          f"{base_kb / 1024:.0f} MB before, peak {peak_kb / 1024:.0f} MB (VmHWM), "
          f"max sampled {max(samples) / 1024:.0f} MB")
    assert statuses == [202] * 8
    assert peak_kb < 1.5 * 1024 * 1024


# ----------------------------------------------------------------------------- runs folder
def test_only_folders_the_app_made_are_expired(srv, token, tmp_path):
    store = srv.app.state.store
    root = store.root
    old = time.time() - store.ttl_s - 100
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / MARKER).write_text(MARKER_TEXT + "a" * 32 + "\n")
    (outside / "precious.txt").write_text("keep me")
    planted = {}

    def plant(name: str, marker: str | None = None, link: Path | None = None) -> Path:
        p = root / name
        if link is not None:
            p.symlink_to(link, target_is_directory=True)
        else:
            p.mkdir()
            (p / "data.txt").write_text("user data")
            if marker is not None:
                (p / MARKER).write_text(marker)
                os.utime(p / MARKER, (old, old))
            (p / ".created").touch()  # the old marker name is not ours any more
            os.utime(p / ".created", (old, old))
        planted[name] = p
        return p

    plant("b" * 32)  # no marker
    plant("c" * 32, marker="somebody else's file")
    plant("d" * 32, marker=MARKER_TEXT + "e" * 32)  # names another run
    plant("a" * 32, link=outside)  # a link to a folder carrying a valid marker
    marker_link = plant("f" * 32)
    (marker_link / MARKER).symlink_to(outside / MARKER)
    plant("0" * 31 + "1", marker=MARKER_TEXT + "0" * 31 + "1")  # ours, expired: goes
    ours = planted.pop("0" * 31 + "1")
    file_named_like_a_run = root / ("9" * 32)
    file_named_like_a_run.write_text("not a folder")

    body, ctype = _multipart(_form(token))
    status, _, _ = _raw(srv, "POST", "/runs", {"Content-Type": ctype}, body)  # sweeps first
    assert status == 202
    assert store.sweep() == 0
    for name, p in planted.items():
        assert p.exists() and (p / "data.txt").exists() or p.is_symlink(), name
        status, _, _ = _raw(srv, "GET", f"/runs/{name}", {})
        assert status == 404 and p.exists(), name
    assert (outside / "precious.txt").read_text() == "keep me"
    assert file_named_like_a_run.read_text() == "not a folder"
    assert not ours.exists()


# ----------------------------------------------------------------------------- start-up
def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    from steerlens.cli import main

    code = main(["serve", "--only", "--model", "mnist-cnn", *args])
    out, err = capsys.readouterr()
    return code, out, err


BAD_OPTIONS = [
    (["--ttl", "nan"], "error: --ttl must be a finite number above 0, got nan"),
    (["--ttl", "inf"], "error: --ttl must be a finite number above 0, got inf"),
    (["--ttl", "0"], "error: --ttl must be a finite number above 0, got 0.0"),
    (["--ttl", "-5"], "error: --ttl must be a finite number above 0, got -5.0"),
    (["--max-upload-mb", "nan"], "error: --max-upload-mb must be a finite number above 0, got nan"),
    (["--max-upload-mb", "inf"], "error: --max-upload-mb must be a finite number above 0, got inf"),
    (["--max-upload-mb", "0"], "error: --max-upload-mb must be a finite number above 0, got 0.0"),
    (["--max-upload-mb", "1e-9"],
     "error: --max-upload-mb must be a finite number above 0, got 1e-09"),
    (["--max-megapixels", "-1"],
     "error: --max-megapixels must be a finite number above 0, got -1.0"),
    (["--max-megapixels", "nan"],
     "error: --max-megapixels must be a finite number above 0, got nan"),
    (["--host", ""], "error: --host is empty; give an address such as 127.0.0.1"),
    (["--host", "   "], "error: --host is empty; give an address such as 127.0.0.1"),
    (["--host", "no-such-host.invalid"], "error: cannot resolve --host 'no-such-host.invalid'"),
    (["--host", "192.0.2.1"], "error: --host 192.0.2.1 is not an address of this machine"),
    (["--port", "0"], "error: --port must be 1-65535, got 0"),
    (["--port", "70000"], "error: --port must be 1-65535, got 70000"),
]


def test_bad_start_up_options_one_line_exit_2_nothing_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    runs = tmp_path / "runs"
    for args, expected in BAD_OPTIONS:
        code, out, err = _cli([*args, "--runs-dir", str(runs)], capsys)
        assert code == 2, (args, err)
        assert out == "" and err.count("\n") == 1 and err.startswith(expected), (args, err)
        assert not runs.exists() and list((tmp_path / "tmp").iterdir()) == [], args
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, out, err = _cli(["--runs-dir", str(a_file)], capsys)
    assert code == 2 and out == "" and err.startswith("error: --runs-dir ") and \
        err.count("\n") == 1


def test_port_in_use_one_line_exit_2_before_serving(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = _serve(["--port", str(port), "--runs-dir", str(tmp_path / "runs")])
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert out == ""  # no "serving http://..." before the failure
    assert err == (f"error: port {port} on 127.0.0.1 is already in use; stop what uses it or "
                   "choose another --port\n")
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(not LINUX, reason="signals and /proc")
def test_ctrl_c_removes_the_temporary_runs_folder(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    port = free_port()
    proc = _serve(["--port", str(port)], env={"TMPDIR": str(tmp)})
    try:
        _wait_serving(proc, port)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text
        tok = re.search(r'name="token" value="([^"]+)"', page).group(1)
        r = httpx.post(f"http://127.0.0.1:{port}/runs", data=_form(tok), timeout=30)
        assert r.status_code == 202
        run_id = re.search(r'data-run="([0-9a-f]{32})"', r.text).group(1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = httpx.get(f"http://127.0.0.1:{port}/runs/{run_id}", timeout=10).text
            if 'data-state="done"' in text:
                break
            time.sleep(0.2)
        made = [p for p in tmp.iterdir() if p.name.startswith("steerlens-runs-")]
        assert len(made) == 1 and (made[0] / run_id / "result.json").exists()
        # stop while runs are running and waiting: a clean stop all the same
        for _ in range(3):
            r = httpx.post(f"http://127.0.0.1:{port}/runs", timeout=30,
                           data=_form(tok, frames="24", regime="persistent", budget="20"))
            assert r.status_code == 202
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out.splitlines()[-1], err) == (0, "stopped", "")
    assert [p.name for p in tmp.iterdir() if p.name.startswith("steerlens-runs-")] == []


# ----------------------------------------------------------------------------- a real browser
def _chromium() -> str | None:
    import shutil

    return next((p for p in (shutil.which("chromium"), "/usr/lib/chromium/chromium")
                 if p and os.path.exists(p)), None)


ATTACKER_PAGE = """<!doctype html><html><body>
<form id="f" method="POST" action="http://127.0.0.1:{app}/runs" enctype="multipart/form-data"
      target="sink"><input name="model" value="mnist-cnn"><input name="target" value="8">
<input name="image" value="mnist:3"><input name="frames" value="2"></form>
<iframe name="sink"></iframe>
<iframe id="framed" src="http://127.0.0.1:{app}/"></iframe>
<script>
document.getElementById("f").submit();
const body = new FormData(); body.append("model", "mnist-cnn"); body.append("target", "8");
body.append("image", "mnist:3");
fetch("http://127.0.0.1:{app}/runs", {{method: "POST", mode: "no-cors", body}})
  .then(() => {{ document.title = "fetched"; }}, () => {{ document.title = "fetched"; }});
</script></body></html>"""


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium (make chromium)")
def test_a_foreign_page_in_chromium_can_neither_drive_nor_frame_nor_rebind(srv):
    """Chromium on an attacker page (another site, and another port of this machine): its form
    post and fetch are refused, its iframe of the app stays empty, a rebound name gets 400."""
    sync_api = pytest.importorskip("playwright.sync_api")
    import http.server

    attacker_port = free_port()

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = ATTACKER_PAGE.format(app=srv.port).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", attacker_port), Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    before = _runs(srv)
    try:
        with sync_api.sync_playwright() as p:
            rules = "MAP evil.test 127.0.0.1, MAP rebind.test 127.0.0.1"
            browser = p.chromium.launch(executable_path=_chromium(),
                                        args=["--no-sandbox", f"--host-resolver-rules={rules}"])
            try:
                for origin in (f"http://evil.test:{attacker_port}",  # another site
                               f"http://localhost:{attacker_port}"):  # same site, other port
                    page = browser.new_page()
                    posts: list[int] = []
                    page.on("response", lambda r, posts=posts: posts.append(r.status)
                            if r.url.endswith("/runs") else None)
                    sent: list[str] = []
                    page.on("request", lambda r, sent=sent: sent.append(r.resource_type)
                            if r.method == "POST" else None)
                    blocked: list[str] = []
                    page.on("requestfailed", lambda r, blocked=blocked: blocked.append(
                        f"{r.url.rsplit('/', 1)[-1] or '/'} {r.failure}"))
                    page.goto(origin + "/")
                    page.wait_for_function("document.title === 'fetched'", timeout=20_000)
                    deadline = time.monotonic() + 20
                    while len(blocked) < 3 and time.monotonic() < deadline:
                        page.wait_for_timeout(100)
                    assert sorted(sent) == ["document", "fetch"], sent  # both posts were sent
                    assert set(posts) <= {403}, posts  # and refused (no run is checked below)
                    # the form's answer and the framed app are not shown in the attacker's page,
                    # and the fetch's answer is not readable (Cross-Origin-Resource-Policy)
                    assert sorted(blocked) == [
                        "/ net::ERR_BLOCKED_BY_RESPONSE", "runs net::ERR_BLOCKED_BY_RESPONSE",
                        "runs net::ERR_BLOCKED_BY_RESPONSE.NotSameOrigin"], blocked
                    assert page.frame_locator("#framed").locator("form.run-form").count() == 0
                    page.close()
                page = browser.new_page()
                page.goto(f"http://rebind.test:{srv.port}/")
                assert "answers only to its own address" in page.inner_text("body")
                page.close()
            finally:
                browser.close()
    finally:
        attacker.shutdown()
    assert _runs(srv) == before
