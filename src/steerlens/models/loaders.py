"""Load any model spec as a :class:`~steerlens.models.base.Classifier`.

Specs, tried in this order:

* a built-in name (``steerlens models`` lists them), e.g. ``"efficientnet-lite0"``, ``"mnist-cnn"``;
* ``"torchvision:NAME"`` / ``"timm:NAME"`` (optional extra ``steerlens[hub]``; pretrained weights
  are downloaded by those libraries unless ``weights`` is given);
* ``"hf:ORG/NAME"`` or ``"hf:LOCAL_DIR"``: a Hugging Face image classifier (optional extra
  ``steerlens[hf]``; see :mod:`steerlens.models.hf`);
* ``"robustness:DATASET:ARCH:PATH"``: a MadryLab ``robustness`` checkpoint, e.g.
  ``robustness:imagenet:resnet50:resnet50_l2_eps3.ckpt`` (see
  :mod:`steerlens.models.robustness_ckpt`); ``"robustbench:DATASET:THREAT:NAME"``: a RobustBench
  model (needs ``robustbench`` and the network on first use);
* a TorchScript file (``*.pt``, ``*.pth``, ``*.ts``, ``*.ptl``, ``*.jit`` or any existing file);
* ``"package.module:factory"`` or ``"path/to/file.py:factory"``: ``factory()`` builds an
  ``nn.Module``; ``weights`` is a state dict loaded strictly with ``torch.load(weights_only=True)``.

User models take ``input_size`` (default 224x224), ``channels`` (default 3), ``class_names`` (a
file with one name per line, or a list; default ``class_0, class_1, ...``) and ``normalize``
(``"none"`` (default), ``"imagenet"``, ``"tflite"`` or ``"mean,std"`` numbers).

Nothing a user names is ever unpickled: model files go through :func:`torch.jit.load` (TorchScript's
own loader) and weights through :func:`steerlens.models.weights.read_weights`
(``weights_only=True``). Helpers live in their own modules: :mod:`~steerlens.models.normalization`,
:mod:`~steerlens.models.weights`, :mod:`~steerlens.models.hashing` and :mod:`~steerlens.models.hub`
(their public names are re-exported here).
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from steerlens.errors import ModelError
from steerlens.models.base import Classifier
from steerlens.models.hashing import file_sha256
from steerlens.models.hub import HUB_HINT, load_timm, load_torchvision
from steerlens.models.normalization import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AffineNorm,
    imagenet_norm,
    parse_normalization,
)
from steerlens.models.weights import first_line, load_state_dict_file
from steerlens.validation import check_logits, validate_model, zeros_forward

__all__ = [
    "DEFAULT_INPUT_SIZE",
    "HUB_HINT",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SPEC_PREFIXES",
    "TORCHSCRIPT_SUFFIXES",
    "AffineNorm",
    "file_sha256",
    "imagenet_norm",
    "load_model",
    "load_state_dict_file",
    "parse_normalization",
    "read_class_names",
]

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".ptl", ".jit")
#: spec prefixes handled by their own modules, with the form each takes
SPEC_PREFIXES = {
    "hf": "hf:ORG/NAME or hf:LOCAL_DIR",
    "robustness": "robustness:DATASET:ARCH:PATH",
    "robustbench": "robustbench:DATASET:THREAT:NAME",
}
DEFAULT_INPUT_SIZE = (224, 224)


# ----------------------------------------------------------------------------- public entry
def load_model(
    spec: str | Path,
    weights: str | Path | None = None,
    device: torch.device | str = "cpu",
    *,
    progress: bool = True,
    input_size: tuple[int, int] | int | None = None,
    channels: int | None = None,
    class_names: str | Path | Sequence[str] | None = None,
    normalize: str | Callable[[Tensor], Tensor] | None = None,
    validate: bool = True,
) -> Classifier:
    """Load a classifier from a built-in name, a hub name, a TorchScript file or a factory.

    Parameters
    ----------
    spec
        See the module docstring for the accepted forms.
    weights
        State-dict file for ``module:factory`` (and optionally for any other spec).
    device
        Where the model lives (``"cpu"``, ``"cuda"``, ``"cuda:1"``...).
    progress
        Show progress when a built-in model has to be trained first.
    input_size, channels, class_names, normalize
        Options for user models; built-in models define their own.
    validate
        Run one forward pass on zeros and check the output (see :func:`validate_model`).

    Returns
    -------
    Classifier
        In eval mode, parameters frozen, on ``device``; ``spec`` holds provenance and weight hash.

    Raises
    ------
    ModelError
        Unknown spec (with close-name suggestions), unreadable or mismatched weights, a missing
        optional library, or an output that is not finite logits.

    Examples
    --------
    >>> model = load_model("efficientnet-lite0")
    >>> model.input_size, model.class_names[285]
    ((224, 224), 'Egyptian cat')
    """
    from steerlens.models.registry import BUILTINS

    dev = torch.device(device)
    text = str(spec).strip()
    options = {
        "input_size": input_size,
        "channels": channels,
        "class_names": class_names,
        "normalize": normalize,
    }
    if text.lower() in BUILTINS:
        given = [k for k, v in options.items() if v is not None]
        if given:
            raise ModelError(
                f"built-in model {text!r} defines its own {', '.join(given)}; "
                "drop those options or load your own model file"
            )
        model = BUILTINS[text.lower()].build(Path(weights) if weights else None, progress)
    else:
        model = _load_user_model(text, weights, dev, **options)
    model = model.to(dev).eval()
    model.requires_grad_(False)  # morphs differentiate w.r.t. the image only
    if validate:
        validate_model(model, dev)
    return model


# ----------------------------------------------------------------------------- files
def read_class_names(source: str | Path | Sequence[str]) -> list[str]:
    """Class names from a file (one per line, blank lines ignored) or a list.

    Examples
    --------
    >>> read_class_names(("cat", 7))
    ['cat', '7']
    """
    if isinstance(source, (str, Path)):
        p = Path(source)
        if not p.is_file():
            raise ModelError(
                f"class-names file {p} does not exist; give a file with one name per line"
            )
        names = [line.strip() for line in p.read_text(encoding="utf-8").splitlines()]
        names = [n for n in names if n]
        if not names:
            raise ModelError(f"class-names file {p} is empty; put one class name per line")
        return names
    return [str(n) for n in source]


# ----------------------------------------------------------------------------- user models
def _load_user_model(
    text: str,
    weights: str | Path | None,
    device: torch.device,
    input_size: tuple[int, int] | int | None,
    channels: int | None,
    class_names: str | Path | Sequence[str] | None,
    normalize: str | Callable[[Tensor], Tensor] | None,
) -> Classifier:
    kind, _, rest = text.partition(":")
    if kind.lower() in SPEC_PREFIXES:
        if weights is not None:
            raise ModelError(
                f"{kind.lower()}: models carry their own weights; drop --weights "
                f"(give the checkpoint in the spec: {SPEC_PREFIXES[kind.lower()]})"
            )
        base = _load_prefixed(kind.lower(), rest)
    elif kind.lower() == "torchvision" and rest:
        base = load_torchvision(rest, weights)
    elif kind.lower() == "timm" and rest:
        base = load_timm(rest, weights)
    elif text.endswith(".py"):
        raise ModelError(_unknown_message(text))
    elif Path(text).suffix.lower() in TORCHSCRIPT_SUFFIXES or Path(text).is_file():
        base = _load_torchscript(Path(text), weights, device)
    elif ":" in text:
        base = _load_factory(text, weights)
    else:
        raise ModelError(_unknown_message(text))
    return _apply_options(base, input_size, channels, class_names, normalize, device)


def _load_prefixed(kind: str, rest: str) -> Classifier:
    """``hf:``, ``robustness:`` and ``robustbench:`` specs (their modules import lazily)."""
    if kind == "hf":
        from steerlens.models.hf import load_hf

        return load_hf(rest)
    if kind == "robustness":
        from steerlens.models.robustness_ckpt import load_robustness

        return load_robustness(rest)
    from steerlens.models.robustbench_zoo import load_robustbench

    return load_robustbench(rest)


def _apply_options(
    base: Classifier,
    input_size: tuple[int, int] | int | None,
    channels: int | None,
    class_names: str | Path | Sequence[str] | None,
    normalize: str | Callable[[Tensor], Tensor] | None,
    device: torch.device,
) -> Classifier:
    """Override the loader's defaults with the user's options; name classes after the output."""
    size = base.input_size if input_size is None else input_size
    size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    ch = base.channels if channels is None else int(channels)
    if ch not in (1, 3):
        raise ModelError(f"channels must be 1 or 3, got {ch}")
    norm = base._normalize if normalize is None else parse_normalization(normalize, ch)
    spec = dict(base.spec)
    spec.update(input_size=list(size), channels=ch)
    if isinstance(normalize, str):
        spec["input_normalization"] = normalize
    if class_names is not None:
        names = read_class_names(class_names)
        if isinstance(class_names, (str, Path)):
            spec["class_names_file"] = str(class_names)
    elif base.class_names:
        names = base.class_names
    else:
        # Number of classes from one trial forward; shape errors surface here as ModelError.
        probe = Classifier(base.net, [], size, ch, normalize=norm, name=base.name).to(device).eval()
        out = zeros_forward(probe, device)
        check_logits(out, 1, None, base.name)
        names = [f"class_{i}" for i in range(out.shape[1])]
    spec["num_classes"] = len(names)
    return Classifier(base.net, names, size, ch, normalize=norm, name=base.name, spec=spec)


def _load_torchscript(path: Path, weights: str | Path | None, device: torch.device) -> Classifier:
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist; check the path or use a built-in name")
    try:
        with warnings.catch_warnings():
            # torch >= 2.9 deprecates TorchScript; it is still the portable format users have.
            warnings.simplefilter("ignore", DeprecationWarning)
            net = torch.jit.load(str(path), map_location=device)
    except Exception as err:  # noqa: BLE001 - any failure here is the user's file
        raise ModelError(
            f"{path} is not a TorchScript file ({first_line(err)}); save one with "
            "torch.jit.script(model).save(path), or pass module:factory with --weights for a state dict"
        ) from None
    spec: dict[str, Any] = {"source": "torchscript", "path": str(path)}
    if weights is not None:
        load_state_dict_file(net, weights, f"TorchScript model {path.name}")
        spec.update(weights=str(weights), weights_sha256=file_sha256(weights))
    else:
        spec["weights_sha256"] = file_sha256(path)
    return Classifier(net, [], DEFAULT_INPUT_SIZE, 3, name=path.stem, spec=spec)


def _load_factory(text: str, weights: str | Path | None) -> Classifier:
    target, _, attr = text.rpartition(":")
    if not target or not attr.isidentifier():
        raise ModelError(
            f"model spec {text!r} must look like package.module:factory or file.py:factory"
        )
    module = _import_target(target)
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        close = difflib.get_close_matches(attr, names, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "check the function name"
        raise ModelError(f"{target} has no factory function {attr!r}; {hint}")
    try:
        net = factory()
    except Exception as err:  # noqa: BLE001 - any failure here is the user's file
        raise ModelError(
            f"factory {text} failed ({first_line(err)}); it must build the model with no arguments"
        ) from None
    if not isinstance(net, nn.Module):
        raise ModelError(f"factory {text} returned a {type(net).__name__}, not a torch.nn.Module")
    spec: dict[str, Any] = {"source": "factory", "factory": text}
    if weights is not None:
        load_state_dict_file(net, weights, f"the model built by {text}")
        spec.update(weights=str(weights), weights_sha256=file_sha256(weights))
    if isinstance(net, Classifier):
        net.spec.update(spec)
        return net
    return Classifier(net, [], DEFAULT_INPUT_SIZE, 3, name=attr, spec=spec)


def _import_target(target: str) -> Any:
    path = Path(target)
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist; check the path")
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
        mod_name = f"steerlens_user_{path.stem}_{digest}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise ModelError(f"cannot import {path} as Python; give a .py file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module  # dataclasses and pickling look modules up here
        try:
            spec.loader.exec_module(module)
        except Exception as err:  # noqa: BLE001 - any failure here is the user's file
            sys.modules.pop(mod_name, None)
            raise ModelError(
                f"importing {path} failed ({first_line(err)}); fix that file"
            ) from None
        return module
    try:
        return importlib.import_module(target)
    except Exception as err:  # noqa: BLE001 - any failure here is the user's file
        raise ModelError(
            f"cannot import module {target!r} ({first_line(err)}); put it on PYTHONPATH or "
            "pass path/to/file.py:factory"
        ) from None


def _unknown_message(text: str) -> str:
    from steerlens.models.registry import BUILTINS

    if text.endswith(".py"):
        return f"name the factory function in {text}, e.g. {text}:build"
    close = difflib.get_close_matches(text.lower(), list(BUILTINS), n=3, cutoff=0.5)
    # equally close names in a stable, alphabetical order (difflib returns ties reversed)
    close.sort(key=lambda n: (-difflib.SequenceMatcher(None, text.lower(), n).ratio(), n))
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return (
        f"unknown model {text!r}; {hint}use a built-in ({', '.join(BUILTINS)}), a TorchScript file, "
        "module:factory, hf:ORG/NAME, robustness:DATASET:ARCH:PATH, torchvision:NAME or timm:NAME"
    )
