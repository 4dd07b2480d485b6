"""Fixtures of the browser tests: the built book, a local web server, headless Chromium.

See pagecheck.py for the environment variables that move the folders.
"""
from __future__ import annotations

import functools
from pathlib import Path
import http.server
import os
import threading

import pytest

from pagecheck import (HTML_DIR, MATHJAX_DIR, PAGES, SCREENSHOT_DIR, VISITS, chromium_path,
                       desktop_misfits, phone_misfits)


def pytest_collection_modifyitems(config, items):
    """Without a built book, report that once (test_the_book_is_built), not once per check."""
    if (HTML_DIR / "index.html").exists():
        return
    here = Path(__file__).resolve().parent
    drop = [i for i in items if here in Path(str(i.path)).resolve().parents
            and i.originalname != "test_the_book_is_built"]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [i for i in items if i not in drop]


@pytest.fixture(scope="session")
def html_dir() -> Path:
    if not (HTML_DIR / "index.html").exists():
        pytest.fail(f"The built book is missing ({HTML_DIR}/index.html): run `make book` first "
                    "(or point PGBOOK_HTML_DIR at a build).", pytrace=False)
    return HTML_DIR


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output readable
        pass


@pytest.fixture(scope="session")
def server(html_dir):
    """Serve the built book on 127.0.0.1 at an ephemeral port, from a background thread."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser(html_dir):
    exe = chromium_path()
    if exe is None:
        message = ("Chromium is not installed, so the browser tests cannot run: "
                   "install it with `apt-get install chromium chromium-driver` (`.ci/run` does).")
        if os.environ.get("CI"):
            pytest.fail(message + " On CI this is an error, not a skip.", pytrace=False)
        pytest.skip(message)
    if not (MATHJAX_DIR / "es5" / "tex-mml-chtml.js").exists():
        pytest.fail(f"No local MathJax 3 at {MATHJAX_DIR}: run `make test-setup` "
                    "(npm install mathjax@3), or set PGBOOK_MATHJAX_DIR.", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: it is pinned in requirements.txt (`make test-setup`).",
                    pytrace=False)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=exe,
            headless=True,
            # Playwright gives every launch a fresh temporary profile (user-data-dir).
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield b
        b.close()


def pytest_terminal_summary(terminalreporter):
    if not VISITS:
        return
    tr = terminalreporter
    lines = []
    for doc in PAGES:
        v = VISITS.get(doc)
        if v is None:
            continue
        d = v.data
        phone = d.get("phone", {})
        lines.append(
            f"{doc}: title={d.get('title', '')!r}; maths {d.get('math_rendered', 0)} rendered / "
            f"{d.get('math_elements', 0)} elements; images {len(d.get('images', []))}; "
            f"MathJax files served locally {len(v.mathjax_served)}; phone width "
            f"{phone.get('scroll_width')}/{phone.get('inner_width')} px "
            f"(scroll sideways there: {phone.get('scrolling_boxes', {})}); "
            f"own JS errors {len(v.own_js_errors)}; blocked requests {len(v.blocked)}")
        misfit = {}
        for item in desktop_misfits(d.get("desktop_fit", {}).get("items", [])):
            misfit[item["kind"]] = misfit.get(item["kind"], 0) + 1
        phone_fit = d.get("phone_fit", {})
        lines.append(f"    wider than the 1280-px column: {misfit or 'nothing'}; equations a phone "
                     f"cannot scroll in their own box: "
                     f"{len(phone_misfits(phone_fit.get('items', []), phone_fit.get('inner_width', 390)))}")
        for url in sorted(set(v.blocked)):
            lines.append(f"    blocked (left 127.0.0.1): {url}")
        for msg in v.other_js_errors:
            lines.append(f"    error caused by a blocked outside resource: {msg}")
    tr.write_sep("=", "browser check of the built book")
    for line in lines:
        tr.write_line(line)
    tr.write_line(f"screenshots: {SCREENSHOT_DIR}")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    (SCREENSHOT_DIR / "report.txt").write_text("\n".join(lines) + "\n")
