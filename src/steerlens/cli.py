"""The ``steerlens`` command line: morph, compare, demo, models (and train/experiment).

Every user-caused error prints one line ``error: ...`` and exits with status 2, without a traceback
and without leaving a partial output directory.
"""

from __future__ import annotations

import math
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

try:  # typer >= 0.20 vendors click as typer._click; older typer uses click itself
    from typer._click import exceptions as click_exceptions
    from typer.exceptions import Abort, Exit
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_exceptions
    from click.exceptions import Abort, Exit

from steerlens.config import MAX_FRAMES, MAX_SEED
from steerlens.data.images import MAX_IMAGE_PIXELS
from steerlens.errors import ConfigError, SteerlensError
from steerlens.outputs import atomic_dir, check_writable, dumps_json

#: largest ``--input-size`` side for user models unless ``--max-pixels`` allows more
MAX_INPUT_SIDE = 4096

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # plain help text: rich markup would swallow "[video]" in "pip install 'steerlens[video]'"
    rich_markup_mode=None,
    help="Show how an image classifier would change an image to move it to another class.",
)

_STATE = {"quiet": False}


def _echo(msg: str) -> None:
    if not _STATE["quiet"]:
        typer.echo(msg)


def _setup(quiet: bool, seed: int, device: str) -> object:
    """Quiet flag, seed and device, checked before any work: one line for each bad value."""
    import torch

    _STATE["quiet"] = quiet
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed must be in 0..2**63-1, got {seed}")
    dev = parse_device(device)
    torch.manual_seed(seed)
    return dev


def parse_device(device: str) -> object:
    """A usable ``torch.device`` for ``--device``, or one line saying why not.

    Examples
    --------
    >>> str(parse_device("cpu"))
    'cpu'
    """
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown --device {device!r}; use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device} requested but CUDA is not available; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"--device {device}: there are {torch.cuda.device_count()} CUDA device(s); "
                "use cuda:0 .. cuda:N-1"
            )
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ConfigError(f"--device {device} requested but MPS is not available; use --device cpu")
    elif dev.type != "cpu":
        raise ConfigError(f"unsupported --device {device!r}; use cpu, cuda, cuda:N or mps")
    return dev


def _parse_amplification(value: str) -> str | list[float]:
    if value.strip().lower() == "auto":
        return "auto"
    fields = [v.strip() for v in value.split(",")]
    if any(not f for f in fields):
        raise ConfigError(
            f"--amplification has an empty field in {value!r}; write numbers like 0,1,2"
        )
    try:
        amps = [float(v) for v in fields]
    except ValueError:
        raise ConfigError(
            f"--amplification must be 'auto' or comma-separated numbers like 0,1,2, got {value!r}"
        ) from None
    if not all(math.isfinite(a) for a in amps):
        raise ConfigError(f"--amplification values must be finite numbers, got {value!r}")
    if not amps or any(a < 0 for a in amps):
        raise ConfigError("--amplification values must be non-negative numbers, e.g. 0,0.5,1")
    if amps != sorted(amps):
        raise ConfigError("--amplification values must be increasing, e.g. 0,0.5,1")
    return amps


def _check_out_dir(out: Path) -> None:
    check_writable(out)


# options shared by every command that loads a user model
InputSizeOpt = typer.Option(None, "--input-size", help="User models: input size 'H,W' or 'S' (default 224).")
ChannelsOpt = typer.Option(None, "--channels", help="User models: 1 or 3 input channels (default 3).")
ClassNamesOpt = typer.Option(None, "--class-names", help="User models: file with one class name per line.")
NormalizeOpt = typer.Option(None, "--normalize", help="User models: none | imagenet | tflite | 'mean,std'.")
MaxFramesOpt = typer.Option(MAX_FRAMES, "--max-frames", help="Refuse more frames than this.")
MaxPixelsOpt = typer.Option(MAX_IMAGE_PIXELS, "--max-pixels", help="Refuse larger images (width x height as stored) and input sizes.")


def _parse_size(value: str | None, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int] | None:
    if value is None:
        return None
    fields = [v.strip() for v in value.replace("x", ",").split(",")]
    try:
        parts = [int(v) for v in fields]
    except ValueError:
        raise ConfigError(f"--input-size must be 'H,W' or one number, got {value!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 8:
        raise ConfigError(f"--input-size must be 'H,W' with both at least 8, got {value!r}")
    if max(parts) > MAX_INPUT_SIDE or parts[0] * parts[1] > max_pixels:
        raise ConfigError(
            f"--input-size {value} is too large (at most {MAX_INPUT_SIDE} px per side and "
            f"{max_pixels / 1e6:.0f} megapixels); use a smaller size"
        )
    return parts[0], parts[1]


def _load(model: str, weights: Path | None, device, quiet: bool, input_size: str | None = None,
          channels: int | None = None, class_names: Path | None = None,
          normalize: str | None = None, max_pixels: int = MAX_IMAGE_PIXELS):
    from steerlens.models import load_model

    if weights is not None and not weights.exists():
        raise ConfigError(f"weights file {weights} does not exist; check the --weights path")
    if class_names is not None and not class_names.exists():
        raise ConfigError(f"class-names file {class_names} does not exist; check the --class-names path")
    extra = {k: v for k, v in {"input_size": _parse_size(input_size, max_pixels), "channels": channels,
                                   "class_names": class_names, "normalize": normalize}.items() if v is not None}
    return load_model(model, weights=weights, device=device, progress=not quiet, **extra)


def _model_and_image(image: Path, model: str, weights: Path | None, device, quiet: bool,
                     input_size: str | None, channels: int | None, class_names: Path | None,
                     normalize: str | None, max_pixels: int, video: bool):
    """The image's header and PyAV (for ``--video``) are checked before the model loads; then the
    model, and the image sized for it."""
    from steerlens.data.images import inspect_image, load_image

    inspect_image(image, max_pixels=max_pixels)
    if video:
        from steerlens.render.video import require_av

        require_av()
    clf = _load(model, weights, device, quiet, input_size, channels, class_names, normalize, max_pixels)
    x = load_image(image, size=clf.input_size, channels=clf.channels, min_size=8,
                   max_pixels=max_pixels)
    return clf, x


# ----------------------------------------------------------------------------- commands
def _print_version(value: bool) -> None:
    if value:
        import torch

        from steerlens import __version__

        typer.echo(f"steerlens {__version__} (torch {torch.__version__})")
        raise Exit(0)


@app.callback()
def _main_options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Show how an image classifier would change an image to move it to another class."""


@app.command()
def morph(
    image: Path = typer.Argument(..., help="Image file (PNG, JPEG, ...)."),
    model: str = typer.Option("efficientnet-lite0", "--model", "-m", help="Built-in name, TorchScript file, module:factory, torchvision:NAME or timm:NAME."),
    target: str = typer.Option(..., "--target", "-t", help="Target class index or name."),
    method: str = typer.Option("csp-phase", help="csp-phase | csp-amplitude | csp-joint | csp-motion | flow | fourier-phase | fourier-amplitude | fourier-joint | pixel"),
    frames: int = typer.Option(12, help="Number of frames (>= 2)."),
    amplification: str = typer.Option("auto", help="'auto' or comma-separated amplifications."),
    goal_p: float = typer.Option(0.9, help="Target probability that 'auto' aims for."),
    budget: float | None = typer.Option(None, help="Aim 'auto' at this pixel-L2 distance instead of --goal-p."),
    regime: str = typer.Option("one-step", help="one-step (the paper's), live (re-analyse each step) or persistent (accumulate on the source coefficients; projected onto --budget)."),
    normalization: str = typer.Option("global-max", help="global-max | per-scale | motion | none"),
    color: str = typer.Option("rgb", help="rgb (per channel) or luminance (YIQ Y only)."),
    loss: str = typer.Option("nll", help="nll (target NLL) or margin (source - target logit)."),
    flow_grid: int = typer.Option(8, help="flow / csp-motion: control points per side of the displacement grid."),
    flow_levels: int = typer.Option(1, help="flow: coarse-to-fine grids summed (1 = one grid)."),
    flow_padding: str = typer.Option("border", help="flow / csp-motion: border | zeros | reflection (what the warp reads outside the image)."),
    gif_arrows: bool = typer.Option(False, "--gif-arrows", help="Draw the displacement field on the GIF's frames (methods with one)."),
    phase_consistency: bool = typer.Option(True, "--phase-consistency/--no-phase-consistency", help="CSP phase edits: fit the displacement field that best explains each frame's phase change (a few ms)."),
    weights: Path | None = typer.Option(None, help="State-dict file for a module:factory model."),
    input_size: str | None = InputSizeOpt,
    channels: int | None = ChannelsOpt,
    class_names: Path | None = ClassNamesOpt,
    normalize: str | None = NormalizeOpt,
    out: Path = typer.Option(Path("out/morph"), "--out", "-o", help="Output directory."),
    video: bool = typer.Option(False, "--video", help="Also write morph.mp4 (H.264; needs PyAV: pip install 'steerlens[video]')."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or mps."),
    seed: int = typer.Option(0, help="Random seed (0..2**63-1)."),
    max_frames: int = MaxFramesOpt,
    max_pixels: int = MaxPixelsOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Morph IMAGE toward --target and write GIF, filmstrip, curves, frames.npz and result.json."""
    from steerlens.api import morph as run_morph
    from steerlens.config import MorphConfig

    # every check that needs no model comes first, so a bad flag never waits for a model to load
    dev = _setup(quiet, seed, device)
    _check_out_dir(out)
    amps = _parse_amplification(amplification)
    cfg = MorphConfig(
        method=method, frames=frames, amplification=amps, goal_p=goal_p, l2_budget=budget,
        regime=regime, normalization=normalization, color=color, loss=loss, seed=seed,
        flow_grid=flow_grid, flow_levels=flow_levels, flow_padding=flow_padding,
        phase_consistency=phase_consistency,
    ).validate(max_frames=max_frames)
    clf, x = _model_and_image(image, model, weights, dev, quiet, input_size, channels, class_names,
                              normalize, max_pixels, video)
    _echo(f"morphing {image} with {clf.name} toward {target!r} ({method}, {regime})")
    res = run_morph(clf, x, target, config=cfg, device=dev)
    res.settings["image"] = str(image)
    paths = res.save(out, gif_arrows=gif_arrows)
    if video:
        from steerlens.render.video import save_mp4

        paths["video"] = save_mp4(res, out / "morph.mp4")
    _echo(res.summary())
    if res.overshoot is not None:
        typer.echo(f"warning: overshoot: {res.overshoot.message}", err=True)
    _echo(f"wrote {', '.join(sorted(p.name for p in paths.values()))} to {out}")


@app.command()
def compare(
    image: Path = typer.Argument(..., help="Image file."),
    model: str = typer.Option("efficientnet-lite0", "--model", "-m"),
    target: str = typer.Option(..., "--target", "-t"),
    methods: str = typer.Option("pixel,fourier-phase,csp-phase,csp-amplitude,csp-joint,flow,csp-motion", help="Comma-separated methods."),
    frames: int = typer.Option(8, help="Frames per method."),
    budget: float | None = typer.Option(None, help="Shared final pixel L2; default: csp-phase's L2 at --goal-p."),
    goal_p: float = typer.Option(0.9),
    color: str = typer.Option("rgb"),
    weights: Path | None = typer.Option(None),
    input_size: str | None = InputSizeOpt,
    channels: int | None = ChannelsOpt,
    class_names: Path | None = ClassNamesOpt,
    normalize: str | None = NormalizeOpt,
    out: Path = typer.Option(Path("out/compare"), "--out", "-o"),
    video: bool = typer.Option(False, "--video", help="Also write compare.mp4 (methods side by side) and morph.mp4 per method; needs PyAV."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or mps."),
    seed: int = typer.Option(0, help="Random seed (0..2**63-1)."),
    max_frames: int = MaxFramesOpt,
    max_pixels: int = MaxPixelsOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Run all methods on IMAGE, each taken to the same final pixel L2; one filmstrip and one table."""
    from steerlens.api import compare as run_compare
    from steerlens.config import MorphConfig

    dev = _setup(quiet, seed, device)
    _check_out_dir(out)
    names = [m.strip() for m in methods.split(",")]
    if not all(names):
        raise ConfigError(f"--methods has an empty field in {methods!r}; write e.g. pixel,csp-phase")
    for m in names:  # every method's options checked before the model loads
        MorphConfig(method=m, frames=frames, goal_p=goal_p, l2_budget=budget, color=color,
                    seed=seed).validate(max_frames=max_frames)
    if len(set(names)) != len(names):
        raise ConfigError(f"--methods names a method twice in {methods!r}; list each once")
    clf, x = _model_and_image(image, model, weights, dev, quiet, input_size, channels, class_names,
                              normalize, max_pixels, video)
    _echo(f"comparing {len(names)} methods on {image} toward {target!r}")
    results = run_compare(clf, x, target, names, l2_budget=budget, frames=frames,
                          goal_p=goal_p, color=color, seed=seed, device=dev)
    write_comparison(results, out, video=video)
    for r in results.values():
        _echo("  " + r.summary())
    extra = ", compare.mp4" if video else ""
    _echo(f"wrote compare.png, compare.md, compare.json{extra} and one folder per method to {out}")


def write_comparison(results: dict, out: Path, video: bool = False) -> None:
    """Write a comparison atomically: filmstrip, markdown table, JSON and one folder per method.

    With ``video``, also ``compare.mp4`` (the methods side by side) and ``morph.mp4`` per method.
    """
    from steerlens.render import compare_filmstrip, comparison_markdown

    with atomic_dir(Path(out)) as tmp:
        compare_filmstrip(results, tmp / "compare.png")
        (tmp / "compare.md").write_text(comparison_markdown(results) + "\n")
        (tmp / "compare.json").write_text(dumps_json({m: r.manifest() for m, r in results.items()}))
        for m, r in results.items():
            r.save(tmp / m)
        if video:
            from steerlens.render.video import save_compare_mp4, save_mp4

            save_compare_mp4(results, tmp / "compare.mp4")
            for m, r in results.items():
                save_mp4(r, tmp / m / "morph.mp4")


@app.command()
def demo(
    out: Path = typer.Option(Path("out/demo"), "--out", "-o"),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or mps."),
    seed: int = typer.Option(0, help="Random seed (0..2**63-1)."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Gallery of real morphs from built-in models and bundled images (no downloads)."""
    from steerlens.demo import run_demo

    dev = _setup(quiet, seed, device)
    _check_out_dir(out)
    t0 = time.perf_counter()
    index = run_demo(out, device=dev, progress=not quiet, echo=_echo)
    _echo(f"gallery: {index} ({time.perf_counter() - t0:.0f} s)")


@app.command()
def samples(
    out: Path = typer.Argument(Path("."), help="Folder to write into (default: here)."),
) -> None:
    """Write the README's example files: cat.jpg, digit.png and photos/ (real, from installed packages)."""
    from steerlens.data.samples import write_samples

    check_writable(out)
    paths = write_samples(out)
    typer.echo(f"wrote {', '.join(str(p.relative_to(out)) for p in paths)} to {out}")


@app.command("models")
def models_cmd() -> None:
    """List built-in models with their input size and classes."""
    from steerlens.models import list_models

    for info in list_models():
        typer.echo(
            f"{info.name:24s} {info.channels}x{info.input_size[0]}x{info.input_size[1]:<5d} "
            f"{info.num_classes:5d} classes  {info.description}"
        )


#: modules that add subcommands with a ``register(app)`` function
COMMAND_MODULES = ("steerlens.cli_eval", "steerlens.cli_batch", "steerlens.cli_view")


def _register_optional_commands() -> None:
    """Add the subcommands that live in their own modules (train/experiment, batch, report/serve)."""
    import importlib

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:  # the module exists but one of its imports is missing: a real bug
                raise
            continue
        module.register(app)


_register_optional_commands()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print library warnings as one line (no source excerpt)."""
    typer.echo(f"warning: {message}", err=True)


class Interrupted(BaseException):
    """Ctrl-C (SIGINT) during a command. A ``BaseException`` so no ``except Exception`` swallows
    it, and not ``KeyboardInterrupt`` so click does not turn it into its own abort message."""

    exit_code = 130
    message = "interrupted (Ctrl-C); no partial output was left"


class Terminated(BaseException):
    """SIGTERM during a command (e.g. ``kill`` or a job scheduler's time limit)."""

    exit_code = 143
    message = "terminated (SIGTERM); no partial output was left"


@contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """Turn SIGINT/SIGTERM into :class:`Interrupted`/:class:`Terminated` while a command runs.

    Raising (instead of dying) unwinds every ``with atomic_dir(...)`` block, so temporary
    folders are removed and no partial output is moved into place.
    """

    def interrupt(signum, frame):
        raise Interrupted

    def terminate(signum, frame):
        raise Terminated

    try:
        old = {signal.SIGINT: signal.signal(signal.SIGINT, interrupt),
               signal.SIGTERM: signal.signal(signal.SIGTERM, terminate)}
    except ValueError:  # not the main thread: leave signal handling to the caller
        yield
        return
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; user errors print one line and exit 2, Ctrl-C exits 130 and
    SIGTERM 143, each without a traceback and without partial output."""
    warnings.showwarning = _show_warning
    try:
        with _signals_as_exceptions():
            app(args=argv, standalone_mode=False)
    except (Interrupted, Terminated) as e:
        typer.echo(f"error: {e.message}", err=True)
        return e.exit_code
    except KeyboardInterrupt:  # raised before our handler was installed
        typer.echo(f"error: {Interrupted.message}", err=True)
        return Interrupted.exit_code
    except Abort:
        typer.echo(f"error: {Interrupted.message}", err=True)
        return Interrupted.exit_code
    except SteerlensError as e:
        typer.echo(f"error: {e}", err=True)
        return e.exit_code
    except click_exceptions.NoArgsIsHelpError:
        return 0
    except click_exceptions.UsageError as e:
        name = e.ctx.info_name if e.ctx else None
        command = f"steerlens {name} --help" if name and name != "steerlens" else "steerlens --help"
        typer.echo(f"error: {e.format_message()} (see {command})", err=True)
        return 2
    except click_exceptions.ClickException as e:
        typer.echo(f"error: {e.format_message()}", err=True)
        return 2
    except Exit as e:
        return e.exit_code
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
