"""How fast does evolution strategies (chapter 8) solve CartPole-v1 with a linear policy?

Usage (from the repository root)::

    .venv/bin/python benchmarks/es_cartpole.py            # book seeds 0-4
    .venv/bin/python benchmarks/es_cartpole.py --seeds 10

Each run is the chapter's run exactly: ``es.optimise`` on ``es.CartPoleBlackBox`` from theta = 0
with a population of 40 (20 mirrored pairs), sigma = 0.1, Adam steps of 0.05, at most 150
iterations, stopping once a population's mean return reaches 495; the generator is
``pgbook.make_rng(7)`` for ``PGBOOK_SEED`` = 0, 1, ....  The final mean policy is then evaluated on
100 fresh episodes (not timed).  The chapter prints its training time but does not check it, so
that a slow machine cannot fail the reader's run; the speed target lives here instead.

Target (on 2 cores): every run solves (evaluation mean >= 475) and trains in under 20 s of wall
clock; the median is typically a few seconds.  Wall-clock seconds depend on what else runs on the
machine; the CPU seconds of this process (also printed) much less so.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import pgbook
from pgbook import es

TARGET_SECONDS = 20.0
SOLVED = 475.0


def run(seed: int) -> dict:
    """One chapter-8 ES run under ``PGBOOK_SEED=seed``; returns its timings and results."""
    os.environ["PGBOOK_SEED"] = str(seed)
    rng = pgbook.make_rng(7)
    black_box = es.CartPoleBlackBox(rng)
    t0, c0 = time.perf_counter(), time.process_time()
    result = es.optimise(black_box, np.zeros(5), rng, sigma=0.1, population=40, max_iterations=150,
                         learning_rate=0.05, maximise=True, target=495.0)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    evaluation = es.cartpole_returns(np.tile(result.theta, (100, 1)), seed=int(rng.integers(2**31 - 1)))
    return {"seed": seed, "seconds": seconds, "cpu": cpu, "iterations": result.iterations,
            "episodes": black_box.episodes, "evaluation": float(evaluation.mean())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="number of book seeds (0, 1, ...)")
    args = parser.parse_args(argv)
    saved = os.environ.get("PGBOOK_SEED")
    try:
        es.cartpole_returns(np.zeros((40, 5)), seed=0)  # build the vector environment once, untimed
        rows = [run(seed) for seed in range(args.seeds)]
    finally:
        if saved is None:
            os.environ.pop("PGBOOK_SEED", None)
        else:
            os.environ["PGBOOK_SEED"] = saved
    print(f"# ES on CartPole-v1, linear policy ({os.cpu_count()} CPUs visible)\n")
    print("| PGBOOK_SEED | solved | seconds (wall) | seconds (CPU) | iterations | episodes | evaluation mean |")
    print("|---:|:---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ok = r["evaluation"] >= SOLVED
        print(f"| {r['seed']} | {'yes' if ok else 'NO'} | {r['seconds']:.2f} | {r['cpu']:.2f} | {r['iterations']} "
              f"| {r['episodes']} | {r['evaluation']:.1f} |")
    secs = np.array([r["seconds"] for r in rows])
    solved = sum(r["evaluation"] >= SOLVED for r in rows)
    slow = int(np.sum(secs >= TARGET_SECONDS))
    print(f"\nsolved {solved}/{len(rows)}; seconds median {np.median(secs):.2f}, max {secs.max():.2f} "
          f"(target: every run under {TARGET_SECONDS:g} s: {'ok' if slow == 0 else f'{slow} SLOW'})")
    return 0 if solved == len(rows) and slow == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
