"""Tests of pgbook.experiments: several runs side by side, and the time to solve."""
from __future__ import annotations

import numpy as np
import pytest

import pgbook
from pgbook.experiments import split_runs, time_to_solve, train_many
from pgbook.policies import LinearSoftmax
from pgbook.reinforce import ReinforceConfig
from pgbook.rollout import make_envs, play_round


def _random_theta(policy, seed=0, scale=0.3):
    return scale * np.random.default_rng(seed).standard_normal(policy.theta_shape)



def _numbers(result):
    return [{k: v for k, v in row.items() if k not in ("wall_time", "cpu_time", "theta")} for row in result.history]


def test_time_to_solve_reports_unsolved_within_a_tiny_budget():
    out = time_to_solve(ReinforceConfig(progress=False, max_iterations=2), n_eval=10)
    assert out["solved"] is False and out["iterations"] == 2 and np.isnan(out["eval_return"])


def test_split_runs_gives_each_run_its_own_masked_episodes():
    policy, n, runs = LinearSoftmax(4, 2), 6, 3
    envs = make_envs("CartPole-v1", n * runs)
    try:
        batch = play_round(envs, policy, _random_theta(policy), np.random.default_rng(1), 501)
    finally:
        envs.close()
    parts = split_runs(batch, runs)
    assert len(parts) == runs
    for k, part in enumerate(parts):
        T = part.mask.shape[1]
        assert T == part.lengths.max() and part.n == n
        np.testing.assert_array_equal(part.lengths, batch.lengths[k * n:(k + 1) * n])
        np.testing.assert_array_equal(part.returns, part.lengths)          # CartPole: +1 per real step
        np.testing.assert_array_equal(part.mask, np.arange(T) < part.lengths[:, None])
        np.testing.assert_array_equal(part.states, batch.states[k * n:(k + 1) * n, :T])
        assert part.env_steps == n * T                                     # what train() would count
    assert sum(p.returns.sum() for p in parts) == batch.returns.sum()


def test_train_many_is_deterministic_and_keeps_runs_separate():
    base = ReinforceConfig(max_iterations=3, batch_episodes=4, progress=False)
    cfgs = [base.replace(seed=s, baseline=b) for b in ("none", "value") for s in (0, 1)]
    a, b = train_many(configs=cfgs), train_many(configs=cfgs)
    assert [_numbers(r) for r in a] == [_numbers(r) for r in b]
    for res, cfg in zip(a, cfgs):
        assert res.config == cfg and res.status == "budget" and res.iterations == 3
        assert res.theta.shape == (5, 2) and np.all(np.isfinite(res.theta))
        assert all(row["episodes"] == 4 for row in res.history)
    # runs 0 and 2 share a seed, hence their initial parameters, but not their episodes
    assert _numbers(a[0]) != _numbers(a[2])
    by_seed = train_many(base, seeds=[0, 1])
    assert [r.config.seed for r in by_seed] == [0, 1]


def test_train_many_runs_learn_for_every_seed():
    # 15 iterations of 16 episodes: over 200 runs tried, no run's last three batches averaged
    # less than 1.69 times its first three, and no group of four less than 2.5 times.
    results = train_many(ReinforceConfig(max_iterations=15, batch_episodes=16, progress=False),
                         seeds=[10 * pgbook.book_seed() + k for k in range(4)])
    curves = np.array([r.curve("return_mean") for r in results])
    assert np.all(curves[:, -3:].mean(axis=1) > 1.2 * curves[:, :3].mean(axis=1)), curves
    assert curves[:, -3:].mean() > 1.8 * curves[:, :3].mean()


def test_train_many_honours_budgets_per_run():
    base = ReinforceConfig(batch_episodes=4, progress=False, max_env_steps=None)
    short, long = train_many(configs=[base.replace(max_iterations=2), base.replace(max_iterations=5, seed=1)])
    assert short.iterations == 2 and long.iterations == 5
    capped = train_many(base.replace(max_iterations=50, max_env_steps=300), seeds=[0, 1])
    for r in capped:
        assert r.env_steps >= 300 and r.env_steps - r.history[-2]["env_steps"] > 0
        assert r.history[-2]["env_steps"] < 300


@pytest.mark.parametrize("kwargs, match", [
    (dict(seeds=[1, 1]), "distinct"),
    (dict(seeds=[]), "non-empty"),
    (dict(batch_episodes=None, batch_steps=100), "batch_episodes"),
    (dict(max_seconds=1.0), "max_seconds"),
])
def test_train_many_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_many(ReinforceConfig(max_iterations=1, progress=False), **kwargs)


def test_train_many_configs_must_share_the_environment():
    a = ReinforceConfig(max_iterations=1, progress=False)
    with pytest.raises(ValueError, match="batch_episodes"):
        train_many(configs=[a, a.replace(batch_episodes=8)])
    with pytest.raises(ValueError, match="env_id"):
        train_many(configs=[a, a.replace(env_id="Acrobot-v1")])
    with pytest.raises(ValueError, match="not both"):
        train_many(a, configs=[a])
