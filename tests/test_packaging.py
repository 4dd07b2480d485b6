"""The repository installs the way Binder (repo2docker) and `make` install it: pgbook exactly once.

How repo2docker's Python build pack installs a repository (read from its source,
repo2docker/buildpacks/python/__init__.py; pyproject.toml support arrived in release 2025.12):
  * it looks for configuration files in `binder/` or `.binder/` if one exists, else in the root;
  * it runs `pip install -r requirements.txt` (from that folder);
  * and then, only when there is no binder folder, it runs `pip install .` as well if the root has a
    `setup.py`, or a `pyproject.toml` with both a [project] and a [build-system] table.
A repository that lists the package in requirements.txt (`-e .`) AND is a "Python package" in that
sense gets pgbook installed twice (an editable copy, then a regular copy over it).

The fresh-environment check itself is `make test` on a clean clone (CI): it creates `.venv` from
`requirements.txt` alone, as Binder does, and executes every chapter in it under nbval.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCAL = re.compile(r"^(-e|--editable)?\s*=?\s*(\.|\./|\.\.|file:|/)")


def binder_folder() -> Path | None:
    for name in ("binder", ".binder"):
        if (ROOT / name).is_dir():
            return ROOT / name
    return None


def requirement_lines(path: Path, seen=None) -> list[tuple[Path, str]]:
    """Non-empty requirement lines of a requirements file, following -r includes."""
    seen = seen or set()
    if path in seen:
        return []
    seen.add(path)
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        include = re.match(r"^(-r|--requirement)\s*=?\s*(\S+)", line)
        if include:
            lines += requirement_lines((path.parent / include.group(2)).resolve(), seen)
        else:
            lines.append((path, line))
    return lines


def is_python_package_for_repo2docker() -> bool:
    if binder_folder() is not None:
        return False
    if (ROOT / "setup.py").exists():
        return True
    pyproject = ROOT / "pyproject.toml"
    if pyproject.exists():
        data = tomllib.loads(pyproject.read_text())
        return "project" in data and "build-system" in data
    return False


def binder_requirements() -> Path:
    folder = binder_folder() or ROOT
    return folder / "requirements.txt"


def test_binder_installs_pgbook_exactly_once():
    reqs = binder_requirements()
    assert reqs.exists(), f"Binder needs {reqs.relative_to(ROOT)}"
    local = [line for _, line in requirement_lines(reqs) if LOCAL.match(line)]
    named = [line for _, line in requirement_lines(reqs)
             if not LOCAL.match(line) and not line.startswith("-")
             and Requirement(line).name.lower() == "pgbook"]
    automatic = 1 if is_python_package_for_repo2docker() else 0
    installs = len(local) + len(named) + automatic
    assert installs == 1, (
        f"Binder would install pgbook {installs} times: {local + named} from "
        f"{reqs.relative_to(ROOT)}" + (" plus repo2docker's own `pip install .` (it treats a root "
                                       "pyproject.toml with [project] and [build-system] as a package "
                                       "to install, since release 2025.12)" if automatic else "") +
        ". Keep exactly one: e.g. move the requirements to binder/requirements.txt "
        "(`-r ../requirements.txt`), which turns repo2docker's own install off.")


def test_no_other_environment_file_overrides_requirements():
    """environment.yml, Pipfile or a runtime that is not Python would make Binder ignore requirements.txt."""
    folder = binder_folder() or ROOT
    for name in ("environment.yml", "Pipfile", "Pipfile.lock", "Project.toml", "install.R"):
        assert not (folder / name).exists(), f"{name} would change how Binder builds the environment"


def pinned_versions() -> dict[str, Version]:
    pins = {}
    for _, line in requirement_lines(ROOT / "requirements.txt"):
        if LOCAL.match(line) or line.startswith("-"):
            continue
        req = Requirement(line)
        exact = [s for s in req.specifier if s.operator == "=="]
        assert exact, f"requirements.txt should pin exact versions: {line!r}"
        pins[req.name.lower().replace("_", "-")] = Version(exact[0].version)
    return pins


def test_pyproject_dependencies_are_satisfied_by_the_pins():
    """Installing `-e .` next to the pins must not pull in a second version of any dependency."""
    pins = pinned_versions()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    problems = []
    for dep in deps:
        req = Requirement(dep)
        name = req.name.lower().replace("_", "-")
        if name not in pins:
            problems.append(f"{dep}: not pinned in requirements.txt")
        elif pins[name] not in req.specifier:
            problems.append(f"{dep}: pinned {pins[name]} is outside the range")
    assert not problems, "; ".join(problems)


def test_requirements_install_the_package_from_this_folder():
    """make (and Binder) get pgbook from requirements.txt: a local line pointing at the repository root."""
    local = [(path, line) for path, line in requirement_lines(ROOT / "requirements.txt") if LOCAL.match(line)]
    assert len(local) == 1, f"requirements.txt should install pgbook once from this folder: {local}"
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert data["project"]["name"] == "pgbook"
    assert data["tool"]["setuptools"]["package-dir"]["pgbook"] == "code"
    assert (ROOT / "code" / "__init__.py").exists()


IMPORT_PROBE = """
import json, sys
import gymnasium
import pgbook
heavy = [m for m in ("sympy", "matplotlib.pyplot", "ipywidgets") if m in sys.modules]
ids = [i for i in ("pgbook/ShortCorridor-v0", "pgbook/LinearQuadratic-v0") if i in gymnasium.registry]
from pgbook import mdp
import pgbook.vi
print(json.dumps({"heavy": heavy, "ids": ids, "all": pgbook.__all__, "dir": dir(pgbook),
                  "attrs": [pgbook.mdp is mdp, pgbook.vi.__name__, pgbook.plotting.__name__]}))
"""


def test_import_pgbook_is_cheap_and_registers_the_environments():
    """`import pgbook` loads no sympy, pyplot or ipywidgets; submodules arrive on first use."""
    out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True,
                         check=True, cwd=ROOT / "tests").stdout
    probe = json.loads(out.strip().splitlines()[-1])
    assert probe["heavy"] == [], f"import pgbook pulled in {probe['heavy']}"
    assert probe["ids"] == ["pgbook/ShortCorridor-v0", "pgbook/LinearQuadratic-v0"]
    assert probe["attrs"] == [True, "pgbook.vi", "pgbook.plotting"]
    modules = sorted(p.stem for p in (ROOT / "code").glob("*.py") if not p.stem.startswith("_"))
    assert sorted(set(probe["all"]) & set(modules)) == modules, "pgbook.__all__ should list every submodule"
    assert set(modules) <= set(probe["dir"])


def test_importing_plotting_applies_the_book_style():
    code = ("import matplotlib as mpl; from pgbook import plotting; "
            "print(mpl.rcParams['axes.spines.top'], mpl.rcParams['axes.prop_cycle'].by_key()['color'][0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT / "tests").stdout.split()
    assert out == ["False", "#0072B2"]
