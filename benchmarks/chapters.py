"""Seconds to execute each chapter, and the time of the whole book build.

    .venv/bin/python benchmarks/chapters.py            # every chapter, then the book build
    .venv/bin/python benchmarks/chapters.py --no-build # chapters only

Targets on 2 cores: under 60 s per chapter, under 3 minutes for the book build.
Each chapter runs in a fresh kernel, as the build runs it; the build goes to a
temporary folder with a cold cache, so it executes every chapter again, as
``make book`` does (one chapter per core, then the build).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
CHAPTER_TARGET_S = 60.0
BUILD_TARGET_S = 180.0


def chapters_in_toc() -> list[Path]:
    files = []
    for line in (ROOT / "_toc.yml").read_text().splitlines():
        line = line.strip()
        if line.startswith("- file:"):
            name = line.split(":", 1)[1].strip()
            path = ROOT / f"{name}.ipynb"
            if path.exists():
                files.append(path)
    return files


def time_chapter(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def time_build() -> float:
    """Seconds of a cold build as ``make book`` runs it: the chapters executed into the build's
    cache one per core (scripts/execute_book.py), then the build."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "scripts" / "execute_book.py"), "--path-output", tmp], check=True,
                       cwd=ROOT, stdout=subprocess.DEVNULL)
        subprocess.run(
            [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "--path-output", tmp, "-n", "-W", "--keep-going", "-q"],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="skip timing the whole book build")
    args = parser.parse_args()
    rows = []
    for path in chapters_in_toc():
        seconds = time_chapter(path)
        rows.append((path.stem, seconds))
        print(f"  {path.stem:<34} {seconds:7.1f} s", file=sys.stderr)
    print(f"| {'chapter':<34} | {'seconds':>8} | target |")
    print(f"|{'-' * 36}|{'-' * 10}|--------|")
    for name, seconds in rows:
        mark = "ok" if seconds < CHAPTER_TARGET_S else "SLOW"
        print(f"| {name:<34} | {seconds:8.1f} | {mark:<6} |")
    total = sum(s for _, s in rows)
    print(f"| {'all chapters, one after another':<34} | {total:8.1f} |        |")
    if not args.no_build:
        build = time_build()
        mark = "ok" if build < BUILD_TARGET_S else "SLOW"
        print(f"| {'book build (cold cache)':<34} | {build:8.1f} | {mark:<6} |")
    slow = [n for n, s in rows if s >= CHAPTER_TARGET_S]
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
