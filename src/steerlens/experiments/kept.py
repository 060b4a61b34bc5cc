"""The morphs an experiment keeps for its filmstrips, stored as data: one ``.npz`` per group.

A results folder is something a user may have been sent, so nothing in it is ever unpickled: each
file holds float arrays (``frames_<i>``, ``source_<i>``) and one JSON string (``meta``: the source
ids and every other field of the :class:`~steerlens.result.MorphResult` s), and is read with
``numpy.load(allow_pickle=False)``. A file that is damaged, of another format, or holds anything
else (a planted pickle included) is reported and treated as absent; the runner then recomputes the
morphs it needs. Files are written atomically (temporary file + ``os.replace``).
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from steerlens.outputs import TMP_PREFIX, dumps_json
from steerlens.result import FrameScore, MorphResult, Overshoot

__all__ = ["KEPT_FORMAT", "load_kept", "save_kept"]

#: ``meta["format"]`` of the files this module writes
KEPT_FORMAT = "steerlens-kept-1"
_FLOAT_KINDS = ("f",)


def _plain(obj: Any) -> Any:
    """JSON-safe copy: tensors and numpy values as lists/numbers, NaN/inf as ``None``."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return _plain(obj.detach().cpu().tolist())
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return _plain(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def _to_meta(sid: str, r: MorphResult) -> dict[str, Any]:
    return _plain({
        "id": sid,
        "amplifications": [float(a) for a in r.amplifications],
        "scores": [asdict(s) for s in r.scores],
        "target": int(r.target),
        "target_name": r.target_name,
        "source_class": int(r.source_class),
        "source_name": r.source_name,
        "method": r.method,
        "regime": r.regime,
        "settings": r.settings,
        "model_spec": r.model_spec,
        "timings": r.timings,
        "overshoot": asdict(r.overshoot) if r.overshoot is not None else None,
        "stop_reason": r.stop_reason,
        "judges": r.judges,
        "reached": bool(r.reached),
        "runtime": r.runtime,
    })


def _nan(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _from_meta(m: dict[str, Any], frames: np.ndarray, source: np.ndarray) -> MorphResult:
    scores = [
        FrameScore(
            amplification=_nan(s["amplification"]), p_target=_nan(s["p_target"]),
            p_source=_nan(s["p_source"]), top1_index=int(s["top1_index"]),
            top1_name=str(s["top1_name"]), l2=_nan(s["l2"]),
            max_abs_dphi=_nan(s.get("max_abs_dphi", 0.0)),
            frac_wrapped=_nan(s.get("frac_wrapped", 0.0)),
        )
        for s in m["scores"]
    ]
    if frames.ndim != 4 or source.ndim != 3 or len(scores) != frames.shape[0]:
        raise ValueError(f"result {m['id']!r}: frames {frames.shape}, source {source.shape}, "
                         f"{len(scores)} scores do not fit together")
    ov = m.get("overshoot")
    return MorphResult(
        frames=torch.from_numpy(frames.copy()),
        source=torch.from_numpy(source.copy()),
        amplifications=[_nan(a) for a in m["amplifications"]],
        scores=scores,
        target=int(m["target"]),
        target_name=str(m["target_name"]),
        source_class=int(m["source_class"]),
        source_name=str(m["source_name"]),
        method=str(m["method"]),
        regime=str(m["regime"]),
        settings=dict(m.get("settings") or {}),
        model_spec=dict(m.get("model_spec") or {}),
        timings={k: _nan(v) for k, v in (m.get("timings") or {}).items()},
        overshoot=Overshoot(**ov) if ov else None,
        stop_reason=str(m["stop_reason"]),
        judges=dict(m.get("judges") or {}),
        reached=bool(m["reached"]),
        runtime=dict(m.get("runtime") or {}),
    )


def save_kept(path: str | Path, results: Mapping[str, MorphResult]) -> Path:
    """Write ``source id -> MorphResult`` to ``path`` (``.npz``: float arrays + a JSON string).

    Examples
    --------
    >>> import tempfile
    >>> from steerlens.result import FrameScore, MorphResult
    >>> s = FrameScore(0.0, 0.1, 0.9, 3, "3", 0.0)
    >>> r = MorphResult(torch.zeros(1, 1, 4, 4), torch.zeros(1, 4, 4), [0.0], [s], 8, "8", 3, "3",
    ...                 "pixel")
    >>> p = save_kept(Path(tempfile.mkdtemp()) / "kept.npz", {"test-0001": r})
    >>> back = load_kept(p)["test-0001"]
    >>> back.frames.shape, back.scores[0].p_source, back.target_name
    (torch.Size([1, 1, 4, 4]), 0.9, '8')
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    metas = []
    for i, (sid, r) in enumerate(results.items()):
        arrays[f"frames_{i}"] = r.frames.detach().cpu().numpy()
        arrays[f"source_{i}"] = r.source.detach().cpu().numpy()
        metas.append(_to_meta(sid, r))
    meta = dumps_json({"format": KEPT_FORMAT, "results": metas}, indent=None)
    buf = io.BytesIO()
    np.savez_compressed(buf, meta=np.array(meta), **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _read(path: Path) -> dict[str, MorphResult]:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"].item()))
        if not isinstance(meta, dict) or meta.get("format") != KEPT_FORMAT:
            raise ValueError(f"not a {KEPT_FORMAT} file")
        out: dict[str, MorphResult] = {}
        for i, m in enumerate(meta["results"]):
            frames, source = z[f"frames_{i}"], z[f"source_{i}"]
            if frames.dtype.kind not in _FLOAT_KINDS or source.dtype.kind not in _FLOAT_KINDS:
                raise ValueError(f"result {i} holds {frames.dtype} / {source.dtype}, not floats")
            out[str(m["id"])] = _from_meta(m, frames, source)
    return out


def load_kept(path: str | Path) -> dict[str, MorphResult]:
    """Read a file written by :func:`save_kept`; ``{}`` (with a warning) if it is absent or unusable.

    Nothing is unpickled: an object array, a pickle or any other content is refused.

    Examples
    --------
    >>> import pickle, tempfile
    >>> p = Path(tempfile.mkdtemp()) / "kept.npz"
    >>> _ = p.write_bytes(pickle.dumps(print))
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     load_kept(p), "ignoring unreadable" in str(w[0].message)
    ({}, True)
    """
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return _read(path)
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, AttributeError,
            zipfile.BadZipFile) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        warnings.warn(f"ignoring unreadable kept results {path} ({msg}); recomputing them",
                      stacklevel=2)
        return {}
