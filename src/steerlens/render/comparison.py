"""Write a comparison (several methods on one image at one matched L2) as files.

Used by ``steerlens compare`` and by the demo gallery; it reads results only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from steerlens.outputs import atomic_dir, dumps_json
from steerlens.render.filmstrip import compare_filmstrip, comparison_markdown
from steerlens.render.video import save_compare_mp4, save_mp4

__all__ = ["write_comparison"]


def write_comparison(results: Mapping, out: Path, video: bool = False) -> None:
    """Write a comparison atomically: filmstrip, markdown table, JSON and one folder per method.

    With ``video``, also ``compare.mp4`` (the methods side by side) and ``morph.mp4`` per method
    (needs PyAV).

    Examples
    --------
    >>> import steerlens
    >>> res = steerlens.compare(model, "digit.png", "8", ["pixel", "csp-phase"])  # doctest: +SKIP
    >>> write_comparison(res, Path("out/compare"))                               # doctest: +SKIP
    >>> sorted(p.name for p in Path("out/compare").iterdir())                    # doctest: +SKIP
    ['compare.json', 'compare.md', 'compare.png', 'csp-phase', 'pixel']
    """
    with atomic_dir(Path(out)) as tmp:
        compare_filmstrip(results, tmp / "compare.png")
        (tmp / "compare.md").write_text(comparison_markdown(results) + "\n")
        (tmp / "compare.json").write_text(dumps_json({m: r.manifest() for m, r in results.items()}))
        for m, r in results.items():
            r.save(tmp / m)
        if video:
            save_compare_mp4(results, tmp / "compare.mp4")
            for m, r in results.items():
                save_mp4(r, tmp / m / "morph.mp4")
