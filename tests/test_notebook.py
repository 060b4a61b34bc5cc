"""Morphs inline in Jupyter: ``examples/quickstart.ipynb`` executed by a real kernel (nbclient +
ipykernel), its HTML outputs opened in Debian's Chromium (Playwright), sliders moved.

Assertions read the DOM, never pixels.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("playwright.sync_api")

from playwright.sync_api import sync_playwright

from steerlens.web.render import REPORT_CSP

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart.ipynb"
CHROMIUM = next(
    (p for p in (shutil.which("chromium"), "/usr/lib/chromium/chromium", shutil.which("chromium-browser"))
     if p and os.path.exists(p)),
    None,
)


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> tuple[list[str], Path]:
    """The quickstart run by a kernel in a fresh folder: each code cell's HTML output, in order."""
    run_dir = tmp_path_factory.mktemp("quickstart")
    nb = nbformat.read(QUICKSTART, as_version=4)
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(run_dir)}}).execute()
    html = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
        html += [o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {})]
    return html, run_dir


def test_the_quickstart_shows_a_morph_a_comparison_a_batch_and_a_page_once_each(executed):
    html, run_dir = executed
    # result, comparison, batch table, show([...]): four displays, show() not displayed twice
    assert len(html) == 4
    morph, compare, batch, page = html
    assert morph.count('class="morph scrub-group"') == 1 and 'type="range"' in morph
    assert compare.count('class="morph"') == 3 and 'class="compare scrub-group"' in compare
    assert 'class="table-view"' in batch and batch.count("<tr data-case=") == 6
    assert page.count('class="morph scrub-group"') == 2
    assert (run_dir / "out" / "batch" / "results.csv").is_file()
    # self-contained: images are data: URIs, no URL to any host, style scoped to its own <div>
    for h in html:
        assert not re.search(r"(src|href)=\"(https?:)?//", h)
        assert "url(data:image/" in h or "data-src=\"data:image/" in h
        assert re.search(r"<style>\.steerlens-nb \{", h) and "\nbody {" not in h
    # every element id on the page is unique across displays
    ids = [i for h in html for i in re.findall(r' id="([^"]+)"', h)]
    assert len(ids) == len(set(ids)) and len(ids) > 10


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not found (make chromium installs it)")
def test_in_chromium_the_slider_moves_the_frame_and_displays_do_not_clash(executed, tmp_path):
    html, _ = executed
    page_file = tmp_path / "notebook.html"
    page_file.write_text(
        f'<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{REPORT_CSP}"></head><body>'
        '<table id="host-table"><tr><th>notebook</th></tr></table>'
        + "".join(f'<div class="output">{h}</div>' for h in html) + "</body></html>",
        encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        requests: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("data:", "file:")) else None)
        page.goto(page_file.as_uri())

        first = page.locator(".output").nth(0).locator("section.morph")
        frame = first.locator(".frame")
        n = int(first.get_attribute("data-n"))
        assert n >= 3 and frame.get_attribute("data-k") == "0"
        before = frame.evaluate("el => el.style.backgroundPosition")
        first.locator("input.slider").fill(str(n - 1))
        assert frame.get_attribute("data-k") == str(n - 1)
        assert frame.evaluate("el => el.style.backgroundPosition") != before
        assert first.locator(".frame-label .k").text_content() == str(n - 1)
        # the same morph shown again by show([...]) further down did not move
        again = page.locator(".output").nth(3).locator("section.morph").first
        assert again.locator(".frame").get_attribute("data-k") == "0"

        # one slider moves every method of the comparison
        compare = page.locator(".output").nth(1).locator("section.compare")
        compare.locator("input.slider").first.fill("3")
        ks = compare.locator(".frame").evaluate_all("els => els.map(e => e.dataset.k)")
        assert len(ks) == 3 and all(k != "0" for k in ks)

        # a batch row opens its morph, whose own slider works
        batch = page.locator(".output").nth(2)
        batch.locator("tr[data-case]").first.click()
        viewer = batch.locator(".viewer-body section.morph")
        viewer.locator("input.slider").fill("1")
        assert viewer.locator(".frame").get_attribute("data-k") == "1"

        # the notebook's own page keeps its style: the report's sheet is scoped to its displays
        align = page.locator("#host-table th").evaluate("el => getComputedStyle(el).textAlign")
        assert align != "right"
        page.screenshot(path=str(tmp_path / "notebook.png"), full_page=True)
        browser.close()
    assert errors == [] and requests == []
