"""``steerlens train`` and ``steerlens experiment``: the evaluation commands of the CLI.

:func:`register` adds both commands to the main Typer app (:mod:`steerlens.cli.main` calls it).
``experiment`` takes every :class:`~steerlens.config.MorphConfig` option that is not an axis of
its grid, generated from the declarations: an option given applies to every variant (a
variant's own setting, e.g. the sweep's grid, wins) and renames it, so its cases never mix with
cases run without it; an option not given follows the experiment's protocol.
"""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from steerlens.cli.options import config_options
from steerlens.errors import ConfigError
from steerlens.option import parse_numbers, split_list

if TYPE_CHECKING:
    from steerlens.experiments.specs import Variant

__all__ = ["EXPERIMENT_EXCLUDES", "experiment", "register", "train"]

#: the grid's axes (``--methods``, ``--regimes``, ``--budgets``) and what budgets replace
EXPERIMENT_EXCLUDES = ("method", "regime", "l2_budget", "amplification")


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return split_list(value) or None


def _floats(value: str | None, what: str) -> list[float] | None:
    """Comma-separated finite numbers (NaN and infinity are refused with a one-line error).

    Examples
    --------
    >>> _floats("1, 2.5", "--budgets")
    [1.0, 2.5]
    >>> _floats("1,inf", "--budgets")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: --budgets must be comma-separated finite numbers like 1,2; got '1,inf'
    """
    if value is None:
        return None
    nums = parse_numbers(value, what)
    if not nums:
        raise ConfigError(f"{what} must be comma-separated finite numbers like 1,2; got {value!r}")
    return nums


def _with_options(variant: Variant, given: dict) -> Variant:
    """``variant`` with the options given on the command line (its own settings win).

    Examples
    --------
    >>> from steerlens.experiments.specs import Variant
    >>> _with_options(Variant("default"), {"readout_grid": 6, "scales": [1, 2]}).name
    'default+readout_grid=6+scales=1,2'
    """
    extra = {k: v for k, v in given.items() if k not in variant.overrides}
    if not extra:
        return variant
    shown = "+".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                     for k, v in extra.items())
    return replace(variant, name=f"{variant.name}+{shown}",
                   overrides={**extra, **variant.overrides})


def train(
    dataset: str = typer.Argument(..., help="mnist, fashion-mnist or synthetic-<family> (translation, rotation, rotation4, scale, shape)."),
    robust: bool = typer.Option(False, "--robust", help="L2-PGD adversarial training."),
    arch: str = typer.Option("cnn", "--arch", help="cnn | resnet-mini | mlp"),
    seed: int = typer.Option(0, "--seed", help="Training seed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    retrain: bool = typer.Option(False, "--retrain", help="Train anew even where the weights ship in the package or sit in the cache; the new weights go to the cache and are used from then on."),
) -> None:
    """Train (or load the shipped or cached weights of) a classifier; print its accuracy."""
    import torch

    from steerlens.experiments.sources import dataset_split
    from steerlens.models.architectures import ARCHITECTURES
    from steerlens.models.training import get_or_train

    if arch not in ARCHITECTURES:
        raise ConfigError(f"unknown --arch {arch!r}; use one of {', '.join(sorted(ARCHITECTURES))}")
    torch.manual_seed(seed)
    data = dataset_split(dataset) if dataset.startswith("synthetic-") else dataset
    if not dataset.startswith("synthetic-"):
        dataset_split(dataset)  # one-line error for unknown names / missing Fashion-MNIST
    t0 = time.perf_counter()
    clf = get_or_train(
        data, arch, robust=robust, seed=seed, progress=not quiet, retrain=retrain
    )
    s = clf.spec
    typer.echo(
        f"{clf.name}: clean accuracy {100 * s['clean_acc']:.1f}%, robust accuracy "
        f"{100 * s['robust_acc']:.1f}% (L2 eps {s['eval_eps']:.3g}, "
        f"{s['robust_eval']['steps']}-step PGD on {s['robust_eval']['n']} test images); "
        f"trained in {s['train_time_s']:.0f} s, {time.perf_counter() - t0:.0f} s this call"
    )


@config_options(exclude=EXPERIMENT_EXCLUDES, unset=True)
def experiment(
    name: str = typer.Argument(..., help="mnist | fashion-mnist | synthetic | sweep"),
    sources: int | None = typer.Option(None, "--sources", help="Held-out sources per dataset (default: the protocol's)."),
    budgets: str | None = typer.Option(None, "--budgets", help="Comma-separated final pixel L2 budgets, e.g. 1,2."),
    absolute_budgets: bool = typer.Option(False, "--absolute-budgets", help="synthetic: read --budgets as pixel L2, not as multiples of each family's true change."),
    methods: str | None = typer.Option(None, "--methods", help="Comma-separated methods (default: pixel, fourier-phase, csp-phase, csp-amplitude, csp-joint)."),
    regimes: str | None = typer.Option(None, "--regimes", help="Any of one-step, persistent, live (comma-separated)."),
    drivers: str | None = typer.Option(None, "--drivers", help="standard and/or robust."),
    live_sources: int | None = typer.Option(None, "--live-sources", help="Run the (slower) live regime on the first N sources only."),
    datasets: str | None = typer.Option(None, "--datasets", help="Override the datasets, e.g. synthetic-translation,synthetic-scale."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Results folder (default results/NAME, results/NAME-quick with --quick)."),
    quick: bool = typer.Option(False, "--quick", help="Few sources, one budget, cheap metrics (for tests)."),
    threads: int | None = typer.Option(None, "--threads", help="Torch CPU threads (default: torch's choice); 1 on a shared machine."),
    config: dict | None = None,  # the MorphConfig options given (the others: the protocol's)
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Run (or resume) an evaluation experiment; writes JSON, markdown, figures and a README."""
    import torch

    from steerlens.experiments import default_spec, run_experiment

    spec = default_spec(name, quick=quick)
    updates: dict = {}
    if sources is not None:
        updates["sources"] = sources
    for key, val in (("budgets", _floats(budgets, "--budgets")), ("methods", _csv(methods)),
                     ("regimes", _csv(regimes)), ("drivers", _csv(drivers)),
                     ("datasets", _csv(datasets))):
        if val is not None:
            updates[key] = val
    if absolute_budgets:
        updates["relative_budgets"] = False
    given = dict(config or {})
    if "frames" in given:
        updates["frames"] = given.pop("frames")
    if given:  # every variant takes the options given, under a name of its own (case keys)
        updates["variants"] = [_with_options(v, given) for v in spec.variants]
    if live_sources is not None:
        if live_sources < 1:
            raise ConfigError(f"--live-sources must be at least 1, got {live_sources}")
        updates["live_sources"] = live_sources
    spec = replace(spec, **updates).validate()
    out = out or Path("results") / (f"{name}-quick" if quick else name)
    command = "steerlens " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    echo = (lambda m: None) if quiet else typer.echo
    report = run_experiment(spec, out, command=command, progress=not quiet, echo=echo)
    echo(
        f"{report.name}: {report.n_cases} cases summarised ({report.n_new} new) in "
        f"{report.runtime_s:.0f} s; wrote {out}/README.md, results.json, results.md and "
        f"{sum(1 for p in report.files if p.suffix == '.png')} figures"
    )


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``experiment`` to the ``steerlens`` command line.

    Examples
    --------
    >>> import typer
    >>> app = typer.Typer()
    >>> register(app)
    >>> sorted(c.name for c in app.registered_commands)
    ['experiment', 'train']
    """
    app.command("train")(train)
    app.command("experiment")(experiment)
