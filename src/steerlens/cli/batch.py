"""``steerlens batch``: morph a folder, ImageFolder, manifest or built-in dataset, resumably.

:func:`register` adds the command to the main Typer app (:mod:`steerlens.cli.main` calls it). Its
MorphConfig options are generated from the config's declarations, like ``morph``'s.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from steerlens.cli.common import parse_size
from steerlens.cli.options import config_options
from steerlens.cli.signals import Interrupted, Terminated
from steerlens.config import MorphConfig
from steerlens.errors import ConfigError
from steerlens.option import parse_numbers, split_list
from steerlens.validation import check_device

__all__ = ["BATCH_AXES", "batch", "register"]

#: the grid's axes: --methods, --regime (several) and --budgets set these per group
BATCH_AXES = ("method", "regime", "l2_budget")


def _resources(value: str | None) -> dict[str, float] | None:
    if not value:
        return None
    out = {}
    for part in split_list(value):
        name, sep, amount = part.partition("=")
        try:
            out[name.strip()] = float(amount) if sep else 1.0
        except ValueError:
            raise ConfigError(f"--resources must look like GPU=1,MEM=4e9; got {value!r}") from None
    return out


def _config_fields(pairs: list[str]) -> dict:
    """``--set KEY=VALUE`` pairs as MorphConfig fields (``VALUE`` parsed as JSON when it can be).

    Examples
    --------
    >>> _config_fields(["goal_p=0.8", "padding=zeros"])
    {'goal_p': 0.8, 'padding': 'zeros'}
    """
    import dataclasses
    import json

    from steerlens.config import MorphConfig

    names = {f.name for f in dataclasses.fields(MorphConfig)} - {"method", "regime", "l2_budget"}
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in names:
            raise ConfigError(
                f"--set takes KEY=VALUE with KEY one of {', '.join(sorted(names))}; got {pair!r}"
            )
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


@config_options(exclude=BATCH_AXES)
def batch(
    source: str = typer.Argument(..., metavar="INPUT", help="Folder of images (recursive), ImageFolder (class per sub-folder), .csv/.jsonl manifest (image, target, source columns) or a built-in dataset (mnist, fashion-mnist[:train])."),
    model: str = typer.Option("efficientnet-lite0", "--model", "-m", help="Driver: built-in name, TorchScript file, module:factory, torchvision:NAME or timm:NAME."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (a rerun resumes it)."),
    target: str | None = typer.Option(None, "--target", "-t", help="Class name or index, runner-up, all, or manifest (default: the manifest's targets, else runner-up)."),
    max_targets: int = typer.Option(10, "--max-targets", help="With --target all: at most this many targets per image (most probable first)."),
    methods: str = typer.Option("csp-phase", "--methods", help="Comma-separated methods."),
    budgets: str | None = typer.Option(None, "--budgets", help="Comma-separated final pixel-L2 budgets (default: aim at --goal-p)."),
    regime: str = typer.Option("one-step", "--regime", help="one-step, live, persistent (comma-separated for several)."),
    config: MorphConfig = None,  # type: ignore[assignment]  # generated MorphConfig options
    set_: list[str] | None = typer.Option(None, "--set", help="Any other MorphConfig field as KEY=VALUE (VALUE read as JSON, else text); repeatable."),
    judges: str | None = typer.Option(None, "--judges", help="Comma-separated judge models scored on source and last frame (never differentiated)."),
    weights: Path | None = typer.Option(None, help="State-dict file for a module:factory model."),
    input_size: str | None = typer.Option(None, "--input-size", help="User models: 'H,W' or 'S'."),
    channels: int | None = typer.Option(None, "--channels", help="User models: 1 or 3."),
    class_names: Path | None = typer.Option(None, "--class-names", help="User models: one class name per line."),
    normalize: str | None = typer.Option(None, "--normalize", help="User models: none | imagenet | tflite | 'mean,std'."),
    layout: str = typer.Option("auto", "--layout", help="Folders: auto, folder or imagefolder."),
    limit: int | None = typer.Option(None, "--limit", help="Use N images: spread over the classes (stratified by --seed) where every image has a label (datasets, ImageFolders), else the first N by name."),
    batch_size: int = typer.Option(16, "--batch-size", help="Cases per morph_batch call and per chunk."),
    artefacts: str = typer.Option("final", "--artefacts", help="Per case: none, final (result.json, final.png, source.png) or all (+ GIF, filmstrip, curves, frames.npz)."),
    workers: int | None = typer.Option(None, "--workers", help="Start a local Dask cluster of N worker processes."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Use a running Dask cluster: tcp://HOST:PORT or a scheduler file."),
    resources: str | None = typer.Option(None, "--resources", help="Dask resources per chunk, e.g. GPU=1."),
    device: str = typer.Option("auto", help="Device of each worker: auto (a GPU where the worker has one), cpu, cuda, cuda:N."),
    threads: str | None = typer.Option(None, "--threads", help="Torch threads per worker: a number (default: STEERLENS_THREADS, else 1 per worker; parallelism comes from --workers)."),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop at the first failed case."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Rerun cases recorded as failed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or log lines."),
) -> None:
    """Morph every image of INPUT toward its targets; writes results.parquet/.csv, summary.md, cases/."""
    from dataclasses import replace

    from steerlens.batch import run_batch
    from steerlens.threads import worker_threads

    # in-process runs check the device here; Dask workers check their own
    check_device(device, auto=True, local=workers is None and scheduler is None)
    per_worker = worker_threads(threads)  # one line for a bad --threads / STEERLENS_THREADS
    cfg = replace(config, **_config_fields(set_ or [])).validate()  # --set wins over the flags
    options = {"input_size": parse_size(input_size), "channels": channels,
               "class_names": class_names, "normalize": normalize}
    echo = (lambda m: None) if quiet else (lambda m: typer.echo(m, err=True))
    command = "steerlens " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None
    try:
        report = run_batch(
            source, model, out, target=target, max_targets=max_targets,
            methods=split_list(methods), regimes=split_list(regime),
            budgets=parse_numbers(budgets, "--budgets") or [None], config=cfg,
            weights=None if weights is None else str(weights), model_options=options,
            judges=split_list(judges), layout=layout, limit=limit, batch_size=batch_size,
            artefacts=artefacts, workers=workers, scheduler=scheduler,
            resources=_resources(resources), device=device, threads=per_worker,
            fail_fast=fail_fast, retry_failed=retry_failed, progress=not quiet, echo=echo,
            command=command,
        )
    except BaseException as e:
        stopped = isinstance(e, KeyboardInterrupt | Interrupted | Terminated)
        if stopped and (out / "cases.jsonl").is_file():
            # the CLI's SIGINT/SIGTERM exceptions: finished cases and the table are on disk
            typer.echo(f"stopped: finished cases are recorded in {out} (results.parquet is up to "
                       "date); rerun the same command to resume", err=True)
        raise
    if not quiet:
        taken = f"images: {report.selection}; " if report.selection else ""
        typer.echo(
            f"{taken}{report.cases} cases ({report.new} new, {report.cases - report.pending} already done, "
            f"{report.failed} failed) in {report.runtime_s:.1f} s; wrote {out}/results.parquet, "
            "results.csv and summary.md"
        )


def register(app: typer.Typer) -> None:
    """Add ``batch`` to the ``steerlens`` command line.

    Examples
    --------
    >>> import typer
    >>> app = typer.Typer()
    >>> register(app)
    >>> [c.name for c in app.registered_commands]
    ['batch']
    """
    app.command("batch")(batch)
