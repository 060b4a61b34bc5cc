"""What ``steerlens batch`` reads: a folder, an ImageFolder, a CSV/JSONL manifest or a built-in dataset.

:func:`read_inputs` turns the command's INPUT into a list of :class:`ImageItem` (one per image, with
its content hash and optional source label and target), without decoding any image: decoding
happens in the workers, so an unreadable image becomes one failed case instead of stopping the run.

Errors in the input itself (no such path, an empty folder, a manifest without an ``image`` column, a
row that cannot be parsed, an unknown class) raise a one-line :class:`~steerlens.errors.ConfigError`
or :class:`~steerlens.errors.TargetError` before any work starts.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from steerlens.errors import ConfigError, TargetError
from steerlens.models.hashing import file_sha256

__all__ = [
    "DATASETS",
    "IMAGE_SUFFIXES",
    "ImageItem",
    "InputSet",
    "file_sha256",
    "load_dataset",
    "read_inputs",
]

#: file endings read as images when INPUT is a folder
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
#: built-in datasets INPUT may name (optionally with ``:train`` or ``:test``; default ``test``)
DATASETS = ("mnist", "fashion-mnist")
_MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson")


@dataclass(frozen=True)
class ImageItem:
    """One input image, not yet decoded.

    Attributes
    ----------
    ref
        How a worker finds the pixels: an absolute file path, or ``"mnist:test:12"`` for a dataset.
    name
        What the table shows: the path relative to the input folder or as written in the manifest.
    sha256
        SHA-256 of the file's bytes (of the float32 pixels for dataset images). A missing file gets
        the hash of its path, and ``error`` says why.
    label
        Source class name given by the input (ImageFolder sub-folder, manifest ``source``, dataset
        label), or ``None``.
    target
        Target class given by a manifest's ``target`` column, or ``None``.
    error
        Why this image cannot be used (e.g. the file is missing); the case is recorded as failed.
    """

    ref: str
    name: str
    sha256: str
    label: str | None = None
    target: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class InputSet:
    """The images of one INPUT and what kind of input it was.

    Attributes
    ----------
    kind
        ``folder``, ``imagefolder``, ``manifest`` or ``dataset``.
    items
        The images, in a fixed order (sorted by name).
    source
        INPUT as given.
    """

    kind: str
    items: list[ImageItem]
    source: str


def read_inputs(
    source: str | Path,
    class_names: Sequence[str],
    layout: str = "auto",
    limit: int | None = None,
    exclude: Path | None = None,
) -> InputSet:
    """Read INPUT into an :class:`InputSet`.

    Parameters
    ----------
    source
        A folder (searched recursively), a ``.csv``/``.jsonl`` manifest with an ``image`` column and
        optional ``target`` and ``source`` columns, or a built-in dataset name (:data:`DATASETS`,
        optionally ``NAME:train``/``NAME:test``).
    class_names
        The driver model's classes; ImageFolder sub-folders, manifest targets and labels must name
        one of them (names or indices, as for ``--target``).
    layout
        For folders: ``auto`` (an ImageFolder when every image lies in a sub-folder named after a
        class of the model), ``folder`` or ``imagefolder``.
    limit
        Keep only the first ``limit`` images (after sorting).
    exclude
        A folder whose contents are never read as input (the ``--out`` folder).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for cls in ("3", "8"):
    ...     (root / cls).mkdir()
    ...     Image.fromarray(np.zeros((28, 28), np.uint8)).save(root / cls / "a.png")
    >>> s = read_inputs(root, [str(i) for i in range(10)])
    >>> s.kind, [(i.name, i.label) for i in s.items]
    ('imagefolder', [('3/a.png', '3'), ('8/a.png', '8')])
    """
    if layout not in ("auto", "folder", "imagefolder"):
        raise ConfigError(f"--layout must be auto, folder or imagefolder, got {layout!r}")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    text = str(source)
    path = Path(text).expanduser()
    if path.is_dir():
        kind, items = _read_folder(path, class_names, layout, exclude)
    elif path.is_file():
        if path.suffix.lower() not in _MANIFEST_SUFFIXES:
            raise ConfigError(
                f"INPUT {path} is a file but not a manifest; give a folder of images or a "
                ".csv/.jsonl manifest with an 'image' column"
            )
        kind, items = "manifest", _read_manifest(path, class_names)
    elif text.split(":")[0].lower() in DATASETS:
        kind, items = "dataset", _read_dataset(text, limit)
    else:
        raise ConfigError(
            f"INPUT {text} does not exist; give a folder of images, a .csv/.jsonl manifest or a "
            f"built-in dataset ({', '.join(DATASETS)})"
        )
    if limit is not None:
        items = items[:limit]
    return InputSet(kind=kind, items=items, source=text)


# ----------------------------------------------------------------------------- folders
def _image_files(root: Path, exclude: Path | None) -> list[Path]:
    """Image files below ``root``; hidden folders (``.git``, ``.venv``...) and ``exclude`` are not entered."""
    skip = exclude.resolve() if exclude is not None else None
    files = []
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
        files += [here / n for n in names
                  if not n.startswith(".") and n.lower().endswith(IMAGE_SUFFIXES)]
    return sorted((f for f in files if f.is_file()), key=lambda q: q.relative_to(root).as_posix())


def _read_folder(
    root: Path, class_names: Sequence[str], layout: str, exclude: Path | None
) -> tuple[str, list[ImageItem]]:
    files = _image_files(root, exclude)
    if not files:
        raise ConfigError(
            f"no images found in {root} (looked recursively for "
            f"{', '.join(s[1:] for s in IMAGE_SUFFIXES[:4])}, ...); check the folder"
        )
    rels = [f.relative_to(root) for f in files]
    nested = all(len(r.parts) == 2 for r in rels)
    labels: dict[str, str] = {}
    if layout == "imagefolder":
        if not nested:
            flat = next(r for r in rels if len(r.parts) != 2)
            raise ConfigError(
                f"--layout imagefolder needs every image in a class sub-folder of {root}, but "
                f"{flat.as_posix()} is not; move it or use --layout folder"
            )
        labels = {d: _class_label(d, class_names, f"sub-folder {d!r}") for d in {r.parts[0] for r in rels}}
    elif layout == "auto" and nested:
        try:
            labels = {d: _class_label(d, class_names, d) for d in {r.parts[0] for r in rels}}
        except TargetError:
            labels = {}
    kind = "imagefolder" if labels else "folder"
    items = []
    for f, r in zip(files, rels, strict=True):
        items.append(_file_item(f, r.as_posix(), labels.get(r.parts[0]) if labels else None, None))
    return kind, items


def _class_label(text: str, class_names: Sequence[str], what: str) -> str:
    from steerlens.targets import resolve_target

    try:
        return class_names[resolve_target(text, class_names)]
    except TargetError as e:
        raise TargetError(f"{what}: {e}") from None


def _file_item(path: Path, name: str, label: str | None, target: str | None) -> ImageItem:
    ref = str(path.resolve())
    try:
        digest = file_sha256(path)
    except FileNotFoundError:
        return ImageItem(ref, name, _text_sha(ref), label, target, f"image {name} does not exist")
    except IsADirectoryError:
        return ImageItem(ref, name, _text_sha(ref), label, target, f"image {name} is a folder")
    except OSError as e:
        reason = e.strerror or type(e).__name__
        return ImageItem(ref, name, _text_sha(ref), label, target, f"cannot read {name}: {reason}")
    return ImageItem(ref, name, digest, label, target)


def _text_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------------- manifests
def _read_manifest(path: Path, class_names: Sequence[str]) -> list[ImageItem]:
    rows = _manifest_rows(path)
    if not rows:
        raise ConfigError(f"manifest {path} has no rows; add one row per image")
    base = path.parent
    items = []
    for line, row in rows:
        image = row.get("image")
        if image is None or not str(image).strip():
            raise ConfigError(f"manifest {path} line {line} has no image path; fill it in or remove the row")
        label = _cell(row.get("source"))
        target = _cell(row.get("target"))
        where = f"manifest {path} line {line}"
        if label is not None:
            label = _class_label(label, class_names, f"{where} source")
        if target is not None:
            target = class_names[_resolve(target, class_names, f"{where} target")]
        p = Path(str(image).strip()).expanduser()
        items.append(_file_item(p if p.is_absolute() else base / p, str(image).strip(), label, target))
    return sorted(items, key=lambda i: (i.name, i.label or "", i.target or ""))


def _resolve(text: str, class_names: Sequence[str], what: str) -> int:
    from steerlens.targets import resolve_target

    try:
        return resolve_target(text, class_names)
    except TargetError as e:
        raise TargetError(f"{what}: {e}") from None


def _cell(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _manifest_rows(path: Path) -> list[tuple[int, dict]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"manifest {path} is not UTF-8 text; save it as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"cannot read manifest {path}: {e.strerror}; check the file") from None
    if path.suffix.lower() == ".csv":
        return _csv_rows(path, text)
    rows = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ConfigError(
                f"manifest {path} line {n} is not valid JSON ({e.msg}); fix or remove that line"
            ) from None
        if not isinstance(row, dict):
            raise ConfigError(f"manifest {path} line {n} is not a JSON object like {{\"image\": \"a.png\"}}")
        if "image" not in row:
            raise ConfigError(
                f"manifest {path} line {n} has no 'image' field (fields: {', '.join(row) or 'none'}); "
                "add the image path"
            )
        rows.append((n, row))
    return rows


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in (reader.fieldnames or [])]
    if "image" not in columns:
        raise ConfigError(
            f"manifest {path} has no 'image' column (columns: {', '.join(columns) or 'none'}); "
            "add a header line with image and optional target, source"
        )
    rows = []
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            given = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None) or [])
            raise ConfigError(
                f"manifest {path} line {reader.line_num} has {given} fields, the header has "
                f"{len(columns)}; fix that line"
            )
        rows.append((reader.line_num, {(k or "").strip(): v for k, v in row.items()}))
    return rows


# ----------------------------------------------------------------------------- datasets
def _dataset_name(text: str) -> tuple[str, str]:
    name, _, part = text.lower().partition(":")
    part = part or "test"
    if part not in ("train", "test"):
        raise ConfigError(f"dataset split must be train or test, got {text!r} (e.g. mnist:test)")
    return name, part


def load_dataset(text: str):
    """The built-in dataset ``text`` names (``mnist``, ``fashion-mnist:train``...) as a ``Split``.

    Examples
    --------
    >>> load_dataset("mnist").x_test.shape
    torch.Size([1000, 1, 28, 28])
    """
    name, _ = _dataset_name(text)
    if name == "mnist":
        from steerlens.data.mnist import load_mnist

        return load_mnist()
    from steerlens.data.fashion_mnist import load_fashion_mnist

    return load_fashion_mnist()


def _read_dataset(text: str, limit: int | None) -> list[ImageItem]:
    name, part = _dataset_name(text)
    split = load_dataset(text)
    x = split.x_test if part == "test" else split.x_train
    y = split.y_test if part == "test" else split.y_train
    n = len(y) if limit is None else min(limit, len(y))
    width = len(str(len(y) - 1))
    items = []
    for i in range(n):
        digest = hashlib.sha256(x[i].contiguous().numpy().tobytes()).hexdigest()
        items.append(
            ImageItem(
                ref=f"{name}:{part}:{i}",
                name=f"{name}/{part}/{i:0{width}d}",
                sha256=digest,
                label=split.class_names[int(y[i])],
            )
        )
    return items
