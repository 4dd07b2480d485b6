"""Policies: analytic scores against finite differences of log pi, normalisation, sampling, errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pgbook import make_rng
from pgbook.estimators import compare
from pgbook.policies import LinearGaussian, LinearSoftmax, Policy, SoftmaxPolicy, TabularSoftmax, sample_categorical

SEEDS = st.integers(0, 2**32 - 1)


def fd_log_prob(policy, theta, obs, actions, eps=1e-6):
    """Central differences of log pi for every sample at once: (*batch, *theta_shape)."""
    batch = np.shape(policy.log_prob(theta, obs, actions))
    out = np.zeros(batch + theta.shape)
    for idx in np.ndindex(theta.shape):
        e = np.zeros(theta.shape)
        e[idx] = eps
        diff = policy.log_prob(theta + e, obs, actions) - policy.log_prob(theta - e, obs, actions)
        out[(...,) + idx] = diff / (2 * eps)
    return out


def make_case(kind, rng):
    if kind == "tabular":
        pol = TabularSoftmax(4, 3)
        obs = rng.integers(0, 4, size=(5, 2))
        act = rng.integers(0, 3, size=(5, 2))
    elif kind == "linear":
        pol = LinearSoftmax(3, 4)
        obs = rng.normal(size=(6, 3))
        act = rng.integers(0, 4, size=6)
    else:
        pol = LinearGaussian(3, 2)
        obs = rng.normal(size=(6, 3))
        act = rng.normal(size=(6, 2)) * 2
    theta = rng.uniform(-2, 2, size=pol.theta_shape)
    return pol, theta, obs, act


@pytest.mark.parametrize("kind", ["tabular", "linear", "gaussian"])
@settings(max_examples=25, deadline=None)
@given(seed=SEEDS)
def test_score_matches_finite_differences(kind, seed):
    pol, theta, obs, act = make_case(kind, np.random.default_rng(seed))
    score = pol.score(theta, obs, act)
    assert score.shape == np.shape(pol.log_prob(theta, obs, act)) + pol.theta_shape
    np.testing.assert_allclose(score, fd_log_prob(pol, theta, obs, act), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind", ["tabular", "linear"])
@settings(max_examples=20, deadline=None)
@given(seed=SEEDS)
def test_discrete_probabilities_normalise_and_score_has_mean_zero(kind, seed):
    pol, theta, obs, _ = make_case(kind, np.random.default_rng(seed))
    p = pol.probs(theta, obs)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-12)
    # exp(log_prob) of every action reproduces probs, and sum_a pi(a|s) score(s, a) = 0 exactly
    mean_score = 0.0
    for a in range(pol.n_actions):
        acts = np.full(p.shape[:-1], a)
        np.testing.assert_allclose(np.exp(pol.log_prob(theta, obs, acts)), p[..., a], rtol=1e-12)
        w = p[..., a].reshape(p.shape[:-1] + (1,) * len(pol.theta_shape))
        mean_score = mean_score + w * pol.score(theta, obs, acts)
    np.testing.assert_allclose(mean_score, 0.0, atol=1e-12)


def test_tabular_table_is_row_softmax():
    pol = TabularSoftmax(2, 3)
    theta = np.array([[0.0, np.log(2.0), np.log(3.0)], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(pol.table(theta), [[1 / 6, 2 / 6, 3 / 6], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(pol.probs(theta, np.array([1, 0])), pol.table(theta)[[1, 0]])


def test_categorical_sampling_frequencies():
    rng = make_rng(300 + 1)
    pol = TabularSoftmax(2, 3)
    theta = np.array([[0.0, 1.0, -1.0], [2.0, 0.0, 0.0]])
    n = 200_000
    states = np.repeat([0, 1], n // 2)
    a = pol.sample(theta, states, rng)
    for s in (0, 1):
        p = pol.table(theta)[s]
        c = compare(np.eye(3)[a[states == s]], p, comparisons=6)   # action frequencies, both states
        assert c.passed, str(c)


def test_gaussian_sampling_moments():
    rng = make_rng(300 + 2)
    pol = LinearGaussian(2, 1)
    theta = np.array([[1.0], [-2.0], [0.5], [np.log(0.3)]])
    obs = np.tile([[0.4, 0.1]], (100_000, 1))
    a = pol.sample(theta, obs, rng)
    mean = 0.4 - 0.2 + 0.5
    assert compare(a, np.array([mean]), comparisons=2).passed                       # the mean ...
    assert compare((a - mean) ** 2, np.array([0.3 ** 2]), comparisons=2).passed      # ... and the variance


def test_gaussian_log_prob_closed_form():
    pol = LinearGaussian(1, 1)
    theta = np.array([[2.0], [1.0], [np.log(0.5)]])
    x, a = 0.5, 1.7
    mu = 2.0 * x + 1.0
    expected = -0.5 * ((a - mu) / 0.5) ** 2 - np.log(0.5) - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(pol.log_prob(theta, np.array([[x]]), np.array([[a]])), [expected])


def test_init_theta():
    pol = LinearSoftmax(3, 2, bias=False)
    assert pol.theta_shape == (3, 2)
    np.testing.assert_array_equal(pol.init_theta(), np.zeros((3, 2)))
    th = pol.init_theta(np.random.default_rng(0), scale=0.1)
    assert th.shape == (3, 2) and np.all(th != 0)
    # a random start needs a generator: none is made up behind the caller's back
    with pytest.raises(TypeError, match="rng"):
        pol.init_theta(scale=0.1)


def test_every_policy_shares_one_interface():
    """The softmax policies get probs, log_prob and sample from their logits (SoftmaxPolicy), and
    every policy its check_theta and init_theta from Policy, the MLP included."""
    from pgbook.mlp import MLPSoftmax

    for pol in (TabularSoftmax(3, 2), LinearSoftmax(3, 2), MLPSoftmax(3, 2, 4)):
        assert isinstance(pol, SoftmaxPolicy) and pol.check_theta.__func__ is Policy.check_theta
    assert isinstance(LinearGaussian(2, 1), Policy)
    pol, rng = LinearSoftmax(3, 4), make_rng(40)
    theta, obs = rng.normal(size=pol.theta_shape), rng.normal(size=(5, 3))
    np.testing.assert_allclose(pol.probs(theta, obs).sum(axis=-1), 1.0)
    np.testing.assert_allclose(np.log(pol.probs(theta, obs)), pol.logits(theta, obs)
                               - np.log(np.exp(pol.logits(theta, obs)).sum(axis=-1, keepdims=True)))
    np.testing.assert_array_equal(pol.sample(theta, obs, make_rng(41)),
                                  sample_categorical(pol.probs(theta, obs), make_rng(41)))


def test_sample_categorical_frequencies():
    probs = np.array([[0.2, 0.5, 0.3], [1.0, 0.0, 0.0]])
    draws = sample_categorical(np.repeat(probs[None], 20_000, axis=0), make_rng(42))
    assert draws.shape == (20_000, 2) and np.all(draws[:, 1] == 0)
    c = compare(np.eye(3)[draws[:, 0]], probs[0])
    assert c.passed and c.untested == 0, str(c)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: TabularSoftmax(0, 2), "n_states"),
        (lambda: TabularSoftmax(2, 1.5), "n_actions"),
        (lambda: LinearSoftmax(-1, 2), "obs_dim"),
        (lambda: LinearGaussian(2, 0), "act_dim"),
        (lambda: TabularSoftmax(2, 2).probs(np.zeros((2, 3)), np.array([0])), "theta"),
        (lambda: TabularSoftmax(2, 2).probs(np.array([[0, np.nan], [0, 0]]), np.array([0])), "theta"),
        (lambda: TabularSoftmax(2, 2).probs(np.zeros((2, 2)), np.array([2])), "states"),
        (lambda: TabularSoftmax(2, 2).probs(np.zeros((2, 2)), np.array([0.5])), "states"),
        (lambda: TabularSoftmax(2, 2).log_prob(np.zeros((2, 2)), np.array([0]), np.array([2])), "actions"),
        (lambda: TabularSoftmax(2, 2).score(np.zeros((2, 2)), np.array([0, 1]), np.array([0])), "actions"),
        (lambda: TabularSoftmax(2, 2).sample(np.zeros((2, 2)), np.array([0]), rng=42), "rng"),
        (lambda: LinearSoftmax(3, 2).probs(np.zeros((4, 2)), np.zeros((5, 2))), "obs"),
        (lambda: LinearSoftmax(3, 2).probs(np.zeros((4, 2)), np.full((5, 3), np.inf)), "obs"),
        (lambda: LinearGaussian(1, 1).log_prob(np.zeros((3, 1)), np.zeros((4, 1)), np.zeros((4, 2))), "actions"),
        (lambda: LinearGaussian(1, 1).score(np.zeros((3, 2)), np.zeros((4, 1)), np.zeros((4, 1))), "theta"),
        (lambda: TabularSoftmax(2, 2).init_theta(np.random.default_rng(0), scale=-1.0), "scale"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
