"""``steerlens report`` on folders someone else prepared: it reads only what it was given.

Every case starts from real result folders written by the real CLI and API (a morph, a compare,
a batch), then damages one thing: a link or a named path that leaves the folder, a special file, a
file too large, a file that is not what its name says, a damaged JSON / npz / CSV. Each must give
exactly one line on stderr, exit 2 and write no file. Cases with FIFOs run in a subprocess with a
timeout, so a hang fails the test instead of stopping the suite. Long morphs must render
(the frame sprite is tiled).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("jinja2")

from steerlens.cli import main, write_comparison
from steerlens.outputs import write_json
from steerlens.web.encode import SPRITE_MAX_PIXELS, SPRITE_MAX_SIDE, sprite_layout

SECRET = "steerlens-secret-4f1d"


# ----------------------------------------------------------------------------- real folders
@pytest.fixture(scope="module")
def model():
    import steerlens

    return steerlens.load_model("mnist-cnn", progress=False)


@pytest.fixture(scope="module")
def pristine(model, tmp_path_factory) -> dict[str, Path]:
    """A morph, a compare and a ``batch --artefacts final`` folder, as the real commands write them."""
    import steerlens
    from steerlens.batch import run_batch
    from steerlens.config import MorphConfig
    from steerlens.demo import demo_image

    root = tmp_path_factory.mktemp("pristine")
    x = demo_image("mnist:3", model)
    steerlens.morph(model, x, "8", method="csp-phase", frames=4).save(root / "morph")
    write_comparison(steerlens.compare(model, x, "8", methods=("pixel", "csp-phase"), frames=4),
                     root / "compare")
    run_batch("mnist", "mnist-cnn", root / "batch", methods=("pixel",), limit=2,
              config=MorphConfig(frames=3), artefacts="final", progress=False,
              echo=lambda s: None, threads=1)
    return {name: root / name for name in ("morph", "compare", "batch")}


@pytest.fixture
def work(pristine, tmp_path) -> dict[str, Path]:
    """Fresh copies of the real folders to damage under ``in`` (the tree), an ``outside`` folder
    with a secret and a morph, an empty ``exp`` folder, and an empty ``o`` folder for the report."""
    tree = tmp_path / "in"
    out = {name: Path(shutil.copytree(p, tree / name, symlinks=True)) for name, p in pristine.items()}
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    shutil.copytree(pristine["morph"], outside / "morph")
    for name in ("o", "exp"):
        (tmp_path / name).mkdir()
    return out | {"tree": tree, "outside": outside, "o": tmp_path / "o", "exp": tmp_path / "exp"}


def _case_dir(batch: Path) -> Path:
    rows = list(csv.DictReader((batch / "results.csv").open()))
    return batch / rows[0]["artefact_dir"]


def refused(work: dict[str, Path], folder: Path, capsys, match: str) -> str:
    """Run the report on ``folder``: exit 2, one stderr line matching ``match``, no file."""
    out = work["o"] / "report.html"
    code = main(["report", str(folder), "-o", str(out), "-q"])
    cap = capsys.readouterr()
    assert code == 2, cap.err
    assert cap.err.startswith("error: ") and cap.err.count("\n") == 1, cap.err
    assert re.search(match, cap.err), cap.err
    assert list(work["o"].iterdir()) == []
    return cap.err


def accepted(work: dict[str, Path], folder: Path, capsys) -> str:
    out = work["o"] / "report.html"
    code = main(["report", str(folder), "-o", str(out), "-q"])
    cap = capsys.readouterr()
    assert code == 0 and cap.err == "", cap.err
    return out.read_text()


# ----------------------------------------------------------------------------- paths that leave
def _link(path: Path, target: Path) -> None:
    path.unlink(missing_ok=True)
    path.symlink_to(target)


LEAVING: dict[str, Callable[[dict[str, Path]], Path]] = {
    "result.json -> outside": lambda w: (
        _link(w["morph"] / "result.json", w["outside"] / "morph" / "result.json"), w["morph"])[1],
    "frames.npz -> a valid npz outside": lambda w: (
        _link(w["morph"] / "frames.npz", w["outside"] / "morph" / "frames.npz"), w["morph"])[1],
    "result.json -> /etc/passwd": lambda w: (
        _link(w["morph"] / "result.json", Path("/etc/passwd")), w["morph"])[1],
    "frames.npz -> /dev/zero": lambda w: (
        _link(w["morph"] / "frames.npz", Path("/dev/zero")), w["morph"])[1],
    "compare.json names ../outside/morph": lambda w: (
        (w["compare"] / "compare.json").write_text(json.dumps({"../outside/morph": {}})), w["compare"])[1],
    "compare.json names an absolute path": lambda w: (
        (w["compare"] / "compare.json").write_text(json.dumps({str(w["outside"] / "morph"): {}})),
        w["compare"])[1],
    "compare method folder is a link outside": lambda w: (
        shutil.rmtree(w["compare"] / "pixel"), _link(w["compare"] / "pixel", w["outside"] / "morph"),
        w["compare"])[2],
    "tree: figure *.png -> secret outside": lambda w: (
        _link(w["tree"] / "fig.png", w["outside"] / "secret.txt"), w["tree"])[1],
    "tree: summary *.md -> secret outside": lambda w: (
        _link(w["tree"] / "notes.md", w["outside"] / "secret.txt"), w["tree"])[1],
    "results.csv artefact_dir ../../outside/morph": lambda w: (
        _rewrite_csv(w["batch"], artefact_dir="../outside/morph"), w["batch"])[1],
    "results.csv artefact_dir absolute": lambda w: (
        _rewrite_csv(w["batch"], artefact_dir=str(w["outside"] / "morph")), w["batch"])[1],
    "results.csv -> outside": lambda w: (
        _write_outside_csv(w), w["batch"])[1],
    "summary.md -> secret outside": lambda w: (
        _link(w["batch"] / "summary.md", w["outside"] / "secret.txt"), w["batch"])[1],
    "final.png -> a PNG outside": lambda w: (
        _link(_case_dir(w["batch"]) / "final.png", w["outside"] / "morph" / "filmstrip.png"),
        w["batch"])[1],
    "case folder is a link outside": lambda w: (
        shutil.rmtree(_case_dir(w["batch"])), _link(_case_dir(w["batch"]), w["outside"] / "morph"),
        w["batch"])[2],
    "cases.jsonl -> outside": lambda w: (
        _link(w["exp"] / "cases.jsonl", w["outside"] / "secret.txt"), w["exp"])[1],
    "experiment figures/ -> a folder outside": lambda w: (
        (w["exp"] / "cases.jsonl").write_text(""), _link(w["exp"] / "figures", w["outside"] / "morph"),
        w["exp"])[2],
    "tree: figure *.png -> a real PNG outside": lambda w: (
        _link(w["tree"] / "fig.png", w["outside"] / "morph" / "curves.png"), w["tree"])[1],
}


def _rewrite_csv(batch: Path, **changes: str) -> None:
    path = batch / "results.csv"
    rows = list(csv.DictReader(path.open()))
    rows[0].update(changes)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _write_outside_csv(w: dict[str, Path]) -> None:
    shutil.copy(w["batch"] / "results.csv", w["outside"] / "results.csv")
    _link(w["batch"] / "results.csv", w["outside"] / "results.csv")


@pytest.mark.parametrize("case", list(LEAVING))
def test_paths_that_leave_the_folder_are_refused(case, work, capsys):
    folder = LEAVING[case](work)
    refused(work, folder, capsys, "leads outside")


def test_links_that_stay_inside_are_followed(work, capsys, tmp_path):
    """A link to a folder on the command line is the folder; a link within the folder is read."""
    (tmp_path / "given").symlink_to(work["morph"])
    assert "<section class=\"morph" in accepted(work, tmp_path / "given", capsys)
    (work["morph"] / "renamed.npz").write_bytes((work["morph"] / "frames.npz").read_bytes())
    _link(work["morph"] / "frames.npz", Path("renamed.npz"))
    assert "<section class=\"morph" in accepted(work, work["morph"], capsys)


def test_a_linked_folder_in_a_tree_is_not_followed(work, capsys, tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "elsewhere").symlink_to(work["outside"])
    refused(work, tree, capsys, "holds no saved results")


# ----------------------------------------------------------------------------- special files
def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


SPECIAL: dict[str, Callable[[dict[str, Path]], Path]] = {
    "result.json is a FIFO": lambda w: (_fifo(w["morph"] / "result.json"), w["morph"])[1],
    "frames.npz is a FIFO": lambda w: (_fifo(w["morph"] / "frames.npz"), w["morph"])[1],
    "compare.json is a FIFO": lambda w: (_fifo(w["compare"] / "compare.json"), w["compare"])[1],
    "results.csv is a FIFO": lambda w: (_fifo(w["batch"] / "results.csv"), w["batch"])[1],
    "summary.md is a FIFO": lambda w: (_fifo(w["batch"] / "summary.md"), w["batch"])[1],
    "final.png is a FIFO": lambda w: (_fifo(_case_dir(w["batch"]) / "final.png"), w["batch"])[1],
    "cases.jsonl is a FIFO": lambda w: (_fifo(w["exp"] / "cases.jsonl"), w["exp"])[1],
    "figure in a tree is a FIFO": lambda w: (_fifo(w["tree"] / "fig.png"), w["tree"])[1],
    "result.json in a tree is a FIFO": lambda w: (_fifo(w["morph"] / "result.json"), w["tree"])[1],
}


@pytest.mark.parametrize("case", list(SPECIAL))
def test_fifos_are_refused_without_hanging(case, work):
    """In a subprocess with a timeout: a report that opens the FIFO blocks, and the test fails."""
    folder = SPECIAL[case](work)
    out = work["o"] / "report.html"
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from steerlens.cli import main; sys.exit(main(sys.argv[1:]))",
         "report", str(folder), "-o", str(out), "-q"],
        check=False, capture_output=True, text=True, timeout=120, env=os.environ | {"OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "is a FIFO, not a regular file" in proc.stderr, proc.stderr
    assert list(work["o"].iterdir()) == []


def test_socket_and_device_are_refused_by_kind(work, capsys):
    with socket.socket(socket.AF_UNIX) as s:
        (work["morph"] / "result.json").unlink()
        s.bind(str(work["morph"] / "result.json"))
        refused(work, work["morph"], capsys, "is a socket, not a regular file")
    (work["morph"] / "result.json").unlink()
    try:
        os.mknod(work["morph"] / "result.json", 0o600 | 0o020000, os.makedev(1, 5))  # /dev/zero
    except PermissionError:
        pytest.skip("cannot make a device node here")
    refused(work, work["morph"], capsys, "is a character device, not a regular file")


@pytest.mark.parametrize("name,size", [("result.json", 2**40), ("frames.npz", 2**36),
                                       ("compare.json", 17 * 2**20)])
def test_sparse_and_oversized_files_are_refused_unread(name, size, work, capsys):
    folder = work["compare"] if name == "compare.json" else work["morph"]
    with open(folder / name, "r+b") as f:
        f.truncate(size)  # sparse: no disk, and reading it would exhaust memory
    refused(work, folder, capsys, r"more than the report reads")


# ----------------------------------------------------------------------------- caps and bombs
def _npz_with(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name + ".npy", data)


def _npy_header(shape: tuple[int, ...], descr: str = "|u1") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_npz_bomb_is_refused_from_its_header(work, capsys):
    """1.1 GB of zeros compressed to about 1 MB: refused before any of it is decompressed."""
    path = work["morph"] / "frames.npz"
    shape = (1100, 1000, 1000, 1)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, \
            zf.open("frames_uint8.npy", "w", force_zip64=True) as m:
        m.write(_npy_header(shape))
        chunk = bytes(64 * 2**20)
        for _ in range(int(np.prod(shape)) // len(chunk) + 1):
            m.write(chunk)
    assert path.stat().st_size < 16 * 2**20
    refused(work, work["morph"], capsys, r"frames_uint8.npy is 1049 MB once decompressed")


def test_npz_objects_are_never_unpickled(work, capsys):
    import pickle

    payload = _npy_header((1,), "|O") + pickle.dumps([SECRET])
    _npz_with(work["morph"] / "frames.npz", {"frames_uint8": payload})
    refused(work, work["morph"], capsys, "holds Python objects")


def _png_claiming(width: int, height: int) -> bytes:
    """A small valid PNG whose header is then made to claim ``width`` x ``height``."""
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


def test_image_pixel_cap_is_checked_before_decoding(work, capsys):
    (_case_dir(work["batch"]) / "final.png").write_bytes(_png_claiming(50_000, 50_000))
    refused(work, work["batch"], capsys, r"final.png has more pixels than the report decodes")


def test_deeply_nested_json(work, capsys):
    (work["morph"] / "result.json").write_text("[" * 200_000 + "]" * 200_000)
    refused(work, work["morph"], capsys, r"result.json is not valid JSON")


# ----------------------------------------------------------------------------- images must be images
def test_a_figure_that_is_not_a_png_is_refused(work, capsys):
    (work["tree"] / "fig.png").write_text(SECRET)
    refused(work, work["tree"], capsys, r"fig.png is not a readable PNG image")


def test_a_jpeg_named_png_is_refused(work, capsys):
    Image.new("RGB", (16, 16)).save(work["tree"] / "fig.png", "JPEG")
    refused(work, work["tree"], capsys, r"fig.png is not a readable PNG image")


def test_a_truncated_png_is_refused(work, capsys):
    path = _case_dir(work["batch"]) / "final.png"
    path.write_bytes(path.read_bytes()[:-30])
    refused(work, work["batch"], capsys, r"final.png is not a readable PNG image")


def test_a_gif_named_source_png_is_refused(work, capsys):
    Image.new("L", (28, 28)).save(_case_dir(work["batch"]) / "source.png", "GIF")
    refused(work, work["batch"], capsys, r"source.png is not a readable PNG image")


def test_bytes_appended_to_a_figure_are_not_embedded(work, capsys):
    """A PNG with a file appended after its end decodes; the report carries the pixels only."""
    fig = work["tree"] / "fig.png"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(fig)
    appended = (SECRET * 50).encode()
    fig.write_bytes(fig.read_bytes() + appended)
    html = accepted(work, work["tree"], capsys)
    (uri,) = re.findall(r'data-src="(data:image/png;base64,[^"]+)" alt="fig"', html)
    data = base64.b64decode(uri.split(",", 1)[1])
    assert appended not in data and SECRET not in html
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.arange(64).reshape(8, 8))


# ----------------------------------------------------------------------------- damaged files
def _edit_json(path: Path, edit: Callable[[dict], object]) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _set(d: dict, *keys_value) -> None:
    *keys, last, value = keys_value
    for k in keys:
        d = d[k]
    d[last] = value


RESULT_JSON = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "not valid JSON"),
    "empty": (lambda p: p.write_bytes(b""), "not valid JSON"),
    "not UTF-8": (lambda p: p.write_bytes(b'{"frames": "\xff\xfe"}'), "not UTF-8"),
    "a list": (lambda p: p.write_text("[1, 2]"), "holds a list, not a result object"),
    "no frames": (lambda p: _edit_json(p, lambda d: d.pop("frames")), "has no list of frames"),
    "frames empty": (lambda p: _edit_json(p, lambda d: _set(d, "frames", [])), "has no list of frames"),
    "frames a dict": (lambda p: _edit_json(p, lambda d: _set(d, "frames", {"a": 1})), "has no list of frames"),
    "frame a number": (lambda p: _edit_json(p, lambda d: _set(d, "frames", 1, 7)), "frame 1 is a int"),
    "p_target text": (lambda p: _edit_json(p, lambda d: _set(d, "frames", 0, "p_target", "high")),
                      "p_target is 'high', not a finite number"),
    "p_target NaN": (lambda p: p.write_text(p.read_text().replace('"p_target": 0', '"p_target": NaN', 1)),
                     "NaN is not a JSON number"),
    "l2 Infinity": (lambda p: p.write_text(re.sub(r'"l2": [0-9.e-]+', '"l2": Infinity', p.read_text(), count=1)),
                    "Infinity is not a JSON number"),
    "p_target true": (lambda p: _edit_json(p, lambda d: _set(d, "frames", 0, "p_target", True)),
                      "not a finite number"),
    "top1_name a list": (lambda p: _edit_json(p, lambda d: _set(d, "frames", 0, "top1_name", [1])),
                         "top1_name is not a name"),
    "settings a list": (lambda p: _edit_json(p, lambda d: _set(d, "settings", [1])), "settings is a list"),
    "model a string": (lambda p: _edit_json(p, lambda d: _set(d, "model", "x")), "model is a str"),
    "class_names a number": (lambda p: _edit_json(p, lambda d: _set(d, "model", "class_names", 3)),
                             "model.class_names is not a list"),
    "succeeded text": (lambda p: _edit_json(p, lambda d: _set(d, "succeeded", "yes")), "succeeded is not"),
    "budget text": (lambda p: _edit_json(p, lambda d: _set(d, "settings", "l2_budget", "big")),
                    "settings.l2_budget is 'big'"),
    "more frames than images": (lambda p: _edit_json(p, lambda d: d["frames"].append(d["frames"][-1])),
                                "5 frames but 4 images"),
}


@pytest.mark.parametrize("case", list(RESULT_JSON))
def test_damaged_result_json(case, work, capsys):
    damage, message = RESULT_JSON[case]
    damage(work["morph"] / "result.json")
    refused(work, work["morph"], capsys, re.escape(message))


COMPARE_JSON = {
    "truncated": (lambda p: p.write_text(p.read_text()[:100]), "not valid JSON"),
    "a number": (lambda p: p.write_text("3"), "does not name its methods"),
    "a list of numbers": (lambda p: p.write_text("[1, 2]"), "does not name its methods"),
    "an empty name": (lambda p: p.write_text('{"": {}}'), "does not name its methods"),
    "names no folder": (lambda p: p.write_text('{"nothing-here": {}}'), "names no method folder"),
    "matched budget text": (
        lambda p: _edit_json(p.parent / "pixel" / "result.json",
                             lambda d: _set(d, "settings", "matched_l2_budget", "x")),
        "settings.matched_l2_budget is 'x'"),
}


@pytest.mark.parametrize("case", list(COMPARE_JSON))
def test_damaged_compare_json(case, work, capsys):
    damage, message = COMPARE_JSON[case]
    damage(work["compare"] / "compare.json")
    refused(work, work["compare"], capsys, re.escape(message))


def _npz_arrays(path: Path, **arrays: np.ndarray) -> None:
    np.savez_compressed(path, **arrays)


def _frames(w: dict[str, Path]) -> np.ndarray:
    return np.load(w["morph"] / "frames.npz")["frames_uint8"]


NPZ = {
    "truncated": (lambda w, p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "not a readable .npz"),
    "not a zip": (lambda w, p: p.write_text(SECRET), "not a readable .npz"),
    "empty": (lambda w, p: p.write_bytes(b""), "not a readable .npz"),
    "corrupt data (CRC)": (lambda w, p: _corrupt_member(p), "not a readable .npz"),
    "no frames": (lambda w, p: _npz_arrays(p, l2=np.zeros(4)), "holds neither frames_uint8"),
    "frames 2-D": (lambda w, p: _npz_arrays(p, frames_uint8=np.zeros((4, 28), np.uint8)),
                   "the frames are (4, 28)"),
    "frames with 4 channels": (lambda w, p: _npz_arrays(p, frames_uint8=np.zeros((4, 8, 8, 4), np.uint8)),
                               "the frames are (4, 8, 8, 4)"),
    "frames of 49 megapixels": (lambda w, p: _npz_arrays(p, frames_uint8=np.zeros((4, 7000, 7000), np.uint8)),
                                "7000x7000 pixels, more than the report shows"),
    "frames of zero size": (lambda w, p: _npz_arrays(p, frames_uint8=np.zeros((4, 0, 8, 1), np.uint8)),
                            "the frames are (4, 0, 8, 1)"),
    "frames int64": (lambda w, p: _npz_arrays(p, frames_uint8=_frames(w).astype(np.int64)),
                     "the frames are int64"),
    "frames strings": (lambda w, p: _npz_arrays(p, frames_uint8=np.array(["a", "b"])), r"the frames are \(2,\)"),
    "float frames NaN": (lambda w, p: _npz_arrays(p, frames_float32=np.full((4, 28, 28, 1), np.nan, np.float32)),
                         "not finite numbers"),
    "displacement NaN": (lambda w, p: _npz_arrays(p, frames_uint8=_frames(w),
                                                   displacement=np.full((2, 28, 28), np.nan, np.float32)),
                         "displacement is not a finite"),
    "displacement 3 channels": (lambda w, p: _npz_arrays(p, frames_uint8=_frames(w),
                                                          displacement=np.zeros((3, 28, 28), np.float32)),
                                "displacement is not a finite"),
    "fewer images than frames": (lambda w, p: _npz_arrays(p, frames_uint8=_frames(w)[:2]),
                                 "4 frames but 2 images"),
    "data shorter than its header": (
        lambda w, p: _npz_with(p, {"frames_uint8": _npy_header((4, 28, 28, 1)) + bytes(100)}),
        "its header says 3136"),
}


def _corrupt_member(path: Path) -> None:
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("frames_uint8.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 20
    data[start:start + 40] = bytes(40)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("case", list(NPZ))
def test_damaged_frames_npz(case, work, capsys):
    damage, message = NPZ[case]
    damage(work, work["morph"] / "frames.npz")
    refused(work, work["morph"], capsys, message if case == "frames strings" else re.escape(message))


CSV_CASES = {
    "a row with an extra cell": (lambda p: p.write_text(p.read_text().rstrip("\n") + ",extra\n"),
                                 r"line 3 has \d+ cells, the header \d+"),
    "a torn last row": (lambda p: p.write_text(p.read_text().rstrip("\n").rsplit(",", 3)[0] + "\n"),
                        r"line 3 has \d+ cells"),
    "not UTF-8": (lambda p: p.write_bytes(p.read_bytes() + b"\xff\xfe\n"), "not UTF-8"),
    "a field over the csv limit": (lambda p: p.write_text(p.read_text() + '"' + "x" * 200_000 + '"\n'),
                                   "not a readable CSV"),
    "a NUL byte": (lambda p: p.write_text(p.read_text().replace(",", ",\0", 1)), "holds a NUL byte"),
}


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_damaged_results_csv(case, work, capsys):
    damage, message = CSV_CASES[case]
    damage(work["batch"] / "results.csv")
    refused(work, work["batch"], capsys, message)


def test_damaged_summary_md_and_gif(work, capsys):
    (work["batch"] / "summary.md").write_bytes(b"| a |\n|---|\n| \xff |\n")
    refused(work, work["batch"], capsys, "summary.md is not UTF-8")
    (work["morph"] / "frames.npz").unlink()
    (work["morph"] / "morph.gif").write_text(SECRET)
    refused(work, work["morph"], capsys, "morph.gif is not a readable GIF image")


def test_formula_and_markup_in_csv_cells_are_shown_as_text(work, capsys):
    _rewrite_csv(work["batch"], image="=HYPERLINK(\"http://x\")<script>alert(1)</script>")
    html = accepted(work, work["batch"], capsys)
    assert "<script>alert(1)" not in html
    assert "=HYPERLINK(&#34;http://x&#34;)&lt;script&gt;alert(1)&lt;/script&gt;" in html


# ----------------------------------------------------------------------------- long morphs
def _sprite(html: str) -> tuple[np.ndarray, str]:
    m = re.search(r'data-cols="(\d+)".*?background-image: url\((data:image/(png|webp);base64,[^)]+)\); '
                  r'background-size: (\d+)% (\d+)%', html, re.DOTALL)
    assert m is not None
    img = Image.open(io.BytesIO(base64.b64decode(m.group(2).split(",", 1)[1])))
    return np.asarray(img.convert("RGB")), m.group(0)


def test_a_real_1000_frame_morph_renders_with_a_tiled_sprite(model, tmp_path, capsys):
    """``steerlens morph --frames 1000`` (mnist-cnn, the --max-frames default), then ``report``:
    one row would be 28,000 px wide, so the frames are tiled, each where the page looks for it."""
    from steerlens.data.images import save_image
    from steerlens.demo import demo_image

    png = tmp_path / "digit.png"
    save_image(demo_image("mnist:3", model), png)
    assert main(["morph", str(png), "--model", "mnist-cnn", "-t", "8", "--frames", "1000",
                 "-o", str(tmp_path / "m"), "-q"]) == 0
    out = tmp_path / "report.html"
    assert main(["report", str(tmp_path / "m"), "-o", str(out), "-q"]) == 0
    html = out.read_text()
    sheet, style = _sprite(html)
    frames = np.load(tmp_path / "m" / "frames.npz")["frames_uint8"]
    assert frames.shape[0] == 1000 and 'data-n="1000"' in html
    cols, rows = sprite_layout(1000, 28, 28)[:2]
    assert (cols, rows) == (32, 32)
    assert f'data-cols="{cols}"' in style and f"background-size: {cols * 100}% {rows * 100}%" in style
    assert sheet.shape[0] == rows * 28 and sheet.shape[1] == cols * 28 <= SPRITE_MAX_SIDE
    for k in (0, 1, cols - 1, cols, 999):
        r, c = divmod(k, cols)
        assert np.array_equal(sheet[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28, 0], frames[k, ..., 0])


def test_a_224px_80_frame_morph_renders(model, tmp_path, capsys):
    """The Lite0 case that crashed ("Image size exceeds WebP limit of 16383 pixels"): 80 frames of
    224x224 RGB, written as a result folder by the package's own save code."""
    import dataclasses

    import torch

    import steerlens
    from steerlens.demo import demo_image
    from steerlens.render import save_frames_npz

    res = steerlens.morph(model, demo_image("mnist:3", model), "8", frames=2)
    k = 80
    ramp = torch.linspace(0, 1, k)[:, None, None, None]
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 224), torch.linspace(0, 1, 224), indexing="ij")
    frames = ramp * torch.stack([xx, yy, (xx + yy) / 2])[None]  # smooth, different per frame
    big = dataclasses.replace(res, frames=frames, source=frames[0], amplifications=list(range(k)),
                              scores=[res.scores[-1]] * k, displacement=None)
    case = tmp_path / "lite0-like"
    case.mkdir()
    save_frames_npz(big, case / "frames.npz")
    write_json(case / "result.json", big.manifest())
    out = tmp_path / "report.html"
    assert main(["report", str(case), "-o", str(out), "-q"]) == 0
    sheet, style = _sprite(out.read_text())
    cols, rows, ch, cw = sprite_layout(k, 224, 224)
    assert (cols, rows, ch, cw) == (9, 9, 224, 224) and "data:image/webp" in style
    assert sheet.shape == (rows * 224, cols * 224, 3)
    saved = np.load(case / "frames.npz")["frames_uint8"].astype(float)
    for i in (1, 8, 9, 40, k - 1):
        r, c = divmod(i, cols)
        cell = sheet[r * 224:(r + 1) * 224, c * 224:(c + 1) * 224]
        assert np.abs(cell - saved[i]).mean() < 2  # WebP quality 85; next frame differs by ~1.6


@pytest.mark.parametrize("k", [1, 2, 80, 73, 74, 999, 1000])
@pytest.mark.parametrize("hw", [(28, 28), (224, 224), (299, 401), (1, 4096), (4096, 4096), (6000, 6000)])
def test_every_sprite_layout_fits(k, hw):
    cols, rows, ch, cw = sprite_layout(k, *hw)
    assert cols * rows >= k > cols * (rows - 1)
    assert cols * cw <= SPRITE_MAX_SIDE and rows * ch <= SPRITE_MAX_SIDE
    assert cols * rows * ch * cw <= SPRITE_MAX_PIXELS * 1.2 or (ch, cw) == hw
    if k * hw[0] * hw[1] <= SPRITE_MAX_PIXELS and max(hw) <= 4096:
        assert (ch, cw) == hw  # shrunk only when it must be


def test_1000_frames_of_224px_fit_one_sprite():
    """--max-frames frames at the Lite0 size: a 32 x 32 grid of full-size frames under WebP's limit,
    each frame where the page looks for it."""
    from steerlens.web.encode import sprite

    k = 1000
    frames = np.empty((k, 224, 224, 3), np.uint8)
    frames[:] = (np.arange(k, dtype=np.float32) * 255 / (k - 1)).astype(np.uint8)[:, None, None, None]
    s = sprite(frames)
    assert (s.cols, s.rows, s.cell) == (32, 32, (224, 224)) and s.uri.startswith("data:image/webp")
    sheet = np.asarray(Image.open(io.BytesIO(base64.b64decode(s.uri.split(",", 1)[1]))))
    assert sheet.shape == (32 * 224, 32 * 224, 3)
    for i in (0, 31, 32, 500, 999):
        r, c = divmod(i, 32)
        assert abs(float(sheet[r * 224 + 112, c * 224 + 112, 0]) - float(frames[i, 0, 0, 0])) <= 2


def test_a_model_without_class_names_renders(work, capsys):
    """``class_names: null`` (a user model given no names) is as good as absent."""
    _edit_json(work["morph"] / "result.json", lambda d: _set(d, "model", "class_names", None))
    assert "<section class=\"morph" in accepted(work, work["morph"], capsys)


def test_out_that_is_a_fifo_is_refused_and_left_alone(work, capsys):
    fifo = work["o"] / "report.html"
    os.mkfifo(fifo)
    assert main(["report", str(work["morph"]), "-o", str(fifo), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a regular file" in err
    assert fifo.is_fifo() and os.listdir(work["o"]) == ["report.html"]
