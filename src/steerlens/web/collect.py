"""Find saved results in folders and turn them into views.

What a folder holds decides what it becomes:

- ``compare.json`` (``steerlens compare``): a :class:`~steerlens.web.views.CompareView` of the
  method sub-folders;
- ``result.json`` (``steerlens morph``): a :class:`~steerlens.web.views.MorphView`;
- ``cases.jsonl`` (``steerlens experiment``): a :class:`~steerlens.web.views.TableView` of the
  cases with the summary tables of ``results.md`` and the figures;
- anything else (the demo gallery, a ``steerlens batch`` folder, any tree of saved morphs): every
  comparison found in it, and one table of the morphs found in it (``result.json`` files),
  joined with the rows of a ``results.csv`` beside them where one names their folders.

Every file is read through one :class:`~steerlens.web.confine.Confined` reader: only inside the
folders given, only regular files, each up to a cap; a path named in ``compare.json`` or
``results.csv`` that leads elsewhere is refused.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from steerlens.errors import ConfigError
from steerlens.journal import read_jsonl
from steerlens.web.arrows import field_arrows_note
from steerlens.web.confine import TABLE_MAX_BYTES, Confined
from steerlens.web.encode import image_data_uri
from steerlens.web.mdtables import parse_md_tables
from steerlens.web.saved import read_frames, read_manifest
from steerlens.web.views import (
    CaseRow,
    Column,
    CompareView,
    MorphView,
    SummaryTable,
    TableView,
    morph_view,
    slug,
)

View = MorphView | CompareView | TableView

#: Columns of a table of saved morphs (key, label, kind).
MORPH_COLUMNS = [
    Column("case", "case"),
    Column("model", "model"),
    Column("method", "method"),
    Column("regime", "regime"),
    Column("source", "source"),
    Column("target", "target"),
    Column("budget", "budget", "num"),
    Column("l2", "final L2", "num"),
    Column("p_target", "final p(target)", "num"),
    Column("reached", "reached", "bool"),
    Column("driver_success", "driver success", "bool"),
    Column("overshoot", "overshoot", "bool"),
    # the decision changed while the last frame looks like the source (steerlens.verdict)
    Column("looks_adversarial", "looks adversarial", "bool"),
]
#: Columns of ``results.csv`` / ``cases.jsonl`` worth showing, in order, when present.
EXTRA_COLUMNS = [
    ("attained", "reached", "bool"),
    ("driver_success", "driver success", "bool"),
    ("joint_success", "both judges", "bool"),
    ("judge_success", "judge success", "bool"),
    ("judge_success_O", "judge O", "bool"),
    ("judge_success_O2", "judge O2", "bool"),
    ("driver_p", "driver p", "num"),
    ("E_warp_gain", "E warp+gain", "num"),
    ("ssim", "SSIM", "num"),
]
#: Columns of an experiment's case table.
EXPERIMENT_COLUMNS = [
    ("source_id", "source", "text"),
    ("dataset", "dataset", "text"),
    ("driver", "driver", "text"),
    ("regime", "regime", "text"),
    ("variant", "variant", "text"),
    ("method", "method", "text"),
    ("budget", "budget", "num"),
    ("source_class", "from", "text"),
    ("target", "to", "text"),
    ("l2", "L2", "num"),
]
#: Default cap on table rows written into a report.
MAX_ROWS = 5000
#: The human ratings ``steerlens rate --tabulate`` writes into a folder.
RATINGS_MD = "ratings.md"


def collect(paths: Iterable[str | Path], max_rows: int = MAX_ROWS) -> list[View]:
    """Read every folder in ``paths`` into views, in order.

    Parameters
    ----------
    paths
        Result folders (``morph``, ``compare``, ``demo``, ``experiment`` or ``batch`` output).
    max_rows
        Largest number of rows a table keeps (a note says how many were left out).

    Raises
    ------
    ConfigError
        A path does not exist, is not a folder, or holds no saved result; a file is damaged, not a
        regular file, too large, or reached through a path that leaves ``paths``.

    Examples
    --------
    >>> views = collect(["out/compare"])                                  # doctest: +SKIP
    >>> type(views[0]).__name__                                           # doctest: +SKIP
    'CompareView'
    """
    views: list[View] = []
    folders = [Path(p) for p in paths]
    for folder in folders:
        if not folder.exists():
            raise ConfigError(f"{folder} does not exist; pass a folder of saved results")
        if not folder.is_dir():
            raise ConfigError(f"{folder} is not a folder; pass the folder a command wrote")
    reader = Confined(folders)
    for i, folder in enumerate(folders):
        found = list(_collect_folder(folder, f"r{i}", max_rows, reader))
        if not found:
            raise ConfigError(
                f"{folder} holds no saved results (no result.json, compare.json or cases.jsonl); "
                "pass the --out folder of morph, compare, demo, experiment or batch"
            )
        views.extend(found)
    return views


def _collect_folder(folder: Path, prefix: str, max_rows: int, reader: Confined) -> Iterator[View]:
    # what a folder holds decides what it becomes; whether each file may be read is the reader's
    has = reader.exists
    if has(folder / "compare.json"):
        yield load_compare(folder, prefix, reader=reader)
    elif has(folder / "result.json"):
        yield load_morph(folder, prefix, reader=reader)
    elif has(folder / "batch.json") and has(folder / "results.csv"):
        yield load_batch(folder, prefix, max_rows, reader=reader)
    elif has(folder / "cases.jsonl"):
        yield load_experiment(folder, prefix, max_rows, reader=reader)
    else:
        compares = sorted(p.parent for p in folder.rglob("compare.json"))
        for j, c in enumerate(compares):
            yield load_compare(c, f"{prefix}-c{j}", title=str(c.relative_to(folder)), reader=reader)
        morphs = sorted(
            p.parent
            for p in folder.rglob("result.json")
            if not any(c in p.parents for c in compares)
        )
        if morphs:
            yield load_morph_set(folder, morphs, prefix, max_rows, reader=reader)
    if has(folder / RATINGS_MD):  # ``steerlens rate --tabulate -o`` this folder
        yield load_ratings(folder / RATINGS_MD, prefix, reader)


# ----------------------------------------------------------------------------- one morph
def load_morph(
    folder: Path, view_id: str, title: str | None = None, files: dict[str, str] | None = None,
    manifest: dict[str, Any] | None = None, reader: Confined | None = None,
) -> MorphView:
    """The view of one saved morph folder (``result.json`` + ``frames.npz``), with displacement
    arrows where the method has a field. Files are read through ``reader`` (default: confined to
    ``folder``)."""
    reader = reader or Confined([folder])
    manifest = manifest if manifest is not None else read_manifest(folder, reader)
    saved = read_frames(folder, len(manifest["frames"]), reader)
    path, note = "", None
    if saved.displacement is not None and saved.displacement.shape[1:] == saved.images.shape[1:3]:
        path, note = field_arrows_note(saved.displacement,
                                       manifest["frames"][-1].get("phase_explained"))
    try:
        return morph_view(manifest, saved.images, view_id, title=title, files=files,
                          frame_index=saved.index, arrows=path, arrows_note=note)
    except ValueError as e:  # the images do not match the manifest's frames
        raise ConfigError(f"{folder}: {e}; re-run the morph") from None


def load_compare(
    folder: Path, view_id: str, title: str | None = None, reader: Confined | None = None
) -> CompareView:
    """The view of a ``steerlens compare`` folder: one morph per method sub-folder named in
    ``compare.json`` (each must lie inside the folders being read)."""
    reader = reader or Confined([folder])
    path = folder / "compare.json"
    methods = reader.read_json(path)
    if not isinstance(methods, (dict, list)) or not all(
        isinstance(m, str) and m.strip() for m in methods
    ):
        raise ConfigError(f"{path} does not name its methods (an object keyed by method); re-run compare")
    morphs, manifests = [], []
    for m in methods:
        sub = folder / m
        reader.inside(sub)
        if reader.exists(sub / "result.json"):
            manifests.append(read_manifest(sub, reader))
            morphs.append(load_morph(sub, f"{view_id}-{m}", title=m, manifest=manifests[-1],
                                     reader=reader))
    if not morphs:
        raise ConfigError(f"{path} names no method folder with a result.json; re-run compare")
    budget = manifests[0].get("settings", {}).get("matched_l2_budget")
    name = morphs[0].source_name + " → " + morphs[0].target_name
    return CompareView(
        id=slug(view_id),
        title=title or f"comparison: {name}",
        budget=float(budget) if budget is not None else None,
        morphs=morphs,
    )


# ----------------------------------------------------------------------------- tables
def _cell(value: Any, kind: str) -> tuple[str, str]:
    if value is None or value == "":
        return ("", "")
    if kind == "bool":
        truth = value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")
        return ("yes" if truth else "no", "1" if truth else "0")
    if kind == "num":
        try:
            f = float(value)
        except (TypeError, ValueError):
            return (str(value), "")
        return (f"{f:.4g}", repr(f))
    return (str(value), str(value).lower())


def read_csv_rows(folder: Path, reader: Confined) -> list[dict[str, str]]:
    """The rows of ``folder/results.csv`` (none if there is no such file); ``ConfigError`` if a
    row has another number of cells than the header."""
    path = folder / "results.csv"
    if not reader.exists(path):
        return []
    text = reader.read_text(path, TABLE_MAX_BYTES)
    if "\0" in text:
        raise ConfigError(f"{path} holds a NUL byte, which no CSV steerlens writes does; re-run the batch")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise ConfigError(f"{path} is not a readable CSV ({e}); re-run the batch") from None
    header = rows[0] if rows else []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ConfigError(f"{path} line {n} has {len(row)} cells, the header {len(header)}; "
                              "re-run the batch")
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def _match_csv(rows: list[dict[str, str]], rel: str) -> dict[str, str]:
    """The ``results.csv`` row that names the case folder ``rel`` (any column), or ``{}``."""
    names = {rel, rel + "/", rel + "/result.json", Path(rel).name}
    for row in rows:
        if any(str(v) in names for v in row.values()):
            return row
    return {}


def load_morph_set(
    root: Path, folders: list[Path], prefix: str, max_rows: int, reader: Confined | None = None
) -> TableView:
    """One table of saved morphs (a batch, the demo gallery, any tree of morph folders)."""
    reader = reader or Confined([root])
    csv_rows = read_csv_rows(root, reader)
    extras = [
        (k, label, kind)
        for k, label, kind in EXTRA_COLUMNS
        if any(k in r for r in csv_rows) and k not in ("driver_success", "attained")
    ]
    columns = list(MORPH_COLUMNS) + [Column(k, label, kind) for k, label, kind in extras]
    rows: list[CaseRow] = []
    cases: list[MorphView] = []
    for j, folder in enumerate(folders[:max_rows]):
        rel = folder.relative_to(root).as_posix() or folder.name
        manifest = read_manifest(folder, reader)
        view = load_morph(folder, f"{prefix}-case{j}", title=rel, manifest=manifest, reader=reader)
        settings = manifest.get("settings") or {}
        extra = _match_csv(csv_rows, rel)
        budget = settings.get("matched_l2_budget", settings.get("l2_budget"))
        reached = extra.get("attained", extra.get("reached"))
        if reached is None:
            reached = view.stop_reason.startswith("reached")
        values: dict[str, Any] = {
            "case": rel,
            "model": (manifest.get("model") or {}).get("name", ""),
            "method": view.method,
            "regime": view.regime,
            "source": view.source_name,
            "target": view.target_name,
            "budget": extra.get("budget", budget),
            "l2": view.final.l2,
            "p_target": view.final.p_target,
            "reached": reached,
            "driver_success": extra.get("driver_success", view.succeeded),
            "overshoot": view.overshoot is not None,
            "looks_adversarial": (v.get("looks_adversarial")
                                  if isinstance(v := manifest.get("verdict"), dict) else None),
        } | {k: extra.get(k) for k, _, _ in extras}
        cells = [_cell(values.get(c.key), c.kind) for c in columns]
        rows.append(
            CaseRow(
                cells=cells,
                case_id=view.id,
                thumb=view.thumb,
            )
        )
        cases.append(view)
    notes = []
    if len(folders) > max_rows:
        notes.append(f"showing the first {max_rows} of {len(folders)} morphs (--max-rows)")
    return TableView(
        id=slug(prefix + "-set"),
        title=f"{root.name or root}: {len(folders)} morphs",
        columns=columns,
        rows=rows,
        cases=cases,
        summaries=[t for md in sorted(root.glob("*.md")) if md.name != RATINGS_MD
                   for t in _md_tables(md, reader)],
        figures=_figures(root, reader),
        notes=notes,
    )


#: Columns of a ``steerlens batch`` table (``results.csv``) shown in the report.
BATCH_COLUMNS = [
    ("image", "image", "text"),
    ("source_label", "label", "text"),
    ("target_name", "target", "text"),
    ("method", "method", "text"),
    ("regime", "regime", "text"),
    ("budget", "budget", "num"),
    ("l2", "L2", "num"),
    ("p_target_end", "final p(target)", "num"),
    ("reached", "reached", "bool"),
    ("succeeded", "driver success", "bool"),
    ("overshoot", "overshoot", "bool"),
    ("ssim_end", "SSIM", "num"),
    ("looks_adversarial", "looks adversarial", "bool"),
    ("status", "status", "text"),
]


def load_batch(folder: Path, view_id: str, max_rows: int, reader: Confined | None = None) -> TableView:
    """A ``steerlens batch`` folder: its ``results.csv`` as a table (with the per-case morphs
    where artefacts were saved), its ``summary.md`` tables.

    Judge columns ``judge_<name>_top1_end`` become ``judge <name>`` success columns (top-1 of
    the judge on the last frame equals the target).
    """
    reader = reader or Confined([folder])
    records = read_csv_rows(folder, reader)
    judges = sorted(
        k[len("judge_"):-len("_top1_end")] for k in (records[0] if records else {})
        if k.startswith("judge_") and k.endswith("_top1_end")
    )
    columns = [Column("driver_success" if k == "succeeded" else k, label, kind)
               for k, label, kind in BATCH_COLUMNS]
    columns += [Column(f"judge_{j}", f"judge {j}", "bool") for j in judges]
    rows: list[CaseRow] = []
    cases: list[MorphView] = []
    for j, rec in enumerate(records[:max_rows]):
        values: dict[str, Any] = dict(rec)
        values["driver_success"] = rec.get("succeeded")
        for name in judges:
            top1, target = rec.get(f"judge_{name}_top1_end"), rec.get("target")
            values[f"judge_{name}"] = (top1 == target) if top1 not in (None, "") else None
        case_dir = rec.get("artefact_dir") or ""
        view = None
        if case_dir and reader.exists(reader.inside(folder / case_dir) / "result.json"):
            view = load_morph(folder / case_dir, f"{view_id}-case{j}",
                              title=rec.get("image") or case_dir, reader=reader)
            cases.append(view)
        cells = [_cell(values.get(c.key), c.kind) for c in columns]
        rows.append(CaseRow(cells=cells, case_id=view.id if view else None,
                            thumb=view.thumb if view else None))
    notes = []
    if len(records) > max_rows:
        notes.append(f"showing the first {max_rows} of {len(records)} cases (--max-rows)")
    md = folder / "summary.md"
    return TableView(
        id=slug(view_id + "-batch"),
        # "batch: 6 cases" for a folder called batch, not "batch batch: 6 cases"
        title=f"{'' if 'batch' in folder.name.lower() else 'batch '}{folder.name}: {len(records)} cases",
        columns=columns,
        rows=rows,
        cases=cases,
        summaries=_md_tables(md, reader) if reader.exists(md) else [],
        notes=notes,
    )


def load_experiment(folder: Path, view_id: str, max_rows: int, reader: Confined | None = None
                    ) -> TableView:
    """The cases of a ``steerlens experiment`` folder, its summary tables and figures."""
    reader = reader or Confined([folder])
    # checked (inside, regular, size) here, then read-only and tolerant of a torn last line (an
    # experiment that is running or was killed)
    journal = folder / "cases.jsonl"
    reader.open(journal, TABLE_MAX_BYTES).close()
    records = list(read_jsonl(reader.inside(journal), "key").records.values())
    keys = [c for c in EXPERIMENT_COLUMNS + EXTRA_COLUMNS if any(c[0] in r for r in records[:50])]
    columns = [Column(k, label, kind) for k, label, kind in keys]
    rows = []
    for rec in records[:max_rows]:
        cells = [_cell(rec.get(c.key), c.kind) for c in columns]
        rows.append(CaseRow(cells=cells))
    notes = []
    if len(records) > max_rows:
        notes.append(f"showing the first {max_rows} of {len(records)} cases (--max-rows)")
    md = folder / "results.md"
    return TableView(
        id=slug(view_id + "-exp"),
        title=f"experiment {folder.name}: {len(records)} cases",
        columns=columns,
        rows=rows,
        summaries=_md_tables(md, reader) if reader.exists(md) else [],
        figures=_figures(folder / "figures", reader) + _figures(folder, reader),
        notes=notes,
    )


def load_ratings(path: Path, prefix: str, reader: Confined) -> TableView:
    """The human ratings of ``steerlens rate --tabulate`` (``ratings.md``): its first table (rates
    by method beside the machine scores of the same items) as a sortable table, the others as
    summaries."""
    tables = _md_tables(path, reader)
    if not tables:
        raise ConfigError(f"{path} holds no table; re-run steerlens rate --tabulate")
    first = tables[0]
    columns = [Column("method" if h == "method" else slug(h), h) for h in first.header]
    rows = [CaseRow(cells=[(c, c.lower()) for c in r]) for r in first.rows]
    return TableView(id=slug(prefix + "-ratings"), title=f"human ratings: {first.title.lower()}",
                     columns=columns, rows=rows, summaries=tables[1:])


def _md_tables(path: Path, reader: Confined) -> list[SummaryTable]:
    """The pipe tables of the Markdown file ``path``, read through ``reader``."""
    return parse_md_tables(reader.read_text(path, TABLE_MAX_BYTES), path.name)


def _figures(folder: Path, reader: Confined) -> list[tuple[str, str]]:
    """Caption and ``data:`` URI of every ``*.png`` in ``folder``: each decoded in full and
    re-encoded, so what the report carries is the picture it shows and nothing else."""
    if not folder.is_dir():
        return []
    reader.inside(folder)
    return [(png.stem, image_data_uri(reader.read_image(png, "PNG"), lossless=True, optimize=False))
            for png in sorted(folder.glob("*.png"))]
