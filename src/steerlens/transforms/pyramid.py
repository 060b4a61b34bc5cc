"""Complex steerable pyramid (Simoncelli & Freeman 1995), built in the Fourier domain.

The filters reproduce ``plenoptic.process.SteerablePyramidFreq(is_complex=True, downsample=True)``
exactly (raised-cosine radial masks, analytic angular masks, ``(-i)^order`` constants), but are built
once per (padded shape, settings, device, dtype), stored in the unshifted FFT layout with every
constant folded in, and applied to all orientations of a scale with one broadcast multiply. There
is no ``fftshift`` anywhere: the recursion is unrolled, every scale is gathered directly from (and
added directly back into) the full-resolution spectrum with precomputed flat indices.

Boundary handling is circular (as in plenoptic). Odd-sized images are padded to an even size (one
row and/or column, reflect by default) because reconstruction is exact only for even sizes;
``synthesize`` crops the padding off again.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from steerlens.errors import ConfigError
from steerlens.transforms.base import Coeffs
from steerlens.validation import check_bchw

Padding = Literal["reflect", "periodic", "none"]
_PADDINGS: tuple[str, ...] = ("reflect", "periodic", "none")
_LUT_SIZE = 1024  # plenoptic's angular lookup-table resolution; kept for bit-level agreement
_CACHE_SIZE = 32


@dataclass(frozen=True)
class PyramidFilters:
    """Fourier-domain masks of one pyramid configuration, in unshifted (``fft2``) layout.

    The pyramid's recursion is unrolled: every scale is cut directly out of the full-resolution
    spectrum (``index``) with the product of all finer low-pass masks folded into its band mask, and
    synthesis adds every scale straight back into the full-resolution spectrum.

    Attributes
    ----------
    shapes
        Grid shape of every scale, finest first, then the low-pass residual's.
    analysis
        Per scale, ``(O, h, w)`` complex band masks (``(-i)^order`` constant, angular, radial and
        cumulative low-pass parts folded in).
    synthesis
        Per scale, ``(O, h, w)`` complex reconstruction masks (``i^order`` constant folded in).
    highpass, highpass_syn
        ``(H, W)`` high-pass residual masks.
    lowpass, lowpass_syn
        ``(h, w)`` masks of the low-pass residual.
    index
        Per scale after the first, and for the low-pass residual, the flat positions of that grid's
        frequencies in the full-resolution ``H*W`` spectrum.
    norm
        ``torch.fft`` normalisation ("backward", or "ortho" for a tight frame).
    """

    shapes: tuple[tuple[int, int], ...]
    analysis: tuple[Tensor, ...]
    synthesis: tuple[Tensor, ...]
    highpass: Tensor
    highpass_syn: Tensor
    lowpass: Tensor
    lowpass_syn: Tensor
    index: tuple[Tensor, ...]
    norm: str


def max_scales(height: int, width: int) -> int:
    """Largest number of pyramid scales an ``height x width`` image supports.

    Same rule as plenoptic: ``floor(log2(min(H, W))) - 2``, evaluated on the (even) padded size.

    Examples
    --------
    >>> max_scales(224, 224), max_scales(32, 32), max_scales(33, 45)
    (5, 3, 3)
    """
    side = min(height + height % 2, width + width % 2)
    return max(math.floor(math.log2(side)) - 2, 0) if side > 0 else 0


def _raised_cosine(width: float, position: float) -> tuple[np.ndarray, np.ndarray]:
    """plenoptic's raised-cosine lookup table (values 0 -> 1)."""
    sz = 256
    x = np.pi * np.arange(-sz - 1, 2) / (2 * sz)
    y = np.cos(x) ** 2
    y[0] = y[1]
    y[sz + 2] = y[sz + 1]
    return position + (2 * width / np.pi) * (x + np.pi / 4), y


def _unshifted_index(d: int, start: int, d_child: int) -> np.ndarray:
    """Parent unshifted index of each child unshifted index for a centred crop ``[start, start+d_child)``
    taken in the fftshifted layout."""
    q = (np.arange(d_child) + d_child // 2) % d_child
    return (q + start - d // 2) % d


def _angle_masks(
    angle: np.ndarray, order: int, fwd_lut: np.ndarray, rec_lut: np.ndarray, xcosn: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    n_or = order + 1
    fwd = np.stack([np.interp(angle, xcosn + np.pi * b / n_or, fwd_lut) for b in range(n_or)])
    rec = np.stack([np.interp(angle, xcosn + np.pi * b / n_or, rec_lut) for b in range(n_or)])
    if order == 0:
        # plenoptic refuses order 0 (complex): its half-plane step zeroes the boundary line, losing
        # those frequencies. Weight 1 on the line (the Hilbert-pair convention) makes it exact.
        alpha = (angle[None] + np.pi / 2) % (2 * np.pi) - np.pi / 2
        fwd = np.where(np.abs(alpha) < np.pi / 2 - 1e-9, 2.0, 0.0)
        fwd = np.where(np.isclose(np.abs(alpha), np.pi / 2, atol=1e-9), 1.0, fwd)
    return fwd, rec


def _negate(a: np.ndarray) -> np.ndarray:
    """``a(-k)`` for an array ``a(k)`` in unshifted FFT layout (last two axes)."""
    return np.roll(np.flip(a, axis=(-2, -1)), 1, axis=(-2, -1))


@lru_cache(maxsize=_CACHE_SIZE)
def _numpy_filters(
    shape: tuple[int, int], num_scales: int, order: int, twidth: int, tight_frame: bool
) -> dict:
    """float64 masks, built like plenoptic (shifted layout), returned in unshifted layout.

    Analysis masks are plenoptic's. plenoptic interpolates its radial and angular profiles from
    lookup tables, so ``lo^2 + hi^2`` and the angular partition of unity hold only to ~1e-5 and its
    ``recon_pyr`` has a ~6e-6 error even in float64. The synthesis masks here are divided by the
    exact per-frequency gain of each stage, which makes ``synthesize`` the exact inverse.
    """
    dims = np.array(shape)
    ctr = np.ceil((dims + 0.5) / 2).astype(int)
    xramp, yramp = np.meshgrid(
        np.linspace(-1, 1, dims[1] + 1)[:-1], np.linspace(-1, 1, dims[0] + 1)[:-1], indexing="xy"
    )
    angle = np.arctan2(yramp, xramp)
    rad = np.sqrt(xramp**2 + yramp**2)
    rad[ctr[0] - 1, ctr[1] - 1] = rad[ctr[0] - 1, ctr[1] - 2]
    log_rad = np.log2(rad)

    xrcos, yrcos = _raised_cosine(twidth, -twidth / 2.0)
    yrcos = np.sqrt(yrcos)
    yircos = np.sqrt(1.0 - yrcos**2)

    n_or = order + 1
    xcosn = np.pi * np.arange(-(2 * _LUT_SIZE + 1), _LUT_SIZE + 2) / _LUT_SIZE
    alpha = (xcosn + np.pi) % (2 * np.pi) - np.pi
    const = (2 ** (2 * order)) * math.factorial(order) ** 2 / (n_or * math.factorial(2 * order))
    fwd_lut = 2.0 * np.sqrt(const) * np.cos(xcosn) ** order * (np.abs(alpha) < np.pi / 2.0)
    rec_lut = np.sqrt(const) * np.cos(xcosn) ** order
    c_fwd = (1, -1j, -1, 1j)[order % 4]
    c_rec = (1, 1j, -1, -1j)[order % 4]
    if tight_frame:  # the complex bands carry the energy twice (plenoptic's sqrt(2) convention)
        c_fwd, c_rec = c_fwd / np.sqrt(2), c_rec * np.sqrt(2)

    def unshift(a: np.ndarray) -> np.ndarray:
        return np.fft.ifftshift(a, axes=(-2, -1))

    lo0 = unshift(np.interp(log_rad, xrcos, yircos))
    hi0 = unshift(np.interp(log_rad, xrcos, yrcos))
    top_gain = hi0**2 + lo0**2  # exact gain of the outermost split (1 up to LUT error)

    shapes = [tuple(int(d) for d in dims)]
    analysis, synthesis, index = [], [], []
    flat = np.arange(int(dims[0]) * int(dims[1]))  # positions of the current grid in the full one
    # cumulative low-pass products carried down the unrolled recursion (analysis, synthesis)
    carry_a, carry_s = lo0, lo0 / top_gain
    for _ in range(num_scales):
        xrcos = xrcos - 1.0
        himask = unshift(np.interp(log_rad, xrcos, yrcos))
        fwd, rec = (unshift(m) for m in _angle_masks(angle, order, fwd_lut, rec_lut, xcosn))

        d = np.array(log_rad.shape)
        c = np.ceil((d + 0.5) / 2).astype(int)
        lodims = np.ceil((d - 0.5) / 2).astype(int)
        start = c - np.ceil((lodims + 0.5) / 2).astype(int)
        end = start + lodims
        log_rad = log_rad[start[0] : end[0], start[1] : end[1]]
        angle = angle[start[0] : end[0], start[1] : end[1]]
        lomask = unshift(np.interp(log_rad, xrcos, yircos))
        rows = _unshifted_index(int(d[0]), int(start[0]), int(lodims[0]))
        cols = _unshifted_index(int(d[1]), int(start[1]), int(lodims[1]))
        local = (rows[:, None] * int(d[1]) + cols[None, :]).ravel()

        # real-output gain of this stage: Hermitian part of sum_b fwd_b * rec_b, plus the low-pass
        prod = (fwd * rec).sum(0)
        gain = himask**2 * 0.5 * (prod + _negate(prod))
        gain.reshape(-1)[local] += lomask.reshape(-1) ** 2
        gain = np.where(gain > 1e-8, gain, 1.0)  # frequencies no path carries (e.g. O=1 Nyquist)

        analysis.append(c_fwd * fwd * (himask * carry_a)[None])
        carry_s = carry_s / gain
        synthesis.append(c_rec * rec * (himask * carry_s)[None])
        carry_a = lomask * carry_a.reshape(-1)[local].reshape(lomask.shape)
        carry_s = lomask * carry_s.reshape(-1)[local].reshape(lomask.shape)
        flat = flat[local]
        index.append(flat)
        shapes.append((int(lodims[0]), int(lodims[1])))
    return {
        "shapes": tuple(shapes),
        "analysis": analysis,
        "synthesis": synthesis,
        "highpass": hi0,
        "highpass_syn": hi0 / top_gain,
        "lowpass": carry_a,
        "lowpass_syn": carry_s,
        "index": index,
        "norm": "ortho" if tight_frame else "backward",
    }


_FILTER_CACHE: OrderedDict[tuple, PyramidFilters] = OrderedDict()


def pyramid_filters(
    shape: tuple[int, int],
    scales: int,
    orientations: int,
    twidth: int = 1,
    tight_frame: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> PyramidFilters:
    """Cached Fourier masks for a pyramid on a (padded, even) grid of ``shape``.

    The cache is a module-level LRU keyed on every argument; a second call with the same arguments
    returns the very same :class:`PyramidFilters` object.

    Parameters
    ----------
    shape
        ``(H, W)`` of the grid the pyramid runs on.
    scales, orientations, twidth, tight_frame
        Pyramid settings (see :class:`SteerablePyramid`).
    device, dtype
        Where the masks live; ``dtype`` is the real dtype (masks are the matching complex dtype).

    Returns
    -------
    PyramidFilters
        The masks and index maps.

    Examples
    --------
    >>> f = pyramid_filters((32, 32), scales=2, orientations=4)
    >>> f.shapes, tuple(f.analysis[0].shape)
    (((32, 32), (16, 16), (8, 8)), (4, 32, 32))
    >>> f is pyramid_filters((32, 32), scales=2, orientations=4)
    True
    """
    device = torch.device(device if device is not None else "cpu")
    key = (tuple(shape), scales, orientations, twidth, tight_frame, device, dtype)
    hit = _FILTER_CACHE.get(key)
    if hit is not None:
        _FILTER_CACHE.move_to_end(key)
        return hit
    f = _numpy_filters(tuple(shape), scales, orientations - 1, twidth, tight_frame)
    cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64

    def ct(a: np.ndarray) -> Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=cdtype, device=device)

    filt = PyramidFilters(
        shapes=f["shapes"],
        analysis=tuple(ct(a) for a in f["analysis"]),
        synthesis=tuple(ct(a) for a in f["synthesis"]),
        highpass=ct(f["highpass"]),
        highpass_syn=ct(f["highpass_syn"]),
        lowpass=ct(f["lowpass"]),
        lowpass_syn=ct(f["lowpass_syn"]),
        index=tuple(torch.as_tensor(i, dtype=torch.long, device=device) for i in f["index"]),
        norm=f["norm"],
    )
    _FILTER_CACHE[key] = filt
    if len(_FILTER_CACHE) > _CACHE_SIZE:
        _FILTER_CACHE.popitem(last=False)
    return filt


def clear_filter_cache() -> None:
    """Drop every cached filter set (e.g. to free GPU memory).

    Examples
    --------
    >>> clear_filter_cache()
    """
    _FILTER_CACHE.clear()
    _numpy_filters.cache_clear()


def _add_at_(flat: Tensor, index: Tensor, part: Tensor) -> None:
    """``flat[..., index] += part`` in place, broadcasting a smaller (per-source) batch of ``part``.

    ``flat`` is ``(N, C, H*W)``; ``part`` is ``(M, C, L)`` with ``M == N`` or ``N`` a multiple of
    ``M`` (frame-major repeats of the sources, as :func:`steerlens.frames.render_frames` batches).
    """
    if part.shape[:-1] == flat.shape[:-1]:
        flat.index_add_(-1, index, part)
        return
    m, n = part.shape[0], flat.shape[0]
    if n % m:
        raise ValueError(f"cannot broadcast a batch of {m} coefficients to {n} images")
    view = flat.view(n // m, m, *flat.shape[1:])
    view.index_add_(-1, index, part.unsqueeze(0).expand(n // m, *part.shape))


@lru_cache(maxsize=_CACHE_SIZE)
def _band_info(
    shapes: tuple[tuple[int, int], ...], orientations: int, twidth: int
) -> tuple[dict, ...]:
    """Cached :meth:`SteerablePyramid.band_info`; callers get copies of the dicts.

    Rebuilding it on every ``analyze`` cost about 2 % of a 32² analysis + synthesis (300 interleaved
    rounds), where plenoptic is close enough that per-call overhead counts.
    """
    return tuple(
        {
            "scale": s,
            "orientations": orientations,
            "shape": tuple(shape),
            "frequency": 0.5 * 2.0 ** (-(s + 0.5 + twidth / 2.0)),
            "angles": [math.pi * b / orientations for b in range(orientations)],
        }
        for s, shape in enumerate(shapes[:-1])
    )


class SteerablePyramid:
    """Complex steerable pyramid with exact reconstruction for any image size.

    Parameters
    ----------
    scales
        Number of band-pass scales, or ``"auto"`` for ``floor(log2(min(H, W))) - 2`` (plenoptic's
        maximum) on the padded image.
    orientations
        Orientations per scale, 1..16 (plenoptic's ``order = orientations - 1``).
    twidth
        Width of the radial raised-cosine transition, in octaves.
    tight_frame
        If True the transform is a tight frame (energy preserving; FFTs use ``norm="ortho"``).
    padding
        How odd sizes are made even: ``"reflect"`` (default) or ``"periodic"`` padding of one
        row/column, or ``"none"`` (even sizes only; then identical to plenoptic). Even sizes are
        never padded.

    Notes
    -----
    Bands are one complex tensor per scale, finest first, of shape ``(N, C, O, h_s, w_s)``;
    residuals are the real ``"highpass"`` ``(N, C, H', W')`` and ``"lowpass"`` ``(N, C, h, w)`` on the
    padded grid. Odd sizes are padded by one row (bottom) and/or column (right); coarser grids
    then halve with rounding up (34x46 -> 17x23 -> 9x12), exactly like plenoptic. Orientation
    ``b`` is centred on the frequency-domain angle ``pi * b / O`` (x to the right, y down).

    Analysis equals plenoptic's. Synthesis keeps the real part of the reconstruction, like
    plenoptic's ``recon_pyr`` (so it depends on one quadrature component of each band), but its
    masks are the exact dual of the analysis masks: plenoptic interpolates its filter profiles from
    lookup tables and its ``recon_pyr`` is off by ~6e-6 even in float64; here the round trip is
    exact to ~1e-14 (float64) / ~1e-6 (float32).

    Examples
    --------
    >>> import torch
    >>> pyr = SteerablePyramid(scales=2, orientations=4)
    >>> x = torch.rand(1, 3, 33, 45)
    >>> c = pyr.analyze(x)
    >>> [tuple(b.shape) for b in c.bands]
    [(1, 3, 4, 34, 46), (1, 3, 4, 17, 23)]
    >>> bool((pyr.synthesize(c) - x).abs().max() < 1e-5)
    True
    """

    name = "csp"
    is_complex = True

    def __init__(
        self,
        scales: int | Literal["auto"] = "auto",
        orientations: int = 4,
        twidth: int = 1,
        tight_frame: bool = False,
        padding: Padding = "reflect",
    ) -> None:
        if scales != "auto" and (
            isinstance(scales, bool) or not isinstance(scales, int) or scales < 1
        ):
            raise ConfigError(
                f"pyramid scales must be a positive integer or 'auto', got {scales!r}"
            )
        if (
            isinstance(orientations, bool)
            or not isinstance(orientations, int)
            or not 1 <= orientations <= 16
        ):
            raise ConfigError(
                f"pyramid orientations must be an integer in 1..16, got {orientations!r}"
            )
        if not isinstance(twidth, int) or twidth < 1:
            raise ConfigError(
                f"pyramid twidth must be a positive integer (octaves), got {twidth!r}"
            )
        if padding not in _PADDINGS:
            raise ConfigError(f"padding must be one of {', '.join(_PADDINGS)}; got {padding!r}")
        self.scales = scales
        self.orientations = orientations
        self.twidth = twidth
        self.tight_frame = bool(tight_frame)
        self.padding = padding

    def __repr__(self) -> str:
        return (
            f"SteerablePyramid(scales={self.scales!r}, orientations={self.orientations}, "
            f"twidth={self.twidth}, tight_frame={self.tight_frame}, padding={self.padding!r})"
        )

    def num_scales(self, height: int, width: int) -> int:
        """Number of scales used for an ``height x width`` image (raises if it does not fit).

        Examples
        --------
        >>> SteerablePyramid().num_scales(64, 48)
        3
        """
        top = max_scales(height, width)
        if self.scales == "auto":
            if top < 1:
                raise ConfigError(
                    f"image {height}x{width} is too small for a steerable pyramid; "
                    "use an image of at least 8x8 pixels"
                )
            return top
        if self.scales > top:
            raise ConfigError(
                f"image {height}x{width} is too small for {self.scales} pyramid scales "
                f"(at most {top}); use fewer scales or a bigger image"
            )
        return int(self.scales)

    def _pads(self, height: int, width: int) -> tuple[int, int]:
        if self.padding == "none":
            if height % 2 or width % 2:
                raise ConfigError(
                    f"padding='none' needs an even image size, got {height}x{width}; "
                    "use padding='reflect' or 'periodic'"
                )
            return 0, 0
        return height % 2, width % 2

    def analyze(self, x: Tensor) -> Coeffs:
        """Decompose an image batch into oriented complex bands and real residuals.

        Parameters
        ----------
        x
            Real tensor ``(B, C, H, W)``; float64 stays float64, anything else runs in float32.

        Returns
        -------
        Coeffs
            Bands ``(B, C, O, h_s, w_s)`` per scale (finest first) and residuals
            ``{"highpass", "lowpass"}``.

        Examples
        --------
        >>> import torch
        >>> c = SteerablePyramid(scales=3).analyze(torch.rand(2, 1, 32, 32))
        >>> [b["shape"] for b in c.band_info], tuple(c.residuals["lowpass"].shape)
        ([(32, 32), (16, 16), (8, 8)], (2, 1, 4, 4))
        """
        check_bchw(x, name="the image batch")
        rdtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        height, width = x.shape[-2:]
        pad_h, pad_w = self._pads(height, width)
        n_scales = self.num_scales(height, width)
        x = x.to(rdtype)
        if pad_h or pad_w:
            mode = "reflect" if self.padding == "reflect" else "circular"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        f = pyramid_filters(
            tuple(x.shape[-2:]),
            n_scales,
            self.orientations,
            self.twidth,
            self.tight_frame,
            x.device,
            rdtype,
        )
        cdtype = f.highpass_syn.dtype
        # fft2 of a complex tensor is much faster than of a real one (torch's conjugate fill is slow)
        spec = torch.fft.fft2(x.to(cdtype), norm=f.norm)
        highpass = torch.fft.ifft2(spec * f.highpass, norm=f.norm).real
        bands = [torch.fft.ifft2(spec.unsqueeze(-3) * f.analysis[0], norm=f.norm)]
        flat = spec.flatten(-2)
        for s in range(1, n_scales):
            sub = flat[..., f.index[s - 1]].unflatten(-1, f.shapes[s])
            bands.append(torch.fft.ifft2(sub.unsqueeze(-3) * f.analysis[s], norm=f.norm))
        sub = flat[..., f.index[-1]].unflatten(-1, f.shapes[-1])
        lowpass = torch.fft.ifft2(sub * f.lowpass, norm=f.norm).real
        return Coeffs(
            bands=bands,
            residuals={"highpass": highpass, "lowpass": lowpass},
            image_shape=(int(height), int(width)),
            band_info=self.band_info(f.shapes),
        )

    def band_info(self, shapes: tuple[tuple[int, int], ...]) -> list[dict]:
        """Describe each band: scale, orientations, grid shape, centre frequency and angles.

        ``frequency`` is the radial centre of the band's pass region in cycles per pixel of the
        full-resolution image (0.25 at scale 0 for ``twidth=1``, halving per scale).

        Examples
        --------
        >>> SteerablePyramid(orientations=2).band_info(((8, 8), (4, 4)))[0]["frequency"]
        0.25
        """
        return [dict(d) for d in _band_info(tuple(shapes), self.orientations, self.twidth)]

    #: ``synthesize`` accepts residuals with fewer batch entries than the bands (frame-major repeats)
    broadcasts_residuals = True

    def synthesize(self, coeffs: Coeffs) -> Tensor:
        """Rebuild images from (possibly edited) coefficients; inverse of :meth:`analyze`.

        Parameters
        ----------
        coeffs
            Output of :meth:`analyze`, bands optionally edited or repeated along dimension 0. The
            residuals may keep the source batch ``B`` while the bands hold ``K * B`` frames
            (frame-major); each source's residuals then serve all its frames.

        Returns
        -------
        Tensor
            Real images ``(N, C, H, W)`` with the analysis padding removed.

        Examples
        --------
        >>> import torch
        >>> pyr = SteerablePyramid(scales=2)
        >>> x = torch.rand(1, 1, 28, 28)
        >>> bool(torch.allclose(pyr.synthesize(pyr.analyze(x)), x, atol=1e-5))
        True
        """
        bands, res = coeffs.bands, coeffs.residuals
        cdtype = (
            torch.complex128
            if bands[0].dtype in (torch.complex128, torch.float64)
            else torch.complex64
        )
        highpass, lowpass = res["highpass"].to(cdtype), res["lowpass"].to(cdtype)
        f = pyramid_filters(
            tuple(highpass.shape[-2:]),
            len(bands),
            bands[0].shape[-3],
            self.twidth,
            self.tight_frame,
            highpass.device,
            cdtype.to_real(),
        )

        def spectrum(t: Tensor, mask: Tensor) -> Tensor:
            # in-place product is autograd-safe: the FFT's backward does not need its output
            return torch.fft.fft2(t if t.dtype == cdtype else t.to(cdtype), norm=f.norm).mul_(mask)

        spec = spectrum(bands[0], f.synthesis[0]).sum(-3)
        high = spectrum(highpass, f.highpass_syn)
        if high.shape == spec.shape:
            spec.add_(high)
        elif high.shape[0] < spec.shape[0]:
            # one residual per source, shared by its K frames (frame-major batch K*B): transformed
            # once instead of K times
            spec.view(spec.shape[0] // high.shape[0], *high.shape).add_(high)
        else:
            spec = spec + high  # broadcasts when the residuals carry more batch entries than bands
        flat = spec.flatten(-2)
        parts = [spectrum(b, m).sum(-3) for b, m in zip(bands[1:], f.synthesis[1:])]
        for part, index in zip([*parts, spectrum(lowpass, f.lowpass_syn)], f.index):
            _add_at_(flat, index, part.flatten(-2))
        out = torch.fft.ifft2(spec, norm=f.norm).real
        height, width = coeffs.image_shape
        return out[..., :height, :width]
