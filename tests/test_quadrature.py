"""pgbook.quadrature: Gauss-Hermite rules against Gaussian moments and closed-form expectations;
estimator means against the true gradients; variances against hand-derived closed forms for
(x - k)^2 and against Monte Carlo (estimators written out here, independently of the module)
for all three costs; baselines; and the errors on bad input.

Monte Carlo checks use ``pgbook.make_rng`` (seed from PGBOOK_SEED) and ``pgbook.estimators.compare``:
each fails a correct formula with probability at most 1e-6, counting all its comparisons."""
from __future__ import annotations

import numpy as np
import pytest

import pgbook
from pgbook import quadrature as q
from pgbook.estimators import compare


def test_gauss_hermite_reproduces_normal_moments():
    t, w = q.gauss_hermite(10)
    np.testing.assert_allclose(w.sum(), 1.0)
    double_factorial = [1, 1, 3, 15, 105, 945, 10395, 135135, 2027025, 34459425]
    for j, m in enumerate(double_factorial):  # E[eps^(2j)] = (2j - 1)!!, exact up to degree 19
        np.testing.assert_allclose(w @ t ** (2 * j), m, rtol=1e-12)
        np.testing.assert_allclose(w @ t ** (2 * j + 1), 0.0, atol=1e-9 * m)


@pytest.mark.parametrize("k, mu, sigma", [(0.5, 0.3, 1.0), (2.0, -1.0, 0.5), (4.0, 1.0, 1.5)])
def test_gaussian_expectation_against_closed_forms(k, mu, sigma):
    cos_exact = np.cos(k * mu) * np.exp(-0.5 * k**2 * sigma**2)
    np.testing.assert_allclose(q.gaussian_expectation(lambda x: np.cos(k * x), mu, sigma), cos_exact, atol=1e-13)
    a = 1 + 2 * k * sigma**2
    gauss_exact = np.exp(-k * mu**2 / a) / np.sqrt(a)
    np.testing.assert_allclose(q.gaussian_expectation(lambda x: np.exp(-k * x**2), mu, sigma), gauss_exact,
                               rtol=1e-12)


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
        mean, _ = q.estimator_moments(cost, k, mu, sigma, estimator, param)
        np.testing.assert_allclose(mean, true[param], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("k, mu, sigma", [(0.0, 1.0, 1.0), (2.0, 0.0, 1.0), (-1.0, 0.5, 2.0), (3.0, 1.0, 0.3)])
def test_quadratic_variances_match_closed_form(k, mu, sigma):
    closed = q.quadratic_closed_form(k, mu, sigma)
    for estimator in ("score", "pathwise"):
        for param in ("mu", "sigma"):
            _, var = q.estimator_moments("quadratic", k, mu, sigma, estimator, param)
            np.testing.assert_allclose(var, closed[(estimator, param)], rtol=1e-10)
    np.testing.assert_allclose(q.mean_baseline("quadratic", k, mu, sigma), closed["mean_baseline"], rtol=1e-12)
    for param in ("mu", "sigma"):
        np.testing.assert_allclose(q.optimal_baseline("quadratic", k, mu, sigma, param),
                                   closed[("optimal_baseline", param)], rtol=1e-12)


def test_the_quoted_numbers_at_k0_mu1_sigma1():
    # Var at k = 0, mu = sigma = 1 (derived by hand from E[eps^2j] = 1, 3, 15, 105):
    expected = {("score", "mu"): 30.0, ("score", "sigma"): 136.0, ("pathwise", "mu"): 4.0, ("pathwise", "sigma"): 12.0}
    for key, value in expected.items():
        np.testing.assert_allclose(q.estimator_moments("quadratic", 0.0, 1.0, 1.0, *key)[1], value, rtol=1e-12)
    # mean baseline b = 2: variances 18 (mu) and 96 (sigma); optimal b = 4 and 6: 14 and 64
    for param, b, var in [("mu", 2.0, 18.0), ("sigma", 2.0, 96.0), ("mu", 4.0, 14.0), ("sigma", 6.0, 64.0)]:
        np.testing.assert_allclose(q.estimator_moments("quadratic", 0.0, 1.0, 1.0, "score", param, b)[1], var)


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
            mean, var = q.estimator_moments(cost, k, mu, sigma, estimator, param)
            # one check: 2 estimators x 2 parameters x (mean, variance) = 8 comparisons
            _mean_and_variance_check(samples, mean, var, comparisons=8)


@pytest.mark.parametrize("cost", ["quadratic", "gaussian", "cosine"])
def test_baselines_variance_removed(cost):
    k, mu, sigma = 1.0, 0.5, 1.2
    eps = pgbook.make_rng(21).standard_normal(200_000)
    for param in ("mu", "sigma"):
        plain = q.estimator_moments(cost, k, mu, sigma, "score", param)[1]
        b_star = q.optimal_baseline(cost, k, mu, sigma, param)
        b_mean = q.mean_baseline(cost, k, mu, sigma)
        for b in (b_mean, b_star):
            with_b = q.estimator_moments(cost, k, mu, sigma, "score", param, b)
            np.testing.assert_allclose(plain - with_b[1], q.variance_removed(cost, k, mu, sigma, param, b),
                                       rtol=1e-9, atol=1e-12)
            # a constant baseline leaves the mean alone
            np.testing.assert_allclose(with_b[0], q.estimator_moments(cost, k, mu, sigma, "score", param)[0],
                                       atol=1e-10)
            samples = _mc_estimator(cost, eps, k, mu, sigma, "score", param, b)
            # one check: 2 parameters x 2 baselines x (mean, variance) = 8 comparisons
            _mean_and_variance_check(samples, with_b[0], with_b[1], comparisons=8)
        # b* is the minimiser: a parabola in b, so nearby baselines do worse
        best = q.estimator_moments(cost, k, mu, sigma, "score", param, b_star)[1]
        for delta in (-0.1, 0.1):
            assert q.estimator_moments(cost, k, mu, sigma, "score", param, b_star + delta)[1] > best
        np.testing.assert_allclose(q.variance_removed(cost, k, mu, sigma, param, b_star) * 1.0,
                                   plain - best, rtol=1e-9, atol=1e-12)


def test_variance_table_shapes_and_values():
    ks = np.array([0.0, 1.0, 2.0])
    table = q.variance_table("quadratic", ks, mu=1.0, sigma=1.0)
    assert set(table) == {("score", "mu"), ("score", "sigma"), ("pathwise", "mu"), ("pathwise", "sigma")}
    closed = [q.quadratic_closed_form(k, 1.0, 1.0)[("score", "sigma")] for k in ks]
    np.testing.assert_allclose(table[("score", "sigma")], closed, rtol=1e-10)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: q.estimator_moments("cubic", 1.0), "cost"),
        (lambda: q.estimator_moments("quadratic", 1.0, sigma=0.0), "sigma"),
        (lambda: q.estimator_moments("quadratic", 1.0, mu=np.nan), "mu"),
        (lambda: q.estimator_moments("quadratic", np.inf), "k"),
        (lambda: q.estimator_moments("quadratic", 1.0, estimator="reinforce"), "estimator"),
        (lambda: q.estimator_moments("quadratic", 1.0, param="tau"), "param"),
        (lambda: q.estimator_moments("quadratic", 1.0, estimator="pathwise", baseline=1.0), "baseline"),
        (lambda: q.gauss_hermite(0), "order"),
        (lambda: q.gauss_hermite(q.MAX_ORDER + 1), "order"),
        (lambda: q.gaussian_expectation(lambda x: np.where(x > 100.0, 1.0, np.inf)), "g"),
        (lambda: q.optimal_baseline("quadratic", 1.0, sigma=-1.0), "sigma"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
