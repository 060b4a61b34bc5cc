"""The trained-model cache: ``<cache>/models/<stem>.pt`` weights plus ``<stem>.json`` metadata.

``<cache>`` is ``$STEERLENS_CACHE_DIR`` or ``platformdirs.user_cache_dir("steerlens")``. Both files
are written atomically (temporary file + ``os.replace``). On load the weights must match the
SHA-256 in the metadata and are read with ``weights_only=True``
(:func:`steerlens.models.weights.read_weights`): a damaged or planted file (a pickle that would run
code included) is never executed, only reported and retrained.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from steerlens.data.mnist import Split
from steerlens.errors import SteerlensError
from steerlens.models.architectures import build
from steerlens.models.base import Classifier
from steerlens.models.hashing import file_sha256
from steerlens.models.weights import read_weights
from steerlens.outputs import write_json

__all__ = [
    "PACKAGED_DIR",
    "data_fingerprint",
    "load_cached",
    "load_packaged",
    "model_cache_dir",
    "save_cached",
    "wrap_cached",
]

#: Weights shipped inside the package (``<stem>.pt`` + ``<stem>.json``, same layout as the cache):
#: every user, test and committed result gets the same built-in models on any CPU, with no
#: training on first use. Made by ``scripts/make_pretrained.py``.
PACKAGED_DIR = Path(__file__).parent / "pretrained"

#: what a damaged cache entry can raise while being read (then it is retrained)
_DAMAGE = (SteerlensError, OSError, EOFError, KeyError, IndexError, TypeError, ValueError, RuntimeError)


def model_cache_dir() -> Path:
    """Folder of cached trained models: ``$STEERLENS_CACHE_DIR/models`` or the user cache.

    Examples
    --------
    >>> model_cache_dir().name
    'models'
    """
    root = os.environ.get("STEERLENS_CACHE_DIR")
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("steerlens")
    return Path(root).expanduser() / "models"


def data_fingerprint(split: Split) -> str:
    """SHA-256 of a split's tensors (shape, dtype, bytes) and class names: part of the cache key.

    Examples
    --------
    >>> from steerlens.data.mnist import load_mnist
    >>> len(data_fingerprint(load_mnist()))
    64
    """
    h = hashlib.sha256()
    for t in (split.x_train, split.y_train, split.x_test, split.y_test):
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    h.update(json.dumps(list(split.class_names)).encode())
    return h.hexdigest()


def _save_weights_atomic(path: Path, net: nn.Module) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(net.state_dict(), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def wrap_cached(net: nn.Module, meta: dict[str, Any]) -> Classifier:
    """A trained network and its metadata as a frozen :class:`Classifier` in eval mode.

    Examples
    --------
    >>> net = build("mlp", 1, 10, (28, 28))
    >>> meta = {"class_names": list("0123456789"), "input_size": [28, 28], "channels": 1,
    ...         "name": "toy"}
    >>> clf = wrap_cached(net, meta)
    >>> clf.name, clf.net.training, next(clf.parameters()).requires_grad
    ('toy', False, False)
    """
    net.eval().requires_grad_(False)  # gradients are taken w.r.t. inputs, never weights
    return Classifier(
        net,
        meta["class_names"],
        tuple(meta["input_size"]),
        meta["channels"],
        name=meta["name"],
        spec=meta,
    )


def load_cached(stem: Path) -> Classifier | None:
    """The model cached under ``stem`` (``stem.json`` + ``stem.pt``), or ``None`` to (re)train.

    Any damage (missing or unreadable file, weights that do not match the metadata's SHA-256,
    a file holding anything but tensors) gives a warning and ``None``; nothing in the file is
    ever executed.

    Examples
    --------
    >>> import tempfile
    >>> load_cached(Path(tempfile.mkdtemp()) / "mnist-cnn-0123") is None
    True
    """
    if not stem.with_suffix(".json").is_file():
        return None
    try:
        return _read_entry(stem)
    except _DAMAGE as exc:  # any damage: retrain rather than fail
        warnings.warn(f"ignoring damaged model cache {stem} ({_why(exc)})", stacklevel=3)
        return None


def _why(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _read_entry(stem: Path) -> Classifier:
    """Read ``stem.json`` + ``stem.pt`` (SHA-256 checked, ``weights_only=True``); raises on damage."""
    meta = json.loads(stem.with_suffix(".json").read_text())
    weights_path = stem.with_suffix(".pt")
    if file_sha256(weights_path) != meta["weights_sha256"]:
        raise ValueError("weights do not match the SHA-256 in the metadata")
    net = build(meta["arch"], meta["channels"], len(meta["class_names"]), meta["input_size"])
    net.load_state_dict(read_weights(weights_path))
    return wrap_cached(net, meta)


def load_packaged(stem_name: str) -> Classifier | None:
    """The model shipped in the package under ``stem_name``, or ``None`` when none is shipped.

    The packaged files are read exactly like a cache entry (SHA-256 check, ``weights_only=True``);
    damage is a broken installation, so it raises instead of silently retraining.

    Examples
    --------
    >>> load_packaged("no-such-model-000000000000") is None
    True
    """
    stem = PACKAGED_DIR / stem_name
    if not stem.with_suffix(".json").is_file():
        return None
    try:
        clf = _read_entry(stem)
    except _DAMAGE as exc:  # the installation is broken: say so rather than retrain silently
        raise SteerlensError(
            f"the packaged weights {stem} are damaged ({_why(exc)}); reinstall steerlens"
        ) from None
    clf.spec["weights_source"] = "packaged"
    return clf


def save_cached(stem: Path, net: nn.Module, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``net``'s weights and ``meta`` under ``stem``, adding the weights' file name and SHA-256
    and the creation time.

    Returns
    -------
    dict
        The metadata as written.

    Examples
    --------
    >>> import tempfile
    >>> stem = Path(tempfile.mkdtemp()) / "toy"
    >>> meta = save_cached(stem, build("mlp", 1, 10, (28, 28)),
    ...     {"arch": "mlp", "class_names": list("0123456789"), "input_size": [28, 28],
    ...      "channels": 1, "name": "toy"})
    >>> load_cached(stem).spec["weights_sha256"] == meta["weights_sha256"]
    True
    """
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights_path = stem.with_suffix(".pt")
    _save_weights_atomic(weights_path, net)
    meta = {
        **meta,
        "weights_file": weights_path.name,
        "weights_sha256": file_sha256(weights_path),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(stem.with_suffix(".json"), meta)
    return meta
