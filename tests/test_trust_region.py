"""Tests of pgbook.trust_region: the exact surrogate and its gradient, the KL-limited step, and
PPO's clipped objective and its gradient (against finite differences)."""
from __future__ import annotations

import numpy as np
import pytest

from pgbook import mdp, natural, policies
from pgbook import trust_region as tr
from test_mdp import random_mdp


def _setup(seed=0, problem="tiny"):
    rng = np.random.default_rng(seed)
    if problem == "tiny":
        m = mdp.tiny_mdp(gamma=0.9, horizon=3)
    else:
        m = random_mdp(rng, n_states=4, n_actions=3).replace(gamma=0.8)
    pol = policies.TabularSoftmax(m.n_states, m.n_actions)
    return m, pol, 0.7 * rng.standard_normal(pol.theta_shape), rng


@pytest.mark.parametrize("problem", ["tiny", "random"])
def test_surrogate_gradient_at_theta_old_is_the_policy_gradient(problem):
    m, pol, theta, _ = _setup(1, problem)
    np.testing.assert_allclose(tr.surrogate_gradient(m, pol, theta), mdp.grad_J_theorem(m, pol, theta),
                               rtol=1e-10, atol=1e-12)
    assert tr.surrogate(m, pol, theta, theta) == pytest.approx(mdp.stationary_J(m, pol, theta), rel=1e-12)


@pytest.mark.parametrize("problem", ["tiny", "random"])
def test_surrogate_gradient_away_from_theta_old_matches_finite_differences(problem):
    m, pol, theta_old, rng = _setup(2, problem)
    theta = theta_old + 0.5 * rng.standard_normal(theta_old.shape)
    g = tr.surrogate_gradient(m, pol, theta_old, theta)
    h, fd = 1e-6, np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        e = np.zeros_like(theta)
        e[idx] = h
        fd[idx] = (tr.surrogate(m, pol, theta_old, theta + e) - tr.surrogate(m, pol, theta_old, theta - e)) / (2 * h)
    np.testing.assert_allclose(g, fd, atol=1e-7)
    # away from theta_old the surrogate is not J, nor its gradient grad J
    assert abs(tr.surrogate(m, pol, theta_old, theta) - mdp.stationary_J(m, pol, theta)) > 1e-3
    assert np.abs(g - mdp.grad_J_theorem(m, pol, theta)).max() > 1e-3


def test_surrogate_is_the_mean_of_the_ratio_weighted_advantage_over_old_actions():
    m, pol, theta_old, rng = _setup(3, "random")
    theta = theta_old + 0.3 * rng.standard_normal(theta_old.shape)
    pi_old, pi = mdp.policy_table(m, pol, theta_old), mdp.policy_table(m, pol, theta)
    V, Q = mdp.discounted_values(m, pi_old)
    d = mdp.discounted_visitation(m, pi_old)
    ratio_A = (pi / pi_old) * (Q - V[:, None])
    want = float(m.mu0 @ V) + float(np.sum(d[:, None] * pi_old * ratio_A))
    assert tr.surrogate(m, pol, theta_old, theta) == pytest.approx(want, rel=1e-12)


def test_along_line_starts_at_J_with_zero_kl_and_agrees_with_the_pieces():
    m, pol, theta, _ = _setup(0)
    u = mdp.grad_J_theorem(m, pol, theta)
    line = tr.along_line(m, pol, theta, u, [0.0, 0.5, 2.0])
    assert line["kl"][0] == 0.0 and line["J"][0] == pytest.approx(line["surrogate"][0], rel=1e-12)
    assert line["J"][2] == pytest.approx(mdp.stationary_J(m, pol, theta + 2 * u), rel=1e-12)
    assert line["kl"][1] == pytest.approx(natural.expected_kl(m, pol, theta, theta + 0.5 * u), rel=1e-12)
    assert np.all(np.diff(line["kl"]) > 0)


def test_fisher_vector_product_equals_the_exact_fisher_matrix():
    m, pol, theta, rng = _setup(4, "random")
    v = rng.standard_normal(theta.shape)
    F = natural.fisher_exact(m, pol, theta)
    np.testing.assert_allclose(tr.fisher_vector_product(m, pol, theta, v).ravel(), F @ v.ravel(),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("max_kl", [1e-3, 0.05, 1.0])
@pytest.mark.parametrize("problem", ["tiny", "random"])
def test_kl_limited_step_respects_the_radius_and_improves(problem, max_kl):
    m, pol, theta, _ = _setup(5, problem)
    out = tr.kl_limited_step(m, pol, theta, max_kl)
    assert out["accepted"]
    kl = natural.expected_kl(m, pol, theta, out["theta"])
    assert kl == pytest.approx(out["kl"], rel=1e-12) and kl <= max_kl
    assert out["improvement"] > 0 and out["J_new"] > out["J_old"]
    # the full step is the natural direction scaled so that its quadratic KL model is max_kl
    full = out["full_step"].ravel()
    F = natural.fisher_exact(m, pol, theta)
    assert 0.5 * full @ F @ full == pytest.approx(max_kl, rel=1e-8)
    nat = natural.natural_gradient(F, mdp.grad_J_theorem(m, pol, theta)).ravel()
    assert full @ nat / (np.linalg.norm(full) * np.linalg.norm(nat)) > 1 - 1e-8


def test_kl_limited_step_backtracks_when_the_full_step_is_too_long():
    # here the quadratic model underestimates the KL: the full step leaves the radius, half of it does not
    m, pol, theta, _ = _setup(0, "random")
    out = tr.kl_limited_step(m, pol, theta, 0.05)
    assert natural.expected_kl(m, pol, theta, theta + out["full_step"]) > 0.05
    assert out["accepted"] and out["fraction"] == 0.5 and out["tries"] == 2 and out["kl"] <= 0.05
    refused = tr.kl_limited_step(m, pol, theta, 0.05, max_backtracks=1, shrink=0.99)
    assert not refused["accepted"] and np.array_equal(refused["theta"], theta) and refused["J_new"] == refused["J_old"]


def test_clipped_objective_and_its_slope():
    rho = np.array([0.5, 0.9, 1.0, 1.1, 1.5])
    np.testing.assert_allclose(tr.clipped_objective(rho, 2.0, 0.2), [1.0, 1.8, 2.0, 2.2, 2.4])
    np.testing.assert_allclose(tr.clipped_objective(rho, -1.0, 0.2), [-0.8, -0.9, -1.0, -1.1, -1.5])
    np.testing.assert_array_equal(tr.clipped_objective_slope(rho, 2.0, 0.2), [2, 2, 2, 2, 0])
    np.testing.assert_array_equal(tr.clipped_objective_slope(rho, -1.0, 0.2), [0, -1, -1, -1, -1])


@pytest.mark.parametrize("kind", ["linear", "tabular"])
def test_clipped_gradient_matches_finite_differences(kind):
    rng = np.random.default_rng(6)
    N = 200
    if kind == "linear":
        pol = policies.LinearSoftmax(4, 3)
        states = rng.standard_normal((N, 4))
    else:
        pol = policies.TabularSoftmax(5, 3)
        states = rng.integers(0, 5, N)
    theta_old = 0.5 * rng.standard_normal(pol.theta_shape)
    actions = rng.integers(0, 3, N)
    A = rng.standard_normal(N)
    old = pol.log_prob(theta_old, states, actions)
    theta = theta_old + 0.4 * rng.standard_normal(theta_old.shape)   # some ratios outside the band

    def objective(th):
        rho = np.exp(pol.log_prob(th, states, actions) - old)
        return tr.clipped_objective(rho, A, 0.2).mean()

    grad, ratio = tr.clipped_gradient(pol, theta, states, actions, old, A, 0.2)
    assert np.mean(np.abs(ratio - 1) > 0.2) > 0.2                    # the clip is active for many
    h, fd = 1e-6, np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        e = np.zeros_like(theta)
        e[idx] = h
        fd[idx] = (objective(theta + e) - objective(theta - e)) / (2 * h)
    np.testing.assert_allclose(grad, fd, atol=1e-6)
    # samples on the flat side of the clip contribute nothing
    flat = tr.clipped_objective_slope(ratio, A, 0.2) == 0
    sub, _ = tr.clipped_gradient(pol, theta, states[flat], actions[flat], old[flat], A[flat], 0.2)
    assert flat.any() and np.all(sub == 0)


@pytest.mark.parametrize("call, match", [
    (lambda: tr.clipped_objective([1.0], [1.0], 1.5), "clip_range"),
    (lambda: tr.clipped_objective([-1.0], [1.0], 0.2), "ratio"),
    (lambda: tr.clipped_objective([np.nan], [1.0], 0.2), "ratio"),
    (lambda: tr.kl_limited_step(mdp.tiny_mdp(), policies.TabularSoftmax(2, 2), np.zeros((2, 2)), 0.0), "max_kl"),
    (lambda: tr.kl_limited_step(mdp.tiny_mdp(), policies.TabularSoftmax(2, 2), np.zeros((2, 2)), 0.1,
                                shrink=1.5), "shrink"),
    (lambda: tr.surrogate(mdp.tiny_mdp(), policies.TabularSoftmax(2, 2), np.zeros((2, 2)), np.zeros(3)), "theta"),
    (lambda: tr.along_line(mdp.tiny_mdp(), policies.TabularSoftmax(2, 2), np.zeros((2, 2)), np.zeros(4), [0.0]),
     "direction"),
    (lambda: tr.clipped_gradient(policies.LinearSoftmax(2, 2), np.zeros((3, 2)), np.zeros((2, 2)), [0, 1],
                                 [0.0], [1.0, 2.0], 0.2), "log_prob_old"),
    (lambda: tr.clipped_gradient(policies.LinearSoftmax(2, 2), np.zeros((3, 2)), np.zeros((2, 2)), [0, 1, 1],
                                 [0.0, 0.0], [1.0, 2.0], 0.2), "actions"),
    (lambda: tr.clipped_gradient(policies.LinearSoftmax(2, 2), np.zeros((3, 2)), np.zeros((3, 2)), [0, 1],
                                 [0.0, 0.0], [1.0, 2.0], 0.2), "states"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
