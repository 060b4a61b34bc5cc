"""Classifier-based scores of edited images: driver confidence, judge transfer, and COUT.

The *driver* is the model whose gradient made the edit; its target probability measures optimised
confidence, not independent validation. *Judges* are independent classifiers that are never
differentiated; an edit "transfers" when a judge's top-1 is the target, and *joint* success means
every judge agrees (paper.md §5.2: O / O2 target success, joint success).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from steerlens.errors import ConfigError, TargetError
from steerlens.result import MorphResult
from steerlens.validation import check_bchw

__all__ = [
    "CoutResult",
    "TargetScores",
    "cout",
    "cout_result",
    "probabilities",
    "score_targets",
    "target_probability",
    "target_success",
]

Model = Callable[[Tensor], Tensor]


def _targets(target: int | Tensor, n: int, num_classes: int) -> Tensor:
    t = torch.as_tensor(target, dtype=torch.long)
    t = t.expand(n) if t.dim() == 0 else t
    if t.shape != (n,):
        raise TargetError(f"got {t.numel()} targets for {n} images: pass one int or one per image")
    if int(t.min()) < 0 or int(t.max()) >= num_classes:
        raise TargetError(f"target index out of range: the model has classes 0..{num_classes - 1}")
    return t


@torch.no_grad()
def probabilities(model: Model, x: Tensor, batch_size: int = 256) -> Tensor:
    """Softmax probabilities ``(N, K)`` of ``model`` on ``x``, evaluated without gradients in chunks.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> probabilities(net, torch.rand(5, 1, 2, 2)).sum(1).allclose(torch.ones(5))
    True
    """
    check_bchw(x, error=ConfigError)
    chunks = [x[i : i + batch_size] for i in range(0, x.shape[0], batch_size)]
    return torch.cat([torch.softmax(model(b).float(), dim=-1) for b in chunks])


def target_probability(model: Model, x: Tensor, target: int | Tensor) -> Tensor:
    """``(N,)`` probability of the target class (one int, or one per image).

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> target_probability(net, torch.rand(3, 1, 2, 2), 1).shape
    torch.Size([3])
    """
    p = probabilities(model, x)
    t = _targets(target, x.shape[0], p.shape[1]).to(p.device)
    return p.gather(1, t.view(-1, 1)).squeeze(1)


def target_success(model: Model, x: Tensor, target: int | Tensor) -> Tensor:
    """``(N,)`` bool: whether the model's top-1 class is the target.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> target_success(net, torch.rand(3, 1, 2, 2), 0).dtype
    torch.bool
    """
    p = probabilities(model, x)
    t = _targets(target, x.shape[0], p.shape[1]).to(p.device)
    return p.argmax(1) == t


@dataclass
class TargetScores:
    """Target scores of a batch of edited images under a driver and independent judges.

    Attributes
    ----------
    driver_p
        ``(N,)`` driver target probability (``None`` without a driver).
    driver_success
        ``(N,)`` driver top-1 == target (``None`` without a driver).
    judge_p, judge_success
        Per judge name: ``(N,)`` target probability and top-1 == target.
    joint_success
        ``(N,)`` every judge's top-1 is the target (``None`` without judges).
    """

    driver_p: Tensor | None
    driver_success: Tensor | None
    judge_p: dict[str, Tensor]
    judge_success: dict[str, Tensor]
    joint_success: Tensor | None


def score_targets(
    x: Tensor,
    target: int | Tensor,
    driver: Model | None = None,
    judges: Mapping[str, Model] | None = None,
) -> TargetScores:
    """Driver confidence and judge/joint target success of edited images (no gradients).

    Parameters
    ----------
    x
        ``(N, C, H, W)`` edited images in ``[0, 1]`` (e.g. matched-budget endpoints).
    target
        Target class, one int or ``(N,)``.
    driver
        The model that made the edit (optional).
    judges
        Independent classifiers by name, e.g. ``{"O": resnet_mini, "O2": tiny_mlp}``.

    Returns
    -------
    TargetScores

    Examples
    --------
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> a = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> b = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> s = score_targets(torch.rand(6, 1, 2, 2), 1, driver=a, judges={"O": a, "O2": b})
    >>> bool((s.joint_success == (s.judge_success["O"] & s.judge_success["O2"])).all())
    True
    """
    judges = dict(judges or {})
    drv_p = drv_s = None
    if driver is not None:
        p = probabilities(driver, x)
        t = _targets(target, x.shape[0], p.shape[1]).to(p.device)
        drv_p, drv_s = p.gather(1, t.view(-1, 1)).squeeze(1), p.argmax(1) == t
    judge_p: dict[str, Tensor] = {}
    judge_s: dict[str, Tensor] = {}
    for name, model in judges.items():
        p = probabilities(model, x)
        t = _targets(target, x.shape[0], p.shape[1]).to(p.device)
        judge_p[name], judge_s[name] = p.gather(1, t.view(-1, 1)).squeeze(1), p.argmax(1) == t
    joint = torch.stack(list(judge_s.values())).all(0) if judge_s else None
    return TargetScores(drv_p, drv_s, judge_p, judge_s, joint)


# ------------------------------------------------------------------------------------------- COUT
@dataclass
class CoutResult:
    """COUT scores and the curves behind them.

    Attributes
    ----------
    cout
        ``(N,)`` ``AUC(p_target) - AUC(p_source)`` in ``[-1, 1]``.
    fractions
        ``(K,)`` fraction of pixels taken from the edit at each point, ``0 ... 1``.
    p_target, p_source
        ``(N, K)`` model probabilities of the target and source class along the transition.
    """

    cout: Tensor
    fractions: Tensor
    p_target: Tensor
    p_source: Tensor


@torch.no_grad()
def cout(
    model: Model,
    x_src: Tensor,
    x_edit: Tensor,
    target: int | Tensor,
    source: int | Tensor | None = None,
    n_steps: int = 50,
    batch_size: int = 256,
) -> CoutResult:
    """COUT, the counterfactual transition score of C3LT (Khorram & Fuxin, CVPR 2022).

    Definition (anchors.md §3; reference: ACE ``eval_utils/cout_metrics.py``, taken from
    khorrams/c3lt): rank the pixels by ``sum_c |x_edit - x_src|`` (descending) and replace the
    source's pixels by the edit's in that order, in ``n_steps`` equal groups of
    ``max(1, H*W // n_steps)`` pixels (all channels of a pixel together). Along this transition
    record the model's softmax probability of the target and of the source class, starting with
    the unmodified source (fraction 0) and ending with the full edit (fraction 1). Then
    ``COUT = AUC(p_target) - AUC(p_source)`` with trapezoidal AUCs over the fraction of pixels
    replaced, so ``COUT`` lies in ``[-1, 1]``; high values mean the pixels the edit changed most
    are the ones that move the model from source to target. Multiclass softmax version.

    One deliberate difference from the reference: when ``H*W`` is not a multiple of the group
    size, the reference's last abscissa overshoots 1 (its AUC slightly exceeds the unit
    interval); here the last group is truncated so the fractions end exactly at 1. Ties in the
    ranking are broken by pixel index (stable sort).

    Parameters
    ----------
    model
        Classifier taking ``[0, 1]`` images and returning logits.
    x_src, x_edit
        ``(N, C, H, W)`` sources and their edits.
    target
        Target class, one int or ``(N,)``.
    source
        Source class; default the model's top-1 on ``x_src``.
    n_steps
        Number of pixel groups (C3LT: 50).
    batch_size
        Images per forward pass.

    Returns
    -------
    CoutResult

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    >>> x = torch.rand(3, 1, 4, 4)
    >>> r = cout(net, x, torch.rand(3, 1, 4, 4), target=1, source=0, n_steps=4)
    >>> r.fractions.tolist(), r.p_target.shape
    ([0.0, 0.25, 0.5, 0.75, 1.0], torch.Size([3, 5]))
    """
    check_bchw(x_src, x_edit, name="cout's inputs", error=ConfigError)
    n, c, h, w = x_src.shape
    hw = h * w
    step = max(1, hw // n_steps)
    counts = list(range(0, hw, step)) + [hw]
    fractions = torch.tensor(counts, dtype=torch.float64) / hw

    p0 = probabilities(model, x_src, batch_size)
    t = _targets(target, n, p0.shape[1]).to(p0.device)
    s = p0.argmax(1) if source is None else _targets(source, n, p0.shape[1]).to(p0.device)

    # rank[i, j] = position of pixel j in image i's replacement order.
    diff = (x_edit - x_src).abs().sum(1).flatten(1)
    order = torch.argsort(diff, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(hw, device=order.device).expand(n, hw))

    k = len(counts)
    p_t = torch.empty(n, k, dtype=torch.float64)
    p_s = torch.empty(n, k, dtype=torch.float64)
    per_chunk = max(1, batch_size // k)  # images whose K transition frames fit one batch
    src_flat, edit_flat = x_src.flatten(2), x_edit.flatten(2)
    thresholds = torch.tensor(counts, device=x_src.device).view(1, k, 1)
    for i in range(0, n, per_chunk):
        j = min(i + per_chunk, n)
        take = (rank[i:j].unsqueeze(1) < thresholds).unsqueeze(2)  # (m, K, 1, HW)
        mixed = torch.where(take, edit_flat[i:j].unsqueeze(1), src_flat[i:j].unsqueeze(1))
        p = probabilities(model, mixed.reshape(-1, c, h, w), batch_size).view(j - i, k, -1)
        p_t[i:j] = p.gather(2, t[i:j].view(-1, 1, 1).expand(-1, k, 1)).squeeze(2).double().cpu()
        p_s[i:j] = p.gather(2, s[i:j].view(-1, 1, 1).expand(-1, k, 1)).squeeze(2).double().cpu()
    auc_t = torch.trapezoid(p_t, fractions, dim=1)
    auc_s = torch.trapezoid(p_s, fractions, dim=1)
    return CoutResult(
        cout=(auc_t - auc_s).float(),
        fractions=fractions.float(),
        p_target=p_t.float(),
        p_source=p_s.float(),
    )


def cout_result(
    result: MorphResult, model: Model, frames: list[int] | None = None, n_steps: int = 50
) -> CoutResult:
    """:func:`cout` of a morph's frames (default: the last) against its source.

    The source class is the result's ``source_class`` and the target its ``target``.
    """
    idx = [-1] if frames is None else list(frames)
    edits = result.frames[idx]
    src = result.source.unsqueeze(0).expand_as(edits).contiguous()
    return cout(model, src, edits, result.target, result.source_class, n_steps=n_steps)
