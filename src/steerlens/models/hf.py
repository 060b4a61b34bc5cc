"""``hf:ORG/NAME`` and ``hf:LOCAL_DIR``: Hugging Face image classifiers (optional extra ``[hf]``).

The model is built by ``transformers.AutoModelForImageClassification.from_pretrained`` (never with
remote code) in float32. What the image processor would do is read straight from the model's
``preprocessor_config.json`` (transformers 5's image-processor classes need torchvision): input
size, rescale factor, mean/std and the resampling filter. The class names are ``config.id2label``.
The wrapped network takes ``pixel_values`` and returns ``.logits``; the normalisation lives inside
the :class:`~steerlens.models.base.Classifier`, so morphs see images in ``[0, 1]``.

A hub id is read from the local Hugging Face cache when it is there; otherwise it is downloaded.
Without a network (or with ``HF_HUB_OFFLINE=1``) an uncached id is a one-line
:class:`~steerlens.errors.ModelError` at once, instead of the hub client's minute of retries.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

from steerlens.errors import ModelError
from steerlens.models.base import Classifier
from steerlens.models.hashing import file_sha256
from steerlens.models.normalization import AffineNorm
from steerlens.models.weights import first_line

__all__ = ["HF_HINT", "HFLogits", "HFPreprocessing", "load_hf", "read_preprocessing"]

HF_HINT = "pip install 'steerlens[hf]'"
#: PIL's resampling codes as the image processors store them
RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                 "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class HFPreprocessing:
    """What a Hugging Face image processor does to an image, read from its JSON.

    Attributes
    ----------
    input_size
        ``(H, W)`` of ``pixel_values`` (the crop size when the processor centre-crops).
    scale, shift
        Per-channel ``x * scale + shift`` from images in ``[0, 1]`` to ``pixel_values``
        (rescale factor and mean/std folded together).
    mean, std
        The processor's ``image_mean`` / ``image_std`` (empty when it does not normalise).
    resample
        The processor's resampling filter (``"bilinear"``, ``"bicubic"``...).
    """

    input_size: tuple[int, int]
    scale: tuple[float, ...]
    shift: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resample: str


class HFLogits(nn.Module):
    """``pixel_values -> .logits`` of a ``transformers`` image classifier.

    Examples
    --------
    >>> from transformers import ViTConfig, ViTForImageClassification  # doctest: +SKIP
    >>> cfg = ViTConfig(image_size=16, patch_size=8, hidden_size=8, num_hidden_layers=1,
    ...                 num_attention_heads=2, intermediate_size=8, num_labels=2)  # doctest: +SKIP
    >>> HFLogits(ViTForImageClassification(cfg))(torch.rand(1, 3, 16, 16)).shape  # doctest: +SKIP
    torch.Size([1, 2])
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        """Logits for normalised ``pixel_values`` ``x``."""
        return self.model(pixel_values=x).logits


def read_preprocessing(
    cfg: dict[str, Any], channels: int = 3, image_size: Any = None, where: str = "the model"
) -> HFPreprocessing:
    """Turn a ``preprocessor_config.json`` dictionary into an :class:`HFPreprocessing`.

    Parameters
    ----------
    cfg
        The JSON's content.
    channels
        The model's ``config.num_channels``.
    image_size
        The model's ``config.image_size``, used when the JSON gives no usable size.
    where
        How error messages name the model.

    Examples
    --------
    >>> p = read_preprocessing({"size": {"shortest_edge": 224}, "crop_pct": 0.875, "resample": 3,
    ...                         "image_mean": [0.485, 0.456, 0.406],
    ...                         "image_std": [0.229, 0.224, 0.225],
    ...                         "rescale_factor": 1 / 255})
    >>> p.input_size, p.resample, round(p.scale[0], 3), round(p.shift[0], 3)
    ((224, 224), 'bicubic', 4.367, -2.118)
    >>> read_preprocessing({"size": {"height": 256, "width": 256}, "do_center_crop": True,
    ...                     "crop_size": {"height": 224, "width": 224},
    ...                     "image_mean": 0.5, "image_std": 0.5}).input_size
    (224, 224)
    """
    size = _input_size(cfg, image_size, where)
    rescale = float(cfg.get("rescale_factor", 1 / 255)) if cfg.get("do_rescale", True) else 1.0
    to_pixels = 255.0 * rescale  # steerlens images are already x / 255
    if cfg.get("do_normalize", True):
        mean, std = cfg.get("image_mean"), cfg.get("image_std")
        if mean is None or std is None:
            raise ModelError(
                f"the preprocessor_config.json of {where} normalises but gives no image_mean/"
                "image_std; add both to it"
            )
        mean_t, std_t = _per_channel(mean, channels, where), _per_channel(std, channels, where)
        if any(s <= 0 for s in std_t):
            raise ModelError(f"the preprocessor_config.json of {where} has image_std <= 0; fix it")
        scale = tuple(to_pixels / s for s in std_t)
        shift = tuple(-m / s for m, s in zip(mean_t, std_t))
    else:
        mean_t, std_t = (), ()
        scale, shift = (to_pixels,) * channels, (0.0,) * channels
    resample = RESAMPLE.get(int(cfg.get("resample", 2)), str(cfg.get("resample")))
    return HFPreprocessing(size, scale, shift, mean_t, std_t, resample)


def load_hf(ref: str) -> Classifier:
    """Load ``hf:ref`` (a hub id ``ORG/NAME`` or a local folder) as a :class:`Classifier`.

    Parameters
    ----------
    ref
        What follows ``hf:``. An existing folder is read from disk (``save_pretrained`` layout:
        ``config.json``, weights, ``preprocessor_config.json``); anything else is a hub id.

    Returns
    -------
    Classifier
        Float32, normalisation inside, class names from ``id2label``; ``spec`` records the
        source, preprocessing and weight hash.

    Raises
    ------
    ModelError
        transformers missing, an uncached hub id without network, not an image classifier, no
        trained head, or a preprocessor config it cannot read.

    Examples
    --------
    >>> clf = load_hf("google/vit-base-patch16-224")          # doctest: +SKIP
    >>> clf.input_size, clf.class_names[285]                   # doctest: +SKIP
    ((224, 224), 'Egyptian cat')
    """
    transformers = _import_transformers()
    text = ref.strip()
    if not text:
        raise ModelError("hf: needs a model, e.g. hf:google/vit-base-patch16-224 or hf:path/to/dir")
    folder = Path(text).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ModelError(
                f"hf:{text} is not a saved transformers model (no config.json); the folder needs "
                "config.json and weights, as save_pretrained writes them"
            )
        try:
            model, info = _from_pretrained(transformers, str(folder), text, local_only=True)
        except OSError as err:
            raise ModelError(
                f"hf:{text} is not a saved transformers model ({first_line(err)}); the folder "
                "needs config.json and weights, as save_pretrained writes them"
            ) from None
        _check_head(info, text)
        pre_path: Path | None = folder / "preprocessor_config.json"
        spec: dict[str, Any] = {"source": "huggingface", "path": str(folder.resolve())}
        weights = next((folder / f for f in _WEIGHT_FILES if (folder / f).is_file()), None)
        if weights is not None:
            spec["weights_sha256"] = file_sha256(weights)
        name = folder.resolve().name
    else:
        if not _HUB_ID.match(text) or text.startswith((".", "/", "~")):
            raise ModelError(
                f"hf:{text} is neither a folder nor a Hugging Face id; give ORG/NAME or an "
                "existing folder saved with save_pretrained"
            )
        model, pre_path, cached = _from_hub(transformers, text)
        spec = {"source": "huggingface", "model": text, "from_cache": cached}
        commit = getattr(model.config, "_commit_hash", None)
        if commit:
            spec["revision"] = str(commit)
        name = text
    config = model.config
    channels = int(getattr(config, "num_channels", 3) or 3)
    if channels not in (1, 3):
        raise ModelError(f"hf:{text} takes {channels} channels; steerlens handles 1 or 3")
    pre = _read_json(pre_path, text)
    prep = read_preprocessing(pre, channels, getattr(config, "image_size", None), f"hf:{text}")
    names = _class_names(config)
    spec.update(
        architecture=type(model).__name__,
        input_normalization=(
            f"mean={list(prep.mean)}, std={list(prep.std)}" if prep.mean else "rescale only"
        ),
        resample=prep.resample,
    )
    return Classifier(
        HFLogits(model),
        names,
        prep.input_size,
        channels,
        normalize=AffineNorm(list(prep.scale), list(prep.shift)),
        name=name,
        spec=spec,
    )


# ----------------------------------------------------------------------------- loading
def _import_transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise ModelError(
            f"transformers is not installed; {HF_HINT} (transformers>=4.40, safetensors) to use "
            "hf: models"
        ) from None
    return transformers


@contextlib.contextmanager
def _quiet(transformers: Any) -> Iterator[None]:
    """Silence transformers' progress bars and load-report logging; restore them afterwards."""
    logging = transformers.utils.logging
    level, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


def _from_pretrained(
    transformers: Any, source: str, label: str, *, local_only: bool
) -> tuple[nn.Module, dict[str, Any]]:
    auto = transformers.AutoModelForImageClassification
    try:
        with _quiet(transformers):
            model, info = auto.from_pretrained(
                source, local_files_only=local_only, trust_remote_code=False,
                dtype=torch.float32, output_loading_info=True,
            )
    except ValueError as err:
        msg = first_line(err)
        if "Unrecognized configuration" in str(err) or "Unrecognized model" in str(err):
            raise ModelError(
                f"hf:{label} is not an image classifier transformers knows ({msg}); use a model "
                "made for AutoModelForImageClassification"
            ) from None
        if "trust_remote_code" in str(err):
            raise ModelError(
                f"hf:{label} needs its own remote code, which steerlens never runs; export it to "
                "TorchScript and pass the file"
            ) from None
        raise ModelError(f"transformers could not load hf:{label} ({msg}); check the model") from None
    except OSError:
        raise  # the caller knows whether the network was involved
    except Exception as err:  # noqa: BLE001 - any other failure here is the model's files
        raise ModelError(
            f"transformers could not load hf:{label} ({first_line(err)}); check the folder or id"
        ) from None
    return model.float().eval(), dict(info or {})


def _from_hub(transformers: Any, repo: str) -> tuple[nn.Module, Path | None, bool]:
    """The model from the local cache if it is there, else from the network (checked first)."""
    try:
        model, info = _from_pretrained(transformers, repo, repo, local_only=True)
        _check_head(info, repo)
        return model, _hub_file(repo, "preprocessor_config.json", local_only=True), True
    except OSError:
        pass  # not (fully) cached
    _require_network(repo)
    try:
        model, info = _from_pretrained(transformers, repo, repo, local_only=False)
    except OSError as err:
        if _is_missing_repo(err):
            raise ModelError(
                f"hf:{repo} was not found on the Hugging Face Hub (or is gated); check the id "
                "or log in with huggingface-cli login"
            ) from None
        raise ModelError(
            f"could not download hf:{repo} ({first_line(err)}); check the id and your connection"
        ) from None
    _check_head(info, repo)
    return model, _hub_file(repo, "preprocessor_config.json", local_only=False), False


def _check_head(info: dict[str, Any], label: str) -> None:
    if info.get("missing_keys"):
        missing = sorted(info["missing_keys"])
        raise ModelError(
            f"hf:{label} has no trained classification head (missing {', '.join(missing[:3])}); "
            "use a checkpoint fine-tuned for image classification"
        )


def _offline_message(repo: str) -> str:
    return (
        f"hf:{repo} is not in the local Hugging Face cache and the network is unreachable; "
        "download it on a machine with internet or pass a local folder"
    )


def _require_network(repo: str) -> None:
    """Fail at once, in one line, when the hub cannot be reached (offline mode or no route)."""
    import huggingface_hub.constants as hub

    offline = getattr(hub, "HF_HUB_OFFLINE", False) or os.environ.get(
        "HF_HUB_OFFLINE", ""
    ).strip().lower() in ("1", "true", "yes", "on")
    if offline:
        raise ModelError(_offline_message(repo))
    url = urlparse(getattr(hub, "ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=5):
            pass
    except OSError:
        raise ModelError(_offline_message(repo)) from None


def _is_missing_repo(err: BaseException) -> bool:
    text = f"{type(err).__name__} {err}".lower()
    return any(k in text for k in ("repositorynotfound", "not a valid model identifier",
                                   "gated", "401", "404"))


def _hub_file(repo: str, filename: str, *, local_only: bool) -> Path | None:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, filename, local_files_only=local_only))
    except Exception:  # noqa: BLE001 - absent file: the caller says what is missing
        return None


def _read_json(path: Path | None, label: str) -> dict[str, Any]:
    if path is None or not path.is_file():
        raise ModelError(
            f"hf:{label} has no preprocessor_config.json; add one with size, image_mean, "
            "image_std and resample (as save_pretrained of its image processor writes)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(
            f"cannot read {path} ({first_line(err)}); it must be the image processor's JSON"
        ) from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a JSON object; it must be the image processor's JSON")
    return data


# ----------------------------------------------------------------------------- preprocessing
def _input_size(cfg: dict[str, Any], image_size: Any, where: str) -> tuple[int, int]:
    crop = cfg.get("crop_size")
    if cfg.get("do_center_crop") and crop is not None:
        got = _as_hw(crop)
        if got:
            return got
    got = _as_hw(cfg.get("size"))
    if got:
        return got
    got = _as_hw(image_size)
    if got:
        return got
    raise ModelError(
        f"cannot tell the input size of {where}: its preprocessor_config.json has no usable "
        "size; set size to {\"height\": H, \"width\": W}"
    )


def _as_hw(value: Any) -> tuple[int, int] | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return (int(value), int(value))
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        return (int(value[0]), int(value[1]))
    if isinstance(value, dict):
        if "height" in value and "width" in value:
            return (int(value["height"]), int(value["width"]))
        if "shortest_edge" in value:  # ConvNeXt-style: resize (and crop) to a square
            s = int(value["shortest_edge"])
            return (s, s)
    return None


def _per_channel(value: Any, channels: int, where: str) -> tuple[float, ...]:
    vals = [float(value)] if isinstance(value, (int, float)) else [float(v) for v in value]
    if len(vals) == 1:
        vals = vals * channels
    if len(vals) != channels:
        raise ModelError(
            f"the preprocessor_config.json of {where} gives {len(vals)} mean/std values for "
            f"{channels} channels; fix image_mean/image_std"
        )
    return tuple(vals)


def _class_names(config: Any) -> list[str]:
    id2label = getattr(config, "id2label", None) or {}
    n = int(getattr(config, "num_labels", len(id2label)) or len(id2label))
    labels = {int(k): str(v) for k, v in dict(id2label).items()}
    return [labels.get(i, f"class_{i}") for i in range(n)]
