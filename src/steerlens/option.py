"""How an option of :class:`~steerlens.config.MorphConfig` is described, parsed from text and checked.

Each ``MorphConfig`` field carries one :class:`Option` in its ``dataclasses.field(metadata=...)``:
help text, CLI flag, kind, choices and range. :meth:`MorphConfig.validate
<steerlens.config.MorphConfig.validate>` checks every field with :func:`check_value`, the CLI and
the app turn text into values with :func:`parse_text`, and all of them read the same record, so an
option has one default, one range and one error message everywhere. Errors name the API parameter
(``l2_budget``); each front end writes it its own way (:meth:`~steerlens.errors.ConfigError.named`).

This module imports nothing heavy (no torch): the CLI builds its options from it at start-up.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Literal

from steerlens.errors import ConfigError

__all__ = [
    "Kind", "Option", "check_value", "parse_amplification", "parse_numbers", "parse_text", "shown",
    "split_list",
]

#: What values an option takes, and how its text is read:
#: ``int`` / ``float`` numbers; ``choice`` one of :attr:`Option.choices`; ``bool``; ``text`` any
#: string; ``amplification`` ``'auto'`` or an increasing list of numbers; ``ints`` a list of
#: non-negative integers (``None``: all); ``count`` a positive integer or ``'auto'``.
Kind = Literal["int", "float", "choice", "bool", "text", "amplification", "ints", "count"]

_KEY = "steerlens"


@dataclass(frozen=True)
class Option:
    """How one option is offered (help, flag, form field) and checked (kind, choices, range).

    Attributes
    ----------
    help
        One-line help, shown by ``--help`` and as the app's field title.
    flag
        The CLI flag, e.g. ``--budget``; for ``bool`` options the "on" flag.
    kind
        See :data:`Kind`.
    choices
        Allowed values of a ``choice`` option.
    low, high
        Inclusive bounds (``None``: unbounded); ``low_open`` / ``high_open`` make them strict.
    optional
        ``None`` is allowed (it means "not set": the default behaviour described in ``help``).
    must
        How the range is worded after "must", e.g. ``"be a positive L2 distance"`` (default:
        generated from the bounds).
    off_flag
        ``bool`` options: the "off" flag, e.g. ``--no-phase-consistency``.
    form
        The app's form field name where the app offers this option (``None``: it does not).
    label
        The app's label for the field (default: the parameter name in words).

    Examples
    --------
    >>> Option("Frames.", "--frames", "int", low=2).range_text()
    'be at least 2'
    >>> Option("Rate.", "--rate", "float", low=0, high=1, high_open=True).range_text()
    'be in [0, 1)'
    """

    help: str
    flag: str
    kind: Kind
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    must: str | None = None
    off_flag: str | None = None
    form: str | None = None
    label: str | None = None

    def metadata(self) -> dict[str, Option]:
        """This option as ``dataclasses.field`` metadata (read back by :func:`option_of`)."""
        return {_KEY: self}

    def range_text(self) -> str:
        """How the range is worded after "must" (``must`` if given, else from the bounds)."""
        if self.must:
            return self.must
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            if self.kind == "int" and not (self.low_open or self.high_open):
                return f"be in {shown(lo)}..{shown(hi)}"
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"be in {left}{shown(lo)}, {shown(hi)}{right}"
        if lo is not None:
            if self.low_open:
                return "be positive" if lo == 0 else f"be above {shown(lo)}"
            return f"be at least {shown(lo)}"
        if hi is not None:
            return f"be below {shown(hi)}" if self.high_open else f"be at most {shown(hi)}"
        return "be valid"

    def in_range(self, value: float) -> bool:
        """Whether a number lies within the bounds."""
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)


def option_of(field: Any) -> Option | None:
    """The :class:`Option` of a dataclass field, or ``None`` if it carries none."""
    return field.metadata.get(_KEY)


def shown(value: object) -> str:
    """A value as an error message shows it: numbers plainly (``-1``, ``0.5``), text quoted.

    Examples
    --------
    >>> shown(-1.0), shown(0.25), shown(3), shown("x"), shown(float("nan"))
    ('-1', '0.25', '3', "'x'", 'nan')
    """
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return format(float(value), ".10g")
    return repr(value)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_finite(value: object) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def check_value(name: str, option: Option, value: Any, ranged: bool = True) -> None:
    """Raise :class:`ConfigError` (naming ``name``) unless ``value`` suits ``option``.

    ``ranged=False`` checks the type only (a field the rest of the config makes irrelevant).

    Examples
    --------
    >>> opt = Option("Budget.", "--budget", "float", low=0, low_open=True, optional=True,
    ...              must="be a positive L2 distance")
    >>> check_value("l2_budget", opt, None)
    >>> check_value("l2_budget", opt, -1.0)
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: l2_budget must be a positive L2 distance, got -1
    """
    if value is None and option.optional:
        return
    kind = option.kind
    if kind == "int":
        if not _is_int(value):
            raise ConfigError(f"{name} must be an integer, got {value!r}", name)
        _check_range(name, option, value, ranged)
    elif kind == "float":
        if not _is_finite(value):
            raise ConfigError(f"{name} must be a finite number, got {shown(value)}", name)
        _check_range(name, option, value, ranged)
    elif kind == "choice":
        if value not in option.choices:
            allowed = (" or ".join(repr(c) for c in option.choices) if len(option.choices) == 2
                       else f"one of {', '.join(option.choices)}")
            raise ConfigError(f"{name} must be {allowed}, got {value!r}", name)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be True or False, got {value!r}", name)
    elif kind == "text":
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be text, got {value!r}", name)
    elif kind == "amplification":
        _check_amplification(name, value)
    elif kind == "ints":
        if not isinstance(value, list | tuple) or not all(_is_int(v) and v >= 0 for v in value):
            raise ConfigError(
                f"{name} must be a list of non-negative integers like [0, 2], got {value!r}", name)
    elif kind == "count" and value != "auto" and not (_is_int(value) and value >= 1):
        raise ConfigError(f"{name} must be 'auto' or a positive integer, got {value!r}", name)


def _check_range(name: str, option: Option, value: float, ranged: bool) -> None:
    if ranged and not option.in_range(value):
        raise ConfigError(f"{name} must {option.range_text()}, got {shown(value)}", name)


def _check_amplification(name: str, value: Any) -> None:
    if isinstance(value, str):
        if value != "auto":
            raise ConfigError(
                f"{name} must be 'auto' or a comma-separated list of numbers, got {value!r}", name)
        return
    amps = list(value) if isinstance(value, list | tuple) else [value]
    for a in amps:
        if not _is_finite(a):
            raise ConfigError(f"{name} values must be finite numbers, got {shown(a)}", name)
    if not amps or any(a < 0 for a in amps):
        raise ConfigError(f"{name} values must be non-negative numbers, e.g. 0,0.5,1", name)
    if amps != sorted(amps):
        raise ConfigError(f"{name} values must be increasing, e.g. 0,0.5,1", name)


def split_list(text: str | None, name: str = "list", *, empty_fields: bool = True,
               hint: str = "write items like a,b") -> list[str]:
    """The one reader of comma-separated lists (CLI flags, form fields, option values).

    Items are stripped. With ``empty_fields`` (the default) empty items are skipped, so ``None``
    and ``""`` give ``[]``; without it an empty item (``"1,,2"``, ``"0,1,"``) is refused with one
    line naming ``name`` and ending in ``hint``.

    Examples
    --------
    >>> split_list(" pixel, csp-phase,,"), split_list(None)
    (['pixel', 'csp-phase'], [])
    >>> split_list("a,,b", "--methods", empty_fields=False, hint="write e.g. pixel,csp-phase")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: --methods has an empty field in 'a,,b'; write e.g. pixel,csp-phase
    """
    fields = [v.strip() for v in (text or "").split(",")]
    if not empty_fields and text is not None and any(not f for f in fields):
        raise ConfigError(f"{name} has an empty field in {text!r}; {hint}", _parameter(name))
    return [f for f in fields if f]


def parse_numbers(text: str | None, name: str, cast: type = float) -> list:
    """Comma-separated finite numbers (:func:`split_list`, then ``cast``); NaN and infinity are
    refused with one line.

    Examples
    --------
    >>> parse_numbers("1, 2.5", "--budgets"), parse_numbers(None, "--budgets"), parse_numbers("3", "k", int)
    ([1.0, 2.5], [], [3])
    >>> parse_numbers("1,inf", "--budgets")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: --budgets must be comma-separated finite numbers like 1,2; got '1,inf'
    """
    try:
        nums = [cast(v) for v in split_list(text)]
    except ValueError:
        nums = None
    if nums is None or not all(math.isfinite(v) for v in nums):
        raise ConfigError(f"{name} must be comma-separated finite numbers like 1,2; got {text!r}",
                          _parameter(name))
    return nums


def _parameter(name: str) -> str | None:
    """An API parameter name for :class:`ConfigError` (``None`` for a flag like ``--methods``)."""
    return None if name.startswith("-") else name


def parse_amplification(text: str, name: str = "amplification") -> str | list[float]:
    """``'auto'`` or a comma-separated list of numbers, read from text (checked by
    :func:`check_value` afterwards).

    Examples
    --------
    >>> parse_amplification("0, 0.5,1")
    [0.0, 0.5, 1.0]
    >>> parse_amplification("1,,2")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: amplification has an empty field in '1,,2'; write numbers like 0,1,2
    """
    if text.strip().lower() == "auto":
        return "auto"
    fields = split_list(text, name, empty_fields=False, hint="write numbers like 0,1,2")
    try:
        return [float(v) for v in fields]
    except ValueError:
        raise ConfigError(
            f"{name} must be 'auto' or comma-separated numbers like 0,1,2, got {text!r}", name
        ) from None


def parse_text(name: str, option: Option, text: str) -> Any:
    """Read an option's value from text (a form field, a CLI string); empty text is ``None`` for
    optional options. The value still goes through :func:`check_value`.

    Examples
    --------
    >>> parse_text("scales", Option("Scales.", "--scales", "ints", optional=True), "1, 2")
    [1, 2]
    >>> parse_text("n_scales", Option("Scales.", "--n-scales", "count"), "auto")
    'auto'
    >>> parse_text("frames", Option("Frames.", "--frames", "int"), "many")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: frames must be an integer, got 'many'
    """
    text = text.strip()
    if not text and option.optional:
        return None
    kind = option.kind
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "count":
            return "auto" if text.lower() == "auto" else int(text)
        if kind == "ints":
            return [int(v) for v in split_list(text)] or None
    except ValueError:
        what = {"int": "an integer", "float": "a number", "count": "'auto' or a positive integer",
                "ints": "comma-separated integers like 0,2"}[kind]
        raise ConfigError(f"{name} must be {what}, got {text!r}", name) from None
    if kind == "bool":
        low = text.lower()
        if low in ("1", "true", "on", "yes"):
            return True
        if low in ("0", "false", "off", "no"):
            return False
        raise ConfigError(f"{name} must be on or off, got {text!r}", name)
    if kind == "amplification":
        return parse_amplification(text, name)
    return text
