"""The one list of methods: name -> :class:`~steerlens.methods.base.Method`.

Adding a method is one new module defining its class and one line in :data:`METHODS`
(``docs/contributing.md``, "Adding a method"); the config's choices, the CLI's and the API's help
and every dispatch in the engine read this registry.
"""

from __future__ import annotations

import difflib

from steerlens.errors import ConfigError
from steerlens.methods.base import Method
from steerlens.methods.csp import CspAmplitude, CspJoint, CspPhase
from steerlens.methods.flow import CspMotion, Flow
from steerlens.methods.fourier import FourierAmplitude, FourierJoint, FourierPhase
from steerlens.methods.pixel import Pixel

__all__ = ["METHODS", "get_method", "method_help", "method_names"]

#: every method, by name, in the order help lists them (one line per method)
METHODS: dict[str, Method] = {m.name: m for m in (
    CspPhase(),
    CspAmplitude(),
    CspJoint(),
    FourierPhase(),
    FourierAmplitude(),
    FourierJoint(),
    Pixel(),
    Flow(),
    CspMotion(),
)}


def get_method(name: str) -> Method:
    """The method called ``name`` (any case, surrounding spaces ignored).

    Raises
    ------
    ConfigError
        One line naming the methods and the closest matches.

    Examples
    --------
    >>> get_method(" CSP-Phase ")
    CspPhase('csp-phase')
    >>> get_method("csp-phaze")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: unknown method 'csp-phaze'; choose one of csp-phase, csp-amplitude, csp-joint, fourier-phase, fourier-amplitude, fourier-joint, pixel, flow, csp-motion. Did you mean csp-phase?
    """
    key = name.strip().lower() if isinstance(name, str) else name
    method = METHODS.get(key) if isinstance(key, str) else None
    if method is None:
        close = difflib.get_close_matches(key, list(METHODS), n=3) if isinstance(key, str) else []
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"unknown method {name!r}; choose one of {', '.join(METHODS)}.{hint}", "method"
        )
    return method


def method_names() -> tuple[str, ...]:
    """Every method's name, in registry order (the CLI's ``--method`` choices).

    Examples
    --------
    >>> method_names()[:3]
    ('csp-phase', 'csp-amplitude', 'csp-joint')
    """
    return tuple(METHODS)


def method_help(indent: str = "") -> str:
    """One line per method, ``name: help``, each line starting with ``indent``, for CLI and API
    help.

    Examples
    --------
    >>> print(method_help().splitlines()[0])
    csp-phase: the paper's method: phase-only edit of complex steerable pyramid bands
    """
    return "\n".join(f"{indent}{m.name}: {m.help}" for m in METHODS.values())
