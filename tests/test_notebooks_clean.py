"""Chapters are stored clean, as Jupyter saves them, and in the book's shape.

Stored clean: no outputs, no execution counts, no widget state, and the first code cell (tag
`bootstrap`) is exactly what `scripts/sync_bootstrap.py` writes. As Jupyter saves them: the
notebook metadata Jupyter itself writes for a python3 ipykernel notebook (kernelspec and
language_info) and the file text of `nbformat.writes`, so opening and saving a chapter in Jupyter
changes nothing; and what the HTML book hides (exercise solutions, the set-up cell) is collapsed in
Jupyter too. In shape: one `#` title in the first cell, then "what you will learn" and how long the
chapter takes to run, a summary, exercises whose solutions sit in collapsed (`hide-cell`) code cells,
and alt text on every figure.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
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
def test_stored_exactly_as_jupyter_saves_it(path):
    """Jupyter saves a notebook with nbformat.write (keys sorted, indent 1, a final newline)."""
    stored = path.read_text(encoding="utf-8")
    nb = nbformat.reads(stored, as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5), (
        f"{path.name}: nbformat {nb.nbformat}.{nb.nbformat_minor}")
    assert stored == nbformat.writes(nb) + "\n", (
        f"{path.name}: saving it from Jupyter would change the file "
        "(run `python scripts/sync_bootstrap.py`)")


def jupyter_writes() -> tuple[dict, dict]:
    """The kernelspec and language_info Jupyter stores for a python3 ipykernel notebook, from the
    installed ipykernel: its kernel.json and the language_info of its kernel_info reply."""
    from ipykernel.ipkernel import IPythonKernel
    from ipykernel.kernelspec import KERNEL_NAME, get_kernel_dict

    spec = get_kernel_dict()
    kernelspec = {"display_name": spec["display_name"], "language": spec["language"],
                  "name": KERNEL_NAME}
    return kernelspec, json.loads(json.dumps(IPythonKernel.language_info))


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_kernel_metadata_as_jupyter_writes_it(path):
    """Opening a chapter in JupyterLab must not rewrite its metadata (which marks it edited)."""
    kernelspec, language_info = jupyter_writes()
    meta = load(path)["metadata"]
    assert meta.get("kernelspec") == kernelspec, (
        f"{path.name}: kernelspec {meta.get('kernelspec')}, Jupyter writes {kernelspec}")
    stored = meta.get("language_info", {})
    # The Python version is the book's environment's (.venv; scripts/sync_bootstrap.py says why);
    # every other field is what ipykernel reports.
    assert re.fullmatch(r"3\.\d+\.\d+", str(stored.get("version", ""))), (
        f"{path.name}: language_info.version should be a Python version such as 3.11.7: {stored}")
    assert {**stored, "version": None} == {**language_info, "version": None}, (
        f"{path.name}: language_info {stored}, Jupyter writes {language_info}")
    versions = {load(p)["metadata"].get("language_info", {}).get("version") for p in CHAPTERS}
    assert len(versions) == 1, f"every chapter should store the same Python version: {versions}"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_hidden_in_the_book_collapsed_in_jupyter(path):
    """Exercise solutions (`hide-cell`) open collapsed, source and output, in JupyterLab, Notebook 7
    (`jupyter.source_hidden`/`outputs_hidden`) and classic Notebook (`collapsed`); the set-up cell
    (`hide-input`) opens with its code collapsed and its messages visible."""
    wrong = []
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] != "code":
            continue
        meta = cell.get("metadata", {})
        tags = set(meta.get("tags", []))
        jupyter = meta.get("jupyter", {})
        hides_source = bool(tags & {"hide-input", "hide-cell"})
        hides_output = bool(tags & {"hide-output", "hide-cell"})
        if bool(jupyter.get("source_hidden")) != hides_source:
            wrong.append(f"cell {i} (tags {sorted(tags)}): jupyter.source_hidden should be "
                         f"{hides_source}")
        if (bool(jupyter.get("outputs_hidden")) != hides_output
                or bool(meta.get("collapsed")) != hides_output):
            wrong.append(f"cell {i} (tags {sorted(tags)}): jupyter.outputs_hidden and collapsed "
                         f"should be {hides_output}")
    assert not wrong, f"{path.name}: " + "; ".join(wrong) + " (run `python scripts/sync_bootstrap.py`)"
    code = [c for c in load(path)["cells"] if c["cell_type"] == "code"]
    boot = code[0].get("metadata", {})
    assert boot.get("jupyter") == {"source_hidden": True} and "collapsed" not in boot, (
        f"{path.name}: the set-up cell should show its messages but not its code: {boot}")


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
    answers = [c for c in nb["cells"] if c["cell_type"] == "markdown"
               and ANSWER_IN_PROSE.search(text(c))]
    assert len(hidden) + len(answers) >= 2, (
        f"{path.name}: expected 2-3 exercise answers: collapsed prose (<details>) or solutions "
        f"in `hide-cell` code cells")
    no_assert = [text(c).splitlines()[0] if text(c) else "" for c in hidden if "assert" not in text(c)]
    assert not no_assert, f"{path.name}: exercise solutions should assert their answer: {no_assert}"


# An answer in prose, folded in Jupyter and in the book alike.
ANSWER_IN_PROSE = re.compile(r"<details>\s*<summary>[^<]*(answer|solution)", re.I)

# The widest code line the book's code box shows at 1280 px without scrolling (tests/browser
# checks the box itself); a line a reader must scroll sideways to read is cut in two.
CODE_COLUMNS = 79


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_code_lines_fit_the_column(path):
    """Every line of every code cell, hidden ones too (one click shows them), fits the column."""
    wide = []
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] != "code":
            continue
        for j, line in enumerate(text(cell).splitlines(), 1):
            if len(line) > CODE_COLUMNS:
                wide.append(f"cell {i} line {j} ({len(line)} chars): {line[:50]!r}...")
    assert not wide, (f"{path.name}: {len(wide)} code lines wider than {CODE_COLUMNS} "
                      f"characters:\n" + "\n".join(wide))


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


ASSERT_STATEMENT = re.compile(r"^\s*assert\b", re.M)


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_plotting_code_hidden_in_the_book(path):
    """A cell whose only job is to draw a figure (it shows or saves one and checks nothing) shows
    its figure and caption but folds its code away (`hide-input`: one click in the book, collapsed
    in Jupyter). Cells that also assert something stay open: the reader sees the check."""
    shown = []
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = text(cell)
        draws = any(call in source for call in ("plt.show()", ".savefig(", "show_panels("))
        if not draws or ASSERT_STATEMENT.search(source):
            continue
        tags = set(cell.get("metadata", {}).get("tags", []))
        if not tags & {"hide-input", "hide-cell"}:
            shown.append(f"cell {i}: {source.splitlines()[0][:60]!r}")
    assert not shown, (f"{path.name}: plotting cells without asserts should be tagged hide-input "
                       f"(then run `python scripts/sync_bootstrap.py`): {shown}")
