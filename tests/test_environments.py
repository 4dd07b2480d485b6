"""pgbook installs beside what Colab already has, and works at every dependency floor it declares.

Slow (two new virtual environments and pip installs): `make test` runs these as part of its `lone`
step, `pytest -m "not slow"` leaves them out.

Like tests/test_lone_notebook.py, both install pgbook from the committed HEAD of this checkout with
the command the chapters' set-up cell runs in Colab (`pip install git+<this repository>@<HEAD>`), so
uncommitted changes are NOT tested.

1. Colab-like: a new environment gets tests/envs/colab-like.txt first (Colab's own versions,
   ipywidgets 7.7.1 among them), then pgbook. No package that was there before may change version:
   Colab has imported ipywidgets when the kernel started, so an upgrade makes pip ask the reader to
   restart the runtime before the chapter has done anything. Then the TrainingPanel is driven
   without a browser in that environment: a short CartPole run started as the Train button starts
   it, its curve drawn, the panel rendered (every widget's state serialised) and snapshot, and the
   progress bar as Colab shows it (tqdm's notebook bar, built from ipywidgets).
2. Minimum versions: every dependency at the floor that pyproject.toml declares (read from
   pyproject.toml; tests/envs/minimum.txt must pin the same versions and says why each floor is
   where it is), plus the rest of requirements.txt (jupyter-book, pytest, nbval, ...; not playwright).
   The unit tests, the same panel drive and the chapters in MINIMUM_CHAPTERS run there, so the
   floors are true.

pip needs PyPI (or its cache) for these exact releases; when it cannot get them the test fails and
says so, it does not skip.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import tomllib
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from test_lone_notebook import committed_head

ROOT = Path(__file__).resolve().parent.parent
ENVS = ROOT / "tests" / "envs"
# ipywidgets, gymnasium and training (10), SymPy (02).
MINIMUM_CHAPTERS = ("10_reinforce", "02_log_derivative_trick")
# These two need the editable install that `make` makes (pgbook hidden from a Python that sees only
# the environment's site-packages); here pgbook is a regular install, as in Colab.
EDITABLE_ONLY = ("tests/test_lone_notebook.py::test_set_up_cell_when_pgbook_is_missing_outside_colab",
                 "tests/test_lone_notebook.py::test_set_up_cell_when_pip_fails")

# Drives the panel as tests/test_widgets.py does, in the environment under test; prints one JSON line.
DRIVER = r'''
import json, sys, time
import tqdm.auto, tqdm.notebook
tqdm.auto.tqdm = tqdm.notebook.tqdm  # in a notebook kernel (Colab), tqdm.auto is the widget bar
import ipywidgets
from ipywidgets.embed import embed_data
from pgbook.reinforce import ReinforceConfig, train
from pgbook.widgets import TrainingPanel

t0 = time.perf_counter()
panel = TrainingPanel()
panel.controls["max_env_steps"].value = 10_000           # the slider's smallest budget
panel.controls["stop_at_target"].value = False
panel.start()                                            # what the Train button does
panel.wait(timeout=300)
run = panel.runs[-1]
png = bytes(panel.image.value)
snapshot = panel.snapshot().data
state = embed_data(views=[panel.widget])                 # what a notebook saves to render it
bar = train(ReinforceConfig(max_iterations=2, batch_episodes=4, progress=True))
print(json.dumps({
    "ipywidgets": ipywidgets.__version__, "env_steps": run["env_steps"], "returns": run["returns"],
    "image_is_png": png.startswith(b"\x89PNG\r\n\x1a\n"), "status": panel.status.value,
    "snapshot_is_png": snapshot.startswith(b"\x89PNG\r\n\x1a\n"),
    "rendered_models": len(state["manager_state"]["state"]),
    "view_is_the_panel": state["view_specs"][0]["model_id"] == panel.widget.model_id,
    "bar_iterations": bar.iterations, "seconds": time.perf_counter() - t0}))
'''


def clean_env(**changes: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "JUPYTER_PATH", "MPLBACKEND")
           and (not k.startswith("PGBOOK_") or k == "PGBOOK_SEED")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", **changes)
    return env


def new_environment(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin" / "python"


def pip_install(python: Path, *args: str, what: str) -> str:
    done = subprocess.run([str(python), "-m", "pip", "install", "--progress-bar", "off", *args],
                          capture_output=True, text=True, env=clean_env())
    if done.returncode != 0:
        said = [line for line in (done.stdout + done.stderr).splitlines()
                if line.strip() and "neither a file nor a directory" not in line]  # a local index's noise
        pytest.fail(f"pip could not install {what}. This test needs PyPI (or pip's cache) to get these "
                    "exact releases; it does not skip without them. pip said:\n" + "\n".join(said[-15:]))
    return done.stdout + done.stderr


def installed(python: Path) -> dict[str, str]:
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True,
                            text=True, check=True, env=clean_env()).stdout
    return {canonicalize_name(p["name"]): p["version"] for p in json.loads(listed)}


def pins(path: Path) -> dict[str, str]:
    """name -> version of the `name==version` lines of a requirements file (comments dropped)."""
    found = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            exact = [s.version for s in req.specifier if s.operator == "=="]
            assert exact, f"{path.name} should pin exact versions: {raw!r}"
            found[canonicalize_name(req.name)] = exact[0]
    return found


def book_tools(floors: dict[str, str]) -> list[str]:
    """The pins of requirements.txt (jupyter-book, pytest, nbval, ...) other than pgbook's own
    dependencies (those are at their floors here), pgbook itself and playwright (the browser step,
    which is not run here)."""
    tools = []
    for raw in (ROOT / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name = canonicalize_name(Requirement(line).name)
            if name not in floors and name not in ("pgbook", "playwright"):
                tools.append(line)
    return tools


def drive_panel(python: Path, folder: Path) -> dict:
    folder.mkdir(exist_ok=True)
    (folder / "drive_panel.py").write_text(DRIVER)
    done = subprocess.run([str(python), "drive_panel.py"], cwd=folder, capture_output=True, text=True,
                          env=clean_env(MPLBACKEND="Agg"), timeout=600)
    assert done.returncode == 0, f"driving the panel failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_panel(drove: dict, ipywidgets_version: str) -> None:
    assert Version(drove["ipywidgets"]) == Version(ipywidgets_version), drove
    steps, returns = drove["env_steps"], drove["returns"]
    assert len(returns) >= 2 and len(steps) == len(returns), f"the run drew no curve: {drove}"
    assert steps[-1] >= 10_000 and "budget" in drove["status"], drove["status"]
    assert drove["image_is_png"] and drove["snapshot_is_png"], "the panel's picture should be a PNG"
    assert drove["view_is_the_panel"] and drove["rendered_models"] >= 20, drove
    assert drove["bar_iterations"] == 2, "training with the notebook progress bar should run"


@pytest.mark.slow
def test_colab_like_install_upgrades_nothing_and_the_panel_works(tmp_path):
    head = committed_head()
    wanted = pins(ENVS / "colab-like.txt")
    seconds = {}
    t0 = time.perf_counter()
    python = new_environment(tmp_path / "venv")
    # Colab's own pip first (its resolver is the one that decides), then the rest of Colab's set.
    pip_install(python, f"pip=={wanted['pip']}", what="Colab's pip")
    pip_install(python, "-r", str(ENVS / "colab-like.txt"), what="the Colab-like set (tests/envs/colab-like.txt)")
    before = installed(python)
    wrong = {name: (version, before.get(name)) for name, version in wanted.items()
             if Version(before.get(name, "0")) != Version(version)}
    assert not wrong, f"the Colab-like environment is not as pinned (wanted, got): {wrong}"
    seconds["Colab-like set"] = time.perf_counter() - t0

    # What the set-up cell runs in Colab, with this repository in place of the book's on GitHub.
    t0 = time.perf_counter()
    said = pip_install(python, "--quiet", f"git+{ROOT.as_uri()}@{head}", what="pgbook")
    after = installed(python)
    seconds["pgbook install"] = time.perf_counter() - t0
    changed = {name: f"{version} -> {after.get(name, 'removed')}" for name, version in before.items()
               if after.get(name) != version}
    added = sorted(set(after) - set(before))
    said = [line for line in said.splitlines() if line.strip() and "neither a file nor a directory" not in line]
    print(f"installing pgbook added {added}; pip said: {said}")
    assert "pgbook" in after
    assert not changed, (f"installing pgbook changed packages Colab already has: {changed}; in Colab this "
                         "means a runtime restart before the chapter can run")

    t0 = time.perf_counter()
    drove = drive_panel(python, tmp_path / "drive")
    seconds["panel"] = time.perf_counter() - t0
    check_panel(drove, wanted["ipywidgets"])
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))


def declared_floors() -> dict[str, str]:
    """name -> the `>=` version of each dependency in pyproject.toml."""
    floors, missing = {}, []
    for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        req = Requirement(dep)
        lower = [s.version for s in req.specifier if s.operator == ">="]
        if lower:
            floors[canonicalize_name(req.name)] = lower[0]
        else:
            missing.append(dep)
    assert not missing, f"every dependency in pyproject.toml needs a floor (>=), these have none: {missing}"
    return floors


@pytest.mark.slow
def test_minimum_versions_run_the_unit_tests_and_chapters(tmp_path):
    head = committed_head()
    floors = declared_floors()
    listed = pins(ENVS / "minimum.txt")
    differ = {name: (floor, listed.get(name)) for name, floor in floors.items()
              if name not in listed or Version(listed[name]) != Version(floor)}
    extra = sorted(set(listed) - set(floors))
    assert not differ and not extra, (
        f"tests/envs/minimum.txt should pin exactly the floors of pyproject.toml (floor, pinned): {differ}"
        + (f"; not dependencies of pgbook: {extra}" if extra else ""))
    seconds = {}
    t0 = time.perf_counter()
    python = new_environment(tmp_path / "venv")
    pip_install(python, "-c", str(ENVS / "minimum.txt"), f"git+{ROOT.as_uri()}@{head}", *book_tools(floors),
                what="pgbook with every dependency at its floor (tests/envs/minimum.txt), and the test "
                     "tools of requirements.txt")
    have = installed(python)
    off = {name: (floor, have.get(name)) for name, floor in floors.items()
           if Version(have.get(name, "0")) != Version(floor)}
    assert not off, f"the minimum environment is not at the floors (floor, installed): {off}"
    seconds["install"] = time.perf_counter() - t0

    # The unit tests and chapters as committed, run against the pgbook installed from HEAD.
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(checkout)], check=True)
    subprocess.run(["git", "-C", str(checkout), "checkout", "--quiet", head], check=True)
    pytest_cmd = [str(tmp_path / "venv" / "bin" / "pytest"), "-p", "no:cacheprovider", "-q"]
    t0 = time.perf_counter()
    unit = subprocess.run(pytest_cmd + ["tests", "-m", "not slow", "--ignore=tests/browser",
                                        *[f"--deselect={t}" for t in EDITABLE_ONLY]],
                          cwd=checkout, capture_output=True, text=True, env=clean_env())
    seconds["unit tests"] = time.perf_counter() - t0
    assert unit.returncode == 0, (f"unit tests fail at the floors {floors} (if they fail in .venv too, the "
                                  f"floors are not the cause):\n{unit.stdout[-6000:]}{unit.stderr[-2000:]}")

    t0 = time.perf_counter()
    check_panel(drive_panel(python, tmp_path / "drive"), floors["ipywidgets"])
    seconds["panel"] = time.perf_counter() - t0

    # The chapters in a kernel of this environment (a kernelspec of its own, so no other Python's
    # "python3" kernel can stand in for it).
    t0 = time.perf_counter()
    jupyter = tmp_path / "jupyter"
    subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(jupyter), "--name",
                    "pgbook-minimum"], check=True, capture_output=True, env=clean_env())
    chapters = [f"chapters/{name}.ipynb" for name in MINIMUM_CHAPTERS]
    nb = subprocess.run(pytest_cmd + ["--nbval-lax", "--nbval-kernel-name", "pgbook-minimum", *chapters],
                        cwd=checkout, capture_output=True, text=True,
                        env=clean_env(JUPYTER_PATH=str(jupyter / "share" / "jupyter")))
    seconds["chapters"] = time.perf_counter() - t0
    assert nb.returncode == 0, f"chapters fail at the floors {floors}:\n{nb.stdout[-6000:]}{nb.stderr[-2000:]}"
    print(f"floors {floors}; seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
