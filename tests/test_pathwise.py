"""The pathwise (reparameterisation) estimator: unbiased against closed forms, exact per sample
against finite differences, and clear errors on bad input.

Monte Carlo checks use ``pgbook.make_rng`` (seed from PGBOOK_SEED) and ``pgbook.estimators.compare``:
each fails a correct estimator with probability at most 1e-6, counting all its comparisons."""
import numpy as np
import pytest

import pgbook
from pgbook.distributions import Bernoulli, Categorical, Gaussian
from pgbook.estimators import compare, score_function_samples
from pgbook.pathwise import pathwise_from_eps, pathwise_samples, reparameterization_jacobian


def test_quadratic_cost_matches_closed_form():
    # E[sum (x - c)^2] = sum (mu - c)^2 + sigma^2  ->  d/dmu = 2 (mu - c), d/dlog sigma = 2 sigma^2
    mean, log_std, c = np.array([0.5, -1.0]), np.array([0.2, -0.7]), np.array([1.0, 0.5])
    q = Gaussian(mean, log_std)
    exact = np.concatenate([2 * (mean - c), 2 * np.exp(2 * log_std)])
    samples = pathwise_samples(q, lambda x: 2 * (x - c), 40_000, pgbook.make_rng(11))
    assert samples.shape == (40_000, 4)
    c = compare(samples, exact)
    assert c.passed and c.untested == 0, str(c)


def test_cosine_cost_matches_closed_form_and_score_function():
    # E[cos(k.x)] = cos(k.mu) exp(-sum k^2 sigma^2 / 2)
    k = np.array([1.5, -0.8])
    mean, log_std = np.array([0.3, 0.9]), np.array([-0.2, 0.1])
    q = Gaussian(mean, log_std)
    sigma2 = np.exp(2 * log_std)
    damp = np.exp(-0.5 * np.sum(k**2 * sigma2))
    exact = np.concatenate([-k * np.sin(k @ mean) * damp, -np.cos(k @ mean) * damp * k**2 * sigma2])
    rng = pgbook.make_rng(12)
    path = pathwise_samples(q, lambda x: -np.sin(x @ k)[:, None] * k, 40_000, rng)
    score = score_function_samples(q, lambda x: np.cos(x @ k), 40_000, rng)
    for samples in (path, score):               # one check: 2 estimators x 4 components
        c = compare(samples, exact, comparisons=2 * exact.size)
        assert c.passed and c.untested == 0, str(c)


def test_each_sample_is_the_derivative_of_f_along_its_own_path():
    # with eps fixed, pathwise_from_eps must equal d f(mu + sigma eps) / d params, by central differences
    rng = pgbook.make_rng(13)
    q = Gaussian(rng.normal(size=3), rng.normal(scale=0.3, size=3))
    eps = q.sample_eps(rng, 7)
    a = np.array([0.4, -1.0, 2.0])

    def f(x):
        return np.sin(x @ a) + np.sum(x**3, axis=1)

    def grad_f(x):
        return np.cos(x @ a)[:, None] * a + 3 * x**2

    got = pathwise_from_eps(q, grad_f, eps)
    h = 1e-6
    fd = np.empty_like(got)
    for j in range(q.params.size):
        e = np.zeros(q.params.size)
        e[j] = h
        up = f(q.with_params(q.params + e).reparameterize(eps))
        down = f(q.with_params(q.params - e).reparameterize(eps))
        fd[:, j] = (up - down) / (2 * h)
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-6)


def test_jacobian_matches_finite_differences():
    rng = pgbook.make_rng(14)
    q = Gaussian([0.1, 2.0], [0.3, -0.4])
    eps = q.sample_eps(rng, 5)
    jac = reparameterization_jacobian(q, eps)
    assert jac.shape == (5, 2, 4)
    h = 1e-6
    for j in range(4):
        e = np.zeros(4)
        e[j] = h
        fd = (q.with_params(q.params + e).reparameterize(eps) - q.with_params(q.params - e).reparameterize(eps)) / (2 * h)
        np.testing.assert_allclose(jac[:, :, j], fd, rtol=1e-7, atol=1e-8)


def test_one_dimensional_grad_may_return_a_vector():
    q = Gaussian(0.5, 0.0)
    out = pathwise_samples(q, lambda x: 2 * x[:, 0], 10, pgbook.make_rng(15))
    assert out.shape == (10, 2)


@pytest.mark.parametrize("dist", [Bernoulli(0.3), Categorical([0.0, 1.0])])
def test_discrete_distributions_are_refused(dist):
    with pytest.raises(ValueError, match="reparameterisable"):
        pathwise_samples(dist, lambda x: x, 10, pgbook.make_rng(0))


def test_bad_inputs():
    q = Gaussian([0.0, 0.0], 0.0)
    rng = pgbook.make_rng(0)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        pathwise_samples(q, lambda x: x, 0, rng)
    with pytest.raises(ValueError, match="rng"):
        pathwise_samples(q, lambda x: x, 5, 42)
    with pytest.raises(ValueError, match="grad_f must return"):
        pathwise_samples(q, lambda x: x[:, 0], 5, rng)
    with pytest.raises(ValueError, match="NaN"):
        pathwise_samples(q, lambda x: np.full_like(x, np.nan), 5, rng)
    with pytest.raises(ValueError, match="grad_f must be a callable"):
        pathwise_samples(q, "not a function", 5, rng)
    with pytest.raises(ValueError, match="eps must have shape"):
        pathwise_from_eps(q, lambda x: x, np.zeros((4, 3)))
