"""The app's form fields, generated from :class:`~steerlens.config.MorphConfig`'s declarations.

An option is in the app's form when its :class:`~steerlens.option.Option` has a ``form`` name.
Each field gets its label, help, choices, default and bounds from that declaration, and the
values a user sends are read (:func:`~steerlens.option.parse_text`) and checked
(:meth:`MorphConfig.validate <steerlens.config.MorphConfig.validate>`) the same way as the CLI's
flags; errors name the form's field (:data:`FORM_NAMES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from steerlens.config import MorphConfig, defaults, options
from steerlens.errors import ConfigError
from steerlens.option import Option, parse_text

__all__ = ["APP_DEFAULTS", "FORM_NAMES", "FormField", "config_from_form", "form_fields"]

#: Where the app's default differs from MorphConfig's (short morphs keep a shared server quick).
APP_DEFAULTS: dict[str, Any] = {"frames": 8}
#: The app's name for each parameter an error may name.
FORM_NAMES: dict[str, str] = {name: opt.form for name, opt in options().items() if opt.form} | {
    "max_frames": "the server's max_frames",
}


@dataclass(frozen=True)
class FormField:
    """One field of the app's form, as the template draws it.

    Attributes
    ----------
    name
        Form field name (also the element id).
    label
        Label text.
    widget
        ``select`` or ``number``.
    choices
        ``select``: ``(value, text)`` pairs.
    default
        The value shown at first (text).
    low, high
        ``number``: the ``min``/``max`` attributes (``None``: none).
    step
        ``number``: ``1`` for integers, ``any`` otherwise.
    placeholder
        ``number`` fields that may stay empty: what empty means.
    help
        The option's help (the field's title).
    """

    name: str
    label: str
    widget: str
    choices: tuple[tuple[str, str], ...] = ()
    default: str = ""
    low: float | None = None
    high: float | None = None
    step: str = "any"
    placeholder: str = ""
    help: str = ""


def _default(name: str) -> Any:
    return APP_DEFAULTS.get(name, defaults()[name])


def _field(name: str, opt: Option, max_frames: int) -> FormField:
    label = opt.label or name.replace("_", " ")
    default = _default(name)
    if opt.kind == "bool":
        return FormField(opt.form or name, label, "select", (("on", "on"), ("off", "off")),
                         "on" if default else "off", help=opt.help)
    if opt.kind == "choice":
        return FormField(opt.form or name, label, "select", tuple((c, c) for c in opt.choices),
                         str(default), help=opt.help)
    high = max_frames if name == "frames" else opt.high
    placeholder = "empty: aim for p(target) {:g}".format(defaults()["goal_p"]) \
        if name == "l2_budget" else ""
    return FormField(opt.form or name, label, "number", default="" if default is None else
                     str(default), low=opt.low, high=high,
                     step="1" if opt.kind == "int" else "any", placeholder=placeholder,
                     help=opt.help)


def form_fields(max_frames: int) -> list[FormField]:
    """The app's form fields, in MorphConfig's order, for a server allowing ``max_frames``.

    Examples
    --------
    >>> [(f.name, f.default) for f in form_fields(24)]  # doctest: +NORMALIZE_WHITESPACE
    [('method', 'csp-phase'), ('frames', '8'), ('budget', ''), ('phase_consistency', 'on'),
     ('regime', 'one-step')]
    """
    return [_field(name, opt, max_frames) for name, opt in options().items() if opt.form]


def config_from_form(fields: Mapping[str, str], max_frames: int) -> MorphConfig:
    """Read and check the form's options; errors name the form's fields.

    A field left out takes the app's default; an empty optional field means "not set".

    Examples
    --------
    >>> config_from_form({"method": "pixel", "budget": "2"}, 24).l2_budget
    2.0
    >>> config_from_form({"budget": "-1"}, 24)
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: budget must be a positive L2 distance, got -1
    """
    values: dict[str, Any] = {}
    try:
        for name, opt in options().items():
            if not opt.form:
                continue
            text = fields.get(opt.form)
            if text is None or (not text.strip() and not opt.optional):
                values[name] = _default(name)
            else:
                values[name] = parse_text(name, opt, text)
        return MorphConfig(**values).validate(max_frames=max_frames)
    except ConfigError as e:
        raise ConfigError(e.named(FORM_NAMES), e.parameter) from None
