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
"""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from steerlens.errors import ConfigError
from steerlens.journal import read_jsonl
from steerlens.web.arrows import field_arrows
from steerlens.web.mdtables import read_md_tables
from steerlens.web.views import (
    CaseRow,
    Column,
    CompareView,
    MorphView,
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
        A path does not exist, is not a folder, or holds no saved result.

    Examples
    --------
    >>> views = collect(["out/compare"])                                  # doctest: +SKIP
    >>> type(views[0]).__name__                                           # doctest: +SKIP
    'CompareView'
    """
    views: list[View] = []
    for i, p in enumerate(paths):
        folder = Path(p)
        if not folder.exists():
            raise ConfigError(f"{folder} does not exist; pass a folder of saved results")
        if not folder.is_dir():
            raise ConfigError(f"{folder} is not a folder; pass the folder a command wrote")
        found = list(_collect_folder(folder, f"r{i}", max_rows))
        if not found:
            raise ConfigError(
                f"{folder} holds no saved results (no result.json, compare.json or cases.jsonl); "
                "pass the --out folder of morph, compare, demo, experiment or batch"
            )
        views.extend(found)
    return views


def _collect_folder(folder: Path, prefix: str, max_rows: int) -> Iterator[View]:
    if (folder / "compare.json").is_file():
        yield load_compare(folder, prefix)
    elif (folder / "result.json").is_file():
        yield load_morph(folder, prefix)
    elif (folder / "batch.json").is_file() and (folder / "results.csv").is_file():
        yield load_batch(folder, prefix, max_rows)
    elif (folder / "cases.jsonl").is_file():
        yield load_experiment(folder, prefix, max_rows)
    else:
        compares = sorted(p.parent for p in folder.rglob("compare.json"))
        for j, c in enumerate(compares):
            yield load_compare(c, f"{prefix}-c{j}", title=str(c.relative_to(folder)))
        morphs = sorted(
            p.parent
            for p in folder.rglob("result.json")
            if not any(c in p.parents for c in compares)
        )
        if morphs:
            yield load_morph_set(folder, morphs, prefix, max_rows)


# ----------------------------------------------------------------------------- one morph
@dataclass
class SavedFrames:
    """The images of a saved morph, the frame each shows, and the last frame's displacement."""

    images: np.ndarray  # (N, H, W, C) uint8
    index: list[int] | None  # None: every frame, in order
    displacement: np.ndarray | None = None  # (2, H, W) pixels


def read_frames(folder: Path, n_scores: int) -> SavedFrames:
    """Saved images of a morph, from ``frames.npz``; else ``source.png`` + ``final.png`` (a batch
    with ``--artefacts final``: frames 0 and K-1); else the frames of ``morph.gif`` (with their
    caption strip)."""
    npz = folder / "frames.npz"
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as data:
            key = "frames_uint8" if "frames_uint8" in data else "frames_float32"
            field = np.asarray(data["displacement"]) if "displacement" in data else None
            return SavedFrames(np.asarray(data[key]), None, field)
    if (folder / "source.png").is_file() and (folder / "final.png").is_file():
        from PIL import Image

        pair = []
        for name in ("source.png", "final.png"):
            with Image.open(folder / name) as img:
                arr = np.asarray(img.convert("L" if img.mode in ("L", "I", "I;16", "1") else "RGB"))
            pair.append(arr[..., None] if arr.ndim == 2 else arr)
        return SavedFrames(np.stack(pair), [0, max(n_scores - 1, 0)])
    gif = folder / "morph.gif"
    if gif.is_file():
        from steerlens.render import read_gif_frames

        return SavedFrames(read_gif_frames(gif), None)
    raise ConfigError(
        f"{folder} has result.json but no frames.npz, final.png or morph.gif; re-run the morph"
    )


def read_manifest(folder: Path) -> dict[str, Any]:
    """``result.json`` of a saved morph, with a one-line error if it is not valid JSON."""
    try:
        return json.loads((folder / "result.json").read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {folder / 'result.json'} ({e}); re-run the morph") from None


def load_morph(
    folder: Path, view_id: str, title: str | None = None, files: dict[str, str] | None = None,
    manifest: dict[str, Any] | None = None,
) -> MorphView:
    """The view of one saved morph folder (``result.json`` + ``frames.npz``), with displacement
    arrows where the method has a field."""
    manifest = manifest if manifest is not None else read_manifest(folder)
    saved = read_frames(folder, len(manifest.get("frames") or []))
    path, note = "", None
    if saved.displacement is not None and saved.displacement.shape[1:] == saved.images.shape[1:3]:
        arrows = field_arrows(saved.displacement)
        path = arrows.path
        note = (f"displacement of the last frame: mean {arrows.mean_px:.2f} px, "
                f"max {arrows.max_px:.2f} px (arrows ×{arrows.scale:.3g})")
        explained = ((manifest.get("frames") or [{}])[-1]).get("phase_explained")
        if explained is not None:
            note += f"; one field explains {100 * explained:.0f} % of the phase change"
    return morph_view(manifest, saved.images, view_id, title=title, files=files,
                      frame_index=saved.index, arrows=path, arrows_note=note)


def load_compare(folder: Path, view_id: str, title: str | None = None) -> CompareView:
    """The view of a ``steerlens compare`` folder: one morph per method sub-folder."""
    try:
        methods = list(json.loads((folder / "compare.json").read_text()))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {folder / 'compare.json'} ({e}); re-run compare") from None
    morphs = [
        load_morph(folder / m, f"{view_id}-{m}", title=m)
        for m in methods
        if (folder / m / "result.json").is_file()
    ]
    budget = None
    if morphs:
        first = read_manifest(folder / methods[0])
        budget = (first.get("settings") or {}).get("matched_l2_budget")
    name = morphs[0].source_name + " → " + morphs[0].target_name if morphs else folder.name
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


def _read_csv_rows(folder: Path) -> list[dict[str, str]]:
    path = folder / "results.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _match_csv(rows: list[dict[str, str]], rel: str) -> dict[str, str]:
    """The ``results.csv`` row that names the case folder ``rel`` (any column), or ``{}``."""
    names = {rel, rel + "/", rel + "/result.json", Path(rel).name}
    for row in rows:
        if any(str(v) in names for v in row.values()):
            return row
    return {}


def load_morph_set(root: Path, folders: list[Path], prefix: str, max_rows: int) -> TableView:
    """One table of saved morphs (a batch, the demo gallery, any tree of morph folders)."""
    csv_rows = _read_csv_rows(root)
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
        manifest = read_manifest(folder)
        view = load_morph(folder, f"{prefix}-case{j}", title=rel, manifest=manifest)
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
        summaries=[t for md in sorted(root.glob("*.md")) for t in read_md_tables(md)],
        figures=_figures(root),
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
    ("status", "status", "text"),
]


def load_batch(folder: Path, view_id: str, max_rows: int) -> TableView:
    """A ``steerlens batch`` folder: its ``results.csv`` as a table (with the per-case morphs
    where artefacts were saved), its ``summary.md`` tables.

    Judge columns ``judge_<name>_top1_end`` become ``judge <name>`` success columns (top-1 of
    the judge on the last frame equals the target).
    """
    records = _read_csv_rows(folder)
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
        if case_dir and ".." not in Path(case_dir).parts and (folder / case_dir / "result.json").is_file():
            view = load_morph(folder / case_dir, f"{view_id}-case{j}", title=rec.get("image") or case_dir)
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
        title=f"batch {folder.name}: {len(records)} cases",
        columns=columns,
        rows=rows,
        cases=cases,
        summaries=read_md_tables(md) if md.is_file() else [],
        notes=notes,
    )


def load_experiment(folder: Path, view_id: str, max_rows: int) -> TableView:
    """The cases of a ``steerlens experiment`` folder, its summary tables and figures."""
    # read-only and tolerant of a torn last line (an experiment that is running or was killed)
    records = list(read_jsonl(folder / "cases.jsonl", "key").records.values())
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
        summaries=read_md_tables(md) if md.is_file() else [],
        figures=_figures(folder / "figures") + _figures(folder),
        notes=notes,
    )


def _figures(folder: Path) -> list[tuple[str, str]]:
    if not folder.is_dir():
        return []
    out = []
    for png in sorted(folder.glob("*.png")):
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        out.append((png.stem, "data:image/png;base64," + data))
    return out
