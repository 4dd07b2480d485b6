"""pgbook.distributions: the analytic score against finite differences of log_prob, the
zero mean of the score (exact sums, Gauss-Hermite quadrature and Monte Carlo), sampling,
and the errors raised on bad input.

Monte Carlo checks draw from ``pgbook.make_rng`` (seed from PGBOOK_SEED, one stream per check) and
go through ``pgbook.estimators.compare``: each fails a correct sampler with probability at most 1e-6."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.polynomial.hermite_e import hermegauss

import pgbook
from pgbook.distributions import Bernoulli, Categorical, Gaussian
from pgbook.estimators import compare

finite = st.floats(min_value=-4.0, max_value=4.0, allow_nan=False, allow_infinity=False)
log_stds = st.floats(min_value=-1.5, max_value=1.5, allow_nan=False, allow_infinity=False)


def central_difference(dist, x, eps=1e-6):
    """d log_prob(x) / d params by central differences, shape (n, P); written here, independent of pgbook."""
    params = dist.params
    columns = []
    for i in range(params.size):
        step = np.zeros_like(params)
        step[i] = eps
        up = dist.with_params(params + step).log_prob(x)
        down = dist.with_params(params - step).log_prob(x)
        columns.append((up - down) / (2 * eps))
    return np.stack(columns, axis=1)


# --- the score is the gradient of log_prob -------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(logit=finite)
def test_bernoulli_score_is_gradient_of_log_prob(logit):
    dist = Bernoulli(logit)
    x = np.array([0, 1])
    np.testing.assert_allclose(dist.score(x), central_difference(dist, x), atol=1e-7, rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(logits=st.lists(finite, min_size=2, max_size=6))
def test_categorical_score_is_gradient_of_log_prob(logits):
    dist = Categorical(logits)
    x = dist.support()
    np.testing.assert_allclose(dist.score(x), central_difference(dist, x), atol=1e-7, rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    d=st.integers(min_value=1, max_value=3),
    data=st.data(),
)
def test_gaussian_score_is_gradient_of_log_prob(d, data):
    mean = np.array(data.draw(st.lists(finite, min_size=d, max_size=d)))
    log_std = np.array(data.draw(st.lists(log_stds, min_size=d, max_size=d)))
    dist = Gaussian(mean, log_std)
    seed = data.draw(st.integers(min_value=0, max_value=2**31 - 1))
    # any seed will do: the comparison below is exact (finite differences), not statistical
    x = dist.sample(np.random.default_rng(seed), 7)
    np.testing.assert_allclose(dist.score(x), central_difference(dist, x), atol=1e-6, rtol=1e-6)


def test_log_prob_matches_textbook_formulas():
    # Independent closed forms, typed in directly.
    assert np.allclose(Bernoulli(0.0).log_prob([0, 1]), np.log([0.5, 0.5]))
    logits = np.array([1.0, 2.0, 0.5])
    probs = np.exp(logits) / np.exp(logits).sum()
    assert np.allclose(Categorical(logits).log_prob([0, 1, 2, 1]), np.log(probs[[0, 1, 2, 1]]))
    x = np.array([[0.3], [-1.0]])
    mu, sigma = 0.5, 2.0
    density = np.exp(-((x[:, 0] - mu) ** 2) / (2 * sigma**2)) / np.sqrt(2 * np.pi * sigma**2)
    assert np.allclose(Gaussian(mu, np.log(sigma)).log_prob(x), np.log(density))


def test_probabilities_sum_to_one_and_match_sigmoid():
    for logit in (-30.0, -1.0, 0.0, 2.5, 40.0):
        b = Bernoulli(logit)
        assert np.isclose(b.probs().sum(), 1.0)
        assert np.isclose(b.prob(), 1 / (1 + np.exp(-logit)))
    c = Categorical([800.0, 0.0, -800.0])  # no overflow with huge logits
    assert np.all(np.isfinite(c.probs())) and np.isclose(c.probs().sum(), 1.0)
    assert np.all(np.isfinite(c.score(c.support())))


# --- the score has mean zero -------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(logits=st.lists(finite, min_size=2, max_size=6))
def test_categorical_expected_score_is_zero_exactly(logits):
    dist = Categorical(logits)
    x = dist.support()
    expected = dist.probs() @ dist.score(x)
    assert np.allclose(expected, 0.0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(logit=finite)
def test_bernoulli_expected_score_is_zero_exactly(logit):
    dist = Bernoulli(logit)
    assert np.allclose(dist.probs() @ dist.score(dist.support()), 0.0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(mean=finite, log_std=log_stds)
def test_gaussian_expected_score_is_zero_by_quadrature(mean, log_std):
    # Gauss-Hermite (probabilists') quadrature is exact for the score, a polynomial of degree 2 in x.
    nodes, weights = hermegauss(10)
    weights = weights / weights.sum()
    dist = Gaussian(mean, log_std)
    x = dist.reparameterize(nodes[:, None])
    assert np.allclose(weights @ dist.score(x), 0.0, atol=1e-10)


@pytest.mark.parametrize("stream", [40, 41, 42, 43, 44])
def test_expected_score_is_zero_by_monte_carlo(stream):
    rng = pgbook.make_rng(stream)
    n = 20_000
    dists = (Bernoulli(0.7), Categorical([0.2, -1.0, 1.5]), Gaussian([0.5, -2.0], [0.3, -0.4]))
    n_compared = sum(dist.n_params for dist in dists)          # 1 + 3 + 4 components, one check
    for dist in dists:
        scores = dist.score(dist.sample(rng, n))
        # The categorical score sums to zero over components; every component still has se > 0.
        c = compare(scores, np.zeros(dist.n_params), comparisons=n_compared)
        assert c.passed and c.untested == 0, (dist, str(c))


# --- sampling ------------------------------------------------------------------------------


def test_sampling_frequencies_match_probabilities():
    rng = pgbook.make_rng(45)
    n = 40_000
    c = Categorical([0.0, 1.0, -0.5, 0.3])
    one_hot = np.eye(4)[c.sample(rng, n)]              # frequencies = averages of the one-hot samples
    cmp = compare(one_hot, c.probs(), comparisons=5)   # 4 categorical + 1 Bernoulli comparisons
    assert cmp.passed and cmp.untested == 0, str(cmp)
    b = Bernoulli(-0.8)
    draws = b.sample(rng, n)
    assert set(np.unique(draws)) <= {0, 1}
    cmp = compare(draws.astype(float), np.array(b.prob()), comparisons=5)
    assert cmp.passed and cmp.untested == 0, str(cmp)


def test_gaussian_sampling_and_reparameterisation():
    rng = pgbook.make_rng(46)
    g = Gaussian([1.0, -3.0], [np.log(0.5), np.log(2.0)])
    n = 40_000
    x = g.sample(rng, n)
    assert x.shape == (n, 2)
    # means, and variances as the averages of (x - exact mean)^2: one check of 4 comparisons
    cmp = compare(np.concatenate([x, (x - g.mean()) ** 2], axis=1), np.concatenate([g.mean(), g.std() ** 2]))
    assert cmp.passed and cmp.untested == 0, str(cmp)
    # a fixed seed is fine from here on: the checks are exact identities between two ways of sampling
    eps = g.sample_eps(np.random.default_rng(5), 3)
    assert eps.shape == (3, 2)
    np.testing.assert_allclose(g.reparameterize(eps), np.array([1.0, -3.0]) + np.array([0.5, 2.0]) * eps)
    # the same generator state gives the same samples either way
    np.testing.assert_allclose(
        g.sample(np.random.default_rng(5), 3), g.reparameterize(g.sample_eps(np.random.default_rng(5), 3))
    )


def test_one_dimensional_gaussian_accepts_flat_samples():
    g = Gaussian(0.0, 0.0)
    np.testing.assert_allclose(g.log_prob(np.array([0.0, 1.0])), g.log_prob(np.array([[0.0], [1.0]])))
    assert g.score(np.array([0.0, 1.0])).shape == (2, 2)


def test_params_are_copies_and_with_params_does_not_mutate():
    g = Gaussian([1.0, 2.0], [0.0, 0.1])
    p = g.params
    p[0] = 100.0
    assert g.mean()[0] == 1.0
    g2 = g.with_params(np.array([0.0, 0.0, 1.0, 1.0]))
    assert np.allclose(g.params, [1.0, 2.0, 0.0, 0.1])
    assert np.allclose(g2.std(), np.e)
    assert g.n_params == 4 and Categorical([0, 0, 0]).n_params == 3 and Bernoulli(0).n_params == 1
    assert np.allclose(Gaussian(0.0, [0.5]).params, [0.0, 0.5])
    assert np.allclose(Gaussian([0.0, 1.0], 0.5).params, [0.0, 1.0, 0.5, 0.5])


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Bernoulli(np.nan), "logit"),
        (lambda: Bernoulli([0.0, 1.0]), "logit"),
        (lambda: Categorical([1.0]), "logits"),
        (lambda: Categorical([[1.0, 2.0]]), "logits"),
        (lambda: Categorical([1.0, np.inf]), "logits"),
        (lambda: Gaussian([np.nan], [0.0]), "mean"),
        (lambda: Gaussian([0.0, 1.0], [0.0, 1.0, 2.0]), "log_std"),
        (lambda: Gaussian([0.0], [1e4]), "log_std"),
        (lambda: Gaussian([0.0], [np.inf]), "log_std"),
        (lambda: Gaussian(np.zeros((2, 2))), "mean"),
    ],
)
def test_bad_construction_raises(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_calls_raise():
    rng = np.random.default_rng(0)  # a fixed seed is fine: every call below must raise, whatever it draws
    b, c, g = Bernoulli(0.0), Categorical([0.0, 1.0, 2.0]), Gaussian([0.0, 1.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="x"):
        b.log_prob([0, 2])
    with pytest.raises(ValueError, match="x"):
        b.score([0.5])
    with pytest.raises(ValueError, match="x"):
        c.score([3])
    with pytest.raises(ValueError, match="x"):
        c.log_prob([-1])
    with pytest.raises(ValueError, match="x"):
        c.log_prob([np.nan])
    with pytest.raises(ValueError, match="x"):
        c.log_prob([[0, 1]])
    with pytest.raises(ValueError, match="x"):
        g.log_prob(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="x"):
        g.score(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="eps"):
        g.reparameterize(np.zeros(4))
    with pytest.raises(ValueError, match="n"):
        c.sample(rng, 0)
    with pytest.raises(ValueError, match="n"):
        g.sample_eps(rng, 2.5)
    with pytest.raises(ValueError, match="rng"):
        b.sample(42, 3)
    with pytest.raises(ValueError, match="params"):
        g.with_params([0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="params"):
        c.with_params([0.0, np.nan, 1.0])
