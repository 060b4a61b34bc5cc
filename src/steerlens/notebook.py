"""Morphs inline in Jupyter: the report's own views, as one self-contained HTML fragment each.

:meth:`MorphResult._repr_html_ <steerlens.result.MorphResult._repr_html_>`,
:meth:`Comparison._repr_html_ <steerlens.comparison.Comparison._repr_html_>` and
:class:`BatchTable` render the macros of ``web/templates/macros.html`` (frame slider, curves,
arrows, sortable case table) with the report's script and style sheet inlined, so an output needs
no server and makes no request. Every display gets its own element ids and its style sheet is
scoped to its own ``<div>``, so several morphs on one notebook page neither clash nor restyle the
notebook. :func:`show` takes any of these, or a list of them.

Examples
--------
>>> import steerlens
>>> model = steerlens.load_model("mnist-cnn")                           # doctest: +SKIP
>>> result = steerlens.morph(model, "digit.png", "8")                   # doctest: +SKIP
>>> result                                  # a notebook cell shows it  # doctest: +SKIP
>>> steerlens.show([result, steerlens.load_batch("out/batch")])         # doctest: +SKIP
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from steerlens.errors import ConfigError
from steerlens.render.filmstrip import frames_hwc, to_uint8
from steerlens.web.arrows import field_arrows_note
from steerlens.web.collect import MAX_ROWS, read_csv_rows
from steerlens.web.collect import load_batch as _batch_view
from steerlens.web.confine import Confined
from steerlens.web.render import assets, environment
from steerlens.web.views import CompareView, MorphView, TableView, morph_view, slug

if TYPE_CHECKING:  # results call into this module (_repr_html_), never the other way round
    from steerlens.comparison import Comparison
    from steerlens.result import MorphResult

__all__ = ["BatchTable", "Page", "comparison_html", "load_batch", "result_html", "scoped_css",
           "show"]

#: class of the ``<div>`` that holds one display (its style sheet is scoped to it)
SCOPE_CLASS = "steerlens-nb"

def _new_id() -> str:
    """A page-unique id for one display (each display renders with fresh ids)."""
    return "sl-" + uuid.uuid4().hex[:12]


def scoped_css(css: str, scope: str) -> str:
    """``css`` with every selector limited to the elements under ``scope``.

    ``:root`` and ``body`` become ``scope`` itself; comments are dropped. Enough for the report's
    own style sheet (plain rules, no at-rules).

    Examples
    --------
    >>> scoped_css(":root { --a: 1; } /* c */ h1, .x td { color: red; } * { margin: 0; }", ".nb")
    '.nb { --a: 1; }\\n.nb h1, .nb .x td { color: red; }\\n.nb, .nb * { margin: 0; }'
    """
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    rules = []
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        scoped = []
        for sel in (s.strip() for s in selectors.split(",")):
            if sel == "*":
                scoped += [scope, f"{scope} *"]
            elif sel.startswith((":root", "body")):
                scoped.append(scope + sel.removeprefix(":root").removeprefix("body"))
            else:
                scoped.append(f"{scope} {sel}")
        rules.append(f"{', '.join(scoped)} {{{body.rstrip()} }}".replace("{ ", "{ ", 1))
    return "\n".join(re.sub(r"\{\s+", "{ ", r) for r in rules)


def _page_css() -> str:
    return scoped_css(assets().css, "." + SCOPE_CLASS) + (
        f"\n.{SCOPE_CLASS} {{ max-width: none; margin: 0; padding: 4px 0; }}")


def _fragment(views: Sequence[MorphView | CompareView | TableView], display_id: str) -> str:
    template = environment().from_string(
        '{% from "macros.html" import any_view %}'
        '<div class="{{ scope }}" id="{{ id }}"><style>{{ css | safe }}</style>\n'
        "{% for v in views %}{{ any_view(v) }}\n{% endfor %}"
        "<script>{{ js | safe }}</script>"
        # the output may not be in the document yet when its scripts run (JupyterLab): set up
        # the display's own element, wherever it is
        "<script>(function (s) { var root = s && s.parentNode; "
        "if (root && window.steerlens) window.steerlens.init(root); })(document.currentScript);"
        "</script></div>"
    )
    return template.render(scope=SCOPE_CLASS, id=display_id, css=_page_css(), js=assets().js,
                           views=list(views))


# ----------------------------------------------------------------------------- views
def result_view(result: MorphResult, view_id: str, title: str | None = None) -> MorphView:
    """The report's view of an in-memory result (what ``report`` shows for its saved folder).

    Examples
    --------
    >>> result_view(result, "m1").n_frames                                 # doctest: +SKIP
    12
    """
    manifest = result.manifest()
    path, note = "", None
    if result.displacement is not None:
        field_ = result.displacement.detach().cpu().float().numpy()
        if field_.shape[1:] == tuple(result.frames.shape[-2:]):
            path, note = field_arrows_note(field_, manifest["frames"][-1].get("phase_explained"))
    image = result.settings.get("image")
    name = f"{result.method}: {result.source_name} → {result.target_name}"
    return morph_view(manifest, to_uint8(frames_hwc(result)), view_id,
                      title=title or (f"{image}, {name}" if image else None),
                      arrows=path, arrows_note=note)


def comparison_view(comparison: Comparison, view_id: str) -> CompareView:
    """The report's comparison view of an in-memory :class:`~steerlens.comparison.Comparison`."""
    if not len(comparison):
        raise ConfigError("the comparison holds no result; run steerlens.compare with methods")
    morphs = [result_view(r, f"{view_id}-{m}", title=m) for m, r in comparison.items()]
    first = next(iter(comparison.values()))
    return CompareView(id=slug(view_id), title=f"comparison: {first.source_name} → {first.target_name}",
                       budget=comparison.budget, morphs=morphs)


def result_html(result: MorphResult) -> str:
    """One morph as a self-contained HTML fragment with fresh ids (``_repr_html_``)."""
    uid = _new_id()
    return _fragment([result_view(result, uid + "-m")], uid)


def comparison_html(comparison: Comparison) -> str:
    """A comparison as a self-contained HTML fragment with fresh ids (``_repr_html_``)."""
    uid = _new_id()
    return _fragment([comparison_view(comparison, uid + "-c")], uid)


# ----------------------------------------------------------------------------- batch tables
@dataclass(frozen=True)
class BatchTable:
    """The results table of a ``steerlens batch`` folder, shown as the report's case table.

    Attributes
    ----------
    folder
        The batch's ``--out`` folder.
    rows
        The rows of its ``results.csv`` (column -> text), in the file's order.
    max_rows
        Most rows the inline table shows.

    Examples
    --------
    >>> table = load_batch("out/batch")                                     # doctest: +SKIP
    >>> len(table), table.columns[:3]                                       # doctest: +SKIP
    (6, ['case_key', 'status', 'error'])
    """

    folder: Path
    rows: list[dict[str, str]] = field(repr=False)
    max_rows: int = MAX_ROWS

    @property
    def columns(self) -> list[str]:
        """Column names of ``results.csv``."""
        return list(self.rows[0]) if self.rows else []

    def __len__(self) -> int:
        return len(self.rows)

    def to_pandas(self) -> Any:
        """The rows as a ``pandas.DataFrame`` of text (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    def _notebook_view(self, view_id: str) -> TableView:
        """The report's case table of this batch (morph viewers where artefacts were saved)."""
        return _batch_view(self.folder, view_id, self.max_rows, reader=Confined([self.folder]))

    def _repr_html_(self) -> str:
        uid = _new_id()
        return _fragment([self._notebook_view(uid + "-b")], uid)


def load_batch(folder: str | Path, max_rows: int = MAX_ROWS) -> BatchTable:
    """Read a ``steerlens batch`` folder's ``results.csv`` into a :class:`BatchTable`.

    Parameters
    ----------
    folder
        The ``--out`` folder of ``steerlens batch`` (it holds ``batch.json`` and
        ``results.csv``).
    max_rows
        Most rows the inline table shows.

    Raises
    ------
    ConfigError
        ``folder`` is not a finished batch folder, or its table is damaged.

    Examples
    --------
    >>> table = steerlens.load_batch("out/batch")                           # doctest: +SKIP
    >>> table                                       # a notebook cell shows it # doctest: +SKIP
    """
    path = Path(folder)
    if not path.is_dir():
        raise ConfigError(f"{path} is not a folder; pass the --out folder of steerlens batch")
    if not (path / "batch.json").is_file() or not (path / "results.csv").is_file():
        raise ConfigError(f"{path} holds no batch.json and results.csv; pass the --out folder of "
                          "a finished steerlens batch")
    if max_rows < 1:
        raise ConfigError(f"max_rows must be at least 1, got {max_rows}")
    return BatchTable(path, read_csv_rows(path, Confined([path])), max_rows)


# ----------------------------------------------------------------------------- show
@dataclass(frozen=True)
class Page:
    """What :func:`show` returns: the items, displayed one after another by Jupyter.

    ``html`` is the self-contained fragment (fresh ids on every call). :func:`show` has displayed
    the page already; as the last expression of that same cell it is not displayed twice.
    """

    items: tuple[Any, ...]
    #: the IPython execution count of the cell whose show() displayed this page
    _shown_in: list[int | None] = field(default_factory=lambda: [None], repr=False, compare=False)

    @property
    def html(self) -> str:
        """The items as one self-contained HTML fragment."""
        uid = _new_id()
        views: list[MorphView | CompareView | TableView] = []
        for i, item in enumerate(self.items):
            key = f"{uid}-{i}"
            views.append(item._notebook_view(key))  # results, comparisons and batch tables
        return _fragment(views, uid)

    def _repr_html_(self) -> str:
        return self.html

    def _ipython_display_(self) -> None:
        from IPython import get_ipython
        from IPython.display import display

        shell = get_ipython()
        count = getattr(shell, "execution_count", None)
        if count is not None and self._shown_in[0] == count:  # show() in this cell displayed it
            self._shown_in[0] = None
            return
        display({"text/html": self.html, "text/plain": repr(self)}, raw=True)
        self._shown_in[0] = count

    def __repr__(self) -> str:
        return f"Page({len(self.items)} items)"


def show(*items: MorphResult | Comparison | BatchTable | Iterable[Any]) -> Page:
    """Show results, comparisons and batch tables inline (one page; lists are flattened).

    In a notebook the page is displayed at once; elsewhere the returned :class:`Page`'s ``html``
    is the self-contained fragment.

    Raises
    ------
    ConfigError
        An item is none of these, or nothing was given.

    Examples
    --------
    >>> page = steerlens.show([res1, res2], steerlens.load_batch("out/b"))  # doctest: +SKIP
    >>> show()
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: show() needs a result, a comparison, a batch table or a list of them
    """
    flat: list[Any] = []
    pending = list(items)
    while pending:
        item = pending.pop(0)
        if hasattr(item, "_notebook_view"):  # MorphResult, Comparison, BatchTable
            flat.append(item)
        elif isinstance(item, Iterable) and not isinstance(item, str | bytes | Path):
            pending[:0] = list(item)
        else:
            raise ConfigError(f"show() cannot show a {type(item).__name__}; give a MorphResult, a "
                              "Comparison, steerlens.load_batch(folder) or a list of them")
    if not flat:
        raise ConfigError("show() needs a result, a comparison, a batch table or a list of them")
    page = Page(tuple(flat))
    _display(page)
    return page


def _display(page: Page) -> None:
    """Display ``page`` when running inside IPython; do nothing elsewhere."""
    import sys

    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    if get_ipython() is not None:
        page._ipython_display_()
