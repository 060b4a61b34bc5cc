"""Seeded synthetic image families whose classes differ by one known geometric factor.

Each family renders a single object analytically (smooth, anti-aliased profiles, so sub-pixel
positions, angles and sizes are exact) on a dark or textured background:

==============  =====================================  ============================  =============
family          object                                 class factor                  true change
==============  =====================================  ============================  =============
``translation`` Gaussian blob                          centre x: left vs right       translation
``rotation``    smooth-edged bar                       angle: 0 vs 90 degrees        rotation
``rotation4``   smooth-edged bar                       angle: 0, 45, 90, 135 degrees rotation
``scale``       smooth-edged disk                      radius: 4.5 vs 9 (x2)         scaling
``shape``       disk vs square of equal area (control) superellipse exponent         none (no warp)
==============  =====================================  ============================  =============

Every sample carries its *nuisance* parameters (position jitter, size, brightness, colour, noise
seed...) in :attr:`SyntheticSplit.params`. Re-rendering the same parameters with another class's
factor gives the exact counterfactual of a sample (:func:`ground_truth_transform`): the same object
with the same noise and background, only the class factor changed. For the geometric families the
counterfactual is also a known warp of the source (:func:`ground_truth_flow`).

Conventions: images are ``(N, C, H, W)`` floats in ``[0, 1]``; pixel ``(row i, column j)`` has
centre coordinates ``(x, y) = (j, i)``. Lengths in the family tables are for a 32-pixel image and
scale with ``size / 32``. Flows are *backward* (sampling) displacements in pixels,
``(N, 2, H, W)`` with channel 0 = dx and channel 1 = dy, such that
``x_gt(p) = x_src(p + flow(p))`` on the object -- the convention of
:func:`steerlens.metrics.warp.warp_image`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from steerlens.data.mnist import Split
from steerlens.errors import ConfigError

__all__ = [
    "FAMILIES",
    "Family",
    "SyntheticSplit",
    "ground_truth_flow",
    "ground_truth_path",
    "ground_truth_transform",
    "load_split",
    "make_family",
    "make_splits",
    "render",
]

Params = dict[str, Tensor]


# ----------------------------------------------------------------------------------------- records
@dataclass
class SyntheticSplit:
    """A labelled batch of synthetic images with the parameters that rendered them.

    Attributes
    ----------
    x
        ``(N, C, H, W)`` float32 images in ``[0, 1]``.
    y
        ``(N,)`` int64 class indices.
    class_names
        One name per class.
    params
        Per-sample rendering parameters, each a ``(N,)`` tensor (``factor`` is the class factor:
        centre x, angle in degrees, radius or superellipse ``q``; the rest are nuisances and the
        noise/texture seed). Enough to re-render every image exactly.
    name
        Family name, e.g. ``"translation"``.

    Examples
    --------
    >>> s = make_family("translation", 4, seed=1)
    >>> s.x.shape, s.y.tolist(), s.class_names
    (torch.Size([4, 1, 32, 32]), [0, 1, 0, 1], ['left', 'right'])
    """

    x: Tensor
    y: Tensor
    class_names: list[str]
    params: Params
    name: str

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, index: Tensor | slice | list[int]) -> SyntheticSplit:
        """Samples at ``index`` (images, labels and parameters)."""
        return SyntheticSplit(
            x=self.x[index],
            y=self.y[index],
            class_names=list(self.class_names),
            params={k: v[index] for k, v in self.params.items()},
            name=self.name,
        )


@dataclass(frozen=True)
class Family:
    """How one family renders and which factor value each class has.

    Attributes
    ----------
    name
        Registry key.
    class_names
        One name per class.
    factors
        Class factor value per class, in 32-pixel units where it is a length.
    factor_is_length
        Whether ``factors`` scale with ``size / 32``.
    nuisances
        ``name -> (low, high)`` uniform ranges; lengths (in 32-pixel units) are listed in
        ``length_keys``.
    length_keys
        Nuisance names that scale with ``size / 32``.
    alpha
        ``alpha(params, factor, xx, yy) -> (N, H, W)`` object coverage in ``[0, 1]``.
    flow
        ``flow(params, factor_src, factor_tgt, xx, yy) -> (N, 2, H, W)`` backward displacement, or
        ``None`` for a family no warp explains.
    """

    name: str
    class_names: tuple[str, ...]
    factors: tuple[float, ...]
    factor_is_length: bool
    nuisances: dict[str, tuple[float, float]]
    length_keys: tuple[str, ...]
    alpha: Callable[[Params, Tensor, Tensor, Tensor], Tensor]
    flow: Callable[[Params, Tensor, Tensor, Tensor, Tensor], Tensor] | None = None
    description: str = ""
    extra: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------- object profiles
def _col(t: Tensor) -> Tensor:
    return t.view(-1, 1, 1)


def _blob_alpha(p: Params, factor: Tensor, xx: Tensor, yy: Tensor) -> Tensor:
    cx = _col(factor + p["jx"])
    r2 = (xx - cx) ** 2 + (yy - _col(p["cy"])) ** 2
    return torch.exp(-0.5 * r2 / _col(p["sigma"]) ** 2)


def _bar_alpha(p: Params, factor: Tensor, xx: Tensor, yy: Tensor) -> Tensor:
    theta = _col(torch.deg2rad(factor + p["jangle"]))
    dx, dy = xx - _col(p["cx"]), yy - _col(p["cy"])
    # Object coordinates: u along the bar, v across it (rotation by -theta).
    u = torch.cos(theta) * dx + torch.sin(theta) * dy
    v = -torch.sin(theta) * dx + torch.cos(theta) * dy
    edge = 0.5
    return torch.sigmoid((_col(p["length"]) - u.abs()) / edge) * torch.sigmoid(
        (_col(p["width"]) - v.abs()) / edge
    )


def _disk_alpha(p: Params, factor: Tensor, xx: Tensor, yy: Tensor) -> Tensor:
    r = _col(factor * p["jscale"])
    rho = torch.sqrt((xx - _col(p["cx"])) ** 2 + (yy - _col(p["cy"])) ** 2)
    # Edge width proportional to the radius: the large disk is then an exact zoom of the small one.
    return torch.sigmoid((r - rho) / (0.06 * r))


def _superellipse_area_factor(q: Tensor) -> Tensor:
    """Area of ``|x|^p + |y|^p <= 1`` (``p = 1/q``); ``q = 0`` is the square (area 4)."""
    qs = q.clamp_min(1e-6)
    val = 4.0 * torch.exp(2 * torch.lgamma(1 + qs) - torch.lgamma(1 + 2 * qs))
    return torch.where(q <= 1e-6, torch.full_like(q, 4.0), val)


def _shape_alpha(p: Params, factor: Tensor, xx: Tensor, yy: Tensor) -> Tensor:
    q = factor
    # Equal area for every q: choose the half-width so that area_factor(q) * r^2 = area.
    r = _col(torch.sqrt(p["area"] / _superellipse_area_factor(q)))
    theta = _col(torch.deg2rad(p["theta"]))
    dx, dy = xx - _col(p["cx"]), yy - _col(p["cy"])
    u = (torch.cos(theta) * dx + torch.sin(theta) * dy).abs()
    v = (-torch.sin(theta) * dx + torch.cos(theta) * dy).abs()
    qc = _col(q)
    pw = 1.0 / qc.clamp_min(1e-6)
    # Superellipse "radius" (|u|^p + |v|^p)^(1/p), computed stably; q = 0 is max(|u|, |v|).
    m = torch.maximum(u, v).clamp_min(1e-9)
    rho = m * ((u / m) ** pw + (v / m) ** pw) ** qc
    rho = torch.where(qc <= 1e-6, m, rho)
    return torch.sigmoid((r - rho) / 0.5)


# ---------------------------------------------------------------------------------- true flows
def _translation_flow(p: Params, f_src: Tensor, f_tgt: Tensor, xx: Tensor, yy: Tensor) -> Tensor:
    dx = _col(f_src - f_tgt).expand(-1, *xx.shape)
    return torch.stack([dx, torch.zeros_like(dx)], dim=1)


def _rotation_flow(p: Params, f_src: Tensor, f_tgt: Tensor, xx: Tensor, yy: Tensor) -> Tensor:
    delta = _col(torch.deg2rad(f_src - f_tgt))  # sample the source at c + R(src - tgt)(p - c)
    dx, dy = xx - _col(p["cx"]), yy - _col(p["cy"])
    qx = torch.cos(delta) * dx - torch.sin(delta) * dy
    qy = torch.sin(delta) * dx + torch.cos(delta) * dy
    return torch.stack([qx - dx, qy - dy], dim=1)


def _scale_flow(p: Params, f_src: Tensor, f_tgt: Tensor, xx: Tensor, yy: Tensor) -> Tensor:
    k = _col(f_src / f_tgt - 1.0)  # sample the source at c + (r_src / r_tgt)(p - c)
    dx, dy = xx - _col(p["cx"]), yy - _col(p["cy"])
    return torch.stack([k * dx, k * dy], dim=1)


_COMMON = {"amp": (0.7, 1.0), "hue_r": (0.4, 1.0), "hue_g": (0.4, 1.0), "hue_b": (0.4, 1.0)}

FAMILIES: dict[str, Family] = {
    "translation": Family(
        name="translation",
        class_names=("left", "right"),
        factors=(9.5, 22.5),
        factor_is_length=True,
        nuisances={"jx": (-3.0, 3.0), "cy": (10.0, 22.0), "sigma": (2.0, 3.0), **_COMMON},
        length_keys=("jx", "cy", "sigma"),
        alpha=_blob_alpha,
        flow=_translation_flow,
        description="Gaussian blob; class = centre x (9.5 vs 22.5 at 32 px, +-3 px jitter)",
    ),
    "rotation": Family(
        name="rotation",
        class_names=("horizontal", "vertical"),
        factors=(0.0, 90.0),
        factor_is_length=False,
        nuisances={
            "cx": (13.5, 17.5),
            "cy": (13.5, 17.5),
            "jangle": (-10.0, 10.0),
            "length": (8.0, 11.0),
            "width": (1.5, 2.2),
            **_COMMON,
        },
        length_keys=("cx", "cy", "length", "width"),
        alpha=_bar_alpha,
        flow=_rotation_flow,
        description="bar; class = angle (0 vs 90 degrees, +-10 degrees jitter)",
    ),
    "rotation4": Family(
        name="rotation4",
        class_names=("0deg", "45deg", "90deg", "135deg"),
        factors=(0.0, 45.0, 90.0, 135.0),
        factor_is_length=False,
        nuisances={
            "cx": (13.5, 17.5),
            "cy": (13.5, 17.5),
            "jangle": (-8.0, 8.0),
            "length": (8.0, 11.0),
            "width": (1.5, 2.2),
            **_COMMON,
        },
        length_keys=("cx", "cy", "length", "width"),
        alpha=_bar_alpha,
        flow=_rotation_flow,
        description="bar; class = angle (0/45/90/135 degrees, +-8 degrees jitter)",
    ),
    "scale": Family(
        name="scale",
        class_names=("small", "large"),
        factors=(4.5, 9.0),
        factor_is_length=True,
        nuisances={"cx": (12.5, 18.5), "cy": (12.5, 18.5), "jscale": (0.9, 1.1), **_COMMON},
        length_keys=("cx", "cy"),
        alpha=_disk_alpha,
        flow=_scale_flow,
        description="disk; class = radius (4.5 vs 9 at 32 px, x[0.9, 1.1] jitter)",
    ),
    "shape": Family(
        name="shape",
        class_names=("disk", "square"),
        factors=(0.5, 0.0),
        factor_is_length=False,
        nuisances={
            "cx": (12.5, 18.5),
            "cy": (12.5, 18.5),
            "area": (60.0, 120.0),
            "theta": (-15.0, 15.0),
            **_COMMON,
        },
        length_keys=("cx", "cy"),
        alpha=_shape_alpha,
        flow=None,
        description="control: disk vs square of equal area (superellipse q = 0.5 vs 0)",
    ),
}


# ------------------------------------------------------------------------------------ rendering
def _family(family: str | Family) -> Family:
    if isinstance(family, Family):
        return family
    if family not in FAMILIES:
        raise ConfigError(
            f"unknown synthetic family {family!r}; choose one of {', '.join(sorted(FAMILIES))}"
        )
    return FAMILIES[family]


def _coords(size: int, device: torch.device) -> tuple[Tensor, Tensor]:
    r = torch.arange(size, dtype=torch.float32, device=device)
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    return xx, yy


def _factor_values(fam: Family, classes: Tensor, size: int) -> Tensor:
    vals = torch.tensor(fam.factors, dtype=torch.float32, device=classes.device)[classes]
    return vals * (size / 32.0) if fam.factor_is_length else vals


def _background(
    seeds: Tensor, size: int, channels: int, texture: Tensor, noise: Tensor
) -> tuple[Tensor, Tensor]:
    """Smooth background texture and additive noise, both drawn from each sample's own seed."""
    n = seeds.shape[0]
    white = torch.empty(n, channels, size, size)
    eps = torch.empty(n, channels, size, size)
    for i, s in enumerate(seeds.tolist()):
        g = torch.Generator().manual_seed(int(s))
        white[i] = torch.randn(channels, size, size, generator=g)
        eps[i] = torch.randn(channels, size, size, generator=g)
    # Low-pass the white noise in the Fourier domain (Gaussian, sigma ~ size/16 px) -> blotches.
    f = torch.fft.fftfreq(size)
    k2 = f.view(-1, 1) ** 2 + f.view(1, -1) ** 2
    sigma = size / 16.0
    smooth = torch.fft.ifft2(
        torch.fft.fft2(white) * torch.exp(-2 * (math.pi * sigma) ** 2 * k2)
    ).real
    lo = smooth.amin(dim=(-2, -1), keepdim=True)
    hi = smooth.amax(dim=(-2, -1), keepdim=True)
    tex = (smooth - lo) / (hi - lo).clamp_min(1e-8)
    return tex * texture.view(-1, 1, 1, 1), eps * noise.view(-1, 1, 1, 1)


def render(params: Params, classes: Tensor | int, family: str | Family, size: int = 32) -> Tensor:
    """Render images from parameters, with each sample's object given the factor of ``classes``.

    Parameters
    ----------
    params
        Per-sample parameters as stored in :attr:`SyntheticSplit.params` (lengths in pixels of this
        ``size``).
    classes
        ``(N,)`` class per sample (or one int for all) whose factor the object gets.
    family
        Family name or :class:`Family`.
    size
        Image side in pixels.

    Returns
    -------
    Tensor
        ``(N, C, size, size)`` float32 in ``[0, 1]``.

    Examples
    --------
    >>> s = make_family("scale", 2, seed=0)
    >>> torch.allclose(render(s.params, s.y, "scale"), s.x)
    True
    """
    fam = _family(family)
    n = params["seed"].shape[0]
    classes = torch.as_tensor(classes, dtype=torch.long)
    classes = classes.expand(n) if classes.dim() == 0 else classes
    return _render_factor(params, _factor_values(fam, classes, size), fam, size)


def _render_factor(params: Params, factor: Tensor, fam: Family, size: int) -> Tensor:
    xx, yy = _coords(size, factor.device)
    alpha = fam.alpha(params, factor, xx, yy).unsqueeze(1)  # (N, 1, H, W)
    channels = int(params["channels"][0])
    if channels == 3:
        colour = torch.stack([params["hue_r"], params["hue_g"], params["hue_b"]], dim=1)
    else:
        colour = torch.ones(factor.shape[0], 1)
    fg = (params["amp"].view(-1, 1) * colour).view(-1, channels, 1, 1)
    bg, eps = _background(params["seed"], size, channels, params["texture"], params["noise"])
    return (bg * (1 - alpha) + fg * alpha + eps).clamp(0.0, 1.0).float()


# ------------------------------------------------------------------------------------ factories
def make_family(
    name: str,
    n: int,
    size: int = 32,
    seed: int = 0,
    noise: float = 0.0,
    texture: bool = False,
    channels: int = 1,
) -> SyntheticSplit:
    """Render ``n`` seeded samples of a synthetic family, classes balanced and shuffled.

    Parameters
    ----------
    name
        One of :data:`FAMILIES`: ``translation``, ``rotation``, ``rotation4``, ``scale``, ``shape``.
    n
        Number of samples.
    size
        Image side in pixels (lengths scale with ``size / 32``); at least 8.
    seed
        Same seed -> identical images, labels and parameters.
    noise
        Standard deviation of additive Gaussian pixel noise (before clipping to ``[0, 1]``).
    texture
        Put the object on a smooth random background texture (values in ``[0, 0.35]``).
    channels
        1 (gray) or 3 (RGB; the object gets a random colour, the texture is per channel).

    Returns
    -------
    SyntheticSplit

    Examples
    --------
    >>> a = make_family("rotation", 6, seed=3, noise=0.05)
    >>> b = make_family("rotation", 6, seed=3, noise=0.05)
    >>> torch.equal(a.x, b.x), a.class_names
    (True, ['horizontal', 'vertical'])
    """
    fam = _family(name)
    if n < 1 or size < 8 or channels not in (1, 3) or noise < 0:
        raise ConfigError(
            f"make_family needs n >= 1, size >= 8, channels 1 or 3 and noise >= 0 "
            f"(got n={n}, size={size}, channels={channels}, noise={noise})"
        )
    rng = np.random.default_rng(seed)
    k = len(fam.class_names)
    y = torch.from_numpy(rng.permutation(np.arange(n) % k)).long()
    scale = size / 32.0
    params: Params = {}
    for key, (lo, hi) in fam.nuisances.items():
        v = rng.uniform(lo, hi, size=n)
        params[key] = torch.from_numpy(v * scale if key in fam.length_keys else v).float()
    params["seed"] = torch.from_numpy(rng.integers(0, 2**62, size=n)).long()
    params["noise"] = torch.full((n,), float(noise))
    params["texture"] = torch.full((n,), 0.35 if texture else 0.0)
    params["channels"] = torch.full((n,), channels, dtype=torch.long)
    factor = _factor_values(fam, y, size)
    params["factor"] = factor
    x = _render_factor(params, factor, fam, size)
    return SyntheticSplit(x=x, y=y, class_names=list(fam.class_names), params=params, name=fam.name)


def _target_factor(
    params: Params, target_class: Tensor | int, fam: Family, size: int
) -> tuple[Tensor, Tensor]:
    n = params["seed"].shape[0]
    t = torch.as_tensor(target_class, dtype=torch.long)
    t = t.expand(n) if t.dim() == 0 else t
    if int(t.min()) < 0 or int(t.max()) >= len(fam.class_names):
        raise ConfigError(
            f"target class out of range for family {fam.name!r}: use 0..{len(fam.class_names) - 1}"
        )
    return params["factor"], _factor_values(fam, t, size)


def ground_truth_transform(
    x_src: Tensor, params_src: Params, target_class: Tensor | int, family: str | Family
) -> Tensor:
    """The exact counterfactual: each source object re-rendered with the target class's factor.

    Nuisances, colour, background texture and the noise draw are the source's, so the result is the
    correct endpoint of a morph from ``x_src`` to ``target_class``.

    Parameters
    ----------
    x_src
        ``(N, C, H, W)`` source images (their size sets the rendering size; checked against
        ``params_src``).
    params_src
        The sources' parameters (e.g. ``split.subset(idx).params``).
    target_class
        Target class, one int or ``(N,)``.
    family
        Family name or :class:`Family`.

    Returns
    -------
    Tensor
        ``(N, C, H, W)`` in ``[0, 1]``.

    Examples
    --------
    >>> s = make_family("translation", 4, seed=0)
    >>> x_gt = ground_truth_transform(s.x, s.params, 1 - s.y, "translation")
    >>> torch.allclose(ground_truth_transform(x_gt, s.params, s.y, "translation"), s.x)
    True
    """
    fam = _family(family)
    size = _check_batch(x_src, params_src)
    _, f_tgt = _target_factor(params_src, target_class, fam, size)
    return _render_factor(params_src, f_tgt, fam, size).to(x_src.device)


def ground_truth_path(
    x_src: Tensor,
    params_src: Params,
    target_class: Tensor | int,
    family: str | Family,
    n_points: int = 33,
) -> Tensor:
    """Renders along the straight path in factor space from the source to the target factor.

    ``path[:, 0]`` is the source and ``path[:, -1]`` the :func:`ground_truth_transform`; in between
    the class factor (position, angle, radius or superellipse exponent) is interpolated linearly,
    everything else kept. Used by :func:`steerlens.metrics.alignment.ground_truth_alignment` to
    credit partial morphs.

    Returns
    -------
    Tensor
        ``(N, n_points, C, H, W)``.

    Examples
    --------
    >>> s = make_family("scale", 2, seed=0)
    >>> ground_truth_path(s.x, s.params, 1 - s.y, "scale", n_points=5).shape
    torch.Size([2, 5, 1, 32, 32])
    """
    fam = _family(family)
    size = _check_batch(x_src, params_src)
    f_src, f_tgt = _target_factor(params_src, target_class, fam, size)
    frames = [
        _render_factor(params_src, f_src + s * (f_tgt - f_src), fam, size)
        for s in torch.linspace(0, 1, n_points).tolist()
    ]
    return torch.stack(frames, dim=1).to(x_src.device)


def ground_truth_flow(
    x_src: Tensor, params_src: Params, target_class: Tensor | int, family: str | Family
) -> Tensor | None:
    """Backward displacement field that maps the source object onto its counterfactual.

    ``warp_image(x_src, flow)`` reproduces ``ground_truth_transform(...)`` on the object (exactly up
    to interpolation and border effects for noise-free, texture-free samples; noise and background
    texture are not moved by the true change, so the flow describes the object only).

    Returns
    -------
    Tensor or None
        ``(N, 2, H, W)`` pixels (dx, dy); ``None`` for the ``shape`` control family.

    Examples
    --------
    >>> s = make_family("translation", 2, seed=0)
    >>> f = ground_truth_flow(s.x, s.params, 1 - s.y, "translation")
    >>> sorted(round(v) for v in f[:, 0, 0, 0].abs().tolist())
    [13, 13]
    """
    fam = _family(family)
    if fam.flow is None:
        return None
    size = _check_batch(x_src, params_src)
    f_src, f_tgt = _target_factor(params_src, target_class, fam, size)
    xx, yy = _coords(size, f_src.device)
    return fam.flow(params_src, f_src, f_tgt, xx, yy).to(x_src.device)


def _check_batch(x_src: Tensor, params: Params) -> int:
    if x_src.dim() != 4 or x_src.shape[-1] != x_src.shape[-2]:
        raise ConfigError(f"expected square (N, C, H, W) images, got shape {tuple(x_src.shape)}")
    if x_src.shape[0] != params["seed"].shape[0]:
        raise ConfigError(
            f"{x_src.shape[0]} images but parameters for {params['seed'].shape[0]}: pass "
            "split.subset(index).params for the same samples"
        )
    return int(x_src.shape[-1])


# ------------------------------------------------------------------------ training-split adapter
def make_splits(
    name: str,
    n_train: int,
    n_test: int,
    seed: int = 0,
    size: int = 32,
    noise: float = 0.0,
    texture: bool = False,
    channels: int = 1,
) -> tuple[SyntheticSplit, SyntheticSplit]:
    """Independent train and test :class:`SyntheticSplit` s (the test split keeps its parameters).

    Train uses ``seed`` and test ``seed + 1_000_003``, so both are reproducible and disjoint draws.

    Examples
    --------
    >>> tr, te = make_splits("shape", 8, 4, seed=0)
    >>> len(tr), len(te)
    (8, 4)
    """
    kw = {"size": size, "noise": noise, "texture": texture, "channels": channels}
    return (
        make_family(name, n_train, seed=seed, **kw),
        make_family(name, n_test, seed=seed + 1_000_003, **kw),
    )


def load_split(
    name: str,
    n_train: int,
    n_test: int,
    seed: int = 0,
    size: int = 32,
    noise: float = 0.0,
    texture: bool = False,
    channels: int = 1,
) -> Split:
    """A train/test :class:`~steerlens.data.mnist.Split` for :mod:`steerlens.models.training`.

    Parameters are those of :func:`make_splits`. Use :func:`make_splits` when the per-sample
    parameters (for ground-truth endpoints) are needed.

    Examples
    --------
    >>> sp = load_split("translation", 16, 8, seed=0)
    >>> sp.x_train.shape, sp.x_test.shape, sp.class_names
    (torch.Size([16, 1, 32, 32]), torch.Size([8, 1, 32, 32]), ['left', 'right'])
    """
    tr, te = make_splits(name, n_train, n_test, seed, size, noise, texture, channels)
    source = (
        f"steerlens synthetic family {name!r} (seed={seed}, size={size}, noise={noise}, "
        f"texture={texture}, channels={channels}): {FAMILIES[name].description}"
    )
    return Split(
        x_train=tr.x,
        y_train=tr.y,
        x_test=te.x,
        y_test=te.y,
        class_names=list(tr.class_names),
        name=f"synthetic-{name}",
        source=source,
    )
