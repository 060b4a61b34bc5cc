"""Gradient of a target-class loss with respect to transform coefficients.

For complex bands ``c = A e^{i phi}``, PyTorch's complex autograd returns
``g = dL/dRe(c) + i dL/dIm(c)``; then ``dL/dphi = Im(conj(c) g)`` and ``dL/dlog A = Re(conj(c) g)``
(paper.md §2.3). An :class:`EditDirection` stores the *descent* directions (negated, normalised,
masked), ready to be amplified by :mod:`steerlens.frames`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor

from steerlens.config import MorphConfig
from steerlens.errors import ModelError, model_label
from steerlens.methods.registry import get_method
from steerlens.models.base import Classifier
from steerlens.motion import PhaseMotionFit
from steerlens.transforms.base import Coeffs, Transform
from steerlens.validation import check_gradient, check_logits, describe_exception


@dataclass
class EditDirection:
    """Normalised descent directions in coefficient space for a batch of B images.

    Attributes
    ----------
    coeffs
        Source coefficients (detached), batch B.
    phase, log_amplitude
        Per band, the descent direction of phase / log-amplitude (real, same shape as the band), or
        ``None`` when that component is not edited. For real (pixel) bands, ``phase`` holds the
        additive pixel-space direction.
    unit
        ``(B,)`` factor converting a normalised amplification into the user's amplification units
        (1 unless ``normalization='none'``).
    loss
        ``(B,)`` loss at the source.
    raw_max_phase, raw_max_log_amplitude
        ``(B,)`` largest magnitude of the raw (un-normalised) gradients, for the manifest.
    edited_mask
        Per band, the boolean mask of coefficients above the amplitude floor (``None`` for real bands).
    logits
        ``(B, classes)`` driver logits of the source from the gradient pass (reused so a morph needs no
        separate source forward), or ``None``.
    motion_explained
        ``csp-motion`` only: ``(B,)`` share of the csp-phase edit that its displacement field
        explains (:mod:`steerlens.motion`).
    """

    coeffs: Coeffs
    phase: list[Tensor | None]
    log_amplitude: list[Tensor | None]
    unit: Tensor
    loss: Tensor
    raw_max_phase: Tensor
    raw_max_log_amplitude: Tensor
    edited_mask: list[Tensor | None] = field(default_factory=list)
    logits: Tensor | None = None
    motion_explained: Tensor | None = None

    @cached_property
    def polar(self) -> list[tuple[Tensor, Tensor] | None]:
        """Per complex band, its amplitude and phase ``(|c|, angle(c))``; ``None`` for real bands.

        Computed once and reused by every frame rendered at uneven amplifications (the schedule
        search): a frame is then one cos/sin pass per band, with no complex multiply by ``c0``.
        """
        return [(c.abs(), c.angle()) if c.is_complex() else None for c in self.coeffs.bands]


def target_loss(
    logits: Tensor, target: Tensor, source: Tensor | None, kind: str = "nll"
) -> Tensor:
    """Per-image loss whose *descent* moves images toward ``target``.

    Parameters
    ----------
    logits
        ``(B, classes)``.
    target
        ``(B,)`` target class indices.
    source
        ``(B,)`` source class indices (required for ``kind='margin'``).
    kind
        ``"nll"``: ``-log softmax(logits)[target]``; ``"margin"``: ``logit[source] - logit[target]``.

    Examples
    --------
    >>> import torch
    >>> target_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([1]), None).item()  # log 2
    0.6931471824645996
    """
    lg = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    if kind == "nll":
        return F.cross_entropy(lg, target, reduction="none")
    if source is None:
        raise ValueError("margin loss needs the source class")
    return lg.gather(1, source[:, None])[:, 0] - lg.gather(1, target[:, None])[:, 0]


def coefficient_gradient(
    model: Classifier,
    transform: Transform,
    coeffs: Coeffs,
    target: Tensor,
    source: Tensor | None = None,
    loss: str = "nll",
    validate: bool = False,
) -> tuple[list[Tensor], Tensor, Tensor]:
    """Gradient of the per-image loss with respect to every band of ``coeffs``.

    The image is synthesised *without* clipping for the gradient: the source lies in [0, 1] up to
    reconstruction error, and a clip would zero the gradient on saturated pixels (e.g. MNIST's black
    background) at random, depending on the sign of a 1e-7 error.

    ``source=None`` with the margin loss takes the source class from this same forward pass's
    top-1, so no separate forward is needed. ``validate=True`` checks the logits (one finite row per
    image, :func:`~steerlens.validation.check_logits`) and turns a network that cannot be
    differentiated into a one-line :class:`~steerlens.errors.ModelError`.

    Returns
    -------
    grads, loss, logits
        One gradient per band (complex for complex bands: ``dL/dRe + i dL/dIm``), the ``(B,)``
        loss values and the ``(B, classes)`` logits of the forward pass.
    """
    with torch.enable_grad():  # callers may hold no_grad; the gradient is the point here
        leaves = [b.detach().clone().requires_grad_(True) for b in coeffs.bands]
        x = transform.synthesize(coeffs.with_bands(leaves))
        logits = model(x)
        if validate:
            check_logits(logits, x.shape[0], model.num_classes, model.name)
        if source is None and loss == "margin":
            source = logits.detach().argmax(-1)
        per_image = target_loss(logits, target, source, loss)
        try:
            grads = torch.autograd.grad(per_image.sum(), leaves)
        except RuntimeError as err:
            if not validate:
                raise
            raise ModelError(
                f"{model_label(model.name)} cannot be differentiated with respect to its input "
                f"({describe_exception(err, 120)}); remove detach/no_grad/argmax from forward"
            ) from None
    return [g.detach() for g in grads], per_image.detach(), logits.detach()


def _batch_max(t: Tensor) -> Tensor:
    return t.abs().flatten(1).amax(1)


def _bview(v: Tensor, like: Tensor) -> Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def edit_direction(
    model: Classifier,
    transform: Transform,
    x: Tensor,
    target: Tensor,
    config: MorphConfig,
    source: Tensor | None = None,
    coeffs: Coeffs | None = None,
    validate: bool = False,
) -> EditDirection:
    """Analyse ``x``, take the loss gradient and turn it into normalised descent directions.

    Parameters
    ----------
    model
        Driver classifier (images in [0, 1]).
    transform
        Representation to edit in.
    x
        ``(B, C, H, W)`` source images.
    target, source
        ``(B,)`` class indices (the margin loss takes the top-1 class when ``source`` is None).
    config
        Edit mode, normalisation, band selection and amplitude floor come from here.
    coeffs
        Pre-computed ``transform.analyze(x)`` (optional).
    validate
        Check the logits and that the gradient is finite and not zero (one-line
        :class:`~steerlens.errors.ModelError` otherwise); the first gradient of a morph does.

    Examples
    --------
    >>> import torch
    >>> from steerlens.models.base import Classifier
    >>> from steerlens.transforms import make_transform
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 2))
    >>> clf = Classifier(net, ["a", "b"], (16, 16), 1)
    >>> d = edit_direction(clf, make_transform("csp"), torch.rand(1, 1, 16, 16),
    ...                    torch.tensor([1]), MorphConfig())
    >>> float(max(p.abs().max() for p in d.phase if p is not None))
    1.0
    """
    method = get_method(config.method)  # its rules turn the gradient into directions
    if method.fitted_motion:  # csp-motion: the csp-phase gradient, fitted with one field
        return motion_direction(model, transform, x, target, config, source, coeffs, validate)
    if coeffs is None:
        with torch.no_grad():
            coeffs = transform.analyze(x)
    coeffs = coeffs.detach()
    grads, loss_val, logits = coefficient_gradient(
        model, transform, coeffs, target, source, config.loss, validate
    )
    b = x.shape[0]
    selected = _band_selection(coeffs, config)

    phase: list[Tensor | None] = []
    log_amp: list[Tensor | None] = []
    masks: list[Tensor | None] = []
    for c, g, sel in zip(coeffs.bands, grads, selected):
        if not c.is_complex():
            phase.append(method.additive_direction(g, sel))
            log_amp.append(None)
            masks.append(None)
            continue
        prod = torch.conj(c) * g
        amp = c.abs()
        band_max = amp.flatten(2).amax(2).view(*amp.shape[:2], *([1] * (amp.dim() - 2)))
        mask = amp > config.amplitude_floor * band_max
        if sel is not None:
            mask = mask & sel
        dphi, deta = method.band_direction(prod, amp, band_max, mask, config)
        phase.append(dphi)
        log_amp.append(deta)
        masks.append(mask)

    raw_phase = _max_over(phase, b)
    raw_amp = _max_over(log_amp, b)
    if validate:
        check_gradient(torch.maximum(raw_phase.to(x.device), raw_amp.to(x.device)), model.name)
    phase = _normalise(phase, config.normalization, raw_phase)
    log_amp = _normalise(log_amp, config.normalization, raw_amp)
    unit = torch.ones(b, device=x.device)
    if config.normalization == "none":
        ref = raw_amp if method.edits_amplitude and not method.edits_phase else raw_phase
        unit = 1.0 / ref.clamp_min(1e-30)
    return EditDirection(coeffs, phase, log_amp, unit, loss_val, raw_phase, raw_amp, masks, logits)


def _max_over(ts: list[Tensor | None], b: int) -> Tensor:
    vals = [_batch_max(t) for t in ts if t is not None]
    if not vals:
        return torch.zeros(b)
    return torch.stack(vals, 0).amax(0)


def _normalise(ts: list[Tensor | None], how: str, peak: Tensor) -> list[Tensor | None]:
    """Scale directions so amplification has a fixed meaning (see MorphConfig.normalization).

    ``peak`` is the ``(B,)`` largest magnitude over all of ``ts`` (:func:`_max_over`).
    """
    if how == "none":
        return ts
    if how == "per-scale":
        return [None if t is None else t / _bview(_batch_max(t).clamp_min(1e-30), t) for t in ts]
    m = peak.clamp_min(1e-30)
    return [None if t is None else t / _bview(m.to(t.device), t) for t in ts]


def _band_selection(coeffs: Coeffs, config: MorphConfig) -> list[Tensor | None]:
    """Boolean masks restricting edits to the chosen scales/orientations (None = everything)."""
    if config.scales is None and config.orientations is None:
        return [None] * len(coeffs.bands)
    out: list[Tensor | None] = []
    for i, band in enumerate(coeffs.bands):
        info = coeffs.band_info[i] if i < len(coeffs.band_info) else {}
        scale = info.get("scale")
        keep_scale = config.scales is None or scale is None or scale in config.scales
        mask = torch.full(band.shape, keep_scale, dtype=torch.bool, device=band.device)
        if keep_scale and config.orientations is not None and scale is not None and band.dim() == 5:
            o = torch.zeros(band.shape[2], dtype=torch.bool, device=band.device)
            o[[k for k in config.orientations if k < band.shape[2]]] = True
            mask = mask & o.view(1, 1, -1, 1, 1)
        out.append(mask)
    return out


def motion_direction(
    model: Classifier,
    transform: Transform,
    x: Tensor,
    target: Tensor,
    config: MorphConfig,
    source: Tensor | None = None,
    coeffs: Coeffs | None = None,
    validate: bool = False,
) -> EditDirection:
    """``csp-motion``: the csp-phase descent direction at the current image, fitted with one
    displacement field (:class:`PhaseMotionFit`) and returned as an additive direction on the
    flow transform's control grid (normalised so its largest control point moves 1 px).

    ``transform`` is the morph's :class:`~steerlens.transforms.flow.FlowTransform`; ``coeffs`` its
    current coefficients (the source's when ``None``).
    """
    if coeffs is None:
        with torch.no_grad():
            coeffs = transform.analyze(x)
    with torch.no_grad():
        current = transform.synthesize(coeffs).clamp(0, 1)
    csp_cfg = replace(config, method="csp-phase", normalization="global-max")
    csp = csp_cfg.make_transform(current.shape[1])
    d_csp = edit_direction(model, csp, current, target, csp_cfg, source=source, validate=validate)
    fit = PhaseMotionFit.build(d_csp.coeffs, d_csp.edited_mask, transform.grid)  # type: ignore[attr-defined]
    g, explained = fit.solve(d_csp.phase)
    peak = g.abs().flatten(1).amax(1).clamp_min(1e-30)
    direction = g / peak.view(-1, 1, 1, 1)
    bands = [direction] + [torch.zeros_like(b) for b in coeffs.bands[1:]]
    return EditDirection(coeffs.detach(), bands, [None] * len(bands), torch.ones_like(peak),
                         d_csp.loss, d_csp.raw_max_phase, d_csp.raw_max_log_amplitude,
                         [None] * len(bands), d_csp.logits, motion_explained=explained)
