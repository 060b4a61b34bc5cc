"""Motion read-outs paid where they are read.

``phase_explained`` and the displacement statistics of every frame (:mod:`steerlens.motion`) are
diagnostics: nothing in a morph depends on them, and many callers never look (a benchmark, a batch
that keeps only frames). A regime records what the read-out needs of its edits, which is small
(one-step: nothing beyond the direction it already holds; iterative regimes: the phase fit's
right-hand side per step, :meth:`~steerlens.motion.MotionReadout.project`), and the fit itself
(normal equations, Cholesky factor, solves, dense fields) runs the first time any result of the
batch is asked for a score, its displacement field or its manifest, once for the whole batch and
only for the frames the results keep. The values are those an eager read-out gives.

Examples
--------
>>> import torch, warnings
>>> from steerlens.config import MorphConfig
>>> from steerlens.models.base import Classifier
>>> from steerlens.api import morph_batch
>>> _ = torch.manual_seed(0)
>>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 2))
>>> clf = Classifier(net, ["a", "b"], (16, 16), 1)
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")   # the random net may already favour the target
...     r = morph_batch(clf, torch.rand(1, 1, 16, 16), [1], MorphConfig(amplification=[0, 1, 2]))[0]
>>> "_pending" in r.__dict__            # nothing fitted yet
True
>>> 0 <= r.final.phase_explained <= 1   # the first read runs the fit for the whole batch
True
>>> "_pending" in r.__dict__
False
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from steerlens.gradient import EditDirection
from steerlens.motion import MotionReadout, field_magnitude_stats
from steerlens.result import FrameScore


@dataclass
class ImageMotion:
    """One image's read-outs at its kept frames."""

    mean: list[float]
    peak: list[float]
    explained: list[float] | None
    field: Tensor  # (2, H, W) the last frame's field, px


class LazyMotion:
    """The read-outs of one trajectory; :meth:`for_images` computes them."""

    def for_images(self, frames: list[Tensor], lengths: list[int]) -> list[ImageMotion]:
        """Read-outs of image ``i`` at its kept frames ``frames[i]`` (indices into the trajectory;
        ``lengths[i]`` = its last state)."""
        raise NotImplementedError


class OneStepMotion(LazyMotion):
    """One-step: one fit of the direction; fields scale linearly with the amplification.

    ``amplification`` is ``(K, B)`` in the user's units (its sign orients the final field).
    """

    def __init__(self, readout: MotionReadout, direction: EditDirection, amplification: Tensor
                 ) -> None:
        self.readout, self.direction, self.amplification = readout, direction, amplification

    def for_images(self, frames: list[Tensor], lengths: list[int]) -> list[ImageMotion]:
        field, explained = self.readout(self.direction.phase)
        if self.direction.motion_explained is not None:
            explained = self.direction.motion_explained
        mean, peak = field_magnitude_stats(field)
        a = self.amplification.abs()
        mean_k, peak_k = a * mean[None], a * peak[None]
        final = self.amplification[-1].view(-1, 1, 1, 1) * field
        k = a.shape[0]
        expl_k = None if explained is None else explained[None].expand(k, -1)
        out = []
        for i, idx in enumerate(frames):
            idx = idx.to(a.device)
            out.append(ImageMotion(mean_k[idx, i].tolist(), peak_k[idx, i].tolist(),
                                   None if expl_k is None else expl_k[idx, i].tolist(), final[i]))
        return out


class TrackedMotion(LazyMotion):
    """Iterative regimes: per step, what the read-out needs of the accumulated edit
    (:meth:`MotionReadout.project`) and, for ``csp-motion``, the share its direction came with.

    An image that stopped keeps its last step's values (its frames are frozen copies), so its frame
    ``k`` reads step ``min(k, lengths[i])``; frame 0 has no displacement.
    """

    def __init__(self, readout: MotionReadout, first: EditDirection) -> None:
        self.readout = readout
        self.steps: list[tuple[tuple[Tensor, ...], Tensor | None]] = []
        # a share exists for CSP phase fits and for csp-motion's own fit; plain flow has none
        self.has_share = readout.fits_phase or first.motion_explained is not None
        b = first.unit.shape[0]
        self.start = (first.motion_explained if first.motion_explained is not None
                      else torch.zeros(b, device=first.unit.device))

    def step(self, edit: list[Tensor | None], explained: Tensor | None) -> None:
        """Record step ``len(self.steps) + 1``: the accumulated ``edit`` and a given share."""
        self.steps.append((self.readout.project(edit),
                           None if explained is None else explained.detach().clone()))

    def for_images(self, frames: list[Tensor], lengths: list[int]) -> list[ImageMotion]:
        want = [sorted({min(int(k), lengths[i]) for k in idx.tolist()} | {lengths[i]})
                for i, idx in enumerate(frames)]
        # every (step, image) pair read, solved one step at a time over the images that need it
        values: dict[tuple[int, int], tuple[float, float, float | None, Tensor]] = {}
        for s in sorted({s for w in want for s in w if s > 0}):
            rows = [i for i, w in enumerate(want) if s in w]
            projected, given = self.steps[s - 1]
            field, fitted = self.readout.resolve(projected, torch.tensor(rows))
            explained = given[rows] if given is not None else fitted
            mean, peak = field_magnitude_stats(field)
            expl = explained.to(mean).tolist() if explained is not None else [None] * len(rows)
            for j, (i, m, p, e) in enumerate(zip(rows, mean.tolist(), peak.tolist(), expl)):
                values[(s, i)] = (m, p, e, field[j])
        out = []
        for i, idx in enumerate(frames):
            cols = [values.get((min(int(k), lengths[i]), i)) for k in idx.tolist()]
            start = float(self.start[i]) if self.has_share else None
            last = values.get((lengths[i], i))
            out.append(ImageMotion(
                [0.0 if c is None else c[0] for c in cols],
                [0.0 if c is None else c[1] for c in cols],
                [start if c is None else c[2] for c in cols] if self.has_share else None,
                last[3] if last is not None else None,
            ))
        return out


class BatchReadouts:
    """The read-outs of one batch's results, computed together on the first read of any of them."""

    def __init__(self, motion: LazyMotion, frames: list[Tensor], lengths: list[int]) -> None:
        self.motion: LazyMotion | None = motion
        self.frames, self.lengths = frames, lengths
        self.values: list[ImageMotion] | None = None

    def filler(self, i: int) -> Callable[[list[FrameScore]], Tensor | None]:
        """What :meth:`MorphResult.defer` runs for image ``i``: fill its scores, return its field."""
        def fill(scores: list[FrameScore]) -> Tensor | None:
            if self.values is None:
                assert self.motion is not None
                self.values = self.motion.for_images(self.frames, self.lengths)
                self.motion = None  # drop the coefficients and edits held for the fit
            v = self.values[i]
            for k, s in enumerate(scores):
                s.mean_displacement, s.max_displacement = v.mean[k], v.peak[k]
                s.phase_explained = None if v.explained is None else v.explained[k]
            return None if v.field is None else v.field.detach().cpu()
        return fill
