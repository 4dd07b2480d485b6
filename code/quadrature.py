"""Gauss-Hermite quadrature: expectations under a Gaussian, the book's one rule.

For :math:`x \\sim \\mathcal N(\\mu, \\operatorname{diag}\\sigma^2)` write :math:`x = \\mu + \\sigma\\varepsilon`
with :math:`\\varepsilon \\sim \\mathcal N(0, I)`.  An expectation under the standard normal is
replaced by a weighted sum over fixed nodes,

.. math::  \\mathbb E[h(\\varepsilon)] \\approx \\sum_i \\varpi_i\\, h(\\nu_i),

with the nodes :math:`\\nu_i` and weights :math:`\\varpi_i` of the probabilists' Hermite polynomials
(``numpy.polynomial.hermite_e.hermegauss``, weights normalised to sum to one).  With ``order``
nodes the rule is exact for polynomials of degree up to ``2 * order - 1``; in d dimensions
:func:`gaussian_expectation` uses the tensor-product grid of ``order ** d`` nodes, exact for
polynomials of degree up to ``2 * order - 1`` in every coordinate.

The order.  :data:`DEFAULT_ORDER` (300 nodes) is chosen for chapter 9, whose integrands
oscillate: in one dimension it computes :math:`\\mathbb E[\\cos(kx)]` to an absolute error below
:math:`10^{-13}` for :math:`k\\sigma` up to 25 (a variance of the cosine cost needs
:math:`\\cos(2kx)`, so chapter 9's :math:`k\\sigma \\le 10` is covered) and
:math:`\\mathbb E[e^{-kx^2}]` to a relative error below :math:`10^{-10}` for :math:`k\\sigma^2` up
to 12; ``tests/test_quadrature.py`` checks both against their closed forms.  Smooth, slowly
varying integrands need far fewer nodes, and a grid in d dimensions costs ``order ** d``
evaluations, so callers in more than one dimension pass a smaller order: 20 per dimension for
chapter 7's two-dimensional logistic regression (checked against 40), 6 for the Rosenbrock
function of chapter 8 (a polynomial of degree 4: exact).  A grid of more than
:data:`MAX_NODES` nodes is refused.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from ._validate import check_finite, check_positive_int

__all__ = ["gauss_hermite", "gaussian_expectation", "DEFAULT_ORDER", "MAX_ORDER", "MAX_NODES"]

#: Nodes per dimension unless told otherwise (see the module docstring for what it buys).
DEFAULT_ORDER = 300
#: The largest order offered: numpy's hermegauss weights overflow beyond about 370 nodes.
MAX_ORDER = 350
#: The largest tensor-product grid :func:`gaussian_expectation` builds (``order ** d`` nodes).
MAX_NODES = 3_000_000


@lru_cache(maxsize=16)
def _rule(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and normalised weights of ``order`` points (read-only arrays, cached)."""
    t, w = hermegauss(order)
    w = w / w.sum()  # hermegauss weights integrate against exp(-t^2/2); normalise to N(0, 1)
    t.setflags(write=False)
    w.setflags(write=False)
    return t, w


def _checked_order(order) -> int:
    order = check_positive_int(order, "order")
    if order > MAX_ORDER:
        raise ValueError(f"order must be at most {MAX_ORDER} (numpy's Hermite weights overflow beyond), got {order}")
    return order


def gauss_hermite(order: int = DEFAULT_ORDER) -> tuple[np.ndarray, np.ndarray]:
    """Nodes :math:`\\nu_i` (order,) and weights :math:`\\varpi_i` (order,) with
    :math:`\\sum_i \\varpi_i h(\\nu_i) = \\mathbb E[h(\\varepsilon)]`, :math:`\\varepsilon \\sim \\mathcal N(0, 1)`;
    returned as ``(nodes, weights)``.

    Exact for polynomials ``h`` of degree up to ``2 * order - 1``.  Raises ValueError unless
    ``order`` is an integer from 1 to :data:`MAX_ORDER`.
    """
    t, w = _rule(_checked_order(order))
    return t.copy(), w.copy()


def gaussian_expectation(g, mu=0.0, sigma=1.0, order: int = DEFAULT_ORDER):
    """:math:`\\mathbb E[g(x)]` for :math:`x \\sim \\mathcal N(\\mu, \\operatorname{diag}\\sigma^2)`, by Gauss-Hermite
    quadrature.

    Parameters
    ----------
    g : callable
        Vectorised over the nodes: it maps the points ``x`` to one value (or one array) per point.
    mu : float or array (d,)
        The mean.  A number gives points ``x`` of shape (order,); an array of d numbers gives the
        tensor-product grid, points of shape (order ** d, d).
    sigma : float or array (d,)
        The standard deviation, positive; a number is used in every dimension.
    order : int
        Nodes per dimension (default :data:`DEFAULT_ORDER`; see the module docstring).

    Returns the weighted sum over the nodes, with the trailing shape of ``g``'s values.  Raises
    ValueError for a non-finite ``mu``, a ``sigma`` that is not positive, shapes that do not
    match, a grid of more than :data:`MAX_NODES` nodes, or values of ``g`` that are not finite.
    """
    mu, sigma = check_finite(mu, "mu"), check_finite(sigma, "sigma")
    if np.any(sigma <= 0):
        raise ValueError(f"sigma must be positive, got {sigma}")
    if mu.ndim > 1 or sigma.ndim > 1 or (sigma.ndim == 1 and sigma.shape != mu.shape):
        raise ValueError(f"mu must be a number or an array (d,), and sigma a number or an array of mu's shape; "
                         f"got shapes {mu.shape} and {sigma.shape}")
    t, w = _rule(_checked_order(order))
    if mu.ndim == 0:
        x, weights = mu + sigma * t, w
    else:
        d = mu.size
        if t.size ** d > MAX_NODES:
            raise ValueError(f"a grid of {t.size} nodes in each of {d} dimensions has {t.size ** d} nodes, more than "
                             f"MAX_NODES = {MAX_NODES}; pass a smaller order")
        eps = np.stack(np.meshgrid(*([t] * d), indexing="ij"), axis=-1).reshape(-1, d)
        weights = np.prod(np.stack(np.meshgrid(*([w] * d), indexing="ij"), axis=-1).reshape(-1, d), axis=1)
        x = mu + sigma * eps
    values = check_finite(g(x), "g(x)")
    if values.shape[:1] != weights.shape:
        raise ValueError(f"g must return one value per point, shape ({weights.size}, ...), got {values.shape}")
    return np.tensordot(weights, values, axes=(0, 0))
