"""Micro-benchmarks behind the hand-written frame-rendering paths in ``steerlens.frames``.

Run ``.venv/bin/python benchmarks/hotpaths.py``: 9.6M coefficients (224² RGB, 5 scales, 4
orientations, K = 12), 2 threads, best of 5; then the grouped frame renderer against one big
tensor over 20 interleaved rounds. Prints markdown tables; those in ``benchmarks/README.md`` come
from this script.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from steerlens.frames import clipped_frames, edited_bands, phase_stats, polar_to_complex
from steerlens.gradient import EditDirection
from steerlens.transforms import make_transform


def best_ms(fn: Callable[[], Any], repeats: int = 5) -> float:
    """Best wall time of ``fn`` in ms after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return 1e3 * min(times)


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    k = 12
    coeffs = make_transform("csp").analyze(torch.rand(1, 3, 224, 224))
    c0 = torch.cat([b.flatten() for b in coeffs.bands])
    dphi = torch.randn(c0.shape)
    a = torch.linspace(0, 1, k)[:, None]
    angle = (c0.angle()[None] + a * dphi[None]).contiguous()
    gain = c0.abs()[None].expand(k, -1).contiguous()
    factor = torch.polar(torch.ones_like(dphi), dphi / (k - 1))

    def running_product() -> torch.Tensor:
        out = torch.empty(k, *c0.shape, dtype=c0.dtype)
        out[0] = c0
        for i in range(1, k):
            torch.mul(out[i - 1], factor, out=out[i])
        return out

    # phase statistics on a normalised direction shaped like the pyramid's bands
    direction = EditDirection(coeffs, [torch.randn(b.shape).clamp(-1, 1) for b in coeffs.bands],
                              [None] * len(coeffs.bands), torch.ones(1), torch.zeros(1),
                              torch.ones(1), torch.zeros(1), [None] * len(coeffs.bands))
    amps = torch.linspace(0, 1, k)[:, None]
    mags = [p.abs().flatten(1) for p in direction.phase]

    def sort_count() -> None:
        for m in mags:
            torch.sort(m, dim=1)

    def compare_count() -> None:
        for m in mags:
            for kk in range(k):
                (m > math.pi / max(float(amps[kk, 0]), 1e-30)).sum(1)

    transform = make_transform("csp")

    def render_all_at_once() -> torch.Tensor:  # every frame's bands in one tensor, one synthesis
        bands = edited_bands(direction, amps, 0.5)
        x = transform.synthesize(coeffs.with_bands(bands, repeat_residuals=False))
        return x.clamp(0, 1)

    rows = [
        ("complex exp: c0 * exp(i a dphi)", lambda: c0[None] * torch.exp(1j * a * dphi[None])),
        ("torch.polar(gain, angle)", lambda: torch.polar(gain, angle)),
        ("polar_to_complex (cos/sin into the output, in-place gain)",
         lambda: polar_to_complex(gain, angle)),
        ("running product, one complex multiply per frame", running_product),
        ("wrapped-phase count: sort every band", sort_count),
        ("wrapped-phase count: compare per frame", compare_count),
        ("wrapped-phase count: phase_stats (skips frames that cannot wrap)",
         lambda: phase_stats(direction, amps)),
    ]
    print(f"| operation ({c0.numel() * k / 1e6:.1f}M coefficients, K = {k}) | ms |\n|---|---|")
    for name, fn in rows:
        print(f"| {name} | {best_ms(fn):.1f} |")

    # the grouped renderer against one big tensor: interleaved rounds, medians and paired ratio
    pair = {"all K frames' bands in one 58 MB tensor": render_all_at_once,
            "clipped_frames, groups of 1M coefficients":
                lambda: clipped_frames(transform, direction, amps, 0.5)}
    times = interleaved_ms(pair, rounds=20)
    print("\n| frames (bands + synthesis + clip), 20 interleaved rounds | median ms |\n|---|---|")
    for name, v in times.items():
        print(f"| {name} | {statistics.median(v):.1f} |")
    ratios = [a / b for a, b in zip(*times.values())]
    print(f"\nmedian paired ratio (one tensor / grouped): {statistics.median(ratios):.2f}")


def interleaved_ms(fns: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Wall times (ms) of each callable over ``rounds`` rounds, order alternating every round."""
    names = list(fns)
    for n in names:
        fns[n]()
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for n in names if r % 2 == 0 else names[::-1]:
            tic = time.perf_counter()
            fns[n]()
            out[n].append(1e3 * (time.perf_counter() - tic))
    return out


if __name__ == "__main__":
    main()
