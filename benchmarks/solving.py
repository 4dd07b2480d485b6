"""What the benchmark scripts share: train each seed until solved, and the medians of the runs.

Imported by ``actor_critic.py``, ``ppo.py`` and ``natural_cartpole.py`` (run them from the
repository root, e.g. ``.venv/bin/python benchmarks/ppo.py``; Python puts this folder on the path).
"""
from __future__ import annotations

import sys

import numpy as np

import pgbook  # noqa: F401  (registers the book's environments)
from pgbook.experiments import time_to_solve


def solve(name: str, config, seeds, target: float) -> list:
    """:func:`pgbook.experiments.time_to_solve` for each seed, one progress line per run on stderr."""
    rows = []
    for seed in seeds:
        out = time_to_solve(config.replace(seed=seed), target=target)
        print(f"  {name} seed {seed}: solved={out['solved']} {out['seconds']:.2f} s "
              f"(cpu {out['cpu_seconds']:.2f}) {out['env_steps']:,} steps eval {out['eval_return']:.1f}",
              file=sys.stderr, flush=True)
        rows.append(out)
    return rows


def medians(rows: list) -> dict:
    """``solved`` (count), ``runs``, and the medians of ``seconds``, ``cpu_seconds`` and ``env_steps``."""
    out = {key: float(np.median([r[key] for r in rows])) for key in ("seconds", "cpu_seconds", "env_steps")}
    return {"solved": sum(bool(r["solved"]) for r in rows), "runs": len(rows), **out}


def table_row(label: str, rows: list, width: int) -> str:
    """One line of the plain-text table: label, solved/runs, median seconds, CPU seconds, env steps."""
    m = medians(rows)
    return (f"{label:<{width}}{m['solved']:>4}/{m['runs']:<2}{m['seconds']:>9.2f}{m['cpu_seconds']:>7.2f}"
            f"{m['env_steps']:>13,.0f}")
