"""Judges: independent classifiers scored on morph endpoints, never differentiated.

One scorer for both front ends: ``steerlens batch`` scores each case's source and last frame
(``judge_<name>_p_target_start`` / ``_end`` / ``_top1_end`` columns) and ``steerlens experiment``
scores a batch's last frames (``judge_p_<name>``, ``judge_success_<name>``, ``joint_success``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from steerlens.metrics.classification import probabilities

__all__ = ["JudgeScores", "joint_success", "score_judges"]


@dataclass(frozen=True)
class JudgeScores:
    """What one judge says about ``N`` endpoints (CPU tensors).

    Attributes
    ----------
    p_end
        ``(N,)`` target probability of the last frames.
    top1_end
        ``(N,)`` the judge's top-1 class of the last frames.
    success
        ``(N,)`` whether that top-1 is the target.
    p_start
        ``(N,)`` target probability of the sources, or ``None`` when none were given.
    """

    p_end: Tensor
    top1_end: Tensor
    success: Tensor
    p_start: Tensor | None = None


def score_judges(
    judges: Mapping[str, torch.nn.Module],
    final: Tensor,
    target: int | Tensor,
    source: Tensor | None = None,
) -> dict[str, JudgeScores]:
    """Score the last frames (and optionally the sources) of ``N`` morphs under every judge.

    Parameters
    ----------
    judges
        Classifiers by name (``x`` in ``[0, 1]`` in, logits out).
    final
        ``(N, C, H, W)`` last frames.
    target
        Target class, one int or ``(N,)``.
    source
        ``(N, C, H, W)`` sources; when given, ``[source; final]`` go through each judge in one
        forward pass.

    Returns
    -------
    dict
        ``name -> JudgeScores``, in the order of ``judges``.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> judge = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> s = score_judges({"O": judge}, torch.rand(2, 1, 2, 2), 1, source=torch.rand(2, 1, 2, 2))
    >>> s["O"].p_end.shape, s["O"].p_start.shape, s["O"].success.dtype
    (torch.Size([2]), torch.Size([2]), torch.bool)
    """
    n = final.shape[0]
    t = torch.as_tensor(target).long().flatten().expand(n).cpu() if n else torch.zeros(0).long()
    x = final if source is None else torch.cat([source, final])
    x = x.float()
    out: dict[str, JudgeScores] = {}
    for name, judge in judges.items():
        p = probabilities(judge, x.to(_device(judge))).cpu()
        end, start = p[-n:], (p[:n] if source is not None else None)
        top1 = end.argmax(1)
        out[name] = JudgeScores(
            p_end=end.gather(1, t.view(-1, 1)).squeeze(1),
            top1_end=top1,
            success=top1 == t,
            p_start=None if start is None else start.gather(1, t.view(-1, 1)).squeeze(1),
        )
    return out


def joint_success(scores: Mapping[str, JudgeScores]) -> Tensor | None:
    """``(N,)`` every judge's top-1 is the target; ``None`` without judges.

    Examples
    --------
    >>> a = JudgeScores(torch.ones(2), torch.zeros(2).long(), torch.tensor([True, True]))
    >>> b = JudgeScores(torch.ones(2), torch.zeros(2).long(), torch.tensor([True, False]))
    >>> joint_success({"O": a, "O2": b}).tolist(), joint_success({})
    ([True, False], None)
    """
    if not scores:
        return None
    return torch.stack([s.success for s in scores.values()]).all(0)


def _device(model: torch.nn.Module) -> torch.device:
    """Where ``model``'s parameters live (CPU for a model without any)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")
