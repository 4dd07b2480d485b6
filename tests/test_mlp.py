"""Tests of pgbook.mlp.MLPSoftmax: the hand-written backpropagation against finite differences,
the probabilities, sampling frequencies and input checks.

Random draws come from ``pgbook.make_rng`` (seed from PGBOOK_SEED); the one statistical check goes
through ``pgbook.estimators.compare`` (false-failure probability at most 1e-6)."""
from __future__ import annotations

import numpy as np
import pytest

import pgbook
from pgbook.estimators import compare, finite_difference_gradient
from pgbook.mlp import MLPSoftmax


def _setup(obs_dim=4, n_actions=3, hidden=5, batch=(3, 4), stream=0):
    rng = pgbook.make_rng(100 + stream)
    policy = MLPSoftmax(obs_dim, n_actions, hidden)
    theta = policy.init_theta(rng, scale=0.7) + 0.1 * rng.standard_normal(policy.theta_shape)
    obs = rng.normal(size=batch + (obs_dim,))
    actions = rng.integers(0, n_actions, size=batch)
    return policy, theta, obs, actions, rng


def test_shapes_and_parameter_count():
    policy = MLPSoftmax(4, 2, 16)
    assert policy.theta_shape == (4 * 16 + 16 + 16 * 2 + 2,)
    theta = policy.init_theta(np.random.default_rng(0))  # a fixed seed: the checks hold for any weights
    W1, b1, W2, b2 = policy.unpack(theta)
    assert W1.shape == (4, 16) and b1.shape == (16,) and W2.shape == (16, 2) and b2.shape == (2,)
    np.testing.assert_array_equal(policy.pack(W1, b1, W2, b2), theta)
    # zero output weights: the initial policy is uniform
    np.testing.assert_allclose(policy.probs(theta, np.ones((7, 4))), 0.5)


def test_backprop_score_matches_finite_differences_per_sample():
    policy, theta, obs, actions, _ = _setup()
    score = policy.score(theta, obs, actions)
    assert score.shape == obs.shape[:-1] + policy.theta_shape
    for idx in np.ndindex(obs.shape[:-1]):
        fd = finite_difference_gradient(lambda th: float(policy.log_prob(th, obs[idx], actions[idx])), theta, eps=1e-6)
        np.testing.assert_allclose(score[idx], fd, rtol=1e-6, atol=1e-8)


def test_backprop_matches_an_independent_forward_written_differently():
    """A second, loop-based forward pass (per hidden unit) gives the same log-probabilities, and
    its finite-difference gradient the same score: the check does not reuse the module's forward."""
    policy, theta, obs, actions, _ = _setup(obs_dim=3, n_actions=2, hidden=4, batch=(5,), stream=1)
    W1, b1, W2, b2 = policy.unpack(theta)

    def log_prob_loops(th, x, a):
        W1, b1, W2, b2 = policy.unpack(th)
        h = [np.tanh(sum(x[i] * W1[i, j] for i in range(3)) + b1[j]) for j in range(4)]
        z = [sum(h[j] * W2[j, k] for j in range(4)) + b2[k] for k in range(2)]
        return z[a] - np.log(sum(np.exp(v) for v in z))

    for x, a in zip(obs, actions):
        assert np.isclose(log_prob_loops(theta, x, a), policy.log_prob(theta, x, a))
        fd = finite_difference_gradient(lambda th: log_prob_loops(th, x, a), theta, eps=1e-6)
        np.testing.assert_allclose(policy.score(theta, x, a), fd, rtol=1e-6, atol=1e-8)


def test_weighted_score_sum_equals_the_weighted_sum_of_scores():
    policy, theta, obs, actions, rng = _setup(batch=(3, 6))
    w = rng.normal(size=(3, 6))
    full = policy.score(theta, obs, actions)
    np.testing.assert_allclose(policy.weighted_score_sum(theta, obs, actions, w, axes=1),
                               np.einsum("nt,ntp->np", w, full), atol=1e-12)
    np.testing.assert_allclose(policy.weighted_score_sum(theta, obs, actions, w, axes=2),
                               np.einsum("nt,ntp->p", w, full), atol=1e-12)


def test_expected_score_is_zero():
    """sum_a pi(a|x) grad log pi(a|x) = grad sum_a pi(a|x) = 0, exactly."""
    policy, theta, obs, _, _ = _setup(batch=(6,))
    p = policy.probs(theta, obs)
    total = sum(p[:, a, None] * policy.score(theta, obs, np.full(6, a)) for a in range(3))
    np.testing.assert_allclose(total, 0.0, atol=1e-12)


def test_probabilities_and_sampling_frequencies():
    policy, theta, obs, _, rng = _setup(batch=(1,))
    p = policy.probs(theta, obs)[0]
    assert np.isclose(p.sum(), 1.0) and np.all(p > 0)
    n = 20_000
    draws = policy.sample(theta, np.repeat(obs, n, axis=0), rng)
    c = compare(np.eye(3)[draws], p)               # frequencies = averages of the one-hot draws
    assert c.passed and c.untested == 0, str(c)


def test_bad_input_is_named():
    policy = MLPSoftmax(4, 2, 3)
    theta = policy.init_theta(np.random.default_rng(0))  # a fixed seed: every call below must raise
    with pytest.raises(ValueError, match="theta"):
        policy.probs(np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="obs"):
        policy.probs(theta, np.zeros(3))
    with pytest.raises(ValueError, match="actions"):
        policy.log_prob(theta, np.zeros((2, 4)), np.array([0, 2]))
    with pytest.raises(ValueError, match="hidden"):
        MLPSoftmax(4, 2, 0)
    with pytest.raises(ValueError, match="theta must be finite"):
        policy.check_theta(np.full(policy.theta_shape, np.nan))
    with pytest.raises(TypeError, match="rng"):  # the hidden weights are random: no made-up generator
        policy.init_theta(None)
