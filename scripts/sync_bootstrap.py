"""Keep the first code cell of every chapter in step, and every notebook clean.

The first code cell of each chapter (tagged ``bootstrap``) installs ``pgbook`` when a
chapter is opened alone (Colab, or ``PGBOOK_BOOTSTRAP=1``) from the repository URL and
branch in ``_config.yml``.  This script writes that cell into every notebook in
``chapters/`` and strips outputs, execution counts and widget state.

    python scripts/sync_bootstrap.py          # rewrite the notebooks
    python scripts/sync_bootstrap.py --check  # exit 1 if any notebook is out of step
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TEMPLATE = '''\
# Set-up: when this chapter runs alone (in Colab, or with PGBOOK_BOOTSTRAP=1) and the
# book's package `pgbook` is missing, install it from the book's repository.
# Everywhere else this cell does nothing. (Kept in step by scripts/sync_bootstrap.py.)
import importlib, importlib.util, os, subprocess, sys

PGBOOK_REPO = os.environ.get("PGBOOK_REPO_URL", "{url}")
PGBOOK_BRANCH = os.environ.get("PGBOOK_BRANCH", "{branch}")
running_alone = "google.colab" in sys.modules or os.environ.get("PGBOOK_BOOTSTRAP") == "1"
if running_alone and importlib.util.find_spec("pgbook") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    f"git+{{PGBOOK_REPO}}@{{PGBOOK_BRANCH}}"], check=True)
    importlib.invalidate_caches()
    print(f"Installed pgbook from {{PGBOOK_REPO}} (branch {{PGBOOK_BRANCH}}).")
else:
    print("Set-up: nothing to install.")'''


def repository() -> tuple[str, str]:
    text = (ROOT / "_config.yml").read_text()
    block = text.split("repository:", 1)[1]
    url = re.search(r"^\s+url:\s*(\S+)", block, re.M).group(1)
    branch = re.search(r"^\s+branch:\s*(\S+)", block, re.M).group(1)
    return url, branch


def bootstrap_source() -> str:
    url, branch = repository()
    return TEMPLATE.format(url=url, branch=branch)


def cleaned(nb: dict) -> dict:
    source = bootstrap_source()
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": "bootstrap",
        "metadata": {"tags": ["bootstrap", "hide-input"]},
        "outputs": [],
        "source": source.splitlines(keepends=True),
    }
    cells = nb.get("cells", [])
    for c in cells:
        if c["cell_type"] == "code":
            c["outputs"] = []
            c["execution_count"] = None
        c.get("metadata", {}).pop("execution", None)
    first_code = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), None)
    if first_code is not None and "bootstrap" in cells[first_code].get("metadata", {}).get("tags", []):
        cells[first_code] = {**cells[first_code], **{k: cell[k] for k in ("id", "source", "metadata")}}
    else:
        # After the title cell (the first markdown cell), before any code.
        at = 1 if cells and cells[0]["cell_type"] == "markdown" else 0
        cells.insert(at, cell)
    nb["cells"] = cells
    meta = nb.setdefault("metadata", {})
    meta.pop("widgets", None)
    meta["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        before = path.read_text()
        nb = cleaned(json.loads(before))
        after = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        if after != before:
            stale.append(path.name)
            if not check:
                path.write_text(after)
    if check and stale:
        print("Out of step (run python scripts/sync_bootstrap.py):", ", ".join(stale))
        return 1
    if not check:
        print(f"Rewrote {len(stale)} notebook(s).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
