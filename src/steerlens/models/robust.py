"""L2 adversarial examples and the accuracies every trained model is reported with.

:func:`pgd_l2` is the attack of Madry-style adversarial training (random start, normalised
gradient steps, projection to the L2 ball, clipping to ``[0, 1]``) and of the robust-accuracy
evaluation (no random start); :func:`accuracy` and :func:`robust_accuracy` are the two numbers
``steerlens train`` prints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["accuracy", "pgd_l2", "robust_accuracy"]


def _per_sample_norm(t: Tensor) -> Tensor:
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.dim() - 1)))


def pgd_l2(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """L2 projected-gradient-descent adversarial examples (untargeted, cross-entropy ascent).

    Parameters
    ----------
    model
        Maps images in ``[0, 1]`` to logits. Used as is (call ``.eval()`` first if it has BN).
    x, y
        Images ``(N, C, H, W)`` in ``[0, 1]`` and their labels ``(N,)``.
    eps
        Radius of the L2 ball (per image).
    steps
        Normalised gradient steps.
    step_size
        Length of each step; default ``2.5 * eps / steps`` (Madry et al.).
    random_start
        Start from a uniformly random point of the ball instead of ``x``.
    generator
        RNG for the random start.

    Returns
    -------
    Tensor
        Adversarial images, ``||x_adv - x||_2 <= eps`` per image and ``x_adv`` in ``[0, 1]``.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    >>> x, y = torch.rand(5, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> xa = pgd_l2(net, x, y, eps=0.5, steps=3)
    >>> bool(((xa - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all())
    True
    """
    x = x.detach()
    step = 2.5 * eps / steps if step_size is None else step_size
    delta = torch.zeros_like(x)
    if random_start:
        d = x[0].numel()
        direction = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        radius = eps * torch.rand(len(x), generator=generator, dtype=x.dtype) ** (1.0 / d)
        delta = direction / _per_sample_norm(direction) * radius.view(-1, *([1] * (x.dim() - 1)))
        delta = (x + delta).clamp(0, 1) - x
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(x + delta), y)
        (grad,) = torch.autograd.grad(loss, delta)
        delta = delta.detach() + step * grad / _per_sample_norm(grad)
        delta = delta * (eps / _per_sample_norm(delta)).clamp(max=1.0)
        delta = (x + delta).clamp(0, 1) - x
    return (x + delta).detach()


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)``.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> 0.0 <= accuracy(net, torch.rand(6, 1, 2, 2), torch.zeros(6, dtype=torch.long)) <= 1.0
    True
    """
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
    return correct / max(len(y), 1)


def robust_accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int = 10,
    batch_size: int = 250,
) -> float:
    """Fraction of images classified correctly both clean and under L2-PGD at radius ``eps``.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x, y = torch.rand(6, 1, 2, 2), torch.zeros(6, dtype=torch.long)
    >>> robust_accuracy(net, x, y, eps=1.0) <= accuracy(net, x, y)
    True
    """
    correct = 0
    for i in range(0, len(y), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        xa = pgd_l2(model, xb, yb, eps, steps)
        with torch.no_grad():
            ok = (model(xb).argmax(1) == yb) & (model(xa).argmax(1) == yb)
        correct += int(ok.sum())
    return correct / max(len(y), 1)
