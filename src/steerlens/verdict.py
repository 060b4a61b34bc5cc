"""Say it plainly: did the driver change its decision while the image stayed visibly the same?

A morph whose last frame flips the driver's top-1 class but looks like its source is an
adversarial example, not a class change. :func:`judge_frames` decides that from the source and the
last frame alone (SSIM between them, and the largest displacement where the method has a field),
so every front end (the CLI line, ``result.json``, the report, the app, ``batch`` tables) reads
the same :class:`Verdict` from :attr:`steerlens.result.MorphResult.verdict`.

The threshold was set by looking at real morphs (``results/checks/visibility_threshold.md``):
EfficientNet-Lite0 on photos and the robust MNIST CNN on digits, persistent csp-phase, pixel and
flow at several budgets, each final frame beside its source.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytorch_msssim
import torch
from torch import Tensor

__all__ = ["UNCHANGED_SSIM", "Verdict", "judge_frames", "ssim_pair"]

#: SSIM (source vs last frame, Gaussian window 11, sigma 1.5) at or above which a last frame counts
#: as visibly unchanged, chosen by looking at real morphs (``results/checks/visibility_threshold.md``):
#: Lite0's photo edits at SSIM 0.964-0.995 look like their sources, while 28-pixel digits already
#: show a grey stroke or a bent line at 0.909-0.927 and only faint blotches at 0.935.
UNCHANGED_SSIM = 0.95


@dataclass(frozen=True)
class Verdict:
    """What the last frame of a morph amounts to.

    Attributes
    ----------
    decision_changed
        The driver's top-1 class on the last frame differs from its top-1 on the source.
    ssim
        Structural similarity of the last frame to the source (1: identical).
    max_displacement
        Largest displacement (pixels) of the last frame's field; ``None`` for methods without one.
    looks_unchanged
        ``ssim >= threshold``: the last frame is visibly the source.
    threshold
        The SSIM threshold used (:data:`UNCHANGED_SSIM`).

    Examples
    --------
    >>> v = Verdict(True, 0.991, 1.43, True)
    >>> v.looks_adversarial
    True
    >>> v.message
    'decision changed; image visibly unchanged (SSIM 0.99, largest displacement 1.4 px): this looks like an adversarial example, not a class change'
    """

    decision_changed: bool
    ssim: float
    max_displacement: float | None
    looks_unchanged: bool
    threshold: float = UNCHANGED_SSIM

    @property
    def looks_adversarial(self) -> bool:
        """The decision changed while the image stayed visibly unchanged."""
        return self.decision_changed and self.looks_unchanged

    @property
    def message(self) -> str:
        """The plain sentence front ends show when :attr:`looks_adversarial`; else ``""``."""
        if not self.looks_adversarial:
            return ""
        moved = ("" if self.max_displacement is None
                 else f", largest displacement {self.max_displacement:.1f} px")
        return (f"decision changed; image visibly unchanged (SSIM {self.ssim:.2f}{moved}): "
                "this looks like an adversarial example, not a class change")

    def as_dict(self) -> dict[str, float | bool | str | None]:
        """JSON-ready: the fields, ``looks_adversarial`` and ``message``.

        Examples
        --------
        >>> Verdict(False, 0.5, None, False).as_dict()["looks_adversarial"]
        False
        """
        return {
            "decision_changed": self.decision_changed,
            "ssim": round(self.ssim, 6),
            "max_displacement": self.max_displacement,
            "looks_unchanged": self.looks_unchanged,
            "looks_adversarial": self.looks_adversarial,
            "ssim_threshold": self.threshold,
            "message": self.message,
        }


def ssim_pair(x: Tensor, y: Tensor, win_size: int = 11) -> float:
    """SSIM of two ``(C, H, W)`` images in [0, 1]; the window shrinks to fit small images.

    The same numbers as :func:`steerlens.metrics.image.ssim` (pytorch-msssim, sigma 1.5).

    Examples
    --------
    >>> x = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0))
    >>> ssim_pair(x, x), round(ssim_pair(x, 1 - x), 2) < 0.1
    (1.0, True)
    """
    side = min(x.shape[-2:])
    win = max(3, min(win_size, side if side % 2 == 1 else side - 1))
    a, b = x.detach().float().cpu()[None], y.detach().float().cpu()[None]
    with torch.no_grad():
        value = pytorch_msssim.ssim(a, b, data_range=1.0, size_average=False, win_size=win)
    return round(float(value[0]), 6)


def judge_frames(source: Tensor, final: Tensor, top1_source: int, top1_final: int,
                 max_displacement: float | None = None,
                 threshold: float = UNCHANGED_SSIM) -> Verdict:
    """The :class:`Verdict` of a morph from its first and last frame and the driver's top-1 on each.

    Parameters
    ----------
    source, final
        ``(C, H, W)`` frames in [0, 1] (the source reconstruction and the last frame).
    top1_source, top1_final
        The driver's top-1 class on each.
    max_displacement
        The last frame's largest displacement in pixels, where the method has a field.
    threshold
        SSIM at or above which the last frame counts as visibly unchanged.

    Examples
    --------
    >>> x = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> judge_frames(x, x + 0.001, 285, 281).looks_adversarial
    True
    >>> judge_frames(x, torch.zeros_like(x), 285, 281).looks_unchanged
    False
    """
    value = ssim_pair(source, final)
    return Verdict(
        decision_changed=int(top1_source) != int(top1_final),
        ssim=value,
        max_displacement=None if max_displacement is None else round(float(max_displacement), 4),
        looks_unchanged=value >= threshold,
        threshold=threshold,
    )
