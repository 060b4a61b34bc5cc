"""steerlens performance benchmarks: CSP vs plenoptic, morph vs classifier floor, live regime, memory.

Run ``python benchmarks/run.py [--quick] [--device cpu|cuda] [--amp] [--channels-last]``. Every
compared pair is measured in this one process, interleaved (A B, B A, A B, ...) after a warm-up, and
summarised by medians over repeats, so ratios hold on a noisy shared machine. Peak memory is measured
in a fresh subprocess per case on CPU (peak RSS, reset through ``/proc/self/clear_refs``) and with
``torch.cuda.max_memory_allocated`` on CUDA. Results go to ``benchmarks/results/<machine>.json`` and
a markdown table beside it.

The *classifier floor* of a morph is what any method that scores K frames with the same classifier
must pay: one forward + backward with respect to the input, plus K forwards of the same batch in the
same chunks. ``overhead ratio = morph time / floor time``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_DIR = HERE / "results"
if str(HERE) not in sys.path:  # run as a script: make the sibling resnet50.py importable
    sys.path.insert(0, str(HERE))

from load import BusyProcess, load1, verdict

from steerlens.api import morph_batch
from steerlens.config import MorphConfig
from steerlens.errors import SteerlensError
from steerlens.frames import clipped_frames, group_coefficients_for, iter_edited_bands, phase_stats
from steerlens.gradient import coefficient_gradient, edit_direction
from steerlens.models.base import Classifier
from steerlens.provenance import cpu_cores, cpu_model, library_versions
from steerlens.provenance import git_commit as provenance_commit
from steerlens.threads import apply_thread_policy, job_size, thread_policy, unpin

#: the issue's goals; reported next to the measurements, never asserted
GOALS = {
    "csp_speedup_vs_plenoptic_min": 2.0,
    "morph_overhead_ratio_cpu_max": 1.25,
    "morph_overhead_ratio_gpu_batch32_max": 1.08,
    "morph_overhead_ratio_gpu_batch1_max": 1.05,
}
HEADLINE_CSP = "csp-224-rgb-b1"
HEADLINE_MORPH = "efficientnet-lite0-224-K12-b1"
MAX_PHASE = 3.0  # largest amplification of the explicit schedules (radians, global-max units)


# ----------------------------------------------------------------------------- settings and cases
@dataclass(frozen=True)
class Settings:
    """How to run: device, size of the run, precision, repeats.

    Examples
    --------
    >>> Settings(quick=True).repeats
    3
    """

    device: str = "cpu"
    quick: bool = False
    amp: bool = False
    channels_last: bool = False
    repeats: int | None = None
    warmup: int = 1
    threads: int | None = None
    memory: bool = True
    method: str = "csp-phase"
    busy: bool = False

    def __post_init__(self) -> None:
        if self.repeats is None:
            object.__setattr__(self, "repeats", 3 if self.quick else 7)


@dataclass(frozen=True)
class CspCase:
    """One CSP analysis+synthesis measurement: ``batch`` images of ``channels x size x size``."""

    channels: int
    size: int
    batch: int

    @property
    def name(self) -> str:
        kind = "rgb" if self.channels == 3 else "gray"
        return f"csp-{self.size}-{kind}-b{self.batch}"


@dataclass(frozen=True)
class MorphCase:
    """One morph measurement: ``model`` at its native ``size``, ``frames`` frames, ``batch`` images."""

    model: str
    size: int
    frames: int
    batch: int

    @property
    def name(self) -> str:
        return f"{self.model}-{self.size}-K{self.frames}-b{self.batch}"


def csp_cases(settings: Settings) -> list[CspCase]:
    """224² RGB, 64² and 32² gray at batch 1 and 32 (the 224² batch-32 case is skipped by --quick).

    Examples
    --------
    >>> [c.name for c in csp_cases(Settings(quick=True))][:2]
    ['csp-224-rgb-b1', 'csp-64-gray-b1']
    """
    cases = [CspCase(3, 224, 1)]
    if not settings.quick or settings.device == "cuda":
        cases.append(CspCase(3, 224, 32))
    cases += [CspCase(1, s, b) for s in (64, 32) for b in (1, 32)]
    return cases


def morph_cases(settings: Settings) -> list[MorphCase]:
    """Lite0 224² K=12 b1; MNIST CNN 28² K=16 b1 and b32; on CUDA also ResNet-50 224² K=16 b32, b1.

    Examples
    --------
    >>> [c.name for c in morph_cases(Settings())]
    ['efficientnet-lite0-224-K12-b1', 'mnist-cnn-28-K16-b1', 'mnist-cnn-28-K16-b32']
    """
    cases = [
        MorphCase("efficientnet-lite0", 224, 12, 1),
        MorphCase("mnist-cnn", 28, 16, 1),
        MorphCase("mnist-cnn", 28, 16, 32),
    ]
    if settings.device == "cuda":
        cases += [MorphCase("resnet50", 224, 16, 32), MorphCase("resnet50", 224, 16, 1)]
    return cases


def memory_cases(settings: Settings) -> list[MorphCase]:
    """The morph cases whose peak memory is measured (--quick on CPU: Lite0 and MNIST batch 32)."""
    cases = morph_cases(settings)
    if settings.quick and settings.device == "cpu":
        cases = [c for c in cases if c.batch > 1 or c.model == "efficientnet-lite0"]
    return cases


# ----------------------------------------------------------------------------- timing
def synchronize(device: torch.device) -> None:
    """Wait for queued device work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(
    fns: dict[str, Callable[[], Any]], repeats: int, warmup: int, device: torch.device,
    loads: list[float] | None = None,
) -> dict[str, list[float]]:
    """Wall-clock seconds of each callable, measured in alternating order over ``repeats`` rounds.

    Round r runs the variants in order, round r+1 in reverse, so slow drifts of the machine's load
    hit every variant alike. ``warmup`` untimed rounds come first. The 1-minute load average
    before every timed run is appended to ``loads`` when given.

    Examples
    --------
    >>> t = time_interleaved({"a": lambda: None, "b": lambda: None}, 3, 1, torch.device("cpu"))
    >>> sorted(t), len(t["a"])
    (['a', 'b'], 3)
    """
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    synchronize(device)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for n in names if r % 2 == 0 else names[::-1]:
            synchronize(device)
            if loads is not None:
                loads.append(load1())
            tic = time.perf_counter()
            fns[n]()
            synchronize(device)
            out[n].append(time.perf_counter() - tic)
    return out


def paired_ratio(num: list[float], den: list[float]) -> float:
    """Median over rounds of ``num[i] / den[i]`` (robust to load changes between rounds).

    Examples
    --------
    >>> paired_ratio([2.0, 3.0, 9.0], [1.0, 1.0, 1.0])
    3.0
    """
    return float(statistics.median(a / b for a, b in zip(num, den)))


def _sub_repeats(settings: Settings) -> int:
    """Repeats of the secondary comparisons (breakdown, live): about half, at least 3 if possible."""
    return settings.repeats if settings.repeats < 3 else max(3, settings.repeats // 2)


def _ms(ts: list[float]) -> float:
    return round(1e3 * statistics.median(ts), 3)


def precision(settings: Settings, device: torch.device) -> AbstractContextManager[Any]:
    """bf16 autocast when ``--amp``, else nothing (applies to morph and floor alike)."""
    if settings.amp:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


# ----------------------------------------------------------------------------- models and inputs
def build_model(name: str, device: torch.device, channels_last: bool = False) -> Classifier:
    """The benchmark's classifier by name: ``efficientnet-lite0``, ``mnist-cnn`` or ``resnet50``.

    ``mnist-cnn`` is the built-in MNIST CNN's architecture with random weights (cost does not depend
    on weights, and this avoids training it inside a timed run); ``resnet50`` is random too.
    """
    if name == "efficientnet-lite0":
        from steerlens.models import load_model

        model = load_model(name, device=device)
    elif name == "mnist-cnn":
        from steerlens.models.architectures import build

        torch.manual_seed(0)
        net = build("cnn", 1, 10, 28)
        model = Classifier(net, [str(i) for i in range(10)], (28, 28), 1, name="mnist-cnn-random",
                           spec={"architecture": "steerlens 'cnn' (random weights, benchmark only)"})
    elif name == "resnet50":
        from resnet50 import resnet50_classifier

        model = resnet50_classifier()
    else:
        raise ValueError(f"unknown benchmark model {name!r}")
    model = model.to(device).eval().requires_grad_(False)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def sample_images(batch: int, channels: int, size: int, device: torch.device, seed: int = 0) -> Tensor:
    """Deterministic images in [0, 1] (content does not change the cost of any measured op)."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, channels, size, size, generator=g).to(device)


def amplification_list(frames: int) -> list[float]:
    """Explicit schedule of ``frames`` values from 0 to ``MAX_PHASE``: no amplification search runs.

    Examples
    --------
    >>> amplification_list(3)
    [0.0, 1.5, 3.0]
    """
    return [float(v) for v in np.linspace(0.0, MAX_PHASE, frames)]


def morph_config(case: MorphCase, regime: str = "one-step", method: str = "csp-phase") -> MorphConfig:
    """The config of a case (csp-phase unless told), explicit amplification list, default chunking.

    For ``flow`` the same list is in pixels of displacement (0..3 px), a realistic motion range.
    """
    return MorphConfig(method=method, amplification=amplification_list(case.frames), regime=regime)


def classifier_floor(model: Classifier, x: Tensor, target: Tensor, frames: int, chunk_size: int,
                     backward: bool = True) -> None:
    """One forward+backward w.r.t. ``x`` and ``frames`` forwards of the batch, chunked like a morph.

    Chunks hold ``max(1, chunk_size // B)`` frames of the ``B`` images, as in
    :func:`steerlens.frames.render_frames`.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> clf = Classifier(net, ["a", "b", "c"], (2, 2), 1)
    >>> classifier_floor(clf, torch.rand(2, 1, 2, 2), torch.tensor([0, 1]), 5, 16)
    """
    if backward:
        xg = x.detach().clone().requires_grad_(True)
        loss = F.cross_entropy(model(xg).float(), target, reduction="none")
        torch.autograd.grad(loss.sum(), xg)
    b = x.shape[0]
    per_chunk = max(1, chunk_size // max(b, 1))
    with torch.no_grad():
        for s in range(0, frames, per_chunk):
            n = min(per_chunk, frames - s)
            torch.softmax(model(x.repeat(n, 1, 1, 1)).float(), -1)


class MorphBench:
    """A model, its inputs and the callables compared for one :class:`MorphCase`."""

    def __init__(self, case: MorphCase, settings: Settings, device: torch.device) -> None:
        self.case, self.settings, self.device = case, settings, device
        self.model = build_model(case.model, device, settings.channels_last)
        channels = self.model.channels
        self.x = sample_images(case.batch, channels, case.size, device)
        self.target = torch.full((case.batch,), 1, dtype=torch.long, device=device)
        self.one_step = morph_config(case, method=settings.method)
        self.live = morph_config(case, "live", settings.method)
        self.persistent = morph_config(case, "persistent", settings.method)
        self.job_size = job_size(case.size, case.size, case.batch, case.frames)

    def run(self, variant: str) -> Any:
        """Run ``morph``, ``live``, ``persistent``, ``floor`` or ``floor-reuse`` once.

        ``floor-reuse`` is the floor of a method that, like steerlens, takes the unedited frame 0's
        scores from the gradient pass: one forward+backward and K-1 forwards.
        """
        with warnings.catch_warnings(), precision(self.settings, self.device):
            warnings.simplefilter("ignore")
            if variant == "morph":
                return morph_batch(self.model, self.x, self.target, self.one_step, self.device)
            if variant == "live":
                return morph_batch(self.model, self.x, self.target, self.live, self.device)
            if variant == "persistent":
                return morph_batch(self.model, self.x, self.target, self.persistent, self.device)
            if variant in ("floor", "floor-reuse"):
                # the floor runs on the threads the morph's policy picks for the same job
                frames = self.case.frames - (variant == "floor-reuse")
                with thread_policy(self.job_size):
                    return classifier_floor(self.model, self.x, self.target, frames,
                                            self.one_step.chunk_size)
        raise ValueError(f"unknown variant {variant!r}")

    def components(self) -> dict[str, Callable[[], Any]]:
        """Each stage of a one-step morph in isolation, for the time breakdown."""
        model, x, t, cfg = self.model, self.x, self.target, self.one_step
        transform = cfg.make_transform(x.shape[1])
        with torch.no_grad():
            coeffs = transform.analyze(x)
        direction = edit_direction(model, transform, x, t, cfg, coeffs=coeffs)
        b = x.shape[0]
        amps = torch.tensor(cfg.amplification, device=x.device)[:, None].expand(-1, b).contiguous()
        per_chunk = max(1, cfg.chunk_size // b)
        # as render_frames: every frame rendered in one grouped pass, scored in classifier chunks;
        # frame 0 is unedited and its scores come from the gradient pass
        frames = clipped_frames(transform, direction, amps, cfg.amplitude_weight)
        scored = [frames[s : s + per_chunk] for s in range(0, amps.shape[0], per_chunk)]
        scored[0] = scored[0][1:]
        scored = [f.flatten(0, 1) for f in scored if f.shape[0]]

        @torch.no_grad()
        def analyze() -> Any:
            return transform.analyze(x)

        @torch.no_grad()
        def bands_fn() -> Any:  # band edits alone, group by group as clipped_frames runs them
            for _ in iter_edited_bands(direction, amps, cfg.amplitude_weight,
                                       group_coefficients_for(x.device)):
                pass

        @torch.no_grad()
        def render() -> Any:
            return clipped_frames(transform, direction, amps, cfg.amplitude_weight)

        @torch.no_grad()
        def classify() -> Any:
            return [torch.softmax(model(f).float(), -1) for f in scored]

        @torch.no_grad()
        def stats() -> Any:
            return phase_stats(direction, amps)

        def floor_backward() -> Any:
            return classifier_floor(model, x, t, 0, cfg.chunk_size)

        def floor_forwards() -> Any:
            classifier_floor(model, x, t, amps.shape[0], cfg.chunk_size, backward=False)

        return {
            "analyze": analyze,
            "coefficient_gradient": lambda: coefficient_gradient(model, transform, coeffs, t),
            "edit_direction": lambda: edit_direction(model, transform, x, t, cfg, coeffs=coeffs),
            "edited_bands": bands_fn,
            "render_frames": render,
            "classify_frames": classify,
            "phase_stats": stats,
            "floor_forward_backward": floor_backward,
            "floor_forwards": floor_forwards,
        }


# ----------------------------------------------------------------------------- measurements
def bench_csp(settings: Settings, device: torch.device,
              cases: list[CspCase] | None = None) -> list[dict[str, Any]]:
    """steerlens CSP vs plenoptic ``SteerablePyramidFreq``: analysis + synthesis at equal settings.

    Both use the maximal number of scales, 4 orientations (order 3), complex bands, circular
    boundaries (steerlens ``padding='none'``; every size here is even). ``cases`` defaults to
    :func:`csp_cases`.
    """
    return [csp_case(case, settings, device)
            for case in (cases if cases is not None else csp_cases(settings))]


def csp_case(case: CspCase, settings: Settings, device: torch.device) -> dict[str, Any]:
    """One :class:`CspCase`: interleaved timings, speed-up and both reconstruction errors."""
    from plenoptic.process import SteerablePyramidFreq

    from steerlens.transforms import make_transform
    from steerlens.transforms.pyramid import max_scales

    x = sample_images(case.batch, case.channels, case.size, device, seed=1)
    scales = max_scales(case.size, case.size)
    ours = make_transform("csp", scales=scales, orientations=4, padding="none")
    theirs = SteerablePyramidFreq((case.size, case.size), height=scales, order=3,
                                  is_complex=True).to(device)

    @torch.no_grad()
    def run_ours() -> Tensor:
        return ours.synthesize(ours.analyze(x))

    @torch.no_grad()
    def run_theirs() -> Tensor:
        return theirs.recon_pyr(theirs(x))

    err_ours = float((run_ours() - x).abs().max())
    err_theirs = float((run_theirs() - x).abs().max())
    loads: list[float] = []
    with thread_policy(job_size(case.size, case.size, case.batch)) as threads:
        t = time_interleaved({"steerlens": run_ours, "plenoptic": run_theirs},
                             settings.repeats, settings.warmup, device, loads)
    speedup = paired_ratio(t["plenoptic"], t["steerlens"])
    rec = {
        "case": case.name, "channels": case.channels, "size": case.size, "batch": case.batch,
        "scales": scales, "orientations": 4,
        "steerlens_ms": _ms(t["steerlens"]), "plenoptic_ms": _ms(t["plenoptic"]),
        "steerlens_images_per_s": round(case.batch / statistics.median(t["steerlens"]), 2),
        "plenoptic_images_per_s": round(case.batch / statistics.median(t["plenoptic"]), 2),
        "speedup": round(speedup, 3),
        "steerlens_recon_max_abs_error": err_ours,
        "plenoptic_recon_max_abs_error": err_theirs,
        "threads": threads.threads,
        "load_before_rounds": [min(loads), max(loads)],
    }
    _log(f"{case.name}: steerlens {rec['steerlens_ms']} ms, plenoptic {rec['plenoptic_ms']} ms, "
         f"speed-up {speedup:.2f}x, errors {err_ours:.1e} / {err_theirs:.1e}")
    return rec


def bench_morph(settings: Settings, device: torch.device, live: bool = True,
                cases: list[MorphCase] | None = None,
                skipped: list[str] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Morph vs classifier floor (and vs the live regime) per case, with a stage breakdown.

    ``cases`` defaults to :func:`morph_cases`. A case whose model cannot be built here (e.g. a
    missing optional package) is skipped, and the reason is appended to ``skipped``.

    Returns
    -------
    morph, live
        One record per case each.
    """
    morph_out, live_out = [], []
    for case in cases if cases is not None else morph_cases(settings):
        try:
            bench = MorphBench(case, settings, device)
        except (ImportError, SteerlensError) as exc:
            _skip(skipped, f"{case.name}: {exc}")
            continue
        # the thread policy decides once per case (from its size and the cores free now), and
        # morph and floor run on that count in every round; --threads pinned it already
        pinned = settings.threads is None
        if pinned:
            apply_thread_policy(bench.job_size)
        try:
            morph_out.append(morph_case(bench))
            # under --quick the Lite0 live run (K-1 full gradients) alone would take most of 2 minutes
            if live and not (settings.quick and case.model == "efficientnet-lite0"):
                live_out.append(bench_live(bench))
        finally:
            if pinned:
                unpin()
        bench = None  # free the model before the next case builds its own
        gc.collect()
    return morph_out, live_out


def morph_case(bench: MorphBench) -> dict[str, Any]:
    """Morph vs floor for one case, plus the stage breakdown (Lite0 only under ``--quick``)."""
    case, settings, device = bench.case, bench.settings, bench.device
    loads: list[float] = []
    t = time_interleaved({"morph": lambda: bench.run("morph"), "floor": lambda: bench.run("floor"),
                          "floor_reuse": lambda: bench.run("floor-reuse")},
                         settings.repeats, settings.warmup, device, loads)
    ratio = paired_ratio(t["morph"], t["floor"])
    last = bench.run("morph")[0]
    timings = last.timings
    rec: dict[str, Any] = {
        "case": case.name, "model": bench.model.name, "size": case.size,
        "frames": case.frames, "batch": case.batch, "chunk_size": bench.one_step.chunk_size,
        "morph_ms": _ms(t["morph"]), "floor_ms": _ms(t["floor"]),
        "overhead_ratio": round(ratio, 3),
        "floor_reuse_ms": _ms(t["floor_reuse"]),
        "overhead_ratio_vs_floor_reuse": round(paired_ratio(t["morph"], t["floor_reuse"]), 3),
        "morph_internal_timings_ms": {k: round(1e3 * v, 3) for k, v in timings.items()
                                      if k != "search_evaluations"},
        "threads": last.runtime.get("torch_threads"),
        "thread_source": last.runtime.get("thread_policy", {}).get("source"),
        "load_before_rounds": [min(loads), max(loads)],
    }
    if not (settings.quick and case.model != "efficientnet-lite0"):
        with precision(settings, device), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tc = time_interleaved(bench.components(), _sub_repeats(settings), settings.warmup, device)
        rec["breakdown_ms"] = {k: _ms(v) for k, v in tc.items()}
    _log(f"{case.name}: morph {rec['morph_ms']} ms, floor {rec['floor_ms']} ms, "
         f"overhead {ratio:.3f}x")
    return rec


def bench_live(bench: MorphBench) -> dict[str, Any]:
    """One-step vs the iterative regimes at the same explicit schedule (K frames, K-1 steps).

    A library error in an iterative regime is recorded (``error``) instead of aborting the run.
    """
    case, settings = bench.case, bench.settings
    rec: dict[str, Any] = {"case": case.name, "frames": case.frames, "batch": case.batch}
    try:
        tl = time_interleaved({"one-step": lambda: bench.run("morph"), "live": lambda: bench.run("live"),
                               "persistent": lambda: bench.run("persistent")},
                              _sub_repeats(settings), settings.warmup, bench.device)
    except Exception as exc:  # noqa: BLE001 - report any library failure, keep benchmarking
        rec["error"] = f"{type(exc).__name__}: {exc}"
        _log(f"{case.name}: live regime failed: {rec['error']}")
        return rec
    rec.update({"one_step_ms": _ms(tl["one-step"]), "live_ms": _ms(tl["live"]),
                "live_over_one_step": round(paired_ratio(tl["live"], tl["one-step"]), 3),
                "persistent_ms": _ms(tl["persistent"]),
                "persistent_over_one_step": round(paired_ratio(tl["persistent"], tl["one-step"]), 3)})
    _log(f"{case.name}: live {rec['live_ms']} ms vs one-step {rec['one_step_ms']} ms "
         f"({rec['live_over_one_step']}x)")
    return rec


# ----------------------------------------------------------------------------- memory
def _proc_status_kib(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: reset VmHWM to the current RSS
        return True
    except OSError:
        return False


def measure_memory_here(bench: MorphBench, variant: str) -> dict[str, float]:
    """Peak memory of one ``variant`` run in this process, in MiB, after one warm-up run.

    CUDA: ``max_memory_allocated`` above what was allocated before. CPU: peak RSS above the RSS
    before (the peak is reset through ``/proc/self/clear_refs``; without it, ``ru_maxrss`` is used
    and ``base`` is the high-water mark of the set-up).
    """
    bench.run(variant)
    gc.collect()
    if bench.device.type == "cuda":
        torch.cuda.synchronize(bench.device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(bench.device)
        base = torch.cuda.memory_allocated(bench.device)
        bench.run(variant)
        torch.cuda.synchronize(bench.device)
        peak = torch.cuda.max_memory_allocated(bench.device)
        return {"base_mib": base / 2**20, "peak_mib": peak / 2**20, "delta_mib": (peak - base) / 2**20}
    reset = _reset_peak_rss()
    base_kib = _proc_status_kib("VmRSS") if reset else None
    if base_kib is None:
        base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bench.run(variant)
    peak_kib = _proc_status_kib("VmHWM") if reset else None
    if peak_kib is None:
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"base_mib": base_kib / 1024, "peak_mib": peak_kib / 1024,
            "delta_mib": (peak_kib - base_kib) / 1024}


def memory_worker(spec: str) -> None:
    """Subprocess entry point: measure one case/variant given as JSON, print the result as JSON."""
    args = json.loads(spec)
    settings = Settings(**args["settings"])
    _set_threads(settings)
    device = torch.device(settings.device)
    bench = MorphBench(MorphCase(**args["case"]), settings, device)
    print(json.dumps(measure_memory_here(bench, args["variant"])))


def bench_memory(settings: Settings, device: torch.device, cases: list[MorphCase] | None = None,
                 skipped: list[str] | None = None) -> list[dict[str, Any]]:
    """Peak memory of morph vs floor per case (fresh subprocess per case and variant on CPU).

    ``cases`` defaults to :func:`memory_cases`; failing cases are skipped (reason in ``skipped``).
    """
    out = []
    for case in cases if cases is not None else memory_cases(settings):
        rec: dict[str, Any] = {"case": case.name}
        if device.type == "cuda":
            try:
                bench = MorphBench(case, settings, device)
            except (ImportError, SteerlensError) as exc:
                _skip(skipped, f"memory {case.name}: {exc}")
                continue
            for variant in ("morph", "floor"):
                rec[variant] = measure_memory_here(bench, variant)
            del bench
            gc.collect()
            torch.cuda.empty_cache()
        else:
            for variant in ("morph", "floor"):
                spec = json.dumps({"settings": asdict(settings), "case": asdict(case), "variant": variant})
                proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--memory-worker",
                                       spec], capture_output=True, text=True, cwd=ROOT, check=False)
                if proc.returncode != 0:
                    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                    _skip(skipped, f"memory {case.name} {variant}: {last}")
                    break
                rec[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
            if "floor" not in rec:
                continue
        for variant in ("morph", "floor"):
            rec[variant] = {k: round(v, 1) for k, v in rec[variant].items()}
        rec["peak_ratio"] = round(rec["morph"]["peak_mib"] / rec["floor"]["peak_mib"], 3)
        rec["delta_ratio"] = round(rec["morph"]["delta_mib"] / max(rec["floor"]["delta_mib"], 0.1), 3)
        out.append(rec)
        _log(f"{case.name}: peak memory morph {rec['morph']['peak_mib']} MiB "
             f"(+{rec['morph']['delta_mib']}), floor {rec['floor']['peak_mib']} MiB "
             f"(+{rec['floor']['delta_mib']})")
    return out


# ----------------------------------------------------------------------------- provenance
def _slug(text: str) -> str:
    text = re.sub(r"\((r|tm|c)\)", "", text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def machine_name(device: torch.device) -> str:
    """File-name-safe machine name: the GPU's name on CUDA, else CPU model and core count.

    Examples
    --------
    >>> machine_name(torch.device("cpu")).endswith("c")
    True
    """
    if device.type == "cuda":
        return _slug(torch.cuda.get_device_name(device))
    return f"{_slug(cpu_model())}-{cpu_cores()}c"


def git_commit() -> str:
    """This checkout's commit, plus ``-dirty`` when tracked files have uncommitted changes."""
    return provenance_commit(ROOT, dirty=True)


def _set_threads(settings: Settings) -> int | str:
    """``--threads N``: pinned for morph and floor alike; else each job runs under the thread
    policy (steerlens.threads), as a user's would."""
    if settings.threads:
        return apply_thread_policy(0, requested=settings.threads).threads
    return "policy"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _skip(skipped: list[str] | None, reason: str) -> None:
    _log(f"skipped {reason}")
    if skipped is not None:
        skipped.append(reason)


def _versions() -> dict[str, str | None]:
    try:
        import plenoptic

        plenoptic_version = getattr(plenoptic, "__version__", None)
    except ImportError:
        plenoptic_version = None
    return {**library_versions(), "plenoptic": plenoptic_version}


# ----------------------------------------------------------------------------- report
def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """Add the headline keys ``csp_speedup_vs_plenoptic`` and ``morph_overhead_ratio`` (+ ``_all``)."""
    csp = {r["case"]: r["speedup"] for r in report.get("csp", [])}
    morph = {r["case"]: r["overhead_ratio"] for r in report.get("morph", [])}
    for key, values, headline in (("csp_speedup_vs_plenoptic", csp, HEADLINE_CSP),
                                  ("morph_overhead_ratio", morph, HEADLINE_MORPH)):
        # the headline case, else the first measured one (named in <key>_case), else NaN
        case = headline if headline in values else next(iter(values), None)
        report[key] = values[case] if case is not None else float("nan")
        report[f"{key}_case"] = case
        report[f"{key}_all"] = values
    report["live_over_one_step_all"] = {r["case"]: r.get("live_over_one_step", float("nan"))
                                        for r in report.get("live", [])}
    flag = report.get("load_verdict", {}).get("flag")
    report["headline_valid"] = flag is None
    if flag is not None:
        report["headline_flag"] = flag
    return report


def markdown(report: dict[str, Any]) -> str:
    """The report as markdown tables."""
    versions = report["versions"]
    goals = (
        f"goal >= {GOALS['csp_speedup_vs_plenoptic_min']}x",
        (f"goal <= {GOALS['morph_overhead_ratio_cpu_max']} on the 2-core CPU; GPU <= "
        f"{GOALS['morph_overhead_ratio_gpu_batch32_max']} at batch 32, <= "
        f"{GOALS['morph_overhead_ratio_gpu_batch1_max']} at batch 1"),
    )
    lines = [
        f"# steerlens benchmarks — {report['machine']}",
        "",
        f"- command: `{report['command']}`",
        (f"- date: {report['date']}; git {report['git_commit']}; torch {versions['torch']} "
         f"(CUDA {versions['cuda']}); plenoptic {versions['plenoptic']}"),
        (f"- device: {report['device_name']}; threads {report['threads']}; precision "
         f"{report['precision']}; channels_last {report['channels_last']}"),
        (f"- load average (1/5/15 min) at start {report['load_average']['start']}, end "
         f"{report['load_average']['end']}; before each timed run: `load_before_rounds` per case"),
        f"- repeats {report['repeats']} (medians; ratios are medians of per-round paired ratios)",
        *(f"- skipped: {r}" for r in report.get("skipped", [])),
        "",
        *([f"**FLAGGED, NOT HEADLINE FIGURES: {report['headline_flag']}.**", ""]
          if report.get("headline_flag") else []),
        (f"**CSP speed-up vs plenoptic ({report['csp_speedup_vs_plenoptic_case']}): "
         f"{report['csp_speedup_vs_plenoptic']}x** ({goals[0]}) · **morph overhead ratio "
         f"({report['morph_overhead_ratio_case']}): {report['morph_overhead_ratio']}** ({goals[1]})"),
        "",
    ]
    if report.get("csp"):
        lines += ["## CSP analysis + synthesis: steerlens vs plenoptic", "",
                  "| case | scales | steerlens ms | plenoptic ms | speed-up | steerlens err | plenoptic err |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['scales']} | {r['steerlens_ms']} | {r['plenoptic_ms']} | "
                  f"{r['speedup']}x | {r['steerlens_recon_max_abs_error']:.1e} | "
                  f"{r['plenoptic_recon_max_abs_error']:.1e} |" for r in report["csp"]]
        lines.append("")
    if report.get("morph"):
        lines += ["## Morph (1 gradient + K frames) vs classifier floor", "",
                  ("| case | morph ms | floor ms | overhead ratio | floor K-1 ms | ratio vs floor K-1 "
                   "| threads | load before rounds |"),
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['morph_ms']} | {r['floor_ms']} | {r['overhead_ratio']} | "
                  f"{r.get('floor_reuse_ms', '')} | {r.get('overhead_ratio_vs_floor_reuse', '')} | "
                  f"{r.get('threads', '')} ({r.get('thread_source', '')}) | "
                  f"{'–'.join(f'{v:g}' for v in r.get('load_before_rounds', []))} |"
                  for r in report["morph"]]
        lines += ["", ("The floor is the issue's: one forward+backward and K forwards. Frame 0 of a "
                       "morph is the unedited source, whose scores steerlens takes from the gradient "
                       "pass, so it runs K-1 forwards; *floor K-1* is the floor of any method that "
                       "does the same, and the ratio against it is steerlens's own overhead."), ""]
        broken = [r for r in report["morph"] if "breakdown_ms" in r]
        if broken:
            keys = list(broken[0]["breakdown_ms"])
            lines += ["### Where morph time goes (each stage timed alone, ms)", "",
                      "| case | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
            lines += [f"| {r['case']} | " + " | ".join(str(r["breakdown_ms"][k]) for k in keys) + " |"
                      for r in broken]
            lines += ["", ("`edit_direction` includes `coefficient_gradient` (synthesis + forward + "
                           "backward through the pyramid); `render_frames` is band edits + synthesis + clip "
                           "(`edited_bands` alone is part of it); `classify_frames` scores frames "
                           "1..K-1; `floor_*` are the floor's two parts (K forwards)."), ""]
    if report.get("morph_flow"):
        lines += ["## flow (displacement grid + warp) vs classifier floor", "",
                  "| case | morph ms | floor ms | overhead ratio | ratio vs floor K-1 |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['morph_ms']} | {r['floor_ms']} | {r['overhead_ratio']} | "
                  f"{r.get('overhead_ratio_vs_floor_reuse', '')} |" for r in report["morph_flow"]]
        lines += ["", (f"Goal: <= {GOALS['morph_overhead_ratio_cpu_max']} (issue 10: a one-step "
                       "flow morph is one gradient plus K warps and K classifier forwards)."), ""]
    if report.get("live"):
        lines += ["## One-step vs the iterative regimes (live, persistent), same number of frames", "",
                  "| case | one-step ms | live ms | live / one-step | persistent ms | persistent / one-step |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['one_step_ms']} | {r['live_ms']} | {r['live_over_one_step']}x | "
                  f"{r['persistent_ms']} | {r['persistent_over_one_step']}x |"
                  if "error" not in r else f"| {r['case']} | failed: {r['error'][:80]} | | | | |"
                  for r in report["live"]]
        lines.append("")
    if report.get("memory"):
        unit = "max allocated" if report["device"] == "cuda" else "peak RSS"
        lines += [f"## Peak memory ({unit}, MiB; delta = above the state before the call)", "",
                  "| case | morph peak | morph delta | floor peak | floor delta | delta ratio |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['morph']['peak_mib']} | {r['morph']['delta_mib']} | "
                  f"{r['floor']['peak_mib']} | {r['floor']['delta_mib']} | {r['delta_ratio']} |"
                  for r in report["memory"]]
        lines.append("")
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``out_dir``; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = report["machine"] + "".join(
        suffix for flag, suffix in ((report["quick"], "-quick"), (report["precision"] != "float32", "-amp"),
                                    (report["channels_last"], "-channels-last")) if flag)
    # a loaded or --busy run never replaces a quiet one: -busy / -loaded (load.LoadVerdict.suffix)
    v = report.get("load_verdict", {})
    stem += "".join(s for on, s in ((v.get("busy"), "-busy"),
                                    (v.get("load_before", 0) > v.get("cores", 1 << 30), "-loaded")) if on)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
    md_path.write_text(markdown(report) + "\n")
    return json_path, md_path


def run_all(settings: Settings, sections: tuple[str, ...] = ("csp", "morph", "flow", "live", "memory"),
            command: str | None = None,
            checkpoint: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
    """Run the selected benchmark sections and return the full report dict.

    ``checkpoint`` (e.g. :func:`write_report`) receives the summarised report after every section,
    so a run cut short by a time limit still leaves its finished sections behind.

    Examples
    --------
    >>> rep = run_all(Settings(quick=True), sections=())
    >>> rep["machine"] == machine_name(torch.device("cpu"))
    True
    """
    device = torch.device(settings.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible to this torch "
                         f"({torch.__version__}, CUDA {torch.version.cuda})")
    start = verdict(settings.busy)  # before anything runs, and before the busy process starts
    if start.flag:
        _log(f"run.py: {start.flag}")
    threads = _set_threads(settings)
    torch.manual_seed(0)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "machine": machine_name(device),
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
        "cpu_model": cpu_model(),
        "cores": cpu_cores(),
        "threads": threads,
        "platform": platform.platform(),
        "versions": _versions(),
        "git_commit": git_commit(),
        "command": command or " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": settings.quick,
        "precision": "bfloat16-autocast" if settings.amp else "float32",
        "channels_last": settings.channels_last,
        "repeats": settings.repeats,
        "warmup": settings.warmup,
        "load_average": {"start": [round(v, 2) for v in os.getloadavg()]},
        "load_verdict": start.as_dict(),
        "goals": GOALS,
    }
    skipped: list[str] = report.setdefault("skipped", [])

    def done() -> dict[str, Any]:
        report["load_average"]["end"] = [round(v, 2) for v in os.getloadavg()]
        report["wall_seconds"] = round(time.perf_counter() - started, 1)
        summarise(report)
        if checkpoint is not None:
            checkpoint(report)
        return report

    busy = BusyProcess() if settings.busy else nullcontext()
    with busy:
        _sections(settings, device, sections, report, skipped, done)
    return done()


def _sections(settings: Settings, device: torch.device, sections: tuple[str, ...],
              report: dict[str, Any], skipped: list[str], done: Callable[[], Any]) -> None:
    """The selected sections, in order, each followed by ``done`` (the checkpoint)."""
    if "csp" in sections:
        try:
            report["csp"] = bench_csp(settings, device)
        except ImportError as exc:
            _skip(skipped, f"CSP vs plenoptic: {exc}")
        done()
    if "morph" in sections:
        report["morph"], live = bench_morph(settings, device, live="live" in sections, skipped=skipped)
        if live:
            report["live"] = live
        done()
    if "flow" in sections:  # the motion lens's flow method on the headline case (issue 10)
        lite0 = [c for c in morph_cases(settings) if c.model == "efficientnet-lite0"]
        report["morph_flow"], _ = bench_morph(replace(settings, method="flow"), device, live=False,
                                              cases=lite0, skipped=skipped)
        done()
    if "memory" in sections and settings.memory:
        report["memory"] = bench_memory(settings, device, skipped=skipped)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--quick", action="store_true", help="fewer cases and repeats (< 2 min on 2 cores)")
    p.add_argument("--amp", action="store_true", help="bf16 autocast for morph and floor alike")
    p.add_argument("--channels-last", action="store_true", help="classifier in channels_last layout")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds per comparison")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads for morph and floor alike (default: the thread policy)")
    p.add_argument("--busy", action="store_true",
                   help="run beside one single-threaded busy process (flagged, written as -busy)")
    p.add_argument("--sections", default="csp,morph,flow,live,memory",
                   help="comma-separated subset of csp,morph,flow,live,memory")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="results folder")
    p.add_argument("--memory-worker", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_worker:
        memory_worker(args.memory_worker)
        return 0
    warnings.filterwarnings("ignore", category=UserWarning)
    settings = Settings(device=args.device, quick=args.quick, amp=args.amp,
                        channels_last=args.channels_last, repeats=args.repeats, threads=args.threads,
                        busy=args.busy)
    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    report = run_all(settings, sections, checkpoint=lambda r: write_report(r, args.out))
    json_path, md_path = write_report(report, args.out)
    print(markdown(report))
    _log(f"wrote {json_path} and {md_path} in {report['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
