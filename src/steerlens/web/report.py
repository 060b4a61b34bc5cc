"""``steerlens report``: one self-contained HTML file for folders of saved results.

The file holds everything (CSS, script, frames as compressed ``data:`` images, one sprite per
morph); it makes no request when opened, which its Content-Security-Policy enforces. Morphs of a
batch sit in inert ``<template>`` elements until their row is clicked, and thumbnails load when
they scroll into view, so a report of a thousand cases opens quickly.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from steerlens.outputs import write_text_atomic
from steerlens.web.collect import MAX_ROWS, collect
from steerlens.web.render import REPORT_CSP, render


def report_html(
    folders: Sequence[str | Path],
    title: str | None = None,
    max_rows: int = MAX_ROWS,
) -> str:
    """The report of ``folders`` as one HTML string.

    Parameters
    ----------
    folders
        Folders written by ``morph``, ``compare``, ``demo``, ``experiment`` or ``batch``.
    title
        Page title; default names the folders.
    max_rows
        Most rows per case table.

    Examples
    --------
    >>> html = report_html(["out/compare"])                              # doctest: +SKIP
    """
    from steerlens import __version__

    views = collect(folders, max_rows=max_rows)
    names = [Path(f).name or str(f) for f in folders]
    return render(
        "report.html",
        title=title or "steerlens report: " + ", ".join(names),
        version=__version__,
        created=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        sources=[str(f) for f in folders],
        views=views,
        csp=REPORT_CSP,
        htmx_src=None,
    )


def build_report(
    folders: Sequence[str | Path],
    out: str | Path,
    title: str | None = None,
    max_rows: int = MAX_ROWS,
) -> Path:
    """Write the self-contained report of ``folders`` to ``out`` (atomically).

    Examples
    --------
    >>> build_report(["out/compare", "out/demo"], "report.html")         # doctest: +SKIP
    PosixPath('report.html')
    """
    out = Path(out)
    html = report_html(folders, title=title, max_rows=max_rows)
    return write_text_atomic(out, html)
