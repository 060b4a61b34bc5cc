"""``steerlens report`` and ``steerlens serve``: see saved results in a browser.

``report`` writes one self-contained HTML file; ``serve`` runs the web app on this machine
(127.0.0.1 unless ``--host`` says otherwise). Both live in :mod:`steerlens.web`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from steerlens.cli.options import ChannelsOpt, ClassNamesOpt, InputSizeOpt, NormalizeOpt
from steerlens.cli.signals import Interrupted, Terminated
from steerlens.errors import ConfigError

_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def report(
    folders: list[Path] = typer.Argument(..., help="Folders written by morph, compare, demo, experiment or batch."),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="HTML file to write."),
    title: str | None = typer.Option(None, help="Page title."),
    max_rows: int = typer.Option(5000, help="Most rows per case table."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Write one self-contained HTML report (no network) of saved results."""
    import time

    from steerlens.outputs import check_writable
    from steerlens.web.report import build_report

    if out.exists() and out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name such as report.html")
    if out.exists() and not out.is_file():  # a FIFO or a device would be replaced by the report
        raise ConfigError(f"--out {out} is not a regular file; give a file name such as report.html")
    if max_rows < 1:
        raise ConfigError(f"--max-rows must be at least 1, got {max_rows}")
    check_writable(out.parent if str(out.parent) else Path("."))
    t0 = time.perf_counter()
    path = build_report(folders, out, title=title, max_rows=max_rows)
    if not quiet:
        size = path.stat().st_size / 1e6
        typer.echo(f"wrote {path} ({size:.1f} MB, {time.perf_counter() - t0:.1f} s)")


def served_models(
    model: list[str], only: bool, device: str, weights: Path | None = None,
    input_size: str | None = None, channels: int | None = None, class_names: Path | None = None,
    normalize: str | None = None, echo: Callable[[str], None] | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """The app's model names and its user models, loaded now as ``morph`` loads them.

    Every ``--model`` that is not a built-in is loaded with the user-model options through
    :func:`steerlens.cli.common.load_model_for`, so a bad spec fails at start-up, in one line, not
    on the first request.

    Examples
    --------
    >>> served_models(["mnist-cnn"], only=True, device="cpu")
    (['mnist-cnn'], {})
    >>> served_models([], only=False, device="cpu", channels=1)
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: --channels applies to a user --model (TorchScript file, module:factory, hf:, robustness:...); no such --model was given
    """
    from steerlens.cli.common import load_model_for
    from steerlens.models.registry import BUILTINS
    from steerlens.web.app import DEFAULT_MODELS

    names = list(model) if only else DEFAULT_MODELS + [m for m in model if m not in DEFAULT_MODELS]
    if not names:
        raise ConfigError("--only needs at least one --model")
    user = [m for m in dict.fromkeys(model) if m.lower() not in BUILTINS]
    given = [flag for flag, v in (("--weights", weights), ("--input-size", input_size),
                                  ("--channels", channels), ("--class-names", class_names),
                                  ("--normalize", normalize)) if v is not None]
    if given and not user:
        raise ConfigError(f"{given[0]} applies to a user --model (TorchScript file, module:factory, "
                          "hf:, robustness:...); no such --model was given")
    loaded = {spec: load_model_for(spec, weights, device, True, input_size, channels,
                                   class_names, normalize).eval() for spec in user}
    for spec, clf in loaded.items():
        if echo is not None:
            echo(f"model {spec}: {clf.channels}x{clf.input_size[0]}x{clf.input_size[1]}, "
                 f"{len(clf.class_names)} classes")
    return list(dict.fromkeys(names)), loaded


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind; anything but loopback is reachable by others."),
    port: int = typer.Option(8000, help="TCP port."),
    model: list[str] = typer.Option([], "--model", "-m", help="Extra model to offer: a built-in name or any spec morph takes (TorchScript file, module:factory, hf:, robustness:...); repeatable."),
    weights: Path | None = typer.Option(None, help="State-dict file for a module:factory --model."),
    input_size: str | None = InputSizeOpt,
    channels: int | None = ChannelsOpt,
    class_names: Path | None = ClassNamesOpt,
    normalize: str | None = NormalizeOpt,
    only: bool = typer.Option(False, "--only", help="Serve only the --model models, not the built-ins."),
    runs_dir: Path | None = typer.Option(None, help="Folder for run outputs (default: a temporary folder)."),
    ttl: float = typer.Option(3600.0, help="Seconds a run's outputs are kept."),
    max_upload_mb: float = typer.Option(10.0, help="Largest upload in MB."),
    max_megapixels: float = typer.Option(25.0, help="Largest upload in megapixels."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or mps."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Run the web app: pick or upload an image, run a morph, scrub it, download GIF/MP4/npz/JSON.

    ``--model`` takes every spec ``morph`` takes; the user-model options (``--weights``,
    ``--input-size``, ``--channels``, ``--class-names``, ``--normalize``) apply to each ``--model``
    that is not a built-in, loaded at start-up by the loader ``morph`` uses.
    """
    import math

    from steerlens.outputs import check_writable
    from steerlens.validation import check_device
    from steerlens.web.app import AppConfig
    from steerlens.web.server import bind_socket, run_server
    from steerlens.web.uploads import UploadLimits

    if not 0 < port < 65536:
        raise ConfigError(f"--port must be 1-65535, got {port}")
    for flag, value in (("--max-upload-mb", max_upload_mb), ("--max-megapixels", max_megapixels),
                        ("--ttl", ttl)):
        if not (math.isfinite(value) and value > 0) or (flag != "--ttl" and value * 1e6 < 1):
            raise ConfigError(f"{flag} must be a finite number above 0, got {value}")
    check_device(device)  # the app's models load on it: a device this machine lacks fails here
    if runs_dir is not None:
        check_writable(runs_dir, "--runs-dir")
    names, loaded = served_models(model, only, device, weights, input_size, channels,
                                  class_names, normalize, echo=None if quiet else typer.echo)
    sock = bind_socket(host, port)  # an empty, unknown or busy address: one line, before output
    if host not in _LOCAL_HOSTS:
        typer.echo(
            f"warning: binding to {host}: anyone who can reach this machine can run models on it "
            "and read the results; there is no authentication",
            err=True,
        )
    cfg = AppConfig(
        models=names,
        runs_dir=runs_dir,
        ttl_s=ttl,
        limits=UploadLimits(int(max_upload_mb * 1e6), int(max_megapixels * 1e6)),
        device=device,
        loaded=loaded,
    )
    try:
        run_server(cfg, host=host, port=port, echo=None if quiet else typer.echo, sock=sock)
    except (Interrupted, Terminated):  # uvicorn has shut down cleanly, then re-raised the signal
        if not quiet:
            typer.echo("stopped")


def register(app: typer.Typer) -> None:
    """Add the ``report`` and ``serve`` commands to the ``steerlens`` CLI.

    Examples
    --------
    >>> app = typer.Typer()
    >>> register(app)
    >>> [c.name for c in app.registered_commands]
    ['report', 'serve']
    """
    app.command("report")(report)
    app.command("serve")(serve)
