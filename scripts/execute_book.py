"""Execute the book's chapters into Jupyter Book's execution cache, several at once.

``jupyter-book build`` (with ``execute_notebooks: cache`` in ``_config.yml``) executes every
chapter whose code changed, one after another, and stores the result in
``_build/.jupyter_cache``.  This script fills that same cache first, one chapter per processor
core, so that on a cold build the wall time of execution is roughly divided by the number of
cores; the build then finds every chapter cached and only renders.  ``make book`` and
``make build-strict`` run it before the build.

Nothing is lost in strictness: a chapter that fails here is simply not cached, so the build
executes it again, alone, and fails on its error with the full traceback, as it would have
without this script.  With another execution mode than ``cache`` the script does nothing.

    python scripts/execute_book.py            # as many chapters at once as there are cores
    python scripts/execute_book.py --jobs 1   # one at a time
    python scripts/execute_book.py --path-output /tmp/b   # for jupyter-book build --path-output /tmp/b

It prints, per chapter, when it finished, its own execution time and whether it succeeded.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks of ``_toc.yml``, in the book's order (Markdown pages are left out)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("chapters", []) + entry.get("sections", []))

    walk(toc.get("parts", []))
    return [root / f"{name}.ipynb" for name in files if (root / f"{name}.ipynb").exists()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="chapters executed at once (default: the number of cores)")
    parser.add_argument("--path-output", default=str(ROOT),
                        help="the folder given to jupyter-book build --path-output (default: the repository); "
                             "the cache is its _build/.jupyter_cache")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    execute = (yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8")) or {}).get("execute", {})
    if execute.get("execute_notebooks", "auto") != "cache":
        print("execute_book.py: _config.yml does not use the execution cache; nothing to do")
        return 0
    from jupyter_cache import get_cache  # here, so that --help works without it
    from jupyter_cache.executors.basic import ExecutionWorkerLocalMProc, ProcessData

    cache = get_cache(Path(args.path_output) / "_build" / ".jupyter_cache")
    records = [cache.add_nb_to_project(str(path)) for path in toc_notebooks()]
    todo = [r for r in records if cache.get_cached_project_nb(r.pk) is None]
    if not todo:
        print("execute_book.py: every chapter is cached")
        return 0
    todo.sort(key=lambda r: -Path(r.uri).stat().st_size)  # the largest first: the last to start are short
    jobs = min(args.jobs, len(todo))
    print(f"execute_book.py: executing {len(todo)} chapters, {jobs} at once", flush=True)
    timeout = int(execute.get("timeout", 30))
    work = [ProcessData(r.pk, r.uri, cache, timeout, bool(execute.get("allow_errors", False))) for r in todo]
    start = time.perf_counter()
    failed = []
    with multiprocessing.Pool(jobs) as pool:
        for status, pk in pool.imap_unordered(ExecutionWorkerLocalMProc(), work, chunksize=1):
            name = Path(cache.get_project_record(pk).uri).name
            cached = cache.get_cached_project_nb(pk)
            own = (cached.data or {}).get("execution_seconds") if cached is not None else None
            took = f"{own:5.1f} s" if own is not None else "   -   "
            print(f"{time.perf_counter() - start:6.1f} s  {took}  {name}: {'ok' if status == 0 else 'FAILED'}",
                  flush=True)
            if status != 0:
                failed.append(name)
    if failed:
        print(f"execute_book.py: {len(failed)} chapter(s) failed ({', '.join(failed)}); the build runs them "
              f"again and reports the error")
    return 0


if __name__ == "__main__":
    sys.exit(main())
