"""The app and the report in a real browser: Debian's Chromium driven by Playwright.

Assertions read the DOM (attributes, text, row order), never pixels. Screenshots go to the test's
output folder; with ``STEERLENS_SCREENSHOTS_DIR=docs`` they are also copied there (that is how the
README's screenshots are made).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import Page, expect, sync_playwright

CHROMIUM = next(
    (p for p in (shutil.which("chromium"), "/usr/lib/chromium/chromium", shutil.which("chromium-browser"))
     if p and os.path.exists(p)),
    None,
)
if CHROMIUM is None:  # the only skip: `make chromium` could not install it on this machine
    pytest.skip("Chromium not found (make chromium installs Debian's package)", allow_module_level=True)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def _screenshot(page: Page, shots: Path, name: str, full_page: bool = False) -> Path:
    path = shots / name
    page.screenshot(path=str(path), full_page=full_page)
    dest = os.environ.get("STEERLENS_SCREENSHOTS_DIR")
    if dest:
        Path(dest).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(dest) / name)
    return path


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.errors = errors
    yield pg
    context.close()
    assert errors == [], f"browser errors: {errors}"


@pytest.fixture(scope="module")
def mnist():
    import steerlens

    return steerlens.load_model("mnist-cnn", progress=False)


@pytest.fixture(scope="module")
def digit_png(mnist, tmp_path_factory) -> Path:
    from PIL import Image

    from steerlens.demo import demo_image

    x = demo_image("mnist:3", mnist)[0, 0].numpy()
    path = tmp_path_factory.mktemp("upload") / "three.png"
    Image.fromarray((x * 255).round().astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from steerlens.web.app import AppConfig
    from steerlens.web.server import BackgroundServer

    cfg = AppConfig(models=["mnist-cnn"], runs_dir=tmp_path_factory.mktemp("runs"))
    with BackgroundServer(cfg, preload=True) as srv:
        yield srv


@pytest.fixture(scope="module")
def compare_report(mnist, tmp_path_factory) -> Path:
    import steerlens
    from steerlens.cli import write_comparison
    from steerlens.demo import demo_image
    from steerlens.web.report import build_report

    root = tmp_path_factory.mktemp("compare")
    res = steerlens.compare(mnist, demo_image("mnist:3", mnist), "8", frames=6)
    write_comparison(res, root / "compare")
    return build_report([root / "compare"], root / "report.html")


@pytest.fixture(scope="module")
def batch_report(tmp_path_factory) -> Path:
    from helpers.morph_set import make_morph_set

    from steerlens.web.report import build_report

    root = tmp_path_factory.mktemp("batch")
    make_morph_set(root / "batch50", n=50, frames=5)
    return build_report([root / "batch50"], root / "report.html")


# ----------------------------------------------------------------------------- helpers
def _frame_state(page: Page, scope: str) -> tuple[str, str, str]:
    """(data-frame, frame background-position, marker x1) of the first morph under ``scope``."""
    morph = page.locator(f"{scope} .morph").first
    return (
        morph.get_attribute("data-frame"),
        morph.locator(".frame").evaluate("e => e.style.backgroundPosition"),
        morph.locator("svg.curves .marker").get_attribute("x1"),
    )


def _column(page: Page, key: str) -> list[str]:
    idx = page.eval_on_selector_all(
        "table.cases thead th", f"hs => hs.findIndex(h => h.dataset.key === '{key}')"
    )
    return page.eval_on_selector_all(
        "table.cases tbody tr:not([hidden])", f"rs => rs.map(r => r.cells[{idx}].textContent)"
    )


# ----------------------------------------------------------------------------- the app
def test_app_upload_run_scrub_download(page: Page, server, digit_png, shots):
    page.goto(server.url + "/")
    expect(page.locator("#target-list option")).to_have_count(10)  # autocomplete loaded by htmx
    page.set_input_files("#upload", str(digit_png))
    page.select_option("#model", "mnist-cnn")
    page.fill("#target", "8")
    page.fill("#frames", "6")
    t0 = time.perf_counter()
    page.click("button.run-button")
    page.wait_for_selector(".run .morph", timeout=60_000)  # frames first, downloads after
    upload_to_frames = time.perf_counter() - t0
    print(f"\napp, mnist-cnn: upload -> first frame shown in {upload_to_frames:.2f} s")

    run = page.locator(".run")
    assert run.get_attribute("data-state") in ("frames", "done")
    assert run.locator(".morph").get_attribute("data-n") == "6"
    assert "8" in run.locator("h3").inner_text()
    assert float(run.get_attribute("data-elapsed")) > 0
    before = _frame_state(page, ".run")
    assert before[0] == "0"
    slider = run.locator(".slider")
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    after = _frame_state(page, ".run")
    assert after[0] == "3"
    assert after[1] != before[1] and after[1].startswith("60%")  # 3 of 5 steps along the sprite
    assert float(after[2]) > float(before[2])  # the curve marker moved right
    assert run.locator(".frame-label .k").inner_text() == "3"
    assert run.locator("tr.current").get_attribute("data-k") == "3"

    expect(run.locator(".downloads[data-ready]")).to_be_visible(timeout=30_000)
    assert run.locator(".morph").get_attribute("data-frame") == "3"  # the downloads did not reset it
    _screenshot(page, shots, "app.png", full_page=True)
    with page.expect_download() as info:
        run.locator("a.dl-morph-gif").click()
    gif = Path(info.value.path())
    from PIL import Image

    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 6
    # the MP4 next to it plays in this browser
    mp4_url = run.locator("a.dl-morph-mp4").get_attribute("href")
    size = page.evaluate(
        """url => new Promise((ok, bad) => { const v = document.createElement('video');
             v.muted = true; v.onloadeddata = () => ok([v.videoWidth, v.videoHeight, v.duration]);
             v.onerror = () => bad(String(v.error && v.error.code)); v.src = url; })""",
        mp4_url,
    )
    assert size[0] == 252 and size[1] == 252 and size[2] > 1.0  # 28 px x 9, 6 frames at 4 fps


def test_app_bad_target_shows_one_line(page: Page, server):
    page.goto(server.url + "/")
    page.fill("#target", "eight")
    page.click("button.run-button")
    err = page.locator("#run .error")
    expect(err).to_be_visible()
    text = err.inner_text()
    assert text.startswith("error: ") and "eight" in text and "\n" not in text
    assert page.errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    page.errors.clear()


# ----------------------------------------------------------------------------- reports
def test_report_comparison_scrubs_together(page: Page, compare_report, shots):
    page.goto(compare_report.as_uri())
    from steerlens.config import SIDE_BY_SIDE_METHODS

    group = page.locator("section.compare")
    assert group.locator(".morph").count() == len(SIDE_BY_SIDE_METHODS)
    markers0 = group.locator("svg.curves .marker").evaluate_all("ms => ms.map(m => m.getAttribute('x1'))")
    slider = group.locator(".scrubber .slider")
    slider.focus()
    page.keyboard.press("End")
    frames = group.locator(".morph").evaluate_all("ms => ms.map(m => m.dataset.frame)")
    assert frames == ["5"] * len(SIDE_BY_SIDE_METHODS)
    markers1 = group.locator("svg.curves .marker").evaluate_all("ms => ms.map(m => m.getAttribute('x1'))")
    assert all(float(b) > float(a) for a, b in zip(markers0, markers1, strict=True))
    # the arrows of a phase edit can be hidden
    phase = group.locator(".morph[data-method=csp-phase]")
    assert phase.locator("svg.arrows path").get_attribute("d").startswith("M")
    phase.locator("input.show-arrows").uncheck()
    assert "no-arrows" in phase.locator(".frame").get_attribute("class")
    phase.locator("input.show-arrows").check()
    # play advances the frame on its own, pause stops it
    page.keyboard.press("Home")
    group.locator(".play").click()
    page.wait_for_function("() => document.querySelector('section.compare').dataset.frame !== '0'")
    group.locator(".play").click()
    assert group.get_attribute("data-playing") == ""
    slider.focus()
    page.keyboard.press("End")
    page.evaluate("window.scrollTo(0, 0)")
    _screenshot(page, shots, "report-compare.png")


def test_report_batch_sort_filter_open(page: Page, batch_report, shots):
    page.goto(batch_report.as_uri())
    view = page.locator("section.table-view")
    assert view.get_attribute("data-matched") == "50"
    assert page.locator("table.cases tbody tr").count() == 50
    # lazy thumbnails: only rows near the viewport have loaded theirs
    loaded = page.eval_on_selector_all("img.thumb", "is => is.filter(i => i.src.startsWith('data:')).length")
    assert 0 < loaded < 50

    page.click("th[data-key=l2] button.sort")
    l2 = [float(v) for v in _column(page, "l2")]
    assert l2 == sorted(l2) and len(l2) == 50
    page.click("th[data-key=l2] button.sort")
    l2_desc = [float(v) for v in _column(page, "l2")]
    assert l2_desc == sorted(l2, reverse=True)
    assert page.get_attribute("th[data-key=l2]", "aria-sort") == "descending"
    _screenshot(page, shots, "report-table.png")

    page.select_option(".method-filter", "pixel")
    assert set(_column(page, "method")) == {"pixel"}
    assert view.get_attribute("data-matched") == "25"
    page.check(".success-only")
    shown = int(view.get_attribute("data-matched"))
    assert set(_column(page, "driver_success")) <= {"yes"} and 0 < shown <= 25
    page.fill(".filter", "0003-pixel")
    with_success = _column(page, "case")
    assert with_success in (["cases/0003-pixel"], [])

    page.uncheck(".success-only")
    assert _column(page, "case") == ["cases/0003-pixel"]
    assert _column(page, "driver_success") == ["yes" if with_success else "no"]
    page.click("table.cases tbody tr:not([hidden])")
    viewer = page.locator(".viewer")
    expect(viewer).to_be_visible()
    morph = viewer.locator(".morph")
    assert morph.get_attribute("data-method") == "pixel"
    assert morph.get_attribute("data-n") == "5"
    viewer.locator(".slider").focus()
    page.keyboard.press("End")
    assert morph.get_attribute("data-frame") == "4"
    assert viewer.locator(".frame-label .k").inner_text() == "4"
    _screenshot(page, shots, "report-batch.png")


def test_report_is_self_contained(page: Page, compare_report):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(compare_report.as_uri())
    page.locator("section.compare .slider").focus()
    page.keyboard.press("End")
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    html = compare_report.read_text()
    assert not re.search(r"""(src|href)=["']?https?:""", html)
