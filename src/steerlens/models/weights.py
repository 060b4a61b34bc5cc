"""Reading weight files: the one place steerlens calls :func:`torch.load`, always ``weights_only=True``.

A weights file is a user's (``--weights``) or a cache's file, so it is never unpickled with
arbitrary globals: :func:`read_weights` uses torch's restricted unpickler, which accepts tensors,
containers and numbers only, and turns any failure (a pickle with code in it included) into a
one-line :class:`~steerlens.errors.ModelError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from steerlens.errors import ModelError

__all__ = ["first_line", "load_state_dict_file", "read_weights", "state_dict_mismatch"]

SAVE_HINT = "save it with torch.save(model.state_dict(), path)"


def read_weights(path: str | Path, safe_globals: Sequence[type] = ()) -> Any:
    """Load a ``torch.save`` file with ``weights_only=True`` (tensors, containers, numbers only).

    Parameters
    ----------
    path
        The file.
    safe_globals
        Plain-data classes to accept besides torch's own (through
        :func:`torch.serialization.safe_globals`, for this call only), e.g. ``argparse.Namespace``
        in training checkpoints. Never a class whose construction runs code.

    Returns
    -------
    Any
        What the file holds, typically a state dict ``{name: Tensor}``.

    Raises
    ------
    ModelError
        The file is missing, not a ``torch.save`` file, or holds anything beyond plain data
        (e.g. a pickle that would run code: it is refused, never executed).

    Examples
    --------
    >>> import os, pickle, tempfile
    >>> d = tempfile.mkdtemp()
    >>> torch.save({"w": torch.ones(2)}, os.path.join(d, "ok.pt"))
    >>> read_weights(os.path.join(d, "ok.pt"))["w"].tolist()
    [1.0, 1.0]
    >>> with open(os.path.join(d, "bad.pt"), "wb") as f:
    ...     pickle.dump(print, f, protocol=2)    # a global: refused by the restricted unpickler
    >>> read_weights(os.path.join(d, "bad.pt"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    steerlens.errors.ModelError: cannot read weights file .../bad.pt (UnpicklingError: ...); save it with ...
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"weights file {p} does not exist; check the --weights path")
    try:
        with warnings.catch_warnings():
            # old pickle protocols are fine for plain data; torch's note about them is noise here
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            with torch.serialization.safe_globals(list(safe_globals)):
                return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure here is the file's
        raise ModelError(f"cannot read weights file {p} ({first_line(err)}); {SAVE_HINT}") from None


def load_state_dict_file(module: nn.Module, path: str | Path, what: str) -> None:
    """Load a state-dict file into ``module`` strictly, with a one-line error on any mismatch.

    Checkpoints that wrap the state dict (``{"state_dict": ...}`` or ``{"model": ...}``) and keys
    prefixed by ``module.`` (DataParallel) are accepted.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "w.pt")
    >>> torch.save({"weight": torch.ones(1, 1), "bias": torch.zeros(1)}, p)
    >>> lin = nn.Linear(1, 1)
    >>> load_state_dict_file(lin, p, "a Linear(1, 1)")
    >>> lin.weight.item()
    1.0
    """
    p = Path(path)
    state = _unwrap_state_dict(read_weights(p))
    if state is None:
        raise ModelError(f"weights file {p} does not hold a state dict; {SAVE_HINT}")
    own = module.state_dict()
    missing, unexpected, wrong = state_dict_mismatch(own, state)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_few(unexpected)}")
        if wrong:
            k = wrong[0]
            parts.append(
                f"shape mismatch for {k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
            )
        raise ModelError(
            f"weights file {p} does not match {what}: {'; '.join(parts)}; use weights saved from "
            "the same architecture"
        )
    module.load_state_dict(state, strict=True)


def _unwrap_state_dict(obj: Any) -> dict[str, Tensor] | None:
    if not isinstance(obj, Mapping):
        return None
    if obj and all(isinstance(v, Tensor) for v in obj.values()):
        keys = list(obj)
        if all(k.startswith("module.") for k in keys):
            return {k[len("module.") :]: v for k, v in obj.items()}
        return dict(obj)
    for key in ("state_dict", "model_state_dict", "model"):
        if key in obj:
            return _unwrap_state_dict(obj[key])
    return None if obj else {}


def state_dict_mismatch(own: Mapping[str, Tensor], state: Mapping[str, Tensor]
                        ) -> tuple[list[str], list[str], list[str]]:
    """Keys a model has that ``state`` lacks, keys ``state`` has that the model lacks, and keys
    whose shapes differ: what a ``strict=True`` load would refuse, for a one-line message.

    Examples
    --------
    >>> state_dict_mismatch({"w": torch.zeros(2), "b": torch.zeros(1)},
    ...                     {"w": torch.zeros(3), "x": torch.zeros(1)})
    (['b'], ['x'], ['w'])
    """
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    return missing, unexpected, wrong


def _few(keys: list[str], n: int = 3) -> str:
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def first_line(err: BaseException, limit: int = 100) -> str:
    """``Type: first line of the message``, shortened: torch's messages run for paragraphs.

    Examples
    --------
    >>> first_line(RuntimeError("bad zip\\nmore detail"))
    'RuntimeError: bad zip'
    """
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else ""
    text = text[: limit - 3] + "..." if len(text) > limit else text
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
