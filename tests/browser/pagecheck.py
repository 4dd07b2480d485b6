"""Machinery of the browser tests: the book's pages, one visit per page in headless Chromium.

Environment variables (all optional):
    PGBOOK_HTML_DIR        the built book (default: _build/html); `make book` writes it
    PGBOOK_MATHJAX_DIR     local copy of the npm package mathjax@3
                           (default: _build/.mathjax/node_modules/mathjax; `make test-setup` installs it)
    PGBOOK_SCREENSHOT_DIR  where screenshots go (default: the folder beside the HTML, `_build/screenshots`)
    PGBOOK_CHROMIUM        the Chromium executable (default: the first of chromium, chromium-browser on PATH)
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML_DIR = Path(os.environ.get("PGBOOK_HTML_DIR", ROOT / "_build" / "html")).resolve()
MATHJAX_DIR = Path(os.environ.get("PGBOOK_MATHJAX_DIR",
                                  ROOT / "_build" / ".mathjax" / "node_modules" / "mathjax")).resolve()
SCREENSHOT_DIR = Path(os.environ.get("PGBOOK_SCREENSHOT_DIR", HTML_DIR.parent / "screenshots")).resolve()

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


# --------------------------------------------------------------------------- the book's structure
def load_config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def toc_files() -> list[str]:
    """Every document of the table of contents, in reading order (root first), without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    walk(toc.get("chapters"))
    for part in toc.get("parts") or []:
        walk(part.get("chapters"))
    return [re.sub(r"\.(md|ipynb)$", "", f) for f in files]


def source_of(doc: str) -> Path:
    """The source file of a toc entry (`chapters/01_objective` -> chapters/01_objective.ipynb)."""
    for suffix in (".ipynb", ".md"):
        if (ROOT / (doc + suffix)).exists():
            return ROOT / (doc + suffix)
    raise FileNotFoundError(f"no source for toc entry {doc!r}")


def mathjax_cdn_prefix() -> str:
    """The MathJax address the book loads (sphinx.config.mathjax_path), up to and including `mathjax@3/`."""
    path = load_config()["sphinx"]["config"]["mathjax_path"]
    match = re.match(r"(https://.*?/mathjax@3/)", path)
    assert match, f"mathjax_path {path!r} is not a MathJax 3 address the test knows how to serve"
    return match.group(1)


PAGES = toc_files()


def chromium_path() -> str | None:
    for candidate in (os.environ.get("PGBOOK_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


class Visit:
    """Everything the checks need from one page, gathered in a single visit (desktop, then phone)."""

    def __init__(self, doc: str):
        self.doc = doc
        self.url = ""
        self.blocked: list[str] = []          # requests that tried to leave 127.0.0.1
        self.mathjax_served: list[str] = []   # CDN requests answered from the local copy
        self.mathjax_missing: list[str] = []  # CDN requests the local copy could not answer
        self.local_failures: list[str] = []   # local resources that answered >= 400
        self.own_js_errors: list[str] = []    # uncaught errors / console errors from the book's scripts
        self.other_js_errors: list[str] = []  # errors that come only from blocked outside resources
        self.data: dict = {}


VISITS: dict[str, Visit] = {}

_EXTRACT = r"""
async () => {
  const result = {};
  // MathJax: wait until it has typeset the page (it may be absent on pages without maths).
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
    if (MathJax.typesetPromise) { await MathJax.typesetPromise(); }
  }
  result.mathjax_loaded = !!(window.MathJax && window.MathJax.version);
  result.mathjax_version = window.MathJax ? (window.MathJax.version || null) : null;
  const maths = Array.from(document.querySelectorAll('.math'));
  result.math_elements = maths.length;
  result.math_unrendered = maths.filter(m => !m.querySelector('mjx-container'))
                                .slice(0, 5).map(m => m.textContent.trim().slice(0, 80));
  result.math_rendered = maths.filter(m => m.querySelector('mjx-container')).length;
  result.mjx_errors = Array.from(document.querySelectorAll('mjx-merror'))
                           .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120));

  // Images: make lazy ones load now, then wait for every one to finish.
  const imgs = Array.from(document.images);
  imgs.forEach(i => { if (i.loading === 'lazy') i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null :
      new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r);
                         setTimeout(r, 10000); })));
  result.images = imgs.map(i => ({src: i.currentSrc || i.src, alt: i.getAttribute('alt'),
                                  width: i.naturalWidth}));

  // Visible text outside code, maths and scripts.
  const skip = 'pre, code, script, style, textarea, noscript, mjx-container, .highlight, .cell_input';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip)) continue;
    if (el.checkVisibility && !el.checkVisibility({checkVisibilityCSS: true})) continue;
    parts.push(n.textContent);
  }
  result.visible_text = parts.join(' ');

  result.title = document.title;
  result.h1 = Array.from(document.querySelectorAll('h1'))
      .filter(h => !h.checkVisibility || h.checkVisibility({checkVisibilityCSS: true}))
      .map(h => h.textContent.replace(/#$/, '').trim());
  const prev = document.querySelector('.prev-next-area a.left-prev');
  const next = document.querySelector('.prev-next-area a.right-next');
  result.prev = prev ? prev.href : null;
  result.next = next ? next.href : null;
  result.links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
  return result;
}
"""

_OVERFLOW = r"""
() => {
  const width = window.innerWidth;
  const doc = document.documentElement;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > width + 1 &&
        (!el.checkVisibility || el.checkVisibility({checkVisibilityCSS: true}))) {
      // Only report elements whose overflow is not clipped or scrolled by an ancestor.
      let clipped = false;
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
        const s = getComputedStyle(a);
        if (['auto', 'scroll', 'hidden', 'clip'].includes(s.overflowX)) { clipped = true; break; }
      }
      if (!clipped) wide.push(el.tagName.toLowerCase() + (el.className && typeof el.className === 'string'
                                ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
                              ` (right edge ${Math.round(r.right)} px)`);
    }
  }
  // Wide content that the reader scrolls sideways inside its own box (not a failure; reported).
  const scrolling = sel => Array.from(document.querySelectorAll(sel))
      .filter(e => e.scrollWidth > e.clientWidth + 1 &&
                   ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)).length;
  const scrolls = {equations: scrolling('mjx-container[display="true"]'), code: scrolling('pre'),
                   tables: scrolling('table, .pst-scrollable-table-container')};
  return {inner_width: width, scroll_width: Math.max(doc.scrollWidth, document.body.scrollWidth),
          wide: wide.slice(0, 8), scrolling_boxes: scrolls};
}
"""

_FIT = r"""
() => {
  // Display equations (MathJax) and code/output blocks (pre) that do not fit where the reader sees
  // them. A box "scrolls on its own" when it (or the .math wrapper of an equation) has overflow-x
  // auto/scroll and itself lies inside the screen: the reader swipes inside it, not the page.
  const width = window.innerWidth;
  const visible = el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && (!el.checkVisibility || el.checkVisibility({checkVisibilityCSS: true}));
  };
  const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  // The column: the article's content box (inside its padding).
  const column = el => {
    const c = el.closest('article, .bd-article, [role="main"]') || document.body;
    const r = c.getBoundingClientRect(), s = getComputedStyle(c);
    return {right: r.right - parseFloat(s.paddingRight), width: c.clientWidth -
            parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)};
  };
  const items = [];
  for (const el of document.querySelectorAll('mjx-container[display="true"], pre')) {
    // Skip what the reader never sees: hidden cells, and the copies MathJax makes when it typesets
    // the (visually hidden) assistive MathML of an equation a second time.
    if (!visible(el) || el.parentElement.closest('mjx-assistive-mml')) continue;
    const kind = el.tagName.toLowerCase() !== 'pre' ? 'equation'
        : el.closest('.cell_output, .output') ? 'output' : 'code';
    const box = el.getBoundingClientRect();
    const col = column(el);
    // The width the content needs: an equation's typeset maths, a pre's longest line.
    let need;
    if (kind === 'equation') {
      const m = el.querySelector('mjx-math');
      need = m ? m.getBoundingClientRect().width : el.scrollWidth;
    } else {
      need = el.scrollWidth;
    }
    const have = kind === 'equation' ? Math.min(el.clientWidth || box.width, col.width)
                                     : el.clientWidth;
    const scroller = [el, el.parentElement].find(a => a && a.classList && scrolls(a) &&
        a.getBoundingClientRect().left >= -1 && a.getBoundingClientRect().right <= width + 1) || null;
    let text = '';
    if (kind === 'equation') {
      text = (el.closest('.math') || el).textContent.replace(/\s+/g, ' ').trim();
    } else {
      text = el.textContent.split('\n').reduce((a, b) => (b.length > a.length ? b : a), '');
    }
    items.push({kind, need: Math.round(need), have: Math.round(have),
                box_right: Math.round(box.right), column_right: Math.round(col.right),
                own_scroll: !!scroller, text: text.slice(0, 90)});
  }
  return {inner_width: width, items};
}
"""


def desktop_misfits(items: list[dict], kinds=("equation", "code", "output")) -> list[dict]:
    """At desktop width every display equation and every code/output line fits its column: no box
    sticks out of the column and no content is wider than its box (a scroll bar there is a cut line)."""
    return [i for i in items if i["kind"] in kinds
            and (i["need"] > i["have"] + 1 or i["box_right"] > i["column_right"] + 1)]


def phone_misfits(items: list[dict], width: int) -> list[dict]:
    """At phone width an equation wider than its box (or the screen) is fine only when the reader can
    scroll it sideways inside its own box."""
    return [i for i in items if i["kind"] == "equation"
            and (i["need"] > i["have"] + 1 or i["box_right"] > width + 1) and not i["own_scroll"]]


def _slug(doc: str) -> str:
    return doc.replace("/", "__")


def visit(browser, server: str, doc: str) -> Visit:
    if doc in VISITS:
        return VISITS[doc]
    v = Visit(doc)
    v.url = server + doc + ".html"
    local = urlsplit(server).netloc
    cdn = mathjax_cdn_prefix()

    def route(r):
        url = r.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about") or parts.netloc == local:
            return r.continue_()
        if url.startswith(cdn):
            rel = url[len(cdn):].split("?", 1)[0].split("#", 1)[0]
            path = (MATHJAX_DIR / rel).resolve()
            if MATHJAX_DIR in path.parents and path.is_file():
                v.mathjax_served.append(rel)
                return r.fulfill(path=str(path), headers={"Access-Control-Allow-Origin": "*"})
            v.mathjax_missing.append(rel)
            return r.fulfill(status=404, body="not in the local mathjax copy")
        v.blocked.append(url)
        return r.abort("blockedbyclient")

    context = browser.new_context(viewport=DESKTOP, service_workers="block")
    context.route("**/*", route)
    page = context.new_page()

    def on_console(msg):
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        text = f"{msg.text} [{where}]"
        if any(where.startswith(b) for b in v.blocked) or (
                "Failed to load resource" in msg.text and "ERR_BLOCKED_BY_CLIENT" in msg.text):
            v.other_js_errors.append(text)
        else:
            v.own_js_errors.append("console error: " + text)

    def on_pageerror(err):
        stack = getattr(err, "stack", "") or ""
        text = f"{err.name}: {err.message}"
        urls = re.findall(r"https?://[^\s)]+", stack)
        if urls and all(urlsplit(u).hostname != "127.0.0.1" and not u.startswith(cdn) for u in urls):
            v.other_js_errors.append(text + " (from outside scripts: " + ", ".join(sorted(set(urls))) + ")")
        else:
            v.own_js_errors.append("uncaught " + text + (f"\n{stack}" if stack else ""))

    def on_response(resp):
        if urlsplit(resp.url).netloc == local and resp.status >= 400:
            v.local_failures.append(f"{resp.status} {resp.url}")

    page.on("console", on_console)
    page.on("pageerror", on_pageerror)
    page.on("response", on_response)
    try:
        page.goto(v.url, wait_until="load", timeout=60_000)
        page.wait_for_load_state("networkidle", timeout=30_000)
        v.data = page.evaluate(_EXTRACT)
        v.data["desktop_fit"] = page.evaluate(_FIT)
        page.screenshot(path=str(SCREENSHOT_DIR / f"{_slug(doc)}-desktop.png"), full_page=True)
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(300)  # let the theme's responsive layout settle
        v.data["phone"] = page.evaluate(_OVERFLOW)
        v.data["phone_fit"] = page.evaluate(_FIT)
        page.screenshot(path=str(SCREENSHOT_DIR / f"{_slug(doc)}-phone.png"), full_page=True)
    finally:
        context.close()
    VISITS[doc] = v
    return v


