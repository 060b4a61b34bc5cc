"""What ``steerlens batch`` reads: a folder, an ImageFolder, a CSV/JSONL manifest or a built-in dataset.

:func:`read_inputs` turns the command's INPUT into a list of :class:`ImageItem` (one per image, with
its content hash and optional source label and target), without decoding any image: decoding
happens in the workers, so an unreadable image becomes one failed case instead of stopping the run.

Errors in the input itself (no such path, an empty folder, a manifest without an ``image`` column, a
row that cannot be parsed, a NUL byte in a path, an unknown class, a manifest that is a FIFO or a
device) raise a one-line :class:`~steerlens.errors.ConfigError` or
:class:`~steerlens.errors.TargetError` before any work starts.

Nothing that is not a regular file is ever opened: an image path naming a FIFO, a device, a socket
(or a link to one) becomes a failed case with the reason, decided from ``stat`` and checked again
with ``fstat`` on a non-blocking descriptor, so a file swapped for a FIFO in between cannot block.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from steerlens.errors import ConfigError, TargetError
from steerlens.models.hashing import file_sha256
from steerlens.runs.datasets import IMAGE_DATASETS, dataset_split, parse_dataset_ref
from steerlens.runs.files import NotRegular as _NotRegular
from steerlens.runs.files import file_kind as _kind
from steerlens.runs.files import printable, read_regular

if TYPE_CHECKING:
    from steerlens.data.mnist import Split

__all__ = [
    "DATASETS",
    "IMAGE_SUFFIXES",
    "ImageItem",
    "InputSet",
    "file_sha256",
    "load_dataset",
    "printable",
    "read_inputs",
    "stratified",
]

#: file endings read as images when INPUT is a folder
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
#: built-in datasets INPUT may name (optionally with ``:train`` or ``:test``; default ``test``)
DATASETS = IMAGE_DATASETS
_MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson")
#: largest manifest read (bytes); about four million rows of short paths
MAX_MANIFEST_BYTES = 256 << 20
#: largest image file hashed (bytes); the worker's pixel limit refuses far smaller images anyway
MAX_IMAGE_BYTES = 1 << 30


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
    selection
        How ``limit`` chose the images, in words (``""`` when every image was kept), e.g.
        ``"50 of 1000, 5 per class (stratified, seed 0)"``.
    """

    kind: str
    items: list[ImageItem]
    source: str
    selection: str = ""


def read_inputs(
    source: str | Path,
    class_names: Sequence[str],
    layout: str = "auto",
    limit: int | None = None,
    exclude: Path | None = None,
    seed: int = 0,
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
        Keep ``limit`` images. Where every image has a label (built-in datasets, ImageFolders, a
        manifest with a ``source`` on every row) they are spread over the labels
        (:func:`stratified`); otherwise the first ``limit`` by name are kept.
    exclude
        A folder whose contents are never read as input (the ``--out`` folder).
    seed
        Seed of the stratified choice.

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
    if "\0" in text:
        raise ConfigError(f"INPUT {printable(text)} contains a NUL byte; give a real path")
    path = Path(text).expanduser()
    mode = _mode(path)
    if mode is not None and stat.S_ISDIR(mode):
        kind, items = _read_folder(path, class_names, layout, exclude)
    elif mode is not None and stat.S_ISREG(mode):
        if path.suffix.lower() not in _MANIFEST_SUFFIXES:
            raise ConfigError(
                f"INPUT {printable(path)} is a file but not a manifest; give a folder of images or a "
                ".csv/.jsonl manifest with an 'image' column"
            )
        kind, items = "manifest", _read_manifest(path, class_names)
    elif mode is not None:
        raise ConfigError(
            f"INPUT {printable(path)} is {_kind(mode)}, not a folder or a manifest; give a folder "
            "of images or a .csv/.jsonl manifest"
        )
    elif text.split(":")[0].lower() in DATASETS:
        items, selection = _read_dataset(text, limit, seed)
        return InputSet("dataset", items, text, selection)
    else:
        raise ConfigError(
            f"INPUT {printable(text)} does not exist; give a folder of images, a .csv/.jsonl "
            f"manifest or a built-in dataset ({', '.join(DATASETS)})"
        )
    selection = ""
    if limit is not None and limit < len(items):
        total = len(items)
        if all(i.label is not None for i in items):
            items = [items[i] for i in stratified([str(i.label) for i in items], limit, seed)]
            selection = _describe(items, total, limit, seed)
        else:
            items = items[:limit]
            selection = f"the first {limit} of {total} by name (no labels to stratify by)"
    return InputSet(kind=kind, items=items, source=text, selection=selection)


def stratified(labels: Sequence[str], limit: int, seed: int = 0) -> list[int]:
    """Indices of ``limit`` items spread as evenly as possible over their labels.

    Each label's items are shuffled by a generator seeded with ``seed`` and the labels take turns
    (in a seeded order), so every label gets ``limit // n_labels`` items or one more, until a label
    runs out. The same labels and seed always give the same indices, returned in ascending order.

    Parameters
    ----------
    labels
        One label per item.
    limit
        How many to take (all of them if ``limit >= len(labels)``).
    seed
        Seed of the shuffles.

    Examples
    --------
    >>> labels = ["0"] * 6 + ["1"] * 3 + ["2"] * 1
    >>> picked = stratified(labels, 5)
    >>> sorted(Counter(labels[i] for i in picked).items())
    [('0', 2), ('1', 2), ('2', 1)]
    >>> picked == stratified(labels, 5)
    True
    """
    if limit >= len(labels):
        return list(range(len(labels)))
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    names = sorted(groups)
    queues = [[groups[n][j] for j in rng.permutation(len(groups[n]))] for n in names]
    turn = [queues[j] for j in rng.permutation(len(queues))]
    picked: list[int] = []
    depth = 0
    while len(picked) < limit:
        for q in turn:
            if depth < len(q) and len(picked) < limit:
                picked.append(int(q[depth]))
        depth += 1
    return sorted(picked)


def _describe(items: Sequence[ImageItem], total: int, limit: int | None, seed: int) -> str:
    """``"50 of 1000, 5 per class (stratified, seed 0)"``: what a stratified ``limit`` took."""
    if limit is None or limit >= total:
        return ""
    counts = Counter(str(i.label) for i in items)
    lo, hi = min(counts.values()), max(counts.values())
    spread = f"{lo} per class" if lo == hi else f"{lo}-{hi} per class"
    return f"{len(items)} of {total}, {spread} over {len(counts)} classes (stratified, seed {seed})"


def _mode(path: Path) -> int | None:
    """``st_mode`` of ``path`` (links followed), or ``None`` when nothing usable is there."""
    try:
        return os.stat(path).st_mode
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------------- folders
def _image_files(root: Path, exclude: Path | None) -> list[Path]:
    """Entries below ``root`` named like images; hidden folders (``.git``, ``.venv``...) and
    ``exclude`` are not entered. FIFOs, devices, sockets and dangling links named like images are
    kept (never opened here): they become failed cases that say what they are."""
    skip = exclude.resolve() if exclude is not None else None
    files = []
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
        files += [here / n for n in names
                  if not n.startswith(".") and n.lower().endswith(IMAGE_SUFFIXES)]
    return sorted(files, key=lambda q: q.relative_to(root).as_posix())


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
    """The item for one image path: hashed if it is a readable regular file, else failed with why.

    A FIFO, a device or a socket (or a link to one) is never opened for reading: ``stat`` says
    what it is, and the non-blocking open in :func:`read_regular` catches a swap in between.
    """
    ref = os.path.realpath(path)  # never raises, also on a link loop
    shown = printable(name)

    def failed(reason: str) -> ImageItem:
        # keyed by the path as named, so a link to a FIFO and the FIFO are two failed rows
        key = ref if reason == "does not exist" else os.path.abspath(path)
        return ImageItem(ref, name, _text_sha(key), label, target, f"image {shown} {reason}")

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return failed("does not exist")
    except OSError as e:  # a link loop, no permission on a folder, a name too long
        return failed(f"cannot be read: {e.strerror or type(e).__name__}")
    except ValueError:
        return failed("has a NUL byte in its path")
    if stat.S_ISDIR(mode):
        return failed("is a folder")
    if not stat.S_ISREG(mode):
        return failed(f"is {_kind(mode)}, not a regular file; it was not opened")
    h = hashlib.sha256()
    try:
        read_regular(path, MAX_IMAGE_BYTES, h.update)
    except _NotRegular as e:
        return failed(f"{e}; it was not read")
    except FileNotFoundError:
        return failed("does not exist")
    except OSError as e:
        return failed(f"cannot be read: {e.strerror or type(e).__name__}")
    return ImageItem(ref, name, h.hexdigest(), label, target)


def _text_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------------- manifests
def _read_manifest(path: Path, class_names: Sequence[str]) -> list[ImageItem]:
    rows = _manifest_rows(path)
    shown = printable(path)
    if not rows:
        raise ConfigError(f"manifest {shown} has no rows; add one row per image")
    base = path.parent
    items = []
    for line, row in rows:
        where = f"manifest {shown} line {line}"
        image = row.get("image")
        if image is None or not str(image).strip():
            raise ConfigError(f"{where} has no image path; fill it in or remove the row")
        if not isinstance(image, str):
            raise ConfigError(f"{where}: image must be a path in quotes, got {printable(image)[:80]}")
        if "\0" in image:
            raise ConfigError(f"{where}: the image path holds a NUL byte; fix that line")
        label = _cell(row.get("source"))
        target = _cell(row.get("target"))
        if label is not None:
            label = _class_label(label, class_names, f"{where} source")
        if target is not None:
            target = class_names[_resolve(target, class_names, f"{where} target")]
        p = Path(image.strip()).expanduser()
        items.append(_file_item(p if p.is_absolute() else base / p, image.strip(), label, target))
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
    shown = printable(path)
    try:
        text = read_regular(path, MAX_MANIFEST_BYTES).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"manifest {shown} is not UTF-8 text; save it as UTF-8") from None
    except _NotRegular as e:
        raise ConfigError(f"manifest {shown} {e}; give a .csv/.jsonl file") from None
    except OSError as e:
        raise ConfigError(f"cannot read manifest {shown}: {e.strerror}; check the file") from None
    if path.suffix.lower() == ".csv":
        return _csv_rows(path, text)
    rows = []
    # JSON Lines are separated by \n only (str.splitlines would also split at U+2028 inside strings)
    for n, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ConfigError(
                f"manifest {shown} line {n} is not valid JSON ({e.msg}); fix or remove that line"
            ) from None
        except RecursionError:
            raise ConfigError(f"manifest {shown} line {n} is nested too deeply; fix or remove that line") from None
        if not isinstance(row, dict):
            raise ConfigError(f"manifest {shown} line {n} is not a JSON object like {{\"image\": \"a.png\"}}")
        if "image" not in row:
            fields = printable(", ".join(map(str, row)))[:200] or "none"
            raise ConfigError(
                f"manifest {shown} line {n} has no 'image' field (fields: {fields}); add the image path"
            )
        rows.append((n, row))
    return rows


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    shown = printable(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    try:
        columns = [c.strip() for c in (reader.fieldnames or [])]
        if "image" not in columns:
            listed = printable(", ".join(columns))[:200] or "none"
            raise ConfigError(
                f"manifest {shown} has no 'image' column (columns: {listed}); add a header line with "
                "image and optional target, source"
            )
        for row in reader:
            if None in row or any(v is None for v in row.values()):
                given = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None) or [])
                raise ConfigError(
                    f"manifest {shown} line {reader.line_num} has {given} fields, the header has "
                    f"{len(columns)}; fix that line"
                )
            rows.append((reader.line_num, {(k or "").strip(): v for k, v in row.items()}))
    except csv.Error as e:
        raise ConfigError(f"manifest {shown} line {reader.line_num + 1} is not valid CSV ({e}); fix that line") from None
    return rows


# ----------------------------------------------------------------------------- datasets
def load_dataset(text: str) -> Split:
    """The built-in dataset ``text`` names (``mnist``, ``fashion-mnist:train``...) as a ``Split``,
    from the one dataset registry (:func:`steerlens.runs.datasets.dataset_split`).

    Examples
    --------
    >>> load_dataset("mnist").x_test.shape
    torch.Size([1000, 1, 28, 28])
    """
    name, _ = parse_dataset_ref(text)
    return dataset_split(name)


def _read_dataset(text: str, limit: int | None, seed: int) -> tuple[list[ImageItem], str]:
    """The dataset's images (all, or ``limit`` stratified by label) and what was taken, in words."""
    name, part = parse_dataset_ref(text)
    split = load_dataset(text)
    x = split.x_test if part == "test" else split.x_train
    y = split.y_test if part == "test" else split.y_train
    labels = [split.class_names[int(v)] for v in y.tolist()]
    chosen = range(len(labels)) if limit is None else stratified(labels, limit, seed)
    width = len(str(len(y) - 1))
    items = []
    for i in chosen:
        digest = hashlib.sha256(x[i].contiguous().numpy().tobytes()).hexdigest()
        items.append(
            ImageItem(
                ref=f"{name}:{part}:{i}",
                name=f"{name}/{part}/{i:0{width}d}",
                sha256=digest,
                label=labels[i],
            )
        )
    return items, _describe(items, len(labels), limit, seed)
