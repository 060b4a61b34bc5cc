"""Write every artefact of a morph to a directory, atomically; and the demo's HTML gallery."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from steerlens.errors import ConfigError
from steerlens.outputs import atomic_dir, dumps_json
from steerlens.render.arrows import save_arrows
from steerlens.render.filmstrip import filmstrip, frames_hwc, to_uint8
from steerlens.render.gif import save_gif
from steerlens.render.plots import plot_curves

if TYPE_CHECKING:  # annotations only: result.py calls into render (MorphResult.save)
    from steerlens.result import MorphResult

#: Artefact name -> file name, in the order they are written.
ARTEFACTS = {
    "gif": "morph.gif",
    "filmstrip": "filmstrip.png",
    "curves": "curves.png",
    "frames": "frames.npz",
    "manifest": "result.json",
}
#: written too when the method has a displacement field (flow, csp-motion, CSP phase edits)
ARROWS = "arrows.png"


def save_frames_npz(result: MorphResult, path: str | Path) -> Path:
    """Write frames and per-frame numbers to a compressed ``.npz``.

    Keys: ``frames_uint8`` ``(K, H, W, C)`` uint8, ``frames_float32`` ``(K, H, W, C)`` float32 in
    [0, 1], ``source`` ``(H, W, C)`` float32, and per-frame ``amplifications``, ``p_target``,
    ``p_source``, ``l2`` (float64) and ``top1_index`` (int64); for methods with a displacement
    field, ``displacement`` ``(2, H, W)`` float32 (pixels, ``dx, dy``) of the last frame.

    Examples
    --------
    >>> save_frames_npz(result, "out/frames.npz")                       # doctest: +SKIP
    >>> np.load("out/frames.npz")["frames_uint8"].shape                 # doctest: +SKIP
    (12, 28, 28, 1)
    """
    f = frames_hwc(result)
    src = result.source.detach().cpu().float()
    path = Path(path)
    np.savez_compressed(
        path,
        frames_uint8=to_uint8(f),
        frames_float32=f,
        source=(src.permute(1, 2, 0) if src.ndim == 3 else src).numpy(),
        amplifications=np.asarray(result.amplifications, dtype=np.float64),
        p_target=np.array([s.p_target for s in result.scores], dtype=np.float64),
        p_source=np.array([s.p_source for s in result.scores], dtype=np.float64),
        l2=np.array([s.l2 for s in result.scores], dtype=np.float64),
        top1_index=np.array([s.top1_index for s in result.scores], dtype=np.int64),
        **({} if result.displacement is None else
           {"displacement": result.displacement.detach().cpu().float().numpy()}),
    )
    return path


def save_result(result: MorphResult, out_dir: str | Path, overlay: bool = True,
                gif_arrows: bool = False) -> dict[str, Path]:
    """Write ``morph.gif``, ``filmstrip.png``, ``curves.png``, ``frames.npz`` and ``result.json``.

    Everything is written to a temporary directory next to ``out_dir`` and moved into place at
    the end: a new ``out_dir`` appears complete or not at all; in an existing ``out_dir`` only
    these five files are replaced (each by an atomic rename) and other files are left alone. The
    temporary directory is removed whatever happens.

    Parameters
    ----------
    result
        The morph to save.
    out_dir
        Output directory (created with its parents if needed).
    overlay
        Draw the per-frame caption (frame k/K, target probability, top-1) under the GIF frames.

    Returns
    -------
    dict
        Artefact name (``gif``, ``filmstrip``, ``curves``, ``frames``, ``manifest``) -> path.

    Raises
    ------
    ConfigError
        If ``out_dir`` exists and is not a directory.
    ValueError
        If the frames are malformed (wrong shape, NaN/inf, count mismatch); nothing is written.

    Examples
    --------
    >>> paths = save_result(result, Path("out/cat"))                    # doctest: +SKIP
    >>> sorted(p.name for p in paths.values())                          # doctest: +SKIP
    ['curves.png', 'filmstrip.png', 'frames.npz', 'morph.gif', 'result.json']
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"output path {out_dir} exists and is not a directory; choose another one")
    frames_hwc(result)  # validate before touching the disk
    manifest = dumps_json(result.manifest())  # strict: NaN/inf raise before the disk is touched
    with atomic_dir(out_dir, merge=True) as tmp:
        save_gif(result, tmp / ARTEFACTS["gif"], overlay=overlay, arrows=gif_arrows)
        filmstrip(result, tmp / ARTEFACTS["filmstrip"])
        plot_curves(result, tmp / ARTEFACTS["curves"])
        save_frames_npz(result, tmp / ARTEFACTS["frames"])
        (tmp / ARTEFACTS["manifest"]).write_text(manifest + "\n")
        if result.displacement is not None:
            save_arrows(result, tmp / ARROWS)
    paths = {key: out_dir / name for key, name in ARTEFACTS.items()}
    if result.displacement is not None:
        paths["arrows"] = out_dir / ARROWS
    return paths


def gallery_html(
    entries: Sequence[tuple[str, str | Path]], path: str | Path, title: str = "steerlens gallery"
) -> Path:
    """Write a small static ``index.html`` showing each image (GIF or PNG) with its caption.

    Parameters
    ----------
    entries
        ``(caption, image path)`` pairs. Relative paths are kept as they are (relative to the
        HTML file's directory); absolute paths under that directory are made relative.
    path
        Output HTML path.
    title
        Page title and heading.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> gallery_html([("cat -> tiger: csp-phase ...", Path("cat/morph.gif"))],
    ...              "out/index.html")                                  # doctest: +SKIP
    PosixPath('out/index.html')
    """
    path = Path(path)
    base = path.parent.resolve()
    figures = []
    for caption, img in entries:
        img = Path(img)
        if img.is_absolute():
            try:
                img = img.resolve().relative_to(base)
            except ValueError:
                pass
        head, _, rest = caption.partition(": ")
        text = f"<b>{html.escape(head)}</b>" + (f": {html.escape(rest)}" if rest else "")
        src = html.escape(img.as_posix(), quote=True)
        figures.append(
            f'<figure><a href="{src}"><img src="{src}" alt="{html.escape(head, quote=True)}"></a>'
            f"<figcaption>{text}</figcaption></figure>"
        )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; background: #fafafa; }}
figure {{ display: inline-block; vertical-align: top; margin: 0 1.5em 1.5em 0; max-width: 46em; }}
img {{ image-rendering: pixelated; max-width: 100%; border: 1px solid #ccc; }}
figcaption {{ font-size: 0.85em; margin-top: 0.3em; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
{chr(10).join(figures)}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path
