"""Chapters are stored clean and in the book's shape.

Stored clean: no outputs, no execution counts, no widget state, and the first code cell (tag
`bootstrap`) is exactly what `scripts/sync_bootstrap.py` writes. In shape: one `#` title in the
first cell, then "what you will learn" and how long the chapter takes to run, a summary, exercises
whose solutions sit in collapsed (`hide-cell`) code cells, and alt text on every figure.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
IDS = [p.stem for p in CHAPTERS]


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def markdown_without_code(cell: dict) -> str:
    """A markdown cell's text with fenced code blocks removed (a `# comment` there is no heading)."""
    return re.sub(r"^(```|~~~).*?^\1", "", text(cell), flags=re.S | re.M)


def headings(nb: dict, level: int) -> list[str]:
    out = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            out += re.findall(rf"^{'#' * level}\s+(.+)$", markdown_without_code(cell), flags=re.M)
    return out


def test_there_are_chapters():
    assert len(CHAPTERS) >= 12, f"expected the 12 chapters of _toc.yml, found {IDS}"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_stored_without_outputs_counts_or_widget_state(path):
    nb = load(path)
    dirty = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        if cell.get("outputs"):
            dirty.append(f"cell {i} has outputs")
        if cell.get("execution_count") is not None:
            dirty.append(f"cell {i} has execution_count {cell['execution_count']}")
        if "execution" in cell.get("metadata", {}):
            dirty.append(f"cell {i} has execution timing metadata")
    if "widgets" in nb.get("metadata", {}):
        dirty.append("notebook metadata holds widget state")
    assert not dirty, f"{path.name}: " + "; ".join(dirty) + " (run `python scripts/sync_bootstrap.py`)"


def test_bootstrap_cells_in_step():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync_bootstrap.py"), "--check"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_first_code_cell_is_the_bootstrap(path):
    code = [c for c in load(path)["cells"] if c["cell_type"] == "code"]
    assert code and "bootstrap" in code[0].get("metadata", {}).get("tags", []), (
        f"{path.name}: the first code cell should be the bootstrap cell (run scripts/sync_bootstrap.py)")


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_one_title_in_the_first_cell(path):
    nb = load(path)
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown" and re.match(r"#\s+\S", text(first).lstrip()), (
        f"{path.name}: the first cell should be markdown starting with the `# Title`")
    titles = headings(nb, 1)
    assert len(titles) == 1, f"{path.name}: expected one `#` title, found {titles}"


def _opening(nb: dict) -> str:
    """The markdown between the title and the first code cell after the bootstrap cell."""
    parts, code_seen = [], 0
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            code_seen += 1
            if code_seen > 1:
                break
        else:
            parts.append(markdown_without_code(cell))
    return "\n".join(parts)


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_opens_with_what_you_will_learn_and_run_time(path):
    opening = _opening(load(path))
    assert re.search(r"what you will learn", opening, re.I), (
        f"{path.name}: the chapter should open (after its title) with what the reader will learn")
    assert re.search(r"\b\d+\s*(s|sec|secs|seconds?|min|mins|minutes?)\b", opening, re.I), (
        f"{path.name}: the opening should say roughly how long the chapter takes to run")


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_ends_with_summary_and_exercises(path):
    nb = load(path)
    level2 = [h.strip() for h in headings(nb, 2)]
    assert any(re.match(r"summary", h, re.I) for h in level2), (
        f"{path.name}: no `## Summary` section (sections: {level2})")
    assert any(re.match(r"exercises?", h, re.I) for h in level2), (
        f"{path.name}: no `## Exercises` section (sections: {level2})")
    hidden = [c for c in nb["cells"] if c["cell_type"] == "code"
              and "hide-cell" in c.get("metadata", {}).get("tags", [])]
    assert len(hidden) >= 2, f"{path.name}: expected 2-3 exercise solutions in `hide-cell` code cells"
    no_assert = [text(c).splitlines()[0] if text(c) else "" for c in hidden if "assert" not in text(c)]
    assert not no_assert, f"{path.name}: exercise solutions should assert their answer: {no_assert}"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_every_figure_cell_has_alt_text(path):
    missing = []
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] != "code" or "plt.show()" not in text(cell):
            continue
        alt = cell.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt", "")
        if not str(alt).strip():
            missing.append(f"cell {i}: {text(cell).splitlines()[0][:60]!r}")
    assert not missing, (f"{path.name}: figure cells without alt text (metadata "
                         f'{{"mystnb": {{"image": {{"alt": "..."}}}}}}): {missing}')
