"""Exact means and variances of one-dimensional Gaussian gradient estimators.

For :math:`x \\sim \\mathcal N(\\mu, \\sigma^2)` write :math:`x = \\mu + \\sigma\\varepsilon` with
:math:`\\varepsilon \\sim \\mathcal N(0, 1)`.  Every expectation in this module is an integral
against the standard normal density, which Gauss-Hermite quadrature computes to machine
precision for smooth integrands:

.. math::  \\mathbb E[h(\\varepsilon)] \\approx \\sum_i \\rho_i\\, h(\\nu_i),

with the nodes :math:`\\nu_i` and weights :math:`\\rho_i` of the probabilists' Hermite polynomials
(``numpy.polynomial.hermite_e.hermegauss``, weights normalised to sum to one).  With ``order``
nodes the rule is exact for polynomials of degree up to ``2 * order - 1``.

The estimators of :math:`\\partial/\\partial\\mu` and :math:`\\partial/\\partial\\sigma` of
:math:`\\mathbb E[f(x)]` compared in the book, for one draw :math:`\\varepsilon`:

==================  ===============================================  ==================================
parameter           score function (optionally minus a baseline b)   pathwise (reparameterisation)
==================  ===============================================  ==================================
:math:`\\mu`         :math:`(f(x) - b)\\,\\varepsilon/\\sigma`           :math:`f'(x)`
:math:`\\sigma`      :math:`(f(x) - b)\\,(\\varepsilon^2 - 1)/\\sigma`    :math:`f'(x)\\,\\varepsilon`
==================  ===============================================  ==================================

Costs: ``"quadratic"`` :math:`(x-k)^2`, ``"gaussian"`` :math:`e^{-k x^2}` and ``"cosine"``
:math:`\\cos(kx)`, each with its derivative in :data:`COSTS`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from ._validate import check_finite, check_positive, check_positive_int

__all__ = [
    "COSTS",
    "Cost",
    "get_cost",
    "gauss_hermite",
    "gaussian_expectation",
    "estimator_values",
    "estimator_moments",
    "variance_table",
    "mean_baseline",
    "optimal_baseline",
    "variance_removed",
    "quadratic_closed_form",
    "monte_carlo_samples",
    "DEFAULT_ORDER",
    "MAX_ORDER",
]

#: Number of Gauss-Hermite nodes used unless told otherwise (exact for polynomials of degree < 600;
#: relative error below 1e-10 for e^{-k x^2} up to k sigma^2 ~ 10; E[cos(kx)] is accurate up to k sigma ~ 20, so
#: variances, which involve cos(2kx), up to k sigma ~ 10).
DEFAULT_ORDER = 300
#: numpy's hermegauss weights overflow beyond about 370 nodes.
MAX_ORDER = 350

ESTIMATORS = ("score", "pathwise")
PARAMETERS = ("mu", "sigma")


@dataclass(frozen=True)
class Cost:
    """A one-dimensional cost ``f(x; k)`` and its derivative ``df(x; k)`` in x (vectorised)."""

    name: str
    formula: str
    f: object
    df: object


COSTS: dict[str, Cost] = {
    "quadratic": Cost("quadratic", r"(x-k)^2", lambda x, k: (x - k) ** 2, lambda x, k: 2.0 * (x - k)),
    "gaussian": Cost(
        "gaussian", r"e^{-k x^2}", lambda x, k: np.exp(-k * x**2), lambda x, k: -2.0 * k * x * np.exp(-k * x**2)
    ),
    "cosine": Cost("cosine", r"\cos(kx)", lambda x, k: np.cos(k * x), lambda x, k: -k * np.sin(k * x)),
}


def get_cost(cost) -> Cost:
    """Return the :class:`Cost` named ``cost`` (or ``cost`` itself if it is already a Cost)."""
    if isinstance(cost, Cost):
        return cost
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {sorted(COSTS)}, got {cost!r}")
    return COSTS[cost]


def _nodes_weights(order) -> tuple[np.ndarray, np.ndarray]:
    order = check_positive_int(order, "order")
    if order > MAX_ORDER:
        raise ValueError(f"order must be at most {MAX_ORDER} (numpy's Hermite weights overflow beyond), got {order}")
    return _cached_rule(order)


@lru_cache(maxsize=16)
def _cached_rule(order: int):
    t, w = hermegauss(order)
    w = w / w.sum()  # hermegauss weights integrate against exp(-t^2/2); normalise to N(0, 1)
    t.setflags(write=False)
    w.setflags(write=False)
    return t, w


def gauss_hermite(order: int = DEFAULT_ORDER) -> tuple[np.ndarray, np.ndarray]:
    """Nodes :math:`\\nu_i` (order,) and weights :math:`\\rho_i` (order,) with :math:`\\sum_i \\rho_i h(\\nu_i) = E[h(\\varepsilon)]`,
    :math:`\\varepsilon \\sim N(0, 1)`; returned as ``(nodes, weights)``.

    Exact for polynomials ``h`` of degree up to ``2 * order - 1``.  Raises ValueError unless
    ``order`` is a positive integer.
    """
    t, w = _nodes_weights(order)
    return t.copy(), w.copy()


def _check_mu_sigma(mu, sigma):
    mu = float(check_finite(mu, "mu"))
    sigma = check_positive(sigma, "sigma")
    return mu, sigma


def gaussian_expectation(g, mu: float = 0.0, sigma: float = 1.0, order: int = DEFAULT_ORDER):
    """``E[g(x)]`` for ``x ~ N(mu, sigma^2)`` by Gauss-Hermite quadrature.

    ``g`` maps an array of points (order,) to values (order,) or (order, ...); the result
    has the trailing shape.  Raises ValueError for a non-finite ``mu``, a ``sigma`` that is not
    positive, or values of ``g`` that are not finite.
    """
    mu, sigma = _check_mu_sigma(mu, sigma)
    t, w = _nodes_weights(order)
    values = check_finite(g(mu + sigma * t), "g(x)")
    if values.shape[:1] != t.shape:
        raise ValueError(f"g must return one value per point, shape ({t.size}, ...), got {values.shape}")
    return np.tensordot(w, values, axes=(0, 0))


def _check_choice(value, name, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def estimator_values(eps, cost, k: float, mu: float, sigma: float, estimator: str, param: str, baseline=0.0):
    """The single-draw estimator of ``d E[f(x)] / d param`` at the standard-normal draws ``eps``.

    ``estimator`` is ``"score"`` or ``"pathwise"``, ``param`` is ``"mu"`` or ``"sigma"``; ``baseline``
    (a number) is subtracted from f for the score-function estimator (it must be 0 for the
    pathwise one).  Returns an array shaped like ``eps``.
    """
    cost = get_cost(cost)
    _check_choice(estimator, "estimator", ESTIMATORS)
    _check_choice(param, "param", PARAMETERS)
    mu, sigma = _check_mu_sigma(mu, sigma)
    k = float(check_finite(k, "k"))
    baseline = float(check_finite(baseline, "baseline"))
    eps = np.asarray(eps, dtype=float)
    x = mu + sigma * eps
    if estimator == "score":
        score = eps / sigma if param == "mu" else (eps**2 - 1.0) / sigma
        return (cost.f(x, k) - baseline) * score
    if baseline != 0.0:
        raise ValueError("baseline only applies to the score-function estimator; use baseline=0 for 'pathwise'")
    return cost.df(x, k) if param == "mu" else cost.df(x, k) * eps


def estimator_moments(cost, k, mu=0.0, sigma=1.0, estimator="score", param="mu", baseline=0.0,
                      order: int = DEFAULT_ORDER) -> tuple[float, float]:
    """Exact ``(mean, variance)`` of one draw of an estimator (see :func:`estimator_values`).

    The mean is the true gradient for every unbiased estimator here; the variance is
    ``E[g^2] - E[g]^2``, both by Gauss-Hermite quadrature of ``order`` nodes.
    """
    t, w = _nodes_weights(order)
    g = estimator_values(t, cost, k, mu, sigma, estimator, param, baseline)
    mean = float(w @ g)
    second = float(w @ g**2)
    return mean, max(second - mean**2, 0.0)


def variance_table(cost, ks, mu=0.0, sigma=1.0, order: int = DEFAULT_ORDER) -> dict:
    """Exact variances over a grid of ``ks`` for the four estimators.

    Returns a dict with keys ``("score", "mu")``, ``("score", "sigma")``, ``("pathwise", "mu")`` and
    ``("pathwise", "sigma")``, each an array shaped like ``ks``.
    """
    ks = check_finite(ks, "ks")
    return {
        (est, par): np.array([estimator_moments(cost, k, mu, sigma, est, par, order=order)[1] for k in ks.ravel()]
                             ).reshape(ks.shape)
        for est in ESTIMATORS
        for par in PARAMETERS
    }


def _score(eps, sigma, param):
    """The score of ``param`` at x = mu + sigma * eps: eps / sigma for mu, (eps^2 - 1) / sigma for sigma."""
    return eps / sigma if param == "mu" else (eps**2 - 1.0) / sigma


def mean_baseline(cost, k, mu=0.0, sigma=1.0, order: int = DEFAULT_ORDER) -> float:
    """The mean baseline ``b = E[f(x)]`` (the same for every parameter)."""
    cost = get_cost(cost)
    k = float(check_finite(k, "k"))
    return float(gaussian_expectation(lambda x: cost.f(x, k), mu, sigma, order))


def optimal_baseline(cost, k, mu=0.0, sigma=1.0, param="mu", order: int = DEFAULT_ORDER) -> float:
    """The variance-optimal constant baseline for the score-function estimator of ``param``.

    With ``score`` the derivative of log p in ``param`` (mean zero),
    ``Var[(f - b) score] = E[f^2 score^2] - 2 b E[f score^2] + b^2 E[score^2] - (E[f score])^2``, a parabola in
    ``b`` with its minimum at ``b* = E[f score^2] / E[score^2]``.
    """
    cost = get_cost(cost)
    _check_choice(param, "param", PARAMETERS)
    mu, sigma = _check_mu_sigma(mu, sigma)
    k = float(check_finite(k, "k"))
    t, w = _nodes_weights(order)
    score2 = _score(t, sigma, param) ** 2
    return float((w @ (cost.f(mu + sigma * t, k) * score2)) / (w @ score2))


def variance_removed(cost, k, mu=0.0, sigma=1.0, param="mu", baseline=0.0, order: int = DEFAULT_ORDER) -> float:
    """``Var[f score] - Var[(f - b) score] = 2 b E[f score^2] - b^2 E[score^2]``: what a constant baseline ``b``
    removes (``score`` the derivative of log p in ``param``).

    Positive means the baseline helps; at the optimal baseline it equals ``E[f score^2]^2 / E[score^2]``.
    """
    cost = get_cost(cost)
    _check_choice(param, "param", PARAMETERS)
    mu, sigma = _check_mu_sigma(mu, sigma)
    k = float(check_finite(k, "k"))
    b = float(check_finite(baseline, "baseline"))
    t, w = _nodes_weights(order)
    score2 = _score(t, sigma, param) ** 2
    return float(2.0 * b * (w @ (cost.f(mu + sigma * t, k) * score2)) - b**2 * (w @ score2))


def quadratic_closed_form(k, mu=0.0, sigma=1.0) -> dict:
    """Closed-form variances for the cost ``(x - k)^2`` (derived by hand from Gaussian moments).

    With ``m = mu - k`` and ``E[eps^2, eps^4, eps^6, eps^8] = 1, 3, 15, 105``:

    - score, mu:    ``(m^4 + 18 m^2 sigma^2 + 15 sigma^4) / sigma^2 - 4 m^2``
    - score, sigma: ``(2 m^4 + 60 m^2 sigma^2 + 78 sigma^4) / sigma^2 - 4 sigma^2``
    - pathwise, mu: ``4 sigma^2``;  pathwise, sigma: ``4 m^2 + 8 sigma^2``
    - mean baseline ``m^2 + sigma^2``; optimal baselines ``m^2 + 3 sigma^2`` (mu) and
      ``m^2 + 5 sigma^2`` (sigma).

    Returns a dict with the four variances under ``(estimator, param)`` keys and the baselines
    under ``"mean_baseline"``, ``("optimal_baseline", "mu")`` and ``("optimal_baseline", "sigma")``.
    """
    mu, sigma = _check_mu_sigma(mu, sigma)
    m = mu - float(check_finite(k, "k"))
    sigma2 = sigma**2
    return {
        ("score", "mu"): (m**4 + 18 * m**2 * sigma2 + 15 * sigma2**2) / sigma2 - 4 * m**2,
        ("score", "sigma"): (2 * m**4 + 60 * m**2 * sigma2 + 78 * sigma2**2) / sigma2 - 4 * sigma2,
        ("pathwise", "mu"): 4 * sigma2,
        ("pathwise", "sigma"): 4 * m**2 + 8 * sigma2,
        "mean_baseline": m**2 + sigma2,
        ("optimal_baseline", "mu"): m**2 + 3 * sigma2,
        ("optimal_baseline", "sigma"): m**2 + 5 * sigma2,
    }


def monte_carlo_samples(cost, k, mu, sigma, n: int, rng: np.random.Generator, baseline: float = 0.0) -> dict:
    """Monte Carlo draws of the four estimators, made with the book's general estimator code.

    Uses ``pgbook.estimators.score_function_samples`` and ``pgbook.pathwise.pathwise_samples`` on a
    one-dimensional ``pgbook.distributions.Gaussian(mu, log(sigma))``.  That distribution is
    parametrised by :math:`\\omega = \\log\\sigma`, so its second column is converted to the sigma-derivative with
    the chain rule :math:`\\partial/\\partial\\sigma = \\sigma^{-1}\\,\\partial/\\partial\\omega`.
    The score-function draws subtract ``baseline``.  Returns a dict with the keys
    ``(estimator, param)`` of :func:`variance_table`, each an array (n,).
    """
    from .distributions import Gaussian
    from .estimators import score_function_samples
    from .pathwise import pathwise_samples

    cost = get_cost(cost)
    mu, sigma = _check_mu_sigma(mu, sigma)
    k = float(check_finite(k, "k"))
    baseline = float(check_finite(baseline, "baseline"))
    dist = Gaussian(mu, np.log(sigma))
    score = score_function_samples(dist, lambda x: cost.f(x[:, 0], k), n, rng,
                                   baseline=baseline if baseline != 0.0 else None)
    path = pathwise_samples(dist, lambda x: cost.df(x, k), n, rng)
    return {
        ("score", "mu"): score[:, 0],
        ("score", "sigma"): score[:, 1] / sigma,
        ("pathwise", "mu"): path[:, 0],
        ("pathwise", "sigma"): path[:, 1] / sigma,
    }
