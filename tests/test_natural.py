"""Tests of pgbook.natural: Fisher information, expected KL, natural gradient, conjugate gradients."""
import numpy as np
import pytest

from pgbook import mdp as M
from pgbook.natural import conjugate_gradient, expected_kl, fisher_exact, natural_gradient
from pgbook.policies import TabularSoftmax


@pytest.fixture
def tiny():
    mdp = M.tiny_mdp(gamma=0.9)
    policy = TabularSoftmax(mdp.n_states, mdp.n_actions)
    theta = np.random.default_rng(3).normal(size=policy.theta_shape)
    return mdp, policy, theta


def test_fisher_is_the_score_covariance_by_brute_force(tiny):
    mdp, policy, theta = tiny
    F = fisher_exact(mdp, policy, theta)
    pi = M.policy_table(mdp, policy, theta)
    d = M.discounted_visitation(mdp, pi)
    score = M.score_table(mdp, policy, theta)
    k = theta.size
    brute = np.zeros((k, k))
    for s in range(mdp.n_states):
        for a in range(mdp.n_actions):
            g = score[s, a].reshape(-1)
            brute += d[s] * pi[s, a] * np.outer(g, g)
    np.testing.assert_allclose(F, brute, rtol=1e-12, atol=1e-14)
    assert np.allclose(F, F.T)
    assert np.linalg.eigvalsh(F).min() > -1e-12
    # a softmax policy's F is singular: adding c to every logit of a state changes nothing
    null = np.zeros(policy.theta_shape)
    null[0] = 1.0
    assert np.linalg.norm(F @ null.reshape(-1)) < 1e-12
    assert np.linalg.norm(F) > 0.1


def test_expected_kl_is_half_the_fisher_quadratic_form(tiny):
    mdp, policy, theta = tiny
    F = fisher_exact(mdp, policy, theta)
    direction = np.random.default_rng(4).normal(size=theta.shape)
    assert expected_kl(mdp, policy, theta, theta) == 0.0
    for eps in (1e-2, 1e-3):
        delta = eps * direction
        kl = expected_kl(mdp, policy, theta, theta + delta)
        quad = 0.5 * delta.reshape(-1) @ F @ delta.reshape(-1)
        # the remainder is third order: its ratio to the quadratic form shrinks like eps
        assert abs(kl - quad) / quad < 20 * eps
    # a large step is far from quadratic: the check above can fail
    delta = 3.0 * direction
    kl = expected_kl(mdp, policy, theta, theta + delta)
    assert abs(kl - 0.5 * delta.reshape(-1) @ F @ delta.reshape(-1)) > 0.1 * kl


def test_natural_gradient_and_conjugate_gradients_agree(tiny):
    mdp, policy, theta = tiny
    F = fisher_exact(mdp, policy, theta)
    g = M.grad_J_theorem(mdp, policy, theta)
    x = natural_gradient(F, g)
    assert x.shape == g.shape
    np.testing.assert_allclose(F @ x.reshape(-1), g.reshape(-1), atol=1e-10)   # g lies in F's range
    y = conjugate_gradient(lambda v: (F @ v.reshape(-1)).reshape(v.shape), g, iterations=theta.size)
    np.testing.assert_allclose(y, x, atol=1e-8)
    # tabular softmax: the natural gradient is the advantage, up to a constant per state (Kakade, 2001)
    pi = M.policy_table(mdp, policy, theta)
    V, Q = M.discounted_values(mdp, pi)
    A = Q - V[:, None]
    d = M.discounted_visitation(mdp, pi)
    live = d > 0
    centred = A - A.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(x[live], centred[live], atol=1e-8)


def test_conjugate_gradient_on_a_positive_definite_system():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(6, 6))
    F = B @ B.T + 0.1 * np.eye(6)
    b = rng.normal(size=6)
    x = conjugate_gradient(lambda v: F @ v, b, iterations=6)
    np.testing.assert_allclose(x, np.linalg.solve(F, b), rtol=1e-8)
    one = conjugate_gradient(lambda v: F @ v, b, iterations=1)
    assert np.linalg.norm(F @ one - b) > 1e-3   # one step is not enough: the test above can fail


@pytest.mark.parametrize("call, match", [
    (lambda: natural_gradient(np.ones((2, 3)), np.ones(2)), "fisher must be a square"),
    (lambda: natural_gradient(np.eye(2), np.ones(3)), "grad must have 2 entries"),
    (lambda: natural_gradient(np.eye(2), [np.nan, 1.0]), "grad"),
    (lambda: conjugate_gradient("F", np.ones(2)), "matvec must be a function"),
    (lambda: conjugate_gradient(lambda v: v, np.ones(2), iterations=0), "iterations"),
    (lambda: conjugate_gradient(lambda v: v[:1], np.ones(2)), "matvec must return"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_expected_kl_rejects_a_theta_of_another_shape(tiny):
    mdp, policy, theta = tiny
    with pytest.raises(ValueError, match="theta"):
        expected_kl(mdp, policy, theta, theta[:-1])
