"""What the templates show: typed views of one morph, a comparison and a table of cases.

A view is built from what a saved result holds (``result.json`` and ``frames.npz``), so the report
and the app show the same thing for the same folder. Views hold strings and numbers only: the
templates never compute.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from steerlens.web.curves import Curves, curves
from steerlens.web.encode import sprite, thumb_data_uri

#: manifest keys of the model spec that are too long to show (1,000 ImageNet names)
_HIDDEN_MODEL_KEYS = ("class_names",)
#: Arrows start shown only when one displacement field explains at least this share of the last
#: frame's phase change (``phase_explained``): below half, most of the edit is not that motion and
#: the arrows would mislead. On the synthetic warp families a CSP phase edit's field explains 0.51
#: (10th percentile) to 0.60 (median), on Fashion-MNIST 0.29 and on photos 0.02-0.04 (median), so
#: the arrows start on for real motions and off for edits no motion explains. Fields that are the
#: edit itself (``flow``: no ``phase_explained``) start on. The checkbox shows them either way.
ARROWS_MIN_EXPLAINED = 0.5


@dataclass
class FrameRow:
    """One row of the per-frame table."""

    k: int
    amplification: float
    p_target: float
    p_source: float
    top1_name: str
    l2: float
    max_abs_dphi: float
    frac_wrapped: float


@dataclass
class MorphView:
    """One morph as the templates show it.

    Attributes
    ----------
    id
        Unique HTML id within a page (letters, digits, ``-``).
    title
        Heading, e.g. ``csp-phase: 3 -> 8``.
    sprite
        ``data:`` URI of all frames in one image (see :func:`~steerlens.web.encode.sprite`).
    thumb
        ``data:`` URI of the last frame, small.
    width, height
        Frame size in pixels.
    rows
        Per-frame table.
    curves
        Curve plot geometry.
    facts
        Headline manifest items (model, weights hash, settings, version...), label -> value.
    manifest_json
        The manifest (without the per-frame table and class list), pretty JSON.
    overshoot
        The overshoot message, or ``None``.
    verdict
        The plain sentence when the decision changed while the image stayed visibly the same
        (:mod:`steerlens.verdict`), or ``None``.
    files
        Downloads (label -> URL); empty in the report.
    arrows
        Displacement arrows as one SVG path in frame pixels (see
        :func:`~steerlens.web.arrows.arrows_path`), where the method has a field; else empty.
    frame_index
        Row of the per-frame table each image shows.
    arrows_note
        What the arrows show (field size, scale, share of the phase change explained).
    arrows_shown
        Whether the arrows start shown (see :data:`ARROWS_MIN_EXPLAINED`).
    sprite_cols, sprite_rows
        Grid of the sprite (frame k at column ``k % sprite_cols``, row ``k // sprite_cols``);
        ``sprite_cols`` 0: one row of every frame.
    """

    id: str
    title: str
    method: str
    regime: str
    target_name: str
    source_name: str
    succeeded: bool
    stop_reason: str
    sprite: str
    thumb: str
    width: int
    height: int
    rows: list[FrameRow]
    curves: Curves
    facts: dict[str, str]
    manifest_json: str
    overshoot: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    arrows: str = ""
    frame_index: list[int] = field(default_factory=list)
    arrows_note: str | None = None
    arrows_shown: bool = True
    sprite_cols: int = 0
    sprite_rows: int = 1
    verdict: str | None = None

    kind = "morph"

    def __post_init__(self) -> None:
        if not self.frame_index:
            self.frame_index = list(range(len(self.rows)))

    @property
    def n_frames(self) -> int:
        """Number of frames held as images (the scrubber's positions)."""
        return len(self.frame_index)

    @property
    def image_of_row(self) -> dict[int, int]:
        """Row index -> image index, for the rows that have an image."""
        return {row: i for i, row in enumerate(self.frame_index)}

    @property
    def marker_xs(self) -> str:
        """Curve x of each image, comma-separated (where the scrubber puts the marker)."""
        return ",".join(f"{self.curves.xs[i]:.1f}" for i in self.frame_index)

    @property
    def final(self) -> FrameRow:
        """The last frame's row."""
        return self.rows[-1]

    @property
    def frames_json(self) -> str:
        """Per-image label data for the scrubber: ``[[p_target, top1_name, l2, row], ...]``."""
        return json.dumps([
            [round(self.rows[i].p_target, 4), self.rows[i].top1_name, round(self.rows[i].l2, 4), i]
            for i in self.frame_index
        ])


@dataclass
class CompareView:
    """Several methods on one image at a shared budget, scrubbed together."""

    id: str
    title: str
    budget: float | None
    morphs: list[MorphView]
    kind = "compare"


@dataclass
class Column:
    """One column of a case table: ``kind`` is ``num``, ``text`` or ``bool``."""

    key: str
    label: str
    kind: str = "text"


@dataclass
class CaseRow:
    """One row of a case table: display text and sort value per column, and the case it opens."""

    cells: list[tuple[str, str]]  # (shown text, sort key)
    case_id: str | None = None
    thumb: str | None = None


@dataclass
class SummaryTable:
    """A summary table read from a results folder (e.g. one section of ``results.md``)."""

    title: str
    header: list[str]
    rows: list[list[str]]


@dataclass
class TableView:
    """A batch or an experiment: a sortable, filterable table of cases and its summary tables."""

    id: str
    title: str
    columns: list[Column]
    rows: list[CaseRow]
    cases: list[MorphView] = field(default_factory=list)
    summaries: list[SummaryTable] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (caption, data URI)
    notes: list[str] = field(default_factory=list)
    kind = "table"

    @property
    def methods(self) -> list[str]:
        """Distinct values of the ``method`` column (for the filter menu)."""
        idx = next((i for i, c in enumerate(self.columns) if c.key == "method"), None)
        if idx is None:
            return []
        return sorted({r.cells[idx][0] for r in self.rows if r.cells[idx][0]})


def slug(text: str) -> str:
    """An HTML-id-safe version of ``text``.

    Examples
    --------
    >>> slug("compare/csp phase (1)")
    'compare-csp-phase-1'
    """
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "x"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def manifest_facts(manifest: dict[str, Any]) -> dict[str, str]:
    """Headline items of a ``result.json`` manifest, label -> shown value.

    Examples
    --------
    >>> manifest_facts({"method": "pixel", "model": {"name": "m", "weights_sha256": "ab" * 32}})
    {'model': 'm', 'weights SHA-256': 'abababababab…', 'method': 'pixel'}
    """
    model = manifest.get("model") or {}
    settings = manifest.get("settings") or {}
    facts: dict[str, str] = {}
    if model.get("name"):
        facts["model"] = str(model["name"])
    sha = model.get("weights_sha256") or model.get("sha256")
    if sha:
        facts["weights SHA-256"] = str(sha)[:12] + "…"
    for key in ("method", "regime"):
        if manifest.get(key):
            facts[key] = str(manifest[key])
    for key in ("normalization", "color", "loss", "amplification", "goal_p", "l2_budget",
                "matched_l2_budget", "frames", "seed"):
        if settings.get(key) is not None:
            facts[key.replace("_", " ")] = _fmt(settings[key])
    if manifest.get("stop_reason"):
        facts["stopped"] = str(manifest["stop_reason"])
    if manifest.get("steerlens_version"):
        facts["steerlens"] = str(manifest["steerlens_version"])
    return facts


def _displayed_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in manifest.items() if k != "frames"}
    model = dict(shown.get("model") or {})
    for key in _HIDDEN_MODEL_KEYS:
        if key in model:
            model[key] = f"({len(model[key])} names)"
    if model:
        shown["model"] = model
    return shown


def arrows_start_shown(manifest: dict[str, Any]) -> bool:
    """Whether a morph's arrows start shown: unless one field explains under
    :data:`ARROWS_MIN_EXPLAINED` of the last frame's phase change.

    Examples
    --------
    >>> arrows_start_shown({"frames": [{"phase_explained": 0.02}]})
    False
    >>> arrows_start_shown({"frames": [{"phase_explained": 0.6}]}), arrows_start_shown({})
    (True, True)
    """
    frames = manifest.get("frames") or [{}]
    last = frames[-1] if isinstance(frames[-1], dict) else {}
    explained = last.get("phase_explained")
    try:
        return explained is None or float(explained) >= ARROWS_MIN_EXPLAINED
    except (TypeError, ValueError):
        return False


def morph_view(
    manifest: dict[str, Any],
    frames: np.ndarray,
    view_id: str,
    title: str | None = None,
    files: dict[str, str] | None = None,
    arrows: str = "",
    frame_index: list[int] | None = None,
    arrows_note: str | None = None,
) -> MorphView:
    """Build the view of one morph from its manifest and its frames.

    Parameters
    ----------
    manifest
        What :meth:`~steerlens.result.MorphResult.manifest` returns (``result.json``).
    frames
        ``(K, H, W, C)`` uint8 frames (``frames.npz``'s ``frames_uint8``).
    view_id
        Unique id on the page.
    title
        Heading; default ``method: source -> target``.
    files
        Download links, label -> URL.
    arrows
        Displacement arrows (an SVG path in frame pixels).
    frame_index
        Row of the per-frame table that each image shows, when only some frames were saved
        (a batch with ``--artefacts final`` keeps the source and the last frame); default: all.
    arrows_note
        Caption of the arrows.

    Examples
    --------
    >>> import numpy as np
    >>> m = {"method": "pixel", "target_name": "8", "source_name": "3", "succeeded": True,
    ...      "frames": [{"amplification": a, "p_target": a, "p_source": 1 - a, "top1_index": 3,
    ...                  "top1_name": "3", "l2": a} for a in (0.0, 0.5, 1.0)]}
    >>> v = morph_view(m, np.zeros((3, 28, 28, 1), np.uint8), "m1")
    >>> v.title, v.n_frames, v.curves.xs[-1]
    ('pixel: 3 → 8', 3, 280.0)
    """
    scores = manifest.get("frames") or []
    index = list(frame_index) if frame_index is not None else list(range(len(scores)))
    if len(index) != len(frames) or not scores or any(not 0 <= i < len(scores) for i in index):
        raise ValueError(
            f"result.json has {len(scores)} frames but {len(frames)} images were saved"
        )
    rows = [
        FrameRow(
            k=k,
            amplification=float(s.get("amplification", 0.0)),
            p_target=float(s.get("p_target", 0.0)),
            p_source=float(s.get("p_source", 0.0)),
            top1_name=str(s.get("top1_name", "")),
            l2=float(s.get("l2", 0.0)),
            max_abs_dphi=float(s.get("max_abs_dphi", 0.0)),
            frac_wrapped=float(s.get("frac_wrapped", 0.0)),
        )
        for k, s in enumerate(scores)
    ]
    method = str(manifest.get("method", "?"))
    source, target = str(manifest.get("source_name", "?")), str(manifest.get("target_name", "?"))
    overshoot = manifest.get("overshoot")
    verdict = manifest.get("verdict")
    h, w = int(frames.shape[1]), int(frames.shape[2])
    sheet = sprite(frames)
    return MorphView(
        id=slug(view_id),
        title=title or f"{method}: {source} → {target}",
        method=method,
        regime=str(manifest.get("regime", "one-step")),
        target_name=target,
        source_name=source,
        succeeded=bool(manifest.get("succeeded", rows[-1].top1_name == target)),
        stop_reason=str(manifest.get("stop_reason", "")),
        sprite=sheet.uri,
        thumb=thumb_data_uri(frames[-1]),
        width=w,
        height=h,
        rows=rows,
        curves=curves([r.p_target for r in rows], [r.p_source for r in rows], [r.l2 for r in rows]),
        facts=manifest_facts(manifest),
        manifest_json=json.dumps(_displayed_manifest(manifest), indent=1, default=str),
        overshoot=(overshoot.get("message") or "overshoot") if isinstance(overshoot, dict) else None,
        files=dict(files or {}),
        arrows=arrows,
        frame_index=index,
        arrows_note=arrows_note,
        arrows_shown=arrows_start_shown(manifest),
        sprite_cols=sheet.cols,
        sprite_rows=sheet.rows,
        verdict=(str(verdict.get("message") or "") or None) if isinstance(verdict, dict) else None,
    )
