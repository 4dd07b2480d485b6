"""The weights Psi_t of chapter 13 (pgbook.signals): each against a loop written from its
definition, every weight's exact mean against grad_J_exact, the exact bias of an imperfect critic,
a Monte Carlo check through compare, and the surrogate loss against finite differences."""
import numpy as np
import pytest

from pgbook import make_rng, mdp as M, signals
from pgbook.baselines import total_variance
from pgbook.estimators import (compare, finite_difference_gradient, policy_gradient_samples, step_scores)
from pgbook.policies import TabularSoftmax
from test_mdp import random_mdp  # the random MDP of the mdp tests


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(131)          # a fixed example: the asserts below are about it
    m = random_mdp(rng)
    pol = TabularSoftmax(m.n_states, m.n_actions)
    theta = rng.normal(size=pol.theta_shape)
    pi = pol.table(theta)
    return m, pol, theta, pi, M.enumerate_trajectories(m, pi)


def loops(m, pi, enum, V):
    """Q_t(s_t, a_t), A_t and delta_t (time-indexed V) by plain loops over episodes and steps."""
    _, Q = M.value_functions(m, pi)
    Vt, _ = M.value_functions(m, pi)
    n, T = enum.mask.shape
    q, adv, delta = np.zeros((n, T)), np.zeros((n, T)), np.zeros((n, T))
    for i in range(n):
        for t in range(T):
            if not enum.mask[i, t]:
                continue
            s, a, s2 = enum.states[i, t], enum.actions[i, t], enum.next_states[i, t]
            q[i, t] = Q[t, s, a]
            adv[i, t] = Q[t, s, a] - Vt[t, s]
            v_next = 0.0 if m.terminal[s2] else V[t + 1, s2]
            delta[i, t] = enum.rewards[i, t] + m.gamma * v_next - V[t, s]
    return q, adv, delta


def test_signals_match_loops_from_their_definitions(case):
    m, pol, theta, pi, enum = case
    V, _ = M.value_functions(m, pi)
    V_err = V + np.arange(1, m.n_states + 1)            # non-zero at the terminal state too
    q, adv, _ = loops(m, pi, enum, V)
    *_, delta_err = loops(m, pi, enum, V_err)
    assert np.array_equal(signals.q_signal(m, pi, enum), q)
    assert np.allclose(signals.advantage_signal(m, pi, enum), adv, atol=1e-14)
    assert np.allclose(signals.td_residuals(enum, V_err, m.gamma, terminal=m.terminal), delta_err, atol=1e-14)
    # without `terminal` the critic's value at the terminal state is used, and that differs
    assert not np.allclose(signals.td_residuals(enum, V_err, m.gamma), delta_err)
    b = signals.state_baseline(V, enum)
    assert np.all(b[~enum.mask] == 0)
    assert np.array_equal(b[enum.mask], V[np.nonzero(enum.mask)[1], enum.states[enum.mask]])


def test_stationary_critic_in_td_residuals_and_lookahead(case):
    m, pol, theta, pi, enum = case
    V, Q = M.discounted_values(m, pi)
    delta = signals.td_residuals(enum, V, m.gamma)
    s, s2, mk = enum.states, enum.next_states, enum.mask
    assert np.allclose(delta, np.where(mk, enum.rewards + m.gamma * V[s2] - V[s], 0.0), atol=1e-14)
    assert np.allclose(signals.lookahead_q(m, V), Q, atol=1e-13)
    Vt, Qt = M.value_functions(m, pi)
    assert np.allclose(signals.lookahead_q(m, Vt), Qt, atol=1e-14)


def test_every_weight_of_the_family_is_unbiased_with_the_true_critic(case):
    m, pol, theta, pi, enum = case
    fam = signals.weight_family(m, pi, enum)
    assert tuple(fam) == signals.WEIGHT_NAMES
    assert np.array_equal(fam["Q(s_t, a_t)"][0], signals.q_signal(m, pi, enum))
    assert np.allclose(fam["A(s_t, a_t)"][0], signals.advantage_signal(m, pi, enum), atol=1e-14)
    samples = signals.family_samples(pol, theta, enum, fam, chunk=7)     # several chunks
    g = M.grad_J_exact(m, pol, theta)
    variances = []
    for name, x in samples.items():
        assert np.abs(enum.expectation(x) - g).max() < 1e-12, name
        variances.append(total_variance(x, prob=enum.prob))
    # the advantage removes variance relative to Q and to the return (the weights differ for real)
    v = dict(zip(samples, variances))
    assert v["A(s_t, a_t)"] < v["Q(s_t, a_t)"] and v["A(s_t, a_t)"] < v["R(tau)"]


def test_the_tabular_fast_path_equals_the_estimator_on_the_scores():
    rng = make_rng(17)
    m = random_mdp(rng, n_states=5, n_actions=3, horizon=6)
    pol = TabularSoftmax(5, 3)
    theta = rng.normal(size=pol.theta_shape)
    episodes = M.sample_trajectories(m, pol, theta, 50, rng)
    fam = signals.weight_family(m, pol.table(theta), episodes)
    fast = signals.family_samples(pol, theta, episodes, fam)
    score = step_scores(pol, theta, episodes)
    for name, (psi, w) in fam.items():
        slow = policy_gradient_samples(score, psi, w, mask=episodes.mask)
        assert np.allclose(fast[name], slow, atol=1e-13), name


def test_an_imperfect_critic_biases_q_a_and_delta_by_exactly_critic_bias(case):
    m, pol, theta, pi, enum = case
    V, _ = M.value_functions(m, pi)
    V_hat = V + np.array([0.5, -0.3, 0.2, 0.0])           # an error e(s) at the live states, V_T still 0
    V_hat[-1] = 0.0
    samples = signals.family_samples(pol, theta, enum, signals.weight_family(m, pi, enum, V_hat))
    g = M.grad_J_exact(m, pol, theta)
    bias = signals.critic_bias(m, pol, theta, V_hat)
    assert np.abs(bias).max() > 1e-6      # a real bias, a million times the tolerance below
    for name, x in samples.items():
        expected = bias if name in ("Q(s_t, a_t)", "A(s_t, a_t)", "delta_t") else 0.0
        assert np.abs(enum.expectation(x) - g - expected).max() < 1e-12, name
    assert np.abs(signals.critic_bias(m, pol, theta, V)).max() < 1e-14


def test_family_means_agree_with_the_exact_gradient_by_monte_carlo():
    tiny = M.tiny_mdp(gamma=0.9, horizon=5)
    pol = TabularSoftmax(2, 2)
    theta = np.array([[0.0, 0.5], [0.0, -1.0]])
    pi = pol.table(theta)
    episodes = M.sample_trajectories(tiny, pol, theta, 20_000, make_rng(1313))
    samples = signals.family_samples(pol, theta, episodes, signals.weight_family(tiny, pi, episodes))
    g = M.grad_J_exact(tiny, pol, theta)
    for name, x in samples.items():
        c = compare(x, g, comparisons=len(samples) * g.size)
        assert c.passed and c.untested == 0, (name, c.verdict())


def test_surrogate_loss_gradient_is_minus_the_estimator(case):
    m, pol, theta, pi, enum = case
    rng = np.random.default_rng(7)
    episodes = M.sample_trajectories(m, pol, theta, 6, rng)
    psi = rng.normal(size=episodes.mask.shape)                     # any fixed weights
    fd = finite_difference_gradient(lambda th: signals.surrogate_loss(pol, th, episodes, psi), theta)
    estimator = policy_gradient_samples(step_scores(pol, theta, episodes), psi).mean(0)
    assert np.allclose(fd, -estimator, atol=1e-8)
    assert np.abs(estimator).max() > 0.01
    # masked steps carry no weight: changing psi there changes nothing
    psi2 = np.where(episodes.mask, psi, 100.0)
    assert signals.surrogate_loss(pol, theta, episodes, psi2) == signals.surrogate_loss(pol, theta, episodes, psi)
