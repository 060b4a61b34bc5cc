"""CLI options generated from :class:`~steerlens.config.MorphConfig`'s declarations.

:func:`config_options` adds one ``typer`` option per ``MorphConfig`` field to a command (flag,
help, default and type all read from the field's :class:`~steerlens.option.Option`) and hands the
command one ``config``. :data:`FLAGS` is how the CLI names each API parameter in error messages
(``l2_budget`` -> ``--budget``). The options every model-loading command shares (``--input-size``
...) are declared here too.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import typer

from steerlens.config import MAX_FRAMES, MorphConfig, options
from steerlens.data.images import MAX_IMAGE_PIXELS
from steerlens.option import Option, check_value, parse_text

__all__ = ["FLAGS", "config_options", "typer_parameter"]

F = TypeVar("F", bound=Callable[..., Any])

#: The CLI's name for each parameter an error may name (:meth:`ConfigError.named
#: <steerlens.errors.ConfigError.named>`): every MorphConfig option's flag, and the CLI's own.
FLAGS: dict[str, str] = {name: opt.flag for name, opt in options().items()} | {
    "max_frames": "--max-frames",
    "max_pixels": "--max-pixels",
    "device": "--device",
}

#: kinds click converts itself; the others are read as text and parsed by :func:`parse_text`
_CLICK_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool}


def _as_text(value: Any) -> Any:
    """A default as the CLI shows and reads it: lists comma-separated, the rest unchanged."""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return value


def typer_parameter(name: str, option: Option, default: Any) -> inspect.Parameter:
    """One ``typer`` option for one MorphConfig field, as a signature parameter.

    Examples
    --------
    >>> p = typer_parameter("l2_budget", options()["l2_budget"], None)
    >>> p.name, p.default.param_decls, p.default.default
    ('l2_budget', ('--budget',), None)
    """
    typ = _CLICK_TYPES.get(option.kind, str)
    annotation: Any = typ if default is not None else typ | None
    if option.kind == "bool" and option.off_flag:
        decls = (f"{option.flag}/{option.off_flag}",)
    else:
        decls = (option.flag,)
    info = typer.Option(_as_text(default), *decls, help=option.help)
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=info,
                             annotation=annotation)


def _value(name: str, option: Option, given: Any) -> Any:
    """A CLI value as the config field takes it (text kinds parsed, the others as click read them)."""
    if given is None or option.kind in _CLICK_TYPES or option.kind in ("choice", "text"):
        return given
    return parse_text(name, option, given)


def config_options(exclude: Iterable[str] = (), defaults: Mapping[str, Any] | None = None,
                   unset: bool = False) -> Callable[[F], F]:
    """Give a command every MorphConfig option, generated from the field declarations.

    The command declares a parameter ``config``; the options take its place in ``--help``, and
    the command receives the :class:`~steerlens.config.MorphConfig` they make (not yet
    validated: the command calls ``validate`` with its own frame limit). Text options
    (``--amplification``, ``--scales``, ``--n-scales``) are parsed here, with one-line errors.

    Parameters
    ----------
    exclude
        Fields this command sets some other way (e.g. ``compare``'s ``--methods`` list).
    defaults
        This command's own defaults where they differ from MorphConfig's (``compare``:
        ``frames=8``).
    unset
        Every option defaults to "not given" and the command receives a dict of only the
        options given (``experiment``: the rest follow the experiment's protocol). Each value
        is still checked against its declaration.

    Examples
    --------
    >>> @config_options(exclude=["method"])
    ... def cmd(name: str = typer.Argument(...), config: MorphConfig = None) -> MorphConfig:
    ...     return config
    >>> params = inspect.signature(cmd).parameters
    >>> "method" in params, params["l2_budget"].default.param_decls, list(params)[0]
    (False, ('--budget',), 'name')
    >>> cmd("x", **{n: p.default.default for n, p in params.items() if n != "name"}).frames
    12
    """
    skip = set(exclude)
    own_defaults = dict(defaults or {})
    base = MorphConfig()

    def decorate(command: F) -> F:
        sig = inspect.signature(command, eval_str=True)
        params = list(sig.parameters.values())
        at = [p.name for p in params].index("config")
        fields = {n: o for n, o in options().items() if n not in skip}
        generated = [
            typer_parameter(n, o, None if unset else own_defaults.get(n, getattr(base, n)))
            for n, o in fields.items()
        ]
        clash = {p.name for p in params} & set(fields)
        if clash:
            raise TypeError(f"{command.__name__} declares MorphConfig options itself: {clash}")

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {n: kwargs.pop(n) for n in fields}
            values = {n: _value(n, fields[n], v) for n, v in given.items()}
            if unset:
                chosen = {n: v for n, v in values.items() if v is not None}
                for n, v in chosen.items():
                    check_value(n, fields[n], v)
                kwargs["config"] = chosen
            else:
                kwargs["config"] = MorphConfig(**values)
            return command(*args, **kwargs)

        new = params[:at] + generated + params[at + 1:]
        wrapper.__signature__ = sig.replace(parameters=new)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in new}
        del wrapper.__wrapped__  # typer must read the generated signature, not the original
        return wrapper  # type: ignore[return-value]

    return decorate


# ----------------------------------------------------------------------------- shared options
# options shared by every command that loads a user model
InputSizeOpt = typer.Option(None, "--input-size", help="User models: input size 'H,W' or 'S' (default 224).")
ChannelsOpt = typer.Option(None, "--channels", help="User models: 1 or 3 input channels (default 3).")
ClassNamesOpt = typer.Option(None, "--class-names", help="User models: file with one class name per line.")
NormalizeOpt = typer.Option(None, "--normalize", help="User models: none | imagenet | tflite | 'mean,std'.")
MaxFramesOpt = typer.Option(MAX_FRAMES, "--max-frames", help="Refuse more frames than this.")
MaxPixelsOpt = typer.Option(MAX_IMAGE_PIXELS, "--max-pixels", help="Refuse larger images (width x height as stored) and input sizes.")
DeviceOpt = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or mps.")
ThreadsOpt = typer.Option(None, "--threads", help="torch CPU threads: a number or auto (default: STEERLENS_THREADS, else the thread policy: 1 for small jobs, more only where free cores and the job's size make it pay).")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress output.")
