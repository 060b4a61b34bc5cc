"""The Jinja2 environment and the packaged assets shared by the report and the app.

Both render the macros of ``templates/macros.html`` through :func:`render`, so a morph looks the
same in a report file and in the browser app. CSS and the page script are inlined into every page;
the app adds htmx from its own ``/static`` route. Nothing is ever loaded from another host: each
page carries a Content-Security-Policy that forbids it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import jinja2

#: CSP of a report: no request of any kind leaves the file (images are ``data:`` URIs).
REPORT_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)
#: CSP of the app: only its own origin.
APP_CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'self'"
)
#: Files of ``web/static`` the app serves (nothing else is reachable).
STATIC_FILES = {
    "htmx.min.js": "text/javascript",
    "steerlens.js": "text/javascript",
    "steerlens.css": "text/css",
}


@dataclass(frozen=True)
class Assets:
    """Inlined page assets."""

    css: str
    js: str


def static_bytes(name: str) -> bytes:
    """A packaged static file by name; ``KeyError`` for any name not in :data:`STATIC_FILES`.

    Examples
    --------
    >>> static_bytes("htmx.min.js")[:10]
    b'var htmx=f'
    >>> static_bytes("../render.py")
    Traceback (most recent call last):
    ...
    KeyError: '../render.py'
    """
    if name not in STATIC_FILES:
        raise KeyError(name)
    return _static(name)


@cache
def _static(name: str) -> bytes:
    return (resources.files("steerlens.web") / "static" / name).read_bytes()


@lru_cache(maxsize=1)
def assets() -> Assets:
    """CSS and script inlined into every page."""
    return Assets(
        css=static_bytes("steerlens.css").decode("utf-8"),
        js=static_bytes("steerlens.js").decode("utf-8"),
    )


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The shared Jinja2 environment (autoescaping on, undefined names are errors)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("steerlens.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **context: Any) -> str:
    """Render ``template`` with the shared assets and ``context``.

    Examples
    --------
    >>> html = render("report.html", title="t", version="0", created="now", sources=[],
    ...               views=[], csp=REPORT_CSP, htmx_src=None)
    >>> html.startswith("<!doctype html>"), "<script>" in html
    (True, True)
    """
    return environment().get_template(template).render(assets=assets(), **context)
