"""pgbook.estimator_moments: estimator means against the true gradients; variances against
hand-derived closed forms for (x - k)^2 and against Monte Carlo (estimators written out here,
independently of the module) for all three costs; baselines; and the errors on bad input.

Monte Carlo checks use ``pgbook.make_rng`` (seed from PGBOOK_SEED) and ``pgbook.estimators.compare``:
each fails a correct formula with probability at most 1e-6, counting all its comparisons."""
from __future__ import annotations

import numpy as np
import pytest

import pgbook
from pgbook import estimator_moments as em
from pgbook.estimators import compare


def _closed_form_expectation(cost, k, mu, sigma):
    """E[f(x)] for x ~ N(mu, sigma^2), by hand."""
    if cost == "quadratic":
        return (mu - k) ** 2 + sigma**2
    if cost == "gaussian":
        a = 1 + 2 * k * sigma**2
        return np.exp(-k * mu**2 / a) / np.sqrt(a)
    return np.cos(k * mu) * np.exp(-0.5 * k**2 * sigma**2)


@pytest.mark.parametrize("cost", ["quadratic", "gaussian", "cosine"])
@pytest.mark.parametrize("estimator", ["score", "pathwise"])
def test_estimator_means_are_the_true_gradient(cost, estimator):
    k, mu, sigma, h = 1.3, 0.4, 0.8, 1e-6
    true = {
        "mu": (_closed_form_expectation(cost, k, mu + h, sigma) - _closed_form_expectation(cost, k, mu - h, sigma))
        / (2 * h),
        "sigma": (_closed_form_expectation(cost, k, mu, sigma + h) - _closed_form_expectation(cost, k, mu, sigma - h))
        / (2 * h),
    }
    for param in ("mu", "sigma"):
        mean, _ = em.estimator_moments(cost, k, mu, sigma, estimator, param)
        np.testing.assert_allclose(mean, true[param], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("k, mu, sigma", [(0.0, 1.0, 1.0), (2.0, 0.0, 1.0), (-1.0, 0.5, 2.0), (3.0, 1.0, 0.3)])
def test_quadratic_variances_match_closed_form(k, mu, sigma):
    closed = em.quadratic_closed_form(k, mu, sigma)
    for estimator in ("score", "pathwise"):
        for param in ("mu", "sigma"):
            _, var = em.estimator_moments("quadratic", k, mu, sigma, estimator, param)
            np.testing.assert_allclose(var, closed[(estimator, param)], rtol=1e-10)
    np.testing.assert_allclose(em.mean_baseline("quadratic", k, mu, sigma), closed["mean_baseline"], rtol=1e-12)
    for param in ("mu", "sigma"):
        np.testing.assert_allclose(em.optimal_baseline("quadratic", k, mu, sigma, param),
                                   closed[("optimal_baseline", param)], rtol=1e-12)


def test_the_quoted_numbers_at_k0_mu1_sigma1():
    # Var at k = 0, mu = sigma = 1 (derived by hand from E[eps^2j] = 1, 3, 15, 105):
    expected = {("score", "mu"): 30.0, ("score", "sigma"): 136.0, ("pathwise", "mu"): 4.0, ("pathwise", "sigma"): 12.0}
    for key, value in expected.items():
        np.testing.assert_allclose(em.estimator_moments("quadratic", 0.0, 1.0, 1.0, *key)[1], value, rtol=1e-12)
    # mean baseline b = 2: variances 18 (mu) and 96 (sigma); optimal b = 4 and 6: 14 and 64
    for param, b, var in [("mu", 2.0, 18.0), ("sigma", 2.0, 96.0), ("mu", 4.0, 14.0), ("sigma", 6.0, 64.0)]:
        np.testing.assert_allclose(em.estimator_moments("quadratic", 0.0, 1.0, 1.0, "score", param, b)[1], var)


def _mc_estimator(cost, eps, k, mu, sigma, estimator, param, baseline=0.0):
    """The four single-draw estimators written out directly (independent of pgbook.quadrature)."""
    x = mu + sigma * eps
    f = {"quadratic": (x - k) ** 2, "gaussian": np.exp(-k * x**2), "cosine": np.cos(k * x)}[cost]
    df = {"quadratic": 2 * (x - k), "gaussian": -2 * k * x * np.exp(-k * x**2), "cosine": -k * np.sin(k * x)}[cost]
    if estimator == "score":
        return (f - baseline) * (eps / sigma if param == "mu" else (eps**2 - 1) / sigma)
    return df if param == "mu" else df * eps


def _mean_and_variance_check(samples, exact_mean, exact_var, comparisons):
    """``compare`` of the samples and of their squared deviations from the exact mean (whose average
    is an unbiased estimate of the variance) with the exact mean and variance: two comparisons.

    The mean is always judged.  The squared deviations of a score-function estimator can be so skewed
    (powers of eps up to the 12th) that no z-test can stand behind a verdict on 200 000 of them;
    ``compare`` then leaves the variance untested rather than pass or fail it on a wrong normal
    approximation (the closed-form tests above cover those variances exactly)."""
    stacked = np.stack([samples, (samples - exact_mean) ** 2], axis=1)
    c = compare(stacked, np.array([exact_mean, exact_var]), comparisons=comparisons)
    assert c.passed and c.testable[0], str(c)
    return c


@pytest.mark.parametrize("cost", ["quadratic", "gaussian", "cosine"])
@pytest.mark.parametrize("k", [0.5, 2.0])
def test_variances_agree_with_monte_carlo(cost, k):
    mu, sigma = 0.5, 1.0
    eps = pgbook.make_rng(20).standard_normal(200_000)
    for estimator in ("score", "pathwise"):
        for param in ("mu", "sigma"):
            samples = _mc_estimator(cost, eps, k, mu, sigma, estimator, param)
            mean, var = em.estimator_moments(cost, k, mu, sigma, estimator, param)
            # one check: 2 estimators x 2 parameters x (mean, variance) = 8 comparisons
            _mean_and_variance_check(samples, mean, var, comparisons=8)


@pytest.mark.parametrize("cost", ["quadratic", "gaussian", "cosine"])
def test_baselines_variance_removed(cost):
    k, mu, sigma = 1.0, 0.5, 1.2
    eps = pgbook.make_rng(21).standard_normal(200_000)
    for param in ("mu", "sigma"):
        plain = em.estimator_moments(cost, k, mu, sigma, "score", param)[1]
        b_star = em.optimal_baseline(cost, k, mu, sigma, param)
        b_mean = em.mean_baseline(cost, k, mu, sigma)
        for b in (b_mean, b_star):
            with_b = em.estimator_moments(cost, k, mu, sigma, "score", param, b)
            np.testing.assert_allclose(plain - with_b[1], em.variance_removed(cost, k, mu, sigma, param, b),
                                       rtol=1e-9, atol=1e-12)
            # a constant baseline leaves the mean alone
            np.testing.assert_allclose(with_b[0], em.estimator_moments(cost, k, mu, sigma, "score", param)[0],
                                       atol=1e-10)
            samples = _mc_estimator(cost, eps, k, mu, sigma, "score", param, b)
            # one check: 2 parameters x 2 baselines x (mean, variance) = 8 comparisons
            _mean_and_variance_check(samples, with_b[0], with_b[1], comparisons=8)
        # b* is the minimiser: a parabola in b, so nearby baselines do worse
        best = em.estimator_moments(cost, k, mu, sigma, "score", param, b_star)[1]
        for delta in (-0.1, 0.1):
            assert em.estimator_moments(cost, k, mu, sigma, "score", param, b_star + delta)[1] > best
        np.testing.assert_allclose(em.variance_removed(cost, k, mu, sigma, param, b_star) * 1.0,
                                   plain - best, rtol=1e-9, atol=1e-12)


def test_variance_table_shapes_and_values():
    ks = np.array([0.0, 1.0, 2.0])
    table = em.variance_table("quadratic", ks, mu=1.0, sigma=1.0)
    assert set(table) == {("score", "mu"), ("score", "sigma"), ("pathwise", "mu"), ("pathwise", "sigma")}
    closed = [em.quadratic_closed_form(k, 1.0, 1.0)[("score", "sigma")] for k in ks]
    np.testing.assert_allclose(table[("score", "sigma")], closed, rtol=1e-10)


def test_monte_carlo_samples_use_the_general_estimators():
    """The draws of ``monte_carlo_samples`` are those of score_function_samples and pathwise_samples on
    Gaussian(mu, log sigma), with the log-std column turned into the sigma-derivative."""
    mu, sigma, k, n = 0.5, 2.0, 1.0, 50
    draws = em.monte_carlo_samples("quadratic", k, mu, sigma, n, pgbook.make_rng(22), baseline=1.5)
    rng = pgbook.make_rng(22)
    dist = pgbook.distributions.Gaussian(mu, np.log(sigma))
    score = pgbook.estimators.score_function_samples(dist, lambda x: (x[:, 0] - k) ** 2, n, rng, baseline=1.5)
    path = pgbook.pathwise.pathwise_samples(dist, lambda x: 2 * (x - k), n, rng)
    np.testing.assert_array_equal(draws[("score", "mu")], score[:, 0])
    np.testing.assert_array_equal(draws[("score", "sigma")], score[:, 1] / sigma)
    np.testing.assert_array_equal(draws[("pathwise", "mu")], path[:, 0])
    np.testing.assert_array_equal(draws[("pathwise", "sigma")], path[:, 1] / sigma)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: em.estimator_moments("cubic", 1.0), "cost"),
        (lambda: em.estimator_moments("quadratic", 1.0, sigma=0.0), "sigma"),
        (lambda: em.estimator_moments("quadratic", 1.0, mu=np.nan), "mu"),
        (lambda: em.estimator_moments("quadratic", np.inf), "k"),
        (lambda: em.estimator_moments("quadratic", 1.0, estimator="reinforce"), "estimator"),
        (lambda: em.estimator_moments("quadratic", 1.0, param="tau"), "param"),
        (lambda: em.estimator_moments("quadratic", 1.0, estimator="pathwise", baseline=1.0), "baseline"),
        (lambda: em.estimator_moments("quadratic", 1.0, order=0), "order"),
        (lambda: em.estimator_values(np.array([0.0, np.nan]), "quadratic", 1.0, 0.0, 1.0, "score", "mu"), "eps"),
        (lambda: em.optimal_baseline("quadratic", 1.0, sigma=-1.0), "sigma"),
        (lambda: em.optimal_baseline("quadratic", 1.0, param="tau"), "param"),
        (lambda: em.variance_removed("quadratic", 1.0, baseline=np.inf), "baseline"),
        (lambda: em.variance_table("quadratic", [0.0, np.nan]), "ks"),
        (lambda: em.mean_baseline("quadratic", 1.0, mu=np.inf), "mu"),
        (lambda: em.quadratic_closed_form(1.0, sigma=0.0), "sigma"),
        (lambda: em.monte_carlo_samples("quadratic", 1.0, 0.0, 1.0, 0, pgbook.make_rng(0)), "n"),
        (lambda: em.monte_carlo_samples("quadratic", 1.0, 0.0, 1.0, 10, 42), "rng"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
