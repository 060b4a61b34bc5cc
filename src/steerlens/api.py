"""Public morph API: one function call from (model, image, target) to a :class:`MorphResult`.

Data flow (design.md): image -> validation -> transform.analyze -> gradient in coefficient space ->
a regime (:mod:`steerlens.regimes`: one-step extrapolation, live or persistent) -> frames rendered,
clipped and scored -> :class:`MorphResult`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from steerlens.comparison import Comparison
from steerlens.config import SIDE_BY_SIDE_METHODS, MorphConfig
from steerlens.data.images import fit_image
from steerlens.errors import ConfigError
from steerlens.gradient import edit_direction
from steerlens.methods.registry import method_help
from steerlens.models.base import Classifier
from steerlens.regimes import MorphProblem, regime_help, run_regime
from steerlens.result import MorphResult
from steerlens.threads import job_size, thread_policy
from steerlens.validation import (
    MIN_IMAGE_SIDE,
    check_images,
    check_memory,
    check_targets,
    estimate_morph_bytes,
)

__all__ = ["compare", "morph", "morph_batch", "prepare_image"]


def prepare_image(image: Any, model: Classifier, device: torch.device) -> Tensor:
    """Turn a path, PIL image, array or tensor into ``model``'s input on ``device``.

    Every kind of image goes through :func:`steerlens.data.images.fit_image`, the fit the CLI,
    ``batch`` and the app use too: resized (cover, centre-crop, antialiased bicubic) to the model's
    input size and converted to its channels (luma for grey). A tensor is first checked as
    :func:`~steerlens.validation.check_images` does (float, finite, in ``[0, 1]``, at least
    :data:`~steerlens.validation.MIN_IMAGE_SIDE` px); one that already fits is used as given.

    Examples
    --------
    >>> import torch
    >>> from steerlens.models import load_model
    >>> model = load_model("mnist-cnn", progress=False)
    >>> prepare_image(torch.rand(1, 56, 84), model, torch.device("cpu")).shape
    torch.Size([1, 1, 28, 28])
    """
    if isinstance(image, Tensor):
        check_images(image.detach()[None] if image.dim() == 3 else image.detach(), name="image")
    return fit_image(image, model, min_size=MIN_IMAGE_SIDE).to(device)


def morph(
    model: Classifier,
    image: Any,
    target: int | str,
    method: str | None = None,
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
        A registered method (:data:`steerlens.methods.METHODS`). ``None`` (default): the method
        of ``config``, or ``csp-phase`` without a config; a method named here wins over the
        config's. The methods:

        __METHODS__
    config
        Full :class:`~steerlens.config.MorphConfig`; ``method`` and ``options`` override its fields.
    device
        Torch device; default: the model's.
    **options
        Any :class:`~steerlens.config.MorphConfig` field, e.g. ``frames=12``,
        ``amplification=[0, 1, 2]``, ``goal_p=0.9``, ``l2_budget=2.0``, ``color="luminance"``,
        ``regime="live"``. The regimes (:data:`steerlens.regimes.REGIMES`):

        __REGIMES__

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
    if method is not None:
        options["method"] = method
    cfg = _config_with(config, options)
    dev = torch.device(device) if device is not None else _model_device(model)
    x = prepare_image(image, model, dev)
    if x.shape[0] != 1:
        raise ConfigError("morph() takes one image; use morph_batch() for several")
    return morph_batch(model, x, target, cfg, device=dev)[0]


if morph.__doc__:  # every method and regime, from their registries (absent under python -OO)
    morph.__doc__ = (morph.__doc__.replace(" " * 8 + "__METHODS__", method_help(" " * 8 + "- "))
                     .replace(" " * 8 + "__REGIMES__", regime_help(" " * 8 + "- ")))


def _config_with(config: MorphConfig | None, options: dict[str, Any]) -> MorphConfig:
    """``config`` (default: a fresh :class:`MorphConfig`) with ``options`` replacing its fields."""
    if config is not None and not isinstance(config, MorphConfig):
        raise ConfigError(f"config must be a MorphConfig, got {type(config).__name__}")
    known = set(MorphConfig.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"unknown morph option(s) {', '.join(unknown)}; see help(steerlens.MorphConfig)"
        )
    return replace(config or MorphConfig(), **options).validate()


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

    torch's CPU threads: unless the caller chose them (``STEERLENS_THREADS``, ``OMP_NUM_THREADS``,
    ``torch.set_num_threads`` or a front end's ``--threads``), the call runs with the count the
    thread policy picks for its size and the free cores (:mod:`steerlens.threads`), and restores
    torch's previous count afterwards; ``result.runtime`` records the count and its source.
    """
    if not isinstance(config, MorphConfig):
        raise ConfigError(f"config must be a MorphConfig, got {type(config).__name__}")
    cfg = config.validate()
    dev = torch.device(device) if device is not None else _model_device(model)
    x = check_images(images, channels=model.channels).to(dev)
    b = x.shape[0]
    t = torch.tensor(check_targets(targets, b, model.class_names), device=dev)
    frames = cfg.frames if isinstance(cfg.amplification, str) else len(cfg.amplification)
    check_memory(estimate_morph_bytes(b, *x.shape[1:], frames, cfg.n_orientations), dev)
    # torch's threads for this call: the caller's choice, else the thread policy's for the job's
    # size (steerlens.threads); restored afterwards
    with thread_policy(job_size(x.shape[-2], x.shape[-1], b, frames)) as threads:
        return _morph_batch(model, x, t, cfg, dev, progress, threads.as_dict())


def _morph_batch(model: Classifier, x: Tensor, t: Tensor, cfg: MorphConfig, dev: torch.device,
                 progress: bool, thread_policy: dict[str, object]) -> list[MorphResult]:
    """:func:`morph_batch` on checked inputs; ``thread_policy`` goes into each result's runtime."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    transform = cfg.make_transform(x.shape[1])
    tic = time.perf_counter()
    with torch.no_grad():
        coeffs = transform.analyze(x)
    timings["analyze"] = time.perf_counter() - tic
    tic = time.perf_counter()
    # one forward+backward gives the gradient *and* the source's logits (no separate source forward)
    direction = edit_direction(model, transform, x, t, cfg, coeffs=coeffs, validate=True)
    timings["gradient"] = time.perf_counter() - tic
    src = direction.logits.argmax(-1)
    if bool((src == t).any()):
        warnings.warn(
            "target equals the source's top-1 class for some image; the morph will only raise its "
            "confidence",
            stacklevel=3,  # the caller of morph_batch
        )
    problem = MorphProblem(model, transform, x, t, src, cfg, direction, progress)
    runtime = {"torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
               "device": str(dev), "thread_policy": thread_policy}
    results = run_regime(cfg.regime, problem, timings, runtime)
    total = time.perf_counter() - start
    return [r.with_timings(total=total) for r in results]


# ----------------------------------------------------------------------------- compare
def compare(
    model: Classifier,
    image: Any,
    target: int | str,
    methods: Sequence[str] = SIDE_BY_SIDE_METHODS,
    l2_budget: float | None = None,
    reference: str = "csp-phase",
    device: str | torch.device | None = None,
    **options: Any,
) -> Comparison:
    """Run several methods on one image, each taken to the same final pixel L2.

    If ``l2_budget`` is not given, the ``reference`` method is first run with ``auto`` toward
    ``goal_p`` and its final L2 becomes the shared budget.

    Returns a :class:`~steerlens.comparison.Comparison`: a read-only mapping method -> result
    (``.items()``, ``[method]``) that shows all methods on one slider in Jupyter.

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
        how = (f"at its p_target peak {ref.overshoot.peak_p_target:.3f} (it overshot before "
               f"p_target >= {ref.settings['goal_p']})" if ref.overshoot is not None and not ref.reached
               else f"where it reached p_target >= {ref.settings['goal_p']}" if ref.reached
               else f"at its largest amplification (p_target {ref.final.p_target:.3f} < "
                    f"{ref.settings['goal_p']})")
        budget_source = f"the final L2 of the {reference} reference morph, {how}"
    else:
        budget_source = "given with --budget"
    for m in methods:
        res = morph(model, image, target, m, device=device, l2_budget=l2_budget, **options)
        results[m] = res.with_settings(matched_l2_budget=l2_budget, budget_source=budget_source)
    return Comparison(results)
