"""Motion read-outs: the displacement field that best explains a CSP phase edit, the ``csp-motion``
edit direction built from it, and displacement statistics of any morph that has a field.

**The phase–displacement relation** (paper.md §2.1, §2.3). A complex band with local frequency
``omega`` (radians per pixel) shifted by a small displacement ``d`` changes phase by
``delta_phi = -omega . d``. Each band's local frequency is measured from the coefficients themselves
(the phase advance between neighbouring coefficients: Fleet & Jepson's phase gradient), in pixels of the image.

**The fit.** Given per-coefficient phase changes ``delta_phi_b`` (e.g. the descent direction of a
csp-phase morph), find the one field ``d = U g`` on a coarse control grid ``g`` (bicubically
upsampled by ``U``, as :class:`~steerlens.transforms.flow.FlowTransform` renders it) minimising

    sum_b sum_q  w_bq (delta_phi_bq + omega_bq . d(x_q))^2  +  lambda |g|^2,     w = |c|^2 * mask

over every scale, orientation, colour channel and position: amplitude-weighted least squares, made
smooth by the control grid and a small ridge term (grid points with no structure under them stay
at zero). The *explained share* ``1 - residual / sum w delta_phi^2`` says how much of a phase edit
one coherent motion accounts for; per-band phase edits that no single motion explains are what the
authors' revision names as the cause of interference artefacts (ghosted, doubled contours).

**csp-motion.** The csp-phase gradient at the current image, fitted as above, gives a displacement
direction; it is rendered as a warp (the flow transform), so every band moves consistently by
construction. Rendering the same field back as per-band phase shifts ``-omega . d`` was the other
option; it re-introduces phase wrapping at fine scales once ``|omega . d| > pi`` (about 2 px at the
finest scale), which a warp does not have. Measured on 100 held-out MNIST digits, one-step
(``results/checks/csp_motion_rendering.md``): at L2 = 4 the two are even (driver 33 vs 32, both
judges 9 vs 11) but the warp keeps more structure (SSIM 0.78 vs 0.69); at L2 = 6 the phase
rendering has 37 % of its phases past pi and falls to 17 / 2 against the warp's 53 / 19.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

from steerlens.config import MorphConfig
from steerlens.transforms.base import Coeffs

#: ridge weight, relative to the mean diagonal of the normal equations
RIDGE = 1e-3
#: local frequencies are clamped to this magnitude (radians per pixel; Nyquist is pi)
MAX_OMEGA = torch.pi
@lru_cache(maxsize=64)
def _upsampling_factors(grid: int, h: int, w: int) -> tuple[Tensor, Tensor]:
    """``(U_y (h, grid), U_x (w, grid))``: the bicubic, corner-aligned upsampling of a control grid
    is separable, ``U[(i, j), (a, b)] = U_y[i, a] * U_x[j, b]`` (float64).

    Examples
    --------
    >>> uy, ux = _upsampling_factors(4, 16, 12)
    >>> g = torch.rand(1, 1, 4, 4, dtype=torch.float64)
    >>> dense = F.interpolate(g, size=(16, 12), mode="bicubic", align_corners=True)[0, 0]
    >>> bool(torch.allclose(uy @ g[0, 0] @ ux.T, dense))
    True
    """
    def factor(n: int) -> Tensor:
        eye = torch.eye(grid, dtype=torch.float64).view(grid, 1, 1, grid)
        return F.interpolate(eye, size=(1, n), mode="bicubic", align_corners=True)[:, 0, 0].T

    return factor(h).contiguous(), factor(w).contiguous()


def local_frequency(band: Tensor, stride: tuple[float, float]) -> tuple[Tensor, Tensor]:
    """``(omega_x, omega_y)`` of a complex band ``(..., h, w)`` in radians per *image* pixel.

    Central differences inside, one-sided at the edges; ``stride`` = image pixels per band pixel.

    Examples
    --------
    >>> x = torch.arange(16.0)
    >>> c = torch.exp(1j * 0.5 * x)[None, :].repeat(16, 1)   # a wave along x, 0.5 rad/px
    >>> wx, wy = local_frequency(c, (1.0, 1.0))
    >>> round(float(wx.mean()), 4), round(float(wy.abs().max()), 4)
    (0.5, 0.0)
    """
    def phase_step(axis: int) -> Tensor:
        # phase advance per band pixel: the angle of c[i+1] conj(c[i]), averaged over the two
        # neighbours inside (exact for a pure wave, where a central difference gives sin(omega))
        n = band.shape[axis]
        if n < 2:
            return torch.zeros(band.shape, dtype=band.real.dtype, device=band.device)
        step = torch.angle(band.narrow(axis, 1, n - 1) * torch.conj(band.narrow(axis, 0, n - 1)))
        first, last = step.narrow(axis, 0, 1), step.narrow(axis, n - 2, 1)
        inner = (step.narrow(axis, 0, n - 2) + step.narrow(axis, 1, n - 2)) / 2
        return torch.cat([first, inner, last], dim=axis)

    wx = (phase_step(band.dim() - 1) / stride[1]).clamp(-MAX_OMEGA, MAX_OMEGA)
    wy = (phase_step(band.dim() - 2) / stride[0]).clamp(-MAX_OMEGA, MAX_OMEGA)
    return wx, wy


@dataclass
class PhaseMotionFit:
    """Normal equations of the phase–displacement fit for one batch of CSP coefficients.

    Build once per set of source coefficients (:meth:`build`), then :meth:`solve` for any phase
    edit on them: the left-hand side depends only on the coefficients, so the persistent regime
    refits every step at the cost of one matrix-vector product per band.
    """

    grid: int
    image_shape: tuple[int, int]
    lhs: Tensor  # (N, 2G^2, 2G^2) float64
    factor: Tensor  # Cholesky factor of lhs + ridge
    terms: list[tuple[Tensor, Tensor, Tensor, Tensor, Tensor]]  # per band: wx*w, wy*w, w, U_y, U_x

    @classmethod
    def build(cls, coeffs: Coeffs, masks: list[Tensor | None], grid: int) -> PhaseMotionFit:
        """Normal equations over every complex band of ``coeffs`` (edited coefficients only)."""
        h_img, w_img = coeffs.image_shape
        n = coeffs.batch_size
        g2 = grid * grid
        lhs = torch.zeros(n, 2 * g2, 2 * g2, dtype=torch.float64, device=coeffs.bands[0].device)
        terms = []
        for band, mask in zip(coeffs.bands, masks):
            if not band.is_complex():
                continue
            h, w = band.shape[-2:]
            wx, wy = local_frequency(band, (h_img / h, w_img / w))
            weight = band.abs().square()
            if mask is not None:
                weight = weight * mask
            uy, ux = (u.to(lhs.device) for u in _upsampling_factors(grid, h, w))
            mxx, mxy, myy = (_per_pixel(weight * a * b).double()
                             for a, b in ((wx, wx), (wx, wy), (wy, wy)))
            for (i, j), m in (((0, 0), mxx), ((0, 1), mxy), ((1, 1), myy)):
                # U^T diag(m) U through the separable factors: O(h w G^2 + h G^4) per image
                # instead of O(h w G^4) for the dense (h w, G^2) matrix
                inner = torch.einsum("nij,jb,jd->nibd", m, ux, ux)
                block = torch.einsum("ia,ic,nibd->nabcd", uy, uy, inner).reshape(n, g2, g2)
                lhs[:, i * g2:(i + 1) * g2, j * g2:(j + 1) * g2] += block
                if i != j:
                    lhs[:, j * g2:(j + 1) * g2, i * g2:(i + 1) * g2] += block.transpose(1, 2)
            terms.append((weight * wx, weight * wy, weight, uy, ux))
        diag = lhs.diagonal(dim1=1, dim2=2).mean(1).clamp_min(1e-30)
        eye = torch.eye(2 * g2, dtype=torch.float64, device=lhs.device)
        factor = torch.linalg.cholesky(lhs + RIDGE * diag[:, None, None] * eye)
        return cls(grid, (h_img, w_img), lhs, factor, terms)

    def solve(self, dphi: list[Tensor | None]) -> tuple[Tensor, Tensor]:
        """The control grid ``(N, 2, G, G)`` (px per unit of ``dphi``) and the explained share ``(N,)``.

        ``dphi`` holds one phase change per complex band (same order as the coefficients).
        """
        g2 = self.grid * self.grid
        n = self.lhs.shape[0]
        rhs = torch.zeros(n, 2 * g2, dtype=torch.float64, device=self.lhs.device)
        total = torch.zeros(n, dtype=torch.float64, device=self.lhs.device)
        bands = [p for p in dphi if p is not None]
        for (wwx, wwy, weight, uy, ux), p in zip(self.terms, bands, strict=True):
            for k, ww in ((0, wwx), (1, wwy)):
                r = -_per_pixel(ww * p).double()
                rhs[:, k * g2:(k + 1) * g2] += torch.einsum("ia,nij,jb->nab", uy, r, ux).reshape(n, g2)
            total += (weight * p.square()).flatten(1).sum(1).double()
        g = torch.cholesky_solve(rhs[..., None], self.factor)[..., 0]
        fitted = 2 * (rhs * g).sum(1) - torch.einsum("ni,nij,nj->n", g, self.lhs, g)
        explained = torch.where(total > 0, fitted / total.clamp_min(1e-30), torch.zeros_like(total))
        return g.view(n, 2, self.grid, self.grid).float(), explained.clamp(0, 1).float()

    def dense(self, g: Tensor) -> Tensor:
        """The dense field ``(N, 2, H, W)`` of control grids ``g``."""
        return F.interpolate(g, size=self.image_shape, mode="bicubic", align_corners=True)


def _per_pixel(t: Tensor) -> Tensor:
    """Sum a band-shaped ``(N, C[, O], h, w)`` tensor over channels and orientations: ``(N, h, w)``."""
    return t.flatten(1, -3).sum(1)


def field_magnitude_stats(field: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and max displacement length ``(N,)`` of dense fields ``(N, 2, H, W)`` in pixels."""
    length = field.norm(dim=1).flatten(1)
    return length.mean(1), length.amax(1)


def motion_direction(model, transform, x: Tensor, target: Tensor, config: MorphConfig,
                     source: Tensor | None = None, coeffs: Coeffs | None = None,
                     validate: bool = False):
    """``csp-motion``: the csp-phase descent direction at the current image, fitted with one
    displacement field (:class:`PhaseMotionFit`) and returned as an additive direction on the
    flow transform's control grid (normalised so its largest control point moves 1 px).

    ``transform`` is the morph's :class:`~steerlens.transforms.flow.FlowTransform`; ``coeffs`` its
    current coefficients (the source's when ``None``).
    """
    from steerlens.gradient import EditDirection, edit_direction

    if coeffs is None:
        with torch.no_grad():
            coeffs = transform.analyze(x)
    with torch.no_grad():
        current = transform.synthesize(coeffs).clamp(0, 1)
    csp_cfg = replace(config, method="csp-phase", normalization="global-max")
    csp = csp_cfg.make_transform(current.shape[1])
    d_csp = edit_direction(model, csp, current, target, csp_cfg, source=source, validate=validate)
    fit = PhaseMotionFit.build(d_csp.coeffs, d_csp.edited_mask, transform.grid)
    g, explained = fit.solve(d_csp.phase)
    peak = g.abs().flatten(1).amax(1).clamp_min(1e-30)
    direction = g / peak.view(-1, 1, 1, 1)
    bands = [direction] + [torch.zeros_like(b) for b in coeffs.bands[1:]]
    return EditDirection(coeffs.detach(), bands, [None] * len(bands), torch.ones_like(peak),
                         d_csp.loss, d_csp.raw_max_phase, d_csp.raw_max_log_amplitude,
                         [None] * len(bands), d_csp.logits, motion_explained=explained)


class MotionReadout:
    """The displacement field of an edit, for the morphs that have one.

    - ``flow`` and ``csp-motion`` (the flow transform): the field the control grids describe, exactly;
    - ``csp-phase`` / ``csp-joint`` (CSP bands with a phase edit): the field that best explains the
      phase change (:class:`PhaseMotionFit`) and the share it explains;
    - everything else (pixel, Fourier, csp-amplitude): no field (:meth:`for_direction` gives None).

    Examples
    --------
    >>> from steerlens.gradient import EditDirection
    >>> from steerlens.transforms.flow import FlowTransform
    >>> t = FlowTransform(grid=4)
    >>> c = t.analyze(torch.zeros(1, 1, 16, 16))
    >>> d = EditDirection(c, [torch.ones(1, 2, 4, 4)], [None], torch.ones(1), torch.zeros(1),
    ...                   torch.ones(1), torch.zeros(1))
    >>> field, explained = MotionReadout.for_direction(t, d, grid=4)([torch.ones(1, 2, 4, 4)])
    >>> tuple(field.shape), round(float(field_magnitude_stats(field)[1]), 3), explained
    ((1, 2, 16, 16), 1.414, None)
    """

    def __init__(self, image_shape: tuple[int, int], fit: PhaseMotionFit | None) -> None:
        self.image_shape = image_shape
        self.fit = fit

    @classmethod
    def for_direction(cls, transform, direction, grid: int, phase_fit: bool = True
                      ) -> MotionReadout | None:
        """A read-out for edits of ``direction``'s coefficients, or ``None`` if they have no field
        (or, with ``phase_fit=False``, if the field would need the phase fit)."""
        coeffs = direction.coeffs
        if getattr(transform, "name", None) == "flow":
            return cls(coeffs.image_shape, None)
        if not phase_fit:
            return None
        is_csp = bool(coeffs.band_info) and "scale" in coeffs.band_info[0]
        phase_edited = any(p is not None for p, c in zip(direction.phase, coeffs.bands)
                           if c.is_complex())
        if not (is_csp and phase_edited):
            return None
        return cls(coeffs.image_shape, PhaseMotionFit.build(coeffs, direction.edited_mask, grid))

    def __call__(self, edit: list[Tensor | None]) -> tuple[Tensor, Tensor | None]:
        """Dense field ``(N, 2, H, W)`` in pixels of an edit (flow: displacement bands; CSP: phase
        changes), and the share of the phase change it explains (``None`` for flow edits)."""
        if self.fit is None:
            from steerlens.transforms.flow import dense_displacement

            return dense_displacement([e for e in edit if e is not None], self.image_shape), None
        g, explained = self.fit.solve(edit)
        return self.fit.dense(g), explained
