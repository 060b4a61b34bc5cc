"""``steerlens serve``: the web app (FastAPI + the report's Jinja2 templates + vendored htmx).

Routes: ``/`` (the form), ``/targets`` (class names of a model, for autocomplete), ``POST /runs``
(queue a run), ``/runs/{id}`` (its state, then its morph view), ``/runs/{id}/files/{name}``
(downloads), ``/static/{name}`` (the three packaged assets). Nothing else is served, and nothing
is fetched from anywhere: the page's Content-Security-Policy allows its own origin only.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect

from steerlens.config import METHODS as CONFIG_METHODS
from steerlens.config import REGIMES as CONFIG_REGIMES
from steerlens.errors import ConfigError, SteerlensError
from steerlens.web.collect import load_morph
from steerlens.web.jobs import QueueFull, RunQueue
from steerlens.web.models import ModelPool
from steerlens.web.render import APP_CSP, STATIC_FILES, render, static_bytes
from steerlens.web.runs import RUN_FILES, RunNotFound, RunStore
from steerlens.web.uploads import UploadLimits, check_upload, load_upload, safe_name

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
#: Methods and regimes offered in the form (the first is the default).
METHODS = list(CONFIG_METHODS)
REGIMES = list(CONFIG_REGIMES)
_SLACK = 64 * 1024  # multipart overhead allowed above the file limit


@dataclass
class AppConfig:
    """Settings of one app instance.

    Attributes
    ----------
    models
        Model names (built-ins and ``--model`` specs) the app may run; nothing else is loaded.
    runs_dir
        Where run folders live (default: a fresh temporary folder).
    ttl_s
        Seconds a run folder is kept.
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
    """

    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    runs_dir: Path | None = None
    ttl_s: float = 3600.0
    limits: UploadLimits = field(default_factory=UploadLimits)
    device: str = "cpu"
    max_frames: int = 24
    max_waiting: int = 16
    video: bool = True


@dataclass
class RunRequest:
    """A validated run: everything the worker needs."""

    model: str
    image: Any  # (1, C, H, W) tensor
    image_name: str
    target: int
    method: str
    regime: str
    frames: int
    budget: float | None


#: Headers of every page: no caching, no sniffing, no referrer, own origin only.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": APP_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _error(message: str, status: int = 400) -> HTMLResponse:
    return _page(render("app_error.html", message=message), status)


def create_app(config: AppConfig | None = None) -> FastAPI:
    """Build the app.

    Examples
    --------
    >>> app = create_app(AppConfig(models=["mnist-cnn"]))
    >>> sorted(r.path for r in app.routes if "runs" in r.path)
    ['/runs', '/runs/{run_id}', '/runs/{run_id}/downloads', '/runs/{run_id}/files/{name}']
    """
    cfg = config or AppConfig()
    runs_dir = cfg.runs_dir or Path(tempfile.mkdtemp(prefix="steerlens-runs-"))
    store = RunStore(runs_dir, cfg.ttl_s)
    queue = RunQueue(max_waiting=cfg.max_waiting)
    pool = ModelPool(cfg.models, device=cfg.device)
    app = FastAPI(title="steerlens", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store, app.state.queue, app.state.pool, app.state.config = store, queue, pool, cfg

    def page_context(title: str) -> dict[str, Any]:
        return {"title": title, "csp": APP_CSP, "htmx_src": "/static/htmx.min.js"}

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return _page(render(
            "app_index.html", **page_context("steerlens"), models=pool.names,
            images=BUNDLED_IMAGES, methods=METHODS, regimes=REGIMES, max_frames=cfg.max_frames,
            limits=cfg.limits,
        ))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            return Response("not found", status_code=404, media_type="text/plain")
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
    async def create_run(request: Request) -> HTMLResponse:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > cfg.limits.max_bytes + _SLACK:
            return _error(
                f"upload of {int(length) / 1e6:.1f} MB is over the limit of "
                f"{cfg.limits.max_bytes / 1e6:.1f} MB; downscale or compress the image", 413)
        try:
            form = await request.form(max_files=1, max_fields=16, max_part_size=64 * 1024)
        except ClientDisconnect:  # the client left mid-upload: nothing to run, nobody to answer
            return Response(status_code=400)
        except (MultiPartException, ValueError) as e:  # malformed bodies, too many parts...
            reason = (str(e).splitlines() or [type(e).__name__])[0][:120]
            return _error(f"could not read the form ({reason}); submit it from the page")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        upload = form.get("upload")
        data, filename = b"", None
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(cfg.limits.max_bytes + 1)
            filename = upload.filename
        try:
            req = await run_in_threadpool(_validate, fields, data, filename, pool, cfg)
            run_id, folder = store.new()
            job = queue.submit(req.model, run_id,
                               lambda: _run(req, folder, pool, cfg, queue.get(run_id)))
        except QueueFull as e:
            return _error(str(e), 429)
        except SteerlensError as e:
            return _error(str(e), 413 if "over the upload limit" in str(e) else 400)
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
            return Response(f"error: {e}", status_code=404, media_type="text/plain")
        return FileResponse(path, media_type=RUN_FILES[name], filename=name)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", media_type="text/plain")

    return app


# ----------------------------------------------------------------------------- helpers
def _validate(fields: dict[str, str], data: bytes, filename: str | None, pool: ModelPool,
              cfg: AppConfig) -> RunRequest:
    """Check every field of the form; a :class:`SteerlensError` with one line on the first problem."""
    from steerlens.config import MorphConfig
    from steerlens.targets import resolve_target

    name = fields.get("model", "")
    model = pool.get(name)
    target_text = fields.get("target", "").strip()
    if not target_text:
        raise ConfigError("type a target class (a name from the list or an index)")
    target = resolve_target(target_text, model.class_names)
    method, regime = fields.get("method", "csp-phase"), fields.get("regime", "one-step")
    try:
        frames = int(fields.get("frames", "8") or 8)
    except ValueError:
        raise ConfigError(f"frames must be a whole number, got {fields.get('frames')!r}") from None
    if not 2 <= frames <= cfg.max_frames:
        raise ConfigError(f"frames must be between 2 and {cfg.max_frames}, got {frames}")
    budget_text = fields.get("budget", "").strip()
    budget = None
    if budget_text:
        try:
            budget = float(budget_text)
        except ValueError:
            raise ConfigError(f"budget must be a number (pixel L2), got {budget_text!r}") from None
        if not budget > 0 or budget == float("inf"):
            raise ConfigError(f"budget must be a positive pixel L2 distance, got {budget_text}")
    MorphConfig(method=method, frames=frames, regime=regime, l2_budget=budget).validate()
    image, image_name = _image(fields.get("image", ""), data, filename, model, pool, cfg)
    return RunRequest(model=name, image=image, image_name=image_name, target=target,
                      method=method, regime=regime, frames=frames, budget=budget)


def _image(choice: str, data: bytes, filename: str | None, model: Any, pool: ModelPool,
           cfg: AppConfig) -> tuple[Any, str]:
    if filename:
        check_upload(data, filename, cfg.limits)
        shown = safe_name(filename)
        with tempfile.TemporaryDirectory(prefix="steerlens-upload-") as tmp:
            path = Path(tmp) / "upload"
            path.write_bytes(data)
            return load_upload(path, shown, model.input_size, model.channels), shown
    if choice not in BUNDLED_IMAGES:
        raise ConfigError("choose a bundled image or upload one")
    if choice.startswith("mnist:"):
        from steerlens.demo import demo_image

        x = demo_image(choice, model)
        if tuple(x.shape[-2:]) != tuple(model.input_size) or x.shape[1] != model.channels:
            import torch.nn.functional as F

            x = F.interpolate(x, size=tuple(model.input_size), mode="bilinear")
            x = x.mean(1, keepdim=True).expand(-1, model.channels, -1, -1).contiguous()
        return x, choice
    from steerlens.data.images import load_builtin

    return load_builtin(choice.split(":", 1)[1], size=model.input_size,
                        channels=model.channels), choice


def _run(req: RunRequest, folder: Path, pool: ModelPool, cfg: AppConfig, job: Any) -> None:
    """The worker's part: morph; write the frames (the page can show them), then the downloads."""
    import steerlens
    from steerlens.outputs import write_json
    from steerlens.render import save_frames_npz

    model = pool.get(req.model)
    t0 = time.perf_counter()
    res = steerlens.morph(model, req.image, req.target, method=req.method, frames=req.frames,
                          regime=req.regime, l2_budget=req.budget)
    res.settings["image"] = req.image_name
    res.timings["app_morph_s"] = time.perf_counter() - t0
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
