"""A set of real MNIST morphs saved as a report reads them, for trying and sizing the report.

Each case folder holds ``result.json`` and ``frames.npz`` (what the report needs; the GIF and PNG
renderings are skipped, they cost more than the morph). Used by the browser tests and by the
1,000-case measurement in ``docs/app.md`` (run from the repository root:
``PYTHONPATH=tests python -c "from helpers.morph_set import make_morph_set; ..."``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from steerlens.outputs import write_json


def make_morph_set(
    out: str | Path,
    n: int = 50,
    methods: Sequence[str] = ("csp-phase", "pixel"),
    frames: int = 6,
    model_name: str = "mnist-cnn",
    chunk: int = 100,
) -> list[Path]:
    """Morph ``n`` held-out MNIST digits (a fixed shuffle, cycling through ``methods``) toward their
    runner-up class.

    Parameters
    ----------
    out
        Folder to write ``cases/<index>-<method>/`` into.
    n
        Number of cases.
    methods
        Methods, used in turn.
    frames
        Frames per morph.
    model_name
        Driver (a built-in 28x28 grey model).
    chunk
        Images per :func:`steerlens.morph_batch` call.

    Returns
    -------
    list of Path
        The case folders.

    Examples
    --------
    >>> folders = make_morph_set("out/mnist-50", n=50)                 # doctest: +SKIP
    >>> len(folders)                                                   # doctest: +SKIP
    50
    """
    import numpy as np
    import torch

    from steerlens.api import morph_batch
    from steerlens.config import MorphConfig
    from steerlens.data.mnist import load_mnist
    from steerlens.models import load_model
    from steerlens.render import save_frames_npz

    out = Path(out)
    model = load_model(model_name, progress=False)
    split = load_mnist()
    order = np.random.default_rng(0).permutation(len(split.x_test))  # digits of every class
    folders: list[Path] = []
    for m_i, method in enumerate(methods):
        idx = list(range(m_i, n, len(methods)))
        for start in range(0, len(idx), chunk):
            part = idx[start : start + chunk]
            x = split.x_test[[int(order[i % len(order)]) for i in part]]
            with torch.no_grad():
                runner_up = model(x).topk(2, dim=-1).indices[:, 1].tolist()
            cfg = MorphConfig(method=method, frames=frames)
            results = morph_batch(model, x, runner_up, cfg)
            for i, res in zip(part, results, strict=True):
                folder = out / "cases" / f"{i:04d}-{method}"
                folder.mkdir(parents=True, exist_ok=True)
                save_frames_npz(res, folder / "frames.npz")
                write_json(folder / "result.json", res.manifest())
                folders.append(folder)
    return sorted(folders)
