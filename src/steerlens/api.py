"""Public morph API: one function call from (model, image, target) to a :class:`MorphResult`.

Data flow (design.md): image -> transform.analyze -> gradient in coefficient space -> schedule
(explicit or auto search) -> frames rendered, clipped and scored -> MorphResult. The ``live`` regime
re-analyses the current frame and recomputes the gradient at every step instead.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from steerlens.errors import ConfigError
from steerlens.frames import FrameBatch, clipped_frames, pixel_l2, render_frames
from steerlens.gradient import EditDirection, edit_direction
from steerlens.config import COMPARE_METHODS, MorphConfig
from steerlens.models.base import Classifier
from steerlens.regimes.persistent import MAX_PERSISTENT_STEPS, persistent_trajectory
from steerlens.result import FrameScore, MorphResult, Overshoot
from steerlens.schedule import (
    bisect_to_budget,
    detect_overshoot,
    linear_schedule,
    search_amplification,
)
from steerlens.transforms import make_transform
from steerlens.transforms.base import Transform

#: live-regime step per method's edit, in normalised units (max change per step)
DEFAULT_LIVE_STEP = {"phase": 0.5, "joint": 0.5, "amplitude": 0.1, "additive": 0.05}
MAX_LIVE_STEPS = 200


def build_transform(config: MorphConfig, channels: int) -> Transform:
    """The transform a config asks for (luminance mode only applies to RGB images)."""
    color = config.color if channels == 3 else "rgb"
    if config.transform_name == "csp":
        return make_transform(
            "csp",
            color=color,
            scales=config.n_scales,
            orientations=config.n_orientations,
            twidth=config.twidth,
            padding=config.padding,
        )
    return make_transform(config.transform_name, color=color)


def prepare_image(image: Any, model: Classifier, device: torch.device) -> Tensor:
    """Turn a path, PIL image, array or tensor into a ``(1, C, H, W)`` float tensor in [0, 1].

    Paths and arrays are resized/centre-cropped to the model's input size; tensors are used as given
    (after fixing the channel count), so fully-convolutional models accept any size.
    """
    from steerlens.data.images import load_image, to_tensor

    if isinstance(image, (str, Path)):
        x = load_image(image, size=model.input_size, channels=model.channels, min_size=8)
    elif isinstance(image, Tensor):
        x = image.detach().float()
        if x.dim() == 3:
            x = x[None]
        if x.dim() != 4:
            raise ConfigError(f"image tensor must be (C,H,W) or (B,C,H,W), got shape {tuple(x.shape)}")
        if x.min() < 0 or x.max() > 1:
            raise ConfigError("image tensor values must lie in [0, 1]; divide 8-bit images by 255")
    else:
        x = to_tensor(image)
        if x.dim() == 3:
            x = x[None]
    if x.shape[1] != model.channels:
        if model.channels == 3 and x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        elif model.channels == 1 and x.shape[1] == 3:
            x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        else:
            raise ConfigError(f"image has {x.shape[1]} channels but the model expects {model.channels}")
    return x.to(device)


def _resolve_targets(target: Any, model: Classifier, b: int, device: torch.device) -> Tensor:
    from steerlens.targets import resolve_target

    if isinstance(target, Tensor):
        t = target.to(device=device, dtype=torch.long).flatten()
    elif isinstance(target, (list, tuple)):
        t = torch.tensor([resolve_target(v, model.class_names) for v in target], device=device)
    else:
        t = torch.tensor([resolve_target(target, model.class_names)], device=device)
    if t.numel() == 1 and b > 1:
        t = t.expand(b).clone()
    if t.numel() != b:
        raise ConfigError(f"got {t.numel()} targets for {b} images")
    if (t < 0).any() or (t >= model.num_classes).any():
        raise ConfigError(f"target index out of range 0..{model.num_classes - 1}")
    return t


def morph(
    model: Classifier,
    image: Any,
    target: int | str,
    method: str = "csp-phase",
    *,
    config: MorphConfig | None = None,
    device: str | torch.device | None = None,
    **options: Any,
) -> MorphResult:
    """Morph one image toward ``target`` class and score every frame.

    Parameters
    ----------
    model
        A :class:`~steerlens.models.base.Classifier` (see :func:`steerlens.load_model`).
    image
        Path, PIL image, ``(H, W[, C])`` array or ``(C, H, W)`` / ``(1, C, H, W)`` tensor in [0, 1].
    target
        Class index or class name (case-insensitive).
    method
        ``csp-phase`` (default, the paper's), ``csp-amplitude``, ``csp-joint``, ``fourier-phase``,
        ``fourier-amplitude``, ``fourier-joint`` or ``pixel``.
    config
        Full :class:`~steerlens.config.MorphConfig`; ``options`` override its fields.
    device
        Torch device; default: the model's.
    **options
        Any :class:`~steerlens.config.MorphConfig` field, e.g. ``frames=12``,
        ``amplification=[0, 1, 2]``, ``goal_p=0.9``, ``l2_budget=2.0``, ``color="luminance"``.

    Returns
    -------
    MorphResult

    Examples
    --------
    >>> import steerlens
    >>> model = steerlens.load_model("efficientnet-lite0")          # doctest: +SKIP
    >>> res = steerlens.morph(model, "cat.jpg", "tiger cat")         # doctest: +SKIP
    >>> res.save("out/cat")                                           # doctest: +SKIP
    """
    cfg = replace(config or MorphConfig(), method=method, **options).validate()
    dev = torch.device(device) if device is not None else _model_device(model)
    x = prepare_image(image, model, dev)
    if x.shape[0] != 1:
        raise ConfigError("morph() takes one image; use morph_batch() for several")
    return morph_batch(model, x, target, cfg, device=dev)[0]


def _model_device(model: torch.nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def morph_batch(
    model: Classifier,
    images: Tensor,
    targets: Any,
    config: MorphConfig,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> list[MorphResult]:
    """Morph a batch of images ``(B, C, H, W)`` in [0, 1] toward per-image targets.

    All images share one gradient pass, one vectorised schedule search and batched frame rendering;
    each gets its own amplification. Returns one :class:`MorphResult` per image.
    """
    cfg = config.validate()
    dev = torch.device(device) if device is not None else _model_device(model)
    x = images.to(dev).float()
    b = x.shape[0]
    t = _resolve_targets(targets, model, b, dev)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    transform = build_transform(cfg, x.shape[1])
    tic = time.perf_counter()
    with torch.no_grad():
        coeffs = transform.analyze(x)
    timings["analyze"] = time.perf_counter() - tic
    tic = time.perf_counter()
    # one forward+backward gives the gradient *and* the source's logits (no separate source forward)
    direction = edit_direction(model, transform, x, t, cfg, coeffs=coeffs, check=_check_logits)
    timings["gradient"] = time.perf_counter() - tic
    src = direction.logits.argmax(-1)
    if bool((src == t).any()):
        warnings.warn(
            "target equals the source's top-1 class for some image; the morph will only raise its "
            "confidence",
            stacklevel=2,
        )
    if cfg.regime == "live":
        results = _live(model, transform, x, t, src, cfg, timings, progress, first=direction)
    elif cfg.regime == "persistent":
        results = _persistent(model, transform, x, t, src, cfg, timings, progress, direction)
    else:
        results = _one_step(model, transform, x, t, src, cfg, timings, direction)
    timings["total"] = time.perf_counter() - start
    for r in results:
        r.timings.update(timings)
    return results


def _check_logits(p: Tensor, model: Classifier) -> None:
    """Raise :class:`ModelError` unless ``p`` is finite ``(N, model.num_classes)`` output."""
    from steerlens.errors import ModelError

    if p.dim() != 2 or p.shape[1] != model.num_classes:
        raise ModelError(
            f"model output has shape {tuple(p.shape)}, expected (N, {model.num_classes}); "
            "the model must return class logits"
        )
    if not torch.isfinite(p).all():
        raise ModelError("model output is not finite (NaN/inf); check the weights and input scaling")


def _one_step(
    model: Classifier,
    transform: Transform,
    x: Tensor,
    t: Tensor,
    src: Tensor,
    cfg: MorphConfig,
    timings: dict[str, float],
    direction: EditDirection,
) -> list[MorphResult]:
    b = x.shape[0]
    cols = torch.arange(b, device=x.device)

    def evaluate(amps: Tensor) -> tuple[Tensor, Tensor]:
        fb = render_frames(model, transform, direction, x, amps, cfg.amplitude_weight,
                           cfg.chunk_size, keep_frames=False)
        return fb.probs[:, cols, t], fb.l2

    stop_reason = ["explicit"] * b
    overshoot: list[Overshoot | None] = [None] * b
    tic = time.perf_counter()
    if isinstance(cfg.amplification, str):
        goal_p = None if cfg.l2_budget is not None else cfg.goal_p
        out = search_amplification(evaluate, b, goal_p=goal_p, l2_budget=cfg.l2_budget, device=x.device)
        amps = linear_schedule(out.amplification, cfg.frames)
        for i in range(b):
            goal = f"p_target >= {cfg.goal_p}" if goal_p is not None else f"L2 >= {cfg.l2_budget}"
            if bool(out.reached[i]):
                stop_reason[i] = "reached " + goal
            elif bool(out.overshoot[i]):
                stop_reason[i] = "stopped at p_target peak (overshoot)"
                overshoot[i] = Overshoot(
                    peak_amplification=float(out.peak_amplification[i] * direction.unit[i]),
                    peak_p_target=float(out.peak_value[i]),
                    goal=goal,
                    message=(
                        f"p_target peaked at {float(out.peak_value[i]):.3f} and fell before reaching "
                        f"{goal}; frames stop at the peak (one-step extrapolation overshoots)"
                    ),
                )
            else:
                stop_reason[i] = f"goal not reached ({goal}); largest amplification searched"
        timings["search_evaluations"] = float(out.evaluations)
    else:
        user = torch.tensor([float(a) for a in cfg.amplification], device=x.device)[:, None]
        amps = (user / direction.unit[None, :]).expand(-1, b).contiguous()
    timings["schedule"] = time.perf_counter() - tic
    tic = time.perf_counter()
    fb = render_frames(model, transform, direction, x, amps, cfg.amplitude_weight, cfg.chunk_size)
    timings["render"] = time.perf_counter() - tic
    user_amps = amps * direction.unit[None, :]
    results = []
    settings = cfg.to_dict()
    for i in range(b):
        res = _to_result(model, fb, i, x[i], t[i], src[i], user_amps[:, i], cfg, "one-step", settings)
        res.stop_reason = stop_reason[i]
        res.overshoot = overshoot[i] or _explicit_overshoot(res, cfg)
        res.settings["raw_max_phase_gradient"] = float(direction.raw_max_phase[i])
        res.settings["raw_max_log_amplitude_gradient"] = float(direction.raw_max_log_amplitude[i])
        res.settings["source_loss"] = float(direction.loss[i])
        results.append(res)
    return results


def _explicit_overshoot(res: MorphResult, cfg: MorphConfig) -> Overshoot | None:
    over, peak = detect_overshoot(torch.tensor(res.p_target))
    if not over:
        return None
    s = res.scores[peak]
    return Overshoot(
        peak_amplification=s.amplification,
        peak_p_target=s.p_target,
        goal="explicit schedule",
        message=(
            f"p_target peaked at {s.p_target:.3f} (frame {peak}, amplification {s.amplification:.4g}) "
            f"and fell to {res.final.p_target:.3f} by the last frame"
        ),
    )


def _to_result(
    model: Classifier,
    fb: FrameBatch,
    i: int,
    source: Tensor,
    target: Tensor,
    src: Tensor,
    amps: Tensor,
    cfg: MorphConfig,
    regime: str,
    settings: dict[str, Any] | None = None,
) -> MorphResult:
    names = model.class_names
    probs = fb.probs[:, i]
    # one transfer per field (not one device sync per frame and field): 0.7 ms -> 0.1 ms per
    # 16-frame result on the CPU, and far more on a GPU
    amp_list = amps.tolist()
    cols = zip(amp_list, probs[:, target].tolist(), probs[:, src].tolist(),
               probs.argmax(-1).tolist(), fb.l2[:, i].tolist(), fb.max_abs_dphi[:, i].tolist(),
               fb.frac_wrapped[:, i].tolist())
    scores = [
        FrameScore(amplification=a, p_target=pt, p_source=ps, top1_index=k, top1_name=names[k],
                   l2=l2, max_abs_dphi=dphi, frac_wrapped=wrapped)
        for a, pt, ps, k, l2, dphi, wrapped in cols
    ]
    return MorphResult(
        frames=fb.frames[:, i].detach().cpu(),
        source=source.detach().cpu(),
        amplifications=amp_list,
        scores=scores,
        target=int(target),
        target_name=names[int(target)],
        source_class=int(src),
        source_name=names[int(src)],
        method=cfg.method,
        regime=regime,
        settings=_settings_copy(settings) if settings is not None else cfg.to_dict(),
        model_spec=dict(model.spec),
    )


def _settings_copy(base: dict[str, Any]) -> dict[str, Any]:
    """Per-result copy of a config dict (its list/dict values copied one level deep, which is all
    a :class:`MorphConfig` holds), instead of a fresh ``asdict`` per result (0.4 ms each)."""
    return {k: type(v)(v) if isinstance(v, (list, dict)) else v for k, v in base.items()}


# ----------------------------------------------------------------------------- live regime
def _iterative_steps(cfg: MorphConfig, max_steps: int) -> tuple[float, list[float]]:
    """Step size and per-step sizes of an iterative regime.

    ``auto`` takes ``max_steps`` steps of ``step_size`` (default per edit mode); an explicit
    schedule takes one step per gap between consecutive amplifications.
    """
    step = cfg.step_size or DEFAULT_LIVE_STEP[cfg.edit]
    if isinstance(cfg.amplification, str):
        return step, [step] * max_steps
    a = [float(v) for v in cfg.amplification]
    return step, [max(a[k + 1] - a[k], 0.0) for k in range(len(a) - 1)]


def _live(
    model: Classifier,
    transform: Transform,
    x0: Tensor,
    t: Tensor,
    src: Tensor,
    cfg: MorphConfig,
    timings: dict[str, float],
    progress: bool = False,
    first: EditDirection | None = None,
) -> list[MorphResult]:
    """Iterative reference regime: re-analyse the current frame and recompute the gradient each step.

    ``first`` is the direction at the source if the caller already has it (saves one gradient).

    Each step moves by ``step_size`` normalised units (e.g. a phase cap in radians). It stops per
    image when ``goal_p`` (or ``l2_budget``, met exactly by bisecting the last step) is reached, or
    after the explicit schedule's steps.
    """
    b = x0.shape[0]
    cols = torch.arange(b, device=x0.device)
    step, steps = _iterative_steps(cfg, MAX_LIVE_STEPS)
    zero = torch.zeros(1, b, device=x0.device)
    tic = time.perf_counter()
    d0 = first if first is not None else edit_direction(model, transform, x0, t, cfg, source=src)
    first = render_frames(model, transform, d0, x0, zero, cfg.amplitude_weight, cfg.chunk_size)
    traj_x = [first.frames[0]]
    traj_p = [first.probs[0]]
    traj_l2 = [first.l2[0]]
    cum = [torch.zeros(b, device=x0.device)]
    active = torch.ones(b, dtype=torch.bool, device=x0.device)
    taken = torch.zeros(b, dtype=torch.long, device=x0.device)
    x = first.frames[0]
    reached = torch.zeros(b, dtype=torch.bool, device=x0.device)
    from tqdm.auto import tqdm

    progress_bar = tqdm(total=len(steps), desc="live steps", leave=False) if progress else None
    for n, s in enumerate(steps):
        if not bool(active.any()):
            break
        if progress_bar is not None:
            progress_bar.update(1)
        # frame 0 is the source's reconstruction, so the source's direction serves the first step
        d = d0 if n == 0 else edit_direction(model, transform, x, t, cfg, source=src)
        amps = torch.full((1, b), s, device=x0.device)
        fb = render_frames(model, transform, d, x0, amps, cfg.amplitude_weight, cfg.chunk_size)
        nx, p, l2 = fb.frames[0], fb.probs[0], fb.l2[0]
        if cfg.l2_budget is not None and isinstance(cfg.amplification, str):
            over = active & (l2 >= cfg.l2_budget)
            if bool(over.any()):
                nx, p, l2, frac = _bisect_step(model, transform, d, x0, s, cfg, over, nx, p, l2)
                amps = amps * torch.where(over, frac, torch.ones_like(frac))[None]
        keep = active[:, None, None, None]
        taken += active.long()
        x = torch.where(keep, nx, x)
        traj_x.append(x)
        traj_p.append(torch.where(active[:, None], p, traj_p[-1]))
        traj_l2.append(torch.where(active, l2, traj_l2[-1]))
        cum.append(cum[-1] + torch.where(active, amps[0], torch.zeros_like(amps[0])))
        if isinstance(cfg.amplification, str):
            done = (l2 >= cfg.l2_budget - 1e-6) if cfg.l2_budget is not None else (p[cols, t] >= cfg.goal_p)
            reached |= active & done
            active &= ~done
    if progress_bar is not None:
        progress_bar.close()
    timings["live_steps"] = float(len(traj_x) - 1)
    timings["render"] = time.perf_counter() - tic
    xs, ps, l2s, cs = (torch.stack(v, 0) for v in (traj_x, traj_p, traj_l2, cum))
    return _trajectory_results(model, x0, t, src, cfg, xs, ps, l2s, cs, reached, taken, "live", step)


def _trajectory_results(
    model: Classifier,
    x0: Tensor,
    t: Tensor,
    src: Tensor,
    cfg: MorphConfig,
    xs: Tensor,
    ps: Tensor,
    l2s: Tensor,
    cs: Tensor,
    reached: Tensor,
    lengths: Tensor,
    regime: str,
    step: float,
) -> list[MorphResult]:
    """Results of an iterative run: ``auto`` trajectories are subsampled evenly to ``cfg.frames``.

    ``lengths[i]`` is the number of steps image ``i`` took before it stopped (its later states are
    frozen copies in the batched arrays); each image's frames span its own trajectory.
    """
    b = x0.shape[0]
    out = []
    settings = cfg.to_dict()
    for i in range(b):
        n = int(lengths[i]) + 1
        idx = torch.arange(n)
        if isinstance(cfg.amplification, str) and n > cfg.frames:
            idx = torch.linspace(0, n - 1, cfg.frames).round().long()
        z = torch.zeros(idx.shape[0], 1, device=x0.device)
        fb = FrameBatch(frames=xs[idx, i : i + 1], probs=ps[idx, i : i + 1], l2=l2s[idx, i : i + 1],
                        max_abs_dphi=z, frac_wrapped=z)
        res = _to_result(model, fb, 0, x0[i], t[i], src[i], cs[idx, i], cfg, regime, settings)
        if isinstance(cfg.amplification, str):
            goal = f"L2 >= {cfg.l2_budget}" if cfg.l2_budget is not None else f"p_target >= {cfg.goal_p}"
            res.stop_reason = ("reached " if bool(reached[i]) else "not reached: ") + goal
        res.settings[f"{regime}_step_size"] = step
        res.settings[f"{regime}_steps_taken"] = n - 1
        out.append(res)
    return out


def _persistent(
    model: Classifier,
    transform: Transform,
    x0: Tensor,
    t: Tensor,
    src: Tensor,
    cfg: MorphConfig,
    timings: dict[str, float],
    progress: bool,
    first: EditDirection,
) -> list[MorphResult]:
    """Persistent-coordinates regime (see :mod:`steerlens.regimes.persistent`)."""
    step, steps = _iterative_steps(cfg, MAX_PERSISTENT_STEPS)
    tic = time.perf_counter()
    tr = persistent_trajectory(model, transform, x0, t, src, cfg, first, steps, progress)
    timings["persistent_steps"] = float(tr.frames.shape[0] - 1)
    timings["render"] = time.perf_counter() - tic
    results = _trajectory_results(model, x0, t, src, cfg, tr.frames, tr.probs, tr.l2, tr.cumulative,
                                  tr.reached, tr.steps_taken, "persistent", step)
    if isinstance(cfg.amplification, str) and cfg.l2_budget is not None:
        for r, ok in zip(results, tr.reached.tolist()):
            hit = r.final.p_target >= cfg.goal_p
            # "reached" = the budget was met (the comparison's attainment), whatever p_target did
            r.stop_reason = (
                f"reached L2 >= {cfg.l2_budget} and p_target >= {cfg.goal_p}" if ok and hit else
                f"reached L2 >= {cfg.l2_budget}; p_target {r.final.p_target:.3f} < {cfg.goal_p} "
                f"after {len(steps)} steps" if ok else
                f"not reached: L2 >= {cfg.l2_budget} after {len(steps)} steps"
            )
    return results


def _bisect_step(model, transform, d: EditDirection, x0, s, cfg, over, nx, p, l2, rounds: int = 12):
    """Shrink the last live step of the images in ``over`` so their L2 meets the budget exactly."""

    def l2_at(frac: Tensor) -> Tensor:  # rendering only: the classifier scores the final step once
        return pixel_l2(clipped_frames(transform, d, (frac * s)[None], cfg.amplitude_weight)[0], x0)

    hi = bisect_to_budget(l2_at, cfg.l2_budget, x0.shape[0], x0.device, rounds)
    fb = render_frames(model, transform, d, x0, (hi * s)[None], cfg.amplitude_weight, cfg.chunk_size)
    sel = over[:, None, None, None]
    frac = torch.where(over, hi, torch.ones_like(hi))
    return (
        torch.where(sel, fb.frames[0], nx),
        torch.where(over[:, None], fb.probs[0], p),
        torch.where(over, fb.l2[0], l2),
        frac,
    )


# ----------------------------------------------------------------------------- compare
def compare(
    model: Classifier,
    image: Any,
    target: int | str,
    methods: Sequence[str] = COMPARE_METHODS,
    l2_budget: float | None = None,
    reference: str = "csp-phase",
    device: str | torch.device | None = None,
    **options: Any,
) -> dict[str, MorphResult]:
    """Run several methods on one image, each taken to the same final pixel L2.

    If ``l2_budget`` is not given, the ``reference`` method is first run with ``auto`` toward
    ``goal_p`` and its final L2 becomes the shared budget.

    Examples
    --------
    >>> res = compare(model, "cat.jpg", "tiger cat")   # doctest: +SKIP
    >>> {m: round(r.final.l2, 2) for m, r in res.items()}  # doctest: +SKIP
    {'pixel': 9.1, 'fourier-phase': 9.1, 'csp-phase': 9.1, ...}
    """
    options.pop("amplification", None)
    results: dict[str, MorphResult] = {}
    if l2_budget is None:
        ref = morph(model, image, target, reference, device=device, **options)
        l2_budget = ref.final.l2
        if l2_budget <= 1e-6:
            raise ConfigError("the reference morph did not move the image; pass an explicit --budget")
    for m in methods:
        results[m] = morph(model, image, target, m, device=device, l2_budget=l2_budget, **options)
    for r in results.values():
        r.settings["matched_l2_budget"] = l2_budget
    return results
