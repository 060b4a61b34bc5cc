"""``steerlens morph``, ``compare``, ``demo``, ``models`` and ``samples``: the morphing commands.

``morph`` and ``compare`` take every :class:`~steerlens.config.MorphConfig` option, generated from
its declarations (:func:`~steerlens.cli.options.config_options`). :func:`register` adds the
commands to the main Typer app.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import typer

from steerlens.cli.common import echo, model_and_image, setup
from steerlens.cli.options import (
    ChannelsOpt,
    ClassNamesOpt,
    DeviceOpt,
    InputSizeOpt,
    MaxFramesOpt,
    MaxPixelsOpt,
    NormalizeOpt,
    ThreadsOpt,
    config_options,
)
from steerlens.config import SIDE_BY_SIDE_METHODS, MorphConfig
from steerlens.errors import ConfigError
from steerlens.option import split_list
from steerlens.outputs import check_writable

__all__ = ["compare_cmd", "demo_cmd", "models_cmd", "morph_cmd", "register", "samples_cmd"]

#: what ``compare`` leaves to the API: each method's name comes from ``--methods``, and every
#: method is taken to one final L2, so no explicit amplification list
COMPARE_EXCLUDES = ("method", "amplification")


@config_options()
def morph_cmd(
    image: Path = typer.Argument(..., help="Image file (PNG, JPEG, ...)."),
    model: str = typer.Option("efficientnet-lite0", "--model", "-m", help="Built-in name, TorchScript file, module:factory, torchvision:NAME or timm:NAME."),
    target: str = typer.Option(..., "--target", "-t", help="Target class index or name."),
    config: MorphConfig = None,  # type: ignore[assignment]  # the generated MorphConfig options
    gif_arrows: bool = typer.Option(False, "--gif-arrows", help="Draw the displacement field on the GIF's frames (methods with one)."),
    weights: Path | None = typer.Option(None, help="State-dict file for a module:factory model."),
    input_size: str | None = InputSizeOpt,
    channels: int | None = ChannelsOpt,
    class_names: Path | None = ClassNamesOpt,
    normalize: str | None = NormalizeOpt,
    out: Path = typer.Option(Path("out/morph"), "--out", "-o", help="Output directory."),
    video: bool = typer.Option(False, "--video", help="Also write morph.mp4 (H.264; needs PyAV: pip install 'steerlens[video]')."),
    device: str = DeviceOpt,
    threads: str | None = ThreadsOpt,
    max_frames: int = MaxFramesOpt,
    max_pixels: int = MaxPixelsOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Morph IMAGE toward --target and write GIF, filmstrip, curves, frames.npz and result.json."""
    from steerlens.api import morph as run_morph

    # every check that needs no model comes first, so a bad flag never waits for a model to load
    from steerlens.threads import apply_thread_policy, job_size, parse_threads

    dev = setup(quiet, config.seed, device)
    parse_threads(threads, "--threads")
    check_writable(out)
    cfg = config.validate(max_frames=max_frames)
    clf, x = model_and_image(image, model, weights, dev, quiet, input_size, channels, class_names,
                             normalize, max_pixels, video)
    n_frames = len(cfg.amplification) if isinstance(cfg.amplification, list) else cfg.frames
    apply_thread_policy(job_size(x.shape[-2], x.shape[-1], x.shape[0], n_frames), threads)
    echo(f"morphing {image} with {clf.name} toward {target!r} ({cfg.method}, {cfg.regime})")
    res = run_morph(clf, x, target, config=cfg, device=dev)
    res = res.with_settings(image=str(image))
    paths = res.save(out, gif_arrows=gif_arrows)
    if video:
        from steerlens.render.video import save_mp4

        paths["video"] = save_mp4(res, out / "morph.mp4")
    echo(res.summary())
    if res.overshoot is not None:
        typer.echo(f"warning: overshoot: {res.overshoot.message}", err=True)
    echo(f"wrote {', '.join(sorted(p.name for p in paths.values()))} to {out}")


@config_options(exclude=COMPARE_EXCLUDES, defaults={"frames": 8})
def compare_cmd(
    image: Path = typer.Argument(..., help="Image file."),
    model: str = typer.Option("efficientnet-lite0", "--model", "-m", help="Built-in name, TorchScript file, module:factory, torchvision:NAME or timm:NAME."),
    target: str = typer.Option(..., "--target", "-t", help="Target class index or name."),
    methods: str = typer.Option(",".join(SIDE_BY_SIDE_METHODS), help="Comma-separated methods."),
    config: MorphConfig = None,  # type: ignore[assignment]  # the generated MorphConfig options
    weights: Path | None = typer.Option(None, help="State-dict file for a module:factory model."),
    input_size: str | None = InputSizeOpt,
    channels: int | None = ChannelsOpt,
    class_names: Path | None = ClassNamesOpt,
    normalize: str | None = NormalizeOpt,
    out: Path = typer.Option(Path("out/compare"), "--out", "-o", help="Output directory."),
    video: bool = typer.Option(False, "--video", help="Also write compare.mp4 (methods side by side) and morph.mp4 per method; needs PyAV."),
    device: str = DeviceOpt,
    threads: str | None = ThreadsOpt,
    max_frames: int = MaxFramesOpt,
    max_pixels: int = MaxPixelsOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Run all methods on IMAGE, each taken to the same final pixel L2; one filmstrip and one table."""
    from dataclasses import replace

    from steerlens.api import compare as run_compare
    from steerlens.render import write_comparison
    from steerlens.threads import apply_thread_policy, job_size, parse_threads

    dev = setup(quiet, config.seed, device)
    parse_threads(threads, "--threads")
    check_writable(out)
    names = split_list(methods, "--methods", empty_fields=False, hint="write e.g. pixel,csp-phase")
    for m in names:  # every method's options checked before the model loads
        replace(config, method=m).validate(max_frames=max_frames)
    if len(set(names)) != len(names):
        raise ConfigError(f"--methods names a method twice in {methods!r}; list each once")
    clf, x = model_and_image(image, model, weights, dev, quiet, input_size, channels, class_names,
                             normalize, max_pixels, video)
    apply_thread_policy(job_size(x.shape[-2], x.shape[-1], 1, config.frames), threads)
    echo(f"comparing {len(names)} methods on {image} toward {target!r}")
    options = {k: v for k, v in asdict(config).items() if k not in (*COMPARE_EXCLUDES, "l2_budget")}
    results = run_compare(clf, x, target, names, l2_budget=config.l2_budget, device=dev, **options)
    write_comparison(results, out, video=video)
    for r in results.values():
        echo("  " + r.summary())
    extra = ", compare.mp4" if video else ""
    echo(f"wrote compare.png, compare.md, compare.json{extra} and one folder per method to {out}")


def demo_cmd(
    out: Path = typer.Option(Path("out/demo"), "--out", "-o", help="Output directory."),
    device: str = DeviceOpt,
    seed: int = typer.Option(0, help="Random seed (0..2**63-1)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Gallery of real morphs from built-in models and bundled images (no downloads)."""
    from steerlens.demo import run_demo

    dev = setup(quiet, seed, device)
    check_writable(out)
    t0 = time.perf_counter()
    index = run_demo(out, device=dev, progress=not quiet, echo=echo)
    echo(f"gallery: {index} ({time.perf_counter() - t0:.0f} s)")


def samples_cmd(
    out: Path = typer.Argument(Path("."), help="Folder to write into (default: here)."),
) -> None:
    """Write the README's example files: cat.jpg, digit.png and photos/ (real, from installed packages)."""
    from steerlens.data.samples import write_samples

    check_writable(out)
    paths = write_samples(out)
    typer.echo(f"wrote {', '.join(str(p.relative_to(out)) for p in paths)} to {out}")


def models_cmd() -> None:
    """List built-in models with their input size and classes."""
    from steerlens.models import list_models

    for info in list_models():
        typer.echo(
            f"{info.name:24s} {info.channels}x{info.input_size[0]}x{info.input_size[1]:<5d} "
            f"{info.num_classes:5d} classes  {info.description}"
        )


def register(app: typer.Typer) -> None:
    """Add ``morph``, ``compare``, ``demo``, ``samples`` and ``models`` to the command line.

    Examples
    --------
    >>> app = typer.Typer()
    >>> register(app)
    >>> [c.name for c in app.registered_commands]
    ['morph', 'compare', 'demo', 'samples', 'models']
    """
    app.command("morph")(morph_cmd)
    app.command("compare")(compare_cmd)
    app.command("demo")(demo_cmd)
    app.command("samples")(samples_cmd)
    app.command("models")(models_cmd)
