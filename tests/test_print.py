"""The briefings as their readers get them: printed on A4 (Chromium's print to PDF),
opened on a 390-pixel phone. A district briefing of the bundled data prints on at
most 8 pages and the index on at most 3, nothing wider than the page; on the phone
nothing makes the page scroll sideways; every chart has a Vietnamese text
alternative; the "Dữ liệu mô phỏng" banner shows on screen and in print."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import run_cli

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
#: The largest district of the bundled data (most cells, communes and at-risk cells).
UNIT, SLUG = "Sìn Hồ", "sin-ho"
#: A4 minus the print stylesheet's margins (210 mm − 2 × 11 mm), in CSS pixels.
A4_CONTENT_PX = int((210 - 22) / 25.4 * 96)
PHONE_PX = 390

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def bundled_batch(tmp_path_factory):
    """The bundled data's briefing of one district and the index."""
    out = tmp_path_factory.mktemp("print") / "outputs"
    proc = run_cli("briefings", "--only", UNIT, "--out", out, "--jobs", "2", timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (make chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def pdf_pages(pdf: bytes) -> int:
    """Pages of a PDF: its page objects ("/Type /Page", not "/Pages")."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def test_pdf_pages_are_counted():
    pdf = b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >> << /Type /Page >> << /Type/Page/Parent 2 0 R >>"
    assert pdf_pages(pdf) == 2


# evaluated in the page: elements wider than the page or than their own box
_OVERFLOW = """(width) => {
  const out = [];
  const root = document.documentElement;
  if (root.scrollWidth > width) out.push(['document', root.scrollWidth]);
  for (const el of document.querySelectorAll('table, img, .nq21-summary, .nq21-banner, h1, h2, pre')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0) continue;
    if (r.right > width + 1) out.push([el.tagName + '.' + el.className, Math.round(r.right)]);
  }
  return out;
}"""

_CLIPPED = """() => Array.from(document.querySelectorAll('table')).filter(
  t => t.scrollWidth > t.getBoundingClientRect().width + 1
    || (t.parentElement && t.parentElement.scrollWidth > t.parentElement.clientWidth + 1)
).map(t => t.className)"""


def _print(browser, path: Path):
    page = browser.new_page(viewport={"width": A4_CONTENT_PX, "height": 1100})
    page.goto(path.as_uri(), wait_until="load")
    page.emulate_media(media="print")
    return page


@pytest.mark.parametrize("name, most", [(f"district/{SLUG}.html", 8), ("index.html", 3)])
def test_prints_on_a4_within_its_pages_and_nothing_cut(bundled_batch, browser, name, most):
    page = _print(browser, bundled_batch / name)
    try:
        pdf = page.pdf(format="A4", print_background=True)
        assert 1 <= pdf_pages(pdf) <= most, f"{name}: {pdf_pages(pdf)} A4 pages"
        assert page.evaluate(_OVERFLOW, A4_CONTENT_PX) == []
        assert page.evaluate(_CLIPPED) == []
        # the synthetic-data mark prints: the banner, and the mark at the top of every page
        assert page.locator(".nq21-banner").first.is_visible()
        assert "DỮ LIỆU MÔ PHỎNG" in page.content()
        # the conclusion comes first, the appendix last
        headings = [h.strip() for h in page.locator("h2").all_inner_texts()]
        assert headings[0] == "Kết luận"
        if name.startswith("district"):
            assert headings[-1].startswith("Phụ lục kỹ thuật")
    finally:
        page.close()


@pytest.mark.parametrize("name", [f"district/{SLUG}.html", "index.html"])
def test_a_phone_never_scrolls_sideways(bundled_batch, browser, name):
    page = browser.new_page(viewport={"width": PHONE_PX, "height": 844}, device_scale_factor=2)
    try:
        page.goto((bundled_batch / name).as_uri(), wait_until="load")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_PX
        assert page.locator(".nq21-banner").first.is_visible()
        widths = page.evaluate("Array.from(document.images).map(i => i.getBoundingClientRect().right)")
        assert all(w <= PHONE_PX for w in widths)
        # a wide table scrolls inside its own box
        boxes = page.evaluate("Array.from(document.querySelectorAll('.nq21-scroll')).map("
                              "b => getComputedStyle(b).overflowX)")
        assert boxes and set(boxes) == {"auto"}
        # a table wider than the phone says so above it (scroll.js), its edge faded until scrolled to the end
        wide = page.locator(".nq21-scroll.nq21-wide").first
        assert wide.count() == 1
        assert "vuốt ngang" in page.evaluate("b => getComputedStyle(b, '::before').content", wide.element_handle())
        assert "nq21-end" not in wide.get_attribute("class")
        wide.evaluate("b => { b.scrollLeft = b.scrollWidth; }")
        page.wait_for_function("b => b.classList.contains('nq21-end')", arg=wide.element_handle())
    finally:
        page.close()


def test_every_chart_has_a_vietnamese_text_alternative(bundled_batch, browser):
    page = browser.new_page()
    try:
        page.goto((bundled_batch / "district" / f"{SLUG}.html").as_uri(), wait_until="load")
        alts = page.evaluate("Array.from(document.images).map(i => i.getAttribute('alt') || '')")
        assert len(alts) >= 5
        for alt in alts:
            assert alt.startswith("Biểu đồ") and len(alt) > 40, alt
        assert any(UNIT in alt for alt in alts)
    finally:
        page.close()
