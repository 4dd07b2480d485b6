"""pgbook.quadrature: the Gauss-Hermite rule against Gaussian moments and closed-form
expectations, in one dimension (including the accuracy the module docstring claims for its
default order) and on tensor-product grids in several; and the errors on bad input."""
from __future__ import annotations

import numpy as np
import pytest

from pgbook import quadrature as q


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


@pytest.mark.parametrize("mu, sigma", [(0.0, 1.0), (1.0, 1.0), (0.3, 0.5), (-2.0, 2.0)])
def test_the_default_order_is_as_accurate_as_the_docstring_says(mu, sigma):
    """E[cos(kx)] to 1e-13 absolute for k sigma up to 25; E[exp(-k x^2)] to 1e-10 relative for k sigma^2
    up to 12 (with the default order, 300 nodes)."""
    for k in np.linspace(0.0, 25.0, 101) / sigma:
        exact = np.cos(k * mu) * np.exp(-0.5 * (k * sigma) ** 2)
        assert abs(q.gaussian_expectation(lambda x: np.cos(k * x), mu, sigma) - exact) < 1e-13, k * sigma
    for k in np.linspace(0.0, 12.0, 49) / sigma**2:
        a = 1 + 2 * k * sigma**2
        exact = np.exp(-k * mu**2 / a) / np.sqrt(a)
        assert abs(q.gaussian_expectation(lambda x: np.exp(-k * x**2), mu, sigma) / exact - 1) < 1e-10, k * sigma**2


def test_tensor_grids_in_several_dimensions():
    mu, sigma = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.3, 0.7])
    # E[x1^2 x2 + x3^3] = (mu1^2 + s1^2) mu2 + mu3^3 + 3 mu3 s3^2, exact with 3 nodes per dimension
    exact = (mu[0] ** 2 + sigma[0] ** 2) * mu[1] + mu[2] ** 3 + 3 * mu[2] * sigma[2] ** 2
    value = q.gaussian_expectation(lambda x: x[:, 0] ** 2 * x[:, 1] + x[:, 2] ** 3, mu, sigma, order=3)
    np.testing.assert_allclose(value, exact, rtol=1e-13)
    # one value per point or one array per point; sigma a number is used in every dimension
    means = q.gaussian_expectation(lambda x: x, mu[:2], 0.5, order=4)
    np.testing.assert_allclose(means, mu[:2], atol=1e-14)
    second = q.gaussian_expectation(lambda x: x[:, :, None] * x[:, None, :], mu[:2], 0.5, order=4)
    np.testing.assert_allclose(second, np.outer(mu[:2], mu[:2]) + 0.25 * np.eye(2), atol=1e-13)
    # a one-dimensional array gives points (m, 1): the same numbers as a plain number
    np.testing.assert_allclose(q.gaussian_expectation(lambda x: np.cos(x[:, 0]), [0.4], [0.8]),
                               q.gaussian_expectation(np.cos, 0.4, 0.8), rtol=1e-14)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: q.gauss_hermite(0), "order"),
        (lambda: q.gauss_hermite(q.MAX_ORDER + 1), "order"),
        (lambda: q.gauss_hermite(3.0), "order"),
        (lambda: q.gaussian_expectation(lambda x: np.where(x > 100.0, 1.0, np.inf)), "g"),
        (lambda: q.gaussian_expectation(lambda x: x[:3], 0.0, 1.0), "one value per point"),
        (lambda: q.gaussian_expectation(np.cos, 0.0, -1.0), "sigma"),
        (lambda: q.gaussian_expectation(np.cos, np.nan, 1.0), "mu"),
        (lambda: q.gaussian_expectation(lambda x: x[:, 0], np.zeros(2), np.ones(3)), "shape"),
        (lambda: q.gaussian_expectation(lambda x: x[:, 0], np.zeros(4), np.ones(4)), "MAX_NODES"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
