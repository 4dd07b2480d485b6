"""Tests of pgbook.baselines (exact moments, the optimal constant baseline, action-dependent
baselines, value fits), pgbook.mdp.optimal_values and the tabular trainer."""
from __future__ import annotations

import numpy as np
import pytest

import pgbook
from pgbook import baselines, estimators, mdp, policies, reinforce


def _tiny_setup(seed=9):
    tiny = mdp.tiny_mdp()
    pol = policies.TabularSoftmax(tiny.n_states, tiny.n_actions)
    theta = pol.init_theta(np.random.default_rng(seed), scale=0.7)
    enum = mdp.enumerate_trajectories(tiny, pol.table(theta))
    score = estimators.step_scores(pol, theta, enum)
    return tiny, pol, theta, enum, score


def _samples(score, episodes, gamma, baseline=None):
    """The discount-weighted reward-to-go estimator on these scores."""
    psi = estimators.psi(episodes.rewards, gamma, episodes.mask)
    w = estimators.step_weights(gamma, episodes.mask.shape[1])
    return estimators.policy_gradient_samples(score, psi, w, baseline, episodes.mask)


def test_exact_moments_by_enumeration_match_monte_carlo():
    tiny, pol, theta, enum, score = _tiny_setup()
    X = _samples(score, enum, tiny.gamma)
    mean_exact, var_exact = baselines.weighted_moments(X, enum.prob)
    np.testing.assert_allclose(mean_exact, mdp.grad_J_exact(tiny, pol, theta), atol=1e-12)
    rng = np.random.default_rng([pgbook.book_seed(), 15])
    traj = mdp.sample_trajectories(tiny, pol, theta, 40_000, rng)
    samples = _samples(estimators.step_scores(pol, theta, traj), traj, tiny.gamma)
    mean_mc, var_mc = baselines.weighted_moments(samples)
    assert estimators.compare(samples, mean_exact).passed
    # the sample variance of 40,000 bounded draws is within a few percent of the truth
    assert abs(var_mc / var_exact - 1) < 0.08, (var_mc, var_exact)


def test_optimal_constant_baseline_minimises_exact_variance():
    tiny, pol, theta, enum, score = _tiny_setup()
    b_star = baselines.optimal_constant_baseline(score, enum.rewards, enum.mask, tiny.gamma, prob=enum.prob)
    grid = np.linspace(b_star - 2, b_star + 2, 4001)
    var = baselines.constant_baseline_variance(score, enum.rewards, enum.mask, tiny.gamma, grid, prob=enum.prob)
    assert abs(grid[np.argmin(var)] - b_star) <= 1e-3
    # and a constant baseline leaves the exact mean unchanged
    X = _samples(score, enum, tiny.gamma, baseline=b_star)
    np.testing.assert_allclose(baselines.weighted_moments(X, enum.prob)[0], mdp.grad_J_exact(tiny, pol, theta),
                               atol=1e-12)
    # for the full-return estimator too (its Y has weights 1)
    b_full = baselines.optimal_constant_baseline(score, enum.rewards, enum.mask, tiny.gamma, reward_to_go=False,
                                                 prob=enum.prob)
    var_full = baselines.constant_baseline_variance(score, enum.rewards, enum.mask, tiny.gamma, grid + b_full - b_star,
                                                    reward_to_go=False, prob=enum.prob)
    assert abs((grid + b_full - b_star)[np.argmin(var_full)] - b_full) <= 1e-3


def test_action_baseline_bias_is_exact():
    tiny, pol, theta, enum, score = _tiny_setup()
    b_sa = np.array([[0.3, -1.0], [2.0, 0.5]])[: tiny.n_states, : tiny.n_actions]
    base = b_sa[enum.states, enum.actions]
    X = _samples(score, enum, tiny.gamma, baseline=base)
    mean = baselines.weighted_moments(X, enum.prob)[0]
    predicted = mdp.grad_J_exact(tiny, pol, theta) + baselines.action_baseline_bias(tiny, pol, theta, b_sa)
    np.testing.assert_allclose(mean, predicted, atol=1e-12)
    assert np.abs(baselines.action_baseline_bias(tiny, pol, theta, b_sa)).max() > 1e-3
    state_only = np.repeat(b_sa[:, :1], tiny.n_actions, axis=1)
    np.testing.assert_allclose(baselines.action_baseline_bias(tiny, pol, theta, state_only), 0.0, atol=1e-14)


def test_optimal_values_by_brute_force_over_time_varying_policies():
    import itertools
    tiny = mdp.tiny_mdp()
    S, A, T = tiny.n_states, tiny.n_actions, tiny.horizon
    V_star, greedy = mdp.optimal_values(tiny)
    r = tiny.expected_reward
    best = -np.inf
    for choice in itertools.product(range(A), repeat=S * T):     # every deterministic time-varying policy
        a = np.array(choice).reshape(T, S)
        V = np.zeros(S)
        for t in range(T - 1, -1, -1):
            V = np.where(tiny.terminal, 0.0, r[np.arange(S), a[t]] + tiny.gamma * tiny.P[np.arange(S), a[t]] @ V)
        best = max(best, float(tiny.mu0 @ V))
    assert abs(best - float(tiny.mu0 @ V_star[0])) < 1e-12


def test_fit_linear_value_recovers_weights_and_rejects_bad_input():
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(50, 7, 3))
    w = np.array([1.0, -2.0, 0.5])
    mask = rng.random((50, 7)) < 0.8
    np.testing.assert_allclose(baselines.fit_linear_value(phi, phi @ w, mask, ridge=0.0), w, atol=1e-10)
    with pytest.raises(ValueError, match="mask"):
        baselines.fit_linear_value(phi, phi @ w, np.zeros((50, 7), bool))
    with pytest.raises(ValueError, match="prob"):
        baselines.weighted_moments(np.ones((3, 2)), prob=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="obs"):
        baselines.cartpole_features(np.zeros((2, 3, 5)))


def test_train_tabular_improves_frozen_lake():
    lake = mdp.frozen_lake_mdp()
    run = reinforce.train_tabular(lake, np.random.default_rng([pgbook.book_seed(), 16]), max_iterations=60,
                                  batch_episodes=100, learning_rate=0.1)
    pol = policies.TabularSoftmax(lake.n_states, lake.n_actions)
    J0 = mdp.J_exact(lake, pol.table(run.thetas[0]))
    J1 = mdp.J_exact(lake, pol.table(run.theta))
    V_star, _ = mdp.optimal_values(lake)
    assert 3 * J0 < J1 <= float(lake.mu0 @ V_star[0]) + 1e-12
