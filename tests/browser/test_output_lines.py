"""Printed output fits the column line by line, as the reader sees it after the book's build.

The page style wraps a line of output that is wider than its box (so nothing is cut), but a
wrapped table or a number broken over two lines reads badly. So every line a chapter prints in
the built book (the executed notebooks that `jupyter-book build` keeps next to the HTML) is at
most as wide as a code line may be (tests/test_notebooks_clean.py, 79 characters). Warnings
on stderr and tracebacks are left out: they are pgbook's or a library's, and a chapter that
raises fails the build anyway.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pagecheck import HTML_DIR, PAGES, ROOT

sys.path.insert(0, str(ROOT / "tests"))
from test_notebooks_clean import CODE_COLUMNS  # noqa: E402

EXECUTED = HTML_DIR.parent / "jupyter_execute"
NOTEBOOKS = [doc for doc in PAGES if (ROOT / f"{doc}.ipynb").exists()]


def printed_lines(output: dict) -> list[str]:
    if output.get("output_type") == "stream" and output.get("name") == "stdout":
        text = output.get("text", "")
    elif output.get("output_type") in ("execute_result", "display_data"):
        data = output.get("data", {})
        if any(k == "text/html" or k.startswith(("image/", "application/vnd.jupyter.widget"))
               for k in data):
            return []  # shown as HTML, a picture or a widget, not as text
        text = data.get("text/plain", "")
    else:
        return []
    return ("".join(text) if isinstance(text, list) else text).splitlines()


@pytest.mark.parametrize("doc", NOTEBOOKS)
def test_printed_lines_fit_the_column(html_dir, doc):
    executed = EXECUTED / f"{doc}.ipynb"
    assert executed.exists(), f"{executed} missing: build the book first (make book)"
    wide = []
    for i, cell in enumerate(json.loads(executed.read_text(encoding="utf-8"))["cells"]):
        for output in cell.get("outputs", []):
            for line in printed_lines(output):
                if len(line) > CODE_COLUMNS:
                    wide.append(f"cell {i} ({len(line)} chars): {line[:60]!r}...")
    assert not wide, (f"{doc}: {len(wide)} printed lines wider than {CODE_COLUMNS} characters:\n"
                      + "\n".join(wide))
