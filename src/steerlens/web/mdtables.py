"""Read the pipe tables of a Markdown file (``results.md``, ``compare.md``) for the report.

Only what steerlens writes is supported: an optional ``#``-heading, then a header row, a
separator row and body rows, all delimited by ``|``.
"""

from __future__ import annotations

from pathlib import Path

from steerlens.web.views import SummaryTable


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_md_tables(text: str, default_title: str = "") -> list[SummaryTable]:
    """Every pipe table in ``text``, titled by the nearest heading above it.

    Examples
    --------
    >>> t = parse_md_tables("### L2 = 2\\n\\n| method | n |\\n|---|---|\\n| pixel | 3 |\\n")
    >>> t[0].title, t[0].header, t[0].rows
    ('L2 = 2', ['method', 'n'], [['pixel', '3']])
    """
    tables: list[SummaryTable] = []
    title = default_title
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("#"):
            title = line.lstrip("#").strip()
        elif (
            line.startswith("|")
            and i + 1 < len(lines)
            and set(lines[i + 1].strip()) <= set("|-: ")
            and "-" in lines[i + 1]
        ):
            header = _cells(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            tables.append(SummaryTable(title=title, header=header, rows=rows))
            continue
        i += 1
    return tables


def read_md_tables(path: str | Path) -> list[SummaryTable]:
    """The pipe tables of the Markdown file ``path`` (titled by heading, else the file name); a
    regular UTF-8 file of at most :data:`~steerlens.web.confine.TABLE_MAX_BYTES`."""
    from steerlens.web.confine import Confined

    path = Path(path)
    return parse_md_tables(Confined([path.parent]).read_text(path), path.name)
