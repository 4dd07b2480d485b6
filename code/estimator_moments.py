"""Exact means and variances of one-dimensional Gaussian gradient estimators.

For :math:`x \\sim \\mathcal N(\\mu, \\sigma^2)` write :math:`x = \\mu + \\sigma\\varepsilon` with
:math:`\\varepsilon \\sim \\mathcal N(0, 1)`.  The estimators of :math:`\\partial/\\partial\\mu` and
:math:`\\partial/\\partial\\sigma` of :math:`\\mathbb E[f(x)]` compared in chapter 9, for one draw
:math:`\\varepsilon`:

==================  ===============================================  ==================================
parameter           score function (optionally minus a baseline b)   pathwise (reparameterisation)
==================  ===============================================  ==================================
:math:`\\mu`         :math:`(f(x) - b)\\,\\varepsilon/\\sigma`           :math:`f'(x)`
:math:`\\sigma`      :math:`(f(x) - b)\\,(\\varepsilon^2 - 1)/\\sigma`    :math:`f'(x)\\,\\varepsilon`
==================  ===============================================  ==================================

Every mean and variance here is an integral against the standard normal density, computed to
machine precision by the Gauss-Hermite rule of :mod:`pgbook.quadrature` (``order`` nodes,
:data:`pgbook.quadrature.DEFAULT_ORDER` unless told otherwise).

Costs: ``"quadratic"`` :math:`(x-k)^2`, ``"gaussian"`` :math:`e^{-k x^2}` and ``"cosine"``
:math:`\\cos(kx)`, each with its derivative in :data:`COSTS`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import check_choice, check_finite, check_finite_real, check_positive
from .distributions import Gaussian
from .estimators import score_function_samples
from .pathwise import pathwise_samples
from .quadrature import DEFAULT_ORDER, gauss_hermite, gaussian_expectation

__all__ = [
    "COSTS",
    "Cost",
    "get_cost",
    "estimator_values",
    "estimator_moments",
    "variance_table",
    "mean_baseline",
    "optimal_baseline",
    "variance_removed",
    "quadratic_closed_form",
    "monte_carlo_samples",
]

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


def _arguments(cost, k, mu, sigma) -> tuple[Cost, float, float, float]:
    """The checks every public function makes on the cost, k, mu and sigma, made once."""
    return (get_cost(cost), check_finite_real(k, "k"), check_finite_real(mu, "mu"),
            check_positive(sigma, "sigma"))


def _score(eps, sigma, param):
    """The score of ``param`` at x = mu + sigma * eps: eps / sigma for mu, (eps^2 - 1) / sigma for sigma."""
    return eps / sigma if param == "mu" else (eps**2 - 1.0) / sigma


def _values(eps, cost, k, mu, sigma, estimator, param, baseline):
    """:func:`estimator_values` on checked arguments."""
    x = mu + sigma * eps
    if estimator == "score":
        return (cost.f(x, k) - baseline) * _score(eps, sigma, param)
    if baseline != 0.0:
        raise ValueError("baseline only applies to the score-function estimator; use baseline=0 for 'pathwise'")
    return cost.df(x, k) if param == "mu" else cost.df(x, k) * eps


def _moments(cost, k, mu, sigma, estimator, param, baseline, order) -> tuple[float, float]:
    """:func:`estimator_moments` on checked arguments."""
    t, w = gauss_hermite(order)
    g = _values(t, cost, k, mu, sigma, estimator, param, baseline)
    mean = float(w @ g)
    return mean, max(float(w @ g**2) - mean**2, 0.0)


def estimator_values(eps, cost, k: float, mu: float, sigma: float, estimator: str, param: str, baseline=0.0):
    """The single-draw estimator of ``d E[f(x)] / d param`` at the standard-normal draws ``eps``.

    ``estimator`` is ``"score"`` or ``"pathwise"``, ``param`` is ``"mu"`` or ``"sigma"``; ``baseline``
    (a number) is subtracted from f for the score-function estimator (it must be 0 for the
    pathwise one).  Returns an array shaped like ``eps``.
    """
    cost, k, mu, sigma = _arguments(cost, k, mu, sigma)
    return _values(check_finite(eps, "eps"), cost, k, mu, sigma, check_choice(estimator, ESTIMATORS, "estimator"),
                   check_choice(param, PARAMETERS, "param"), check_finite_real(baseline, "baseline"))


def estimator_moments(cost, k, mu=0.0, sigma=1.0, estimator="score", param="mu", baseline=0.0,
                      order: int = DEFAULT_ORDER) -> tuple[float, float]:
    """Exact ``(mean, variance)`` of one draw of an estimator (see :func:`estimator_values`).

    The mean is the true gradient for every unbiased estimator here; the variance is
    ``E[g^2] - E[g]^2``, both by Gauss-Hermite quadrature of ``order`` nodes.
    """
    cost, k, mu, sigma = _arguments(cost, k, mu, sigma)
    return _moments(cost, k, mu, sigma, check_choice(estimator, ESTIMATORS, "estimator"),
                    check_choice(param, PARAMETERS, "param"), check_finite_real(baseline, "baseline"), order)


def variance_table(cost, ks, mu=0.0, sigma=1.0, order: int = DEFAULT_ORDER) -> dict:
    """Exact variances over a grid of ``ks`` for the four estimators.

    Returns a dict with keys ``("score", "mu")``, ``("score", "sigma")``, ``("pathwise", "mu")`` and
    ``("pathwise", "sigma")``, each an array shaped like ``ks``.
    """
    cost, mu, sigma = get_cost(cost), check_finite_real(mu, "mu"), check_positive(sigma, "sigma")
    ks = check_finite(ks, "ks")
    return {
        (est, par): np.array([_moments(cost, k, mu, sigma, est, par, 0.0, order)[1] for k in ks.ravel()]
                             ).reshape(ks.shape)
        for est in ESTIMATORS
        for par in PARAMETERS
    }


def mean_baseline(cost, k, mu=0.0, sigma=1.0, order: int = DEFAULT_ORDER) -> float:
    """The mean baseline ``b = E[f(x)]`` (the same for every parameter)."""
    cost, k, mu, sigma = _arguments(cost, k, mu, sigma)
    return float(gaussian_expectation(lambda x: cost.f(x, k), mu, sigma, order))


def _score_moments(cost, k, mu, sigma, param, order) -> tuple[float, float]:
    """``(E[f score^2], E[score^2])`` for the score of ``param``."""
    t, w = gauss_hermite(order)
    score2 = _score(t, sigma, check_choice(param, PARAMETERS, "param")) ** 2
    return float(w @ (cost.f(mu + sigma * t, k) * score2)), float(w @ score2)


def optimal_baseline(cost, k, mu=0.0, sigma=1.0, param="mu", order: int = DEFAULT_ORDER) -> float:
    """The variance-optimal constant baseline for the score-function estimator of ``param``.

    With ``score`` the derivative of log p in ``param`` (mean zero),
    ``Var[(f - b) score] = E[f^2 score^2] - 2 b E[f score^2] + b^2 E[score^2] - (E[f score])^2``, a parabola in
    ``b`` with its minimum at ``b* = E[f score^2] / E[score^2]``.
    """
    f_score2, score2 = _score_moments(*_arguments(cost, k, mu, sigma), param, order)
    return f_score2 / score2


def variance_removed(cost, k, mu=0.0, sigma=1.0, param="mu", baseline=0.0, order: int = DEFAULT_ORDER) -> float:
    """``Var[f score] - Var[(f - b) score] = 2 b E[f score^2] - b^2 E[score^2]``: what a constant baseline ``b``
    removes (``score`` the derivative of log p in ``param``).

    Positive means the baseline helps; at the optimal baseline it equals ``E[f score^2]^2 / E[score^2]``.
    """
    f_score2, score2 = _score_moments(*_arguments(cost, k, mu, sigma), param, order)
    b = check_finite_real(baseline, "baseline")
    return 2.0 * b * f_score2 - b**2 * score2


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
    _, k, mu, sigma = _arguments("quadratic", k, mu, sigma)
    m = mu - k
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

    Uses :func:`pgbook.estimators.score_function_samples` and :func:`pgbook.pathwise.pathwise_samples`
    on a one-dimensional ``pgbook.distributions.Gaussian(mu, log(sigma))``.  That distribution is
    parametrised by :math:`\\omega = \\log\\sigma`, so its second column is converted to the
    sigma-derivative with the chain rule :math:`\\partial/\\partial\\sigma = \\sigma^{-1}\\,\\partial/\\partial\\omega`.
    The score-function draws subtract ``baseline``.  Returns a dict with the keys
    ``(estimator, param)`` of :func:`variance_table`, each an array (n,).
    """
    cost, k, mu, sigma = _arguments(cost, k, mu, sigma)
    baseline = check_finite_real(baseline, "baseline")
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
