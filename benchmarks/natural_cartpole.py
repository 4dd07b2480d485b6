"""The sampled natural policy gradient against REINFORCE on CartPole-v1: time and steps to solve.

Usage (from the repository root)::

    .venv/bin/python benchmarks/natural_cartpole.py              # 5 seeds, max_kl 0.01
    .venv/bin/python benchmarks/natural_cartpole.py --seeds 3 --max-kl 0.01 0.02

Each run trains until *solved* (:func:`pgbook.experiments.time_to_solve`): the mean undiscounted
return of 100 fresh evaluation episodes reaches 475; the evaluation runs only once a batch's
mean return reaches 475 and its time is not counted.  Every run has a budget of
``--max-steps`` environment steps (default 500 000), which does not depend on the machine's
load.  The settings are the default REINFORCE (``ReinforceConfig()``: linear softmax, Adam,
reward-to-go minus a learned linear baseline, 16 episodes per batch) and the sampled natural
policy gradient (``NaturalConfig()``: the same policy, batch and baseline; conjugate gradients
on the batch's Fisher matrix and a step of expected KL ``max_kl``) for each ``--max-kl``.

It prints one line per seed (to stderr) and a table: solved, median seconds (wall and CPU of
this process) and median environment steps.  Wall-clock seconds depend on what else runs on
the machine; CPU seconds and steps much less so.
"""
from __future__ import annotations

import argparse


from pgbook.natural import NaturalConfig
from pgbook.reinforce import ReinforceConfig
from solving import medians, solve

TARGET = 475.0


def arms(max_kls, max_steps: int) -> dict:
    """The configurations to compare, by name."""
    common = dict(progress=False, max_env_steps=max_steps, max_iterations=100_000)
    out = {"REINFORCE (default)": ReinforceConfig(**common)}
    for kl in max_kls:
        out[f"natural PG, max_kl {kl:g}"] = NaturalConfig(max_kl=kl, **common)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (0, 1, ...)")
    parser.add_argument("--max-kl", type=float, nargs="+", default=[0.01], help="KL radii of the natural runs")
    parser.add_argument("--max-steps", type=int, default=500_000, help="environment-step budget per run")
    args = parser.parse_args(argv)
    seeds = range(args.seeds)
    print(f"# CartPole-v1, solved = mean of 100 evaluation returns >= {TARGET:g}, {args.seeds} seeds\n")
    print("| setting | solved | median s | median CPU s | median env steps |")
    print("|---|:---:|---:|---:|---:|")
    for name, config in arms(args.max_kl, args.max_steps).items():
        m = medians(solve(name, config, seeds, TARGET))
        print(f"| {name} | {m['solved']}/{m['runs']} | {m['seconds']:.2f} | {m['cpu_seconds']:.2f} | "
              f"{m['env_steps']:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
