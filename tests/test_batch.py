"""``steerlens batch`` in one process: every input kind, target rule, resume, and the bad inputs.

Real data only: MNIST digits written out as PNG files, two scikit-image photos for the ImageNet
driver, the MNIST CNN trained on first use. The Dask and fault tests are in test_batch_faults.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from steerlens.cli import main

#: columns whose values must not change between equivalent runs
NUMBERS = ("l2", "p_target_start", "p_target_end", "p_source_start", "p_source_end", "amplification")
LABELS = ("status", "target", "top1_start", "top1_end", "reached", "succeeded", "chunk_id", "image")


def table(out: Path) -> dict[str, dict]:
    """The results table keyed by case key (and a check that Parquet and CSV agree)."""
    rows = pq.read_table(out / "results.parquet").to_pylist()
    assert pacsv.read_csv(out / "results.csv").num_rows == len(rows)
    keys = [r["case_key"] for r in rows]
    assert len(keys) == len(set(keys)), "a case appears twice"
    return {r["case_key"]: r for r in rows}


def assert_same_table(a: dict[str, dict], b: dict[str, dict], tol: float = 1e-6) -> None:
    assert sorted(a) == sorted(b)
    for key, ra in a.items():
        rb = b[key]
        for c in LABELS:
            assert ra[c] == rb[c], (key, c)
        for c in NUMBERS:
            if ra[c] is None:
                assert rb[c] is None
            else:
                assert abs(ra[c] - rb[c]) <= tol, (key, c, ra[c], rb[c])


def cli(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["batch", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.fixture(scope="module")
def digits(tmp_path_factory, mnist_split) -> Path:
    """12 held-out MNIST digits as PNG files (labels in the names)."""
    from steerlens.data.images import save_image

    root = tmp_path_factory.mktemp("digits")
    for i in range(12):
        save_image(mnist_split.x_test[i], root / f"d{i:02d}-{int(mnist_split.y_test[i])}.png")
    return root


@pytest.fixture(scope="module")
def first_run(digits, tmp_path_factory, mnist_model) -> Path:
    out = tmp_path_factory.mktemp("runs") / "folder"
    from steerlens.batch import run_batch

    run_batch(digits, "mnist-cnn", out, batch_size=5, threads=1, progress=False, echo=lambda m: None)
    return out


# ----------------------------------------------------------------------------- input kinds
def test_folder_runner_up_table_artefacts_and_summary(first_run, mnist_split):
    rows = table(first_run)
    assert len(rows) == 12
    ok = [r for r in rows.values() if r["status"] == "ok"]
    assert len(ok) == 12
    # runner-up: never the driver's top-1; the morph raises its probability on every digit
    assert all(r["target"] != r["top1_start"] for r in ok)
    assert all(r["p_target_end"] > r["p_target_start"] for r in ok)
    assert sum(r["succeeded"] for r in ok) >= 3
    # deterministic chunks of 5: 5 + 5 + 2, positions recorded
    sizes = sorted({(r["chunk_id"], r["chunk_len"]) for r in ok}, key=lambda t: t[1])
    assert [n for _, n in sizes] == [2, 5, 5]
    assert {r["torch_threads"] for r in ok} == {1}
    for r in ok:
        case = first_run / r["artefact_dir"]
        manifest = json.loads((case / "result.json").read_text())
        assert manifest["target"] == r["target"]
        assert abs(manifest["frames"][-1]["p_target"] - r["p_target_end"]) < 1e-9
        assert {p.name for p in case.iterdir()} == {"result.json", "final.png", "source.png"}
    summary = (first_run / "summary.md").read_text()
    assert "| csp-phase | one-step | – | 12 | 0 |" in summary


def test_rerun_is_idempotent(first_run, digits, capsys):
    journal = (first_run / "cases.jsonl").read_bytes()
    before = table(first_run)
    rc, out, err = cli(capsys, str(digits), "-m", "mnist-cnn", "-o", str(first_run),
                       "--batch-size", "5", "--threads", "1")
    assert rc == 0, err
    assert "12 cases (0 new, 12 already done, 0 failed)" in out
    assert (first_run / "cases.jsonl").read_bytes() == journal
    assert_same_table(before, table(first_run), tol=0.0)


def test_torn_journal_line_and_missing_folder_are_recomputed(first_run, digits, tmp_path):
    from steerlens.batch import run_batch

    out = tmp_path / "copy"
    shutil.copytree(first_run, out)
    before = table(out)
    victim = min(before)
    shutil.rmtree(out / before[victim]["artefact_dir"])
    with open(out / "cases.jsonl", "ab") as f:
        f.write(b'{"case_key": "' + sorted(before)[1].encode() + b'", "status": "o')  # torn write
    lines: list[str] = []
    report = run_batch(digits, "mnist-cnn", out,
                       batch_size=5, threads=1, progress=False, echo=lines.append)
    assert report.new == 1
    assert any("torn journal line" in m for m in lines)
    assert_same_table(before, table(out))
    assert (out / before[victim]["artefact_dir"] / "result.json").is_file()


def test_imagefolder_labels_and_all_targets(tmp_path, mnist_split, capsys):
    from steerlens.data.images import save_image

    root = tmp_path / "imagefolder"
    picked = {3: [], 8: []}
    for i, y in enumerate(mnist_split.y_test.tolist()):
        if y in picked and len(picked[y]) < 2:
            picked[y].append(i)
    for y, idx in picked.items():
        for i in idx:
            save_image(mnist_split.x_test[i], root / str(y) / f"{i}.png")
    out = tmp_path / "out"
    rc, _, err = cli(capsys, str(root), "-m", "mnist-cnn", "-o", str(out), "--target", "all",
                     "--max-targets", "3", "--artefacts", "none", "--threads", "1", "-q")
    assert rc == 0, err
    rows = list(table(out).values())
    assert len(rows) == 4 * 3
    for r in rows:
        assert r["source_label"] == r["image"].split("/")[0]
        assert r["source_label_index"] == int(r["source_label"])
        assert r["target"] not in (r["top1_start"], r["source_label_index"])
        assert r["artefact_dir"] is None
    per_image: dict[str, list] = {}
    for r in rows:
        per_image.setdefault(r["image"], []).append((r["target_rank"], r["target"]))
    assert all(sorted(k for k, _ in v) == [1, 2, 3] for v in per_image.values())
    assert all(len({t for _, t in v}) == 3 for v in per_image.values())


def test_manifests_csv_and_jsonl_with_targets_and_sources(digits, tmp_path, capsys):
    names = sorted(p.name for p in digits.glob("*.png"))[:4]
    shutil.copytree(digits, tmp_path / "imgs")
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text(
        "image,target,source\n" + "".join(f"imgs/{n},{7 - k},{n.split('-')[1][0]}\n" for k, n in enumerate(names))
    )
    out = tmp_path / "out-csv"
    rc, _, err = cli(capsys, str(csv_path), "-m", "mnist-cnn", "-o", str(out), "-q", "--threads", "1")
    assert rc == 0, err
    rows = sorted(table(out).values(), key=lambda r: r["image"])
    assert [r["target"] for r in rows] == [7, 6, 5, 4]
    assert [r["target_rule"] for r in rows] == ["manifest"] * 4
    assert [r["source_label"] for r in rows] == [n.split("-")[1][0] for n in names]
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text("".join(json.dumps({"image": f"imgs/{n}", "target": "2"}) + "\n\n" for n in names))
    out2 = tmp_path / "out-jsonl"
    rc, _, err = cli(capsys, str(jsonl), "-m", "mnist-cnn", "-o", str(out2), "-q", "--threads", "1",
                     "--methods", "pixel,csp-phase", "--budgets", "1.5")
    assert rc == 0, err
    rows = list(table(out2).values())
    assert len(rows) == 8 and {r["target"] for r in rows} == {2}
    assert {(r["method"], r["budget"]) for r in rows} == {("pixel", 1.5), ("csp-phase", 1.5)}
    # a budget run stops at the budget: attained L2 close to 1.5 where it was reached
    reached = [r for r in rows if r["reached"]]
    assert reached and all(abs(r["l2"] - 1.5) < 0.1 for r in reached)
    # only phase methods have phase statistics
    assert all((r["max_abs_dphi"] is None) == (r["method"] == "pixel") for r in rows)


def test_builtin_dataset_with_fixed_target_and_judge(tmp_path, capsys):
    out = tmp_path / "out"
    rc, _, err = cli(capsys, "mnist", "-m", "mnist-cnn", "-o", str(out), "--limit", "6", "-t", "3",
                     "--judges", "mnist-cnn", "--artefacts", "none", "-q", "--threads", "1")
    assert rc == 0, err
    rows = sorted(table(out).values(), key=lambda r: r["image"])
    # --limit spreads over the classes: six images of six different digits (the first six
    # images of the test split are all zeros)
    assert len(rows) == 6 and len({r["source_label"] for r in rows}) == 6
    assert all(r["image"].startswith("mnist/test/") for r in rows)
    assert {r["target"] for r in rows} == {3} and {r["target_rule"] for r in rows} == {"3"}
    # the driver as its own judge: the judge columns repeat the driver's numbers
    for r in rows:
        assert abs(r["judge_mnist_cnn_p_target_end"] - r["p_target_end"]) < 1e-5
        assert r["judge_mnist_cnn_top1_end"] == r["top1_end"]


@pytest.mark.slow
def test_photos_with_the_imagenet_driver_and_an_unreadable_file(tmp_path, capsys):
    from PIL import Image
    from skimage import data

    root = tmp_path / "photos"
    root.mkdir()
    Image.fromarray(data.chelsea()).save(root / "chelsea.jpg", quality=92)
    Image.fromarray(data.coffee()).resize((300, 200)).save(root / "coffee.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    rc, _, err = cli(capsys, str(root), "-m", "efficientnet-lite0", "-o", str(out), "-t", "tiger cat",
                     "--amplification", "0,1,2", "-q", "--threads", "1")
    assert rc == 0, err
    rows = {r["image"]: r for r in table(out).values()}
    assert set(rows) == {"broken.jpg", "chelsea.jpg", "coffee.png"}
    bad = rows["broken.jpg"]
    assert bad["status"] == "failed" and "cannot read image" in bad["error"]
    assert "\n" not in bad["error"] and bad["artefact_dir"] is None
    for name in ("chelsea.jpg", "coffee.png"):
        r = rows[name]
        assert r["status"] == "ok" and r["target_name"] == "tiger cat"
        assert r["p_target_end"] > r["p_target_start"]
    assert "| csp-phase | one-step | – | 3 | 1 |" in (out / "summary.md").read_text()
    # --fail-fast stops at the broken file with one line and exit 2
    rc, _, err = cli(capsys, str(root), "-m", "efficientnet-lite0", "-o", str(tmp_path / "ff"),
                     "-t", "tiger cat", "--fail-fast", "-q", "--threads", "1", "--batch-size", "1")
    assert rc == 2 and "Traceback" not in err
    assert err.startswith("error: case broken.jpg") and "--fail-fast" in err and err.count("\n") == 1


# ----------------------------------------------------------------------------- bad inputs
def _one_line_error(rc: int, err: str, *needles: str) -> None:
    assert rc == 2
    assert "Traceback" not in err
    line = err.strip()
    assert line.startswith("error: ") and "\n" not in line, err
    for n in needles:
        assert n in line, line


def test_bad_manifests_and_folders(tmp_path, digits, capsys):
    img = min(digits.glob("*.png"))
    cases = {
        "missing-column.csv": ("path,target\nx.png,3\n", "no 'image' column"),
        "unknown-class.csv": (f"image,target\n{img},3\n{img},seven\n", "line 3 target"),
        "bad-row.jsonl": (json.dumps({"image": str(img)}) + '\n{"image": "a.png", \n', "line 2 is not valid JSON"),
        "no-image.jsonl": (json.dumps({"target": 3}) + "\n", "no 'image' field"),
        "short-row.csv": ("image,target\nx.png\n", "line 2"),
        "empty.csv": ("image,target\n", "has no rows"),
    }
    for name, (text, needle) in cases.items():
        p = tmp_path / name
        p.write_text(text)
        out = tmp_path / f"out-{name}"
        rc, _, err = cli(capsys, str(p), "-m", "mnist-cnn", "-o", str(out), "-q")
        _one_line_error(rc, err, needle)
        assert not out.exists(), f"{name}: an output was written"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    rc, _, err = cli(capsys, str(empty), "-m", "mnist-cnn", "-o", str(tmp_path / "o"), "-q")
    _one_line_error(rc, err, "no images found")
    rc, _, err = cli(capsys, str(tmp_path / "nowhere"), "-m", "mnist-cnn", "-o", str(tmp_path / "o"))
    _one_line_error(rc, err, "does not exist")
    rc, _, err = cli(capsys, str(digits), "-m", "mnist-cnn", "-o", str(tmp_path / "o"), "-t", "eleven")
    _one_line_error(rc, err, "eleven")
    rc, _, err = cli(capsys, str(digits), "-m", "mnist-cnn", "-o", str(tmp_path / "o"), "--layout", "imagefolder")
    _one_line_error(rc, err, "class sub-folder")
    rc, _, err = cli(capsys, str(digits), "-m", "mnist-cnn", "-o", str(tmp_path / "o"), "--artefacts", "some")
    _one_line_error(rc, err, "--artefacts")
    assert not (tmp_path / "o").exists()


def test_output_folder_of_another_model_or_settings_is_refused(first_run, digits, capsys):
    journal = (first_run / "cases.jsonl").read_bytes()
    rc, _, err = cli(capsys, str(digits), "-m", "efficientnet-lite0", "-o", str(first_run), "-q")
    _one_line_error(rc, err, "holds a batch of model mnist-cnn", "choose another --out")
    rc, _, err = cli(capsys, str(digits), "-m", "mnist-cnn", "-o", str(first_run), "--frames", "8",
                     "--batch-size", "5", "-q")
    _one_line_error(rc, err, "other settings (frames: 12 there, 8 now)")
    rc, _, err = cli(capsys, str(digits), "-m", "mnist-cnn", "-o", str(first_run), "-q")
    _one_line_error(rc, err, "batch_size 5")
    assert (first_run / "cases.jsonl").read_bytes() == journal


def test_missing_file_in_manifest_is_a_failed_row(tmp_path, digits, capsys):
    img = min(digits.glob("*.png"))
    p = tmp_path / "m.csv"
    p.write_text(f"image\n{img}\ngone.png\n")
    rc, _, err = cli(capsys, str(p), "-m", "mnist-cnn", "-o", str(tmp_path / "o"), "-q", "--threads", "1")
    assert rc == 0, err
    rows = {r["image"]: r for r in table(tmp_path / "o").values()}
    assert rows["gone.png"]["status"] == "failed"
    assert rows["gone.png"]["error"] == "image gone.png does not exist"
    assert rows[str(img)]["status"] == "ok"
    assert np.isfinite(rows[str(img)]["l2"])


def test_flow_method_and_any_config_field_through_set(digits, tmp_path, capsys):
    out = tmp_path / "flow"
    rc, _, err = cli(capsys, str(digits), "-m", "mnist-cnn", "-o", str(out), "--limit", "4",
                     "--methods", "flow,csp-amplitude", "--set", "frames=6", "--set", "goal_p=0.8",
                     "--artefacts", "none", "-q", "--threads", "1")
    assert rc == 0, err
    rows = list(table(out).values())
    assert len(rows) == 8 and {r["frames"] for r in rows} == {6}
    for r in rows:
        # flow edits report their displacement field; amplitude edits have neither field nor phases
        assert (r["max_displacement_px"] is not None) == (r["method"] == "flow")
        assert r["max_displacement_px"] is None or r["max_displacement_px"] >= r["mean_displacement_px"] > 0
        assert r["max_abs_dphi"] is None
        assert r["p_target_end"] > r["p_target_start"]
    rc, _, err = cli(capsys, str(digits), "-m", "mnist-cnn", "-o", str(tmp_path / "x"), "--set", "speed=9")
    _one_line_error(rc, err, "--set takes KEY=VALUE")


def test_output_inside_the_input_and_hidden_folders_are_not_read(digits, tmp_path, capsys):
    root = tmp_path / "photos"
    root.mkdir()
    for p in sorted(digits.glob("*.png"))[:3]:
        shutil.copy(p, root / p.name)
    (root / ".thumbnails").mkdir()
    shutil.copy(sorted(digits.glob("*.png"))[5], root / ".thumbnails" / "t.png")
    args = (str(root), "-m", "mnist-cnn", "-o", str(root / "out"), "--threads", "1")
    rc, _, err = cli(capsys, *args, "-q")
    assert rc == 0, err
    assert len(list((root / "out").rglob("*.png"))) == 6  # final.png + source.png per case
    rc, out, err = cli(capsys, *args)  # the case folders' PNGs are not new inputs
    assert rc == 0, err
    assert "3 cases (0 new, 3 already done, 0 failed)" in out
    assert sorted(r["image"] for r in table(root / "out").values()) == sorted(
        p.name for p in root.glob("*.png"))


def test_a_fixed_image_replaces_its_failed_row_and_retry_failed_reruns(tmp_path, digits, capsys):
    root = tmp_path / "in"
    root.mkdir()
    good = sorted(digits.glob("*.png"))
    shutil.copy(good[0], root / "a.png")
    (root / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    args = (str(root), "-m", "mnist-cnn", "-o", str(tmp_path / "o"), "-q", "--threads", "1")
    assert cli(capsys, *args)[0] == 0
    assert {r["image"]: r["status"] for r in table(tmp_path / "o").values()} == {"a.png": "ok", "b.png": "failed"}
    assert cli(capsys, *args, "--retry-failed")[0] == 0  # same bytes: rerun, fails again, one row
    lines = (tmp_path / "o" / "cases.jsonl").read_text().splitlines()
    assert len(lines) == 3 and len(table(tmp_path / "o")) == 2
    shutil.copy(good[1], root / "b.png")  # the user fixes the file: new bytes, new case
    assert cli(capsys, *args)[0] == 0
    rows = {r["image"]: r for r in table(tmp_path / "o").values()}
    assert {k: r["status"] for k, r in rows.items()} == {"a.png": "ok", "b.png": "ok"}
    assert len((tmp_path / "o" / "cases.jsonl").read_text().splitlines()) == 4


def test_a_second_driver_on_the_same_folder_is_refused(first_run, digits, capsys):
    from steerlens.batch.store import BatchStore

    journal = (first_run / "cases.jsonl").read_bytes()
    with BatchStore(first_run).locked():
        rc, _, err = cli(capsys, str(digits), "-m", "mnist-cnn", "-o", str(first_run),
                         "--batch-size", "5", "-q")
    _one_line_error(rc, err, "another steerlens batch is writing to")
    assert (first_run / "cases.jsonl").read_bytes() == journal
