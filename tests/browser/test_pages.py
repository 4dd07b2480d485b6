"""The HTML book as readers meet it: every page of the table of contents in headless Chromium.

Run after the book is built (`make book`; `make test` runs this step after the strict build).
The pages are served from `_build/html` on 127.0.0.1. Every request that would leave the machine is
blocked and listed in the summary, except MathJax 3: the book loads it from its CDN address and the
test answers that address from a local copy of the npm package `mathjax@3` (`make test-setup`).
Screenshots at desktop and phone width go to `_build/screenshots/` (with `report.txt`).

On every page: MathJax rendered every maths element and no raw TeX is left in the visible text; every
image loaded; no JavaScript error from the book's own scripts and no missing local file; the Colab
and Binder links open this chapter's notebook in the repository and branch of `_config.yml`; a title,
one h1, previous/next links in reading order; no horizontal overflow at a 390-px phone width.
At 1280 px no display equation and no line of printed output is wider than its column (code lines
are measured and listed in the report, not yet asserted: many are still wider than the code box);
at 390 px every equation wider than the screen scrolls sideways inside its own box.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from pagecheck import (PAGES, ROOT, SCREENSHOT_DIR, _slug, desktop_misfits, load_config,
                       phone_misfits, source_of, visit)

RAW_TEX = re.compile(
    r"\$\$|\\[()\[\]]|\\(nabla|theta|frac|sum|prod|mathbb|mathcal|mathrm|begin|end|left|right|"
    r"log|pi|tau|gamma|mu|sigma|partial|int|mid|cdot|approx|operatorname|text)(?![A-Za-z])")

pytestmark = pytest.mark.parametrize("doc", PAGES)


def _page(browser, server, doc):
    return visit(browser, server, doc)


def test_maths_rendered(browser, server, doc):
    v = _page(browser, server, doc)
    d = v.data
    problems = []
    if d["math_elements"]:
        if not d["mathjax_loaded"]:
            problems.append("MathJax did not load (served locally: "
                            f"{v.mathjax_served}, missing from the local copy: {v.mathjax_missing})")
        if d["math_unrendered"]:
            problems.append(f"maths left untypeset: {d['math_unrendered']}")
        if d["mjx_errors"]:
            problems.append(f"MathJax reported TeX errors: {d['mjx_errors']}")
    if v.mathjax_missing:
        problems.append(f"MathJax asked for files the local copy lacks: {v.mathjax_missing}")
    raw = sorted({m.group(0) for m in RAW_TEX.finditer(d["visible_text"])})
    if raw:
        where = [d["visible_text"][max(m.start() - 40, 0):m.end() + 40].replace("\n", " ")
                 for m in RAW_TEX.finditer(d["visible_text"])][:3]
        problems.append(f"raw TeX in the visible text: {raw}, e.g. {where}")
    assert not problems, f"{doc}: " + "; ".join(problems)


def test_images_loaded(browser, server, doc):
    v = _page(browser, server, doc)
    broken = [img["src"] for img in v.data["images"] if not img["width"]]
    assert not broken, f"{doc}: images that did not load (natural width 0): {broken}"


def test_no_javascript_errors(browser, server, doc):
    v = _page(browser, server, doc)
    problems = v.own_js_errors + [f"local file failed: {f}" for f in v.local_failures]
    assert not problems, f"{doc}: " + "\n".join(problems)


def _repository():
    config = load_config()
    repo = config["repository"]
    parts = urlsplit(repo["url"])
    assert parts.netloc == "github.com", f"repository.url {repo['url']!r} is not a GitHub repository"
    owner, name = parts.path.strip("/").removesuffix(".git").split("/")[:2]
    book = (repo.get("path_to_book") or "").strip("/")
    return config, owner, name, repo.get("branch", "main"), book


def test_launch_links(browser, server, doc):
    v = _page(browser, server, doc)
    config, owner, name, branch, book = _repository()
    launch = config.get("launch_buttons", {})
    colab_base = launch.get("colab_url", "https://colab.research.google.com").rstrip("/")
    binder_base = launch.get("binderhub_url", "https://mybinder.org").rstrip("/")
    colab = [u for u in v.data["links"] if u.startswith(colab_base)]
    binder = [u for u in v.data["links"] if u.startswith(binder_base)]
    source = source_of(doc)
    if source.suffix != ".ipynb":
        # A Markdown page has no notebook to launch; a launch link here would open nothing.
        assert not colab and not binder, f"{doc} is Markdown but has launch links: {colab + binder}"
        return
    path = "/".join(p for p in (book, source.relative_to(ROOT).as_posix()) if p)
    assert (ROOT / source.relative_to(ROOT)).exists()
    expected_colab = f"{colab_base}/github/{owner}/{name}/blob/{branch}/{path}"
    assert colab == [expected_colab] or set(colab) == {expected_colab}, (
        f"{doc}: Colab link(s) {colab}, expected {expected_colab}")
    assert binder, f"{doc}: no Binder link"
    for url in binder:
        parts = urlsplit(url)
        assert parts.path == f"/v2/gh/{owner}/{name}/{branch}", f"{doc}: Binder link {url} is not {owner}/{name}@{branch}"
        query = parse_qs(parts.query)
        target = (query.get("urlpath") or query.get("labpath") or query.get("filepath") or [""])[0]
        assert target.endswith(path), f"{doc}: Binder link {url} does not open {path}"


def test_title_and_prev_next(browser, server, doc):
    v = _page(browser, server, doc)
    d = v.data
    book_title = load_config()["title"]
    assert d["title"].strip() and "<no title>" not in d["title"], f"{doc}: no page title"
    assert book_title in d["title"], f"{doc}: title {d['title']!r} does not name the book"
    assert len(d["h1"]) == 1, f"{doc}: expected one h1 heading, found {d['h1']}"
    i = PAGES.index(doc)
    base = v.url.rsplit("/", 1)[0]
    strip = lambda u: u.split("#", 1)[0] if u else None  # noqa: E731
    expected_prev = server_url(v.url, PAGES[i - 1]) if i > 0 else None
    expected_next = server_url(v.url, PAGES[i + 1]) if i + 1 < len(PAGES) else None
    assert d["prev"] or d["next"], f"{doc}: neither a previous nor a next link ({base})"
    assert strip(d["prev"]) == expected_prev, f"{doc}: previous link {d['prev']}, expected {expected_prev}"
    assert strip(d["next"]) == expected_next, f"{doc}: next link {d['next']}, expected {expected_next}"


def server_url(page_url: str, doc: str) -> str:
    origin = "/".join(page_url.split("/", 3)[:3])
    return f"{origin}/{doc}.html"


def test_no_horizontal_overflow_on_a_phone(browser, server, doc):
    v = _page(browser, server, doc)
    phone = v.data["phone"]
    assert phone["scroll_width"] <= phone["inner_width"] + 1, (
        f"{doc}: at {phone['inner_width']} px the page is {phone['scroll_width']} px wide; "
        f"elements sticking out: {phone['wide']}")


def test_screenshots_saved(browser, server, doc):
    _page(browser, server, doc)
    for width in ("desktop", "phone"):
        shot = SCREENSHOT_DIR / f"{_slug(doc)}-{width}.png"
        assert shot.exists() and shot.stat().st_size > 1000, f"{doc}: no {width} screenshot at {shot}"


def _describe(items: list[dict]) -> str:
    return "\n".join(f"  {i['kind']} needs {i['need']} px, has {i['have']} px "
                     f"(box right edge {i['box_right']}, column {i['column_right']}"
                     f"{', scrolls in its own box' if i['own_scroll'] else ''}): {i['text']!r}"
                     for i in items)


def test_equations_code_and_output_fit_the_desktop_column(browser, server, doc):
    """At 1280 px no display equation, no code line and no line of printed output is wider than its
    column: the reader sees it whole, without a scroll bar in the middle of a formula or a cut line."""
    v = _page(browser, server, doc)
    fit = v.data["desktop_fit"]
    bad = desktop_misfits(fit["items"], kinds=("equation", "code", "output"))
    assert not bad, (f"{doc}: {len(bad)} display equation(s), code or output block(s) wider than "
                     f"the column at {fit['inner_width']} px:\n" + _describe(bad))


def test_equations_scroll_in_their_own_box_on_a_phone(browser, server, doc):
    """At 390 px an equation wider than the screen is read by swiping inside its own box, never by
    scrolling (or missing part of) the page."""
    v = _page(browser, server, doc)
    fit = v.data["phone_fit"]
    bad = phone_misfits(fit["items"], fit["inner_width"])
    assert not bad, (f"{doc}: {len(bad)} display equation(s) wider than the {fit['inner_width']}-px "
                     "screen that cannot be scrolled inside their own box:\n" + _describe(bad))
