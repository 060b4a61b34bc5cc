"""``steerlens report``: views read from real saved morphs, and the self-contained HTML file.

Browser behaviour (scrubbing, sorting, filtering, opening a case) is in ``test_web_browser.py``.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("jinja2")

from steerlens.cli import main, write_comparison
from steerlens.errors import ConfigError
from steerlens.web.collect import collect, load_morph
from steerlens.web.report import build_report, report_html

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model():
    import steerlens

    return steerlens.load_model("mnist-cnn", progress=False)


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory) -> dict[str, Path]:
    """A morph folder and a compare folder of real MNIST morphs."""
    import steerlens
    from steerlens.demo import demo_image

    root = tmp_path_factory.mktemp("saved")
    x = demo_image("mnist:3", model)
    res = steerlens.morph(model, x, "8", frames=6)
    res.save(root / "morph")
    write_comparison(steerlens.compare(model, x, "8", frames=5), root / "compare")
    return {"morph": root / "morph", "compare": root / "compare", "root": root}


def _decode(uri: str) -> Image.Image:
    head, data = uri.split(",", 1)
    assert head in ("data:image/png;base64", "data:image/webp;base64")
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_morph_view_holds_the_saved_numbers(saved):
    manifest = json.loads((saved["morph"] / "result.json").read_text())
    view = load_morph(saved["morph"], "m")
    assert view.n_frames == 6 and view.width == 28 and view.height == 28
    assert [r.p_target for r in view.rows] == [f["p_target"] for f in manifest["frames"]]
    assert [r.l2 for r in view.rows] == [f["l2"] for f in manifest["frames"]]
    assert view.facts["weights SHA-256"] == manifest["model"]["weights_sha256"][:12] + "…"
    assert view.facts["steerlens"] == manifest["steerlens_version"]
    assert (view.overshoot is None) == (manifest["overshoot"] is None)
    # the sprite is the frames side by side, losslessly
    sprite = np.asarray(_decode(view.sprite))
    frames = np.load(saved["morph"] / "frames.npz")["frames_uint8"][..., 0]
    assert sprite.shape == (28, 6 * 28)
    assert np.array_equal(sprite, np.concatenate(list(frames), axis=1))
    # curves: p_target of the last frame at the right height of the plot
    top, bottom = view.curves.plot[1], view.curves.plot[3]
    last_y = float(view.curves.p_target.split()[-1].split(",")[1])
    assert last_y == pytest.approx(bottom - manifest["frames"][-1]["p_target"] * (bottom - top), abs=0.06)
    assert "class_names" not in view.manifest_json or "(10 names)" in view.manifest_json


def test_comparison_view_and_html(saved):
    (view,) = collect([saved["compare"]])
    compare = json.loads((saved["compare"] / "compare.json").read_text())
    assert view.kind == "compare"
    assert [m.title for m in view.morphs] == list(compare)
    assert view.budget == pytest.approx(compare["pixel"]["settings"]["matched_l2_budget"])
    # displacement arrows where the method has a field (saved in frames.npz), with its numbers
    with_field = {m for m in compare
                  if "displacement" in np.load(saved["compare"] / m / "frames.npz")}
    assert with_field >= {"csp-phase", "csp-joint"} and "pixel" not in with_field
    assert {m.title for m in view.morphs if m.arrows} == with_field
    from steerlens.web.arrows import field_arrows

    for m in view.morphs:
        assert (m.arrows_note is None) == (m.title not in with_field)
        if m.title in with_field:
            arrows = field_arrows(np.load(saved["compare"] / m.title / "frames.npz")["displacement"])
            assert m.arrows == arrows.path and m.arrows.count("M") == 2 * len(arrows.lines) > 0
            for x0, y0, x1, y1 in arrows.lines:
                assert 0 <= x0 <= 28 and 0 <= y0 <= 28 and (x0, y0) != (x1, y1)
    phase = next(m for m in view.morphs if m.title == "csp-phase")
    last = compare["csp-phase"]["frames"][-1]
    assert f"mean {last['mean_displacement']:.2f} px" in phase.arrows_note
    assert f"explains {100 * last['phase_explained']:.0f} % of the phase change" in phase.arrows_note
    html = report_html([saved["compare"], saved["morph"]])
    assert html.count('<section class="morph') == len(compare) + 1  # + the single morph
    assert html.count('<svg class="arrows"') == len(with_field) + 1  # + the csp-phase morph
    assert html.count('class="compare scrub-group"') == 1
    assert f"shared pixel L2 budget {view.budget:.4g}" in html
    assert 'http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;' in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<script src" not in html and "<link rel=\"stylesheet\"" not in html


def test_batch_case_with_only_source_and_final(saved, tmp_path):
    """A ``batch --artefacts final`` case: result.json, source.png, final.png (frames 0 and K-1)."""
    from steerlens.data.images import save_image
    from steerlens.outputs import write_json

    case = tmp_path / "cases" / "ab" / "abcdef"
    case.mkdir(parents=True)
    manifest = json.loads((saved["morph"] / "result.json").read_text())
    frames = np.load(saved["morph"] / "frames.npz")["frames_float32"]
    write_json(case / "result.json", manifest)
    save_image(frames[0].transpose(2, 0, 1), case / "source.png")
    save_image(frames[-1].transpose(2, 0, 1), case / "final.png")
    view = load_morph(case, "c")
    assert view.n_frames == 2 and view.frame_index == [0, 5] and len(view.rows) == 6
    xs = view.curves.xs
    assert view.marker_xs == f"{xs[0]:.1f},{xs[5]:.1f}"
    assert json.loads(view.frames_json)[1][3] == 5
    (table,) = collect([tmp_path])
    assert table.kind == "table" and len(table.rows) == 1
    assert table.rows[0].case_id == table.cases[0].id and table.cases[0].n_frames == 2


def test_set_of_morphs_becomes_a_table(saved):
    (compare, table) = collect([saved["root"]])
    assert compare.kind == "compare" and table.kind == "table"
    assert len(table.rows) == 1 and len(table.cases) == 1  # the morph; the compare's own morphs are not repeated
    keys = [c.key for c in table.columns]
    row = dict(zip(keys, (text for text, _ in table.rows[0].cells), strict=True))
    manifest = json.loads((saved["morph"] / "result.json").read_text())
    assert row["method"] == "csp-phase" and row["target"] == "8"
    assert row["l2"] == f"{manifest['frames'][-1]['l2']:.4g}"
    assert row["driver_success"] == ("yes" if manifest["succeeded"] else "no")


@pytest.mark.skipif(not (REPO / "results" / "mnist" / "cases.jsonl").exists(),
                    reason="results/mnist not in this checkout")
def test_experiment_folder_table_and_summaries():
    folder = REPO / "results" / "mnist"
    (view,) = collect([folder], max_rows=100)
    n_cases = sum(1 for line in (folder / "cases.jsonl").open() if line.strip())
    assert len(view.rows) == 100
    assert view.notes == [f"showing the first 100 of {n_cases} cases (--max-rows)"]
    lines = (folder / "results.md").read_text().splitlines()
    n_tables = sum(1 for line in lines if re.match(r"\|\s*:?-{3,}", line))
    assert len(view.summaries) == n_tables
    assert len(view.figures) == len(list((folder / "figures").glob("*.png")))
    keys = [c.key for c in view.columns]
    assert {"method", "budget", "driver_success", "joint_success"} <= set(keys)
    first = json.loads((folder / "cases.jsonl").open().readline())
    cells = dict(zip(keys, view.rows[0].cells, strict=True))
    assert cells["method"][0] == first["method"]
    assert float(cells["budget"][1]) == first["budget"]


def test_report_command(saved, tmp_path, capsys):
    out = tmp_path / "r" / "report.html"
    assert main(["report", str(saved["compare"]), str(saved["morph"]), "-o", str(out)]) == 0
    assert out.read_text().startswith("<!doctype html>")
    assert f"wrote {out}" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and err.startswith("error: ") and "does not exist" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty), "-o", str(out)]) == 2
    assert "holds no saved results" in capsys.readouterr().err
    assert main(["report", str(saved["morph"]), "-o", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_build_report_is_atomic(saved, tmp_path):
    out = tmp_path / "report.html"
    out.write_text("old")
    with pytest.raises(ConfigError, match="does not exist"):
        build_report([saved["morph"], tmp_path / "missing"], out)
    assert out.read_text() == "old"


def test_batch_folder(tmp_path):
    """A real ``steerlens batch`` run (``--artefacts final``, a judge): its table, cases, summary."""
    pytest.importorskip("pyarrow")
    import csv

    from steerlens.batch import run_batch
    from steerlens.config import MorphConfig

    out = tmp_path / "batch"
    run_batch("mnist", "mnist-cnn", out, methods=("pixel", "csp-phase"), limit=3,
              config=MorphConfig(frames=4), judges=("mnist-cnn-robust",), artefacts="final",
              progress=False, echo=lambda s: None, threads=1)
    records = list(csv.DictReader((out / "results.csv").open()))
    (view,) = collect([out])
    assert view.title == f"batch: {len(records)} cases" and len(records) == 6  # not "batch batch"
    keys = [c.key for c in view.columns]
    assert keys[-1] == "judge_mnist_cnn_robust"
    for rec, row in zip(records, view.rows, strict=True):
        cells = dict(zip(keys, row.cells, strict=True))
        assert cells["method"][0] == rec["method"]
        assert cells["driver_success"][1] == ("1" if rec["succeeded"] == "true" else "0")
        judge_top1 = next(v for k, v in rec.items() if k.startswith("judge_") and k.endswith("_top1_end"))
        assert cells[keys[-1]][1] == ("1" if judge_top1 == rec["target"] else "0")
        assert float(cells["l2"][1]) == pytest.approx(float(rec["l2"]))
    assert len(view.cases) == 6 and all(c.n_frames == 2 and c.frame_index == [0, 3] for c in view.cases)
    assert [s.header[0] for s in view.summaries] == ["method"]
    html = report_html([out])
    assert html.count("<template id=") == 6


@pytest.mark.parametrize("shape", [(2, 28, 28), (2, 224, 224), (2, 31, 45)])
def test_arrow_cells_match_the_core_arrows(shape):
    """One arrow grid for ``arrows.png`` and the report: its cells are torch's adaptive average
    pooling cells, for a tensor and an array alike."""
    import torch
    import torch.nn.functional as F

    from steerlens.render.arrows import arrow_grid
    from steerlens.web import arrows as web_arrows

    assert web_arrows.arrow_grid is arrow_grid  # no twin to keep in step
    field = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    t = torch.from_numpy(field)
    pooled = F.adaptive_avg_pool2d(t[None], (min(12, shape[1]), min(12, shape[2])))[0].numpy()
    for grid in (arrow_grid(field), arrow_grid(t)):
        np.testing.assert_allclose(grid[2], pooled[0], atol=1e-6)
        np.testing.assert_allclose(grid[3], pooled[1], atol=1e-6)


def test_experiment_report_reads_a_torn_journal_without_changing_it(tmp_path):
    """A running or killed experiment's cases.jsonl may end in a torn line: the report skips it and
    leaves the file as it is (the experiment repairs its own journal when it resumes)."""
    folder = tmp_path / "exp"
    folder.mkdir()
    recs = [{"key": f"mnist|standard|one-step|L2=2|pixel|default|test-000{i}", "method": "pixel",
             "budget": 2.0, "driver_success": bool(i), "l2": 2.0} for i in range(2)]
    raw = "".join(json.dumps(r) + "\n" for r in recs) + '{"key": "mnist|torn'
    (folder / "cases.jsonl").write_text(raw)
    (view,) = collect([folder])
    assert view.kind == "table" and len(view.rows) == 2
    assert (folder / "cases.jsonl").read_text() == raw
