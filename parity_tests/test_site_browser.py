"""The study site in a real browser: Playwright drives Debian's Chromium over ``file://`` pages.

The index loads with no console error and no network request, the search box filters, every concept page
shows both columns, rendered math and its parity table, links lead where they say, and the pages are usable
at 1280 and 800 pixels wide. Screenshots of the index and two concept pages are kept under
``runs/test-artefacts/site/`` (``$DLFS_ARTEFACTS`` overrides), which git ignores.

Collected only where Chromium exists (parity_tests/conftest.py); .ci/run installs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from experiments.report import find_chromium
from study.concepts import CONCEPTS, ROOT

ARTEFACTS = Path(os.environ.get("DLFS_ARTEFACTS") or ROOT / "runs" / "test-artefacts") / "site"
WIDTHS = (1280, 800)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    exe = find_chromium()
    assert exe, "Chromium is not installed (apt-get install -y chromium); this file is collected only with it"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, timeout=60_000, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


class Watched:
    """A page with every console error, uncaught exception and non-file request recorded."""

    def __init__(self, browser: Browser, width: int) -> None:
        self.page: Page = browser.new_page(viewport={"width": width, "height": 900})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.set_default_timeout(20_000)

    def open(self, url: str) -> Page:
        self.page.goto(url, wait_until="load")
        return self.page

    def network(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(("file://", "data:"))]

    def close(self) -> None:
        self.page.close()


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def tab(request, browser) -> Iterator[Watched]:
    w = Watched(browser, request.param)
    yield w
    w.close()


def visible_keys(page: Page) -> list[str]:
    return page.eval_on_selector_all("li.concept:not([hidden])", "els => els.map(e => e.dataset.key)")


def test_index_loads_clean_and_search_filters(site, tab):
    page = tab.open((site / "index.html").as_uri())
    assert page.title() == "Concepts · dlfs study"
    assert visible_keys(page) == [c.key for c in CONCEPTS]
    page.fill("#search", "lstm")
    assert visible_keys(page) == ["lstm"]
    assert page.text_content("#count") == f"1 of {len(CONCEPTS)} concepts"
    page.fill("#search", "chapter 5")
    assert visible_keys(page) == [c.key for c in CONCEPTS if c.chapter == "5"]
    assert page.is_hidden("section.chapter[data-chapter='6']")
    page.fill("#search", "gradient clipping")
    assert visible_keys(page) == ["gradient-clipping"]
    page.fill("#search", "no such concept")
    assert visible_keys(page) == [] and page.is_visible("#nomatch")
    page.fill("#search", "")
    assert len(visible_keys(page)) == len(CONCEPTS)
    assert tab.errors == [] and tab.network() == []


def test_every_concept_page_has_both_columns_math_and_parity(site, browser):
    tab = Watched(browser, 1280)
    try:
        for c in CONCEPTS:
            page = tab.open((site / "concepts" / f"{c.key}.html").as_uri())
            assert page.text_content("h1") == c.title
            scratch, torch = page.locator(".cell.scratch").count(), page.locator(".cell.torch").count()
            if c.shared:  # written once in the dlfs core: one column, every line said once
                assert scratch == torch == 0 and page.locator("details.fold").count() > 0, c.key
            else:
                assert scratch > 0 and torch > 0, c.key
            boxes = page.eval_on_selector_all("#equations math", "els => els.map(e => { "
                                              "const r = e.getBoundingClientRect(); return [r.width, r.height]; })")
            assert len(boxes) == len(c.equations) > 0, c.key
            assert all(w > 10 and h > 5 for w, h in boxes), (c.key, boxes)  # laid out as math, not hidden
            assert page.locator("#parity tbody tr").count() >= 1, c.key
            assert "e-" in page.text_content("#parity tbody") or "0.0e+00" in page.text_content("#parity tbody")
            assert "pass" in page.text_content("#parity thead"), c.key
            assert page.locator("#tests li").count() >= 2, c.key
        assert tab.errors == [] and tab.network() == []
    finally:
        tab.close()


def test_links_between_pages_work(site, browser):
    tab = Watched(browser, 1280)
    try:
        page = tab.open((site / "index.html").as_uri())
        page.click("li.concept[data-key='lstm'] > a")
        assert page.url.endswith("/concepts/lstm.html") and page.text_content("h1").startswith("LSTM")
        page.click("a[rel='next']")
        assert page.url.endswith("/concepts/rnn-linear.html")
        page.click("a[rel='prev']")
        assert page.url.endswith("/concepts/lstm.html")
        page.click("#tests li:first-child a")  # the registry's parity test, at its line
        assert "/src/parity_tests/test_concepts.py.html#L-" in page.url
        anchor = page.url.split("#")[1]
        assert page.locator(f"[id='{anchor}']").count() == 1
        assert "def test_concept_parity" in page.text_content("body")
        page.go_back()
        page.click("#docs-link a")
        assert page.url.endswith("/docs/recurrent.html") and page.locator("article h1").count() == 1
        page.click("header.top nav a[href$='#experiments']")
        page.click("ul.experiments a[href$='demo.html']")
        assert page.url.endswith("/experiments/demo.html")
        assert page.eval_on_selector_all("figure img", "els => els.every(i => i.complete && i.naturalWidth > 0)")
        assert tab.errors == [] and tab.network() == []
    finally:
        tab.close()


def test_the_fast_form_is_one_click_away(site, tab):
    page = tab.open((site / "concepts" / "lstm.html").as_uri())
    fast = page.locator("#fast-form")
    assert fast.get_attribute("open") is None and not page.locator("#fast-form .cell.scratch").first.is_visible()
    page.click("#fast-form > summary")
    assert page.locator("#fast-form .cell.scratch").first.is_visible()
    assert "scratch/fast/lstm.py" in fast.text_content()


def test_pages_are_usable_at_1280_and_800_pixels(site, tab):
    width = tab.page.viewport_size["width"]
    for rel in ("index.html", "concepts/lstm.html", "concepts/conv2d.html", "experiments/demo.html"):
        page = tab.open((site / rel).as_uri())
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{rel} at {width}px scrolls sideways ({scroll}px wide)"
        if rel.startswith("concepts/"):
            left = page.locator(".cell.scratch").first.bounding_box()
            right = page.locator(".cell.torch").first.bounding_box()
            assert left and right and left["x"] + left["width"] <= right["x"] + 1, (rel, left, right)
            assert min(left["width"], right["width"]) > 0.4 * width / 2, (rel, width, left, right)
            assert page.locator("#parity").bounding_box()["width"] > 0
        else:
            box = page.locator("main").bounding_box()
            assert box and box["width"] <= width
    assert tab.errors == [] and tab.network() == []


def test_screenshots_of_the_index_and_two_concept_pages(site, browser):
    import matplotlib.image as mpimg
    import numpy as np

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    tab = Watched(browser, 1280)
    try:
        for rel, name in (("index.html", "index"), ("concepts/lstm.html", "lstm"), ("concepts/conv2d.html", "conv2d")):
            page = tab.open((site / rel).as_uri())
            shot = ARTEFACTS / f"{name}.png"
            page.screenshot(path=str(shot), full_page=False)
            img = mpimg.imread(shot)
            assert img.shape[:2] == (900, 1280)
            rgb = img[..., :3]
            dark = (rgb.mean(axis=2) < 0.5).mean()
            assert 0.005 < dark < 0.5, f"{name}: {dark:.4f} of the pixels dark: blank or broken"
            assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 30, name  # highlighted code, badges
    finally:
        tab.close()
