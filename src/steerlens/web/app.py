"""``steerlens serve``: the web app (FastAPI + the report's Jinja2 templates + vendored htmx).

Routes: ``/`` (the form), ``/targets`` (class names of a model, for autocomplete), ``POST /runs``
(queue a run), ``/runs/{id}`` (its state, then its morph view), ``/runs/{id}/files/{name}``
(downloads), ``/static/{name}`` (the three packaged assets). Nothing else is served, and nothing
is fetched from anywhere: the page's Content-Security-Policy allows its own origin only.

The app obeys only its own page: :class:`~steerlens.web.guard.EdgeGuard` answers only ``Host``
names of the bound address or localhost, refuses state-changing requests that a browser marks as
coming from another origin, and puts the security headers (no framing, no sniffing, no referrer)
on every response. ``POST /runs`` also needs the form token that the page embeds, so a client
that never loaded the page cannot start runs. The body is counted as it arrives and reading
stops at the upload limit; uploads are checked and decoded one at a time, in one decoding thread
(:class:`~steerlens.web.jobs.DecodeGate`). Every refusal, malformed bodies included, is the app's
one-line error page.
"""

from __future__ import annotations

import hmac
import secrets
import tempfile
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect

from steerlens.config import METHODS as CONFIG_METHODS
from steerlens.config import REGIMES as CONFIG_REGIMES
from steerlens.config import MorphConfig
from steerlens.errors import ConfigError, SteerlensError
from steerlens.web.collect import load_morph
from steerlens.web.form import config_from_form, form_fields
from steerlens.web.guard import SECURITY_HEADERS, EdgeGuard, HostPolicy
from steerlens.web.jobs import DecodeGate, QueueFull, RunQueue
from steerlens.web.models import ModelPool
from steerlens.web.render import APP_CSP, STATIC_FILES, render, static_bytes
from steerlens.web.runs import RUN_FILES, RunNotFound, RunStore
from steerlens.web.uploads import (
    BodyTooLarge,
    UploadLimits,
    UploadTooLarge,
    check_size,
    check_upload,
    load_upload,
    megabytes,
    read_form,
    safe_name,
)

#: Built-in models served by default.
DEFAULT_MODELS = ["mnist-cnn", "efficientnet-lite0"]
#: Bundled images offered in the form: value -> label.
BUNDLED_IMAGES = {f"mnist:{d}": f"MNIST digit {d}" for d in range(10)} | {
    "builtin:chelsea": "cat (chelsea)",
    "builtin:coffee": "espresso (coffee)",
    "builtin:astronaut": "astronaut",
    "builtin:rocket": "rocket",
    "builtin:grace_hopper": "Grace Hopper",
}
#: Methods and regimes offered in the form (the form itself is generated: :mod:`steerlens.web.form`).
METHODS = list(CONFIG_METHODS)
REGIMES = list(CONFIG_REGIMES)
#: Name of the form token field.
TOKEN_FIELD = "token"
#: Header of an answer sent before the body was read: the rest of the body is not wanted.
CLOSE = {"Connection": "close"}


@dataclass
class AppConfig:
    """Settings of one app instance.

    Attributes
    ----------
    models
        Model names (built-ins and ``--model`` specs) the app may run; nothing else is loaded.
    runs_dir
        Where run folders live (default: a temporary folder, removed when the server stops).
    ttl_s
        Seconds a run folder is kept (finite, above 0).
    limits
        Upload limits (bytes, pixels).
    device
        Torch device of the models.
    max_frames
        Most frames a run may ask for.
    max_waiting
        Most runs waiting per model.
    video
        Also write ``morph.mp4`` (needs PyAV).
    host
        The address the server is bound to: ``Host`` headers must name it or localhost.
    decode_slots
        Uploads checked and decoded at once (the others wait, at most ``max_waiting``).
    loaded
        User models loaded at start-up (``serve --model`` specs), by name; served beside
        ``models``.
    """

    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    runs_dir: Path | None = None
    ttl_s: float = 3600.0
    limits: UploadLimits = field(default_factory=UploadLimits)
    device: str = "cpu"
    max_frames: int = 24
    max_waiting: int = 16
    video: bool = True
    host: str = "127.0.0.1"
    decode_slots: int = 1
    loaded: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRequest:
    """A validated run: everything the worker needs."""

    model: str
    image: Any  # (1, C, H, W) tensor
    image_name: str
    target: int
    config: MorphConfig


#: Headers of every page: no caching, and the security headers (own origin only, no framing).
PAGE_HEADERS = {"Cache-Control": "no-store"} | SECURITY_HEADERS


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _error(message: str, status: int = 400, headers: dict[str, str] | None = None) -> HTMLResponse:
    resp = _page(render("app_error.html", message=message), status)
    resp.headers.update(headers or {})
    return resp


def create_app(config: AppConfig | None = None) -> FastAPI:
    """Build the app.

    Examples
    --------
    >>> app = create_app(AppConfig(models=["mnist-cnn"]))
    >>> sorted(r.path for r in app.routes if "runs" in r.path)
    ['/runs', '/runs/{run_id}', '/runs/{run_id}/downloads', '/runs/{run_id}/files/{name}']
    """
    cfg = config or AppConfig()
    store = RunStore(cfg.runs_dir, cfg.ttl_s)
    queue = RunQueue(max_waiting=cfg.max_waiting)
    gate = DecodeGate(slots=cfg.decode_slots, max_waiting=cfg.max_waiting)
    pool = ModelPool(cfg.models, device=cfg.device, loaded=cfg.loaded)
    token = secrets.token_urlsafe(32)
    app = FastAPI(title="steerlens", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store, app.state.queue, app.state.pool, app.state.config = store, queue, pool, cfg
    app.state.gate, app.state.form_token = gate, token
    app.add_middleware(EdgeGuard, hosts=HostPolicy(cfg.host))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        reason = {404: "no such page", 405: "this page does not take that method"}
        return _error(reason.get(exc.status_code, str(exc.detail).lower()), exc.status_code,
                      exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> HTMLResponse:
        return _error("malformed request; use the app's own page", 400)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> HTMLResponse:
        return _error(f"internal error ({type(exc).__name__}); the server log has the details",
                      500)

    def page_context(title: str) -> dict[str, Any]:
        return {"title": title, "csp": APP_CSP, "htmx_src": "/static/htmx.min.js"}

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return _page(render(
            "app_index.html", **page_context("steerlens"), models=pool.names,
            images=BUNDLED_IMAGES, fields=form_fields(cfg.max_frames), limits=cfg.limits,
            token=token, token_field=TOKEN_FIELD,
        ))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            return _error("no such file", 404)
        return Response(static_bytes(name), media_type=STATIC_FILES[name],
                        headers={"Cache-Control": "max-age=3600"})

    @app.get("/targets", response_class=HTMLResponse)
    def targets(model: str = "") -> HTMLResponse:
        try:
            names = pool.class_names(model)
        except SteerlensError as e:
            return _error(str(e))
        return _page(render("app_targets.html", names=names))

    @app.post("/runs", response_class=HTMLResponse)
    async def create_run(request: Request) -> Response:
        limits = cfg.limits
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limits.max_body:
            return _error(
                f"upload of {megabytes(int(length), limits.max_bytes)} is over the limit of "
                f"{megabytes(limits.max_bytes)}; downscale or compress the image", 413, CLOSE)
        try:
            async with aclosing(request.stream()) as stream:
                form = await read_form(request.headers, stream, limits)
        except ClientDisconnect:  # the client left mid-upload: nothing to run, nobody to answer
            return Response(status_code=400)
        except BodyTooLarge as e:  # reading stopped at the limit; what was spooled is closed
            return _error(
                f"upload is over the limit of {megabytes(limits.max_bytes)} (reading stopped "
                f"after {megabytes(e.received, limits.max_bytes)}); downscale or compress the "
                "image", 413, CLOSE)
        except (MultiPartException, ValueError) as e:  # malformed bodies, too many parts...
            text = getattr(e, "message", None) or str(e)
            reason = (text.splitlines() or [type(e).__name__])[0][:120]
            return _error(f"could not read the form ({reason}); submit it from the page")
        try:
            return await _accept(form)
        finally:
            await form.close()  # spooled upload data goes at once, whatever happened

    async def _accept(form: FormData) -> Response:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if not hmac.compare_digest(fields.get(TOKEN_FIELD, "").encode(), token.encode()):
            return _error("this form is not from this server's page (or the server has "
                          "restarted); reload the page and submit it again", 403)
        upload = form.get("upload")
        if not (isinstance(upload, UploadFile) and upload.filename):
            upload = None
        try:
            req = await run_in_threadpool(_validate, fields, upload, pool, gate, cfg)
            run_id, folder = store.new()
            job = queue.submit(req.model, run_id,
                               lambda: _run(req, folder, pool, cfg, queue.get(run_id)))
        except QueueFull as e:
            return _error(str(e), 429)
        except UploadTooLarge as e:
            return _error(str(e), 413)
        except SteerlensError as e:
            return _error(str(e), 400)
        return _page(_run_html(job, queue, store), 202)

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_state(run_id: str) -> HTMLResponse:
        job = queue.get(run_id)
        try:
            store.folder(run_id)
        except RunNotFound as e:
            return _error(str(e), 404)
        if job is None:
            return _error("no such run (the server was restarted); run it again", 404)
        return _page(_run_html(job, queue, store))

    @app.get("/runs/{run_id}/downloads", response_class=HTMLResponse)
    def run_downloads(run_id: str) -> HTMLResponse:
        job = queue.get(run_id)
        try:
            folder = store.folder(run_id)
        except RunNotFound as e:
            return _error(str(e), 404)
        if job is None:
            return _error("no such run (the server was restarted); run it again", 404)
        return _page(render("app_downloads.html", job=job, files=_downloads(job, folder)))

    @app.get("/runs/{run_id}/files/{name}")
    def run_file(run_id: str, name: str) -> Response:
        try:
            path = store.file(run_id, name)
        except RunNotFound as e:
            return _error(str(e), 404)
        return FileResponse(path, media_type=RUN_FILES[name], filename=name,
                            headers={"Cache-Control": "no-store"})

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", media_type="text/plain")

    return app


# ----------------------------------------------------------------------------- helpers
def _validate(fields: dict[str, str], upload: UploadFile | None, pool: ModelPool,
              gate: DecodeGate, cfg: AppConfig) -> RunRequest:
    """Check every field of the form; a :class:`SteerlensError` with one line on the first problem."""
    from steerlens.targets import resolve_target

    name = fields.get("model", "")
    model = pool.get(name)
    target_text = fields.get("target", "").strip()
    if not target_text:
        raise ConfigError("type a target class (a name from the list or an index)")
    target = resolve_target(target_text, model.class_names)
    config = config_from_form(fields, cfg.max_frames)  # the options, as the CLI checks them
    image, image_name = _image(fields.get("image", ""), upload, model, gate, cfg)
    return RunRequest(model=name, image=image, image_name=image_name, target=target,
                      config=config)


def _image(choice: str, upload: UploadFile | None, model: Any, gate: DecodeGate,
           cfg: AppConfig) -> tuple[Any, str]:
    if upload is not None:
        check_size(upload.size or 0, upload.filename, cfg.limits)
        # read, checked (pixels from the header first) and decoded in the decoding thread
        return gate.run(_decode_upload, upload, model, cfg.limits), safe_name(upload.filename)
    if choice not in BUNDLED_IMAGES:
        raise ConfigError("choose a bundled image or upload one")
    from steerlens.demo import demo_image

    # fitted by steerlens.data.images.fit_image; "builtin:NAME" by name, never a file in the cwd
    return demo_image(choice, model).contiguous(), choice


def _decode_upload(upload: UploadFile, model: Any, limits: UploadLimits) -> Any:
    """Read a spooled upload, check it from its header, then decode it like the CLI does."""
    upload.file.seek(0)
    data = upload.file.read(limits.max_bytes + 1)
    check_upload(data, upload.filename, limits)
    with tempfile.TemporaryDirectory(prefix="steerlens-upload-") as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(data)
        del data
        return load_upload(path, safe_name(upload.filename), model.input_size, model.channels)


def _run(req: RunRequest, folder: Path, pool: ModelPool, cfg: AppConfig, job: Any) -> None:
    """The worker's part: morph; write the frames (the page can show them), then the downloads."""
    from steerlens.api import morph
    from steerlens.outputs import write_json
    from steerlens.render import save_frames_npz

    model = pool.get(req.model)
    t0 = time.perf_counter()
    res = morph(model, req.image, req.target, config=req.config)
    res = res.with_settings(image=req.image_name).with_timings(app_morph_s=time.perf_counter() - t0)
    tmp = folder / ".frames.npz"
    save_frames_npz(res, tmp)
    tmp.replace(folder / "frames.npz")
    write_json(folder / "result.json", res.manifest())
    if job is not None:
        job.stage = "frames"
    res.save(folder)
    if cfg.video:
        try:
            from steerlens.render.video import save_mp4

            save_mp4(res, folder / "morph.mp4")
        except ConfigError:  # PyAV missing: the other files are still there
            pass


def _downloads(job: Any, folder: Path) -> dict[str, str]:
    """Download links of a finished run (none before it has finished)."""
    if job.state != "done":
        return {}
    return {name: f"/runs/{job.id}/files/{name}"
            for name in ("morph.gif", "morph.mp4", "frames.npz", "result.json")
            if (folder / name).is_file()}


def _run_html(job: Any, queue: RunQueue, store: RunStore) -> str:
    view = files = None
    if job.shown_state in ("frames", "done"):
        folder = store.folder(job.id)
        view = load_morph(folder, "run-" + job.id[:8])
        files = _downloads(job, folder)
    position, waiting = queue.position(job)
    return render("app_run.html", job=job, position=position, waiting=waiting, view=view,
                  files=files)
