"""The episode replays of the built book play in the browser without a kernel, and keep pages light.

Chapters 10 and 11 embed each replay as matplotlib's JavaScript-HTML animation (pgbook.replay):
the frames are PNG images inside the page and the buttons are plain JavaScript.  On the built page
each animation is present with its alt text, shows its first frame, and advances frames when its
Play button is pressed, with nothing but the static page (no kernel, no outside request); and the
page with its images stays under PAGE_LIMIT bytes.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup

from pagecheck import DESKTOP, PHONE, SCREENSHOT_DIR

#: The replays each page embeds.
REPLAYS = {"chapters/10_reinforce": 2, "chapters/11_what_policy_gradients_buy": 4}
#: Largest size of one of these pages, its HTML and the images it loads together (bytes).
PAGE_LIMIT = 3_000_000

pytestmark = pytest.mark.parametrize("doc", sorted(REPLAYS))


def _page_bytes(html_dir, doc) -> tuple[int, int]:
    page = html_dir / f"{doc}.html"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    images = {img.get("src") for img in soup.find_all("img")}
    local = [(page.parent / src).resolve() for src in images if src and not src.startswith("data:")]
    return page.stat().st_size, sum(p.stat().st_size for p in local if p.is_file())


def test_replays_are_present_with_alt_text(html_dir, doc):
    soup = BeautifulSoup((html_dir / f"{doc}.html").read_text(encoding="utf-8"), "html.parser")
    boxes = soup.select("div.pgbook-replay")
    assert len(boxes) == REPLAYS[doc], f"{doc}: {len(boxes)} replays, expected {REPLAYS[doc]}"
    for box in boxes:
        label = box.get("aria-label", "")
        img = box.find("img", id=re.compile("^_anim_img"))
        assert len(label) > 20 and img is not None and img.get("alt") == label
        assert box.find("button", title="Play") is not None


def test_page_stays_light(html_dir, doc):
    html_bytes, image_bytes = _page_bytes(html_dir, doc)
    print(f"{doc}: HTML {html_bytes / 1e6:.2f} MB + images {image_bytes / 1e6:.2f} MB")
    assert html_bytes + image_bytes < PAGE_LIMIT, (
        f"{doc}: {html_bytes + image_bytes:,} bytes (HTML {html_bytes:,}, images {image_bytes:,}) "
        f"> {PAGE_LIMIT:,}")


_STATE = """
(box) => {
  const img = box.querySelector('img[id^="_anim_img"]');
  const slider = box.querySelector('input[type="range"]');
  return {src: img.getAttribute('src') || '', width: img.naturalWidth,
          frame: parseInt(slider.value), last: parseInt(slider.max)};
}
"""


def test_replays_play_without_a_kernel(browser, server, doc):
    local = urlsplit(server).netloc
    outside, errors = [], []

    def route(r):
        parts = urlsplit(r.request.url)
        if parts.scheme in ("data", "blob", "about") or parts.netloc == local:
            return r.continue_()
        outside.append(r.request.url)
        return r.abort("blockedbyclient")

    context = browser.new_context(viewport=DESKTOP, service_workers="block")
    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda err: errors.append(f"{err.name}: {err.message}"))
    try:
        page.goto(server + doc + ".html", wait_until="load", timeout=60_000)
        boxes = page.query_selector_all("div.pgbook-replay")
        assert len(boxes) == REPLAYS[doc]
        for k, box in enumerate(boxes):
            box.scroll_into_view_if_needed()
            before = box.evaluate(_STATE)
            assert before["src"].startswith("data:image/png") and before["width"] > 0, \
                f"{doc}, replay {k}: the first frame is not shown"
            assert before["frame"] == 0 and before["last"] >= 2
            box.query_selector('button[title="Play"]').click()
            page.wait_for_function(
                "(box) => parseInt(box.querySelector('input[type=\"range\"]').value) >= 2", arg=box,
                timeout=5_000)
            after = box.evaluate(_STATE)
            assert after["frame"] > before["frame"] and after["src"] != before["src"], \
                f"{doc}, replay {k}: Play did not advance the frames"
            box.query_selector('button[title="Pause"]').click()
        slug = doc.replace("/", "__")
        boxes[0].screenshot(path=str(SCREENSHOT_DIR / f"{slug}-replay-desktop.png"))
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(300)
        wide = [b.evaluate("(b) => b.getBoundingClientRect().right") for b in boxes]
        assert max(wide) <= PHONE["width"] + 1, f"{doc}: a replay is wider than a phone: {wide}"
        boxes[0].screenshot(path=str(SCREENSHOT_DIR / f"{slug}-replay-phone.png"))
    finally:
        context.close()
    assert not errors, f"{doc}: JavaScript errors: {errors}"
    assert not [u for u in outside if "font-awesome" in u], f"{doc}: the replay asked for outside icons"
