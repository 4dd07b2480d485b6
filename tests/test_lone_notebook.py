"""A chapter opened alone, as in Colab: it installs pgbook itself and runs.

The test copies one chapter into an empty temporary folder, makes a fresh virtual environment that
holds only Jupyter's kernel (ipykernel), sets PGBOOK_BOOTSTRAP=1 and points PGBOOK_REPO_URL at this
checkout as a local git URL, executes the notebook in that kernel and checks that it passed and that
pgbook came from the repository, not from this working tree.

Git only knows committed work: the chapter and the package both come from the committed HEAD of this
checkout (uncommitted changes are NOT tested, and the test says so). PGBOOK_LONE_CHAPTER picks the
chapter (default 10_reinforce, the one that needs the most of pgbook: gymnasium, widgets, training).
Slow (a pip install of pgbook's dependencies into the new environment): `make test` runs it as its
own step, `pytest -m "not slow"` leaves it out.
"""
from __future__ import annotations

import os
import re
import subprocess
import venv
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = os.environ.get("PGBOOK_LONE_CHAPTER", "10_reinforce")

pytestmark = pytest.mark.slow


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def pinned(name: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if re.match(rf"^{re.escape(name)}==", line.strip(), re.I):
            return line.strip()
    return name


def test_chapter_runs_alone_and_installs_pgbook_from_the_repository(tmp_path, monkeypatch):
    try:
        head = git("rev-parse", "HEAD")
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.fail("this test needs git and a git checkout (it installs pgbook from the committed HEAD)")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    print(f"\nLone-notebook test: chapter {CHAPTER} and pgbook from the committed HEAD {head[:12]}"
          + (" (the working tree has uncommitted changes; they are not part of this test)" if dirty else ""))

    # 1. The chapter alone in an empty folder, as committed.
    folder = tmp_path / "alone"
    folder.mkdir()
    try:
        source = git("show", f"HEAD:chapters/{CHAPTER}.ipynb")
    except subprocess.CalledProcessError:
        pytest.fail(f"chapters/{CHAPTER}.ipynb is not in the committed HEAD")
    notebook = folder / f"{CHAPTER}.ipynb"
    notebook.write_text(source + "\n", encoding="utf-8")

    # 2. A fresh virtual environment with only the Jupyter kernel in it.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    pinned("ipykernel")], check=True)
    missing = subprocess.run([str(python), "-c", "import importlib.util as u; "
                              "print(u.find_spec('pgbook') is None)"],
                             capture_output=True, text=True, check=True, cwd=folder).stdout.strip()
    assert missing == "True", "the fresh environment should not have pgbook before the chapter runs"
    jupyter_dir = tmp_path / "jupyter"
    subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(jupyter_dir),
                    "--name", "pgbook-lone"], check=True, capture_output=True)

    # 3. Run it as Colab would, with the repository replaced by this checkout.
    for var in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PGBOOK_BRANCH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_dir / "share" / "jupyter"))
    monkeypatch.setenv("PGBOOK_BOOTSTRAP", "1")
    monkeypatch.setenv("PGBOOK_REPO_URL", ROOT.as_uri())   # the cell installs git+<url>@<branch>
    monkeypatch.setenv("PGBOOK_BRANCH", head)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, kernel_name="pgbook-lone", timeout=900,
                            resources={"metadata": {"path": str(folder)}})
    client.execute()

    # 4. It passed (execute() raises on the first failing cell), and the set-up cell installed
    #    pgbook from this repository into the fresh environment.
    boot = next(c for c in nb.cells if c.cell_type == "code")
    printed = "".join(o.get("text", "") for o in boot.get("outputs", []) if o.get("output_type") == "stream")
    assert f"Installed pgbook from {ROOT.as_uri()}" in printed, (
        f"the set-up cell should have installed pgbook, but printed: {printed!r}")
    where = subprocess.run([str(python), "-c", "import pgbook, os; print(os.path.realpath(pgbook.__file__))"],
                           capture_output=True, text=True, check=True, cwd=folder).stdout.strip()
    assert Path(where).is_relative_to(env_dir.resolve()), (
        f"pgbook should come from the fresh environment, not {where}")
    assert not Path(where).is_relative_to(ROOT), f"pgbook was imported from the working tree: {where}"
