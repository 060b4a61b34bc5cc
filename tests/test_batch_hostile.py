"""``steerlens batch`` on hostile inputs: special files, damaged manifests, schedulers, full disks.

Every case runs the real ``steerlens`` command in a subprocess with a timeout (a hang fails the
test instead of stopping the suite) on real MNIST digits with the real ``mnist-cnn``. A refused
run must exit 2 with exactly one ``error:`` line on stderr, no traceback, and leave nothing behind:
no ``--out`` folder (nor its parents) when it did not exist, no stray file in the working folder.
Special files named as images become ``failed`` rows without being opened.

Groups (counted in the module's final test names): manifest rows and folder entries that are
special files; manifests that are special files; damaged manifests (NUL bytes and friends);
``--scheduler`` values that name no reachable scheduler (real Dask, 127.0.0.1 only, in-process
so no process outlives a test); a full disk (a real tmpfs where this user may mount one, and the
file-size limit ``RLIMIT_FSIZE``, which fails writes with EFBIG, everywhere); formula cells in
``results.csv``; ``--limit`` on a labelled dataset.
"""

from __future__ import annotations

import csv
import json
import math
import os
import resource
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psutil
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from test_batch import assert_same_table, table  # tests/ is on sys.path (pytest's prepend mode)
from test_batch_faults import journal_keys, steerlens_cmd

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ARGS = ("-m", "mnist-cnn", "--threads", "1", "-q")
TIMEOUT = 120  # per command: every hostile case must end long before this


# ----------------------------------------------------------------------------- helpers
def run(args: Sequence[str], cwd: Path, preexec: Callable[[], None] | None = None,
        timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """``steerlens batch ARGS`` in ``cwd``; a run that does not end in ``timeout`` fails the test."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        return subprocess.run([*steerlens_cmd(), "batch", *args], cwd=cwd, capture_output=True,
                              text=True, timeout=timeout, env=env, preexec_fn=preexec, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"steerlens batch {' '.join(map(repr, args))} hung for {timeout} s")


def run_all(jobs: dict[str, tuple[Sequence[str], Path]], parallel: int = 3) -> dict[str, subprocess.CompletedProcess]:
    """Run several commands (a few at a time: most of a refused run is importing torch)."""
    results: dict[str, subprocess.CompletedProcess] = {}
    names = list(jobs)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not names:
                    return
                name = names.pop(0)
            args, cwd = jobs[name]
            results[name] = run(args, cwd)

    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def refused(r: subprocess.CompletedProcess, *needles: str) -> str:
    """Assert exit 2 and exactly one ``error:`` line (no traceback); return that line."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def listing(root: Path) -> list[str]:
    """Every path below ``root`` (hidden ones too), relative."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".steerlens-tmp-")]


@pytest.fixture(scope="module")
def digits(tmp_path_factory, mnist_split, mnist_model) -> Path:
    """Six held-out MNIST digits as PNG files (the model is trained or loaded once, up front)."""
    from steerlens.data.images import save_image

    root = tmp_path_factory.mktemp("digits")
    for i in range(6):
        save_image(mnist_split.x_test[200 + i], root / f"d{i}.png")
    return root


@pytest.fixture(scope="module")
def specials() -> Iterator[dict[str, Path]]:
    """Special files in a short folder (a socket path must fit in 108 bytes): a FIFO, a socket,
    links to them and to devices, a dangling link, a link loop, a folder."""
    root = Path(tempfile.mkdtemp(prefix="slh-"))
    os.mkfifo(root / "fifo.png")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(root / "sock.png"))  # the socket file stays after the socket is closed
    (root / "link-fifo.png").symlink_to(root / "fifo.png")
    (root / "link-zero.png").symlink_to("/dev/zero")
    (root / "dangling.png").symlink_to(root / "nowhere.png")
    (root / "loop.png").symlink_to(root / "loop.png")
    (root / "folder.png").mkdir()
    found = {p.name: p for p in root.iterdir()}
    found["/dev/null"] = Path("/dev/null")
    found["/dev/zero"] = Path("/dev/zero")
    block = next((p for p in sorted(Path("/dev").glob("loop[0-9]*"))
                  if stat.S_ISBLK(os.stat(p).st_mode)), None)
    if block is not None:
        found[str(block)] = block
    yield found
    shutil.rmtree(root, ignore_errors=True)


# ----------------------------------------------------------------------------- special files
#: what each special file's failed row must say
WHY = {
    "fifo.png": "is a FIFO, not a regular file; it was not opened",
    "sock.png": "is a socket, not a regular file; it was not opened",
    "link-fifo.png": "is a FIFO, not a regular file; it was not opened",
    "link-zero.png": "is a character device, not a regular file; it was not opened",
    "dangling.png": "does not exist",
    "loop.png": "cannot be read: Too many levels of symbolic links",
    "folder.png": "is a folder",
    "/dev/null": "is a character device, not a regular file; it was not opened",
    "/dev/zero": "is a character device, not a regular file; it was not opened",
}


def test_manifest_rows_naming_special_files_are_failed_rows(digits, specials, tmp_path):
    shutil.copy(digits / "d0.png", tmp_path / "ok.png")
    rows_named = {str(p): WHY.get(key, "is a block device, not a regular file; it was not opened")
                  for key, p in specials.items()}
    with open(tmp_path / "sparse.png", "wb") as f:  # 4 GiB that take no disk: refused unread
        f.truncate(4 << 30)
    rows_named["sparse.png"] = "is larger than 1024 MiB; it was not read"
    (tmp_path / "m.csv").write_text("image\n" + "".join(f"{n}\n" for n in ["ok.png", *rows_named]))
    r = run(["m.csv", *ARGS, "-o", "out"], tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {row["image"]: row for row in table(tmp_path / "out").values()}
    assert rows.pop("ok.png")["status"] == "ok"
    assert {k: (v["status"], v["error"]) for k, v in rows.items()} == {
        name: ("failed", f"image {name} {why}") for name, why in rows_named.items()
    }


def test_folder_entries_that_are_special_files_are_failed_rows(digits, specials, tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(digits / "d0.png", root / "ok.png")
    os.mkfifo(root / "fifo.png")
    (root / "zero.png").symlink_to("/dev/zero")
    (root / "sock.png").symlink_to(specials["sock.png"])
    (root / "gone.png").symlink_to(root / "nowhere.png")
    r = run([str(root), *ARGS, "-o", str(tmp_path / "out")], tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {row["image"]: row for row in table(tmp_path / "out").values()}
    assert {k: (v["status"], v["error"]) for k, v in rows.items()} == {
        "ok.png": ("ok", None),
        "fifo.png": ("failed", "image fifo.png is a FIFO, not a regular file; it was not opened"),
        "zero.png": ("failed", "image zero.png is a character device, not a regular file; it was not opened"),
        "sock.png": ("failed", "image sock.png is a socket, not a regular file; it was not opened"),
        "gone.png": ("failed", "image gone.png does not exist"),
    }


def test_a_manifest_that_is_a_special_file_is_refused(specials, tmp_path):
    os.mkfifo(tmp_path / "fifo.csv")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "fifo.csv")
    (tmp_path / "sock.csv").symlink_to(specials["sock.png"])
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    jobs = {
        "fifo": ("fifo.csv", "is a FIFO, not a folder or a manifest"),
        "link to a fifo": ("link.jsonl", "is a FIFO, not a folder or a manifest"),
        "socket": ("sock.csv", "is a socket, not a folder or a manifest"),
        "link to a device": ("zero.csv", "is a character device, not a folder or a manifest"),
        "a device": ("/dev/zero", "is a character device, not a folder or a manifest"),
    }
    before = listing(tmp_path)
    results = run_all({k: ([src, *ARGS, "-o", "out/new"], tmp_path) for k, (src, _) in jobs.items()})
    for name, (_, needle) in jobs.items():
        refused(results[name], needle)
    assert listing(tmp_path) == before  # no out/, nothing else


def test_damaged_manifests_are_refused_in_one_line(digits, tmp_path):
    shutil.copy(digits / "d0.png", tmp_path / "ok.png")
    files = {
        "nul.csv": ("image\nok.png\nbad\x00name.png\n", "line 3: the image path holds a NUL byte"),
        "nul.jsonl": (json.dumps({"image": "ok.png"}) + "\n" + json.dumps({"image": "a\x00b.png"}) + "\n",
                      "line 2: the image path holds a NUL byte"),
        "huge-field.csv": ('image\n"' + "x" * 200_000 + '"\n', "line 2 is not valid CSV"),
        "number.jsonl": (json.dumps({"image": 5}) + "\n", "line 1: image must be a path in quotes"),
        "deep.jsonl": ('{"image": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "line 1"),
        "latin1.csv": ("image\n\xe9t\xe9.png\n".encode("latin-1"), "is not UTF-8 text"),
    }
    for name, (text, _) in files.items():
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    jobs = {name: ([name, *ARGS, "-o", "out/new"], tmp_path) for name in files}
    jobs["newline in INPUT"] = (["no\nsuch.csv", *ARGS, "-o", "out/new"], tmp_path)
    before = listing(tmp_path)
    results = run_all(jobs)
    for name, (_, needle) in files.items():
        refused(results[name], f"manifest {name}", needle)
    refused(results["newline in INPUT"], "INPUT no\\nsuch.csv does not exist")
    assert listing(tmp_path) == before


def test_a_jsonl_path_with_a_line_separator_is_one_row(digits, tmp_path):
    odd = "odd\u2028name.png"  # str.splitlines() would cut the JSON line here
    shutil.copy(digits / "d0.png", tmp_path / odd)
    (tmp_path / "m.jsonl").write_text(json.dumps({"image": odd}, ensure_ascii=False) + "\n")
    r = run(["m.jsonl", *ARGS, "-o", "out", "--artefacts", "none"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert [row["image"] for row in table(tmp_path / "out").values()] == [odd]


# ----------------------------------------------------------------------------- --scheduler
@contextmanager
def tcp_server(mode: str) -> Iterator[int]:
    """A loopback server that is not Dask: ``silent`` accepts and says nothing, ``junk`` answers
    with HTTP, ``close`` hangs up at once. Yields its port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            if mode == "junk":
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4)
            if mode == "silent":
                held.append(conn)
            else:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()
        for c in held:
            c.close()
        thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_scheduler_that_is_not_reachable_gets_one_line(digits, specials, tmp_path):
    distributed = pytest.importorskip("distributed")
    files = tmp_path / "files"
    files.mkdir()
    (files / "notes.txt").write_text("not a scheduler\n")
    (files / "other.json").write_text(json.dumps({"type": "Scheduler"}))
    (files / "binary.json").write_bytes(bytes(range(256)))
    (files / "stale.json").write_text(json.dumps({"address": f"tcp://127.0.0.1:{free_port()}"}))
    (files / "folder").mkdir()
    os.mkfifo(files / "fifo.json")
    children_before = {p.pid for p in psutil.Process().children(recursive=True)}
    # an in-process cluster (threads, loopback only): its worker's address is not a scheduler's
    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None,
                                  protocol="tcp://") as cluster, \
            tcp_server("silent") as silent, tcp_server("junk") as junk, tcp_server("close") as close:
        worker = next(iter(cluster.scheduler_info["workers"]))
        cases = {
            "a text file": (str(files / "notes.txt"), "is not a Dask scheduler file"),
            "JSON without an address": (str(files / "other.json"), "is not a Dask scheduler file"),
            "a binary file": (str(files / "binary.json"), "is not a Dask scheduler file"),
            "a scheduler file whose scheduler is gone": (str(files / "stale.json"), "connection refused"),
            "a folder": (str(files / "folder"), "is a folder, not a regular file"),
            "a FIFO": (str(files / "fifo.json"), "is a FIFO, not a regular file"),
            "a device": ("/dev/zero", "is a character device, not a regular file"),
            "a missing file": (str(files / "nowhere.json"), "neither a scheduler file nor an address"),
            "garbage": ("not a scheduler", "neither a scheduler file nor an address"),
            "empty": ("", "is empty"),
            "tls without TLS settings": ("tls://127.0.0.1:8786", "tls:// needs Dask's TLS configuration"),
            "inproc": ("inproc://127.0.0.1/1/2", "inproc:// addresses live inside one Python process"),
            "ucx": ("ucx://127.0.0.1:8786", "protocol ucx:// is not supported"),
            "websocket": ("ws://127.0.0.1:8786", "protocol ws:// is not supported"),
            "no host or port": ("tcp://", "is not HOST:PORT"),
            "port out of range": ("tcp://127.0.0.1:99999", "is not HOST:PORT"),
            "nothing listens": (f"tcp://127.0.0.1:{free_port()}", "connection refused"),
            "a host that does not resolve": ("tcp://steerlens.invalid:8786", "does not resolve"),
            "a silent server": (f"tcp://127.0.0.1:{silent}", "gave no Dask answer within 10 s"),
            "a server speaking HTTP": (f"tcp://127.0.0.1:{junk}", "is not a Dask scheduler"),
            "a server that hangs up": (f"tcp://127.0.0.1:{close}", "is not a Dask scheduler"),
            "a Dask worker": (worker, "is a Dask Worker"),
        }
        cwd = tmp_path / "cwd"
        cwd.mkdir()
        results = run_all({
            name: ([str(digits), *ARGS, "-o", "new/out", "--scheduler", value], cwd)
            for name, (value, _) in cases.items()
        }, parallel=4)
        # the cluster was never asked to run anything
        assert not cluster.scheduler_info["workers"][worker].get("metrics", {}).get("executing")
    for name, (_, needle) in cases.items():
        refused(results[name], "--scheduler", needle)
    assert listing(cwd) == [], "a refused --scheduler left files behind"
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= children_before


# ----------------------------------------------------------------------------- a full disk
@contextmanager
def tmpfs(path: Path, size: int) -> Iterator[Path]:
    """A real tmpfs of ``size`` bytes at ``path``; skips where this user may not mount one."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root; test_file_size_limit covers a full disk here")
    got = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                         capture_output=True, text=True, check=False)
    if got.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({got.stderr.strip()}); test_file_size_limit covers a full disk")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def pages(root: Path) -> int:
    """Bytes ``root``'s files take on a tmpfs (whole 4 KiB pages)."""
    return sum(4096 * math.ceil(p.stat().st_size / 4096) for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def reference(digits, tmp_path_factory) -> tuple[dict[str, dict], Path]:
    """The uninterrupted table of the six digits (chunks of 1, one thread, every artefact)."""
    from steerlens.batch import run_batch

    out = tmp_path_factory.mktemp("ref") / "out"
    run_batch(digits, "mnist-cnn", out, batch_size=1, threads=1, artefacts="all", progress=False,
              echo=lambda m: None)
    rows = table(out)
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows.values())
    return rows, out


def test_a_full_tmpfs_at_the_start_leaves_no_folder(digits, tmp_path):
    with tmpfs(tmp_path / "disk", 8192) as disk:
        r = run([str(digits), *ARGS, "-o", str(disk / "a" / "out"), "--artefacts", "all",
                 "--batch-size", "1"], tmp_path)
        refused(r, "no space left writing", "No space left on device", "nothing was left behind")
        assert listing(disk) == []


def test_a_tmpfs_that_fills_mid_run_keeps_finished_cases_and_resumes(digits, reference, tmp_path):
    ref, ref_out = reference
    half = pages(ref_out) // 2
    args = [str(digits), *ARGS, "--artefacts", "all", "--batch-size", "1"]
    with tmpfs(tmp_path / "disk", half) as disk:
        out = disk / "out"
        r = run([*args, "-o", str(out)], tmp_path)
        refused(r, "no space left writing", "No space left on device", "finished cases are kept")
        kept = journal_keys(out)
        assert 1 <= len(kept) < 6, kept
        assert not temporaries(disk), "a temporary file or folder was left on the full disk"
        subprocess.run(["mount", "-o", f"remount,size={4 * pages(ref_out)}", str(disk)], check=True)
        r = run([*args, "-o", str(out)], tmp_path)
        assert r.returncode == 0, r.stderr
        keys = journal_keys(out)
        assert keys[: len(kept)] == kept and sorted(keys) == sorted(ref), "a case was lost or redone"
        assert_same_table(ref, table(out))
        assert not temporaries(disk)


def limit_file_size(n: int) -> Callable[[], None]:
    """``preexec_fn``: writes past ``n`` bytes of one file fail with EFBIG (SIGXFSZ ignored, as a
    process that handles it would see), the nearest a test without root gets to a full disk."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))

    return apply


def test_file_size_limit(digits, reference, tmp_path):
    ref, _ = reference
    args = [str(digits), *ARGS, "--artefacts", "none", "--batch-size", "1"]
    # the first file (batch.json) cannot be written: nothing is left, not even the parents
    r = run([*args, "-o", "new/a/out"], tmp_path, preexec=limit_file_size(64))
    refused(r, "File too large", "nothing was left behind")
    assert listing(tmp_path) == []
    # the journal outgrows the limit after a few cases: they are kept, the rest resumes
    r = run([*args, "-o", "out"], tmp_path, preexec=limit_file_size(5000))
    refused(r, "File too large", "finished cases are kept")
    kept = journal_keys(tmp_path / "out")
    assert 1 <= len(kept) < 6
    assert not temporaries(tmp_path)
    r = run([*args, "-o", "out"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(journal_keys(tmp_path / "out")) == sorted(ref)
    assert_same_table(ref, table(tmp_path / "out"))


# ----------------------------------------------------------------------------- results.csv
FORMULAS = ["=HYPERLINK(1).png", "+1.png", "-2.png", "@SUM(A1).png", "\tt.png", "\rr.png"]
PLAIN = ["a=b.png", "plain.png"]


def test_formula_cells_are_neutralised_in_csv_only(mnist_split, tmp_path):
    from steerlens.data.images import save_image

    root = tmp_path / "in"
    root.mkdir()
    for i, name in enumerate(FORMULAS + PLAIN):  # distinct digits: identical bytes would be one case
        save_image(mnist_split.x_test[300 + i], root / name)
    (root / "=broken.png").write_bytes(b"not a png")  # its error text starts "image =broken..."
    r = run([str(root), *ARGS, "-o", str(tmp_path / "out"), "--artefacts", "none",
             "--layout", "folder"], tmp_path)
    assert r.returncode == 0, r.stderr
    raw = pq.read_table(tmp_path / "out" / "results.parquet").to_pylist()
    assert sorted(row["image"] for row in raw) == sorted([*FORMULAS, *PLAIN, "=broken.png"])
    with open(tmp_path / "out" / "results.csv", newline="") as f:
        cells = list(csv.DictReader(f))
    by_key = {row["case_key"]: row for row in raw}
    for row in cells:
        name = by_key[row["case_key"]]["image"]
        assert row["image"] == ("'" + name if name[0] in "=+-@\t\r" else name)
        for value in row.values():
            assert not value or value[0] not in "=+-@\t\r", value
    # numbers stay numbers: every numeric column reads back with its numeric type
    typed = pacsv.read_csv(tmp_path / "out" / "results.csv").schema
    parquet = pq.read_schema(tmp_path / "out" / "results.parquet")
    for name in ("l2", "p_target_end", "target", "chunk_pos", "time_case_s"):
        assert typed.field(name).type == parquet.field(name).type, name


def test_negative_numbers_stay_numbers_in_csv(tmp_path):
    from steerlens.batch.store import BatchStore

    store = BatchStore(tmp_path / "out")
    store.claim({"model_sha256": "ab" * 32, "model": "m"})
    store.record({"case_key": "k1", "status": "ok", "image": "-1.png", "l2": -1.5, "target": -3,
                  "error": "-x", "method": "pixel"}, {})
    store.write_table()
    with open(tmp_path / "out" / "results.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert (row["image"], row["error"], row["l2"], row["target"]) == ("'-1.png", "'-x", "-1.5", "-3")
    assert pq.read_table(tmp_path / "out" / "results.parquet").to_pylist()[0]["image"] == "-1.png"


# ----------------------------------------------------------------------------- --limit
def test_limit_on_mnist_spreads_over_the_classes(tmp_path):
    args = ["mnist", "-m", "mnist-cnn", "--threads", "1", "-o", "out", "--limit", "20", "-t", "3",
            "--artefacts", "none", "--frames", "4"]
    r = run(args, tmp_path)
    assert r.returncode == 0, r.stderr
    said = "20 of 1000, 2 per class over 10 classes (stratified, seed 0)"
    assert f"images: {said}" in r.stdout and said in r.stderr
    rows = table(tmp_path / "out")
    assert Counter(r["source_label"] for r in rows.values()) == {str(c): 2 for c in range(10)}
    assert f"Images: mnist: {said}." in (tmp_path / "out" / "summary.md").read_text()
    again = run(args, tmp_path)  # the same seed takes the same images: nothing new to do
    assert again.returncode == 0 and "20 cases (0 new, 20 already done" in again.stdout


def test_stratified_choice_is_deterministic_by_seed():
    from steerlens.batch.inputs import read_inputs

    names = [str(i) for i in range(10)]
    a, b, c = (read_inputs("mnist", names, limit=25, seed=s) for s in (0, 0, 1))
    assert [i.ref for i in a.items] == [i.ref for i in b.items]
    assert [i.ref for i in a.items] != [i.ref for i in c.items]
    for s in (a, c):
        counts = Counter(i.label for i in s.items)
        assert len(s.items) == 25 and len(counts) == 10 and set(counts.values()) == {2, 3}
    assert a.selection == "25 of 1000, 2-3 per class over 10 classes (stratified, seed 0)"
