"""The ``steerlens`` command line: the app, its command groups, and how errors and signals end it.

Every user-caused error prints one line ``error: ...`` and exits with status 2, without a traceback
and without leaving a partial output directory. Errors that name an API parameter
(``ConfigError.parameter``) are printed with the CLI's flag for it (:data:`~steerlens.cli.options.FLAGS`).
"""

from __future__ import annotations

import importlib
import sys
import warnings

import typer

try:  # typer >= 0.20 vendors click as typer._click; older typer uses click itself
    from typer._click import exceptions as click_exceptions
    from typer.exceptions import Abort, Exit
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_exceptions
    from click.exceptions import Abort, Exit

from steerlens.cli import evaluate, rate, view
from steerlens.cli import morph as morph_commands
from steerlens.cli.options import FLAGS
from steerlens.cli.signals import Interrupted, Terminated, signals_as_exceptions
from steerlens.errors import ConfigError, SteerlensError

__all__ = ["app", "error_line", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # plain help text: rich markup would swallow "[video]" in "pip install 'steerlens[video]'"
    rich_markup_mode=None,
    help="Show how an image classifier would change an image to move it to another class.",
)


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


#: command groups, each with a ``register(app)``
COMMAND_GROUPS = (morph_commands, evaluate, view, rate)
#: modules that may be absent (an optional extra): registered when they import
OPTIONAL_COMMAND_MODULES = ("steerlens.cli.batch",)


def _register_commands() -> None:
    for group in COMMAND_GROUPS:
        group.register(app)
    for name in OPTIONAL_COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:  # the module exists but one of its imports is missing: a real bug
                raise
            continue
        module.register(app)


_register_commands()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print library warnings as one line (no source excerpt)."""
    typer.echo(f"warning: {message}", err=True)


def error_line(err: SteerlensError) -> str:
    """The one line the CLI prints for a user error, parameters written as flags.

    Examples
    --------
    >>> error_line(ConfigError("l2_budget must be a positive L2 distance, got -1", "l2_budget"))
    'error: --budget must be a positive L2 distance, got -1'
    """
    text = err.named(FLAGS) if isinstance(err, ConfigError) else str(err)
    return f"error: {text}"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; user errors print one line and exit 2, Ctrl-C exits 130 and
    SIGTERM 143, each without a traceback and without partial output."""
    warnings.showwarning = _show_warning
    try:
        with signals_as_exceptions():
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
        typer.echo(error_line(e), err=True)
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
