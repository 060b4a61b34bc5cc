"""The ``steerlens`` command line: morph, compare, demo, models (and train/experiment).

Every user-caused error prints one line ``error: ...`` and exits with status 2, without a traceback
and without leaving a partial output directory.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import typer

try:  # typer >= 0.20 vendors click as typer._click; older typer uses click itself
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_exceptions

from steerlens.errors import ConfigError, SteerlensError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Show how an image classifier would change an image to move it to another class.",
)

_STATE = {"quiet": False}


def _echo(msg: str) -> None:
    if not _STATE["quiet"]:
        typer.echo(msg)


def _setup(quiet: bool, seed: int, device: str) -> object:
    import torch

    _STATE["quiet"] = quiet
    torch.manual_seed(seed)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device} requested but CUDA is not available; use --device cpu")
    if device != "cpu" and not device.startswith("cuda") and device != "mps":
        raise ConfigError(f"unknown --device {device!r}; use cpu, cuda or cuda:N")
    return torch.device(device)


def _parse_amplification(value: str) -> str | list[float]:
    if value.strip().lower() == "auto":
        return "auto"
    try:
        amps = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(
            f"--amplification must be 'auto' or comma-separated numbers like 0,1,2, got {value!r}"
        ) from None
    if not amps or any(a < 0 for a in amps):
        raise ConfigError("--amplification values must be non-negative numbers, e.g. 0,0.5,1")
    if amps != sorted(amps):
        raise ConfigError("--amplification values must be increasing, e.g. 0,0.5,1")
    return amps


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory; choose another path")


# options shared by every command that loads a user model
InputSizeOpt = typer.Option(None, "--input-size", help="User models: input size 'H,W' or 'S' (default 224).")
ChannelsOpt = typer.Option(None, "--channels", help="User models: 1 or 3 input channels (default 3).")
ClassNamesOpt = typer.Option(None, "--class-names", help="User models: file with one class name per line.")
NormalizeOpt = typer.Option(None, "--normalize", help="User models: none | imagenet | tflite | 'mean,std'.")


def _parse_size(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        parts = [int(v) for v in value.replace("x", ",").split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--input-size must be 'H,W' or one number, got {value!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 8:
        raise ConfigError(f"--input-size must be 'H,W' with both at least 8, got {value!r}")
    return parts[0], parts[1]


def _load(model: str, weights: Path | None, device, quiet: bool, input_size: str | None = None,
          channels: int | None = None, class_names: Path | None = None,
          normalize: str | None = None):
    from steerlens.models import load_model

    if weights is not None and not weights.exists():
        raise ConfigError(f"weights file {weights} does not exist; check the --weights path")
    if class_names is not None and not class_names.exists():
        raise ConfigError(f"class-names file {class_names} does not exist; check the --class-names path")
    extra = {k: v for k, v in {"input_size": _parse_size(input_size), "channels": channels,
                                   "class_names": class_names, "normalize": normalize}.items() if v is not None}
    return load_model(model, weights=weights, device=device, progress=not quiet, **extra)


# ----------------------------------------------------------------------------- commands
@app.command()
def morph(
    image: Path = typer.Argument(..., help="Image file (PNG, JPEG, ...)."),
    model: str = typer.Option("efficientnet-lite0", "--model", "-m", help="Built-in name, TorchScript file, module:factory, torchvision:NAME or timm:NAME."),
    target: str = typer.Option(..., "--target", "-t", help="Target class index or name."),
    method: str = typer.Option("csp-phase", help="csp-phase | csp-amplitude | csp-joint | fourier-phase | fourier-amplitude | fourier-joint | pixel"),
    frames: int = typer.Option(12, help="Number of frames (>= 2)."),
    amplification: str = typer.Option("auto", help="'auto' or comma-separated amplifications."),
    goal_p: float = typer.Option(0.9, help="Target probability that 'auto' aims for."),
    budget: float | None = typer.Option(None, help="Aim 'auto' at this pixel-L2 distance instead of --goal-p."),
    regime: str = typer.Option("one-step", help="one-step (the paper's), live (re-analyse each step) or persistent (accumulate on the source coefficients; projected onto --budget)."),
    normalization: str = typer.Option("global-max", help="global-max | per-scale | motion | none"),
    color: str = typer.Option("rgb", help="rgb (per channel) or luminance (YIQ Y only)."),
    loss: str = typer.Option("nll", help="nll (target NLL) or margin (source - target logit)."),
    weights: Path | None = typer.Option(None, help="State-dict file for a module:factory model."),
    input_size: str | None = InputSizeOpt,
    channels: int | None = ChannelsOpt,
    class_names: Path | None = ClassNamesOpt,
    normalize: str | None = NormalizeOpt,
    out: Path = typer.Option(Path("out/morph"), "--out", "-o", help="Output directory."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N."),
    seed: int = typer.Option(0, help="Random seed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Morph IMAGE toward --target and write GIF, filmstrip, curves, frames.npz and result.json."""
    from steerlens.api import morph as run_morph
    from steerlens.config import MorphConfig

    dev = _setup(quiet, seed, device)
    _check_out_dir(out)
    amps = _parse_amplification(amplification)
    cfg = MorphConfig(
        method=method, frames=frames, amplification=amps, goal_p=goal_p, l2_budget=budget,
        regime=regime, normalization=normalization, color=color, loss=loss, seed=seed,
    ).validate()
    if not image.exists():
        raise ConfigError(f"image {image} does not exist; check the path") from None
    clf = _load(model, weights, dev, quiet, input_size, channels, class_names, normalize)
    _echo(f"morphing {image} with {clf.name} toward {target!r} ({method}, {regime})")
    res = run_morph(clf, image, target, method, config=cfg, device=dev)
    res.settings["image"] = str(image)
    paths = res.save(out)
    _echo(res.summary())
    if res.overshoot is not None:
        typer.echo(f"warning: overshoot: {res.overshoot.message}", err=True)
    _echo(f"wrote {', '.join(sorted(p.name for p in paths.values()))} to {out}")


@app.command()
def compare(
    image: Path = typer.Argument(..., help="Image file."),
    model: str = typer.Option("efficientnet-lite0", "--model", "-m"),
    target: str = typer.Option(..., "--target", "-t"),
    methods: str = typer.Option("pixel,fourier-phase,csp-phase,csp-amplitude,csp-joint", help="Comma-separated methods."),
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
    device: str = typer.Option("cpu"),
    seed: int = typer.Option(0),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Run all methods on IMAGE, each taken to the same final pixel L2; one filmstrip and one table."""
    from steerlens.api import compare as run_compare
    from steerlens.config import parse_method

    dev = _setup(quiet, seed, device)
    _check_out_dir(out)
    names = [m.strip() for m in methods.split(",") if m.strip()]
    for m in names:
        parse_method(m)
    if frames < 2:
        raise ConfigError(f"--frames must be at least 2, got {frames}")
    if budget is not None and budget <= 0:
        raise ConfigError(f"--budget must be a positive L2 distance, got {budget}")
    if not image.exists():
        raise ConfigError(f"image {image} does not exist; check the path")
    clf = _load(model, weights, dev, quiet, input_size, channels, class_names, normalize)
    _echo(f"comparing {len(names)} methods on {image} toward {target!r}")
    results = run_compare(clf, image, target, names, l2_budget=budget, frames=frames,
                          goal_p=goal_p, color=color, seed=seed, device=dev)
    write_comparison(results, out)
    for r in results.values():
        _echo("  " + r.summary())
    _echo(f"wrote compare.png, compare.md, compare.json and one folder per method to {out}")


def write_comparison(results: dict, out: Path) -> None:
    """Write a comparison atomically: filmstrip, markdown table, JSON and one folder per method."""
    from steerlens.render import compare_filmstrip, comparison_table

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".steerlens-"))
    try:
        compare_filmstrip(results, tmp / "compare.png")
        (tmp / "compare.md").write_text(comparison_table(results) + "\n")
        (tmp / "compare.json").write_text(
            json.dumps({m: r.manifest() for m, r in results.items()}, indent=2)
        )
        for m, r in results.items():
            r.save(tmp / m)
        _replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move a finished temporary directory into place (replacing ``out``)."""
    if out.exists():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=".steerlens-old-"))
        os.replace(out, old / "x")
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


@app.command()
def demo(
    out: Path = typer.Option(Path("out/demo"), "--out", "-o"),
    device: str = typer.Option("cpu"),
    seed: int = typer.Option(0),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Gallery of real morphs from built-in models and bundled images (no downloads)."""
    from steerlens.demo import run_demo

    dev = _setup(quiet, seed, device)
    _check_out_dir(out)
    t0 = time.perf_counter()
    index = run_demo(out, device=dev, progress=not quiet, echo=_echo)
    _echo(f"gallery: {index} ({time.perf_counter() - t0:.0f} s)")


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


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning user errors into one line and exit code 2."""
    warnings.showwarning = _show_warning
    try:
        app(args=argv, standalone_mode=False)
    except SteerlensError as e:
        typer.echo(f"error: {e}", err=True)
        return 2
    except click_exceptions.NoArgsIsHelpError:
        return 0
    except click_exceptions.UsageError as e:
        command = f"steerlens {e.ctx.info_name} --help" if e.ctx and e.ctx.info_name else "steerlens --help"
        typer.echo(f"error: {e.format_message()} (see {command})", err=True)
        return 2
    except click_exceptions.ClickException as e:
        typer.echo(f"error: {e.format_message()}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
