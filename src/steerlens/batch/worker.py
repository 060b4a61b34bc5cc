"""Run one chunk of cases in the current process: what an in-process run and every Dask worker call.

:func:`run_chunk` loads the model once per process (a cache keyed by the model's load arguments
and device), decodes the chunk's images, resolves rank targets (runner-up, all), calls
:func:`steerlens.morph_batch` once for the chunk, scores judges, and returns one
:class:`CaseOutcome` per case: the table row and the case's artefact files as bytes. Workers never
write to the output folder; the driver does, so a cluster needs no shared file system for outputs.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from steerlens.batch.plan import Case
from steerlens.data.images import fit_image
from steerlens.runs.judges import score_judges

__all__ = [
    "ARTEFACT_LEVELS", "CaseOutcome", "ChunkTask", "ModelRef", "load_cached", "resolve_device", "run_chunk",
]

#: ``--artefacts`` levels, least to most disk
ARTEFACT_LEVELS = ("none", "final", "all")

_MODELS: dict[tuple, Any] = {}
_DATASETS: dict[str, Any] = {}


@dataclass(frozen=True)
class ModelRef:
    """How to load a model, picklable so workers can load it themselves.

    Attributes
    ----------
    spec
        What :func:`steerlens.load_model` takes (built-in name, file, ``module:factory``...).
    weights
        State-dict file, or ``None``.
    options
        ``input_size``, ``channels``, ``class_names``, ``normalize`` for user models.
    sha256
        The weights' SHA-256 the driver saw; a worker that loads other weights refuses to run.
    """

    spec: str
    weights: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    sha256: str | None = None


@dataclass(frozen=True)
class ChunkTask:
    """Everything a worker needs for one chunk."""

    chunk_id: str
    cases: tuple[Case, ...]
    config: dict[str, Any]
    settings_hash: str
    model: ModelRef
    judges: tuple[tuple[str, ModelRef], ...] = ()
    device: str = "cpu"
    threads: int = 1
    artefacts: str = "final"


@dataclass
class CaseOutcome:
    """One finished case: its row and its artefact files (name -> bytes)."""

    row: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


def load_cached(ref: ModelRef, device: str = "cpu"):
    """Load ``ref`` once per process and device; later calls return the same model.

    Examples
    --------
    >>> m = load_cached(ModelRef("efficientnet-lite0"))
    >>> m is load_cached(ModelRef("efficientnet-lite0"))
    True
    """
    key = (ref.spec, ref.weights, ref.options, str(device))
    if key not in _MODELS:
        from steerlens.errors import ModelError
        from steerlens.models import load_model

        model = load_model(ref.spec, weights=ref.weights, device=device, progress=False, **dict(ref.options))
        sha = model.spec.get("weights_sha256")
        if ref.sha256 is not None and sha is not None and sha != ref.sha256:
            raise ModelError(
                f"worker {socket.gethostname()} loaded {ref.spec} with weights {sha[:12]}, the driver "
                f"has {ref.sha256[:12]}; give every machine the same weights file"
            )
        _MODELS[key] = model
    return _MODELS[key]


def remember(ref: ModelRef, model: Any, device: str = "cpu") -> None:
    """Put an already loaded ``model`` into this process's cache (the in-process driver's model)."""
    _MODELS[(ref.spec, ref.weights, ref.options, str(device))] = model


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` where this process sees a GPU, else ``cpu``; other names unchanged.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def run_chunk(task: ChunkTask) -> list[CaseOutcome]:
    """Morph the cases of one chunk; never raises for a bad case (it becomes a failed row).

    Parameters
    ----------
    task
        The chunk, its settings, how to load the model, device and thread count.

    Returns
    -------
    list of CaseOutcome
        One per case of the chunk, in chunk order.

    Examples
    --------
    >>> from steerlens.batch.inputs import ImageItem
    >>> from steerlens.config import MorphConfig
    >>> case = Case("k" * 24, ImageItem("mnist:test:0", "mnist/test/0", "0" * 64), None,
    ...             "class", 3, "3", 0)
    >>> task = ChunkTask("c1", (case,), MorphConfig().to_dict(), "s", ModelRef("mnist-cnn"),
    ...                  device="cpu", artefacts="none")
    >>> [o.row["target"] for o in run_chunk(task)]  # doctest: +SKIP
    [3]
    """
    from steerlens.config import MorphConfig
    from steerlens.threads import apply_worker_threads

    apply_worker_threads(task.threads)
    device = resolve_device(task.device)
    tic = time.perf_counter()
    loaded = len(_MODELS)
    model = load_cached(task.model, device)
    judges = {name: load_cached(ref, device) for name, ref in task.judges}
    load_s = time.perf_counter() - tic if len(_MODELS) > loaded else 0.0
    common = {
        "chunk_id": task.chunk_id,
        "chunk_len": len(task.cases),
        "settings_hash": task.settings_hash,
        "model": model.name,
        "model_sha256": model.spec.get("weights_sha256"),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "artefacts": task.artefacts,
        "load_s": load_s,
    }
    rows = [_base_row(c, pos, task, common) for pos, c in enumerate(task.cases)]
    images: dict[int, torch.Tensor] = {}
    for pos, case in enumerate(task.cases):
        if case.item.error is not None:
            _fail(rows[pos], case.item.error)
            continue
        try:
            images[pos] = _load_pixels(case.item.ref, model)
        except Exception as e:  # noqa: BLE001 - any decoding failure is this case's failure
            _fail(rows[pos], _reason(e))
    if not images:
        return [CaseOutcome(r) for r in rows]
    order = sorted(images)
    x = torch.cat([images[p] for p in order]).to(device)
    torch.manual_seed(int(task.config.get("seed", 0)))
    with torch.no_grad():
        probs = model.probabilities(x).cpu()
    targets = []
    keep = []
    for j, pos in enumerate(order):
        t = _target(task.cases[pos], probs[j])
        if t is None:
            _fail(rows[pos], f"no class at rank {task.cases[pos].target_value} for this image")
        else:
            targets.append(t)
            keep.append(j)
    if not keep:
        return [CaseOutcome(r) for r in rows]
    order = [order[j] for j in keep]
    x = x[keep]
    cfg = MorphConfig(**task.config)
    tic = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="target equals the source")
            results = _morph(model, x, torch.tensor(targets), cfg, device)
    except Exception as e:  # noqa: BLE001 - recorded on every case of the chunk
        for pos in order:
            _fail(rows[pos], _reason(e))
        return [CaseOutcome(r) for r in rows]
    morph_s = time.perf_counter() - tic
    files: dict[int, dict[str, bytes]] = {}
    for pos, res in zip(order, results, strict=True):
        res = res.with_settings(image=task.cases[pos].item.name, case_key=task.cases[pos].key)
        judged = _fill(rows[pos], res, judges, morph_s / len(order))
        if judged:
            res = res.replace(judges={**res.judges, **judged})
        tic = time.perf_counter()
        files[pos] = _artefacts(res, task.artefacts)
        rows[pos]["artefact_s"] = time.perf_counter() - tic
    return [CaseOutcome(r, files.get(pos, {})) for pos, r in enumerate(rows)]


def _morph(model, x, targets, cfg, device):
    from steerlens.api import morph_batch

    return morph_batch(model, x, targets, cfg, device=device)


def _base_row(case: Case, pos: int, task: ChunkTask, common: dict[str, Any]) -> dict[str, Any]:
    return {
        "case_key": case.key,
        "status": "ok",
        "error": None,
        "image": case.item.name,
        "image_sha256": case.item.sha256,
        "source_label": case.item.label,
        "source_label_index": case.label_index,
        "target_rule": case.rule,
        "target_rank": case.target_value if case.target_kind == "rank" else None,
        "method": task.config["method"],
        "regime": task.config["regime"],
        "budget": task.config.get("l2_budget"),
        "chunk_pos": pos,
        **common,
    }


def _fail(row: dict[str, Any], reason: str) -> None:
    row["status"] = "failed"
    row["error"] = reason


def _reason(e: BaseException) -> str:
    from steerlens.errors import SteerlensError

    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return text if isinstance(e, SteerlensError) else f"{type(e).__name__}: {text}"[:300]


def _load_pixels(ref: str, model) -> torch.Tensor:
    """``(1, C, H, W)`` in [0, 1] at the model's size and channels."""
    from steerlens.batch.inputs import DATASETS, load_dataset

    name, _, rest = ref.partition(":")
    if name in DATASETS and rest and not Path(ref).exists():
        part, _, index = rest.partition(":")
        if name not in _DATASETS:
            _DATASETS[name] = load_dataset(name)
        split = _DATASETS[name]
        x = (split.x_test if part == "test" else split.x_train)[int(index)][None].float()
        return fit_image(x, model).contiguous()
    return fit_image(ref, model)  # the one image fit, as the API, CLI and app do


def _target(case: Case, p: torch.Tensor) -> int | None:
    if case.target_kind == "class":
        return case.target_value
    top1 = int(p.argmax())
    exclude = {top1} | ({case.label_index} if case.label_index is not None else set())
    ranked = [int(i) for i in torch.argsort(p, descending=True, stable=True) if int(i) not in exclude]
    r = case.target_value
    return ranked[r - 1] if 1 <= r <= len(ranked) else None


def _fill(row: dict[str, Any], res, judges: dict[str, Any], case_s: float
          ) -> dict[str, list[float]]:
    """Fill ``row`` from ``res``; return each judge's target probability at the source and the
    last frame (for the result's ``judges``)."""
    from steerlens.methods import get_method

    s0, s1 = res.scores[0], res.final
    phase = get_method(res.method).has_phase_statistics
    row.update(
        target=res.target,
        target_name=res.target_name,
        top1_start=s0.top1_index,
        top1_start_name=s0.top1_name,
        top1_end=s1.top1_index,
        top1_end_name=s1.top1_name,
        p_target_start=s0.p_target,
        p_target_end=s1.p_target,
        p_source_start=s0.p_source,
        p_source_end=s1.p_source,
        l2=s1.l2,
        amplification=s1.amplification,
        frames=len(res.scores),
        reached=bool(res.reached),
        succeeded=res.succeeded,
        overshoot=res.overshoot is not None,
        # the decision changed while the last frame looks like the source (steerlens.verdict)
        ssim_end=res.verdict.ssim,
        looks_adversarial=res.verdict.looks_adversarial,
        stop_reason=res.stop_reason,
        max_abs_dphi=s1.max_abs_dphi if phase else None,
        frac_wrapped=s1.frac_wrapped if phase else None,
        peak_abs_dphi=max(s.max_abs_dphi for s in res.scores) if phase else None,
        # displacement field of the last frame (flow, csp-motion; the best-fitting field for CSP
        # phase edits), None where the method has none
        mean_displacement_px=getattr(s1, "mean_displacement", None),
        max_displacement_px=getattr(s1, "max_displacement", None),
        phase_explained=getattr(s1, "phase_explained", None),
        time_case_s=case_s,
    )
    judged: dict[str, list[float]] = {}
    scores = score_judges(judges, res.frames[-1][None], res.target, source=res.source[None])
    for name, s in scores.items():
        assert s.p_start is not None
        start, end = float(s.p_start[0]), float(s.p_end[0])
        row[f"judge_{name}_p_target_start"] = start
        row[f"judge_{name}_p_target_end"] = end
        row[f"judge_{name}_top1_end"] = int(s.top1_end[0])
        judged[name] = [start, end]
    return judged


def _artefacts(res, level: str) -> dict[str, bytes]:
    if level == "none":
        return {}
    with tempfile.TemporaryDirectory(prefix="steerlens-batch-") as d:
        out = Path(d) / "case"
        if level == "all":
            res.save(out)
        else:
            from steerlens.data.images import save_image
            from steerlens.outputs import dumps_json

            out.mkdir()
            (out / "result.json").write_text(dumps_json(res.manifest()) + "\n")
            save_image(res.frames[-1], out / "final.png")
            save_image(res.source, out / "source.png")
        return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
