"""Read one saved morph folder for the report and the app, checking what it holds.

A folder holds ``result.json`` (the manifest) and its images: ``frames.npz``, else ``source.png``
and ``final.png`` (a batch with ``--artefacts final``), else ``morph.gif``. Every file is read
through a :class:`~steerlens.web.confine.Confined` reader, and what it holds is checked (types,
finite numbers, shapes) so that a damaged folder gets one line that names the file, never a
traceback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from steerlens.errors import ConfigError
from steerlens.web.confine import IMAGE_MAX_PIXELS, NPZ_MEMBER_MAX_BYTES, Confined

#: Per-frame numbers of ``result.json`` the views read (each a finite number where present).
FRAME_NUMBERS = ("amplification", "p_target", "p_source", "l2", "max_abs_dphi", "frac_wrapped")
#: Settings the views read as numbers.
SETTING_NUMBERS = ("matched_l2_budget", "l2_budget")


@dataclass
class SavedFrames:
    """The images of a saved morph, the frame each shows, and the last frame's displacement."""

    images: np.ndarray  # (N, H, W, C) uint8 or float in [0, 1]
    index: list[int] | None  # None: every frame, in order
    displacement: np.ndarray | None = None  # (2, H, W) pixels


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_manifest(manifest: Any, path: Path | str) -> dict[str, Any]:
    """``manifest`` if it has the shape of a ``result.json``, else ``ConfigError`` naming ``path``.

    Examples
    --------
    >>> check_manifest({"frames": [{"p_target": 0.5}]}, "result.json")["frames"]
    [{'p_target': 0.5}]
    >>> check_manifest({"frames": [{"p_target": "high"}]}, "result.json")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: result.json: frame 0's p_target is 'high', not a finite number; re-run the morph
    """

    def bad(what: str) -> ConfigError:
        return ConfigError(f"{path}: {what}; re-run the morph")

    if not isinstance(manifest, dict):
        raise bad(f"holds a {type(manifest).__name__}, not a result object")
    frames = manifest.get("frames")
    if not isinstance(frames, list) or not frames:
        raise bad("has no list of frames")
    for k, frame in enumerate(frames):
        if not isinstance(frame, dict):
            raise bad(f"frame {k} is a {type(frame).__name__}, not an object")
        for key in FRAME_NUMBERS:
            if key in frame and not _is_number(frame[key]):
                raise bad(f"frame {k}'s {key} is {frame[key]!r:.40}, not a finite number")
        if frame.get("phase_explained") is not None and not _is_number(frame["phase_explained"]):
            raise bad(f"frame {k}'s phase_explained is not a finite number")
        if isinstance(frame.get("top1_name"), (dict, list)):
            raise bad(f"frame {k}'s top1_name is not a name")
    for key in ("model", "settings"):
        if manifest.get(key) is not None and not isinstance(manifest[key], dict):
            raise bad(f"{key} is a {type(manifest[key]).__name__}, not an object")
    model = manifest.get("model") or {}
    if "class_names" in model and model["class_names"] is None:  # as good as absent
        manifest = manifest | {"model": {k: v for k, v in model.items() if k != "class_names"}}
    elif "class_names" in model and not isinstance(model["class_names"], list):
        raise bad("model.class_names is not a list of names")
    for key in SETTING_NUMBERS:
        value = (manifest.get("settings") or {}).get(key)
        if value is not None and not _is_number(value):
            raise bad(f"settings.{key} is {value!r:.40}, not a finite number")
    if "succeeded" in manifest and not isinstance(manifest["succeeded"], bool):
        raise bad("succeeded is not true or false")
    return manifest


def read_manifest(folder: Path, reader: Confined | None = None) -> dict[str, Any]:
    """``result.json`` of a saved morph, read through ``reader`` and checked."""
    reader = reader or Confined([folder])
    path = folder / "result.json"
    return check_manifest(reader.read_json(path), path)


def check_frames(images: np.ndarray, path: Path | str) -> np.ndarray:
    """``images`` as ``(K, H, W, C)`` (C in 1, 3; uint8, or finite floats) else ``ConfigError``.

    Examples
    --------
    >>> check_frames(np.zeros((2, 4, 4), np.uint8), "frames.npz").shape
    (2, 4, 4, 1)
    >>> check_frames(np.full((2, 4, 4, 3), np.nan, np.float32), "frames.npz")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: frames.npz: the frames are not finite numbers; re-run the morph
    """
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[3] not in (1, 3) or 0 in images.shape:
        raise ConfigError(f"{path}: the frames are {images.shape}, not (frames, height, width, "
                          "1 or 3 channels); re-run the morph")
    if images.shape[1] * images.shape[2] > IMAGE_MAX_PIXELS:
        raise ConfigError(f"{path}: the frames are {images.shape[2]}x{images.shape[1]} pixels, more "
                          f"than the report shows ({IMAGE_MAX_PIXELS / 1e6:.0f} megapixels)")
    if images.dtype != np.uint8:
        if images.dtype.kind != "f":
            raise ConfigError(f"{path}: the frames are {images.dtype}, not uint8 or float; re-run the morph")
        if not np.isfinite(images).all():
            raise ConfigError(f"{path}: the frames are not finite numbers; re-run the morph")
    return images


def read_frames(folder: Path, n_scores: int, reader: Confined | None = None) -> SavedFrames:
    """Saved images of a morph, from ``frames.npz``; else ``source.png`` + ``final.png`` (a batch
    with ``--artefacts final``: frames 0 and K-1); else the frames of ``morph.gif`` (with their
    caption strip)."""
    reader = reader or Confined([folder])
    npz = folder / "frames.npz"
    if reader.exists(npz):
        data = reader.read_npz(npz, ["frames_uint8", "displacement"])
        if "frames_uint8" not in data:
            data |= reader.read_npz(npz, ["frames_float32"])
        images = data.get("frames_uint8", data.get("frames_float32"))
        if images is None:
            raise ConfigError(f"{npz} holds neither frames_uint8 nor frames_float32; re-run the morph")
        field = data.get("displacement")
        if field is not None and (field.ndim != 3 or field.shape[0] != 2 or field.dtype.kind != "f"
                                  or not np.isfinite(field).all()):
            raise ConfigError(f"{npz}: the displacement is not a finite (2, H, W) field; re-run the morph")
        return SavedFrames(check_frames(images, npz), None, field)
    if reader.exists(folder / "source.png") and reader.exists(folder / "final.png"):
        pair = []
        for name in ("source.png", "final.png"):
            img = reader.read_image(folder / name, "PNG")
            arr = np.asarray(img.convert("L" if img.mode in ("L", "I", "I;16", "1") else "RGB"))
            pair.append(arr[..., None] if arr.ndim == 2 else arr)
        if pair[0].shape != pair[1].shape:
            raise ConfigError(f"{folder}: source.png is {pair[0].shape[1::-1]} but final.png is "
                              f"{pair[1].shape[1::-1]}; re-run the batch")
        return SavedFrames(np.stack(pair), [0, max(n_scores - 1, 0)])
    gif = folder / "morph.gif"
    if reader.exists(gif):
        return SavedFrames(_gif_frames(reader, gif), None)
    raise ConfigError(
        f"{folder} has result.json but no frames.npz, final.png or morph.gif; re-run the morph"
    )


def _gif_frames(reader: Confined, path: Path) -> np.ndarray:
    """Every frame of a GIF as ``(K, H, W, 3)`` uint8, at most :data:`NPZ_MEMBER_MAX_BYTES`."""
    img = reader.read_image(path, "GIF")
    per_frame = img.width * img.height * 3
    frames = []
    try:
        for k in range(getattr(img, "n_frames", 1)):
            if (k + 1) * per_frame > NPZ_MEMBER_MAX_BYTES:
                raise ConfigError(f"{path} has more frames than the report decodes; "
                                  "make the report from frames.npz")
            img.seek(k)
            frames.append(np.asarray(img.convert("RGB")))
    except (OSError, ValueError, EOFError) as e:
        raise ConfigError(f"{path} is not a readable GIF ({str(e)[:80]}); re-run the morph") from None
    return np.stack(frames)
