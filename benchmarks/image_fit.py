"""Which resampling should the one image fit (:func:`steerlens.data.images.fit_image`) use?

Every candidate downsamples the same real photos (scikit-image's and matplotlib's bundled colour
photos) to 224x224 and 28x28, and is compared with two high-quality references:

* ``lanczos``: Pillow's LANCZOS (a = 3) on float32 data, at the photo's own (non-integer) factor;
* ``box``: the exact average of k x k blocks, on a centre crop whose side is k times the target
  (an integer factor k >= 2, so the box filter is the ideal area average). ``area`` equals this
  reference by construction at integer factors; the column is for the others.

Candidates: ``pil-bicubic`` (Pillow BICUBIC on float data, antialiased by kernel scaling: what
``load_image`` does for files), ``torch-bilinear-aa`` (``F.interpolate(..., "bilinear",
antialias=True)``: what ``batch`` did for tensors), ``torch-bilinear`` (no antialiasing: what the app
did), ``torch-bicubic-aa`` and ``area`` (``F.interpolate(..., "area")``, i.e. adaptive average
pooling). PSNR in dB and SSIM (pytorch-msssim, window 7 at 28 px, 11 at 224 px) are averaged over
photos and channels; time is the median of 5 runs for one RGB photo, one thread.

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/image_fit.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pytorch_msssim import ssim

torch.set_num_threads(1)

PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "retina",
          "hubble_deep_field", "immunohistochemistry", "grace_hopper"]
SIZES = [224, 28]


def photos() -> dict[str, np.ndarray]:
    """name -> (H, W, 3) float32 in [0, 1]."""
    from matplotlib import cbook
    from skimage import data

    out = {}
    for name in PHOTOS:
        if name == "grace_hopper":
            img = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
        else:
            img = np.asarray(getattr(data, name)())
        out[name] = img[..., :3].astype(np.float32) / 255.0
    return out


def _pil(arr: np.ndarray, side: int, method: Image.Resampling) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(arr[..., c])).resize(
        (side, side), method)) for c in range(arr.shape[-1])], -1)


def _torch(mode: str, antialias: bool) -> Callable[[np.ndarray, int], np.ndarray]:
    def run(arr: np.ndarray, side: int) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]
        kw = {"antialias": antialias} if mode != "area" else {}
        y = F.interpolate(x, size=(side, side), mode=mode, **kw)
        return y[0].numpy().transpose(1, 2, 0)

    return run


CANDIDATES: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "pil-bicubic": lambda a, s: _pil(a, s, Image.Resampling.BICUBIC),
    "torch-bilinear-aa": _torch("bilinear", True),
    "torch-bilinear": _torch("bilinear", False),
    "torch-bicubic-aa": _torch("bicubic", True),
    "area": _torch("area", False),
}


def centre_square(arr: np.ndarray, side: int) -> np.ndarray:
    h, w = arr.shape[:2]
    top, left = (h - side) // 2, (w - side) // 2
    return arr[top:top + side, left:left + side]


def box(arr: np.ndarray, k: int) -> np.ndarray:
    h, w, c = arr.shape
    return arr.reshape(h // k, k, w // k, k, c).mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


def scores(out: np.ndarray, ref: np.ndarray, side: int) -> tuple[float, float]:
    out = np.clip(out, 0.0, 1.0)
    mse = float(np.mean((out.astype(np.float64) - ref) ** 2))
    psnr = 10 * np.log10(1.0 / max(mse, 1e-20))
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()
    s = float(ssim(t(out), t(np.clip(ref, 0, 1)), data_range=1.0, win_size=7 if side < 64 else 11))
    return psnr, s


def _db(psnr: np.ndarray) -> str:
    """Mean PSNR; photos where a candidate *is* the reference (> 90 dB) are reported as such."""
    exact = psnr > 90
    if exact.all():
        return "= reference"
    note = f" ({int(exact.sum())} photos = reference)" if exact.any() else ""
    return f"{psnr[~exact].mean():.2f}{note}"


def main() -> None:
    imgs = photos()
    table: dict[tuple[str, int, str], list[tuple[float, float]]] = {}
    for side in SIZES:
        for arr in imgs.values():
            sq = centre_square(arr, min(arr.shape[:2]))
            ref_l = _pil(sq, side, Image.Resampling.LANCZOS)
            k = min(arr.shape[:2]) // side
            crop = centre_square(arr, k * side) if k >= 2 else None
            ref_b = box(crop, k) if crop is not None else None
            for name, fn in CANDIDATES.items():
                table.setdefault((name, side, "lanczos"), []).append(scores(fn(sq, side), ref_l, side))
                if crop is not None:
                    table.setdefault((name, side, "box"), []).append(scores(fn(crop, side), ref_b, side))
    big = centre_square(imgs["retina"], 1400)
    print("| candidate | side | PSNR vs lanczos (dB) | SSIM vs lanczos | PSNR vs box (dB) | "
          "SSIM vs box | photos (box) | ms per RGB photo (1400² -> side) |")
    print("|---|---|---|---|---|---|---|---|")
    for side in SIZES:
        for name, fn in CANDIDATES.items():
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                fn(big, side)
                times.append(time.perf_counter() - t0)
            lz = np.array(table[(name, side, "lanczos")])
            bx = np.array(table.get((name, side, "box"), [(np.nan, np.nan)]))
            print(f"| {name} | {side} | {_db(lz[:, 0])} | {lz[:, 1].mean():.4f} | "
                  f"{_db(bx[:, 0])} | {bx[:, 1].mean():.4f} | {len(bx)} | "
                  f"{1000 * statistics.median(times):.1f} |")
    gap = max(float(np.abs(CANDIDATES["pil-bicubic"](a, s) - CANDIDATES["torch-bicubic-aa"](a, s)).max())
              for a in imgs.values() for s in SIZES)
    print(f"\nlargest |pil-bicubic - torch-bicubic-aa| over all photos and sides: {gap:.1e}")


if __name__ == "__main__":
    main()
