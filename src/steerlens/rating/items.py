"""Collect the morphs to rate from saved results, through the report's confined reader.

Every result a steerlens command saves can be rated:

- ``steerlens morph`` folders and any tree of them (``result.json`` + ``frames.npz``), including
  the method folders of ``steerlens compare`` (``compare.json`` beside them) and the cases of
  ``steerlens batch`` (``cases/<ab>/<key>/`` with ``result.json``, ``source.png`` and
  ``final.png``);
- ``steerlens experiment`` folders, from the morphs they keep for their figures
  (``cache/kept/*.npz``, see :mod:`steerlens.experiments.kept`).

Every file is read through one :class:`~steerlens.web.confine.Confined` reader (only inside the
folders given, only regular files, each up to a cap) and checked by
:mod:`steerlens.web.saved`, as for ``steerlens report``. What comes back is a list of
:class:`Candidate`: the images a rater sees and, kept apart, what the key records.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from steerlens.errors import ConfigError
from steerlens.web.confine import Confined
from steerlens.web.saved import check_frames, read_frames, read_manifest

__all__ = ["Candidate", "collect_candidates"]

#: Final-frame numbers of ``result.json`` the key keeps as scores.
SCORE_KEYS = ("p_target", "p_source", "l2", "top1_name", "max_abs_dphi", "frac_wrapped",
              "mean_displacement", "max_displacement", "phase_explained")
#: Format of the experiment's kept-morph files this module reads.
KEPT_FORMAT = "steerlens-kept-1"


@dataclass
class Candidate:
    """One saved morph that can become a rating item.

    ``frames`` is what a rater may see (``(K, H, W, C)`` uint8: every saved frame, or only the
    source and the final frame); everything else goes into the key only.
    """

    frames: np.ndarray
    source_key: str  #: identity of the source image (same source -> same key)
    source_label: str  #: the image's name where the result records one
    source_name: str  #: the source class's name
    target_name: str
    method: str
    regime: str
    budget: float | None  #: the pixel-L2 budget asked for (None: the morph aimed at a probability)
    model: str
    weights_sha256: str | None
    origin: str  #: where it was read from, relative to the folder given
    scores: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] | None = None

    @property
    def source(self) -> np.ndarray:
        """The source image ``(H, W, C)`` uint8 (the first frame)."""
        return self.frames[0]

    @property
    def final(self) -> np.ndarray:
        """The final frame ``(H, W, C)`` uint8."""
        return self.frames[-1]


def _uint8(images: np.ndarray) -> np.ndarray:
    if images.dtype == np.uint8:
        return np.ascontiguousarray(images)
    return (np.clip(images.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _pixel_key(image: np.ndarray) -> str:
    return "px:" + hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]


def _budget(settings: dict[str, Any]) -> float | None:
    value = settings.get("matched_l2_budget", settings.get("l2_budget"))
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _scores(manifest: dict[str, Any]) -> dict[str, Any]:
    last = manifest["frames"][-1]
    out: dict[str, Any] = {k: last[k] for k in SCORE_KEYS if last.get(k) is not None}
    for key in ("succeeded", "reached"):
        if isinstance(manifest.get(key), bool):
            out[key] = manifest[key]
    out["overshoot"] = manifest.get("overshoot") is not None
    if isinstance(manifest.get("stop_reason"), str):
        out["stop_reason"] = manifest["stop_reason"]
    judges = manifest.get("judges")
    if isinstance(judges, dict):
        for name, values in judges.items():
            if isinstance(values, list) and values and isinstance(values[-1], (int, float)):
                out[f"judge_{name}_p_target"] = float(values[-1])
    return out


def _text(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _from_morph(folder: Path, root: Path, reader: Confined, group_key: str | None) -> Candidate:
    manifest = read_manifest(folder, reader)
    saved = read_frames(folder, len(manifest["frames"]), reader)
    frames = _uint8(saved.images)
    settings = manifest.get("settings") or {}
    model = manifest.get("model") or {}
    image = _text(settings.get("image"))
    key = ("image:" + image) if image else (group_key or _pixel_key(frames[0]))
    names = model.get("class_names")
    return Candidate(
        frames=frames,
        source_key=key,
        source_label=image or folder.relative_to(root).as_posix(),
        source_name=str(manifest.get("source_name", "")),
        target_name=str(manifest.get("target_name", "")),
        method=_text(manifest.get("method"), "?"),
        regime=_text(manifest.get("regime"), "one-step"),
        budget=_budget(settings),
        model=_text(model.get("name")),
        weights_sha256=_text(model.get("weights_sha256")) or None,
        origin=(root.name + "/" + folder.relative_to(root).as_posix()).rstrip("/."),
        scores=_scores(manifest),
        class_names=[str(n) for n in names] if isinstance(names, list) else None,
    )


def _from_kept(path: Path, root: Path, reader: Confined) -> Iterator[Candidate]:
    """The morphs of one experiment kept-morph file (float arrays and one JSON string)."""
    head = reader.read_npz(path, ["meta"])
    try:
        meta = json.loads(str(head["meta"].item()))
        results = meta["results"] if meta.get("format") == KEPT_FORMAT else None
    except (KeyError, ValueError, TypeError, AttributeError):
        results = None
    if not isinstance(results, list):
        raise ConfigError(f"{path} is not a kept-morph file of steerlens experiment; re-run it")
    for i, m in enumerate(results):
        arrays = reader.read_npz(path, [f"frames_{i}"])
        if not isinstance(m, dict) or f"frames_{i}" not in arrays or not isinstance(m.get("scores"), list):
            raise ConfigError(f"{path}: kept morph {i} is incomplete; re-run the experiment")
        frames = arrays[f"frames_{i}"]
        if frames.ndim == 4 and frames.shape[1] in (1, 3):  # (K, C, H, W) as the experiment keeps them
            frames = frames.transpose(0, 2, 3, 1)
        frames = _uint8(check_frames(frames, path))
        settings = m.get("settings") if isinstance(m.get("settings"), dict) else {}
        spec = m.get("model_spec") if isinstance(m.get("model_spec"), dict) else {}
        manifest = {"frames": m["scores"] or [{}], "succeeded": None, "reached": m.get("reached"),
                    "overshoot": m.get("overshoot"), "stop_reason": m.get("stop_reason"),
                    "judges": m.get("judges")}
        sid = str(m.get("id", i))
        yield Candidate(
            frames=frames,
            source_key="exp:" + sid,
            source_label=sid,
            source_name=str(m.get("source_name", "")),
            target_name=str(m.get("target_name", "")),
            method=_text(m.get("method"), "?"),
            regime=_text(m.get("regime"), "one-step"),
            budget=_budget(settings),
            model=_text(spec.get("name")),
            weights_sha256=_text(spec.get("weights_sha256")) or None,
            origin=f"{root.name}/{path.relative_to(root).as_posix()}#{i}",
            scores=_scores(manifest) if m["scores"] and isinstance(m["scores"][-1], dict) else {},
            class_names=None,
        )


def _visible(path: Path, root: Path) -> bool:
    """Not inside a hidden folder (the temporary folders of an unfinished write start with '.')."""
    return not any(part.startswith(".") for part in path.relative_to(root).parts[:-1])


def collect_candidates(folders: Iterable[str | Path]) -> list[Candidate]:
    """Every saved morph in ``folders``, in a stable order (folder given, then path).

    Parameters
    ----------
    folders
        Folders written by ``morph``, ``compare``, ``batch`` or ``experiment``, or any folder
        holding them.

    Raises
    ------
    ConfigError
        A folder does not exist or holds no saved morph; a file is damaged, not a regular file,
        too large, or reached through a path that leaves ``folders``.

    Examples
    --------
    >>> items = collect_candidates(["out/compare"])                       # doctest: +SKIP
    >>> sorted({c.method for c in items})                                 # doctest: +SKIP
    ['csp-joint', 'csp-phase', 'fourier-phase', 'pixel']
    """
    roots = [Path(f) for f in folders]
    if not roots:
        raise ConfigError("give at least one folder of saved results")
    for root in roots:
        if not root.exists():
            raise ConfigError(f"{root} does not exist; pass a folder of saved results")
        if not root.is_dir():
            raise ConfigError(f"{root} is not a folder; pass the folder a command wrote")
    reader = Confined(roots)
    out: list[Candidate] = []
    for root in roots:
        found: list[Candidate] = []
        compares = {p.parent for p in root.rglob("compare.json") if _visible(p, root)}
        for path in sorted(p for p in root.rglob("result.json") if _visible(p, root)):
            folder = path.parent
            group = None
            if folder.parent in compares:  # the methods of one comparison share their source
                group = "cmp:" + hashlib.sha256(str(reader.inside(folder.parent)).encode()).hexdigest()[:16]
            found.append(_from_morph(folder, root, reader, group))
        for path in sorted(p for p in root.rglob("*.npz")
                           if p.parent.name == "kept" and p.parent.parent.name == "cache"
                           and _visible(p, root)):
            found.extend(_from_kept(path, root, reader))
        if not found:
            raise ConfigError(
                f"{root} holds no saved morphs (no result.json, no experiment cache/kept/*.npz); "
                "pass the --out folder of morph, compare, batch or experiment"
            )
        out.extend(found)
    return out
