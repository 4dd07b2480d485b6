"""Keep the set-up cell of every chapter in step, and every notebook clean and as Jupyter saves it.

The first code cell of each chapter (tagged ``bootstrap``) makes sure the book's package ``pgbook``
is there. When a chapter is opened alone (Colab, or ``PGBOOK_BOOTSTRAP=1``) and ``pgbook`` is
missing, it says so and installs it from the repository URL and branch in ``_config.yml``; anywhere
else it stops the chapter with the command that installs it; when ``pgbook`` is there it prints
nothing. This script writes that cell into every notebook in ``chapters/`` and

- strips outputs, execution counts, execution timing and widget state;
- collapses in Jupyter what the HTML book hides: a cell tagged ``hide-input`` (the set-up cell) gets
  ``"jupyter": {"source_hidden": true}``; one tagged ``hide-output`` gets ``"collapsed": true`` and
  ``"jupyter": {"outputs_hidden": true}``; one tagged ``hide-cell`` (exercise solutions) gets both.
  JupyterLab and Notebook 7 honour ``jupyter.*``, classic Notebook ``collapsed``; MyST-NB ignores
  them and uses the tags. Cells without these tags carry none of these keys;
- stores the notebook metadata that Jupyter itself writes for a python3 ipykernel notebook
  (``kernelspec`` and ``language_info``), so opening a chapter does not mark it edited;
- writes the file exactly as Jupyter saves it (``nbformat.writes``: keys sorted, indent 1,
  ``ensure_ascii=False``, a final newline), so saving it from Jupyter changes nothing.

    python scripts/sync_bootstrap.py          # rewrite the notebooks
    python scripts/sync_bootstrap.py --check  # exit 1 if any notebook is out of step
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What Jupyter writes when a python3 ipykernel kernel opens the notebook: the kernelspec from
# ipykernel's kernel.json and the language_info of ipykernel's kernel_info reply. Only the Python
# version varies between machines; it is the one of the book's environment (.venv, Python 3.11).
# Trade-off: opened with another Python (Colab, a newer local one), Jupyter updates this one field,
# and saving would change it; with no version stored, every Python would.
PYTHON_VERSION = "3.11.7"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": PYTHON_VERSION,
}

TEMPLATE = '''\
# Set-up: this chapter needs the book's package `pgbook`. When pgbook is
# there, this cell does nothing. When it is missing and the chapter runs
# alone (in Colab, or with PGBOOK_BOOTSTRAP=1), the cell installs it from
# the book's repository; anywhere else it stops and shows the command that
# installs it. (Kept in step by scripts/sync_bootstrap.py.)
import importlib, importlib.util, os, subprocess, sys, time

PGBOOK_REPO = os.environ.get(
    "PGBOOK_REPO_URL",
    "@URL@")
PGBOOK_BRANCH = os.environ.get("PGBOOK_BRANCH", "@BRANCH@")


class SetUpError(RuntimeError):
    """Stops the chapter with a plain message (no traceback in IPython)."""

    def _render_traceback_(self):
        return str(self).splitlines()


def set_up_pgbook():
    importlib.invalidate_caches()
    if importlib.util.find_spec("pgbook") is not None:
        return  # installed: nothing to do
    source = f"git+{PGBOOK_REPO}@{PGBOOK_BRANCH}"
    alone = os.environ.get("PGBOOK_BOOTSTRAP") == "1"
    if "google.colab" not in sys.modules and not alone:
        raise SetUpError(
            "Set-up: this chapter needs the book's package pgbook, which is\\n"
            f"not installed in the Python that runs it ({sys.executable}).\\n"
            "Install it with this line in a new cell, then run the chapter:\\n"
            f'    %pip install "{source}"\\n'
            "(Or, in a clone of the repository, run `make book`: it sets up\\n"
            ".venv with pgbook.)")
    print("Installing the book's package pgbook with pip, from branch "
          f"{PGBOOK_BRANCH} of\\n    {PGBOOK_REPO}\\n"
          "This takes about 30 s in Colab; a few minutes if numpy,\\n"
          "matplotlib and gymnasium must come too...", flush=True)
    start = time.monotonic()
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet",
         "--progress-bar", "off", "--disable-pip-version-check", source],
        capture_output=True, text=True)
    importlib.invalidate_caches()
    if pip.returncode != 0:
        said = [line.strip() for line in (pip.stderr + pip.stdout).splitlines()
                if line.strip()]
        reason = next(
            (line for line in said if line.startswith(("fatal:", "ERROR:"))),
            said[-1] if said else f"exit code {pip.returncode}")
        raise SetUpError(
            "Set-up failed: pip could not install pgbook from branch "
            f"{PGBOOK_BRANCH} of\\n    {PGBOOK_REPO}\\npip says: {reason}\\n"
            "Check the internet connection (and PGBOOK_REPO_URL and\\n"
            "PGBOOK_BRANCH, if set); then run this cell again, or this line:\\n"
            f'    %pip install "{source}"')
    if importlib.util.find_spec("pgbook") is None:
        raise SetUpError(
            "Set-up: pip installed pgbook, but this kernel does not see it\\n"
            "yet. Restart the kernel (in Colab: Runtime > Restart session),\\n"
            "then run the chapter again.")
    print(f"Installed pgbook in {time.monotonic() - start:.0f} s.")


set_up_pgbook()'''

# MyST-NB tag -> the Jupyter cell metadata that collapses the same part of the cell.
HIDES_SOURCE = {"hide-input", "hide-cell"}
HIDES_OUTPUT = {"hide-output", "hide-cell"}


def repository() -> tuple[str, str]:
    text = (ROOT / "_config.yml").read_text()
    block = text.split("repository:", 1)[1]
    url = re.search(r"^\s+url:\s*(\S+)", block, re.M).group(1)
    branch = re.search(r"^\s+branch:\s*(\S+)", block, re.M).group(1)
    return url, branch


def bootstrap_source() -> str:
    url, branch = repository()
    return TEMPLATE.replace("@URL@", url).replace("@BRANCH@", branch)


def collapsed_as_tagged(cell: dict) -> None:
    """Set (or clear) the Jupyter collapse metadata of a code cell from its MyST-NB tags."""
    meta = cell.setdefault("metadata", {})
    tags = set(meta.get("tags", []))
    jupyter = {k: v for k, v in meta.get("jupyter", {}).items()
               if k not in ("source_hidden", "outputs_hidden")}
    meta.pop("collapsed", None)
    if tags & HIDES_SOURCE:
        jupyter["source_hidden"] = True
    if tags & HIDES_OUTPUT:
        jupyter["outputs_hidden"] = True
        meta["collapsed"] = True
    if jupyter:
        meta["jupyter"] = jupyter
    else:
        meta.pop("jupyter", None)


def cleaned(nb: dict) -> dict:
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": "bootstrap",
        "metadata": {"tags": ["bootstrap", "hide-input"]},
        "outputs": [],
        "source": bootstrap_source().splitlines(keepends=True),
    }
    cells = nb.get("cells", [])
    first_code = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), None)
    if first_code is not None and "bootstrap" in cells[first_code].get("metadata", {}).get("tags", []):
        cells[first_code] = {**cells[first_code], **{k: cell[k] for k in ("id", "source", "metadata")}}
    else:
        # After the title cell (the first markdown cell), before any code.
        at = 1 if cells and cells[0]["cell_type"] == "markdown" else 0
        cells.insert(at, cell)
    for c in cells:
        if c["cell_type"] == "code":
            c["outputs"] = []
            c["execution_count"] = None
            collapsed_as_tagged(c)
        c.get("metadata", {}).pop("execution", None)
    nb["cells"] = cells
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    meta = nb.setdefault("metadata", {})
    meta.pop("widgets", None)
    meta["kernelspec"] = dict(KERNELSPEC)
    meta["language_info"] = json.loads(json.dumps(LANGUAGE_INFO))
    return nb


def as_jupyter_writes(nb: dict) -> str:
    """The text Jupyter saves (nbformat.writes, plus the final newline nbformat.write adds)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": ")) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        before = path.read_text(encoding="utf-8")
        after = as_jupyter_writes(cleaned(json.loads(before)))
        if after != before:
            stale.append(path.name)
            if not check:
                path.write_text(after, encoding="utf-8")
    if check and stale:
        print("Out of step (run python scripts/sync_bootstrap.py):", ", ".join(stale))
        return 1
    if not check:
        print(f"Rewrote {len(stale)} notebook(s).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
