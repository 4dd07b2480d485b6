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

The fast tests run the chapters' set-up cell (as scripts/sync_bootstrap.py writes it) in each case a
reader can meet, in throw-away environments, and check what it says:
- pgbook installed: nothing printed, nothing installed;
- pgbook missing outside Colab: the cell fails with the command that installs it, no traceback;
- installing: it says so (where from, how long) before pip starts, then installs;
- pip failing: the cell fails with one readable message and what to try, no traceback.
In IPython (Jupyter's kernel) the cell's own error message is all the reader sees, and the cell
counts as failed, so Run All and nbval stop there.
"""
from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = os.environ.get("PGBOOK_LONE_CHAPTER", "10_reinforce")



def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def committed_head(what: str = "pgbook") -> str:
    """The commit that the slow tests install pgbook from (they never see uncommitted changes)."""
    try:
        head = git("rev-parse", "HEAD")
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.fail("this test needs git and a git checkout (it installs pgbook from the committed HEAD)")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    print(f"\n{what} from the committed HEAD {head[:12]}"
          + (" (the working tree has uncommitted changes; they are not part of this test)"
             if dirty else ""))
    return head


def pinned(name: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if re.match(rf"^{re.escape(name)}==", line.strip(), re.I):
            return line.strip()
    return name


@pytest.mark.slow
def test_chapter_runs_alone_and_installs_pgbook_from_the_repository(tmp_path, monkeypatch):
    head = committed_head(f"Lone-notebook test: chapter {CHAPTER} and pgbook")

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
    assert printed.startswith("Installing the book's package pgbook") and ROOT.as_uri() in printed, (
        f"the set-up cell should have said where it installs pgbook from, but printed: {printed!r}")
    assert re.search(r"^Installed pgbook in \d+ s\.$", printed, re.M), (
        f"the set-up cell should have installed pgbook, but printed: {printed!r}")
    where = subprocess.run([str(python), "-c", "import pgbook, os; print(os.path.realpath(pgbook.__file__))"],
                           capture_output=True, text=True, check=True, cwd=folder).stdout.strip()
    assert Path(where).is_relative_to(env_dir.resolve()), (
        f"pgbook should come from the fresh environment, not {where}")
    assert not Path(where).is_relative_to(ROOT), f"pgbook was imported from the working tree: {where}"


# --- The set-up cell in each case, fast --------------------------------------------------------------

DEFAULT_SOURCE = None   # "git+<url>@<branch>" from _config.yml, filled in by set_up_cell()

DRIVER = '''\
import sys
from IPython.core.interactiveshell import InteractiveShell
# As Jupyter's kernel runs a cell: what IPython shows is printed; a failed cell exits with 1.
result = InteractiveShell.instance().run_cell(open(sys.argv[1], encoding="utf-8").read())
sys.exit(0 if result.success else 1)
'''

# A build backend with no dependencies (so pip needs no network): a wheel of the folder pgbook/.
FAKE_BACKEND = '''\
import base64, hashlib, pathlib, zipfile

TAG = "pgbook-0.0.1"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {f"pgbook/{p.name}": p.read_bytes() for p in pathlib.Path("pgbook").glob("*.py")}
    files[f"{TAG}.dist-info/METADATA"] = b"Metadata-Version: 2.1\\nName: pgbook\\nVersion: 0.0.1\\n"
    files[f"{TAG}.dist-info/WHEEL"] = (b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\n"
                                       b"Tag: py3-none-any\\n")
    record = [f"{name},sha256="
              f"{base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
              f"{len(data)}" for name, data in files.items()] + [f"{TAG}.dist-info/RECORD,,"]
    files[f"{TAG}.dist-info/RECORD"] = ("\\n".join(record) + "\\n").encode()
    wheel = f"{TAG}-py3-none-any.whl"
    with zipfile.ZipFile(pathlib.Path(wheel_directory) / wheel, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return wheel
'''


def set_up_cell() -> str:
    """The set-up cell as scripts/sync_bootstrap.py writes it into every chapter."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import sync_bootstrap
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    url, branch = sync_bootstrap.repository()
    global DEFAULT_SOURCE
    DEFAULT_SOURCE = f"git+{url}@{branch}"
    return sync_bootstrap.bootstrap_source()


def environment(path: Path, *visible: Path) -> Path:
    """A new virtual environment (no pip install: fast) that sees only the folders `visible` on top
    of its own empty site-packages. Returns its python."""
    venv.EnvBuilder(with_pip=False, clear=True).create(path)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "visible.pth").write_text("".join(f"{p}\n" for p in visible))
    return python


def clean_env(**changes: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PGBOOK_", "PYTHON", "PIP_")) and k != "VIRTUAL_ENV"}
    env.update(changes)
    return env


@pytest.fixture(scope="module")
def cell(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cell") / "set_up.py"
    path.write_text(set_up_cell(), encoding="utf-8")
    (path.parent / "driver.py").write_text(DRIVER, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def without_pgbook(tmp_path_factory) -> Path:
    """A Python that sees this environment's packages (IPython, pip, ...) but not pgbook: the
    editable install of pgbook is activated by a .pth file, which a folder seen through another .pth
    file does not run."""
    python = environment(tmp_path_factory.mktemp("no-pgbook") / "venv",
                         Path(sysconfig.get_paths()["purelib"]))
    found = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('pgbook'))"],
        capture_output=True, text=True, check=True, cwd=python.parent).stdout.strip()
    assert found == "None", f"pgbook should be missing from the test environment, found {found}"
    return python


def run_in_ipython(python, cell: Path, **env: str) -> tuple[bool, str]:
    """Run the cell as Jupyter's kernel would; (passed, everything the reader sees)."""
    done = subprocess.run([str(python), str(cell.parent / "driver.py"), str(cell)], cwd=cell.parent,
                          capture_output=True, text=True, env=clean_env(**env), timeout=120)
    return done.returncode == 0, done.stdout + done.stderr


def show(case: str, text: str) -> None:
    print(f"\n--- set-up cell, {case} ---\n{text}--- end ---")


def test_set_up_cell_when_pgbook_is_installed(cell):
    """Installed: nothing printed, and nothing installed even when asked to bootstrap (the
    repository address is unreachable, so a pip run would fail)."""
    for env in ({}, {"PGBOOK_BOOTSTRAP": "1", "PGBOOK_REPO_URL": (cell.parent / "nowhere").as_uri()}):
        passed, said = run_in_ipython(sys.executable, cell, **env)
        assert passed and said == "", f"with {env}: the cell should pass silently, it said {said!r}"
    show("pgbook installed", said)


def test_set_up_cell_when_pgbook_is_missing_outside_colab(cell, without_pgbook):
    passed, said = run_in_ipython(without_pgbook, cell)
    show("pgbook missing, not in Colab", said)
    assert not passed, "the cell should fail, so that Run All stops at the set-up, not one cell later"
    assert f'%pip install "{DEFAULT_SOURCE}"' in said, f"the command that installs pgbook: {said}"
    assert str(without_pgbook) in said, "it should name the Python that lacks pgbook"
    assert "Traceback" not in said and "Error" not in said and "nothing to install" not in said
    lines = said.splitlines()
    assert len(lines) <= 6 and all(len(line) <= 100 for line in lines if str(without_pgbook) not in line)


def test_set_up_cell_when_pip_fails(cell, without_pgbook):
    nowhere = (cell.parent / "no-such-repository").as_uri()
    passed, said = run_in_ipython(without_pgbook, cell, PGBOOK_BOOTSTRAP="1", PGBOOK_REPO_URL=nowhere)
    show("pip fails", said)
    assert not passed, "a failed install should fail the cell"
    lines = said.splitlines()
    assert lines[0].startswith("Installing the book's package pgbook") and nowhere in said
    assert any(line.startswith("Set-up failed: pip could not install pgbook") for line in lines), said
    assert "does not appear to be a git repository" in said, "pip's reason, in one line"
    assert "internet connection" in said and f'%pip install "git+{nowhere}@' in said, "what to try"
    assert "Traceback" not in said and "subprocess-exited-with-error" not in said, said
    assert len(lines) <= 10, said


def test_set_up_cell_installs_and_says_so_first(cell, tmp_path):
    """Colab's case (PGBOOK_BOOTSTRAP=1 stands in for Colab): pgbook missing, the cell says where it
    installs from and how long that takes, pip installs it (here a stand-in package from a local git
    repository, so no network is needed), and the cell reports the install."""
    import pip
    repo = tmp_path / "repo"
    (repo / "pgbook").mkdir(parents=True)
    (repo / "pgbook" / "__init__.py").write_text('WHERE = "stand-in"\n')
    (repo / "backend.py").write_text(FAKE_BACKEND)
    (repo / "pyproject.toml").write_text('[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                                         'backend-path = ["."]\n\n[project]\nname = "pgbook"\n'
                                         'version = "0.0.1"\n')
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=test", "-c", "user.email=test@example.org", "commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    # An environment with pip and nothing else (pip's folder seen through a .pth file).
    pip_only = tmp_path / "pip-only"
    pip_only.mkdir()
    (pip_only / "pip").symlink_to(Path(pip.__file__).parent, target_is_directory=True)
    python = environment(tmp_path / "venv", pip_only)
    done = subprocess.run([str(python), str(cell)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300,
                          env=clean_env(PGBOOK_BOOTSTRAP="1", PGBOOK_REPO_URL=repo.as_uri()))
    show("installing", done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Installing the book's package pgbook with pip, from branch main of"
    assert lines[1].strip() == repo.as_uri() and "30 s" in lines[2], "where from, and how long"
    assert re.fullmatch(r"Installed pgbook in \d+ s\.", lines[-1]), lines
    where = subprocess.run([str(python), "-c", "import pgbook; print(pgbook.WHERE, pgbook.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert where.startswith("stand-in ") and str(tmp_path / "venv") in where, where


def test_set_up_cell_announces_the_install_before_pip_runs(cell, tmp_path):
    """The announcement is flushed before pip starts, not after the wait: a stand-in pip blocks
    until the test has read it, then fails, and the cell reports pip's error line."""
    fake_pip = tmp_path / "fake" / "pip"
    fake_pip.mkdir(parents=True)
    (fake_pip / "__init__.py").write_text("")
    go = tmp_path / "go"
    (fake_pip / "__main__.py").write_text(       # waits for `go` (at most 30 s), then fails
        "import pathlib, sys, time\n"
        "end = time.monotonic() + 30\n"
        f"while not pathlib.Path({str(go)!r}).exists() and time.monotonic() < end:\n"
        "    time.sleep(0.05)\n"
        "print('ERROR: stand-in pip refuses', file=sys.stderr)\nsys.exit(1)\n")
    python = environment(tmp_path / "venv", fake_pip.parent)
    proc = subprocess.Popen([str(python), str(cell)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=clean_env(PGBOOK_BOOTSTRAP="1", PGBOOK_REPO_URL="file:///nowhere"))
    try:
        with selectors.DefaultSelector() as wait:
            wait.register(proc.stdout, selectors.EVENT_READ)
            announced = bool(wait.select(timeout=20)) and proc.poll() is None
        assert announced, "the cell printed nothing while pip was running"
        first = proc.stdout.readline()
        assert first.startswith("Installing the book's package pgbook"), first
    finally:
        go.touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "pip says: ERROR: stand-in pip refuses" in err, out + err
