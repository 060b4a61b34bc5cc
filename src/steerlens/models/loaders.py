"""Load any model spec as a :class:`~steerlens.models.base.Classifier`.

Specs, tried in this order:

* a built-in name (``steerlens models`` lists them), e.g. ``"efficientnet-lite0"``, ``"mnist-cnn"``;
* ``"torchvision:NAME"`` / ``"timm:NAME"`` (optional extra ``steerlens[hub]``; pretrained weights
  are downloaded by those libraries unless ``weights`` is given);
* a TorchScript file (``*.pt``, ``*.pth``, ``*.ts``, ``*.ptl``, ``*.jit`` or any existing file);
* ``"package.module:factory"`` or ``"path/to/file.py:factory"``: ``factory()`` builds an
  ``nn.Module``; ``weights`` is a state dict loaded strictly with ``torch.load(weights_only=True)``.

User models take ``input_size`` (default 224x224), ``channels`` (default 3), ``class_names`` (a
file with one name per line, or a list; default ``class_0, class_1, ...``) and ``normalize``
(``"none"`` (default), ``"imagenet"``, ``"tflite"`` or ``"mean,std"`` numbers).
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from steerlens.errors import ModelError
from steerlens.models.base import Classifier
from steerlens.validation import check_logits, validate_model, zeros_forward

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".ptl", ".jit")
DEFAULT_INPUT_SIZE = (224, 224)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HUB_HINT = "pip install 'steerlens[hub]'"


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


# ----------------------------------------------------------------------------- normalisation
class AffineNorm(nn.Module):
    """Per-channel ``x * scale + shift`` (moves with the model across devices).

    Examples
    --------
    >>> norm = imagenet_norm()
    >>> round(float(norm(torch.full((1, 3, 1, 1), 0.485))[0, 0]), 6)
    0.0
    """

    def __init__(self, scale: float | Sequence[float], shift: float | Sequence[float]) -> None:
        super().__init__()
        s = torch.as_tensor(scale, dtype=torch.float32).reshape(1, -1, 1, 1)
        b = torch.as_tensor(shift, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.register_buffer("scale", s)
        self.register_buffer("shift", b)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the affine map."""
        return x * self.scale + self.shift


def imagenet_norm(channels: int = 3) -> AffineNorm:
    """torchvision's ImageNet ``(x - mean) / std``; one channel uses the channel averages.

    Examples
    --------
    >>> round(imagenet_norm(1).scale.item(), 3)  # 1 / mean(std)
    4.425
    """
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    if channels == 1:
        mean, std = mean.mean(0, keepdim=True), std.mean(0, keepdim=True)
    return AffineNorm((1.0 / std).tolist(), (-mean / std).tolist())


def parse_normalization(
    value: str | Callable[[Tensor], Tensor] | None, channels: int
) -> Callable[[Tensor], Tensor] | None:
    """Turn ``"none" | "imagenet" | "tflite" | "mean,std"`` (or a callable) into a normaliser.

    ``"mean,std"`` is two numbers for every channel or ``2 * channels`` numbers (all means, then
    all standard deviations), e.g. ``"0.1307,0.3081"`` for MNIST.

    Examples
    --------
    >>> parse_normalization("0.5,0.25", 1)(torch.ones(1, 1, 1, 1)).item()
    2.0
    """
    if value is None or callable(value):
        return value
    key = value.strip().lower()
    if key in ("", "none"):
        return None
    if key == "imagenet":
        return imagenet_norm(channels)
    if key == "tflite":
        return AffineNorm(255.0 / 128.0, -127.0 / 128.0)
    try:
        nums = [float(v) for v in key.split(",")]
    except ValueError:
        nums = []
    if len(nums) not in (2, 2 * channels) or any(s <= 0 for s in nums[len(nums) // 2 :]):
        raise ModelError(
            f"normalization {value!r} not understood; use none, imagenet, tflite or 'mean,std' "
            f"(2 or {2 * channels} numbers, std > 0)"
        )
    half = len(nums) // 2
    mean, std = torch.tensor(nums[:half]), torch.tensor(nums[half:])
    return AffineNorm((1.0 / std).tolist(), (-mean / std).tolist())


# ----------------------------------------------------------------------------- files
@lru_cache(maxsize=16)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file, cached by path, modification time and size.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "empty")
    >>> open(p, "wb").close()
    >>> file_sha256(p)[:12]
    'e3b0c44298fc'
    """
    st = Path(path).stat()
    return _sha256(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


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
    if not p.is_file():
        raise ModelError(f"weights file {p} does not exist; check the --weights path")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure here is the user's file
        raise ModelError(
            f"cannot read weights file {p} ({_first_line(err)}); save it with "
            "torch.save(model.state_dict(), path)"
        ) from None
    state = _unwrap_state_dict(state)
    if state is None:
        raise ModelError(
            f"weights file {p} does not hold a state dict; save it with "
            "torch.save(model.state_dict(), path)"
        )
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
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


def _few(keys: list[str], n: int = 3) -> str:
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def _first_line(err: BaseException, limit: int = 100) -> str:
    """``Type: first line of the message``, shortened: torch's messages run for paragraphs."""
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else ""
    text = text[: limit - 3] + "..." if len(text) > limit else text
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


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
    if kind.lower() == "torchvision" and rest:
        base = _load_torchvision(rest, weights)
    elif kind.lower() == "timm" and rest:
        base = _load_timm(rest, weights)
    elif text.endswith(".py"):
        raise ModelError(_unknown_message(text))
    elif Path(text).suffix.lower() in TORCHSCRIPT_SUFFIXES or Path(text).is_file():
        base = _load_torchscript(Path(text), weights, device)
    elif ":" in text:
        base = _load_factory(text, weights)
    else:
        raise ModelError(_unknown_message(text))
    return _apply_options(base, input_size, channels, class_names, normalize, device)


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
            f"{path} is not a TorchScript file ({_first_line(err)}); save one with "
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
            f"factory {text} failed ({_first_line(err)}); it must build the model with no arguments"
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
                f"importing {path} failed ({_first_line(err)}); fix that file"
            ) from None
        return module
    try:
        return importlib.import_module(target)
    except Exception as err:  # noqa: BLE001 - any failure here is the user's file
        raise ModelError(
            f"cannot import module {target!r} ({_first_line(err)}); put it on PYTHONPATH or "
            "pass path/to/file.py:factory"
        ) from None


def _unknown_message(text: str) -> str:
    from steerlens.models.registry import BUILTINS

    if text.endswith(".py"):
        return f"name the factory function in {text}, e.g. {text}:build"
    close = difflib.get_close_matches(text.lower(), list(BUILTINS), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return (
        f"unknown model {text!r}; {hint}use a built-in ({', '.join(BUILTINS)}), a TorchScript file, "
        "module:factory, torchvision:NAME or timm:NAME"
    )


# ----------------------------------------------------------------------------- hub extras
def _import_optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ModelError(
            f"{name} is not installed; {HUB_HINT} (or pip install {name}) to use {name}:NAME models"
        ) from None


def _load_torchvision(name: str, weights: str | Path | None) -> Classifier:
    _import_optional("torchvision")
    tv_models = importlib.import_module("torchvision.models")
    try:
        weight_enum = tv_models.get_model_weights(name)
    except (ValueError, KeyError):
        close = difflib.get_close_matches(name, tv_models.list_models(), n=3)
        hint = (
            f"did you mean {', '.join(close)}?" if close else "see torchvision.models.list_models()"
        )
        raise ModelError(f"torchvision has no model {name!r}; {hint}") from None
    default = weight_enum.DEFAULT
    try:
        net = tv_models.get_model(name, weights=None if weights is not None else default)
    except Exception as err:  # noqa: BLE001 - any failure here is the user's file
        raise ModelError(
            f"torchvision could not build {name} ({_first_line(err)}); check your internet "
            "connection or pass --weights with a local state dict"
        ) from None
    spec: dict[str, Any] = {"source": "torchvision", "model": name}
    if weights is not None:
        load_state_dict_file(net, weights, f"torchvision:{name}")
        spec.update(weights=str(weights), weights_sha256=file_sha256(weights))
    else:
        spec["weights"] = str(default)
    preset = default.transforms()
    crop = int(preset.crop_size[0])
    return Classifier(
        net,
        list(default.meta["categories"]),
        (crop, crop),
        3,
        normalize=AffineNorm(
            [1.0 / s for s in preset.std], [-m / s for m, s in zip(preset.mean, preset.std)]
        ),
        name=name,
        spec={**spec, "input_normalization": "mean/std of the weights' preset"},
    )


def _load_timm(name: str, weights: str | Path | None) -> Classifier:
    timm = _import_optional("timm")
    try:
        net = timm.create_model(name, pretrained=weights is None)
    except RuntimeError as err:
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = (
            f"did you mean {', '.join(close)}?" if close else "check the name and your connection"
        )
        raise ModelError(f"timm could not create {name!r} ({_first_line(err)}); {hint}") from None
    spec: dict[str, Any] = {"source": "timm", "model": name}
    if weights is not None:
        load_state_dict_file(net, weights, f"timm:{name}")
        spec.update(weights=str(weights), weights_sha256=file_sha256(weights))
    cfg = timm.data.resolve_data_config({}, model=net)
    _, h, w = cfg["input_size"]
    mean, std = cfg["mean"], cfg["std"]
    names: list[str] = []
    if getattr(net, "num_classes", None) == 1000:
        from steerlens.models.efficientnet import imagenet_class_names

        names = imagenet_class_names()
    return Classifier(
        net,
        names,
        (int(h), int(w)),
        3,
        normalize=AffineNorm([1.0 / s for s in std], [-m / s for m, s in zip(mean, std)]),
        name=name,
        spec={**spec, "input_normalization": f"mean={list(mean)}, std={list(std)}"},
    )
