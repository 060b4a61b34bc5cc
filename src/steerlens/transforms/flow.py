"""Flow "transform": an image seen as its source warped by a smooth displacement field.

The editable band is a displacement field on a coarse control grid (default 8 x 8, in pixels,
``(dx, dy)`` per grid point); the source image is the residual. Synthesis upsamples the field
bicubically to the image size and resamples the source there with a differentiable bilinear warp
(``grid_sample``), so the classifier's gradient with respect to the grid is *motion*: a morph that
extrapolates it moves and bends structure and cannot paint new intensity.

With ``levels > 1`` the field is the sum of grids of ``grid / 2**l`` points (coarse to fine), each
its own band, so coarse motion and local bending are edited together.

Padding (what the warp reads outside the image): ``"border"`` (default: the edge pixel is
repeated, so moving an object never drags a black frame in from outside, and on black-background
data such as MNIST it equals zero padding), ``"zeros"`` or ``"reflection"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from steerlens.errors import ConfigError
from steerlens.transforms.base import Coeffs
from steerlens.validation import check_bchw

PADDINGS = ("border", "zeros", "reflection")


class FlowTransform:
    """Displacement-field representation: bands are control-grid displacements in pixels.

    Parameters
    ----------
    grid
        Control points per side of the finest grid (>= 2).
    levels
        Number of grids (``grid``, ``grid / 2``, ...), summed; 1 = a single grid.
    padding
        ``"border"``, ``"zeros"`` or ``"reflection"`` (see the module docstring).

    Examples
    --------
    >>> import torch
    >>> t = FlowTransform(grid=4)
    >>> x = torch.rand(2, 3, 16, 16)
    >>> c = t.analyze(x)
    >>> c.bands[0].shape
    torch.Size([2, 2, 4, 4])
    >>> bool(torch.allclose(t.synthesize(c), x, atol=1e-5))   # zero displacement: the identity
    True
    >>> c.bands[0][:, 0] = 1.0                                 # one pixel to the right everywhere
    >>> y = t.synthesize(c)
    >>> bool(torch.allclose(y[..., 1:], x[..., :-1], atol=1e-5))
    True
    """

    name = "flow"
    is_complex = False
    #: frames share the source image; synthesize repeats it per frame itself
    broadcasts_residuals = False

    def __init__(self, grid: int = 8, levels: int = 1, padding: str = "border") -> None:
        if int(grid) < 2:
            raise ConfigError(f"flow grid must have at least 2 points per side, got {grid}")
        if not 1 <= int(levels) <= 4 or int(grid) >> (int(levels) - 1) < 2:
            raise ConfigError(
                f"flow levels must be 1..4 with at least 2 points on the coarsest grid, got "
                f"levels={levels} for grid={grid}"
            )
        if padding not in PADDINGS:
            raise ConfigError(f"flow padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        self.grid = int(grid)
        self.levels = int(levels)
        self.padding = padding

    def __repr__(self) -> str:
        return f"FlowTransform(grid={self.grid}, levels={self.levels}, padding={self.padding!r})"

    def grid_sizes(self) -> list[int]:
        """Control points per side of each band, finest first."""
        return [self.grid >> level for level in range(self.levels)]

    def analyze(self, x: Tensor) -> Coeffs:
        """Zero displacement on every grid; the image itself is the (never edited) residual."""
        check_bchw(x, name="the image batch")
        h, w = int(x.shape[-2]), int(x.shape[-1])
        bands = [x.new_zeros(x.shape[0], 2, g, g) for g in self.grid_sizes()]
        info = [{"kind": "flow", "grid": g, "level": i} for i, g in enumerate(self.grid_sizes())]
        return Coeffs(bands=bands, residuals={"image": x}, image_shape=(h, w), band_info=info)

    def displacement(self, coeffs: Coeffs) -> Tensor:
        """The dense field ``(N, 2, H, W)`` in pixels (``dx, dy``) that the bands describe."""
        return dense_displacement(coeffs.bands, coeffs.image_shape)

    def synthesize(self, coeffs: Coeffs) -> Tensor:
        """Warp the source by the field: ``out(p) = source(p - d(p))``, bilinear, differentiable."""
        image = coeffs.residuals["image"]
        d = self.displacement(coeffs)
        n = d.shape[0]
        if image.shape[0] != n:
            image = image.repeat(n // image.shape[0], 1, 1, 1)
        return warp(image, d, self.padding)


def dense_displacement(bands: list[Tensor], image_shape: tuple[int, int]) -> Tensor:
    """Sum of the control grids upsampled bicubically (corner-aligned) to ``image_shape``."""
    total = None
    for band in bands:
        up = F.interpolate(band, size=image_shape, mode="bicubic", align_corners=True)
        total = up if total is None else total + up
    assert total is not None
    return total


def warp(image: Tensor, d: Tensor, padding: str = "border") -> Tensor:
    """Resample ``image`` ``(N, C, H, W)`` at ``p - d(p)`` for a field ``d`` ``(N, 2, H, W)`` in px.

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(16.0).view(1, 1, 4, 4)
    >>> d = torch.zeros(1, 2, 4, 4); d[:, 1] = 1.0          # one pixel down
    >>> bool(torch.allclose(warp(x, d)[0, 0, 1:], x[0, 0, :-1], atol=1e-5))
    True
    """
    h, w = image.shape[-2:]
    ys = torch.linspace(-1.0, 1.0, h, device=image.device, dtype=image.dtype)
    xs = torch.linspace(-1.0, 1.0, w, device=image.device, dtype=image.dtype)
    base_y, base_x = torch.meshgrid(ys, xs, indexing="ij")
    # pixels -> normalised units (align_corners=True: the corners are -1 and 1)
    gx = base_x - d[:, 0] * (2.0 / max(w - 1, 1))
    gy = base_y - d[:, 1] * (2.0 / max(h - 1, 1))
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding, align_corners=True)
